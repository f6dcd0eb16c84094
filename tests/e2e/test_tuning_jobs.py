"""End-to-end tests of hyperparameter tuning through boto3 against the real smlocal binary.

Covers CreateHyperParameterTuningJob / DescribeHyperParameterTuningJob /
ListHyperParameterTuningJobs / StopHyperParameterTuningJob /
ListTrainingJobsForHyperParameterTuningJob and tags on tuning jobs: the four strategies on small
budgets, counters and the best job, child naming and hyperparameters, parallel and total limits,
Grid order, Hyperband and median-rule early stopping, Stop, create-time errors, completion
criteria, list filters/sorting/paging, tags, warm start and kill -9 restarts mid-tuning.
Children run in the simulator (`simulator/quadratic`: f(x, y) = (x-1)^2 + (y+2)^2, whose
validation:loss reaches f exactly at the last epoch). Every call goes through a client whose raw
responses are checked against botocore's model.
"""

import json
import os
import re
import shutil
import tempfile
import time
import unittest

from harness import (ACCOUNT, REGION, ROLE_ARN, TERMINAL, TRAIN_METRIC, VALIDATION_METRIC,
                     E2ETestCase, Server, error_of, job_arn, read_model_tar, start_class_server,
                     wait_for)

OBJECTIVE = "validation:loss"
METRIC_REQUIRED = ("A metric is required for this hyperparameter tuning job objective. Provide a "
                   "metric in the metric definitions.")
TUNING_TERMINAL = ("Completed", "Failed", "Stopped")
STATUS_COUNTER_KEYS = {"Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped"}
OBJECTIVE_COUNTER_KEYS = {"Succeeded", "Pending", "Failed"}
XY_RANGES = {"ContinuousParameterRanges": [
    {"Name": "x", "MinValue": "-5", "MaxValue": "5", "ScalingType": "Linear"},
    {"Name": "y", "MinValue": "-5", "MaxValue": "5", "ScalingType": "Linear"}]}
FAST = {"epochs": "3", "sim_seconds": "0"}
EPOCH_LINE = re.compile(r"^epoch=(\d+) ")


def quadratic(x: float, y: float) -> float:
    return (x - 1) ** 2 + (y + 2) ** 2


def tuning_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/{name.lower()}"


def training_definition(static=None, metrics=None, output_path="s3://e2e-bucket/tuning",
                        image="simulator/quadratic") -> dict:
    """A HyperParameterTrainingJobDefinition for the simulator."""
    return {
        "StaticHyperParameters": dict(FAST if static is None else static),
        "AlgorithmSpecification": {
            "TrainingImage": image, "TrainingInputMode": "File",
            "MetricDefinitions": [VALIDATION_METRIC, TRAIN_METRIC] if metrics is None else metrics},
        "RoleArn": ROLE_ARN,
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def tuning_request(name, strategy="Random", ranges=None, max_jobs=4, parallel=2, static=None,
                   objective=OBJECTIVE, objective_type="Minimize", definition=None, tags=None,
                   **config) -> dict:
    """A complete CreateHyperParameterTuningJob request with a single TrainingJobDefinition."""
    limits = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    request = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": objective_type, "MetricName": objective},
            "ResourceLimits": limits,
            "ParameterRanges": XY_RANGES if ranges is None else ranges,
            **config,
        },
        "TrainingJobDefinition": definition or training_definition(static),
    }
    if tags is not None:
        request["Tags"] = tags
    return request


def significant_digits(text: str) -> str:
    """The significant digits of a decimal string ('-0.012500e3' -> '125')."""
    mantissa = re.split("[eE]", text.lstrip("+-"))[0]
    return mantissa.replace(".", "").lstrip("0").rstrip("0") or "0"


class TuningTestCase(E2ETestCase):
    """Helpers shared by the classes below; `self.client` is the class server's checked client."""

    client = None

    @classmethod
    def setUpClass(cls):
        start_class_server(cls)
        cls.client = cls.server.client()

    # -- requests ------------------------------------------------------------------------------
    def create(self, request: dict, client=None) -> str:
        client = client or self.client
        name = request["HyperParameterTuningJobName"]
        arn = client.create_hyper_parameter_tuning_job(**request)["HyperParameterTuningJobArn"]
        self.assertEqual(arn, tuning_arn(name))
        return arn

    def describe(self, name: str, client=None) -> dict:
        return (client or self.client).describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name)

    def wait_tuning(self, name: str, timeout: float = 60, on_poll=None, client=None,
                    interval: float = 0.1) -> dict:
        """Describes `name` until it is Completed, Failed or Stopped; calls on_poll(describe)
        at every poll. Returns the last Describe."""
        holder = {}

        def done():
            holder["d"] = self.describe(name, client)
            if on_poll is not None:
                on_poll(holder["d"])
            return holder["d"]["HyperParameterTuningJobStatus"] in TUNING_TERMINAL

        try:
            wait_for(done, timeout, interval=interval, what=f"tuning job {name} to end")
        except AssertionError:
            d = holder.get("d", {})
            raise AssertionError(f"{name} not terminal after {timeout}s: "
                                 f"{d.get('HyperParameterTuningJobStatus')} "
                                 f"{d.get('TrainingJobStatusCounters')}")
        return holder["d"]

    def children(self, name: str, client=None, **kwargs) -> list:
        """Every ListTrainingJobsForHyperParameterTuningJob summary, following NextToken."""
        client = client or self.client
        summaries, token = [], None
        for _ in range(100):
            page = client.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name, MaxResults=100,
                **({"NextToken": token} if token else {}), **kwargs)
            summaries.extend(page["TrainingJobSummaries"])
            token = page.get("NextToken")
            if not token:
                return summaries
        self.fail("ListTrainingJobsForHyperParameterTuningJob never ended")

    def epochs_logged(self, child: str) -> int:
        """Number of `epoch=<e>` lines in the plain-text log copies of a child."""
        folder = os.path.join(self.server.data_dir, "logs", child)
        count = 0
        for entry in sorted(os.listdir(folder)):
            with open(os.path.join(folder, entry), encoding="utf-8", errors="replace") as handle:
                count += sum(1 for line in handle if EPOCH_LINE.match(line))
        return count

    def epochs_in_model(self, child: str, client=None) -> int:
        d = (client or self.client).describe_training_job(TrainingJobName=child)
        members = read_model_tar(self.server.s3_path(d["ModelArtifacts"]["S3ModelArtifacts"]))
        return json.loads(members["model.json"])["epochs_completed"]

    # -- assertions ----------------------------------------------------------------------------
    def assert_names(self, name: str, summaries: list, count: int) -> None:
        """Children are <tuning>-NNN-xxxxxxxx with NNN = 001..count, each index once."""
        pattern = re.compile(re.escape(name) + r"-(\d{3})-([0-9a-f]{8})")
        indexes = []
        for s in summaries:
            match = pattern.fullmatch(s["TrainingJobName"])
            self.assertIsNotNone(match, f"child name {s['TrainingJobName']!r} is not "
                                        f"{name}-NNN-xxxxxxxx")
            indexes.append(int(match.group(1)))
            self.assertEqual(s["TrainingJobArn"], job_arn(s["TrainingJobName"]))
            self.assertEqual(s.get("TuningJobName"), name)
        self.assertEqual(sorted(indexes), list(range(1, count + 1)),
                         [s["TrainingJobName"] for s in summaries])

    def assert_counters(self, d: dict, summaries: list) -> None:
        """All counter keys present; they add up to the children and match their statuses."""
        counters, objectives = d["TrainingJobStatusCounters"], d["ObjectiveStatusCounters"]
        self.assertEqual(set(counters), STATUS_COUNTER_KEYS, counters)
        self.assertEqual(set(objectives), OBJECTIVE_COUNTER_KEYS, objectives)
        self.assertEqual(sum(counters.values()), len(summaries), counters)
        self.assertEqual(sum(objectives.values()), len(summaries), objectives)
        by_status = {}
        for s in summaries:
            by_status[s["TrainingJobStatus"]] = by_status.get(s["TrainingJobStatus"], 0) + 1
        self.assertEqual(counters["Completed"], by_status.get("Completed", 0), counters)
        self.assertEqual(counters["Stopped"], by_status.get("Stopped", 0), counters)
        self.assertEqual(counters["RetryableError"] + counters["NonRetryableError"],
                         by_status.get("Failed", 0), counters)
        self.assertEqual(counters["InProgress"],
                         by_status.get("InProgress", 0) + by_status.get("Stopping", 0), counters)
        by_objective = {}
        for s in summaries:
            key = s.get("ObjectiveStatus")
            by_objective[key] = by_objective.get(key, 0) + 1
        for key in OBJECTIVE_COUNTER_KEYS:
            self.assertEqual(objectives[key], by_objective.get(key, 0), (key, objectives))
        if d["HyperParameterTuningJobStatus"] in TUNING_TERMINAL:
            self.assertEqual(counters["InProgress"], 0, counters)
            self.assertEqual(objectives["Pending"], 0, objectives)

    def assert_objective_metric(self, summary: dict, objective_type="Minimize") -> float:
        metric = summary["FinalHyperParameterTuningJobObjectiveMetric"]
        self.assertEqual(metric["Type"], objective_type, metric)
        self.assertEqual(metric["MetricName"], OBJECTIVE, metric)
        self.assertIsInstance(metric["Value"], float, metric)
        return metric["Value"]

    def assert_best(self, d: dict, summaries: list, objective_type="Minimize") -> None:
        """BestTrainingJob = the Succeeded child with the smallest (Maximize: largest) final
        objective value."""
        succeeded = [s for s in summaries if s.get("ObjectiveStatus") == "Succeeded"]
        if not succeeded:
            self.assertNotIn("BestTrainingJob", d)
            return
        for s in succeeded:
            self.assert_objective_metric(s, objective_type)
        pick = max if objective_type == "Maximize" else min
        best_value = pick(s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
                          for s in succeeded)
        self.assertIn("BestTrainingJob", d)
        best = d["BestTrainingJob"]
        self.assertEqual(self.assert_objective_metric(best, objective_type), best_value,
                         f"BestTrainingJob {best['TrainingJobName']} is not the minimum")
        listed = {s["TrainingJobName"]: s for s in succeeded}
        self.assertIn(best["TrainingJobName"], listed)
        metric_key = "FinalHyperParameterTuningJobObjectiveMetric"
        self.assertEqual(best[metric_key], listed[best["TrainingJobName"]][metric_key])
        self.assertEqual(best["TunedHyperParameters"],
                         listed[best["TrainingJobName"]]["TunedHyperParameters"])
        self.assertEqual(best["ObjectiveStatus"], "Succeeded")

    def assert_finished(self, d: dict, name: str, status: str = "Completed",
                        count: int | None = None, objective_type="Minimize", client=None) -> list:
        """Terminal checks shared by most tests; returns the children."""
        self.assertEqual(d["HyperParameterTuningJobStatus"], status, d.get("FailureReason"))
        self.assertEqual(d["HyperParameterTuningJobName"], name)
        self.assertEqual(d["HyperParameterTuningJobArn"], tuning_arn(name))
        self.assertIn("HyperParameterTuningEndTime", d)
        created, ended = d["CreationTime"].timestamp(), d["HyperParameterTuningEndTime"].timestamp()
        self.assertLessEqual(created, ended)
        self.assertLessEqual(ended, d["LastModifiedTime"].timestamp() + 0.001)
        self.assertLessEqual(abs(d["ConsumedResources"]["RuntimeInSeconds"] - (ended - created)),
                             1, d["ConsumedResources"])
        summaries = self.children(name, client=client)
        if count is not None:
            self.assertEqual(len(summaries), count, [s["TrainingJobName"] for s in summaries])
        self.assert_names(name, summaries, len(summaries))
        for s in summaries:
            self.assertIn(s["TrainingJobStatus"], TERMINAL, s)
            self.assertLessEqual(created, s["CreationTime"].timestamp() + 0.001)
            self.assertLessEqual(s["CreationTime"].timestamp(), ended + 0.001)
        self.assert_counters(d, summaries)
        self.assert_best(d, summaries, objective_type)
        return summaries

    def assert_not_created(self, name: str) -> None:
        error = error_of(lambda: self.describe(name))
        self.assertClientError(error, "ResourceNotFound")
        listed = self.client.list_training_jobs(NameContains=name, MaxResults=100)
        self.assertEqual([s["TrainingJobName"] for s in listed["TrainingJobSummaries"]
                          if s["TrainingJobName"].startswith(name + "-")], [])


class ParallelismMonitor:
    """Polls during a run: the most children InProgress at once, from the list and the counters."""

    def __init__(self, test: TuningTestCase, name: str, client=None) -> None:
        self.test, self.name, self.client = test, name, client
        self.max_listed = self.max_counted = self.max_total = 0

    def __call__(self, described: dict) -> None:
        counted = described["TrainingJobStatusCounters"]["InProgress"]
        summaries = self.test.children(self.name, client=self.client)
        running = sum(1 for s in summaries if s["TrainingJobStatus"] in ("InProgress", "Stopping"))
        self.max_counted = max(self.max_counted, counted)
        self.max_listed = max(self.max_listed, running)
        self.max_total = max(self.max_total, len(summaries))


# ---------------------------------------------------------------------------------------------
# 1-5: strategies, naming, limits, Grid, Hyperband
# ---------------------------------------------------------------------------------------------

class StrategyTest(TuningTestCase):

    def test_random_small_budget_respects_limits(self):
        name = "tj-random"
        self.create(tuning_request(name, "Random", max_jobs=8, parallel=3, RandomSeed=42,
                                   static={"epochs": "3", "sim_seconds": "0.3"}))
        monitor = ParallelismMonitor(self, name)
        d = self.wait_tuning(name, on_poll=monitor, interval=0.05)
        summaries = self.assert_finished(d, name, count=8)
        self.assertEqual(d["TrainingJobStatusCounters"]["Completed"], 8)
        self.assertEqual(d["ObjectiveStatusCounters"]["Succeeded"], 8)
        self.assertLessEqual(monitor.max_listed, 3, "children InProgress at once (list)")
        self.assertLessEqual(monitor.max_counted, 3, "InProgress counter")
        self.assertEqual(monitor.max_listed, 3, "never saw the 3 parallel slots used")
        self.assertLessEqual(monitor.max_total, 8)
        # Exactly 8 training jobs carry this tuning job, in ListTrainingJobs too.
        listed = self.client.get_paginator("list_training_jobs").paginate(
            NameContains=name + "-").build_full_result()["TrainingJobSummaries"]
        self.assertEqual(sorted(s["TrainingJobName"] for s in listed),
                         sorted(s["TrainingJobName"] for s in summaries))
        for s in summaries:
            value = self.assert_objective_metric(s)
            x, y = float(s["TunedHyperParameters"]["x"]), float(s["TunedHyperParameters"]["y"])
            self.assertAlmostEqual(value, quadratic(x, y), places=6, msg=s["TrainingJobName"])
        self.assertEqual(d["HyperParameterTuningJobConfig"]["RandomSeed"], 42)

        # The same RandomSeed draws the same values in the same order.
        again = "tj-random-again"
        self.create(tuning_request(again, "Random", max_jobs=8, parallel=3, RandomSeed=42))
        self.assert_finished(self.wait_tuning(again), again, count=8)
        first = {s["TrainingJobName"][len(name) + 1:][:3]: s["TunedHyperParameters"]
                 for s in summaries}
        second = {s["TrainingJobName"][len(again) + 1:][:3]: s["TunedHyperParameters"]
                  for s in self.children(again)}
        self.assertEqual(first, second, "RandomSeed 42 twice gave different draws")

    def test_bayesian_small_budget(self):
        name = "tj-bayesian"
        self.create(tuning_request(name, "Bayesian", max_jobs=10, parallel=2, RandomSeed=7,
                                   static={"epochs": "3", "sim_seconds": "0.05"}))
        monitor = ParallelismMonitor(self, name)
        d = self.wait_tuning(name, on_poll=monitor, interval=0.05)
        self.assert_finished(d, name, count=10)
        self.assertEqual(d["TrainingJobStatusCounters"]["Completed"], 10)
        self.assertEqual(d["ObjectiveStatusCounters"]["Succeeded"], 10)
        self.assertLessEqual(monitor.max_listed, 2)
        self.assertLessEqual(monitor.max_counted, 2)
        self.assertEqual(d["HyperParameterTuningJobConfig"]["Strategy"], "Bayesian")

    def test_maximize_objective(self):
        name = "tj-maximize"
        self.create(tuning_request(name, "Random", max_jobs=5, parallel=3, RandomSeed=9,
                                   objective_type="Maximize"))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, count=5, objective_type="Maximize")
        values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
        self.assertEqual(d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
                         ["Value"], max(values))

    def test_multiple_training_job_definitions(self):
        name = "tj-multi"
        quad = {**training_definition(), "DefinitionName": "quad",
                "TuningObjective": {"Type": "Minimize", "MetricName": OBJECTIVE},
                "HyperParameterRanges": XY_RANGES}
        bran = {**training_definition(image="simulator/branin"), "DefinitionName": "bran",
                "TuningObjective": {"Type": "Minimize", "MetricName": OBJECTIVE},
                "HyperParameterRanges": {"ContinuousParameterRanges": [
                    {"Name": "x1", "MinValue": "-5", "MaxValue": "10"},
                    {"Name": "x2", "MinValue": "0", "MaxValue": "15"}]}}
        request = {"HyperParameterTuningJobName": name,
                   "HyperParameterTuningJobConfig": {
                       "Strategy": "Random", "RandomSeed": 4,
                       "ResourceLimits": {"MaxNumberOfTrainingJobs": 6,
                                          "MaxParallelTrainingJobs": 2}},
                   "TrainingJobDefinitions": [quad, bran]}
        self.create(request)
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, count=6)
        self.assertNotIn("TrainingJobDefinition", d)
        self.assertEqual([x["DefinitionName"] for x in d["TrainingJobDefinitions"]],
                         ["quad", "bran"])
        for definition in d["TrainingJobDefinitions"]:
            self.assertEqual(definition["StaticHyperParameters"],
                             {**FAST, "_tuning_objective_metric": OBJECTIVE})
        keys = {"quad": {"x", "y"}, "bran": {"x1", "x2"}}
        images = {"quad": "simulator/quadratic", "bran": "simulator/branin"}
        seen = set()
        for s in summaries:
            with self.subTest(child=s["TrainingJobName"]):
                definition = s.get("TrainingJobDefinitionName")
                self.assertIn(definition, keys)
                seen.add(definition)
                self.assertEqual(set(s["TunedHyperParameters"]), keys[definition])
                described = self.client.describe_training_job(TrainingJobName=s["TrainingJobName"])
                self.assertEqual(described["AlgorithmSpecification"]["TrainingImage"],
                                 images[definition])
                self.assertEqual(described["HyperParameters"],
                                 {**FAST, **s["TunedHyperParameters"],
                                  "_tuning_objective_metric": OBJECTIVE})
        self.assertEqual(seen, {"quad", "bran"})

    def test_child_naming_and_hyperparameters(self):
        name = "tj-naming"
        ranges = {
            "ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "-5", "MaxValue": "5", "ScalingType": "Linear"},
                {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1",
                 "ScalingType": "Logarithmic"}],
            "IntegerParameterRanges": [{"Name": "y", "MinValue": "-5", "MaxValue": "5"}],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["adam", "sgd"]}],
        }
        static = {"epochs": "2", "sim_seconds": "0", "batch_size": "64"}
        self.create(tuning_request(name, "Random", ranges=ranges, max_jobs=6, parallel=3,
                                   static=static, RandomSeed=3))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, count=6)

        # The described definition carries the service-added objective name.
        described_static = d["TrainingJobDefinition"]["StaticHyperParameters"]
        self.assertEqual(described_static, {**static, "_tuning_objective_metric": OBJECTIVE})

        for s in summaries:
            child = s["TrainingJobName"]
            with self.subTest(child=child):
                tuned = s["TunedHyperParameters"]
                self.assertEqual(set(tuned), {"x", "lr", "y", "optimizer"}, tuned)
                for key in ("x", "lr"):
                    text = tuned[key]
                    value = float(text)
                    self.assertFalse(text.startswith(('"', "+", " ")), text)
                    self.assertEqual(significant_digits(text), significant_digits(repr(value)),
                                     f"{key}={text!r} is not the shortest round-trip decimal")
                    if "." in text and "e" not in text.lower():
                        self.assertFalse(text.endswith("0"), f"{key}={text!r}: trailing zero")
                self.assertTrue(-5 <= float(tuned["x"]) <= 5, tuned)
                self.assertTrue(0.0001 <= float(tuned["lr"]) <= 0.1, tuned)
                self.assertRegex(tuned["y"], r"^-?[0-9]+$")
                self.assertTrue(-5 <= int(tuned["y"]) <= 5, tuned)
                self.assertIn(tuned["optimizer"], ("adam", "sgd"))

                described = self.client.describe_training_job(TrainingJobName=child)
                self.assertEqual(described["TuningJobArn"], tuning_arn(name))
                self.assertEqual(described["HyperParameters"],
                                 {**static, **tuned, "_tuning_objective_metric": OBJECTIVE})
                self.assertEqual(described["TrainingJobStatus"], "Completed")
                self.assertEqual(s["CreationTime"], described["CreationTime"])
                final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
                self.assertEqual(s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                                 final[OBJECTIVE])
        # They are ordinary training jobs: ListTrainingJobs shows them.
        listed = self.client.get_paginator("list_training_jobs").paginate(
            NameContains=name).build_full_result()["TrainingJobSummaries"]
        self.assertEqual(sorted(s["TrainingJobName"] for s in listed),
                         sorted(s["TrainingJobName"] for s in summaries))

    def test_longest_tuning_job_name(self):
        name = "tj-" + "n" * 29  # 32 characters, the model's maximum
        self.create(tuning_request(name, max_jobs=1, parallel=1))
        summaries = self.assert_finished(self.wait_tuning(name), name, count=1)
        self.assertEqual(len(summaries[0]["TrainingJobName"]), 45)

    def test_grid_is_exhaustive_and_ordered(self):
        name = "tj-grid"
        ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["0", "3"]},
                                                 {"Name": "y", "Values": ["-2", "1"]}]}
        self.create(tuning_request(name, "Grid", ranges=ranges, max_jobs=4, parallel=2))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, count=4)
        by_index = {int(s["TrainingJobName"][len(name) + 1:][:3]): s for s in summaries}
        expected = {1: {"x": "0", "y": "-2"}, 2: {"x": "0", "y": "1"},
                    3: {"x": "3", "y": "-2"}, 4: {"x": "3", "y": "1"}}
        self.assertEqual({i: s["TunedHyperParameters"] for i, s in by_index.items()}, expected)
        for i, s in by_index.items():
            tuned = expected[i]
            self.assertAlmostEqual(self.assert_objective_metric(s),
                                   quadratic(float(tuned["x"]), float(tuned["y"])), places=6)
        self.assertEqual(d["BestTrainingJob"]["TrainingJobName"], by_index[1]["TrainingJobName"])

        # Without MaxNumberOfTrainingJobs the whole grid runs.
        whole = "tj-grid-nomax"
        self.create(tuning_request(whole, "Grid", ranges=ranges, max_jobs=None, parallel=4))
        summaries = self.assert_finished(self.wait_tuning(whole), whole, count=4)
        self.assertEqual(sorted(json.dumps(s["TunedHyperParameters"], sort_keys=True)
                                for s in summaries),
                         sorted(json.dumps(t, sort_keys=True) for t in expected.values()))

    def test_grid_validation(self):
        grid = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["0", "3"]},
                                               {"Name": "y", "Values": ["-2", "1"]}]}
        cases = {
            "tj-grid-max5": tuning_request("tj-grid-max5", "Grid", ranges=grid, max_jobs=5),
            "tj-grid-max3": tuning_request("tj-grid-max3", "Grid", ranges=grid, max_jobs=3),
            "tj-grid-cont": tuning_request("tj-grid-cont", "Grid", max_jobs=4),
            "tj-grid-mixed": tuning_request("tj-grid-mixed", "Grid", max_jobs=2, ranges={
                "CategoricalParameterRanges": [{"Name": "x", "Values": ["0", "3"]}],
                "IntegerParameterRanges": [{"Name": "y", "MinValue": "-2", "MaxValue": "1"}]}),
        }
        for name, request in cases.items():
            with self.subTest(case=name):
                error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
                self.assertClientError(error, "ValidationException")
                self.assert_not_created(name)

    def test_hyperband_stops_children_early(self):
        name = "tj-hyperband"
        self.create(tuning_request(
            name, "Hyperband", max_jobs=12, parallel=4, RandomSeed=1,
            static={"epochs": "9", "sim_seconds": "0.5"},
            StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}}))
        monitor = ParallelismMonitor(self, name)
        d = self.wait_tuning(name, on_poll=monitor, interval=0.1)
        summaries = self.assert_finished(d, name, count=12)
        self.assertLessEqual(monitor.max_listed, 4)
        stopped = [s for s in summaries if s["TrainingJobStatus"] == "Stopped"]
        completed = [s for s in summaries if s["TrainingJobStatus"] == "Completed"]
        self.assertTrue(stopped, "Hyperband stopped no child early")
        self.assertEqual(len(stopped) + len(completed), 12, "no child should fail")
        self.assertEqual(d["TrainingJobStatusCounters"]["Stopped"], len(stopped))
        # Default MaxResults is 10: the 12 children take two pages.
        page = self.client.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name)
        self.assertEqual(len(page["TrainingJobSummaries"]), 10)
        self.assertIn("NextToken", page)
        rest = self.client.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, NextToken=page["NextToken"])
        self.assertEqual(len(rest["TrainingJobSummaries"]), 2)
        self.assertNotIn("NextToken", rest)
        listed_stopped = self.children(name, StatusEquals="Stopped")
        self.assertEqual(sorted(s["TrainingJobName"] for s in listed_stopped),
                         sorted(s["TrainingJobName"] for s in stopped))
        for s in stopped:
            child = s["TrainingJobName"]
            with self.subTest(child=child):
                epochs = self.epochs_logged(child)
                self.assertGreaterEqual(epochs, 1, "stopped before MinResource")
                self.assertLess(epochs, 9, "a Stopped child ran all MaxResource epochs")
                self.assertEqual(self.epochs_in_model(child), epochs)
                self.assertEqual(s["ObjectiveStatus"], "Succeeded")
                self.assert_objective_metric(s)
        for s in completed:
            with self.subTest(child=s["TrainingJobName"]):
                self.assertEqual(self.epochs_logged(s["TrainingJobName"]), 9)

    def test_hyperband_validation(self):
        auto = tuning_request("tj-hb-auto", "Hyperband", static={"epochs": "3", "sim_seconds": "0"},
                              TrainingJobEarlyStoppingType="Auto",
                              StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1,
                                                                          "MaxResource": 3}})
        no_max = tuning_request("tj-hb-nomax", "Hyperband", static={"sim_seconds": "0"},
                                StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1}})
        no_config = tuning_request("tj-hb-noconfig", "Hyperband", static={"sim_seconds": "0"})
        for request in (auto, no_max, no_config):
            name = request["HyperParameterTuningJobName"]
            with self.subTest(case=name):
                error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
                self.assertClientError(error, "ValidationException")
                self.assert_not_created(name)
        # MaxResource inferred from the static `epochs`: accepted and runs.
        inferred = "tj-hb-inferred"
        self.create(tuning_request(inferred, "Hyperband", max_jobs=2, parallel=2,
                                   static={"epochs": "3", "sim_seconds": "0"}))
        self.assert_finished(self.wait_tuning(inferred), inferred, count=2)


# ---------------------------------------------------------------------------------------------
# 6: Stop
# ---------------------------------------------------------------------------------------------

class StopTest(TuningTestCase):

    def test_stop_stops_every_child(self):
        name = "tj-stop"
        self.create(tuning_request(name, "Random", max_jobs=4, parallel=2,
                                   static={"epochs": "10", "sim_seconds": "20"}))
        d = self.describe(name)
        self.assertEqual(d["HyperParameterTuningJobStatus"], "InProgress")
        self.assertNotIn("HyperParameterTuningEndTime", d)
        self.assertNotIn("BestTrainingJob", d)
        self.assertEqual(set(d["TrainingJobStatusCounters"]), STATUS_COUNTER_KEYS)
        self.assertEqual(set(d["ObjectiveStatusCounters"]), OBJECTIVE_COUNTER_KEYS)
        wait_for(lambda: len([s for s in self.children(name)
                              if s["TrainingJobStatus"] == "InProgress"]) == 2,
                 15, what="two children InProgress")
        d = self.describe(name)
        self.assertEqual(d["HyperParameterTuningJobStatus"], "InProgress")
        running = self.children(name)
        self.assert_counters(d, running)
        self.assertEqual(d["TrainingJobStatusCounters"]["InProgress"], 2)
        self.assertEqual(d["ObjectiveStatusCounters"]["Pending"], 2)
        for s in running:
            self.assertEqual(s["ObjectiveStatus"], "Pending")
            self.assertNotIn("TrainingEndTime", s)
        started = time.monotonic()
        self.client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        seen = [self.describe(name)["HyperParameterTuningJobStatus"]]
        self.assertEqual(seen[0], "Stopping", "status right after StopHyperParameterTuningJob")
        d = self.wait_tuning(name, timeout=30, interval=0.05,
                             on_poll=lambda x: seen.append(x["HyperParameterTuningJobStatus"]))
        self.assertLess(time.monotonic() - started, 15, "Stop took too long")
        self.assertEqual(set(seen) - {"Stopping", "Stopped"}, set(), seen)
        summaries = self.assert_finished(d, name, status="Stopped", count=2)
        for s in summaries:
            self.assertEqual(s["TrainingJobStatus"], "Stopped", s["TrainingJobName"])
            described = self.client.describe_training_job(TrainingJobName=s["TrainingJobName"])
            self.assertEqual(described["TrainingJobStatus"], "Stopped")
            self.assertLess(self.epochs_logged(s["TrainingJobName"]), 10)
        self.assertEqual(d["TrainingJobStatusCounters"]["Stopped"], 2)
        self.assertNotIn("FailureReason", d)
        listed = self.client.list_hyper_parameter_tuning_jobs(NameContains=name,
                                                              StatusEquals="Stopped")
        self.assertEqual([s["HyperParameterTuningJobName"]
                          for s in listed["HyperParameterTuningJobSummaries"]], [name])
        # Nothing is launched after the stop.
        time.sleep(0.5)
        self.assertEqual(len(self.children(name)), 2)

        error = error_of(lambda: self.client.stop_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name))
        self.assertClientError(error, "ValidationException")

    def test_unknown_tuning_job(self):
        for call in (
                lambda: self.client.describe_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName="no-such-tuning"),
                lambda: self.client.stop_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName="no-such-tuning"),
                lambda: self.client.list_training_jobs_for_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName="no-such-tuning")):
            error = error_of(call)
            self.assertClientError(error, "ResourceNotFound")
            self.assertIn("no-such-tuning", error.response["Error"]["Message"])


# ---------------------------------------------------------------------------------------------
# 7: errors at create
# ---------------------------------------------------------------------------------------------

class CreateErrorsTest(TuningTestCase):

    def test_duplicate_name(self):
        name = "tj-dup"
        self.create(tuning_request(name, max_jobs=1, parallel=1))
        error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(
            **tuning_request(name, max_jobs=1, parallel=1)))
        self.assertClientError(error, "ResourceInUse")
        self.assertIn(name, error.response["Error"]["Message"])
        d = self.wait_tuning(name)
        self.assert_finished(d, name, count=1)

    def test_objective_metric_not_defined(self):
        for label, metrics in (("other", [TRAIN_METRIC]), ("none", [])):
            name = f"tj-nometric-{label}"
            with self.subTest(metrics=label):
                request = tuning_request(name, definition=training_definition(metrics=metrics))
                error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
                self.assertClientError(error, "ValidationException", message=METRIC_REQUIRED)
                self.assert_not_created(name)

    def test_both_or_neither_definition_forms(self):
        name = "tj-both"
        request = tuning_request(name)
        request["TrainingJobDefinitions"] = [{
            **training_definition(), "DefinitionName": "def-a",
            "TuningObjective": {"Type": "Minimize", "MetricName": OBJECTIVE},
            "HyperParameterRanges": XY_RANGES}]
        error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
        self.assertClientError(error, "ValidationException")
        self.assert_not_created(name)

        name = "tj-neither"
        request = tuning_request(name)
        del request["TrainingJobDefinition"]
        error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
        self.assertClientError(error, "ValidationException")
        self.assert_not_created(name)

        name = "tj-no-objective"
        request = tuning_request(name)
        del request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
        error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
        self.assertClientError(error, "ValidationException")
        self.assert_not_created(name)

    def test_parameter_range_validation(self):
        cont = lambda name, low, high, scaling="Linear": {  # noqa: E731
            "Name": name, "MinValue": low, "MaxValue": high, "ScalingType": scaling}
        cases = {
            "tj-r-static": ({"ContinuousParameterRanges": [cont("x", "-5", "5")]},
                            {"epochs": "3", "sim_seconds": "0", "x": "1"}),
            "tj-r-inverted": ({"ContinuousParameterRanges": [cont("x", "5", "-5")]}, None),
            "tj-r-nan": ({"ContinuousParameterRanges": [cont("x", "low", "5")]}, None),
            "tj-r-log0": ({"ContinuousParameterRanges": [cont("x", "0", "5", "Logarithmic")]},
                          None),
            "tj-r-revlog-int": ({"IntegerParameterRanges": [
                cont("x", "0", "1", "ReverseLogarithmic")]}, None),
            "tj-r-revlog-1": ({"ContinuousParameterRanges": [
                cont("x", "0.1", "1", "ReverseLogarithmic")]}, None),
            "tj-r-duplicate": ({"ContinuousParameterRanges": [cont("x", "-5", "5")],
                                "IntegerParameterRanges": [cont("x", "-5", "5")]}, None),
        }
        for name, (ranges, static) in cases.items():
            with self.subTest(case=name):
                request = tuning_request(name, ranges=ranges, static=static)
                error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
                self.assertClientError(error, "ValidationException")
                self.assert_not_created(name)

    def test_bad_output_uri(self):
        for label, uri in (("escape", "s3://e2e-bucket/../../../tmp/escape"),
                           ("bucket", "s3://b/output")):
            name = f"tj-bad-uri-{label}"
            with self.subTest(uri=uri):
                request = tuning_request(name, definition=training_definition(output_path=uri))
                error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
                self.assertClientError(error, "ValidationException")
                self.assert_not_created(name)
                listed = self.client.list_hyper_parameter_tuning_jobs(NameContains=name)
                self.assertEqual(listed["HyperParameterTuningJobSummaries"], [])
        # The name was not taken by the refused request.
        name = "tj-bad-uri-escape"
        self.create(tuning_request(name, max_jobs=1, parallel=1))
        self.assert_finished(self.wait_tuning(name), name, count=1)


# ---------------------------------------------------------------------------------------------
# 8: completion criteria
# ---------------------------------------------------------------------------------------------

class CompletionCriteriaTest(TuningTestCase):

    def test_target_objective_reached(self):
        # Every quadratic value over [-5,5]^2 is <= 85, so the first child reaches 100.
        name = "tj-target"
        self.create(tuning_request(name, "Random", max_jobs=10, parallel=2,
                                   static={"epochs": "3", "sim_seconds": "0.2"},
                                   TuningJobCompletionCriteria={
                                       "TargetObjectiveMetricValue": 100.0}))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name)
        self.assertLess(len(summaries), 10)
        self.assertLessEqual(len(summaries), 2, "launched more after the target was reached")
        self.assertIn("BestTrainingJob", d)
        self.assertEqual(d["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"],
                         {"TargetObjectiveMetricValue": 100.0})

    def test_target_objective_maximize(self):
        name = "tj-target-max"
        self.create(tuning_request(name, "Random", max_jobs=10, parallel=1,
                                   objective_type="Maximize",
                                   TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 0.0}))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, objective_type="Maximize")
        self.assertEqual(len(summaries), 1, "launched more after the target was reached")

    def test_best_objective_not_improving(self):
        name = "tj-flat"
        flat = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["1.5"]},
                                               {"Name": "y", "Values": ["-1"]}]}
        self.create(tuning_request(
            name, "Random", ranges=flat, max_jobs=20, parallel=1,
            TuningJobCompletionCriteria={"BestObjectiveNotImproving": {
                "MaxNumberOfTrainingJobsNotImproving": 3}}))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name)
        self.assertGreaterEqual(len(summaries), 4, "one best plus three not improving")
        self.assertLess(len(summaries), 20, "did not complete early")
        for s in summaries:
            self.assertAlmostEqual(self.assert_objective_metric(s), 1.25, places=6)
        self.assertGreaterEqual(
            d["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"], 3)

    def test_all_children_fail(self):
        name = "tj-allfail"
        self.create(tuning_request(name, "Random", max_jobs=4, parallel=2,
                                   static={"epochs": "3", "sim_seconds": "0",
                                           "fail_at_epoch": "1"}))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, status="Failed")
        self.assertTrue(summaries)
        self.assertTrue(d.get("FailureReason", "").startswith("No training job succeeded after"),
                        d.get("FailureReason"))
        self.assertEqual(d["TrainingJobStatusCounters"]["NonRetryableError"], len(summaries))
        self.assertEqual(d["ObjectiveStatusCounters"]["Failed"], len(summaries))
        self.assertNotIn("BestTrainingJob", d)
        for s in summaries:
            self.assertEqual(s["TrainingJobStatus"], "Failed")
            self.assertEqual(s["ObjectiveStatus"], "Failed")
            self.assertNotIn("FinalHyperParameterTuningJobObjectiveMetric", s)
            self.assertIn("simulated failure at epoch 1", s.get("FailureReason", ""))


# ---------------------------------------------------------------------------------------------
# 9: list operations
# ---------------------------------------------------------------------------------------------

class ListTest(TuningTestCase):

    def page_all(self, call, key, **kwargs):
        """Follows NextToken with MaxResults 1; checks that the last page has no NextToken."""
        items, token, pages = [], None, 0
        while True:
            page = call(MaxResults=1, **({"NextToken": token} if token else {}), **kwargs)
            pages += 1
            self.assertLessEqual(len(page[key]), 1)
            items.extend(page[key])
            token = page.get("NextToken")
            if token is None:
                return items
            self.assertTrue(token, "empty NextToken instead of none")
            self.assertLess(pages, 50, "paging does not end")

    def test_list_tuning_jobs(self):
        order = ["tjl-bravo", "tjl-alpha", "tjl-charlie", "tjl-delta", "tjl-echo"]
        for name in order[:3]:
            self.create(tuning_request(name, max_jobs=1, parallel=1))
        self.create(tuning_request("tjl-delta", max_jobs=1, parallel=1,
                                   static={"epochs": "2", "sim_seconds": "0",
                                           "fail_at_epoch": "1"}))
        self.create(tuning_request("tjl-echo", max_jobs=1, parallel=1,
                                   static={"epochs": "10", "sim_seconds": "20"}))
        for name in order[:4]:
            self.wait_tuning(name)
        list_jobs = self.client.list_hyper_parameter_tuning_jobs

        def names(**kwargs):
            return [s["HyperParameterTuningJobName"] for s in
                    list_jobs(MaxResults=100, **kwargs)["HyperParameterTuningJobSummaries"]]

        # Default: Name, Ascending.
        self.assertEqual(names(NameContains="tjl-"), sorted(order))
        self.assertEqual(names(NameContains="TJL-ALP"), ["tjl-alpha"])
        self.assertEqual(names(NameContains="tjl-", StatusEquals="InProgress"), ["tjl-echo"])
        self.assertEqual(names(NameContains="tjl-", StatusEquals="Failed"), ["tjl-delta"])
        self.assertEqual(names(NameContains="tjl-", StatusEquals="Completed"),
                         ["tjl-alpha", "tjl-bravo", "tjl-charlie"])
        self.assertEqual(names(NameContains="tjl-", SortBy="Name", SortOrder="Descending"),
                         sorted(order, reverse=True))
        self.assertEqual(names(NameContains="tjl-", SortBy="CreationTime", SortOrder="Ascending"),
                         order)
        self.assertEqual(names(NameContains="tjl-", SortBy="CreationTime",
                               SortOrder="Descending"), order[::-1])

        summaries = list_jobs(NameContains="tjl-",
                              MaxResults=100)["HyperParameterTuningJobSummaries"]
        for s in summaries:
            with self.subTest(summary=s["HyperParameterTuningJobName"]):
                d = self.describe(s["HyperParameterTuningJobName"])
                self.assertEqual(s["HyperParameterTuningJobArn"], d["HyperParameterTuningJobArn"])
                self.assertEqual(s["Strategy"], "Random")
                self.assertEqual(set(s["TrainingJobStatusCounters"]), STATUS_COUNTER_KEYS)
                self.assertEqual(set(s["ObjectiveStatusCounters"]), OBJECTIVE_COUNTER_KEYS)
                self.assertEqual(s["ResourceLimits"],
                                 d["HyperParameterTuningJobConfig"]["ResourceLimits"])
                if s["HyperParameterTuningJobStatus"] in TUNING_TERMINAL:
                    self.assertEqual(s["TrainingJobStatusCounters"], d["TrainingJobStatusCounters"])
                    self.assertEqual(s["HyperParameterTuningEndTime"],
                                     d["HyperParameterTuningEndTime"])

        self.client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="tjl-echo")
        self.assertEqual(self.wait_tuning("tjl-echo")["HyperParameterTuningJobStatus"], "Stopped")
        statuses = {"tjl-alpha": "Completed", "tjl-bravo": "Completed", "tjl-charlie": "Completed",
                    "tjl-delta": "Failed", "tjl-echo": "Stopped"}
        for sort_order in ("Ascending", "Descending"):
            with self.subTest(sort="Status", order=sort_order):
                got = [(s["HyperParameterTuningJobStatus"]) for s in list_jobs(
                    NameContains="tjl-", SortBy="Status", SortOrder=sort_order,
                    MaxResults=100)["HyperParameterTuningJobSummaries"]]
                self.assertEqual(got, sorted(statuses.values(),
                                             reverse=sort_order == "Descending"))

        # Paging with MaxResults 1 reaches every job, in order, and ends without a NextToken.
        for kwargs, expected in (
                ({}, sorted(order)),
                ({"SortBy": "CreationTime", "SortOrder": "Descending"}, order[::-1]),
                ({"SortBy": "Status"}, None),
                ({"StatusEquals": "Completed"}, ["tjl-alpha", "tjl-bravo", "tjl-charlie"])):
            with self.subTest(paging=kwargs):
                items = self.page_all(list_jobs, "HyperParameterTuningJobSummaries",
                                      NameContains="tjl-", **kwargs)
                got = [s["HyperParameterTuningJobName"] for s in items]
                if expected is None:
                    self.assertEqual(sorted(got), sorted(order))
                    self.assertEqual([statuses[n] for n in got], sorted(statuses.values()))
                else:
                    self.assertEqual(got, expected)
        # The boto3 paginator agrees.
        full = self.client.get_paginator("list_hyper_parameter_tuning_jobs").paginate(
            NameContains="tjl-", PaginationConfig={"PageSize": 2}).build_full_result()
        self.assertEqual([s["HyperParameterTuningJobName"]
                          for s in full["HyperParameterTuningJobSummaries"]], sorted(order))

    def test_list_training_jobs_for_tuning_job(self):
        # Grid: x in 4 values (objective (x-1)^2 with y=-2) times fail_at_epoch 99 (never) / 1.
        name = "tjc-children"
        ranges = {"CategoricalParameterRanges": [
            {"Name": "x", "Values": ["0", "3", "-2", "5"]},
            {"Name": "fail_at_epoch", "Values": ["99", "1"]}]}
        self.create(tuning_request(name, "Grid", ranges=ranges, max_jobs=8, parallel=4,
                                   static={"epochs": "2", "sim_seconds": "0", "y": "-2"}))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, count=8)
        self.assertEqual(d["TrainingJobStatusCounters"]["Completed"], 4)
        self.assertEqual(d["TrainingJobStatusCounters"]["NonRetryableError"], 4)
        self.assertEqual(d["ObjectiveStatusCounters"], {"Succeeded": 4, "Pending": 0, "Failed": 4})
        list_children = self.client.list_training_jobs_for_hyper_parameter_tuning_job
        all_names = sorted(s["TrainingJobName"] for s in summaries)

        def names(items):
            return [s["TrainingJobName"] for s in items]

        # Default order: Name ascending; default page size 10 holds all 8.
        first = list_children(HyperParameterTuningJobName=name)
        self.assertEqual(names(first["TrainingJobSummaries"]), all_names)
        self.assertNotIn("NextToken", first)
        self.assertEqual(names(list_children(HyperParameterTuningJobName=name, SortBy="Name",
                                             SortOrder="Descending")["TrainingJobSummaries"]),
                         all_names[::-1])
        self.assertEqual(names(list_children(HyperParameterTuningJobName=name,
                                             SortBy="CreationTime",
                                             MaxResults=100)["TrainingJobSummaries"]),
                         all_names)  # created in index order

        for status, fail in (("Completed", "99"), ("Failed", "1")):
            with self.subTest(StatusEquals=status):
                items = self.page_all(list_children, "TrainingJobSummaries",
                                      HyperParameterTuningJobName=name, StatusEquals=status)
                self.assertEqual(len(items), 4, names(items))
                for s in items:
                    self.assertEqual(s["TrainingJobStatus"], status)
                    self.assertEqual(s["TunedHyperParameters"]["fail_at_epoch"], fail)
        self.assertEqual(self.children(name, StatusEquals="Stopped"), [])

        for sort_order in ("Ascending", "Descending"):
            with self.subTest(sort="FinalObjectiveMetricValue", order=sort_order):
                items = self.page_all(list_children, "TrainingJobSummaries",
                                      HyperParameterTuningJobName=name,
                                      SortBy="FinalObjectiveMetricValue", SortOrder=sort_order)
                values = [self.assert_objective_metric(s) for s in items]
                expected = [1.0, 4.0, 9.0, 16.0]
                self.assertEqual(len(values), 4, "jobs without an objective must be left out")
                for got, want in zip(values, expected[::-1] if sort_order == "Descending"
                                     else expected):
                    self.assertAlmostEqual(got, want, places=6)

        items = self.page_all(list_children, "TrainingJobSummaries",
                              HyperParameterTuningJobName=name)
        self.assertEqual(names(items), all_names)
        full = self.client.get_paginator(
            "list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name, PaginationConfig={"PageSize": 3}).build_full_result()
        self.assertEqual(names(full["TrainingJobSummaries"]), all_names)


# ---------------------------------------------------------------------------------------------
# 10: tags
# ---------------------------------------------------------------------------------------------

class TagsTest(TuningTestCase):

    @staticmethod
    def pairs(tags):
        return sorted((t["Key"], t["Value"]) for t in tags)

    def test_tags_on_tuning_job_and_children(self):
        name = "tj-tags"
        tags = [{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "tuning"}]
        arn = self.create(tuning_request(name, max_jobs=3, parallel=3, tags=tags))
        # More tagged tuning jobs: the first child of each must carry the tags from the start
        # (the tags of the create request, not only those stored after it returned).
        extra = [f"tj-tags-first-{i}" for i in range(10)]
        for other in extra:
            self.create(tuning_request(other, max_jobs=1, parallel=1, tags=tags))
        self.assertEqual(self.pairs(self.client.list_tags(ResourceArn=arn)["Tags"]),
                         self.pairs(tags))
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, count=3)
        self.assertNotIn("Tags", d)
        for s in summaries:
            with self.subTest(child=s["TrainingJobName"]):
                self.assertEqual(self.pairs(self.client.list_tags(
                    ResourceArn=s["TrainingJobArn"])["Tags"]), self.pairs(tags))

        response = self.client.add_tags(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "me"},
                                                               {"Key": "team", "Value": "ai"}])
        self.assertEqual(self.pairs(response["Tags"]), [("owner", "me"), ("team", "ai")])
        self.assertEqual(self.pairs(self.client.list_tags(ResourceArn=arn)["Tags"]),
                         [("owner", "me"), ("stage", "tuning"), ("team", "ai")])
        self.client.delete_tags(ResourceArn=arn, TagKeys=["stage", "owner"])
        self.assertEqual(self.pairs(self.client.list_tags(ResourceArn=arn)["Tags"]),
                         [("team", "ai")])
        untagged = []
        for other in extra:
            self.assert_finished(self.wait_tuning(other), other, count=1)
            for s in self.children(other):
                if self.pairs(self.client.list_tags(ResourceArn=s["TrainingJobArn"])["Tags"]) \
                        != self.pairs(tags):
                    untagged.append(s["TrainingJobName"])
        self.assertEqual(untagged, [], "children launched without the tuning job's tags")
        # Later changes on the tuning job do not touch children already launched.
        child_arn = summaries[0]["TrainingJobArn"]
        self.assertEqual(self.pairs(self.client.list_tags(ResourceArn=child_arn)["Tags"]),
                         self.pairs(tags))
        # The ARN resolves case-insensitively, as for training jobs.
        self.assertEqual(self.pairs(self.client.list_tags(
            ResourceArn=arn.replace("tj-tags", "TJ-TAGS"))["Tags"]), [("team", "ai")])


# ---------------------------------------------------------------------------------------------
# 11: warm start
# ---------------------------------------------------------------------------------------------

class WarmStartTest(TuningTestCase):

    def test_warm_start_identical_data_and_algorithm(self):
        parent = "tj-warm-parent"
        self.create(tuning_request(parent, max_jobs=4, parallel=2, RandomSeed=11))
        parent_d = self.wait_tuning(parent)
        self.assert_finished(parent_d, parent, count=4)
        parent_best = (parent_d["BestTrainingJob"]
                       ["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])

        name = "tj-warm-child"
        warm = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
                "WarmStartType": "IdenticalDataAndAlgorithm"}
        request = tuning_request(name, max_jobs=4, parallel=2, RandomSeed=12)
        request["WarmStartConfig"] = warm
        self.create(request)
        d = self.wait_tuning(name)
        summaries = self.assert_finished(d, name, count=4)
        self.assertEqual(d["WarmStartConfig"], warm)
        self.assertIn("OverallBestTrainingJob", d)
        overall = d["OverallBestTrainingJob"]
        own_best = d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        self.assertEqual(self.assert_objective_metric(overall), min(own_best, parent_best))
        parent_children = {s["TrainingJobName"] for s in self.children(parent)}
        self.assertIn(overall["TrainingJobName"],
                      parent_children | {s["TrainingJobName"] for s in summaries})
        # The parent's own children are not counted as this job's.
        self.assertFalse(parent_children & {s["TrainingJobName"] for s in summaries})

        # TransferLearning: no OverallBestTrainingJob (identical data and algorithm only).
        transfer = "tj-warm-transfer"
        request = tuning_request(transfer, max_jobs=2, parallel=2)
        request["WarmStartConfig"] = {**warm, "WarmStartType": "TransferLearning"}
        self.create(request)
        d = self.wait_tuning(transfer)
        self.assert_finished(d, transfer, count=2)
        self.assertNotIn("OverallBestTrainingJob", d)

    def test_warm_start_parent_in_progress_or_unknown(self):
        running = "tj-warm-running"
        self.create(tuning_request(running, max_jobs=1, parallel=1,
                                   static={"epochs": "10", "sim_seconds": "20"}))
        try:
            request = tuning_request("tj-warm-early")
            request["WarmStartConfig"] = {
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": running}],
                "WarmStartType": "IdenticalDataAndAlgorithm"}
            error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
            self.assertClientError(error, "ValidationException")
            self.assert_not_created("tj-warm-early")
        finally:
            self.client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=running)
        self.assertEqual(self.wait_tuning(running)["HyperParameterTuningJobStatus"], "Stopped")
        # A Stopped parent is terminal, so it may be warm-started from.
        late = "tj-warm-late"
        request = tuning_request(late, max_jobs=2, parallel=2)
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": running}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
        self.create(request)
        self.assert_finished(self.wait_tuning(late), late, count=2)

        request = tuning_request("tj-warm-orphan")
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "no-such-parent"}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
        error = error_of(lambda: self.client.create_hyper_parameter_tuning_job(**request))
        self.assertClientError(error, "ResourceNotFound")
        self.assert_not_created("tj-warm-orphan")


# ---------------------------------------------------------------------------------------------
# 12: restart mid-tuning
# ---------------------------------------------------------------------------------------------

class RestartTuningTest(TuningTestCase):
    """Servers on one data dir, one after another (kill -9, then restart)."""

    @classmethod
    def setUpClass(cls):
        cls.data_dir = tempfile.mkdtemp(prefix="smlocal-e2e-tuning-restart-")
        cls.addClassCleanup(shutil.rmtree, cls.data_dir, True)

    def setUp(self):
        self.servers = []

    def start_server(self):
        self.server = Server(data_dir=self.data_dir).start()
        self.servers.append(self.server)
        return self.server.client()

    def servers_under_test(self):
        return list(self.servers)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for server in self.servers:
                server.kill9()
                server.cleanup()

    def assert_exactly_children(self, client, name, count):
        """The tuning job lists `count` children, and no other training job carries its name."""
        summaries = self.children(name, client=client)
        self.assertEqual(len(summaries), count, [s["TrainingJobName"] for s in summaries])
        self.assert_names(name, summaries, count)
        listed = client.get_paginator("list_training_jobs").paginate(
            NameContains=name + "-").build_full_result()["TrainingJobSummaries"]
        orphans = sorted({s["TrainingJobName"] for s in listed}
                         - {s["TrainingJobName"] for s in summaries})
        self.assertEqual(orphans, [], f"{len(listed)} training jobs named {name}-NNN-... exist "
                                      f"for a tuning job of {count}; not among its children")
        return summaries

    def test_kill9_mid_tuning_then_resume(self):
        name = "tj-restart"
        client = self.start_server()
        self.create(tuning_request(name, "Random", max_jobs=8, parallel=2, RandomSeed=5,
                                   static={"epochs": "3", "sim_seconds": "1"}), client=client)
        wait_for(lambda: len(self.children(name, client=client)) >= 3, 20,
                 what="the second wave of children")
        time.sleep(0.3)
        before = self.children(name, client=client)
        self.server.kill9()

        client = self.start_server()
        monitor = ParallelismMonitor(self, name, client)
        d = self.wait_tuning(name, client=client, timeout=60, on_poll=monitor, interval=0.1)
        self.assertLessEqual(monitor.max_listed, 2, "more than 2 children at once after restart")
        summaries = self.assert_finished(d, name, count=8, client=client)
        self.assertEqual(d["TrainingJobStatusCounters"]["Completed"], 8,
                         d["TrainingJobStatusCounters"])
        self.assertEqual(d["ObjectiveStatusCounters"]["Succeeded"], 8)
        # The children launched before the kill are kept under their names.
        self.assertLessEqual({s["TrainingJobName"] for s in before},
                             {s["TrainingJobName"] for s in summaries})
        summaries = self.assert_exactly_children(client, name, 8)
        for s in summaries:
            described = client.describe_training_job(TrainingJobName=s["TrainingJobName"])
            self.assertEqual(described["TuningJobArn"], tuning_arn(name))

    def test_kill9_during_a_launch_wave(self):
        # kill -9 while the tuner is launching a wave of children: after the restart the tuning
        # job still has exactly MaxNumberOfTrainingJobs children and no orphans.
        client = self.start_server()
        for attempt in range(3):
            name = f"tj-wave-{attempt}"
            with self.subTest(attempt=attempt):
                self.create(tuning_request(name, "Random", max_jobs=24, parallel=24,
                                           static={"epochs": "1", "sim_seconds": "0.2"}),
                            client=client)
                # Kill as soon as the first children of the wave are visible.
                seen = 0
                while not seen:
                    seen = len(client.list_training_jobs(NameContains=name + "-",
                                                         MaxResults=100)["TrainingJobSummaries"])
                self.server.kill9()
                client = self.start_server()
                d = self.wait_tuning(name, client=client, timeout=30)
                self.assertEqual(d["HyperParameterTuningJobStatus"], "Completed",
                                 d.get("FailureReason"))
                self.assert_exactly_children(client, name, 24)
                self.assert_counters(d, self.children(name, client=client))


# ---------------------------------------------------------------------------------------------
# 13: early stopping Auto (median rule)
# ---------------------------------------------------------------------------------------------

class EarlyStoppingAutoTest(TuningTestCase):

    def test_median_rule_stops_children(self):
        name = "tj-auto-stop"
        self.create(tuning_request(name, "Random", max_jobs=9, parallel=3, RandomSeed=5,
                                   static={"epochs": "10", "sim_seconds": "1"},
                                   TrainingJobEarlyStoppingType="Auto"))
        monitor = ParallelismMonitor(self, name)
        d = self.wait_tuning(name, on_poll=monitor, interval=0.1)
        summaries = self.assert_finished(d, name, count=9)
        self.assertLessEqual(monitor.max_listed, 3)
        self.assertEqual(d["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"], "Auto")
        stopped = [s for s in summaries if s["TrainingJobStatus"] == "Stopped"]
        self.assertTrue(stopped, "the median rule stopped no child")
        self.assertEqual(d["TrainingJobStatusCounters"]["Stopped"], len(stopped))
        for s in stopped:
            with self.subTest(child=s["TrainingJobName"]):
                epochs = self.epochs_logged(s["TrainingJobName"])
                self.assertLess(epochs, 10)
                self.assertGreaterEqual(epochs, 1)
        for s in summaries:
            if s["TrainingJobStatus"] == "Completed":
                self.assertEqual(self.epochs_logged(s["TrainingJobName"]), 10)


if __name__ == "__main__":
    unittest.main()
