"""End-to-end tests of the training-job operations through boto3 against the real smlocal binary.

Covers CreateTrainingJob / DescribeTrainingJob / ListTrainingJobs / StopTrainingJob and
AddTags / ListTags / DeleteTags: the simulator objectives, the status machine, artifacts, input
channels, URI confinement, errors, list filters/sorting/pagination, tags and Stop.
Every call goes through a client whose raw responses are checked against botocore's model.
"""

import math
import os
import time
import unittest

import botocore.exceptions

from harness import (ACCOUNT, REGION, ROLE_ARN, TERMINAL, VALIDATION_METRIC, E2ETestCase, Server,
                     error_of, job_arn, job_request, read_model_tar, s3_channel,
                     start_class_server, wait_for, wait_terminal)

NOT_FOUND = "Requested resource not found."
NAME_PATTERN_PREFIX = ("1 validation error detected: Value 'my_job' at 'trainingJobName' failed "
                       "to satisfy constraint: Member must satisfy regular expression pattern:")
IN_PROGRESS_SECONDARY = {"Starting", "Pending", "Downloading", "Training", "Uploading"}


def final_metrics(described: dict) -> dict:
    return {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}


def distinct_statuses(described: dict) -> list:
    """SecondaryStatusTransitions statuses with consecutive repeats collapsed."""
    result = []
    for item in described.get("SecondaryStatusTransitions", []):
        if not result or result[-1] != item["Status"]:
            result.append(item["Status"])
    return result


class JobTestCase(E2ETestCase):
    """Helpers shared by the classes below."""

    def create(self, name, client=None, **kwargs):
        client = client or self.client
        response = client.create_training_job(**job_request(name, **kwargs))
        self.assertEqual(response["TrainingJobArn"], job_arn(name))
        return response

    def assert_time_fields(self, d):
        """Timestamps ordered, durations integral and >= 1 (terminal jobs that trained)."""
        created = d["CreationTime"].timestamp()
        started = d["TrainingStartTime"].timestamp()
        ended = d["TrainingEndTime"].timestamp()
        modified = d["LastModifiedTime"].timestamp()
        self.assertLessEqual(created, started + 0.001)
        self.assertLessEqual(started, ended + 0.001)
        self.assertLessEqual(ended, modified + 0.001)
        for key in ("TrainingTimeInSeconds", "BillableTimeInSeconds"):
            self.assertIsInstance(d.get(key), int, key)
            self.assertGreaterEqual(d[key], 1, key)

    def assert_transitions(self, d, expected_distinct):
        transitions = d["SecondaryStatusTransitions"]
        self.assertEqual(distinct_statuses(d), expected_distinct, transitions)
        self.assertEqual(d["SecondaryStatus"], transitions[-1]["Status"])
        for i, item in enumerate(transitions):
            self.assertTrue(item.get("StatusMessage"), f"transition {i} lacks StatusMessage")
            # Every entry but the last ends when the next starts; the last ends with the job.
            self.assertIn("EndTime", item, f"transition {i} ({item['Status']}) lacks EndTime")
            self.assertLessEqual(item["StartTime"], item["EndTime"])
            if i + 1 < len(transitions):
                self.assertLessEqual(item["EndTime"].timestamp(),
                                     transitions[i + 1]["StartTime"].timestamp() + 0.001)
        self.assertGreaterEqual(d["LastModifiedTime"].timestamp() + 0.001,
                                transitions[-1]["StartTime"].timestamp())

    def assert_model_tar(self, d):
        uri = d["ModelArtifacts"]["S3ModelArtifacts"]
        path = self.server.s3_path(uri)
        self.assertTrue(os.path.isfile(path), f"{uri} -> {path} does not exist")
        members = read_model_tar(path)
        self.assertIn("model.json", members, f"model.tar.gz members: {sorted(members)}")
        return members


class TrainingJobLifecycleTest(JobTestCase):
    """Simulator runs, status machine, artifacts, inputs, confinement and errors."""

    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        cls.client = cls.server.client()
        cls.raw_client = cls.server.client(validate=False)

    # -- the happy path --------------------------------------------------------------------------
    def test_quadratic_completes_with_final_metrics_and_artifact(self):
        name = "Quad-Happy-1"
        hyperparameters = {"x": "1.5", "y": "-1", "epochs": "4", "sim_seconds": "1"}
        self.create(name, hyperparameters=hyperparameters)
        waiter = self.client.get_waiter("training_job_completed_or_stopped")
        waiter.wait(TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        d = self.client.describe_training_job(TrainingJobName=name)

        self.assertEqual(d["TrainingJobName"], name)
        self.assertEqual(d["TrainingJobArn"],
                         f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/quad-happy-1")
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]), ("Completed", "Completed"))
        self.assertNotIn("FailureReason", d)
        metrics = final_metrics(d)
        self.assertEqual(set(metrics), {"validation:loss", "train:loss"},
                         d.get("FinalMetricDataList"))
        self.assertAlmostEqual(metrics["validation:loss"], 1.25, places=6)
        self.assertEqual(len(d["FinalMetricDataList"]), 2)

        # The request is echoed back.
        self.assertEqual(d["HyperParameters"], hyperparameters)
        self.assertEqual(d["RoleArn"], ROLE_ARN)
        self.assertEqual(d["AlgorithmSpecification"]["TrainingImage"], "simulator/quadratic")
        self.assertEqual(d["AlgorithmSpecification"]["TrainingInputMode"], "File")
        self.assertEqual(len(d["AlgorithmSpecification"]["MetricDefinitions"]), 2)
        self.assertEqual(d["ResourceConfig"]["InstanceType"], "ml.m5.large")
        self.assertEqual(d["ResourceConfig"]["InstanceCount"], 1)
        self.assertEqual(d["ResourceConfig"]["VolumeSizeInGB"], 10)
        self.assertEqual(d["StoppingCondition"]["MaxRuntimeInSeconds"], 3600)
        self.assertEqual(d["OutputDataConfig"]["S3OutputPath"], "s3://e2e-bucket/output")

        self.assertEqual(d["ModelArtifacts"]["S3ModelArtifacts"],
                         f"s3://e2e-bucket/output/{name}/output/model.tar.gz")
        self.assert_model_tar(d)
        self.assert_transitions(d, ["Starting", "Downloading", "Training", "Uploading",
                                    "Completed"])
        self.assert_time_fields(d)

    def test_statuses_while_running_and_wall_time(self):
        name = "quad-observe"
        start = time.time()
        self.create(name, hyperparameters={"x": "1", "y": "-2", "epochs": "6",
                                           "sim_seconds": "3"})
        seen = []
        last_modified = 0.0
        while True:
            d = self.client.describe_training_job(TrainingJobName=name)
            if d["TrainingJobStatus"] != "InProgress":
                break
            self.assertIn(d["SecondaryStatus"], IN_PROGRESS_SECONDARY)
            self.assertNotIn("TrainingEndTime", d)
            self.assertNotIn("FailureReason", d)
            if "LastModifiedTime" in d:
                self.assertGreaterEqual(d["LastModifiedTime"].timestamp(), last_modified)
                last_modified = d["LastModifiedTime"].timestamp()
            if d.get("SecondaryStatusTransitions"):
                self.assertIn("LastModifiedTime", d)
                self.assertEqual(d["SecondaryStatus"],
                                 d["SecondaryStatusTransitions"][-1]["Status"])
            if not seen or seen[-1] != d["SecondaryStatus"]:
                seen.append(d["SecondaryStatus"])
            self.assertLess(time.time() - start, 20, f"still running; seen {seen}")
            time.sleep(0.1)
        self.assertIn("Training", seen, f"never observed Training while polling: {seen}")
        self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
        self.assertAlmostEqual(final_metrics(d)["validation:loss"], 0.0, places=6)
        run_seconds = d["TrainingEndTime"].timestamp() - d["CreationTime"].timestamp()
        self.assertGreaterEqual(run_seconds, 2.5, "sim_seconds=3 should take about 3 s")
        self.assertLess(run_seconds, 12)
        self.assertGreaterEqual(d["TrainingTimeInSeconds"], 2)

    def test_objectives_at_their_optima(self):
        cases = {
            "branin": ({"x1": str(math.pi), "x2": "2.275"}, 0.397887),
            "hartmann6": ({"x1": "0.20169", "x2": "0.150011", "x3": "0.476874",
                           "x4": "0.275332", "x5": "0.311652", "x6": "0.6573"}, -3.32237),
            "quadratic": ({"x": "1", "y": "-2"}, 0.0),
        }
        for objective, (point, _) in cases.items():
            self.create(f"opt-{objective}", image=f"simulator/{objective}",
                        hyperparameters={**point, "epochs": "2", "sim_seconds": "0"})
        for objective, (_, optimum) in cases.items():
            with self.subTest(objective=objective):
                d = wait_terminal(self.client, f"opt-{objective}")
                self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
                self.assertAlmostEqual(final_metrics(d)["validation:loss"], optimum, delta=1e-3)

    def test_noise_is_deterministic_per_seed(self):
        for name, seed in (("noise-a", "7"), ("noise-b", "7"), ("noise-c", "8")):
            self.create(name, hyperparameters={"x": "1.5", "y": "-1", "epochs": "2",
                                               "sim_seconds": "0", "noise": "0.5", "seed": seed})
        values = {n: final_metrics(wait_terminal(self.client, n))["validation:loss"]
                  for n in ("noise-a", "noise-b", "noise-c")}
        self.assertEqual(values["noise-a"], values["noise-b"], values)
        self.assertNotAlmostEqual(values["noise-a"], 1.25, places=6, msg=values)
        self.assertNotEqual(values["noise-a"], values["noise-c"], values)

    def test_without_metric_definitions_there_are_no_final_metrics(self):
        self.create("no-metrics", metric_definitions=[])
        d = wait_terminal(self.client, "no-metrics")
        self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
        self.assertFalse(d.get("FinalMetricDataList"), d.get("FinalMetricDataList"))

    def test_defaults_for_resource_config_and_stopping_condition(self):
        request = job_request("defaults-1")
        del request["ResourceConfig"], request["StoppingCondition"]
        self.client.create_training_job(**request)
        d = self.client.describe_training_job(TrainingJobName="defaults-1")
        self.assertEqual(d["StoppingCondition"].get("MaxRuntimeInSeconds"), 86400)
        self.assertEqual(d["ResourceConfig"].get("InstanceType"), "ml.m5.large")
        self.assertEqual(d["ResourceConfig"].get("InstanceCount"), 1)
        self.assertEqual(d["ResourceConfig"].get("VolumeSizeInGB"), 30)
        self.assertEqual(wait_terminal(self.client, "defaults-1")["TrainingJobStatus"],
                         "Completed")

    def test_output_path_with_trailing_slash_joins_with_one_slash(self):
        self.create("slash-out", output_path="s3://e2e-bucket/slash/")
        d = wait_terminal(self.client, "slash-out")
        self.assertEqual(d["ModelArtifacts"]["S3ModelArtifacts"],
                         "s3://e2e-bucket/slash/slash-out/output/model.tar.gz")
        self.assert_model_tar(d)

    def test_unusual_hyperparameters_are_echoed_and_ignored(self):
        hyperparameters = {"x": "1.5", "y": "-1", "epochs": "2", "sim_seconds": "0",
                           "sagemaker_program": '"train.py"',
                           "sagemaker_submit_directory": '"s3://b/k/sourcedir.tar.gz"',
                           "note": 'quote " backslash \\ tab \t unicode \u00e9\u4e2d',
                           "empty": ""}
        self.create("odd-hyperparameters", hyperparameters=hyperparameters)
        d = wait_terminal(self.client, "odd-hyperparameters")
        self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
        self.assertEqual(d["HyperParameters"], hyperparameters)
        self.assertAlmostEqual(final_metrics(d)["validation:loss"], 1.25, places=6)

    def test_optional_members_are_echoed(self):
        extra = {
            "Environment": {"MY_FLAG": "1", "OTHER": "value with spaces"},
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": False,
            "CheckpointConfig": {"S3Uri": "s3://e2e-bucket/checkpoints/echo-job",
                                 "LocalPath": "/opt/ml/checkpoints"},
            "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"],
                          "Subnets": ["subnet-0123456789abcdef0"]},
            "RetryStrategy": {"MaximumRetryAttempts": 2},
        }
        self.create("echo-job", **extra)
        d = wait_terminal(self.client, "echo-job")
        self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
        for key, value in extra.items():
            self.assertEqual(d.get(key), value, key)

    def test_concurrent_creates_with_one_name(self):
        import threading
        outcomes = []

        def create():
            client = self.server.client()
            try:
                client.create_training_job(**job_request("race-job"))
                outcomes.append("ok")
            except botocore.exceptions.ClientError as error:
                outcomes.append(error.response["Error"]["Code"])

        threads = [threading.Thread(target=create) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(sorted(outcomes), ["ResourceInUse"] * 7 + ["ok"])
        listed = self.client.list_training_jobs(NameContains="race-job")["TrainingJobSummaries"]
        self.assertEqual([s["TrainingJobName"] for s in listed], ["race-job"])
        wait_terminal(self.client, "race-job")

    def test_type_mismatches_are_client_errors(self):
        # Not one of the specified messages, but never a 5xx (clients would retry it).
        for label, call in {
            "name is a number": lambda: self.raw_client.describe_training_job(
                TrainingJobName=5),
            "MaxResults is a string": lambda: self.raw_client.list_training_jobs(
                MaxResults="ten"),
            "hyperparameter value is a number": lambda: self.raw_client.create_training_job(
                **job_request("type-mismatch", hyperparameters={"x": 1, "y": "0"})),
        }.items():
            with self.subTest(label):
                error = error_of(call)
                self.assertEqual(error.response["ResponseMetadata"]["HTTPStatusCode"], 400,
                                 error.response["Error"])
                self.assertIn(error.response["Error"]["Code"],
                              ("ValidationException", "SerializationException"))
        error = error_of(lambda: self.client.describe_training_job(
            TrainingJobName="type-mismatch"))
        self.assertClientError(error, "ValidationException", NOT_FOUND)

    # -- failures ------------------------------------------------------------------------------
    def test_fail_at_epoch_fails_with_algorithm_error(self):
        name = "quad-fail"
        self.create(name, hyperparameters={"x": "0", "y": "0", "epochs": "5",
                                           "sim_seconds": "0", "fail_at_epoch": "2"})
        waiter = self.client.get_waiter("training_job_completed_or_stopped")
        with self.assertRaises(botocore.exceptions.WaiterError) as caught:
            waiter.wait(TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        self.assertIn("terminal failure state", str(caught.exception))
        d = self.client.describe_training_job(TrainingJobName=name)
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]), ("Failed", "Failed"))
        reason = d.get("FailureReason", "")
        self.assertTrue(reason.startswith("AlgorithmError: "), reason)
        self.assertTrue(reason.endswith(", exit code: 1"), reason)
        self.assertIn("TrainingEndTime", d)
        self.assertEqual(distinct_statuses(d)[-1], "Failed")
        for item in d["SecondaryStatusTransitions"]:
            self.assertTrue(item.get("StatusMessage"))

    def test_missing_input_prefix_fails_with_client_error(self):
        name = "input-missing"
        self.create(name, input_data_config=[
            s3_channel("train", "s3://e2e-bucket/no-such-prefix/train/")])
        d = wait_terminal(self.client, name)
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]), ("Failed", "Failed"))
        self.assertTrue(d.get("FailureReason", "").startswith("ClientError: "),
                        d.get("FailureReason"))

    def test_existing_input_prefix_completes(self):
        self.server.put_s3("s3://e2e-bucket/inputs/train/part-0.csv", "1,2\n3,4\n")
        self.server.put_s3("s3://e2e-bucket/inputs/validation/part-0.csv", "5,6\n")
        name = "input-present"
        self.create(name, input_data_config=[
            s3_channel("train", "s3://e2e-bucket/inputs/train/"),
            s3_channel("validation", "s3://e2e-bucket/inputs/validation")])
        d = wait_terminal(self.client, name)
        self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
        self.assertEqual([c["ChannelName"] for c in d["InputDataConfig"]],
                         ["train", "validation"])
        self.assertEqual(d["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
                         "s3://e2e-bucket/inputs/train/")

    def test_file_system_channels(self):
        efs_dir = os.path.join(self.server.data_dir, "efs", "fs-12345678", "data", "train")
        fsx_dir = os.path.join(self.server.data_dir, "fsx", "fs-0abcdef01", "mnt1", "train")
        for folder in (efs_dir, fsx_dir):
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "data.csv"), "w") as handle:
                handle.write("1,2\n")

        def fs_channel(name, fs_id, fs_type, path):
            return {"ChannelName": name, "DataSource": {"FileSystemDataSource": {
                "FileSystemId": fs_id, "FileSystemAccessMode": "ro",
                "FileSystemType": fs_type, "DirectoryPath": path}}}

        self.create("fs-present", input_data_config=[
            fs_channel("efs", "fs-12345678", "EFS", "/data/train"),
            fs_channel("fsx", "fs-0abcdef01", "FSxLustre", "/mnt1/train")])
        self.create("fs-missing", input_data_config=[
            fs_channel("efs", "fs-12345678", "EFS", "/data/not-there")])
        d = wait_terminal(self.client, "fs-present")
        self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
        d = wait_terminal(self.client, "fs-missing")
        self.assertEqual(d["TrainingJobStatus"], "Failed")
        self.assertTrue(d.get("FailureReason", "").startswith("ClientError: "),
                        d.get("FailureReason"))

    def test_uris_escaping_their_root_are_rejected_at_create(self):
        escapes = {
            "input": {"input_data_config": [s3_channel("train", "s3://e2e-bucket/../../etc/")]},
            "output": {"output_path": "s3://e2e-bucket/../../../tmp/escape"},
            "checkpoint": {"CheckpointConfig": {"S3Uri": "s3://e2e-bucket/a/../../../../tmp/c"}},
            "filesystem": {"input_data_config": [{"ChannelName": "efs", "DataSource": {
                "FileSystemDataSource": {"FileSystemId": "fs-12345678",
                                         "FileSystemAccessMode": "ro", "FileSystemType": "EFS",
                                         "DirectoryPath": "/../../../etc"}}}]},
        }
        for kind, kwargs in escapes.items():
            with self.subTest(kind=kind):
                name = f"escape-{kind}"
                error = error_of(lambda: self.client.create_training_job(
                    **job_request(name, **kwargs)))
                self.assertClientError(error, "ValidationException")
                error = error_of(lambda: self.client.describe_training_job(TrainingJobName=name))
                self.assertClientError(error, "ValidationException", NOT_FOUND)

    def test_symlinks_escaping_the_root_are_rejected(self):
        bucket = os.path.join(self.server.data_dir, "s3", "e2e-bucket")
        os.makedirs(bucket, exist_ok=True)
        os.symlink("/etc", os.path.join(bucket, "etc-link"))
        outside = os.path.join(os.path.dirname(self.server.data_dir.rstrip("/")))
        os.symlink(outside, os.path.join(bucket, "out-link"))
        for kind, kwargs in {
            "input": {"input_data_config": [s3_channel("train", "s3://e2e-bucket/etc-link/")]},
            "output": {"output_path": "s3://e2e-bucket/out-link/escaped"},
        }.items():
            with self.subTest(kind=kind):
                name = f"symlink-{kind}"
                error = error_of(lambda: self.client.create_training_job(
                    **job_request(name, **kwargs)))
                self.assertClientError(error, "ValidationException")
                error = error_of(lambda: self.client.describe_training_job(TrainingJobName=name))
                self.assertClientError(error, "ValidationException", NOT_FOUND)
        self.assertFalse(os.path.exists(os.path.join(outside, "escaped")))

    def test_cross_field_validation(self):
        def fs_channel(mode):
            return {"ChannelName": "efs", "InputMode": mode, "DataSource": {
                "FileSystemDataSource": {"FileSystemId": "fs-12345678",
                                         "FileSystemAccessMode": "ro", "FileSystemType": "EFS",
                                         "DirectoryPath": "/d"}}}

        manifest_fastfile = {"ChannelName": "train", "InputMode": "FastFile", "DataSource": {
            "S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://e2e-bucket/m"}}}
        cases = {
            "duplicate channel names": {"input_data_config": [
                s3_channel("train", "s3://e2e-bucket/a/"),
                s3_channel("train", "s3://e2e-bucket/b/")]},
            "TrainingImage and AlgorithmName": {"AlgorithmSpecification": {
                "TrainingImage": "simulator/quadratic", "AlgorithmName": "my-algo",
                "TrainingInputMode": "File"}},
            "spot MaxWait below MaxRuntime": {"EnableManagedSpotTraining": True,
                                              "StoppingCondition": {"MaxRuntimeInSeconds": 100,
                                                                    "MaxWaitTimeInSeconds": 50}},
            "FastFile with ManifestFile": {"input_data_config": [manifest_fastfile]},
            "file system channel in Pipe mode": {"input_data_config": [fs_channel("Pipe")]},
        }
        for label, kwargs in cases.items():
            with self.subTest(label):
                name = "cross-" + label.lower().replace(" ", "-")[:40]
                error = error_of(lambda: self.raw_client.create_training_job(
                    **job_request(name, **kwargs)))
                self.assertClientError(error, "ValidationException")
                error = error_of(lambda: self.client.describe_training_job(TrainingJobName=name))
                self.assertClientError(error, "ValidationException", NOT_FOUND)

    def test_non_simulator_image_fails_cleanly_without_simulate_all(self):
        name = "real-image"
        self.create(name, image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/my-algo:latest")
        d = wait_terminal(self.client, name, timeout=90)
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]), ("Failed", "Failed"))
        self.assertTrue(d.get("FailureReason"), "Failed without a FailureReason")
        self.assertNotIn("InternalFailure", d["FailureReason"])

    # -- errors --------------------------------------------------------------------------------
    def test_unknown_job_describe_and_stop(self):
        error = error_of(lambda: self.client.describe_training_job(TrainingJobName="nope-404"))
        self.assertClientError(error, "ValidationException", NOT_FOUND)
        error = error_of(lambda: self.client.stop_training_job(TrainingJobName="nope-404"))
        self.assertClientError(error, "ValidationException", NOT_FOUND)

    def test_waiter_on_unknown_job_fails(self):
        waiter = self.client.get_waiter("training_job_completed_or_stopped")
        with self.assertRaises(botocore.exceptions.WaiterError) as caught:
            waiter.wait(TrainingJobName="nope-waiter", WaiterConfig={"Delay": 1,
                                                                     "MaxAttempts": 3})
        self.assertIn("terminal failure state", str(caught.exception))

    def test_duplicate_name_is_resource_in_use(self):
        self.create("dup-name")
        error = error_of(lambda: self.client.create_training_job(**job_request("dup-name")))
        self.assertClientError(
            error, "ResourceInUse",
            message_prefix="Training job names must be unique within an AWS account and region, "
                           "and a training job with this name already exists")
        # Still a duplicate once the first job has finished.
        wait_terminal(self.client, "dup-name")
        error = error_of(lambda: self.client.create_training_job(**job_request("dup-name")))
        self.assertClientError(error, "ResourceInUse")

    def test_stop_of_completed_or_failed_job_is_rejected(self):
        self.create("stop-done")
        self.create("stop-failed", hyperparameters={"x": "0", "y": "0", "epochs": "2",
                                                     "sim_seconds": "0", "fail_at_epoch": "1"})
        for name, status in (("stop-done", "Completed"), ("stop-failed", "Failed")):
            with self.subTest(status=status):
                self.assertEqual(wait_terminal(self.client, name)["TrainingJobStatus"], status)
                error = error_of(lambda: self.client.stop_training_job(TrainingJobName=name))
                self.assertClientError(
                    error, "ValidationException",
                    f"The request was rejected because the training job is in status {status}.")

    def test_invalid_name(self):
        error = error_of(lambda: self.raw_client.create_training_job(**job_request("my_job")))
        self.assertClientError(error, "ValidationException", message_prefix=NAME_PATTERN_PREFIX)
        error = error_of(lambda: self.client.describe_training_job(TrainingJobName="my_job"))
        self.assertClientError(error, "ValidationException", message_prefix=NAME_PATTERN_PREFIX)

    def test_several_violations_are_all_listed(self):
        request = job_request("my_job")
        request["RoleArn"] = "arn:aws:iam::123:role/not-twelve-digits"
        error = error_of(lambda: self.raw_client.create_training_job(**request))
        self.assertClientError(error, "ValidationException",
                               message_prefix="2 validation errors detected: ")
        message = error.response["Error"]["Message"]
        self.assertIn("Value 'my_job' at 'trainingJobName' failed to satisfy constraint", message)
        self.assertIn("at 'roleArn' failed to satisfy constraint", message)
        self.assertIn("; ", message)

    def test_other_validation_errors(self):
        long_name = "a" * 64
        missing_algorithm = job_request("no-algorithm")
        del missing_algorithm["AlgorithmSpecification"]
        bad_mode = job_request("bad-mode")
        bad_mode["AlgorithmSpecification"]["TrainingInputMode"] = "Stream"
        cases = {
            "name too long": (job_request(long_name), "trainingJobName"),
            "no AlgorithmSpecification": (missing_algorithm, None),
            "bad enum": (bad_mode, "algorithmSpecification.trainingInputMode"),
        }
        for label, (request, field) in cases.items():
            with self.subTest(label):
                error = error_of(lambda: self.raw_client.create_training_job(**request))
                self.assertClientError(error, "ValidationException")
                if field:
                    self.assertIn(f"at '{field}'", error.response["Error"]["Message"])
                name = request["TrainingJobName"]
                if name != long_name:
                    error = error_of(lambda: self.client.describe_training_job(
                        TrainingJobName=name))
                    self.assertClientError(error, "ValidationException", NOT_FOUND)

    def test_list_parameter_validation(self):
        for label, kwargs in {"MaxResults 0": {"MaxResults": 0},
                              "MaxResults 101": {"MaxResults": 101},
                              "StatusEquals bogus": {"StatusEquals": "Bogus"},
                              "SortBy bogus": {"SortBy": "Size"},
                              "SortOrder bogus": {"SortOrder": "Sideways"}}.items():
            with self.subTest(label):
                error = error_of(lambda: self.raw_client.list_training_jobs(**kwargs))
                self.assertClientError(error, "ValidationException")

    def test_authorization_header_is_not_verified(self):
        # botocore signs with dummy credentials; an unsigned client must work too.
        unsigned = self.server.client(signed=False)
        response = unsigned.list_training_jobs(MaxResults=1)
        self.assertIn("TrainingJobSummaries", response)


class SimulateAllTest(JobTestCase):
    """--simulate-all runs any image in the simulator."""

    @classmethod
    def setUpClass(cls):
        start_class_server(cls, ["--simulate-all"])
        cls.client = cls.server.client()

    def test_non_simulator_image_completes(self):
        name = "real-image-simulated"
        self.create(name, image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/my-algo:latest")
        d = wait_terminal(self.client, name)
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]),
                         ("Completed", "Completed"), d.get("FailureReason"))
        self.assertEqual(d["ModelArtifacts"]["S3ModelArtifacts"],
                         f"s3://e2e-bucket/output/{name}/output/model.tar.gz")
        self.assert_model_tar(d)
        self.assert_time_fields(d)

    def test_simulator_images_still_compute_their_objective(self):
        self.create("sim-under-all")
        d = wait_terminal(self.client, "sim-under-all")
        self.assertEqual(d["TrainingJobStatus"], "Completed", d.get("FailureReason"))
        self.assertAlmostEqual(final_metrics(d)["validation:loss"], 1.25, places=6)


class StopTrainingJobTest(JobTestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        cls.client = cls.server.client()

    def test_stop_while_training(self):
        name = "stop-me"
        self.create(name, hyperparameters={"x": "0", "y": "0", "epochs": "30",
                                           "sim_seconds": "30"})
        wait_for(lambda: self.client.describe_training_job(TrainingJobName=name)
                 ["SecondaryStatus"] == "Training", 15, what=f"{name} to reach Training")
        asked = time.time()
        response = self.client.stop_training_job(TrainingJobName=name)
        self.assertEqual(set(response) - {"ResponseMetadata"}, set())
        d = self.client.describe_training_job(TrainingJobName=name)
        if d["TrainingJobStatus"] == "Stopping":
            # Stopping an already Stopping job succeeds (spec 4.4, emulator choice); the
            # simulator may have reached Stopped in between, which refuses it.
            try:
                self.client.stop_training_job(TrainingJobName=name)
            except self.client.exceptions.ClientError as error:
                self.assertIn("is in status Stopped", str(error))
        self.assertIn(d["TrainingJobStatus"], ("Stopping", "Stopped"))
        if d["TrainingJobStatus"] == "Stopping":
            self.assertEqual(d["SecondaryStatus"], "Stopping")
        # While the primary status is Stopping, the secondary one is Stopping too (spec 4.5).
        while d["TrainingJobStatus"] == "Stopping":
            self.assertEqual(d["SecondaryStatus"], "Stopping",
                             "primary Stopping allows only secondary Stopping")
            self.assertLess(time.time() - asked, 15)
            time.sleep(0.05)
            d = self.client.describe_training_job(TrainingJobName=name)
        waiter = self.client.get_waiter("training_job_completed_or_stopped")
        waiter.wait(TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
        d = self.client.describe_training_job(TrainingJobName=name)
        self.assertLess(time.time() - asked, 15)
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]), ("Stopped", "Stopped"))
        statuses = distinct_statuses(d)
        self.assertEqual(statuses[-2:], ["Stopping", "Stopped"], statuses)
        self.assertIn("Training", statuses)
        self.assertNotIn("Completed", statuses)
        self.assertIn("TrainingEndTime", d)
        self.assertNotIn("FailureReason", d)
        self.assert_model_tar(d)
        self.assert_time_fields(d)
        # A second Stop is refused now that the job is Stopped.
        error = error_of(lambda: self.client.stop_training_job(TrainingJobName=name))
        self.assertClientError(
            error, "ValidationException",
            "The request was rejected because the training job is in status Stopped.")

    def test_stop_right_after_create(self):
        name = "stop-early"
        self.create(name, hyperparameters={"x": "0", "y": "0", "epochs": "30",
                                           "sim_seconds": "30"})
        self.client.stop_training_job(TrainingJobName=name)
        d = wait_terminal(self.client, name, timeout=15)
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]), ("Stopped", "Stopped"))
        statuses = distinct_statuses(d)
        self.assertEqual(statuses[-1], "Stopped", statuses)
        self.assertIn("Stopping", statuses)
        self.assertNotIn("Completed", statuses)

    def test_max_runtime_exceeded(self):
        name = "too-slow"
        start = time.time()
        self.create(name, max_runtime=1, hyperparameters={"x": "0", "y": "0", "epochs": "20",
                                                          "sim_seconds": "20"})
        d = wait_terminal(self.client, name, timeout=15)
        self.assertLess(time.time() - start, 8, "MaxRuntimeInSeconds=1 took too long to act")
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]),
                         ("Stopped", "MaxRuntimeExceeded"))
        self.assertEqual(d["SecondaryStatusTransitions"][-1]["Status"], "MaxRuntimeExceeded")
        self.assertEqual(d["StoppingCondition"]["MaxRuntimeInSeconds"], 1)


class TagsTest(JobTestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        cls.client = cls.server.client()
        cls.raw_client = cls.server.client(validate=False)

    @staticmethod
    def as_dict(tags):
        return {t["Key"]: t["Value"] for t in tags}

    def list_tags(self, arn):
        return self.as_dict(self.client.list_tags(ResourceArn=arn)["Tags"])

    def test_tag_lifecycle(self):
        name = "Tagged-Job-A"
        tags = [{"Key": "team", "Value": "ml"}, {"Key": "env", "Value": "dev"}]
        arn = self.create(name, tags=tags)["TrainingJobArn"]
        self.assertEqual(arn, job_arn(name))
        self.assertTrue(arn.endswith("training-job/tagged-job-a"), arn)
        self.assertEqual(self.list_tags(arn), {"team": "ml", "env": "dev"})

        added = [{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me@example.com"}]
        response = self.client.add_tags(ResourceArn=arn, Tags=added)
        self.assertEqual(self.as_dict(response["Tags"]), self.as_dict(added))
        self.assertEqual(self.list_tags(arn),
                         {"team": "ml", "env": "prod", "owner": "me@example.com"})

        response = self.client.delete_tags(ResourceArn=arn, TagKeys=["team"])
        self.assertEqual(set(response) - {"ResponseMetadata"}, set())
        self.assertEqual(self.list_tags(arn), {"env": "prod", "owner": "me@example.com"})

        # ARNs resolve case-insensitively: the original-case name names the same job.
        mixed_case = arn.replace("tagged-job-a", name)
        self.assertEqual(self.list_tags(mixed_case), {"env": "prod", "owner": "me@example.com"})
        self.client.add_tags(ResourceArn=mixed_case, Tags=[{"Key": "case", "Value": "x"}])
        self.assertIn("case", self.list_tags(arn))

        # Tags survive the job finishing.
        wait_terminal(self.client, name)
        self.assertEqual(self.list_tags(arn)["env"], "prod")

    def test_unicode_tag_values(self):
        arn = self.create("unicode-tags")["TrainingJobArn"]
        tags = [{"Key": "project", "Value": "caf\u00e9 \u6570\u636e"},
                {"Key": "path", "Value": "a/b:c=d+e-f@g_h.i"},
                {"Key": "empty", "Value": ""}]
        self.client.add_tags(ResourceArn=arn, Tags=tags)
        self.assertEqual(self.list_tags(arn), self.as_dict(tags))

    def test_at_most_fifty_tags_per_resource(self):
        tags = [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(50)]
        arn = self.create("fifty-tags", tags=tags)["TrainingJobArn"]
        listed = self.client.list_tags(ResourceArn=arn, MaxResults=50)
        self.assertEqual(self.as_dict(listed["Tags"]), self.as_dict(tags))
        self.assertNotIn("NextToken", listed)
        error = error_of(lambda: self.client.add_tags(
            ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "x"}]))
        self.assertClientError(error, "ValidationException")
        # Overwriting an existing key does not add a tag, so it is allowed.
        self.client.add_tags(ResourceArn=arn, Tags=[{"Key": "k00", "Value": "new"}])
        self.assertEqual(self.list_tags(arn)["k00"], "new")
        self.assertEqual(len(self.list_tags(arn)), 50)

    def test_job_without_tags_lists_none(self):
        arn = self.create("untagged-job")["TrainingJobArn"]
        self.assertEqual(self.client.list_tags(ResourceArn=arn)["Tags"], [])

    def test_unknown_arn(self):
        arn = job_arn("never-created")
        for label, call in {
            "ListTags": lambda: self.client.list_tags(ResourceArn=arn),
            "AddTags": lambda: self.client.add_tags(ResourceArn=arn,
                                                    Tags=[{"Key": "k", "Value": "v"}]),
            "DeleteTags": lambda: self.client.delete_tags(ResourceArn=arn, TagKeys=["k"]),
        }.items():
            with self.subTest(label):
                self.assertClientError(error_of(call), "ValidationException")

    def test_tag_validation(self):
        arn = self.create("tag-limits")["TrainingJobArn"]
        too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        error = error_of(lambda: self.raw_client.add_tags(ResourceArn=arn, Tags=too_many))
        self.assertClientError(error, "ValidationException")
        error = error_of(lambda: self.raw_client.list_tags(ResourceArn="not-an-arn"))
        self.assertClientError(error, "ValidationException")
        self.assertEqual(self.list_tags(arn), {})


class ListTrainingJobsTest(JobTestCase):
    """25 finished jobs (every third Failed) in two batches a second apart, one running job."""

    COUNT = 25
    SPLIT = 12  # list-job-00..11 are batch A, 12..24 batch B

    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        cls.client = cls.server.client()
        cls.names = [f"list-job-{i:02d}" for i in range(cls.COUNT)]
        cls.failed = {n for i, n in enumerate(cls.names) if i % 3 == 0}
        cls.completed = set(cls.names) - cls.failed
        last_a = 0.0
        for i, name in enumerate(cls.names):
            if i == cls.SPLIT:
                # A whole-second boundary M with batch A before it and batch B after it.
                cls.boundary = math.ceil(last_a)
                while time.time() < cls.boundary + 1.05:
                    time.sleep(0.05)
            hyperparameters = {"x": str(i), "y": "0", "epochs": "2", "sim_seconds": "0"}
            if name in cls.failed:
                hyperparameters["fail_at_epoch"] = "1"
            cls.client.create_training_job(**job_request(name, hyperparameters=hyperparameters))
            last_a = time.time() if i < cls.SPLIT else last_a
            time.sleep(0.02)
        cls.client.create_training_job(**job_request(
            "listx-running",
            hyperparameters={"x": "0", "y": "0", "epochs": "100", "sim_seconds": "300"}))
        cls.describes = {n: wait_terminal(cls.client, n) for n in cls.names}

    def all_pages(self, **kwargs):
        """Follows NextToken by hand; returns the list of pages (each the raw response)."""
        pages = []
        token = None
        while True:
            args = dict(kwargs)
            if token:
                args["NextToken"] = token
            page = self.client.list_training_jobs(**args)
            pages.append(page)
            token = page.get("NextToken")
            if token is None:
                return pages
            self.assertTrue(token, "NextToken must be omitted, not empty, on the last page")
            self.assertLess(len(pages), 100, "pagination does not end")

    @staticmethod
    def names_of(pages):
        return [s["TrainingJobName"] for p in pages for s in p["TrainingJobSummaries"]]

    def test_jobs_reached_expected_states(self):
        for name, d in self.describes.items():
            expected = "Failed" if name in self.failed else "Completed"
            self.assertEqual(d["TrainingJobStatus"], expected, name)

    def test_summaries_match_describe(self):
        pages = self.all_pages(NameContains="list-job", MaxResults=100)
        self.assertEqual(len(pages), 1)
        summaries = pages[0]["TrainingJobSummaries"]
        self.assertEqual(len(summaries), self.COUNT)
        for summary in summaries:
            d = self.describes[summary["TrainingJobName"]]
            self.assertEqual(summary["TrainingJobArn"], d["TrainingJobArn"])
            self.assertEqual(summary["TrainingJobStatus"], d["TrainingJobStatus"])
            self.assertEqual(summary["SecondaryStatus"], d["SecondaryStatus"])
            self.assertEqual(summary["CreationTime"], d["CreationTime"])
            self.assertIn("TrainingEndTime", summary)
            self.assertIn("LastModifiedTime", summary)

    def test_default_order_is_creation_time_descending(self):
        names = self.names_of(self.all_pages(NameContains="list-job"))
        self.assertEqual(sorted(names), sorted(self.names))
        times = [self.describes[n]["CreationTime"] for n in names]
        self.assertEqual(times, sorted(times, reverse=True))
        # Batch B (created after the boundary) comes before batch A.
        self.assertEqual(set(names[:self.COUNT - self.SPLIT]), set(self.names[self.SPLIT:]))
        if len(set(times)) == len(times):
            self.assertEqual(names, list(reversed(self.names)))
        ascending = self.names_of(self.all_pages(NameContains="list-job", SortOrder="Ascending"))
        self.assertEqual(ascending, list(reversed(names)))

    def test_paginator_reaches_every_job_once(self):
        paginator = self.client.get_paginator("list_training_jobs")
        result = paginator.paginate(NameContains="list-job",
                                    PaginationConfig={"PageSize": 4}).build_full_result()
        names = [s["TrainingJobName"] for s in result["TrainingJobSummaries"]]
        self.assertEqual(len(names), self.COUNT)
        self.assertEqual(set(names), set(self.names))
        pages = list(paginator.paginate(NameContains="list-job", PaginationConfig={"PageSize": 4}))
        self.assertEqual([len(p["TrainingJobSummaries"]) for p in pages], [4] * 6 + [1])
        self.assertNotIn("NextToken", pages[-1])

    def test_manual_paging_with_max_results_3(self):
        pages = self.all_pages(NameContains="list-job", MaxResults=3)
        self.assertEqual([len(p["TrainingJobSummaries"]) for p in pages], [3] * 8 + [1])
        for page in pages[:-1]:
            self.assertIn("NextToken", page)
        self.assertNotIn("NextToken", pages[-1])
        names = self.names_of(pages)
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(set(names), set(self.names))

    def test_status_filter_is_applied_after_the_page_is_chosen(self):
        # By name, the candidate windows are [00,01,02], [03,04,05], ... [24]; exactly one job of
        # each window failed (i % 3 == 0).
        pages = self.all_pages(NameContains="list-job", SortBy="Name", SortOrder="Ascending",
                               StatusEquals="Failed", MaxResults=3)
        self.assertEqual(self.names_of(pages[:1]), ["list-job-00"],
                         "StatusEquals must filter the page of MaxResults candidates")
        self.assertEqual(self.names_of(pages), sorted(self.failed))
        self.assertEqual(len(pages), 9)
        pages = self.all_pages(NameContains="list-job", SortBy="Name", SortOrder="Ascending",
                               StatusEquals="Completed", MaxResults=3)
        self.assertEqual(self.names_of(pages), sorted(self.completed))
        for page in pages:
            self.assertLessEqual(len(page["TrainingJobSummaries"]), 3)
            for summary in page["TrainingJobSummaries"]:
                self.assertEqual(summary["TrainingJobStatus"], "Completed")
        self.assertNotIn("NextToken", pages[-1])

    def test_status_filter_with_paginator(self):
        paginator = self.client.get_paginator("list_training_jobs")
        for status, expected in (("Failed", self.failed), ("Completed", self.completed),
                                 ("InProgress", {"listx-running"}), ("Stopped", set())):
            with self.subTest(status=status):
                result = paginator.paginate(StatusEquals=status,
                                            PaginationConfig={"PageSize": 3}).build_full_result()
                names = [s["TrainingJobName"] for s in result["TrainingJobSummaries"]
                         if s["TrainingJobName"].startswith("list")]
                self.assertEqual(sorted(names), sorted(expected))

    def test_sort_by_name(self):
        ascending = self.names_of(self.all_pages(NameContains="list-job", SortBy="Name",
                                                 SortOrder="Ascending", MaxResults=7))
        self.assertEqual(ascending, sorted(self.names))
        descending = self.names_of(self.all_pages(NameContains="list-job", SortBy="Name",
                                                  SortOrder="Descending", MaxResults=7))
        self.assertEqual(descending, sorted(self.names, reverse=True))

    def test_sort_by_status(self):
        for order in ("Ascending", "Descending"):
            with self.subTest(order=order):
                pages = self.all_pages(NameContains="list-job", SortBy="Status",
                                       SortOrder=order, MaxResults=5)
                statuses = [s["TrainingJobStatus"] for p in pages
                            for s in p["TrainingJobSummaries"]]
                self.assertEqual(len(statuses), self.COUNT)
                self.assertEqual(statuses, sorted(statuses, reverse=(order == "Descending")))
                self.assertEqual(statuses.count("Failed"), len(self.failed))

    def test_name_contains(self):
        names = self.names_of(self.all_pages(NameContains="job-1"))
        self.assertEqual(sorted(names), [f"list-job-{i}" for i in range(10, 20)])
        self.assertEqual(self.names_of(self.all_pages(NameContains="no-such-thing")), [])
        names = self.names_of(self.all_pages(NameContains="listx"))
        self.assertEqual(names, ["listx-running"])

    def test_creation_time_filters(self):
        batch_a, batch_b = set(self.names[:self.SPLIT]), set(self.names[self.SPLIT:])
        after = set(self.names_of(self.all_pages(NameContains="list-job",
                                                 CreationTimeAfter=self.boundary)))
        self.assertEqual(after, batch_b)
        before = set(self.names_of(self.all_pages(NameContains="list-job",
                                                  CreationTimeBefore=self.boundary)))
        self.assertEqual(before, batch_a)
        both = set(self.names_of(self.all_pages(NameContains="list-job",
                                                CreationTimeAfter=self.boundary - 3600,
                                                CreationTimeBefore=self.boundary)))
        self.assertEqual(both, batch_a)
        future = self.names_of(self.all_pages(CreationTimeAfter=time.time() + 3600))
        self.assertEqual(future, [])

    def test_last_modified_time_filters(self):
        now = time.time()
        self.assertEqual(self.names_of(self.all_pages(NameContains="list-job",
                                                      LastModifiedTimeAfter=now + 3600)), [])
        everything = self.names_of(self.all_pages(NameContains="list-job",
                                                  LastModifiedTimeBefore=now + 3600))
        self.assertEqual(sorted(everything), sorted(self.names))
        after_boundary = set(self.names_of(self.all_pages(
            NameContains="list-job", LastModifiedTimeAfter=self.boundary)))
        self.assertTrue(set(self.names[self.SPLIT:]) <= after_boundary, after_boundary)
        before_boundary = set(self.names_of(self.all_pages(
            NameContains="list-job", LastModifiedTimeBefore=self.boundary)))
        self.assertTrue(before_boundary <= set(self.names[:self.SPLIT]), before_boundary)
        for name in self.names:
            d = self.describes[name]
            modified = d["LastModifiedTime"].timestamp()
            self.assertEqual(name in after_boundary, modified > self.boundary, name)


if __name__ == "__main__":
    unittest.main()
