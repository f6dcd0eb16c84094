"""Durability: state in the data dir survives `kill -9` and a graceful SIGTERM restart. Jobs that
were running are reconciled on start-up: resumed simulator jobs complete, nothing is lost."""

import os
import shutil
import tempfile
import time
import unittest

from harness import (E2ETestCase, Server, error_of, job_arn, job_request, wait_for,
                     wait_terminal)

TAGS = [{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "durable"}]


class RestartTest(E2ETestCase):
    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="smlocal-e2e-restart-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.first = self.second = None

    def servers_under_test(self):
        return [s for s in (self.first, self.second) if s is not None]

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for server in self.servers_under_test():
                server.kill9()
                server.cleanup()

    def start_completed_job(self, client, name):
        client.create_training_job(**job_request(
            name, tags=TAGS, hyperparameters={"x": "2", "y": "0", "epochs": "3",
                                              "sim_seconds": "0"}))
        described = wait_terminal(client, name)
        self.assertEqual(described["TrainingJobStatus"], "Completed")
        return described

    def assert_completed_job_intact(self, client, before):
        name = before["TrainingJobName"]
        after = client.describe_training_job(TrainingJobName=name)
        for key in ("TrainingJobArn", "TrainingJobStatus", "SecondaryStatus", "CreationTime",
                    "TrainingStartTime", "TrainingEndTime", "FinalMetricDataList",
                    "ModelArtifacts", "HyperParameters", "SecondaryStatusTransitions",
                    "TrainingTimeInSeconds"):
            self.assertEqual(after.get(key), before.get(key), f"{name}: {key} changed")
        metrics = {m["MetricName"]: m["Value"] for m in after["FinalMetricDataList"]}
        self.assertAlmostEqual(metrics["validation:loss"], 5.0, places=6)
        tags = client.list_tags(ResourceArn=job_arn(name))["Tags"]
        self.assertEqual(sorted((t["Key"], t["Value"]) for t in tags),
                         sorted((t["Key"], t["Value"]) for t in TAGS))

    def test_kill9_while_jobs_run(self):
        self.first = Server(data_dir=self.data_dir).start()
        client = self.first.client()
        completed = self.start_completed_job(client, "durable-done")
        running = [f"durable-run-{i}" for i in range(4)]
        for name in running:
            client.create_training_job(**job_request(
                name, hyperparameters={"x": "1", "y": "-2", "epochs": "6", "sim_seconds": "6"}))
        wait_for(lambda: all(client.describe_training_job(TrainingJobName=n)["SecondaryStatus"]
                             == "Training" for n in running), 10, what="jobs to reach Training")
        time.sleep(0.5)
        self.first.kill9()

        self.second = Server(data_dir=self.data_dir).start()
        client = self.second.client()
        listed = client.get_paginator("list_training_jobs").paginate(
            NameContains="durable").build_full_result()["TrainingJobSummaries"]
        self.assertEqual(sorted(s["TrainingJobName"] for s in listed),
                         sorted(running + ["durable-done"]))
        self.assert_completed_job_intact(client, completed)
        for name in running:
            with self.subTest(job=name):
                d = wait_terminal(client, name, timeout=40)
                self.assertEqual(d["TrainingJobStatus"], "Completed",
                                 f"{d['SecondaryStatus']}: {d.get('FailureReason')}")
                self.assertEqual(d["SecondaryStatusTransitions"][-1]["Status"], "Completed")
                metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
                self.assertAlmostEqual(metrics["validation:loss"], 0.0, places=6)
                model = self.second.s3_path(d["ModelArtifacts"]["S3ModelArtifacts"])
                self.assertTrue(os.path.isfile(model), model)
        # Names stay taken after the restart.
        error = error_of(lambda: client.create_training_job(**job_request("durable-run-0")))
        self.assertEqual(error.response["Error"]["Code"], "ResourceInUse")
        # And new jobs run on the restarted server.
        client.create_training_job(**job_request("after-restart"))
        self.assertEqual(wait_terminal(client, "after-restart")["TrainingJobStatus"], "Completed")

    def test_graceful_restart_keeps_state(self):
        self.first = Server(data_dir=self.data_dir).start()
        client = self.first.client()
        completed = self.start_completed_job(client, "graceful-done")
        client.create_training_job(**job_request(
            "graceful-run", hyperparameters={"x": "1", "y": "-2", "epochs": "6",
                                             "sim_seconds": "6"}))
        wait_for(lambda: client.describe_training_job(TrainingJobName="graceful-run")
                 ["SecondaryStatus"] == "Training", 10, what="graceful-run to reach Training")
        client.add_tags(ResourceArn=job_arn("graceful-run"), Tags=[{"Key": "k", "Value": "v"}])
        started = time.monotonic()
        code = self.first.stop(timeout=15)
        self.assertEqual(code, 0, "smlocal should exit 0 on SIGTERM")
        self.assertLess(time.monotonic() - started, 10, "graceful stop took too long")

        self.second = Server(data_dir=self.data_dir).start()
        client = self.second.client()
        self.assert_completed_job_intact(client, completed)
        d = wait_terminal(client, "graceful-run", timeout=40)
        self.assertEqual(d["TrainingJobStatus"], "Completed",
                         f"{d['SecondaryStatus']}: {d.get('FailureReason')}")
        self.assertEqual(client.list_tags(ResourceArn=job_arn("graceful-run"))["Tags"],
                         [{"Key": "k", "Value": "v"}])
        self.assertEqual(self.second.stop(), 0)


if __name__ == "__main__":
    unittest.main()
