"""The web dashboard (GET /) in headless Chromium: js/dashboard.mjs (playwright-core driving
Debian's /usr/bin/chromium) opens the page of a server that ran a training job and a tuning job
through boto3, and checks the lists, the metric plot, the log tail and the objective plot. The
browser goes through a CheckingProxy, so the AWS responses the page reads are shape-checked too.

Screenshots land in a temp dir; set SMLOCAL_DASHBOARD_SCREENSHOTS=<dir> to keep them
(docs/dashboard.png is dashboard-training.png made this way)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from harness import (E2E_DIR, SMLOCAL_SOURCE_DIR, TERMINAL, CheckingProxy, E2ETestCase, dummy_env, job_request,
                     start_class_server, wait_for, wait_terminal)
from test_tuning_jobs import tuning_request

JS_DIR = os.path.join(E2E_DIR, "js")
NODE = shutil.which("node")
NPM = shutil.which("npm")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TRAINING_JOB = "dash-train"
TUNING_JOB = "dash-tune"
TUNING_CHILDREN = 3
LIVE_JOB = "dash-live"
LIVE_EPOCHS = 8


def ensure_playwright() -> None:
    """npm ci when node_modules lacks playwright-core (it is git-ignored). playwright-core
    downloads no browser; the variable makes sure of it."""
    marker = os.path.join(JS_DIR, "node_modules", "playwright-core", "package.json")
    if os.path.exists(marker):
        return
    result = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                            env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"npm ci failed ({result.returncode}):\n{result.stdout}\n"
                           f"{result.stderr}")


def http_get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class DashboardTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        # Not a skip: scripts/setup.sh installs both, and CI must run the browser test.
        if not (NODE and NPM):
            raise RuntimeError("node and npm are not on PATH (scripts/setup.sh installs them)")
        if not os.access(CHROMIUM, os.X_OK):
            raise RuntimeError(f"no Chromium at {CHROMIUM} (scripts/setup.sh installs Debian's chromium)")
        ensure_playwright()
        start_class_server(cls)
        cls.client = cls.server.client()
        # sim_seconds spreads the epochs over time, as a real job's metrics are.
        cls.client.create_training_job(**job_request(
            TRAINING_JOB, hyperparameters={"x": "2", "y": "-1", "epochs": "5", "sim_seconds": "1.5"}))
        cls.client.create_hyper_parameter_tuning_job(**tuning_request(
            TUNING_JOB, max_jobs=TUNING_CHILDREN, parallel=TUNING_CHILDREN))

    def wait_jobs(self) -> None:
        described = wait_terminal(self.client, TRAINING_JOB, timeout=60)
        self.assertEqual(described["TrainingJobStatus"], "Completed", described.get("FailureReason"))
        tuning = wait_for(lambda: (lambda d: d if d["HyperParameterTuningJobStatus"] in TERMINAL
                                   else None)(self.client.describe_hyper_parameter_tuning_job(
                                       HyperParameterTuningJobName=TUNING_JOB)),
                          60, what=f"{TUNING_JOB} to finish")
        self.assertEqual(tuning["HyperParameterTuningJobStatus"], "Completed")

    def test_page_and_assets_are_served_from_the_binary(self):
        status, headers, body = http_get(f"{self.server.url}/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn(b'<script src="/_smlocal/ui/app.js"', body)
        with open(os.path.join(SMLOCAL_SOURCE_DIR, "dashboard", "app.js"), "rb") as source:
            expected_js = source.read()
        status, headers, body = http_get(f"{self.server.url}/_smlocal/ui/app.js")
        self.assertEqual((status, headers["Content-Type"]), (200, "text/javascript; charset=utf-8"))
        self.assertEqual(body, expected_js)
        etag = headers["ETag"]
        request = urllib.request.Request(f"{self.server.url}/_smlocal/ui/app.js",
                                         headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(request, timeout=10)
            self.fail("expected 304 Not Modified")
        except urllib.error.HTTPError as error:
            self.assertEqual(error.code, 304)
        # POST / is still the AWS API.
        self.assertEqual(self.client.list_training_jobs(MaxResults=1)["ResponseMetadata"]
                         ["HTTPStatusCode"], 200)

    def test_metric_series_api(self):
        self.wait_jobs()
        status, headers, body = http_get(
            f"{self.server.url}/_smlocal/api/training-jobs/{TRAINING_JOB}/metrics")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Content-Type"], "application/json")
        series = {m["MetricName"]: m["Points"] for m in json.loads(body)["Metrics"]}
        self.assertEqual(sorted(series), ["train:loss", "validation:loss"])
        # One value per epoch, and the validation regex also matches the closing "done" line.
        self.assertEqual((len(series["train:loss"]), len(series["validation:loss"])), (5, 6))
        # The simulator's validation loss ends at f(x, y) = (x-1)^2 + (y+2)^2.
        self.assertAlmostEqual(series["validation:loss"][-1]["Value"], 2.0, places=6)
        status, _, _ = http_get(f"{self.server.url}/_smlocal/api/training-jobs/nope/metrics")
        self.assertEqual(status, 404)

    def test_browser_shows_jobs_metrics_logs_and_objectives(self):
        self.wait_jobs()
        # Created by the script once the page is open; a second per epoch, so that the page
        # sees it running.
        live = job_request(LIVE_JOB, hyperparameters={
            "x": "1", "y": "0", "epochs": str(LIVE_EPOCHS), "sim_seconds": str(LIVE_EPOCHS)})
        with CheckingProxy(self.server) as proxy, \
                tempfile.TemporaryDirectory(prefix="smlocal-dashboard-") as out_dir:
            run = subprocess.run(
                [NODE, "dashboard.mjs", proxy.url, TRAINING_JOB, TUNING_JOB, str(TUNING_CHILDREN),
                 out_dir, json.dumps(live)],
                cwd=JS_DIR, env=dummy_env({"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}),
                capture_output=True, text=True, timeout=180)
            try:
                out = json.loads(run.stdout)
            except ValueError:
                self.fail(f"node printed no JSON (exit {run.returncode}):\n{run.stdout}\n"
                          f"{run.stderr}")
            shown = json.dumps(out, indent=2)
            self.assertEqual(out["failures"], [], shown)
            self.assertEqual(run.returncode, 0, run.stderr)

            self.assertEqual(out["title"], "smlocal")
            self.assertIn(TRAINING_JOB, out["listedTrainingJobs"])
            self.assertEqual((out["trainingStatus"], out["tuningStatus"]), ("Completed", "Completed"))
            # The 5 + 6 values of the two metrics, each drawn as a line with a dot per value.
            self.assertEqual(out["metricPoints"], 11, shown)
            self.assertEqual(out["metricDots"], 11, shown)
            self.assertEqual(out["metricLines"], 2, shown)
            self.assertEqual(sorted(out["metricLegend"]), ["train:loss", "validation:loss"])
            self.assertGreaterEqual(out["logLines"], 7, shown)
            self.assertIn("simulator: objective=quadratic", out["logText"])
            self.assertIn("simulator: done final validation:loss=2", out["logText"])
            self.assertEqual(out["trainingSelected"], 1)
            self.assertEqual(out["objectivePoints"], TUNING_CHILDREN, shown)
            self.assertEqual(out["objectiveDots"], TUNING_CHILDREN, shown)
            self.assertEqual(out["bestRings"], 1, shown)
            self.assertEqual(out["childRows"], TUNING_CHILDREN, shown)
            self.assertTrue(out["openedFromPlot"].startswith(TUNING_JOB), shown)
            self.assertEqual(out["hash"], f"#training/{out['openedFromPlot']}")
            # Refreshed by itself: the running job's plot and log grew without a reload.
            self.assertEqual(out["liveEarlyStatus"], "InProgress", shown)
            self.assertLess(out["liveEarlyPoints"], out["liveFinalPoints"], shown)
            self.assertEqual(out["liveFinalPoints"], 2 * LIVE_EPOCHS + 1, shown)
            self.assertLess(out["liveEarlyLogLines"], out["liveFinalLogLines"], shown)
            for operation in ("ListTrainingJobs", "ListHyperParameterTuningJobs",
                              "DescribeTrainingJob", "DescribeHyperParameterTuningJob",
                              "ListTrainingJobsForHyperParameterTuningJob", "DescribeLogStreams",
                              "GetLogEvents"):
                self.assertIn(operation, proxy.requests_seen)

            for name in ("dashboard-training.png", "dashboard-tuning.png"):
                path = os.path.join(out_dir, name)
                with open(path, "rb") as image:
                    self.assertEqual(image.read(8), b"\x89PNG\r\n\x1a\n", path)
                keep = os.environ.get("SMLOCAL_DASHBOARD_SCREENSHOTS")
                if keep:
                    os.makedirs(keep, exist_ok=True)
                    shutil.copyfile(path, os.path.join(keep, name))


if __name__ == "__main__":
    unittest.main()
