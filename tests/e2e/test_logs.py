"""CloudWatch Logs (`Logs_20140328.*`) on the SageMaker port: boto3's `logs` client and the AWS CLI
read the log streams of simulator training jobs. Every boto3 and CLI response is checked against
botocore's `logs` model (the harness's shape checker and CheckingProxy)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

from harness import (E2ETestCase, dummy_env, error_of, job_request, start_class_proxy,
                     start_class_server, wait_for, wait_terminal)

AWS = shutil.which("aws")
# `aws logs tail` exists only in AWS CLI v2: Debian's awscli package (scripts/setup.sh installs it)
# puts v2 at /usr/bin/aws, while the v1 from pip may come first on PATH.
AWS_V2 = "/usr/bin/aws"
GROUP = "/aws/sagemaker/TrainingJobs"
JOB = "logs-quad-1"
EPOCHS = 20


def read_all_from_head(logs, stream, limit=None, max_calls=100):
    """GetLogEvents startFromHead, following nextForwardToken until an empty page.
    Returns (events, calls, last response)."""
    kwargs = {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
    if limit:
        kwargs["limit"] = limit
    events, calls = [], 0
    while True:
        response = logs.get_log_events(**kwargs)
        calls += 1
        if not response["events"]:
            return events, calls, response
        events.extend(response["events"])
        kwargs["nextToken"] = response["nextForwardToken"]
        if calls >= max_calls:
            raise AssertionError(f"GetLogEvents did not reach an empty page in {max_calls} calls")


class CountingLogs:
    """Wraps a logs client and counts GetLogEvents calls, so that a hang shows as a failure."""

    def __init__(self, logs, budget):
        self.logs, self.budget, self.calls = logs, budget, 0

    def get_log_events(self, **kwargs):
        self.calls += 1
        if self.calls > self.budget:
            raise AssertionError(f"the tail loop made more than {self.budget} GetLogEvents calls")
        return self.logs.get_log_events(**kwargs)


def sdk_style_stream(logs, stream, start_time, skip):
    """One stream as the SageMaker Python SDK v2 reads it (spec/logs.md §5): startTime = last
    timestamp seen, startFromHead, follow nextForwardToken, stop at the first empty page, and
    drop the `skip` events already printed at that timestamp."""
    token = None
    while True:
        kwargs = {"logGroupName": GROUP, "logStreamName": stream, "startTime": start_time,
                  "startFromHead": True}
        if token is not None:
            kwargs["nextToken"] = token
        response = logs.get_log_events(**kwargs)
        token = response["nextForwardToken"]
        page = response["events"]
        if not page:
            return
        dropped = min(skip, len(page))
        skip -= dropped
        yield from page[dropped:]


def sdk_style_tail(logs, streams, rounds):
    """Rounds of the SDK's multi-stream tail: interleave by timestamp, remember per stream the
    last timestamp and how many events were printed at it."""
    positions = {s: (0, 0) for s in streams}
    printed = []
    for _ in range(rounds):
        batch = []
        for stream in streams:
            timestamp, skip = positions[stream]
            for event in sdk_style_stream(logs, stream, timestamp, skip):
                batch.append((event["timestamp"], stream, event["message"]))
                if event["timestamp"] == timestamp:
                    skip += 1
                else:
                    timestamp, skip = event["timestamp"], 1
            positions[stream] = (timestamp, skip)
        printed.extend(sorted(batch, key=lambda e: e[0]))
    return printed


class LogsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        cls.client = cls.server.client()
        cls.logs = cls.server.client(service="logs")
        cls.logs_raw = cls.server.client(service="logs", validate=False)
        cls.client.create_training_job(**job_request(
            JOB, hyperparameters={"x": "0", "y": "0", "epochs": str(EPOCHS), "sim_seconds": "0"}))
        cls.described = wait_terminal(cls.client, JOB)
        streams = cls.logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=JOB + "/")
        cls.stream = streams["logStreams"][0]["logStreamName"]

    def assert_job_lines(self, messages):
        self.assertEqual(len(messages), EPOCHS + 2, messages)
        self.assertTrue(messages[0].startswith("simulator: objective=quadratic"), messages[0])
        self.assertTrue(messages[-1].startswith("simulator: done "), messages[-1])
        for epoch, line in enumerate(messages[1:-1], start=1):
            self.assertTrue(line.startswith(f"epoch={epoch} train:loss="), line)

    def assert_ms(self, value):
        """A plausible epoch-milliseconds value around the job's run."""
        created = self.described["CreationTime"].timestamp()
        ended = self.described["TrainingEndTime"].timestamp()
        self.assertIsInstance(value, int)
        self.assertGreaterEqual(value, int(created * 1000) - 2000)
        self.assertLessEqual(value, int(ended * 1000) + 2000)

    def test_describe_log_streams_finds_the_host_stream(self):
        self.assertEqual(self.described["TrainingJobStatus"], "Completed")
        response = self.logs.describe_log_streams(logGroupName=GROUP,
                                                  logStreamNamePrefix=JOB + "/")
        self.assertNotIn("nextToken", response)
        [stream] = response["logStreams"]
        self.assertRegex(stream["logStreamName"], rf"^{JOB}/algo-1-\d+$")
        for key in ("creationTime", "firstEventTimestamp", "lastEventTimestamp",
                    "lastIngestionTime"):
            self.assert_ms(stream[key])
        self.assertEqual(stream["storedBytes"], 0)
        self.assertEqual(stream["arn"], "arn:aws:logs:us-east-1:123456789012:log-group:"
                                        f"{GROUP}:log-stream:{stream['logStreamName']}")
        # The SDK v2 asks with limit=instance count, then loops while nextToken is present.
        response = self.logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=JOB + "/",
                                                  orderBy="LogStreamName", limit=1)
        self.assertNotIn("nextToken", response)

    def test_describe_log_groups(self):
        groups = self.logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]
        self.assertEqual([g["logGroupName"] for g in groups], [GROUP])
        self.assertGreater(groups[0]["creationTime"], 10 ** 12)
        self.assertEqual(self.logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"],
                         [])

    def test_get_log_events_from_head_until_an_empty_page(self):
        events, calls, last = read_all_from_head(self.logs, self.stream)
        self.assertEqual(calls, 2)
        self.assert_job_lines([e["message"] for e in events])
        for event in events:
            self.assert_ms(event["timestamp"])
            self.assertGreaterEqual(event["ingestionTime"], event["timestamp"])
        stamps = [e["timestamp"] for e in events]
        self.assertEqual(stamps, sorted(stamps))
        # At the end the forward token is unchanged.
        again = self.logs.get_log_events(logGroupName=GROUP, logStreamName=self.stream,
                                         startFromHead=True, nextToken=last["nextForwardToken"])
        self.assertEqual(again["events"], [])
        self.assertEqual(again["nextForwardToken"], last["nextForwardToken"])

    def test_pages_of_a_limit(self):
        events, calls, _ = read_all_from_head(self.logs, self.stream, limit=5)
        self.assertEqual(calls, 6)  # 5, 5, 5, 5, 2, then empty
        self.assert_job_lines([e["message"] for e in events])

    def test_newest_page_and_backward_token(self):
        newest = self.logs.get_log_events(logGroupName=GROUP, logStreamName=self.stream, limit=3)
        messages = [e["message"] for e in newest["events"]]
        self.assertEqual(len(messages), 3)
        self.assertTrue(messages[-1].startswith("simulator: done"))
        older = self.logs.get_log_events(logGroupName=GROUP, logStreamName=self.stream, limit=30,
                                         nextToken=newest["nextBackwardToken"])
        self.assertEqual(len(older["events"]), EPOCHS + 2 - 3)

    def test_start_time_is_inclusive(self):
        events, _, _ = read_all_from_head(self.logs, self.stream)
        middle = events[10]["timestamp"]
        response = self.logs.get_log_events(logGroupName=GROUP, logStreamName=self.stream,
                                            startFromHead=True, startTime=middle)
        first_at = next(i for i, e in enumerate(events) if e["timestamp"] == middle)
        self.assertEqual(response["events"], events[first_at:])

    def test_sdk_style_tail_terminates_with_every_line_once(self):
        counting = CountingLogs(self.logs, budget=40)
        printed = sdk_style_tail(counting, [self.stream], rounds=2)
        self.assert_job_lines([message for _, _, message in printed])
        self.assertLessEqual(counting.calls, 6)

    def test_following_one_token_sees_a_running_job(self):
        # sagemaker-core (SDK v3) keeps calling with the same nextForwardToken until events come.
        name = "logs-live-1"
        self.client.create_training_job(**job_request(
            name, hyperparameters={"x": "1", "y": "1", "epochs": "6", "sim_seconds": "3"}))
        stream = wait_for(lambda: [s["logStreamName"] for s in self.logs.describe_log_streams(
            logGroupName=GROUP, logStreamNamePrefix=name + "/")["logStreams"]], 20,
            what="the live job's stream")[0]
        token, messages = None, []
        deadline = time.monotonic() + 30
        while not (messages and messages[-1].startswith("simulator: done")):
            self.assertLess(time.monotonic(), deadline, f"tail stalled after {messages}")
            kwargs = {"nextToken": token} if token else {}
            response = self.logs.get_log_events(logGroupName=GROUP, logStreamName=stream,
                                                startFromHead=True, **kwargs)
            messages.extend(e["message"] for e in response["events"])
            if not response["events"] and token:
                self.assertEqual(response["nextForwardToken"], token)
            token = response["nextForwardToken"]
            time.sleep(0.2)
        self.assertEqual(len(messages), 8, messages)
        wait_terminal(self.client, name)

    def test_filter_log_events(self):
        response = self.logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix=JOB + "/")
        self.assert_job_lines([e["message"] for e in response["events"]])
        self.assertNotIn("nextToken", response)
        first = response["events"][0]
        self.assertEqual(first["logStreamName"], self.stream)
        self.assertTrue(first["eventId"])
        self.assertEqual(response["searchedLogStreams"],
                         [{"logStreamName": self.stream, "searchedCompletely": True}])

        done = self.logs.filter_log_events(logGroupName=GROUP, logStreamNames=[self.stream],
                                           filterPattern='"simulator: done"')["events"]
        self.assertEqual(len(done), 1)
        both = self.logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix=JOB + "/",
                                           filterPattern="simulator")["events"]
        self.assertEqual(len(both), 2)

        paged = [e["message"] for page in self.logs.get_paginator("filter_log_events").paginate(
            logGroupName=GROUP, logStreamNamePrefix=JOB + "/", PaginationConfig={"PageSize": 5})
            for e in page["events"]]
        self.assert_job_lines(paged)

    def test_errors(self):
        error = error_of(lambda: self.logs.get_log_events(
            logGroupName=GROUP, logStreamName=f"{JOB}/algo-9-1"))
        self.assertClientError(error, "ResourceNotFoundException",
                               "The specified log stream does not exist.")
        error = error_of(lambda: self.logs.describe_log_streams(
            logGroupName="/aws/sagemaker/ProcessingJobs"))
        self.assertClientError(error, "ResourceNotFoundException",
                               "The specified log group does not exist.")
        error = error_of(lambda: self.logs.get_log_events(
            logGroupName=GROUP, logStreamName=self.stream, nextToken="f/garbage"))
        self.assertClientError(error, "InvalidParameterException")
        error = error_of(lambda: self.logs.describe_log_streams(
            logGroupName=GROUP, logStreamNamePrefix=JOB, orderBy="LastEventTime"))
        self.assertClientError(error, "InvalidParameterException")
        error = error_of(lambda: self.logs_raw.describe_log_streams(logGroupName=GROUP, limit=0))
        self.assertClientError(error, "ValidationException", message_prefix="1 validation error")

    def test_global_endpoint_variable_routes_both_clients(self):
        script = (
            "import boto3, json\n"
            "sm = boto3.client('sagemaker')\n"
            "logs = boto3.client('logs')\n"
            f"status = sm.describe_training_job(TrainingJobName={JOB!r})['TrainingJobStatus']\n"
            f"streams = logs.describe_log_streams(logGroupName={GROUP!r},"
            f" logStreamNamePrefix={JOB + '/'!r})['logStreams']\n"
            "print(json.dumps({'status': status, 'streams': [s['logStreamName'] for s in streams]}))\n")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=60, env=dummy_env({"AWS_ENDPOINT_URL": self.server.url}))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout),
                         {"status": "Completed", "streams": [self.stream]})


@unittest.skipUnless(AWS, "the aws CLI is not on PATH")
class LogsCliTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        start_class_proxy(cls)
        cls.client = cls.server.client()
        cls.job = "logs-cli-1"
        cls.client.create_training_job(**job_request(
            cls.job, hyperparameters={"x": "0", "y": "0", "epochs": str(EPOCHS),
                                      "sim_seconds": "0"}))
        wait_terminal(cls.client, cls.job)

    def aws(self, *args):
        env = dummy_env({"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": self.proxy.url})
        return subprocess.run([AWS, *args], env=env, capture_output=True, text=True, timeout=60)

    def aws_json(self, *args):
        result = self.aws(*args, "--output", "json")
        self.assertEqual(result.returncode, 0,
                         f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return json.loads(result.stdout)

    def stream(self):
        streams = self.aws_json("logs", "describe-log-streams", "--log-group-name", GROUP,
                                "--log-stream-name-prefix", self.job + "/")["logStreams"]
        self.assertEqual(len(streams), 1)
        self.assertRegex(streams[0]["logStreamName"], rf"^{self.job}/algo-1-\d+$")
        return streams[0]["logStreamName"]

    def assert_job_lines(self, messages):
        self.assertEqual(len(messages), EPOCHS + 2, messages)
        self.assertTrue(messages[0].startswith("simulator: objective=quadratic"))
        self.assertTrue(messages[-1].startswith("simulator: done "))

    def test_get_log_events_from_head(self):
        response = self.aws_json("logs", "get-log-events", "--log-group-name", GROUP,
                                 "--log-stream-name", self.stream(), "--start-from-head")
        self.assert_job_lines([e["message"] for e in response["events"]])
        self.assertTrue(all(e["timestamp"] > 10 ** 12 for e in response["events"]))
        self.assertIn("GetLogEvents", self.proxy.requests_seen)

    def test_filter_log_events(self):
        response = self.aws_json("logs", "filter-log-events", "--log-group-name", GROUP,
                                 "--log-stream-name-prefix", self.job)
        self.assert_job_lines([e["message"] for e in response["events"]])
        # The CLI pages by itself; with a small page size it must still end.
        response = self.aws_json("logs", "filter-log-events", "--log-group-name", GROUP,
                                 "--log-stream-name-prefix", self.job, "--page-size", "4")
        self.assert_job_lines([e["message"] for e in response["events"]])
        response = self.aws_json("logs", "filter-log-events", "--log-group-name", GROUP,
                                 "--log-stream-names", self.stream(),
                                 "--filter-pattern", '"simulator: done"')
        self.assertEqual(len(response["events"]), 1)

    def test_aws_logs_tail(self):
        """AWS CLI v2's `aws logs tail` (FilterLogEvents pages from --since) prints every line."""
        version = subprocess.run([AWS_V2, "--version"], capture_output=True, text=True, timeout=60)
        self.assertTrue(version.stdout.startswith("aws-cli/2."),
                        f"{AWS_V2} should be AWS CLI v2 (scripts/setup.sh installs it): {version.stdout}")
        result = subprocess.run(
            [AWS_V2, "--endpoint-url", self.proxy.url, "--region", "us-east-1", "logs", "tail", GROUP,
             "--log-stream-name-prefix", self.job + "/", "--since", "1d", "--format", "short"],
            env=dummy_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        # "--format short" prints "<time> <message>".
        messages = [line.split(" ", 1)[1] for line in lines]
        self.assert_job_lines(messages)
        self.assertIn("FilterLogEvents", self.proxy.requests_seen)


if __name__ == "__main__":
    unittest.main()
