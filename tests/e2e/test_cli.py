"""The AWS CLI (`aws sagemaker ...`) against smlocal, pointed at it with AWS_ENDPOINT_URL_SAGEMAKER
and once with --endpoint-url. The CLI talks to a CheckingProxy in front of the server, so its
responses are checked against the service model too."""

import json
import shutil
import subprocess
import unittest

from harness import (ACCOUNT, REGION, ROLE_ARN, TRAIN_METRIC, VALIDATION_METRIC, E2ETestCase, dummy_env, job_arn, start_class_proxy, start_class_server, wait_terminal)

AWS = shutil.which("aws")


@unittest.skipUnless(AWS, "the aws CLI is not on PATH")
class AwsCliTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        start_class_proxy(cls)
        cls.client = cls.server.client()

    def aws(self, *args, endpoint_env=True, timeout=60):
        """Runs `aws <args>`; returns the CompletedProcess."""
        extra = {"AWS_ENDPOINT_URL_SAGEMAKER": self.proxy.url} if endpoint_env else {}
        return subprocess.run([AWS, *args], env=dummy_env(extra), capture_output=True,
                              text=True, timeout=timeout)

    def aws_json(self, *args, **kwargs):
        result = self.aws(*args, "--output", "json", **kwargs)
        self.assertEqual(result.returncode, 0,
                         f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def create_job(self, name, hyperparameters):
        return self.aws_json(
            "sagemaker", "create-training-job",
            "--training-job-name", name,
            "--role-arn", ROLE_ARN,
            "--algorithm-specification", json.dumps({
                "TrainingImage": "simulator/quadratic", "TrainingInputMode": "File",
                "MetricDefinitions": [VALIDATION_METRIC, TRAIN_METRIC]}),
            "--hyper-parameters", json.dumps(hyperparameters),
            "--output-data-config", "S3OutputPath=s3://cli-bucket/output",
            "--resource-config", "InstanceType=ml.m5.large,InstanceCount=1,VolumeSizeInGB=10",
            "--stopping-condition", "MaxRuntimeInSeconds=600",
            "--tags", "Key=origin,Value=cli")

    def test_create_wait_describe_list(self):
        name = "cli-quad-1"
        created = self.create_job(name, {"x": "3", "y": "-2", "epochs": "3",
                                         "sim_seconds": "1"})
        self.assertEqual(created, {"TrainingJobArn": job_arn(name)})
        # The CLI waiter sleeps 120 s between polls, so wait here first; the CLI waiter must then
        # see Completed on its first poll.
        wait_terminal(self.client, name)
        waited = self.aws("sagemaker", "wait", "training-job-completed-or-stopped",
                          "--training-job-name", name, timeout=30)
        self.assertEqual(waited.returncode, 0, waited.stderr)

        described = self.aws_json("sagemaker", "describe-training-job",
                                  "--training-job-name", name)
        self.assertEqual(described["TrainingJobStatus"], "Completed")
        self.assertEqual(described["SecondaryStatus"], "Completed")
        metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
        self.assertAlmostEqual(metrics["validation:loss"], 4.0, places=6)
        self.assertEqual(described["ModelArtifacts"]["S3ModelArtifacts"],
                         f"s3://cli-bucket/output/{name}/output/model.tar.gz")

        listed = self.aws_json("sagemaker", "list-training-jobs", "--name-contains", "cli-quad")
        self.assertEqual([s["TrainingJobName"] for s in listed["TrainingJobSummaries"]], [name])
        self.assertEqual(listed["TrainingJobSummaries"][0]["TrainingJobStatus"], "Completed")

        tags = self.aws_json("sagemaker", "list-tags", "--resource-arn", job_arn(name))
        self.assertEqual(tags["Tags"], [{"Key": "origin", "Value": "cli"}])

    def test_list_follows_next_token(self):
        names = [f"cli-page-{i}" for i in range(3)]
        for name in names:
            self.create_job(name, {"x": "1", "y": "-2", "epochs": "1", "sim_seconds": "0"})
        # --page-size 1 makes the CLI follow NextToken through three pages.
        listed = self.aws_json("sagemaker", "list-training-jobs", "--name-contains", "cli-page",
                               "--page-size", "1")
        self.assertEqual(sorted(s["TrainingJobName"] for s in listed["TrainingJobSummaries"]),
                         names)
        self.assertGreaterEqual(self.proxy.requests_seen.count("ListTrainingJobs"), 3)
        for name in names:
            wait_terminal(self.client, name)

    def test_wait_on_failed_job_exits_non_zero(self):
        name = "cli-fails"
        self.create_job(name, {"x": "1", "y": "-2", "epochs": "2", "sim_seconds": "0",
                               "fail_at_epoch": "1"})
        wait_terminal(self.client, name)
        waited = self.aws("sagemaker", "wait", "training-job-completed-or-stopped",
                          "--training-job-name", name, timeout=30)
        self.assertEqual(waited.returncode, 255, waited.stderr)
        self.assertIn("terminal failure state", waited.stderr)

    def test_error_exit_code_and_message(self):
        result = self.aws("sagemaker", "describe-training-job", "--training-job-name",
                          "cli-does-not-exist")
        self.assertIn(result.returncode, (254, 255), result.stderr)
        self.assertIn("(ValidationException)", result.stderr)
        self.assertIn("Requested resource not found.", result.stderr)
        result = self.aws("sagemaker", "stop-training-job", "--training-job-name", "bad_name")
        self.assertIn(result.returncode, (254, 255), result.stderr)
        self.assertIn("(ValidationException)", result.stderr)
        self.assertIn("Value 'bad_name' at 'trainingJobName' failed to satisfy constraint",
                      result.stderr)

    def test_endpoint_url_flag(self):
        self.create_job("cli-flag-job", {"x": "1", "y": "-2", "epochs": "1", "sim_seconds": "0"})
        listed = self.aws_json("sagemaker", "list-training-jobs", "--name-contains", "cli-flag",
                               "--endpoint-url", self.proxy.url, endpoint_env=False)
        self.assertEqual([s["TrainingJobName"] for s in listed["TrainingJobSummaries"]],
                         ["cli-flag-job"])
        wait_terminal(self.client, "cli-flag-job")
        described = self.aws_json("sagemaker", "describe-training-job", "--training-job-name",
                                  "cli-flag-job", "--endpoint-url", self.proxy.url,
                                  endpoint_env=False)
        self.assertEqual(described["TrainingJobStatus"], "Completed")
        self.assertEqual(described["TrainingJobArn"],
                         f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/cli-flag-job")


if __name__ == "__main__":
    unittest.main()
