"""The AWS SDK for JavaScript v3 against smlocal: runs js/training_job.mjs (create, waiter,
describe, paginator, tags, errors) through a CheckingProxy and asserts what it printed."""

import json
import os
import shutil
import subprocess
import unittest

from harness import E2E_DIR, E2ETestCase, dummy_env, job_arn, start_class_proxy, start_class_server

JS_DIR = os.path.join(E2E_DIR, "js")
NODE = shutil.which("node")
NPM = shutil.which("npm")


def ensure_node_modules() -> None:
    """npm ci once, when node_modules is missing (it is git-ignored)."""
    marker = os.path.join(JS_DIR, "node_modules", "@aws-sdk", "client-sagemaker", "package.json")
    if os.path.exists(marker):
        return
    result = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"npm ci failed ({result.returncode}):\n{result.stdout}\n"
                           f"{result.stderr}")


@unittest.skipUnless(NODE and NPM, "node/npm are not on PATH")
class JsSdkTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        ensure_node_modules()
        start_class_server(cls)
        start_class_proxy(cls)

    def test_training_job_flow(self):
        prefix = "js-e2e"
        run = subprocess.run([NODE, "training_job.mjs", self.proxy.url, prefix], cwd=JS_DIR,
                             env=dummy_env(), capture_output=True, text=True, timeout=180)
        try:
            out = json.loads(run.stdout)
        except ValueError:
            self.fail(f"node printed no JSON (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
        self.assertNotIn("exception", out, json.dumps(out, indent=2))
        self.assertEqual(out["failures"], [], json.dumps(out, indent=2))
        self.assertEqual(run.returncode, 0, run.stderr)

        name = f"{prefix}-quad"
        self.assertEqual(out["trainingJobArn"], job_arn(name))
        self.assertTrue(out["createRequestId"])
        self.assertEqual(out["waiterState"], "SUCCESS")
        d = out["describe"]
        self.assertEqual((d["TrainingJobStatus"], d["SecondaryStatus"]), ("Completed", "Completed"))
        self.assertEqual(len(d["FinalMetricDataList"]), 1)
        metric = d["FinalMetricDataList"][0]
        self.assertEqual(metric["MetricName"], "validation:loss")
        self.assertAlmostEqual(metric["Value"], 1.0, places=6)
        self.assertTrue(metric["TimestampIsDate"])
        self.assertEqual(d["S3ModelArtifacts"], f"s3://js-bucket/output/{name}/output/model.tar.gz")
        self.assertEqual(d["transitions"][-1], "Completed")

        # Listed before the failing job was created: the job itself and four extra ones.
        expected = {name} | {f"{prefix}-page-{i}" for i in range(4)}
        self.assertEqual(sorted(out["listedNames"]), sorted(expected))
        self.assertEqual(out["pages"], 3)
        self.assertEqual(out["tags"], [{"Key": "sdk", "Value": "js"}])
        self.assertEqual(out["failedWaiter"]["state"], "FAILURE", out["failedWaiter"])

        unknown = out["unknownDescribe"]
        self.assertEqual(unknown["name"], "ValidationException", unknown)
        self.assertEqual(unknown["message"], "Requested resource not found.")
        self.assertEqual(unknown["httpStatusCode"], 400)
        self.assertEqual(unknown["fault"], "client")
        self.assertTrue(unknown["requestId"], unknown)
        stop = out["stopCompleted"]
        self.assertEqual(stop["name"], "ValidationException", stop)
        self.assertEqual(stop["message"],
                         "The request was rejected because the training job is in status "
                         "Completed.")
        self.assertEqual(out["duplicate"]["name"], "ResourceInUse", out["duplicate"])
        self.assertEqual(self.proxy.requests_seen.count("ListTrainingJobs"), 3)


if __name__ == "__main__":
    unittest.main()
