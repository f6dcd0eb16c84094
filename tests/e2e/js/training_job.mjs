// End-to-end check of smlocal with the AWS SDK for JavaScript v3 (@aws-sdk/client-sagemaker).
// Usage: node training_job.mjs <endpoint-url> [job-name-prefix]
// Prints one JSON object with what it saw; exits 1 when a check fails (the reasons are listed in
// "failures"), 2 on an unexpected exception.
import {
  SageMakerClient,
  CreateTrainingJobCommand,
  DescribeTrainingJobCommand,
  StopTrainingJobCommand,
  ListTagsCommand,
  paginateListTrainingJobs,
  waitUntilTrainingJobCompletedOrStopped,
} from "@aws-sdk/client-sagemaker";

const endpoint = process.argv[2];
const prefix = process.argv[3] || "js-job";
if (!endpoint) {
  console.error("usage: node training_job.mjs <endpoint-url> [job-name-prefix]");
  process.exit(2);
}

const client = new SageMakerClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG" },
  maxAttempts: 1,
});

const failures = [];
const check = (condition, message) => {
  if (!condition) failures.push(message);
};
const isDate = (value) => value instanceof Date && !Number.isNaN(value.getTime());

function createRequest(name, hyperParameters) {
  return {
    TrainingJobName: name,
    RoleArn: "arn:aws:iam::123456789012:role/SageMakerRole",
    AlgorithmSpecification: {
      TrainingImage: "simulator/quadratic",
      TrainingInputMode: "File",
      MetricDefinitions: [
        { Name: "validation:loss", Regex: "validation:loss=([-0-9.eE+]+)" },
      ],
    },
    HyperParameters: hyperParameters,
    OutputDataConfig: { S3OutputPath: "s3://js-bucket/output" },
    ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: 1, VolumeSizeInGB: 10 },
    StoppingCondition: { MaxRuntimeInSeconds: 600 },
    Tags: [{ Key: "sdk", Value: "js" }],
  };
}

async function main() {
  const result = {};
  const name = `${prefix}-quad`;

  // Create, then wait with the SDK's waiter.
  const created = await client.send(
    new CreateTrainingJobCommand(
      createRequest(name, { x: "2", y: "-2", epochs: "3", sim_seconds: "1" }),
    ),
  );
  result.trainingJobArn = created.TrainingJobArn;
  result.createRequestId = created.$metadata.requestId;
  const waited = await waitUntilTrainingJobCompletedOrStopped(
    { client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 },
    { TrainingJobName: name },
  );
  result.waiterState = waited.state;

  // Describe.
  const described = await client.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
  result.describe = {
    TrainingJobName: described.TrainingJobName,
    TrainingJobStatus: described.TrainingJobStatus,
    SecondaryStatus: described.SecondaryStatus,
    FinalMetricDataList: (described.FinalMetricDataList || []).map((m) => ({
      MetricName: m.MetricName,
      Value: m.Value,
      TimestampIsDate: isDate(m.Timestamp),
    })),
    S3ModelArtifacts: described.ModelArtifacts?.S3ModelArtifacts,
    TrainingTimeInSeconds: described.TrainingTimeInSeconds,
    transitions: (described.SecondaryStatusTransitions || []).map((t) => t.Status),
  };
  for (const key of ["CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"]) {
    check(isDate(described[key]), `${key} is not a valid Date: ${described[key]}`);
  }
  for (const t of described.SecondaryStatusTransitions || []) {
    check(typeof t.StatusMessage === "string" && t.StatusMessage.length > 0,
      `transition ${t.Status} lacks StatusMessage`);
    check(isDate(t.StartTime), `transition ${t.Status} StartTime is not a Date`);
  }
  check(described.TrainingJobStatus === "Completed",
    `status ${described.TrainingJobStatus} (${described.FailureReason})`);

  // More jobs, so that the paginator needs several pages.
  const extra = [];
  for (let i = 0; i < 4; i++) {
    const extraName = `${prefix}-page-${i}`;
    await client.send(new CreateTrainingJobCommand(
      createRequest(extraName, { x: "1", y: "-2", epochs: "1", sim_seconds: "0" })));
    extra.push(extraName);
  }
  const listed = [];
  let pages = 0;
  for await (const page of paginateListTrainingJobs(
    { client, pageSize: 2 },
    { NameContains: prefix },
  )) {
    pages += 1;
    check(page.TrainingJobSummaries.length <= 2, `page of ${page.TrainingJobSummaries.length}`);
    for (const summary of page.TrainingJobSummaries) {
      listed.push(summary.TrainingJobName);
      check(isDate(summary.CreationTime), `summary CreationTime not a Date`);
    }
    check(pages < 50, "paginator does not end");
    if (pages >= 50) break;
  }
  result.listedNames = listed;
  result.pages = pages;

  // Tags given at create time.
  const tags = await client.send(new ListTagsCommand({ ResourceArn: created.TrainingJobArn }));
  result.tags = tags.Tags;

  // A failed job makes the waiter reject with state FAILURE.
  const failName = `${prefix}-fail`;
  await client.send(new CreateTrainingJobCommand(
    createRequest(failName, { x: "1", y: "-2", epochs: "2", sim_seconds: "0", fail_at_epoch: "1" })));
  try {
    await waitUntilTrainingJobCompletedOrStopped(
      { client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 },
      { TrainingJobName: failName },
    );
    result.failedWaiter = { state: "SUCCESS" };
  } catch (err) {
    let state = "unparsed";
    try {
      state = JSON.parse(err.message).state;
    } catch {
      state = `unparsed: ${err.message}`;
    }
    result.failedWaiter = { name: err.name, state };
  }

  // Errors are modeled exceptions with AWS names.
  const errorOf = async (command) => {
    try {
      await client.send(command);
      return { name: "no error" };
    } catch (err) {
      return {
        name: err.name,
        message: err.message,
        httpStatusCode: err.$metadata?.httpStatusCode,
        requestId: err.$metadata?.requestId,
        fault: err.$fault,
      };
    }
  };
  result.unknownDescribe = await errorOf(
    new DescribeTrainingJobCommand({ TrainingJobName: `${prefix}-missing` }));
  result.stopCompleted = await errorOf(new StopTrainingJobCommand({ TrainingJobName: name }));
  result.duplicate = await errorOf(new CreateTrainingJobCommand(
    createRequest(name, { x: "1", y: "-2", epochs: "1", sim_seconds: "0" })));

  // Let the extra jobs finish so that the server stops with nothing running.
  for (const extraName of extra) {
    await waitUntilTrainingJobCompletedOrStopped(
      { client, minDelay: 1, maxDelay: 2, maxWaitTime: 60 },
      { TrainingJobName: extraName },
    );
  }

  check(result.unknownDescribe.name === "ValidationException",
    `unknown job: ${JSON.stringify(result.unknownDescribe)}`);
  result.failures = failures;
  console.log(JSON.stringify(result, null, 2));
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.log(JSON.stringify({
      exception: { name: err.name, message: err.message, stack: err.stack },
      failures: [...failures, `unexpected exception ${err.name}: ${err.message}`],
    }, null, 2));
    process.exit(2);
  },
);
