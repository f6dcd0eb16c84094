"""Script mode end to end, the way the SageMaker Python SDK drives it, with boto3 alone.

The SDK uploads `sourcedir.tar.gz` to `s3://<bucket>/<job>/source/`, creates the training job
with JSON-quoted `sagemaker_*` hyperparameters (spec/sdk-usage.md), tails the job's CloudWatch
log streams (DescribeLogStreams with prefix `<job>/`, GetLogEvents startFromHead following
nextForwardToken) until the job ends, and downloads `model.tar.gz`. Inside the container the
launcher of `smlocal-fixtures/python:1` fetches the s3:// submit directory itself, from smlocal's
own S3 at `$S3_ENDPOINT_URL` (http://host.docker.internal:<port>, served by smlocal's listener on
the Docker bridge gateway). The training script also calls smlocal's SageMaker API from inside the
container, through `$AWS_ENDPOINT_URL`.

Also: the same flow through `aws sagemaker create-training-job` on two hosts (each on the job's
own network, where host.docker.internal must still reach smlocal), and a network-isolated job,
which gets no endpoint and fails with the launcher's reason.

setUpModule makes sure dockerd answers and the fixture images are current
(scripts/build-fixtures.sh, a no-op when they are).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import uuid

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (REGION, ROLE_ARN, CheckingProxy,  # noqa: E402
                     E2ETestCase, TERMINAL, docker, dummy_env, ensure_docker_and_fixtures, job_arn,
                     read_model_tar, start_class_server, wait_terminal)

AWS = shutil.which("aws")
PYTHON_IMAGE = "smlocal-fixtures/python:1"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
RUN_TAG = "sdk" + uuid.uuid4().hex[:6]

# The user's training script, packed into sourcedir.tar.gz: reads its channel, prints metric
# lines, asks smlocal's SageMaker API about its own job, and writes a model file.
TRAIN_PY = r'''
import argparse, glob, json, os, urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()

rows = []
for path in sorted(glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))):
    with open(path) as handle:
        rows += [line.strip() for line in handle if line.strip()]
total = sum(float(row.split(",")[1]) for row in rows)
print(f"sdk-train: read {len(rows)} rows, total {total:g}", flush=True)
loss = None
for epoch in range(1, args.epochs + 1):
    loss = total / (10 * epoch)
    print(f"epoch={epoch} train_loss={loss:.4f}", flush=True)

request = urllib.request.Request(
    os.environ["AWS_ENDPOINT_URL"] + "/",
    data=json.dumps({"TrainingJobName": os.environ["TRAINING_JOB_NAME"]}).encode(),
    headers={"X-Amz-Target": "SageMaker.DescribeTrainingJob",
             "Content-Type": "application/x-amz-json-1.1"})
with urllib.request.urlopen(request, timeout=20) as response:
    status = json.load(response)["TrainingJobStatus"]
print(f"sdk-train: status seen from inside: {status}", flush=True)

with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as handle:
    json.dump({"rows": len(rows), "total": total, "epochs": args.epochs, "loss": loss,
               "status": status, "host": os.environ["SM_CURRENT_HOST"],
               "s3_endpoint": os.environ["S3_ENDPOINT_URL"]}, handle)
'''

TRAIN_CSV = "1,10\n2,20\n3,12.5\n"
LOSS_METRIC = {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"}


def job_name(suffix: str) -> str:
    return f"{RUN_TAG}-{suffix}"


def setUpModule():
    ensure_docker_and_fixtures("python")


def tearDownModule():
    """Removes containers and networks this run left behind (after a failure)."""
    for kind, flags in (("container", ["ps", "-a"]), ("network", ["network", "ls"])):
        listing = docker(*flags, "--filter", "label=smlocal.job",
                         "--format", '{{.ID}} {{.Label "smlocal.job"}}', check=False)
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith(RUN_TAG):
                docker(*(["rm", "-f"] if kind == "container" else ["network", "rm"]), parts[0],
                       check=False)


def sourcedir_tar_gz(path: str) -> None:
    """sourcedir.tar.gz as the SDK packs source_dir: the files at the archive's top level."""
    data = TRAIN_PY.encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("train.py")
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        archive.addfile(info, io.BytesIO(data))


def script_mode_hyperparameters(name: str, submit_dir: str, epochs: int = 3) -> dict[str, str]:
    """What the SDK's framework estimators send: every value JSON-encoded."""
    return {"epochs": json.dumps(epochs),
            "sagemaker_program": json.dumps("train.py"),
            "sagemaker_submit_directory": json.dumps(submit_dir),
            "sagemaker_region": json.dumps(REGION),
            "sagemaker_container_log_level": json.dumps(20),
            "sagemaker_job_name": json.dumps(name)}


def training_job_request(name: str, bucket: str, instance_count: int = 1) -> dict:
    submit_dir = f"s3://{bucket}/{name}/source/sourcedir.tar.gz"
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": PYTHON_IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [LOSS_METRIC]},
        "RoleArn": ROLE_ARN,
        "HyperParameters": script_mode_hyperparameters(name, submit_dir),
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/train/",
            "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": instance_count,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        # The SDK always sends these two; smlocal accepts them.
        "DebugHookConfig": {"S3OutputPath": f"s3://{bucket}/debug", "CollectionConfigurations": []},
        "ProfilerConfig": {"S3OutputPath": f"s3://{bucket}/profiler", "DisableProfiler": False},
    }


class SdkFlowTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls, ["--stop-grace", "3"])
        cls.sagemaker = cls.server.client()
        cls.logs = cls.server.client(service="logs")
        # Path-style, as the SDK's boto3 uses for a 127.0.0.1 endpoint; S3 answers shape-checked.
        cls.s3 = cls.server.client(service="s3", s3_addressing="path")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smlocal-sdk-flow-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # -- what the SDK does ----------------------------------------------------------------------
    def upload_inputs(self, bucket: str, name: str) -> str:
        """CreateBucket, the channel data, and sourcedir.tar.gz at <job>/source/ (upload_file)."""
        self.s3.create_bucket(Bucket=bucket)
        self.s3.put_object(Bucket=bucket, Key="data/train/part-0.csv", Body=TRAIN_CSV.encode())
        archive = os.path.join(self.tmp, "sourcedir.tar.gz")
        sourcedir_tar_gz(archive)
        self.s3.upload_file(archive, bucket, f"{name}/source/sourcedir.tar.gz")
        return f"s3://{bucket}/{name}/source/sourcedir.tar.gz"

    def tail_logs_until_done(self, name: str, instance_count: int, timeout: float = 180.0
                             ) -> tuple[dict[str, list[str]], dict]:
        """The SDK's `logs=True` wait: list the job's streams, read each from the head following
        nextForwardToken, re-describe the job, repeat; after the job ends, one last full read.
        Returns (message lines per stream, the final Describe)."""
        tokens: dict[str, str | None] = {}
        lines: dict[str, list[str]] = {}
        deadline = time.monotonic() + timeout
        final_pass = False
        while True:
            try:
                streams = self.logs.describe_log_streams(
                    logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/",
                    orderBy="LogStreamName", limit=min(instance_count, 50))["logStreams"]
            except botocore.exceptions.ClientError as error:
                # The SDK tolerates this while the job has not logged yet.
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                streams = []
            for stream in streams:
                stream_name = stream["logStreamName"]
                while True:
                    kwargs = {"logGroupName": LOG_GROUP, "logStreamName": stream_name,
                              "startFromHead": True}
                    if tokens.get(stream_name):
                        kwargs["nextToken"] = tokens[stream_name]
                    page = self.logs.get_log_events(**kwargs)
                    tokens[stream_name] = page["nextForwardToken"]
                    if not page["events"]:
                        break
                    lines.setdefault(stream_name, []).extend(e["message"] for e in page["events"])
            if final_pass:
                return lines, described
            described = self.sagemaker.describe_training_job(TrainingJobName=name)
            if described["TrainingJobStatus"] in TERMINAL:
                final_pass = True
                continue
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not done after {timeout}s: "
                                     f"{described['TrainingJobStatus']}/{described['SecondaryStatus']}")
            time.sleep(1)

    def download_model(self, described: dict) -> dict[str, bytes]:
        uri = described["ModelArtifacts"]["S3ModelArtifacts"]
        self.assertTrue(uri.startswith("s3://"), uri)
        bucket, _, key = uri[len("s3://"):].partition("/")
        path = os.path.join(self.tmp, "model.tar.gz")
        self.s3.download_file(bucket, key, path)
        return read_model_tar(path)

    def assertCompleted(self, described: dict) -> None:
        self.assertEqual(described["TrainingJobStatus"], "Completed",
                         f"{described['TrainingJobName']}: {described.get('SecondaryStatus')} "
                         f"reason={described.get('FailureReason')!r}")

    # -- tests ----------------------------------------------------------------------------------
    def test_boto3_script_mode_like_the_sdk(self):
        name = job_name("boto3")
        bucket = f"{RUN_TAG}-bucket"
        submit_dir = self.upload_inputs(bucket, name)
        response = self.sagemaker.create_training_job(**training_job_request(name, bucket))
        self.assertEqual(response["TrainingJobArn"], job_arn(name))

        lines, described = self.tail_logs_until_done(name, 1)
        self.assertCompleted(described)
        self.assertEqual(len(lines), 1, f"streams: {list(lines)}")
        stream, messages = next(iter(lines.items()))
        self.assertTrue(stream.startswith(f"{name}/algo-1-"), stream)
        text = "\n".join(messages)
        endpoint = f"http://host.docker.internal:{self.server.port}"
        self.assertIn(f"launcher: fetching {submit_dir} from {endpoint}/{bucket}/{name}/source/"
                      "sourcedir.tar.gz", messages, text)
        self.assertIn(f"launcher: code from {submit_dir} extracted into /opt/ml/code", messages,
                      text)
        self.assertIn("sdk-train: read 3 rows, total 42.5", messages, text)
        self.assertIn("epoch=3 train_loss=1.4167", messages, text)
        self.assertIn("sdk-train: status seen from inside: InProgress", messages, text)
        self.assertIn("launcher: script exited with 0", messages, text)

        metrics = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}
        self.assertAlmostEqual(metrics.get("train:loss", -1), 1.4167, places=4)
        self.assertEqual(described["ModelArtifacts"]["S3ModelArtifacts"],
                         f"s3://{bucket}/output/{name}/output/model.tar.gz")
        model = self.download_model(described)
        self.assertIn("model.json", model)
        self.assertEqual(json.loads(model["model.json"]), {
            "rows": 3, "total": 42.5, "epochs": 3, "loss": 42.5 / 30, "status": "InProgress",
            "host": "algo-1", "s3_endpoint": endpoint})

    @unittest.skipUnless(AWS, "the AWS CLI (aws) is not installed")
    def test_aws_cli_two_hosts_fetch_from_their_own_network(self):
        name = job_name("cli")
        bucket = f"{RUN_TAG}-cli"
        self.upload_inputs(bucket, name)
        request = training_job_request(name, bucket, instance_count=2)
        with CheckingProxy(self.server) as proxy:
            result = subprocess.run(
                [AWS, "sagemaker", "create-training-job", "--cli-input-json", json.dumps(request),
                 "--output", "json"],
                env=dummy_env({"AWS_ENDPOINT_URL_SAGEMAKER": proxy.url}),
                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, f"aws create-training-job failed: {result.stderr}")
        self.assertEqual(json.loads(result.stdout), {"TrainingJobArn": job_arn(name)})

        described = wait_terminal(self.sagemaker, name, 180)
        self.assertCompleted(described)
        # Both hosts fetched the code and ran; their models merge into one model.tar.gz, and the
        # last writer of model.json wins, so check the hosts' logs instead.
        lines, _ = self.tail_logs_until_done(name, 2)
        self.assertEqual(len(lines), 2, f"streams: {list(lines)}")
        for stream, messages in lines.items():
            with self.subTest(stream=stream):
                self.assertIn("sdk-train: status seen from inside: InProgress", messages,
                              "\n".join(messages))
                self.assertIn("launcher: script exited with 0", messages)
        model = json.loads(self.download_model(described)["model.json"])
        self.assertIn(model["host"], ("algo-1", "algo-2"))
        self.assertEqual(model["rows"], 3)

    def test_network_isolation_gets_no_endpoint(self):
        name = job_name("isolated")
        bucket = f"{RUN_TAG}-isolated"
        submit_dir = self.upload_inputs(bucket, name)
        request = training_job_request(name, bucket)
        request["EnableNetworkIsolation"] = True
        self.sagemaker.create_training_job(**request)
        described = wait_terminal(self.sagemaker, name, 120)
        self.assertEqual(described["TrainingJobStatus"], "Failed")
        reason = described.get("FailureReason", "")
        self.assertIn(f"cannot fetch {submit_dir}: no S3 endpoint", reason)


if __name__ == "__main__":
    unittest.main()
