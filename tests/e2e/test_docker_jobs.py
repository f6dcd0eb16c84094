"""Training jobs whose image is not `simulator/...`: real Docker containers run by smlocal.

Drives the real binary through the checked boto3 client (and once through the AWS CLI behind a
CheckingProxy) with the fixture images of fixtures/README.md:

* `smlocal-fixtures/trainer:1` (static C++ trainer, FROM scratch) prints what it sees
  (argv, hosts, channels, /dev/shm size, environment, files, Pipe bytes) and writes
  model-<host>.txt / metrics-<host>.txt; hyperparameters make it slow, fail or ignore SIGTERM.
* `smlocal-fixtures/python:1` (script-mode launcher + numpy) runs fixtures/python/train.py.

Assertions are made on DescribeTrainingJob, on the plain-text log copy of each host's stream
(`<data_dir>/logs/<job>/algo-N-<epoch>.log`, TAB stored as `#011`), on the artifacts under
`<data_dir>/s3/...`, and on Docker itself (containers/networks labelled `smlocal.job=<job>`).

setUpModule makes sure dockerd answers and runs scripts/build-fixtures.sh (a no-op when the images
are up to date, a build when one is missing or stale). Nothing is skipped.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (SMLOCAL_SOURCE_DIR, E2ETestCase, docker,  # noqa: E402
                     ensure_docker_and_fixtures,
                     Server, dummy_env, job_arn, job_request, read_model_tar, s3_channel,
                     start_class_proxy, start_class_server, wait_for, wait_terminal)

AWS = shutil.which("aws")
TRAINER = "smlocal-fixtures/trainer:1"
PYTHON = "smlocal-fixtures/python:1"
FIXTURES = os.path.join(SMLOCAL_SOURCE_DIR, "fixtures")

SHM_256M = 256 * 1024 * 1024
SERVER_ARGS = ["--stop-grace", "3", "--shm-size", "256m"]
STOP_GRACE = 3.0
LOSS_METRIC = {"Name": "loss", "Regex": r"loss=([0-9.]+)"}
OUTPUT_PATH = "s3://e2e-bucket/output"

# Container and network names derive from the job name; a per-run tag keeps concurrent or
# leftover runs from clashing, and lets tearDownModule find this run's leftovers.
RUN_TAG = "dj" + uuid.uuid4().hex[:6]


def job_name(suffix: str) -> str:
    return f"{RUN_TAG}-{suffix}"


# ---------------------------------------------------------------------------------------------
# Module set-up: Docker engine and fixture images
# ---------------------------------------------------------------------------------------------

def setUpModule():
    ensure_docker_and_fixtures()
    for image in (TRAINER, PYTHON):
        docker("image", "inspect", "-f", "{{.Id}}", image)


def tearDownModule():
    """Removes whatever this run left behind (a failed test, a server killed with -9)."""
    for kind in ("container", "network"):
        lines = docker(kind, "ls", *(["-a"] if kind == "container" else []),
                       "--filter", "label=smlocal.job",
                       "--format", '{{.ID}} {{.Label "smlocal.job"}}', check=False)
        for line in lines.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith(RUN_TAG):
                if kind == "container":
                    docker("rm", "-f", parts[0], check=False)
                else:
                    docker("network", "rm", parts[0], check=False)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def labelled(job: str, running_only: bool = False) -> tuple[list[str], list[str]]:
    """(container ids, network ids) labelled smlocal.job=<job>."""
    flags = [] if running_only else ["-a"]
    containers = docker("ps", *flags, "-q", "--filter", f"label=smlocal.job={job}").split()
    networks = docker("network", "ls", "-q", "--filter", f"label=smlocal.job={job}").split()
    return containers, networks


def docker_events(job: str, since: float, until: float) -> list[str]:
    """'<type> <action>' of every Docker event of objects labelled smlocal.job=<job>."""
    out = docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                 "--filter", f"label=smlocal.job={job}", "--format", "{{.Type}} {{.Action}}")
    return [line.strip() for line in out.splitlines() if line.strip()]


def trainer_request(name: str, hyperparameters: dict[str, str] | None = None,
                    channels: list[dict] | None = None, instance_count: int = 1,
                    image: str = TRAINER, max_runtime: int = 600, **extra) -> dict:
    request = job_request(name, image=image, hyperparameters=hyperparameters or {},
                          output_path=OUTPUT_PATH, metric_definitions=[LOSS_METRIC],
                          input_data_config=channels, max_runtime=max_runtime, **extra)
    request["ResourceConfig"]["InstanceCount"] = instance_count
    return request


def fs_channel(name: str, fs_type: str, fs_id: str, directory: str) -> dict:
    return {"ChannelName": name, "DataSource": {"FileSystemDataSource": {
        "FileSystemId": fs_id, "FileSystemType": fs_type, "FileSystemAccessMode": "ro",
        "DirectoryPath": directory}}}


def final_metrics(described: dict) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}


def sourcedir_tar_gz() -> bytes:
    """sourcedir.tar.gz as the SDK makes it: train.py at the archive root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(os.path.join(FIXTURES, "python", "train.py"), arcname="train.py")
    return buffer.getvalue()


def train_csv() -> bytes:
    with open(os.path.join(FIXTURES, "python", "data", "train.csv"), "rb") as handle:
        return handle.read()


# The launcher of smlocal-fixtures/python:1 fetches `s3://` submit directories from smlocal's S3
# (test_sdk_flow.py covers that); it also accepts a local tar.gz path, which this test uses: the
# code travels as an ordinary File-mode channel named `code`
# (s3://bucket/code/ -> /opt/ml/input/data/code/) and sagemaker_submit_directory points there.
SCRIPT_SUBMIT_DIR = "/opt/ml/input/data/code/sourcedir.tar.gz"


def put_script_mode_inputs(server: Server, bucket: str = "bucket") -> list[dict]:
    server.put_s3(f"s3://{bucket}/code/sourcedir.tar.gz", sourcedir_tar_gz())
    server.put_s3(f"s3://{bucket}/data/train/train.csv", train_csv())
    return [s3_channel("train", f"s3://{bucket}/data/train/"),
            s3_channel("code", f"s3://{bucket}/code/")]


def script_mode_request(name: str, channels: list[dict]) -> dict:
    request = job_request(
        name, image=PYTHON, output_path=OUTPUT_PATH, input_data_config=channels,
        metric_definitions=[LOSS_METRIC], max_runtime=600,
        hyperparameters={"sagemaker_program": json.dumps("train.py"),
                         "sagemaker_submit_directory": json.dumps(SCRIPT_SUBMIT_DIR),
                         "epochs": "3"})
    return request


class DockerJobCase(E2ETestCase):
    """Job helpers on top of `self.server` / `self.client`."""

    client = None

    def create(self, request: dict, client=None) -> str:
        response = (client or self.client).create_training_job(**request)
        self.assertEqual(response["TrainingJobArn"], job_arn(request["TrainingJobName"]))
        return request["TrainingJobName"]

    def wait_done(self, name: str, timeout: float = 60.0, client=None) -> dict:
        return wait_terminal(client or self.client, name, timeout)

    def wait_all(self, names: list[str], timeout: float = 60.0) -> dict[str, dict]:
        return {name: self.wait_done(name, timeout) for name in names}

    def log_text(self, name: str, host: str = "algo-1", server: Server | None = None) -> str:
        """The plain-text log copy of one host (every stream file of it, oldest first)."""
        server = server or self.server
        files = sorted(glob.glob(os.path.join(server.data_dir, "logs", name, f"{host}-*.log")))
        text = ""
        for path in files:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text += handle.read()
        return text

    def log_lines(self, name: str, host: str = "algo-1", server: Server | None = None) -> list[str]:
        return self.log_text(name, host, server).splitlines()

    def assertLogHas(self, name: str, line: str, host: str = "algo-1",
                     server: Server | None = None) -> None:
        lines = self.log_lines(name, host, server)
        self.assertIn(line, lines, f"{name}/{host}: log line {line!r} missing; log:\n"
                      + "\n".join(lines))

    def artifact(self, described: dict, which: str = "model", server: Server | None = None
                 ) -> dict[str, bytes]:
        server = server or self.server
        model_uri = described["ModelArtifacts"]["S3ModelArtifacts"]
        name = described["TrainingJobName"]
        self.assertEqual(model_uri, f"{OUTPUT_PATH}/{name}/output/model.tar.gz")
        uri = model_uri if which == "model" else f"{OUTPUT_PATH}/{name}/output/output.tar.gz"
        path = server.s3_path(uri)
        self.assertTrue(os.path.isfile(path), f"{uri} ({path}) does not exist")
        return read_model_tar(path)

    def assertStatus(self, described: dict, status: str, secondary: str | None = None) -> None:
        summary = (f"{described['TrainingJobName']}: {described['TrainingJobStatus']}/"
                   f"{described.get('SecondaryStatus')} reason={described.get('FailureReason')!r}")
        self.assertEqual(described["TrainingJobStatus"], status, summary)
        if secondary is not None:
            self.assertEqual(described.get("SecondaryStatus"), secondary, summary)

    def assertNoLeftovers(self, name: str) -> None:
        containers, networks = labelled(name)
        self.assertEqual((containers, networks), ([], []),
                         f"{name}: containers/networks labelled smlocal.job={name} remain")

    def wait_metric(self, name: str, metric: str, value: float, timeout: float = 30.0) -> dict:
        """Polls Describe until FinalMetricDataList has `metric` == value (the trainer printed
        that epoch line; metrics are extracted as lines arrive)."""
        holder: dict = {}

        def seen() -> bool:
            holder["d"] = self.client.describe_training_job(TrainingJobName=name)
            return abs(final_metrics(holder["d"]).get(metric, -1e9) - value) < 1e-6

        wait_for(seen, timeout, what=f"{name}: metric {metric}={value}")
        return holder["d"]


# ---------------------------------------------------------------------------------------------
# One server for the quick jobs
# ---------------------------------------------------------------------------------------------

class DockerJobsTest(DockerJobCase):
    """Jobs that end by themselves: data sources, modes, sharding, failures, invocation, script mode."""

    @classmethod
    def setUpClass(cls):
        start_class_server(cls, SERVER_ARGS)
        cls.client = cls.server.client()

    # 1 + 2 ------------------------------------------------------------------------------------
    def test_single_host_file_job_s3_prefix(self):
        name = job_name("single")
        self.server.put_s3("s3://bucket/single/train/a.csv", "1,2\n3,4\n")
        self.server.put_s3("s3://bucket/single/train/sub/b.csv", "5,6\n")
        self.server.put_s3("s3://bucket/single/train/c.txt", "x" * 100)
        before = time.time()
        self.create(trainer_request(
            name, {"epochs": "3", "list_files": "1"},
            channels=[s3_channel("train", "s3://bucket/single/train/")]))
        described = self.wait_done(name)
        after = time.time()
        self.assertStatus(described, "Completed", "Completed")
        self.assertNotIn("FailureReason", described)

        model = self.artifact(described, "model")
        self.assertIn("model-algo-1.txt", model)
        self.assertEqual(model["model-algo-1.txt"], b"host=algo-1\nloss=0.333333\nepochs=3\n")
        output = self.artifact(described, "output")
        self.assertIn("metrics-algo-1.txt", output)
        self.assertIn(b"final_loss=0.333333", output["metrics-algo-1.txt"])

        metrics = final_metrics(described)
        self.assertEqual(set(metrics), {"loss"})
        self.assertAlmostEqual(metrics["loss"], 0.333333, places=6)

        lines = self.log_lines(name)
        for line in ("trainer: argv=train",
                     "trainer: start host=algo-1 hosts=algo-1",
                     "trainer: channels=train",
                     "trainer: tabbed#011value=1",
                     f"trainer: env TRAINING_JOB_NAME={name}",
                     "trainer: channel train files=3 bytes=112",
                     "trainer: file train/a.csv",
                     "trainer: file train/c.txt",
                     "trainer: file train/sub/b.csv",
                     "epoch=3 loss=0.333333",
                     "trainer: done"):
            self.assertIn(line, lines, f"log line {line!r} missing; log:\n" + "\n".join(lines))
        self.assertFalse(any("\t" in line for line in lines), "a raw TAB reached the log copy")

        # Nothing of the job remains in Docker, but it did run there (positive control of the
        # label filter: the events show its container being created and destroyed; network
        # events carry no labels, so only `docker network ls` covers the network).
        self.assertNoLeftovers(name)
        events = docker_events(name, before - 1, after + 1)
        self.assertIn("container create", events, events)
        self.assertIn("container destroy", events, events)

    def test_dev_shm_size(self):
        name = job_name("shm")
        self.create(trainer_request(name, {"epochs": "1"}))
        described = self.wait_done(name)
        self.assertStatus(described, "Completed")
        self.assertLogHas(name, f"trainer: shm_bytes={SHM_256M}")

    # 3 ----------------------------------------------------------------------------------------
    def test_two_hosts_sharded_by_s3_key(self):
        name = job_name("sharded")
        for i in range(5):
            self.server.put_s3(f"s3://bucket/sharded/part-{i}", f"object {i}\n")
        channel = s3_channel("train", "s3://bucket/sharded/")
        channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
        # No sleep: a host must resolve its peers even when they have already exited
        # (see test_peer_names_resolve_until_job_ends).
        self.create(trainer_request(name, {"epochs": "2", "list_files": "1", "resolve_hosts": "1"},
                                    channels=[channel], instance_count=2))
        described = self.wait_done(name, 90)
        self.assertStatus(described, "Completed")

        expected = {"algo-1": [0, 2, 4], "algo-2": [1, 3]}
        for host, parts in expected.items():
            lines = self.log_lines(name, host)
            text = "\n".join(lines)
            self.assertIn(f"trainer: start host={host} hosts=algo-1,algo-2", lines, text)
            files = [line for line in lines if line.startswith("trainer: file ")]
            self.assertEqual(files, [f"trainer: file train/part-{i}" for i in parts], text)
            self.assertIn(f"trainer: channel train files={len(parts)} bytes={9 * len(parts)}",
                          lines, text)
            self.assertIn("trainer: resolved algo-1", lines, text)
            self.assertIn("trainer: resolved algo-2", lines, text)
            self.assertIn("trainer: done", lines, text)

        model = self.artifact(described, "model")
        self.assertEqual(sorted(model), ["model-algo-1.txt", "model-algo-2.txt"])
        self.assertTrue(model["model-algo-2.txt"].startswith(b"host=algo-2\n"))
        output = self.artifact(described, "output")
        self.assertEqual(sorted(output), ["metrics-algo-1.txt", "metrics-algo-2.txt"])
        self.assertNoLeftovers(name)

    def test_peer_names_resolve_until_job_ends(self):
        """Every host stays resolvable for its peers until the whole job ends, as a SageMaker
        instance does, also after its own container has exited: Docker's embedded DNS forgets a
        stopped container, so smlocal gives each host a fixed address on the job network and
        lists every host in every container's /etc/hosts. With epochs=0, algo-1 exits as soon as
        it has resolved algo-2, often before algo-2 looks algo-1 up; four concurrent jobs make
        that ordering likely (the unfixed runner failed several of them with "cannot resolve
        algo-1", exit code 3)."""
        names = [job_name(f"peers-{i}") for i in range(4)]
        for name in names:
            self.create(trainer_request(name, {"epochs": "0", "resolve_hosts": "1",
                                               "resolve_timeout": "5"}, instance_count=2))
        done = self.wait_all(names, 90)
        for name in names:
            with self.subTest(job=name):
                self.assertStatus(done[name], "Completed", "Completed")
                for host in ("algo-1", "algo-2"):
                    lines = self.log_lines(name, host)
                    text = "\n".join(lines)
                    self.assertIn(f"trainer: start host={host} hosts=algo-1,algo-2", lines, text)
                    self.assertIn("trainer: resolved algo-1", lines, text)
                    self.assertIn("trainer: resolved algo-2", lines, text)
                    self.assertIn("trainer: done", lines, text)
                self.assertNoLeftovers(name)

    def test_pipe_mode_channel(self):
        name = job_name("pipe")
        sizes = [1000, 70000, 33]
        for i, size in enumerate(sizes):
            self.server.put_s3(f"s3://bucket/pipe/obj-{i}.bin", bytes([65 + i]) * size)
        channel = s3_channel("train", "s3://bucket/pipe/")
        channel["InputMode"] = "Pipe"
        self.create(trainer_request(name, {"epochs": "1", "pipe_epochs": "2",
                                           "pipe_wait_seconds": "20"}, channels=[channel]))
        described = self.wait_done(name)
        self.assertStatus(described, "Completed")
        total = sum(sizes)
        self.assertLogHas(name, f"trainer: pipe train epoch=0 bytes={total}")
        # The next epoch's FIFO appears once epoch 0 is consumed (data-sources.md §4).
        self.assertLogHas(name, f"trainer: pipe train epoch=1 bytes={total}")

    # 5 ----------------------------------------------------------------------------------------
    def test_efs_and_fsx_channels(self):
        name = job_name("filesystems")
        efs_dir = os.path.join(self.server.data_dir, "efs", "fs-0123456789abcdef", "data", "train")
        fsx_dir = os.path.join(self.server.data_dir, "fsx", "fs-0abcdef012345678", "mnt1", "train")
        for folder, count in ((efs_dir, 2), (fsx_dir, 3)):
            os.makedirs(os.path.join(folder, "nested"), exist_ok=True)
            for i in range(count - 1):
                with open(os.path.join(folder, f"f{i}.csv"), "w") as handle:
                    handle.write("1,2\n")
            with open(os.path.join(folder, "nested", "last.csv"), "w") as handle:
                handle.write("3,4\n")
        self.create(trainer_request(name, {"epochs": "1", "list_files": "1"}, channels=[
            fs_channel("efs", "EFS", "fs-0123456789abcdef", "/data/train"),
            fs_channel("fsx", "FSxLustre", "fs-0abcdef012345678", "/mnt1/train")]))
        described = self.wait_done(name)
        self.assertStatus(described, "Completed")
        self.assertLogHas(name, "trainer: channels=efs,fsx")
        self.assertLogHas(name, "trainer: channel efs files=2 bytes=8")
        self.assertLogHas(name, "trainer: channel fsx files=3 bytes=12")
        self.assertLogHas(name, "trainer: file efs/nested/last.csv")
        self.assertLogHas(name, "trainer: file fsx/f1.csv")

    # 6 ----------------------------------------------------------------------------------------
    def test_failure_file_becomes_failure_reason(self):
        name = job_name("fail-boom")
        self.create(trainer_request(name, {"epochs": "1", "fail": "boom", "exit_code": "3"}))
        described = self.wait_done(name)
        self.assertStatus(described, "Failed", "Failed")
        self.assertEqual(described.get("FailureReason"), "AlgorithmError: boom, exit code: 3")
        self.assertLogHas(name, "trainer: failing: boom")
        self.assertNoLeftovers(name)

    def test_exit_code_without_failure_file(self):
        name = job_name("fail-exit5")
        self.create(trainer_request(name, {"epochs": "2", "exit_code": "5"}))
        described = self.wait_done(name)
        self.assertStatus(described, "Failed", "Failed")
        reason = described.get("FailureReason", "")
        self.assertTrue(reason.startswith("AlgorithmError: "), reason)
        self.assertIn("exit code: 5", reason)
        lines = self.log_lines(name)
        self.assertIn("trainer: exiting with 5", lines)
        tail = [line for line in lines[-4:] if line.strip()]
        self.assertTrue(any(line in reason for line in tail),
                        f"FailureReason {reason!r} contains none of the last log lines {tail!r}")

    # 9 ----------------------------------------------------------------------------------------
    def test_missing_image_and_missing_input(self):
        missing_image = job_name("no-image")
        missing_data = job_name("no-data")
        before = time.time()
        self.create(trainer_request(missing_image, {"epochs": "1"}, image="smlocal-fixtures/nope:1"))
        self.create(trainer_request(missing_data, {"epochs": "1"}, channels=[
            s3_channel("train", "s3://bucket/does-not-exist/train/")]))
        done = self.wait_all([missing_image, missing_data])
        after = time.time()

        described = done[missing_image]
        self.assertStatus(described, "Failed", "Failed")
        reason = described.get("FailureReason", "")
        self.assertTrue(reason.startswith("ClientError: "), reason)
        self.assertIn("smlocal-fixtures/nope:1", reason)

        described = done[missing_data]
        self.assertStatus(described, "Failed", "Failed")
        reason = described.get("FailureReason", "")
        self.assertTrue(reason.startswith("ClientError: "), reason)
        self.assertIn("s3://bucket/does-not-exist/train/", reason)
        self.assertNotIn("Training", [t["Status"] for t in described["SecondaryStatusTransitions"]])
        # Before any container: Docker saw nothing labelled with the job, no log stream exists.
        self.assertEqual(docker_events(missing_data, before - 1, after + 1), [])
        self.assertEqual(glob.glob(os.path.join(self.server.data_dir, "logs", missing_data, "*")), [])
        for name in (missing_image, missing_data):
            self.assertNoLeftovers(name)

    # 10 ---------------------------------------------------------------------------------------
    def test_container_entrypoint_and_arguments(self):
        cases = {
            # ContainerEntrypoint + ContainerArguments: entrypoint replaced, args as given.
            job_name("argv-both"): ({"ContainerEntrypoint": ["/usr/local/bin/train"],
                                     "ContainerArguments": ["train", "extra"]},
                                    "trainer: argv=train extra"),
            # ContainerEntrypoint alone: no `train` argument (container.md §1).
            job_name("argv-entry"): ({"ContainerEntrypoint": ["/usr/local/bin/train"]},
                                     "trainer: argv="),
            # ContainerArguments alone: image ENTRYPOINT kept, arguments replace `train`.
            job_name("argv-args"): ({"ContainerArguments": ["--flag", "two words"]},
                                    "trainer: argv=--flag two words"),
        }
        for name, (spec, _) in cases.items():
            request = trainer_request(name, {"epochs": "1"})
            request["AlgorithmSpecification"].update(spec)
            self.create(request)
        done = self.wait_all(list(cases))
        for name, (_, line) in cases.items():
            with self.subTest(job=name):
                self.assertStatus(done[name], "Completed")
                argv = [x for x in self.log_lines(name) if x.startswith("trainer: argv=")]
                self.assertEqual(argv, [line])

    # 11 ---------------------------------------------------------------------------------------
    def test_script_mode_python(self):
        name = job_name("script")
        channels = put_script_mode_inputs(self.server)
        self.create(script_mode_request(name, channels))
        described = self.wait_done(name, 120)
        self.assertStatus(described, "Completed")
        lines = self.log_lines(name)
        text = "\n".join(lines)
        self.assertIn(f"launcher: code from {SCRIPT_SUBMIT_DIR} extracted into /opt/ml/code",
                      lines, text)
        self.assertIn("train.py: read 200 rows from 1 file(s)", lines, text)
        self.assertIn("launcher: script exited with 0", lines, text)
        self.assertIn("loss", final_metrics(described))

        model = self.artifact(described, "model")
        self.assertIn("model.json", model)
        fitted = json.loads(model["model.json"])
        self.assertAlmostEqual(fitted["a"], 3.0, delta=0.1)
        self.assertAlmostEqual(fitted["b"], 1.0, delta=0.1)
        self.assertIn("summary.txt", self.artifact(described, "output"))


# ---------------------------------------------------------------------------------------------
# Stop, grace period, MaxRuntimeInSeconds
# ---------------------------------------------------------------------------------------------

class DockerStopTest(DockerJobCase):
    @classmethod
    def setUpClass(cls):
        start_class_server(cls, SERVER_ARGS)
        cls.client = cls.server.client()

    def start_slow(self, name: str, extra_hps: dict[str, str] | None = None,
                   max_runtime: int = 600) -> None:
        hps = {"epochs": "1", "sleep_seconds": "60", **(extra_hps or {})}
        self.create(trainer_request(name, hps, max_runtime=max_runtime))
        self.addCleanup(self._stop_quietly, name)

    def _stop_quietly(self, name: str) -> None:
        try:
            described = self.client.describe_training_job(TrainingJobName=name)
            if described["TrainingJobStatus"] == "InProgress":
                self.client.stop_training_job(TrainingJobName=name)
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass

    def wait_trained_one_epoch(self, name: str) -> None:
        """Training, and the trainer printed epoch 1 (so its SIGTERM handler is in place; the
        metric is extracted as the line arrives)."""
        described = self.wait_metric(name, "loss", 1.0)
        self.assertEqual(described["SecondaryStatus"], "Training")

    # 7 ----------------------------------------------------------------------------------------
    def test_stop_sigterm_saves_model(self):
        name = job_name("stop")
        self.start_slow(name)
        self.wait_trained_one_epoch(name)
        started = time.monotonic()
        self.client.stop_training_job(TrainingJobName=name)
        described = self.client.describe_training_job(TrainingJobName=name)
        self.assertIn(described["TrainingJobStatus"], ("Stopping", "Stopped"))
        if described["TrainingJobStatus"] == "Stopping":
            self.assertEqual(described["SecondaryStatus"], "Stopping")
        described = self.wait_done(name, 15)
        elapsed = time.monotonic() - started
        self.assertStatus(described, "Stopped", "Stopped")
        self.assertLess(elapsed, 10.0)
        self.assertIn("Stopping", [t["Status"] for t in described["SecondaryStatusTransitions"]])
        self.assertLogHas(name, "trainer: got SIGTERM, saving model")
        self.assertLogHas(name, "trainer: exiting with 0")
        model = self.artifact(described, "model")
        self.assertEqual(model.get("model-algo-1.txt"), b"host=algo-1\nloss=1.000000\nepochs=1\n")
        self.assertNoLeftovers(name)

    def test_stop_sigkill_after_grace(self):
        name = job_name("stop-kill")
        self.start_slow(name, {"ignore_sigterm": "1"})
        self.wait_trained_one_epoch(name)
        started = time.monotonic()
        self.client.stop_training_job(TrainingJobName=name)
        described = self.wait_done(name, 20)
        elapsed = time.monotonic() - started
        self.assertStatus(described, "Stopped", "Stopped")
        self.assertGreaterEqual(elapsed, STOP_GRACE - 0.5, "stopped before the grace period ended")
        self.assertLess(elapsed, 15.0)
        lines = self.log_lines(name)
        self.assertIn("trainer: ignoring SIGTERM", lines)
        self.assertNotIn("trainer: done", lines)
        self.assertFalse(any(line.startswith("trainer: exiting") for line in lines), lines)
        self.assertNoLeftovers(name)

    # 8 ----------------------------------------------------------------------------------------
    def test_max_runtime_exceeded(self):
        name = job_name("maxrt")
        started = time.monotonic()
        self.start_slow(name, max_runtime=3)
        described = self.wait_done(name, 25)
        elapsed = time.monotonic() - started
        self.assertStatus(described, "Stopped", "MaxRuntimeExceeded")
        self.assertGreaterEqual(elapsed, 2.5)
        self.assertLess(elapsed, 15.0)
        self.assertLogHas(name, "trainer: got SIGTERM, saving model")
        self.assertIn("model-algo-1.txt", self.artifact(described, "model"))
        self.assertNoLeftovers(name)

    def test_log_copy_is_current_while_the_container_is_quiet(self):
        """Lines must reach the log copy promptly, also when no further line follows them
        (`tail -f`, and the CloudWatch events behind it)."""
        name = job_name("logflush")
        self.start_slow(name)
        self.wait_trained_one_epoch(name)
        try:
            wait_for(lambda: "epoch=1 loss=1.000000" in self.log_lines(name), 3.0,
                     what=f"{name}: 'epoch=1 loss=1.000000' in the log copy")
        except AssertionError as error:
            self.fail(f"{error}; the log copy holds only {self.log_lines(name)!r} although the "
                      "metric of that line is already in FinalMetricDataList")
        finally:
            self.client.stop_training_job(TrainingJobName=name)
            self.wait_done(name, 15)


# ---------------------------------------------------------------------------------------------
# A data-root short of space
# ---------------------------------------------------------------------------------------------

class DockerDiskSpaceTest(DockerJobCase):
    @classmethod
    def setUpClass(cls):
        # An exabyte: no machine's data-root has that much free.
        start_class_server(cls, [*SERVER_ARGS, "--min-free-disk", str(10 ** 18)])
        cls.client = cls.server.client()

    def test_job_fails_fast_when_the_data_root_is_short_of_space(self):
        name = job_name("no-space")
        before = time.time()
        self.create(trainer_request(name, {"epochs": "1"}))
        described = self.wait_all([name])[name]
        after = time.time()
        self.assertStatus(described, "Failed", "Failed")
        reason = described.get("FailureReason", "")
        self.assertTrue(reason.startswith("ClientError: the Docker data-root "), reason)
        self.assertIn("--min-free-disk", reason)
        self.assertIn("setup-docker.sh --data-root", reason)
        # Fast: no container was ever created for it.
        self.assertEqual(docker_events(name, before - 1, after + 1), [])
        self.assertNoLeftovers(name)


# ---------------------------------------------------------------------------------------------
# Re-attach after kill -9
# ---------------------------------------------------------------------------------------------

class DockerReattachTest(DockerJobCase):
    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="smlocal-e2e-docker-restart-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.first = self.second = None

    def servers_under_test(self):
        return [s for s in (self.first, self.second) if s is not None]

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for server in (self.first, self.second):
                if server is not None:
                    server.kill9()
                    server.cleanup()

    # 12 ---------------------------------------------------------------------------------------
    def test_reattach_after_kill9(self):
        name = job_name("reattach")
        self.first = self.server = Server(extra_args=SERVER_ARGS, data_dir=self.data_dir).start()
        self.client = self.first.client()
        self.create(trainer_request(name, {"epochs": "2", "sleep_seconds": "4"}))
        self.wait_metric(name, "loss", 1.0)  # Training, epoch 1 printed
        epoch1_seen = time.monotonic()
        self.first.kill9()

        containers, networks = labelled(name, running_only=True)
        self.assertEqual(len(containers), 1, "the job's container should outlive the server")
        self.assertEqual(len(networks), 0, "a single host runs on Docker's default bridge")
        # Stay down until the trainer has printed epoch 2 (t+4 s): that line is produced while
        # no server is attached.
        time.sleep(max(0.0, epoch1_seen + 4.8 - time.monotonic()))
        self.assertEqual(len(labelled(name, running_only=True)[0]), 1)

        self.second = self.server = Server(extra_args=SERVER_ARGS, data_dir=self.data_dir).start()
        self.client = self.second.client()
        described = self.wait_done(name, 30)
        self.assertStatus(described, "Completed", "Completed")
        model = self.artifact(described, "model")
        self.assertEqual(model.get("model-algo-1.txt"), b"host=algo-1\nloss=0.500000\nepochs=2\n")
        self.assertLogHas(name, "trainer: done")
        self.assertNoLeftovers(name)
        # What the container printed while smlocal was down is still in Docker's log;
        # re-attaching must not drop it.
        lines = self.log_lines(name)
        self.assertIn("epoch=2 loss=0.500000", lines,
                      "the line printed while the server was down is missing from the log copy "
                      "after re-attach:\n" + "\n".join(lines))


# ---------------------------------------------------------------------------------------------
# The AWS CLI path
# ---------------------------------------------------------------------------------------------

SHM_CLI = "128m"
SHM_CLI_BYTES = 128 * 1024 * 1024


class DockerAwsCliTest(DockerJobCase):
    """`aws sagemaker create-training-job` with AWS_ENDPOINT_URL_SAGEMAKER, through a
    CheckingProxy; the jobs are then followed with the checked boto3 client. A /dev/shm size
    other than the other classes' shows the configured value is the one used."""

    @classmethod
    def setUpClass(cls):
        if not AWS:
            raise RuntimeError("the aws CLI is not on PATH (pip install awscli)")
        start_class_server(cls, ["--stop-grace", "3", "--shm-size", SHM_CLI])
        start_class_proxy(cls)
        cls.client = cls.server.client()

    def aws_create(self, request: dict) -> None:
        result = subprocess.run(
            [AWS, "sagemaker", "create-training-job", "--cli-input-json", json.dumps(request),
             "--output", "json"],
            env=dummy_env({"AWS_ENDPOINT_URL_SAGEMAKER": self.proxy.url}),
            capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, f"aws create-training-job failed: {result.stderr}")
        self.assertEqual(json.loads(result.stdout),
                         {"TrainingJobArn": job_arn(request["TrainingJobName"])})

    # 13 ---------------------------------------------------------------------------------------
    def test_cli_script_mode_and_shm(self):
        # train.py does not print /dev/shm, so the trainer image covers the shm part and the
        # python image the script-mode part; both created by the CLI, run concurrently.
        script = job_name("cli-script")
        shm = job_name("cli-shm")
        channels = put_script_mode_inputs(self.server, bucket="cli-bucket")
        errors: list[BaseException] = []

        def run(thread_target, request):
            try:
                thread_target(request)
            except BaseException as error:  # noqa: BLE001 - re-raised below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(self.aws_create, request)) for request in (
            script_mode_request(script, channels), trainer_request(shm, {"epochs": "1"}))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        self.assertEqual(self.proxy.requests_seen.count("CreateTrainingJob"), 2)

        done = self.wait_all([script, shm], 120)
        self.assertStatus(done[script], "Completed")
        model = self.artifact(done[script], "model")
        fitted = json.loads(model["model.json"])
        self.assertAlmostEqual(fitted["a"], 3.0, delta=0.1)
        self.assertAlmostEqual(fitted["b"], 1.0, delta=0.1)

        self.assertStatus(done[shm], "Completed")
        self.assertIn("model-algo-1.txt", self.artifact(done[shm], "model"))
        shm_lines = [x for x in self.log_lines(shm) if x.startswith("trainer: shm_bytes=")]
        self.assertEqual(shm_lines, [f"trainer: shm_bytes={SHM_CLI_BYTES}"])


if __name__ == "__main__":
    unittest.main()
