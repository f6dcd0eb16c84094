#!/usr/bin/env python3
"""Helpers for scripts/bench/containers.sh: the timed passes and the Markdown report.

Subcommands (all traffic goes to 127.0.0.1 or the local Docker socket; every loop is bounded):
  overhead  URL RESULTS --smlocal BIN --data-dir DIR --work DIR --token T --runs N
            N interleaved rounds (after one warm-up of each) of: an smlocal job, `docker run --rm`,
            `docker network create` + `docker run --rm --network` + `docker network rm`, and
            `docker-compose up --abort-on-container-exit` + `down` of `smlocal compose <job>`'s file.
  staging   URL RESULTS --s3-root DIR --token T --reps R --shard-files F
            File-mode channels of 10 MB (real files), 10 GB (sparse files), F files; 1 and 2 hosts,
            FullyReplicated and ShardedByS3Key; times from SecondaryStatusTransitions.
  diagnose  URL RESULTS --work DIR --token T --jobs K --proxy-socket SOCK
            K smlocal jobs (smlocal already pointed at the proxy) and K `docker run --rm` through it.
  render    RESULTS EVENTS PROXYLOG [--write DOC]
            print the Markdown section; with --write, replace its section in DOC.

RESULTS is a JSON-lines file; each pass appends records to it. EVENTS is `docker events
--format '{{json .}}'` output for the whole run; PROXYLOG is containers_docker_proxy.py's log.
"""

import argparse
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_doc  # noqa: E402
import smlocal_client  # noqa: E402

SECTION_TITLE = "## Containers: per-job overhead and staging (scripts/bench/containers.sh)"
IMAGE = "smlocal-fixtures/trainer:1"
HYPERPARAMETERS = {"epochs": "1", "sleep_seconds": "0"}
TERMINAL = {"Completed", "Failed", "Stopped"}
POLL_S = 0.010
JOB_BOUND_S = 120  # no single job may take longer than this


# --- smlocal client -------------------------------------------------------------------------------

Client = smlocal_client.Client


def job_request(name, instance_count=1, channels=None):
    request = {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": dict(HYPERPARAMETERS),
        "OutputDataConfig": {"S3OutputPath": "s3://containers-bench/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": instance_count, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    if channels:
        request["InputDataConfig"] = channels
    return request


def run_smlocal_job(client, request):
    """CreateTrainingJob, then DescribeTrainingJob every 10 ms until terminal. Returns a record."""
    name = request["TrainingJobName"]
    t0_wall = time.time()
    t0 = time.perf_counter()
    code, body = client.call("CreateTrainingJob", request)
    if code != 200:
        sys.exit(f"CreateTrainingJob {name}: HTTP {code} {body}")
    polls = 0
    while True:
        code, job = client.call("DescribeTrainingJob", {"TrainingJobName": name})
        polls += 1
        if code != 200:
            sys.exit(f"DescribeTrainingJob {name}: HTTP {code} {job}")
        if job["TrainingJobStatus"] in TERMINAL:
            break
        if time.perf_counter() - t0 > JOB_BOUND_S:
            sys.exit(f"{name} still {job['TrainingJobStatus']} after {JOB_BOUND_S} s")
        time.sleep(POLL_S)
    t1 = time.perf_counter()
    if job["TrainingJobStatus"] != "Completed":
        sys.exit(f"{name} ended {job['TrainingJobStatus']}: {job.get('FailureReason')}")
    transitions = {}
    for t in job.get("SecondaryStatusTransitions", []):
        transitions.setdefault(t["Status"], t["StartTime"])
    return {"name": name, "t0_wall": t0_wall, "t1_wall": t0_wall + (t1 - t0), "wall_s": t1 - t0, "polls": polls,
            "creation": job["CreationTime"], "training_start": job.get("TrainingStartTime"),
            "training_end": job.get("TrainingEndTime"), "transitions": transitions}


def timed(command, env=None, what=""):
    """Runs a command (output discarded); returns (start wall, end wall, seconds)."""
    t0_wall = time.time()
    t0 = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=JOB_BOUND_S)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        sys.exit(f"{what or command[0]} failed ({result.returncode}): {result.stderr.decode()[-400:]}")
    return t0_wall, t0_wall + seconds, seconds


def append(results, record):
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")


def log(message):
    print(f"[containers.sh {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- pass 1: per-job overhead ---------------------------------------------------------------------

def write_opt_ml(root):
    """The /opt/ml folders and config files a SageMaker container reads, for `docker run`."""
    for sub in ("input/config", "model", "output/data"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    files = {
        "hyperparameters.json": HYPERPARAMETERS,
        "resourceconfig.json": {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"},
        "inputdataconfig.json": {},
    }
    for name, content in files.items():
        with open(os.path.join(root, "input/config", name), "w") as f:
            json.dump(content, f)


def docker_run_command(name, root, shm, network=None):
    command = ["docker", "run", "--rm", "--name", name, "--hostname", "algo-1", "--shm-size", str(shm),
               "-v", f"{root}/input/config:/opt/ml/input/config:ro",
               "-v", f"{root}/model:/opt/ml/model", "-v", f"{root}/output:/opt/ml/output",
               "-e", "TRAINING_JOB_NAME=" + name, "-e", "AWS_REGION=us-east-1", "-e", "AWS_DEFAULT_REGION=us-east-1"]
    if network:
        command += ["--network", network, "--network-alias", "algo-1"]
    return command + [IMAGE, "train"]


def overhead(args):
    client = Client(args.url)
    token = args.token
    work = args.work
    root = os.path.join(work, "opt-ml")
    write_opt_ml(root)

    # The compose file comes from smlocal itself, for a finished job of the same request.
    template = f"{token}-compose"
    log(f"smlocal job {template} (warm-up, and the source of the compose file)")
    append(args.results, dict(run_smlocal_job(client, job_request(template)), kind="warmup", method="smlocal"))
    compose_file = os.path.join(work, "compose.yml")
    with open(compose_file, "w") as f:
        subprocess.run([args.smlocal, "compose", template, "--data-dir", args.data_dir], stdout=f, check=True,
                       timeout=60)
    text = open(compose_file).read()
    shm_match = re.search(r"^\s+shm_size: (\d+)$", text, re.M)
    shm = int(shm_match.group(1)) if shm_match else 64 * 1024 * 1024
    compose_container = f"smlocal-{template.lower()}-algo-1"
    compose_network = f"smlocal-{template.lower()}"
    project = f"{token}-compose"
    append(args.results, {"kind": "meta", "shm_bytes": shm, "compose_file_lines": len(text.splitlines())})

    def smlocal_round(i, kind):
        name = f"{token}-ovh-{kind[0]}{i}"
        record = run_smlocal_job(client, job_request(name))
        record.update(kind=kind, method="smlocal", container=f"smlocal-{name.lower()}-algo-1",
                      network=f"smlocal-{name.lower()}")
        return record

    def docker_run_round(i, kind):
        name = f"{token}-run-{kind[0]}{i}"
        t0w, t1w, seconds = timed(docker_run_command(name, root, shm), what="docker run")
        return {"kind": kind, "method": "docker_run", "name": name, "container": name, "t0_wall": t0w,
                "t1_wall": t1w, "wall_s": seconds}

    def docker_run_net_round(i, kind):
        name = f"{token}-rnet-{kind[0]}{i}"
        t0w = time.time()
        t0 = time.perf_counter()
        timed(["docker", "network", "create", "--driver", "bridge", name], what="docker network create")
        timed(docker_run_command(name, root, shm, network=name), what="docker run --network")
        timed(["docker", "network", "rm", name], what="docker network rm")
        seconds = time.perf_counter() - t0
        return {"kind": kind, "method": "docker_run_net", "name": name, "container": name, "network": name,
                "t0_wall": t0w, "t1_wall": t0w + seconds, "wall_s": seconds}

    def compose_round(i, kind):
        base = ["docker-compose", "-f", compose_file, "-p", project, "--ansi", "never"]
        t0w = time.time()
        t0 = time.perf_counter()
        _, up_end, up_s = timed(base + ["up", "--abort-on-container-exit"], what="docker-compose up")
        down_start, _, down_s = timed(base + ["down"], what="docker-compose down")
        seconds = time.perf_counter() - t0
        return {"kind": kind, "method": "compose", "name": f"compose-{kind[0]}{i}", "container": compose_container,
                "network": compose_network, "t0_wall": t0w, "t1_wall": t0w + seconds, "wall_s": seconds,
                "up_s": up_s, "down_s": down_s, "up_end_wall": up_end, "down_start_wall": down_start}

    methods = [smlocal_round, docker_run_round, docker_run_net_round, compose_round]
    log("warm-up: one docker run, one docker run with a network, one docker-compose up/down")
    for method in methods[1:]:
        append(args.results, method(0, "warmup"))
    for i in range(1, args.runs + 1):
        walls = []
        for method in methods:
            record = method(i, "measure")
            append(args.results, record)
            walls.append(f"{record['method']} {record['wall_s'] * 1000:.0f} ms")
        log(f"round {i}/{args.runs}: " + ", ".join(walls))


# --- pass 2: File-mode staging --------------------------------------------------------------------

def make_files(folder, count, size, sparse):
    os.makedirs(folder, exist_ok=True)
    chunk = os.urandom(min(size, 1 << 20)) if not sparse else b""
    for k in range(count):
        path = os.path.join(folder, f"part-{k:05d}.bin")
        if sparse:
            with open(path, "wb") as f:
                f.truncate(size)  # a hole: no blocks allocated
        else:
            with open(path, "wb") as f:
                left = size
                while left > 0:
                    f.write(chunk[:left])
                    left -= len(chunk[:left])


def allocated_bytes(folder):
    total = 0
    for entry in os.scandir(folder):
        total += entry.stat().st_blocks * 512
    return total


def trainer_saw(data_dir, job, hosts):
    """The trainer's `channel train files=N bytes=B` line of each host, from smlocal's log copy."""
    seen = []
    for h in range(1, hosts + 1):
        line = "?"
        for path in sorted(glob.glob(os.path.join(data_dir, "logs", job, f"algo-{h}-*.log"))):
            for text in open(path, errors="replace"):
                m = re.search(r"trainer: channel train files=(\d+) bytes=(\d+)", text)
                if m:
                    line = f"{m.group(1)}:{m.group(2)}"
        seen.append(line)
    return seen


def staging(args):
    client = Client(args.url)
    bucket = f"{args.token}-data"
    base = os.path.join(args.s3_root, bucket)
    sets = {
        "10MB": (10, 1_000_000, False),
        "10GB": (10, 1_000_000_000, True),
        "files": (args.shard_files, 10_000, False),
    }
    for key, (count, size, sparse) in sets.items():
        folder = os.path.join(base, key)
        t0 = time.perf_counter()
        make_files(folder, count, size, sparse)
        append(args.results, {"kind": "dataset", "set": key, "files": count, "file_bytes": size, "sparse": sparse,
                              "apparent_bytes": count * size, "allocated_bytes": allocated_bytes(folder),
                              "make_s": time.perf_counter() - t0})
        log(f"data set {key}: {count} x {size:,} B ({'sparse' if sparse else 'written'}), "
            f"{allocated_bytes(folder):,} B allocated")
    cases = [
        ("10MB", 1, "FullyReplicated"),
        ("10GB", 1, "FullyReplicated"),
        ("files", 2, "FullyReplicated"),
        ("files", 2, "ShardedByS3Key"),
        ("10GB", 2, "ShardedByS3Key"),
    ]
    for rep in range(1, args.reps + 1):
        for index, (key, hosts, distribution) in enumerate(cases):
            name = f"{args.token}-stg{index}-{rep}"
            channels = [{"ChannelName": "train", "InputMode": "File",
                         "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                         "S3Uri": f"s3://{bucket}/{key}/",
                                                         "S3DataDistributionType": distribution}}}]
            record = run_smlocal_job(client, job_request(name, hosts, channels))
            record.update(kind="staging", case=index, set=key, hosts=hosts, distribution=distribution, rep=rep,
                          seen=trainer_saw(args.data_dir, name, hosts))
            append(args.results, record)
            tr = record["transitions"]
            log(f"staging {key} {distribution} x{hosts} rep {rep}: Downloading->Training "
                f"{(tr['Training'] - tr['Downloading']) * 1000:.1f} ms, trainer saw {record['seen']}")


# --- pass 3: where the time goes (Engine API calls through the proxy) -------------------------------

def diagnose(args):
    client = Client(args.url)
    root = os.path.join(args.work, "opt-ml")
    shm = 64 * 1024 * 1024
    for line in open(args.results):
        record = json.loads(line)
        if record.get("kind") == "meta" and "shm_bytes" in record:
            shm = record["shm_bytes"]
    env = dict(os.environ, DOCKER_HOST=f"unix://{args.proxy_socket}")
    for i in range(0, args.jobs + 1):  # round 0 is a warm-up
        kind = "diag" if i else "diag_warmup"
        name = f"{args.token}-diag-{i}"
        record = run_smlocal_job(client, job_request(name))
        record.update(kind=kind, method="smlocal", container=f"smlocal-{name.lower()}-algo-1",
                      network=f"smlocal-{name.lower()}")
        append(args.results, record)
        name = f"{args.token}-drun-{i}"
        t0w, t1w, seconds = timed(docker_run_command(name, root, shm), env=env, what="docker run (proxy)")
        append(args.results, {"kind": kind, "method": "docker_run", "name": name, "container": name,
                              "t0_wall": t0w, "t1_wall": t1w, "wall_s": seconds})
        log(f"diagnostic round {i}/{args.jobs}: smlocal {record['wall_s'] * 1000:.0f} ms, "
            f"docker run {seconds * 1000:.0f} ms (both through the proxy)")


# --- report ---------------------------------------------------------------------------------------

pct = bench_doc.nearest_rank


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def fmt_ms(seconds, digits=0):
    return "–" if seconds is None else f"{seconds * 1000:,.{digits}f}"


def read_jsonl(path):
    out = []
    if path and os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return out


def read_meta(path):
    meta = {}
    if os.path.exists(path):
        for line in open(path):
            key, _, value = line.rstrip("\n").partition("=")
            if key:
                meta[key] = value
    return meta


class Events:
    """docker events, indexed by (type, actor name)."""

    def __init__(self, path):
        self.by_actor = {}
        for e in read_jsonl(path):
            name = e.get("Actor", {}).get("Attributes", {}).get("name")
            if not name or "timeNano" not in e:
                continue
            self.by_actor.setdefault((e.get("Type"), name), []).append(
                (e["timeNano"] / 1e9, e.get("Action", ""), e.get("Actor", {}).get("Attributes", {})))

    def first(self, type_, name, action, start, end):
        for t, a, attrs in self.by_actor.get((type_, name), []):
            if a == action and start - 0.001 <= t <= end + 0.5:
                return t, attrs
        return None, None

    def times(self, type_, name, action, start, end):
        return sorted(t for t, a, _ in self.by_actor.get((type_, name), [])
                      if a == action and start - 0.001 <= t <= end + 0.5)


def attach_events(record, events):
    """Docker event times of the record's container and network within its time window."""
    lo, hi = record["t0_wall"], record["t1_wall"]
    ev = {}
    for action in ("create", "start", "die", "destroy"):
        ev["c_" + action], attrs = events.first("container", record["container"], action, lo, hi)
        if action == "die" and attrs is not None:
            ev["exit_code"] = attrs.get("exitCode")
    if record.get("network"):
        # A job may create (and destroy) its network more than once; the spans use the create
        # just before the container's and the destroy just after the container's removal.
        creates = events.times("network", record["network"], "create", lo, hi)
        destroys = events.times("network", record["network"], "destroy", lo, hi)
        ev["n_creates"], ev["n_destroys"] = len(creates), len(destroys)
        c_create, c_destroy = ev.get("c_create"), ev.get("c_destroy")
        before = [t for t in creates if c_create is None or t <= c_create]
        after = [t for t in destroys if c_destroy is None or t >= c_destroy]
        ev["n_create"] = before[-1] if before else None
        ev["n_destroy"] = after[0] if after else None
    record["events"] = ev
    if ev.get("c_start") and ev.get("c_die"):
        record["run_s"] = ev["c_die"] - ev["c_start"]
        record["overhead_s"] = record["wall_s"] - record["run_s"]
    return record


def diff(a, b):
    return None if a is None or b is None else b - a


def phases(record):
    """Named consecutive spans (seconds) of one record, from client, server and Docker timestamps."""
    ev = record.get("events", {})
    t0, t1 = record["t0_wall"], record["t1_wall"]
    method = record["method"]
    out = {}
    if method == "smlocal":
        tr = record.get("transitions", {})
        training = tr.get("Training")
        out["request → SecondaryStatus Training (workspace, staging)"] = diff(t0, training)
        out["→ network create event"] = diff(training, ev.get("n_create"))
    elif method in ("docker_run_net", "compose"):
        out["→ network create event"] = diff(t0, ev.get("n_create"))
    before_container = ev.get("n_create") if method != "docker_run" else t0
    out["→ container create event"] = diff(before_container, ev.get("c_create"))
    out["→ container start event"] = diff(ev.get("c_create"), ev.get("c_start"))
    out["container's own run: start → die event"] = diff(ev.get("c_start"), ev.get("c_die"))
    out["die → container destroy event"] = diff(ev.get("c_die"), ev.get("c_destroy"))
    if method != "docker_run":
        out["→ network destroy event"] = diff(ev.get("c_destroy"), ev.get("n_destroy"))
        last = ev.get("n_destroy")
    else:
        last = ev.get("c_destroy")
    if method == "smlocal":
        end = record.get("training_end")
        out["→ Completed (Uploading: model.tar.gz, output.tar.gz)"] = diff(last, end)
        out["→ the client sees Completed (10 ms polling)"] = diff(end, t1)
    else:
        out["→ the command(s) exit"] = diff(last, t1)
    return out


PHASE_ORDER = [
    "request → SecondaryStatus Training (workspace, staging)",
    "→ network create event",
    "→ container create event",
    "→ container start event",
    "container's own run: start → die event",
    "die → container destroy event",
    "→ network destroy event",
    "→ Completed (Uploading: model.tar.gz, output.tar.gz)",
    "→ the client sees Completed (10 ms polling)",
    "→ the command(s) exit",
]

METHODS = [
    ("smlocal", "smlocal: CreateTrainingJob → Describe shows Completed"),
    ("docker_run", "`docker run --rm` (default bridge network)"),
    ("docker_run_net", "`docker network create` + `docker run --rm --network` + `docker network rm` (diagnostic)"),
    ("compose", "`docker-compose up --abort-on-container-exit` + `down`"),
]


API_NAMES = [
    (r"^(HEAD|GET) /_ping$", "/_ping"),
    (r"^GET /images/[^/]+(/[^/]+)*/json$", "GET /images/{image}/json"),
    (r"^GET /info$", "GET /info"),
    (r"^GET /containers/json", "GET /containers/json (leftovers of the job)"),
    (r"^GET /networks\?", "GET /networks (leftovers of the job)"),
    (r"^POST /networks/create", "POST /networks/create"),
    (r"^POST /containers/create", "POST /containers/create"),
    (r"^POST /containers/\{id\}/attach", "POST /containers/{id}/attach"),
    (r"^POST /containers/\{id\}/start", "POST /containers/{id}/start"),
    (r"^POST /containers/\{id\}/wait", "POST /containers/{id}/wait (returns at exit)"),
    (r"^GET /containers/\{id\}/json", "GET /containers/{id}/json"),
    (r"^GET /containers/\{id\}/logs", "GET /containers/{id}/logs?follow=1"),
    (r"^DELETE /containers/\{id\}", "DELETE /containers/{id}?force=1"),
    (r"^DELETE /networks/\{id\}", "DELETE /networks/{id}"),
]


def api_name(call):
    path = re.sub(r"^/v1\.\d+", "", call["path"])
    path = re.sub(r"/[0-9a-f]{64}", "/{id}", path)
    text = f"{call['method']} {path}"
    for pattern, name in API_NAMES:
        if re.search(pattern, text):
            return name
    return text.split("?")[0]


def describe_calls(records, calls):
    """Per record: the proxy's calls in its time window, as (name, sent, end) tuples."""
    out = []
    for r in records:
        mine = []
        for c in calls:
            if r["t0_wall"] - 0.001 <= c["sent"] <= r["t1_wall"]:
                end = c.get("last_byte") or c.get("answered") or c.get("closed")
                mine.append((api_name(c), c["sent"], end))
        out.append(sorted(mine, key=lambda x: x[1]))
    return out


machine_facts = bench_doc.machine_facts


def render(args):
    records = read_jsonl(args.results)
    events = Events(args.events)
    meta = read_meta(args.meta)
    facts = machine_facts()
    calls = read_jsonl(args.proxy_log)
    measured = [attach_events(r, events) for r in records if r.get("kind") == "measure"]
    by_method = {m: [r for r in measured if r["method"] == m] for m, _ in METHODS}
    runs = len(by_method["smlocal"])
    shm = next((r["shm_bytes"] for r in records if r.get("kind") == "meta" and "shm_bytes" in r), None)
    warnings = []

    lines = [SECTION_TITLE, ""]
    lines.append(f"Command: `{meta.get('command', 'scripts/bench/containers.sh --write')}` "
                 f"(progress on stderr, this section on stdout); after the build, the run took {meta.get('elapsed_s', '?')} s.")
    lines.append("")
    lines.append(f"- Machine: {facts['nproc']} CPUs (`nproc`), {facts['cpu']}, {facts['os']}, kernel "
                 f"{facts['kernel']}. Load average before the run: {meta.get('load_before', '?')}; after: "
                 f"{meta.get('load_after', '?')} (the machine is shared: other work shows in these).")
    lines.append(f"- Docker: engine {meta.get('docker_server', '?')} (CLI {meta.get('docker_client', '?')}), "
                 f"storage driver {meta.get('storage_driver', '?')} on {meta.get('backing_fs', '?')}, cgroup "
                 f"v{meta.get('cgroup_version', '?')}, runc {meta.get('runc', '?')}; docker-compose "
                 f"{meta.get('compose_version', '?')}.")
    lines.append(f"- Date: {meta.get('date', '?')}. smlocal `{meta.get('git', '?')}`, Release build (`{meta.get('build_dir', 'build-bench')}`), "
                 f"`serve --port 0 --data-dir <tmp> --stop-grace 3` (default `--threads 2`; `/dev/shm` "
                 f"{shm / 2**30:.1f} GiB, half of host memory, given to `docker run` and compose too). "
                 f"Image `{IMAGE}` (static binary `FROM scratch`), hyperparameters `epochs=1 sleep_seconds=0`: "
                 f"it prints a few lines, writes its model and exits at once." if shm else "")
    lines.append(f"- smlocal jobs are timed by the client: `CreateTrainingJob`, then `DescribeTrainingJob` every "
                 f"10 ms (a 10 ms sleep between answers) on one keep-alive connection of Python's `http.client` "
                 f"(not boto3, whose per-call cost would blur the figure), until the status is Completed. "
                 f"Commands are timed from spawn to exit with `time.perf_counter`. The {runs} rounds interleave "
                 f"the four ways (smlocal, docker run, docker run with a network, compose), after one warm-up of "
                 f"each, so that background load hits them alike. Median and p90 (nearest rank: the "
                 f"{ordinal(max(1, math.ceil(0.9 * runs)))} of {runs}).")
    lines.append("- The container's own run time is Docker's: the `start` → `die` timestamps of `docker events` "
                 "(nanosecond `timeNano`, the daemon's clock, which is the same host clock the client and smlocal "
                 "read). `start` is emitted once runc has started the process and `die` when its exit is "
                 "reported, so this is the process's lifetime (a few ms here) and nothing of the set-up or "
                 "tear-down. Overhead = wall time − that run time, the same definition for every way.")
    lines.append("")

    # Per-job overhead table.
    lines.append(f"### Per-job overhead: {runs} sequential jobs each way")
    lines.append("")
    lines.append("| way | wall median ms | wall p90 ms | container run (start → die) median ms | "
                 "overhead median ms | overhead p90 ms |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for key, label in METHODS:
        rs = by_method[key]
        if not rs:
            lines.append(f"| {label} | n/a | n/a | n/a | n/a | n/a |")
            continue
        walls = [r["wall_s"] for r in rs]
        runs_s = [r["run_s"] for r in rs if "run_s" in r]
        over = [r["overhead_s"] for r in rs if "overhead_s" in r]
        if len(runs_s) < len(rs):
            warnings.append(f"- {key}: {len(rs) - len(runs_s)} of {len(rs)} runs lack start/die events.")
        bad = [r["name"] for r in rs if r.get("events", {}).get("exit_code") not in ("0", None)]
        if bad:
            warnings.append(f"- {key}: non-zero exit in {bad}.")
        lines.append(f"| {label} | {fmt_ms(med(walls))} | {fmt_ms(pct(walls, 90))} | {fmt_ms(med(runs_s), 1)} | "
                     f"{fmt_ms(med(over))} | {fmt_ms(pct(over, 90)) if over else '–'} |")
    compose_rs = by_method["compose"]
    if compose_rs:
        lines.append("")
        lines.append(f"Compose: `up` median {fmt_ms(med([r['up_s'] for r in compose_rs]))} ms, `down` median "
                     f"{fmt_ms(med([r['down_s'] for r in compose_rs]))} ms; the file is `smlocal compose <job>`'s for "
                     f"the same request (its own network, same mounts, environment, labels and shm size as "
                     f"smlocal's container). `docker run` gets the same mounts (config read-only, model, output), "
                     f"environment and shm size, with config files written by the script.")
    lines.append("")

    sm, dr = by_method["smlocal"], by_method["docker_run"]
    if sm and dr:
        beyond = med([r["wall_s"] for r in sm]) - med([r["wall_s"] for r in dr])
        paired = med([a["wall_s"] - b["wall_s"] for a, b in zip(sm, dr)])
        ok = beyond <= 0.050
        lines.append("| smlocal beyond `docker run --rm` | figure | target | result |")
        lines.append("|---|---:|---|---|")
        lines.append(f"| median smlocal wall − median docker run wall | {fmt_ms(beyond)} ms | ≤ 50 ms | "
                     f"{'**PASS**' if ok else '**MISS**'} |")
        lines.append(f"| median of the per-round differences (same round, back to back) | {fmt_ms(paired)} ms | | |")
        dn = by_method["docker_run_net"]
        if dn:
            lines.append(f"| median smlocal wall − median (network create + docker run --network + network rm) "
                         f"wall (diagnostic) | {fmt_ms(med([r['wall_s'] for r in sm]) - med([r['wall_s'] for r in dn]))}"
                         f" ms | | |")
        lines.append("")

    # Phase breakdown.
    lines.append("### Where the time goes: medians of consecutive spans")
    lines.append("")
    lines.append("Spans between client, smlocal (SecondaryStatusTransitions StartTime, TrainingEndTime) and Docker "
                 "event timestamps, all on the host's wall clock; each cell is a median over the runs, so a "
                 "column's cells need not add up to its wall median exactly. \"–\": the way has no such step.")
    lines.append("")
    header = "| span | " + " | ".join(k.replace("_", " ") for k, _ in METHODS) + " |"
    lines.append(header.replace("docker run net", "docker run + network"))
    lines.append("|---|" + "---:|" * len(METHODS))
    per_method_phases = {k: [phases(r) for r in by_method[k]] for k, _ in METHODS}
    for name in PHASE_ORDER:
        cells = []
        present = False
        for key, _ in METHODS:
            values = [p.get(name) for p in per_method_phases[key] if name in p]
            if values and any(v is not None for v in values):
                present = True
                cells.append(fmt_ms(med(values), 1))
            else:
                cells.append("–")
        if present:
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(f"| wall (median) | " + " | ".join(fmt_ms(med([r['wall_s'] for r in by_method[k]]), 1)
                                                   if by_method[k] else "–" for k, _ in METHODS) + " |")
    counts = []
    for key, _ in METHODS:
        rs = [r for r in by_method[key] if r.get("network")]
        if rs:
            c = sorted({(r["events"].get("n_creates", 0), r["events"].get("n_destroys", 0)) for r in rs})
            counts.append(f"{key.replace('_', ' ')} " + ", ".join(f"{a} create + {b} destroy" for a, b in c))
    lines.append("")
    if counts:
        lines.append("Network events per job: " + "; ".join(counts) + ". Where a job creates its network more "
                     "than once, \"→ network create event\" ends at the last create before the container's, and "
                     "\"→ network destroy event\" at the first destroy after the container's removal.")
        lines.append("")

    # Engine API calls through the proxy.
    diag = [r for r in records if r.get("kind") == "diag"]
    if diag and calls:
        for r in diag:
            attach_events(r, events)
        lines.append("### Where the time goes: Docker Engine API calls (diagnostic pass)")
        lines.append("")
        sm_diag = [r for r in diag if r["method"] == "smlocal"]
        dr_diag = [r for r in diag if r["method"] == "docker_run"]
        ping = med([c.get("last_byte", c.get("answered", 0)) - c["sent"] for c in calls
                    if c["path"].endswith("/_ping") and c.get("answered")])
        ping_text = f"; a `/_ping` through it takes {fmt_ms(ping, 2)} ms, engine included" if ping is not None else ""
        lines.append(f"A separate, unmeasured pass of {plural(len(sm_diag), 'smlocal job')} and "
                     f"{len(dr_diag)} `docker run --rm` "
                     f"(after one warm-up each), both pointed at `scripts/bench/containers_docker_proxy.py`, a "
                     f"pass-through unix-socket proxy that timestamps each Engine API request (first byte sent → "
                     f"last byte of the answer{ping_text}). Wall medians in this pass: smlocal "
                     f"{fmt_ms(med([r['wall_s'] for r in sm_diag]))} ms, docker run "
                     f"{fmt_ms(med([r['wall_s'] for r in dr_diag]))} ms. Calls in the order made; median ms per "
                     f"call (calls that run concurrently with others are marked ∥).")
        lines.append("")
        lines.append("| smlocal (its docker_client, one curl handle per call) | median ms | "
                     "`docker run --rm` (the CLI) | median ms |")
        lines.append("|---|---:|---|---:|")
        columns = []
        for group in (sm_diag, dr_diag):
            per_record = describe_calls(group, calls)
            order, durations = [], {}
            for seq in per_record:
                seen_names = {}
                for name, sent, end in seq:
                    seen_names[name] = seen_names.get(name, 0) + 1
                    label = name if seen_names[name] == 1 else f"{name} (#{seen_names[name]})"
                    if label not in durations:
                        order.append(label)
                        durations[label] = []
                    if end is not None:
                        durations[label].append(end - sent)
            # Long-running calls that overlap others: wait, logs, attach.
            rows = []
            for label in order:
                concurrent = any(word in label for word in ("/wait", "/logs", "/attach", "/containers/{id}/json"))
                rows.append((label + (" ∥" if concurrent else ""), fmt_ms(med(durations[label]), 1)))
            columns.append(rows)
        for i in range(max(len(c) for c in columns)):
            left = columns[0][i] if i < len(columns[0]) else ("", "")
            right = columns[1][i] if i < len(columns[1]) else ("", "")
            lines.append(f"| {left[0]} | {left[1]} | {right[0]} | {right[1]} |")
        lines.append("")
        # Per smlocal job: serial Docker calls, Docker's run and exit handling, and the rest.
        serial_names = ("GET /images", "GET /info", "GET /containers/json", "GET /networks", "POST /networks/create",
                        "POST /containers/create", "/start", "DELETE /containers", "DELETE /networks")
        serial_all, net_calls, start_calls, exit_spans, rest, net_counts = [], [], [], [], [], []
        for r, seq in zip(sm_diag, describe_calls(sm_diag, calls)):
            done = [(name, sent, end) for name, sent, end in seq if end]
            serial = sum(end - sent for name, sent, end in done if any(n in name for n in serial_names))
            serial_all.append(serial)
            net_calls.append(sum(end - sent for name, sent, end in done
                                 if name in ("POST /networks/create", "DELETE /networks/{id}")))
            net_counts.append((sum(1 for name, _, _ in done if name == "POST /networks/create"),
                               sum(1 for name, _, _ in done if name == "DELETE /networks/{id}")))
            start_calls.append(sum(end - sent for name, sent, end in done if "/start" in name))
            start_end = max((end for name, sent, end in done if "/start" in name), default=None)
            wait_end = max((end for name, sent, end in done if "/wait" in name), default=None)
            exit_span = wait_end - start_end if start_end and wait_end else 0
            exit_spans.append(exit_span)
            rest.append(r["wall_s"] - serial - exit_span)
        creates = med([c for c, _ in net_counts]) or 0
        deletes = med([d for _, d in net_counts]) or 0
        count_text = ("create + delete" if (creates, deletes) == (1, 1) else
                      f"calls ({creates:g} creates and {deletes:g} deletes a job)")
        lines.append(f"Per smlocal job in this pass (medians): Engine API calls made one after another take "
                     f"{fmt_ms(med(serial_all))} ms — the container start {fmt_ms(med(start_calls))} ms, the job's "
                     f"network {count_text} {fmt_ms(med(net_calls))} ms, the rest a few ms each; the container's "
                     f"run and Docker's exit handling (start answered → wait returned) {fmt_ms(med(exit_spans))} ms; "
                     f"everything else (smlocal's own work between calls, log drain, archives, SQLite, the client's "
                     f"10 ms poll) {fmt_ms(med(rest))} ms.")
        lines.append("")

    # Staging.
    staged = [r for r in records if r.get("kind") == "staging"]
    datasets = {r["set"]: r for r in records if r.get("kind") == "dataset"}
    if staged:
        reps = max(r["rep"] for r in staged)
        lines.append("### File-mode staging: CreateTrainingJob → SecondaryStatus Training")
        lines.append("")
        desc = {}
        for key, d in datasets.items():
            size = d["file_bytes"]
            size_text = f"{size / 1e9:g} GB" if size >= 1e9 else (f"{size / 1e6:g} MB" if size >= 1e6 else
                                                                   f"{size / 1e3:g} kB")
            total = d["apparent_bytes"]
            total_text = f"{total / 1e9:g} GB" if total >= 1e9 else f"{total / 1e6:g} MB"
            desc[key] = (f"{total_text}: {d['files']:,} × {size_text} "
                         f"{'sparse (truncate)' if d['sparse'] else 'written'}", d)
        lines.append(f"One channel `train`, `S3DataType` S3Prefix on a folder (`s3://<bucket>/<set>/`), File mode, "
                     f"same trainer and hyperparameters; {plural(reps, 'job')} per case, medians (min–max). Downloading → "
                     f"Training is smlocal's input staging (SecondaryStatusTransitions StartTimes; Training starts "
                     f"before any container is made). The 10 GB set is 10 sparse files made with `truncate` "
                     f"(apparent size 10 GB, "
                     f"{datasets['10GB']['allocated_bytes'] / 1e6:,.1f} MB allocated), so no disk was "
                     f"needed; the script still checks that the temp disk has 2 GB free and removes everything. "
                     f"\"trainer saw\": the trainer's own `channel train files=N bytes=B` line per host.")
        lines.append("")
        lines.append("| input | hosts | distribution | how smlocal stages it | Downloading → Training ms | "
                     "CreateTrainingJob sent → Training ms | job wall ms | trainer saw (files:bytes per host) |")
        lines.append("|---|---:|---|---|---:|---:|---:|---|")
        cases = sorted({r["case"] for r in staged})
        for case in cases:
            rs = [r for r in staged if r["case"] == case]
            first = rs[0]
            dl = [r["transitions"]["Training"] - r["transitions"]["Downloading"] for r in rs]
            ct = [r["transitions"]["Training"] - r["t0_wall"] for r in rs]
            walls = [r["wall_s"] for r in rs]
            how = ("hard links, one staging folder per host"
                   if first["distribution"] == "ShardedByS3Key" and first["hosts"] > 1
                   else "bind mount of the folder (zero copy)")
            seen = sorted({" ".join(r["seen"]) for r in rs})
            lines.append(f"| {desc[first['set']][0]} | {first['hosts']} | {first['distribution']} | {how} | "
                         f"{fmt_ms(med(dl), 2)} ({fmt_ms(min(dl), 2)}–{fmt_ms(max(dl), 2)}) | "
                         f"{fmt_ms(med(ct), 1)} ({fmt_ms(min(ct), 1)}–{fmt_ms(max(ct), 1)}) | "
                         f"{fmt_ms(med(walls))} | {'; '.join(seen)} |")
        lines.append("")

    # Observations.
    obs = observations(by_method, per_method_phases, staged)
    if obs:
        lines += ["Observations:", ""] + obs + [""]
    if warnings:
        lines += ["Warnings:", ""] + warnings + [""]
    section = "\n".join(line for line in lines if line is not None)
    bench_doc.publish(section, args.write, SECTION_TITLE, "containers.sh")


def observations(by_method, per_method_phases, staged):
    out = []
    sm, dr, dn = by_method["smlocal"], by_method["docker_run"], by_method["docker_run_net"]
    if not (sm and dr):
        return out

    def span(key, name):
        return med([p.get(name) for p in per_method_phases[key] if p.get(name) is not None])

    w_sm, w_dr = med([r["wall_s"] for r in sm]), med([r["wall_s"] for r in dr])
    net_sm = (span("smlocal", "→ network create event") or 0) + (span("smlocal", "→ network destroy event") or 0)
    out.append(f"- smlocal takes {fmt_ms(w_sm)} ms a job against {fmt_ms(w_dr)} ms for `docker run --rm`: "
               f"{fmt_ms(w_sm - w_dr)} ms more. smlocal gives every job a bridge network of its own (so that hosts "
               f"resolve each other as algo-N, even for one host); the spans ending in that network's create and "
               f"destroy events take {fmt_ms(net_sm)} ms together (medians), and `docker run` on the default "
               f"bridge pays neither.")
    creates = med([r["events"].get("n_creates") for r in sm if r.get("events", {}).get("n_creates")])
    if creates and creates > 1:
        out.append(f"- smlocal creates each job's network {creates:g} times (and deletes it as often): it makes one, "
                   f"reads the subnet Docker chose, deletes it and makes it again with that subnet fixed, so "
                   f"that every host gets a fixed address in the others' /etc/hosts. Each extra create + delete "
                   f"pair costs as much as the network itself (see the Engine API table).")
    if dn:
        w_dn = med([r["wall_s"] for r in dn])
        gap, net_cost = w_sm - w_dr, w_dn - w_dr
        share = f", {net_cost / gap:.0%} of smlocal's gap" if gap > 0 else ""
        out.append(f"- `docker run` given a network of its own takes {fmt_ms(w_dn)} ms (three CLI processes "
                   f"included): {fmt_ms(net_cost)} ms more than on the default bridge{share}; smlocal is "
                   f"{fmt_ms(abs(w_sm - w_dn))} ms {'beyond' if w_sm >= w_dn else 'below'} it.")
    st_sm, st_dr = span("smlocal", "→ container start event"), span("docker_run", "→ container start event")
    st_dn = span("docker_run_net", "→ container start event")
    if st_sm is not None and st_dr is not None:
        out.append(f"- Container start (create event → start event) is Docker's own work (network sandbox, veth, "
                   f"mounts, runc): {fmt_ms(st_sm)} ms under smlocal, {fmt_ms(st_dn)} ms for `docker run` on a "
                   f"network of its own, {fmt_ms(st_dr)} ms on the default bridge; a user-defined network "
                   f"(with its embedded DNS) makes the start itself slower too.")
    rm_sm, rm_dr = span("smlocal", "die → container destroy event"), span("docker_run", "die → container destroy event")
    if rm_sm is not None and rm_dr is not None:
        out.append(f"- From the process's exit to the container's removal: {fmt_ms(rm_sm)} ms under smlocal (wait "
                   f"returns after Docker's exit handling, then up to 10 ms of log drain polling, then DELETE) and "
                   f"{fmt_ms(rm_dr)} ms with `docker run --rm` (the daemon removes it itself).")
    if by_method["compose"]:
        w_c = med([r["wall_s"] for r in by_method["compose"]])
        pre_c = span("compose", "→ network create event")
        rm_c = span("compose", "die → container destroy event")
        out.append(f"- docker-compose (v1, Python) takes {fmt_ms(w_c)} ms for the same container and network: "
                   f"{fmt_ms(pre_c)} ms pass before its network exists and {fmt_ms(rm_c)} ms from the exit to the "
                   f"container's removal (`up` noticing the exit and ending, then `down` starting), mostly its "
                   f"own start-up, twice.")
    up = span("smlocal", "→ Completed (Uploading: model.tar.gz, output.tar.gz)")
    pre = span("smlocal", "request → SecondaryStatus Training (workspace, staging)")
    seen = span("smlocal", "→ the client sees Completed (10 ms polling)")
    if up is not None and pre is not None:
        out.append(f"- Every network call sits on the job's critical path: the network is made before the "
                   f"container is created, and deleted after the container's removal, before Uploading and "
                   f"Completed.")
        out.append(f"- smlocal's own steps are small: request → Training {fmt_ms(pre, 1)} ms, uploading the "
                   f"two archives and finishing {fmt_ms(up, 1)} ms, and the client notices Completed "
                   f"{fmt_ms(seen, 1)} ms later (the 10 ms poll).")
    if staged:
        dl = {}
        for r in staged:
            dl.setdefault((r["set"], r["hosts"], r["distribution"]), []).append(
                r["transitions"]["Training"] - r["transitions"]["Downloading"])
        small, big = med(dl.get(("10MB", 1, "FullyReplicated"), [])), med(dl.get(("10GB", 1, "FullyReplicated"), []))
        shard = med(dl.get(("files", 2, "ShardedByS3Key"), []))
        repl = med(dl.get(("files", 2, "FullyReplicated"), []))
        if small is not None and big is not None:
            out.append(f"- Staging is flat in the data size: {fmt_ms(small, 2)} ms for 10 MB and {fmt_ms(big, 2)} ms "
                       f"for 10 GB (the folder is bind-mounted; nothing is read or copied). ShardedByS3Key over "
                       f"many files costs a hard link per file: {fmt_ms(shard, 1)} ms for the files set on 2 hosts, "
                       f"against {fmt_ms(repl, 2)} ms for the same files FullyReplicated.")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("overhead")
    p.add_argument("url")
    p.add_argument("results")
    p.add_argument("--smlocal", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--runs", type=int, default=10)
    p.set_defaults(func=overhead)
    p = sub.add_parser("staging")
    p.add_argument("url")
    p.add_argument("results")
    p.add_argument("--s3-root", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--shard-files", type=int, default=1000)
    p.set_defaults(func=staging)
    p = sub.add_parser("diagnose")
    p.add_argument("url")
    p.add_argument("results")
    p.add_argument("--work", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--jobs", type=int, default=5)
    p.add_argument("--proxy-socket", required=True)
    p.set_defaults(func=diagnose)
    p = sub.add_parser("render")
    p.add_argument("results")
    p.add_argument("events")
    p.add_argument("proxy_log")
    p.add_argument("--meta", required=True)
    p.add_argument("--write", metavar="DOC")
    p.set_defaults(func=render)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
