#!/usr/bin/env python3
"""Helpers for scripts/bench/api.sh: set-up calls, store checks, and the Markdown report.

Subcommands (all traffic goes to 127.0.0.1; every loop is bounded in count and time):
  free-port                          print a free TCP port on 127.0.0.1
  create-bench0 URL [--boto3]        create training job bench-0 and wait until it is terminal
  settle URL N T PREFIX TIMEOUT      check that the N jobs PREFIX-<k>-<i> made by create_jobs.lua
                                     (T threads) all exist, create any that are missing, and wait
                                     until none is InProgress/Stopping; prints key=value facts
  list-check URL                     one ListTrainingJobs {"MaxResults":100}: print how many came back
  render RESULTS [--write DOC]       print the Markdown section; with --write, put it in DOC
"""

import argparse
import datetime
import json
import os
import re
import socket
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_doc  # noqa: E402
import smlocal_client  # noqa: E402

SECTION_TITLE = "## API throughput and latency (scripts/bench/api.sh)"

JOB_TEMPLATE = {
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    "AlgorithmSpecification": {"TrainingImage": "simulator/quadratic", "TrainingInputMode": "File"},
    "HyperParameters": {"x": "1", "y": "-2", "sim_seconds": "0", "epochs": "1"},
    "OutputDataConfig": {"S3OutputPath": "s3://bench-bucket/output"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
}
TERMINAL = {"Completed", "Failed", "Stopped"}
TEXT_KEYS = {"date", "git", "wrk_version", "moto_version", "load_before", "load_after"}


Client = smlocal_client.Client


def free_port(_args):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])


def create_bench0(args):
    job = dict(JOB_TEMPLATE, TrainingJobName="bench-0")
    deadline = time.monotonic() + 30
    if args.boto3:
        import boto3  # moto routes requests by their SigV4 scope, so use a real SDK client there

        sm = boto3.client("sagemaker", endpoint_url=args.url, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
        sm.create_training_job(**job)
        status = lambda: sm.describe_training_job(TrainingJobName="bench-0")["TrainingJobStatus"]  # noqa: E731
    else:
        client = Client(args.url)
        code, body = client.call("CreateTrainingJob", job)
        if code != 200:
            sys.exit(f"CreateTrainingJob bench-0 failed: {code} {body}")
        status = lambda: client.call("DescribeTrainingJob", {"TrainingJobName": "bench-0"})[1]["TrainingJobStatus"]  # noqa: E731
    while True:
        current = status()
        if current in TERMINAL:
            print(current)
            return
        if time.monotonic() > deadline:
            sys.exit(f"bench-0 still {current} after 30 s")
        time.sleep(0.05)


def list_all(client):
    """Every job as name -> status, following NextToken (at most 1,000 pages)."""
    jobs, token = {}, None
    for _ in range(1000):
        body = {"MaxResults": 100}
        if token:
            body["NextToken"] = token
        code, page = client.call("ListTrainingJobs", body)
        if code != 200:
            sys.exit(f"ListTrainingJobs failed: {code} {page}")
        for summary in page.get("TrainingJobSummaries", []):
            jobs[summary["TrainingJobName"]] = summary["TrainingJobStatus"]
        token = page.get("NextToken")
        if not token:
            return jobs
    sys.exit("ListTrainingJobs: more than 1,000 pages")


def expected_names(total, threads, prefix):
    """The names create_jobs.lua gives: thread k (1-based) makes <prefix>-<k>-1 .. its quota."""
    names = []
    for k in range(1, threads + 1):
        quota = total // threads + (1 if k <= total % threads else 0)
        names += [f"{prefix}-{k}-{i}" for i in range(1, quota + 1)]
    return names


def settle(args):
    client = Client(args.url)
    wanted = expected_names(args.total, args.threads, args.prefix)
    started = time.monotonic()
    jobs = list_all(client)
    missing = [name for name in wanted if name not in jobs]
    topped_up = 0
    for name in missing:  # only if some create failed or got lost; reported beside the figures
        code, body = client.call("CreateTrainingJob", dict(JOB_TEMPLATE, TrainingJobName=name))
        if code != 200:
            sys.exit(f"top-up CreateTrainingJob {name} failed: {code} {body}")
        topped_up += 1
    polls = 0
    while True:
        polls += 1
        jobs = list_all(client)
        busy = sum(1 for name in wanted if jobs.get(name) not in TERMINAL)
        if busy == 0:
            break
        if time.monotonic() - started > args.timeout:
            sys.exit(f"{busy} of {len(wanted)} jobs still not terminal after {args.timeout} s")
        time.sleep(0.5)
    absent = [name for name in wanted if name not in jobs]
    if absent:
        sys.exit(f"{len(absent)} jobs missing from ListTrainingJobs, e.g. {absent[:3]}")
    statuses = {}
    for name in wanted:
        statuses[jobs[name]] = statuses.get(jobs[name], 0) + 1
    print(f"settle_s={time.monotonic() - started:.2f} topped_up={topped_up} jobs_total={len(jobs)} "
          f"polls={polls} " + " ".join(f"status_{k}={v}" for k, v in sorted(statuses.items())))


def list_check(args):
    client = Client(args.url)
    code, page = client.call("ListTrainingJobs", {"MaxResults": 100})
    if code != 200:
        sys.exit(f"ListTrainingJobs failed: {code} {page}")
    size = len(json.dumps(page))
    print(f"list_items={len(page.get('TrainingJobSummaries', []))} list_has_token={int(bool(page.get('NextToken')))} "
          f"list_body_bytes={size}")


# --- report ---------------------------------------------------------------------------------------

def read_results(path):
    """Lines of `<run name> key=value ...` into {run name: {key: value}} (numbers where they parse)."""
    runs = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            entry = runs.setdefault(parts[0], {})
            for part in parts[1:]:
                key, _, value = part.partition("=")
                numeric = key not in TEXT_KEYS and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value)
                entry[key] = float(value) if numeric else value
    return runs


machine_facts = bench_doc.machine_facts


def rps(run):
    return run["requests"] / (run["duration_us"] / 1e6)


def ms(us):
    return f"{us / 1000:.2f}"


def fmt_rate(value):
    return f"{value:,.0f}"


def verdict(ok):
    return "**PASS**" if ok else "**MISS**"


def errors_of(run):
    keys = ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    return int(sum(run.get(k, 0) for k in keys))


def render(args):
    runs = read_results(args.results)
    meta = runs.get("meta", {})
    facts = machine_facts()
    duration = int(meta.get("duration_s", 10))
    jobs = int(meta.get("jobs", 10000))
    lines = [SECTION_TITLE, ""]
    lines.append("Command: `scripts/bench/api.sh --write` (progress on stderr, this section on stdout).")
    lines.append("")
    lines.append(f"- Machine: {facts['nproc']} CPUs (`nproc`), {facts['cpu']}, {facts['os']}, "
                 f"kernel {facts['kernel']}. Load average before the run: {meta.get('load_before', '?').replace('_', ' ')}; "
                 f"after: {meta.get('load_after', '?').replace('_', ' ')}.")
    lines.append(f"- Date: {meta.get('date', datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))}. "
                 f"smlocal `{meta.get('git', '?')}`, Release build (`build-bench`), `--threads 2`.")
    lines.append(f"- Load generator: wrk {meta.get('wrk_version', '?')} on the same 2 CPUs as the server under test "
                 f"(so wrk's own CPU counts against every server alike; the load averages above show other work "
                 f"on the machine too), {duration} s per run after a 2 s warm-up, `-t1 -c1` and `-t2 -c16`, "
                 f"keep-alive; latencies are wrk's (no coordinated-omission correction). Every Describe request: "
                 f"`POST /` with `X-Amz-Target: SageMaker.DescribeTrainingJob`, "
                 f"`Content-Type: application/x-amz-json-1.1`, a dummy SigV4 `Authorization` header, body "
                 f"`{{\"TrainingJobName\":\"bench-0\"}}` (`scripts/bench/aws_json.lua`).")
    bodies = runs.get("bodies", {})
    lines.append(f"- moto_server {meta.get('moto_version', '?')} (`moto_server -H 127.0.0.1 -p PORT`, its Werkzeug "
                 f"server, which closes the connection after every response); bench-0 made there with boto3. "
                 f"Ceiling: `scripts/bench/ceiling_server.cpp`, a Boost.Beast keep-alive server, 2 threads, "
                 f"g++ -O2, that answers every request with the same small JSON body; it runs a second time with "
                 f"that body padded to the size of smlocal's answer, only to show what the bytes alone cost.")
    lines.append("")

    lines.append("### DescribeTrainingJob: smlocal vs moto_server vs a trivial Beast server")
    lines.append("")
    lines.append("| concurrency | server | response body | requests/s | p50 ms | p99 ms | errors |")
    lines.append("|---:|---|---:|---:|---:|---:|---:|")
    servers = (("smlocal", "smlocal", "smlocal_bytes"), ("moto", "moto_server", "moto_bytes"),
               ("ceiling", "ceiling (the target's reference)", "ceiling_bytes"),
               ("ceiling_sized", "ceiling, body padded to smlocal's size (diagnostic)", "ceiling_sized_bytes"))
    for conc in (1, 16):
        for key, label, size_key in servers:
            run = runs.get(f"describe_{key}_c{conc}")
            size = f"{int(bodies[size_key]):,} B" if size_key in bodies else "?"
            if run is None:
                lines.append(f"| {conc} | {label} | {size} | n/a | n/a | n/a | n/a |")
                continue
            lines.append(f"| {conc} | {label} | {size} | {fmt_rate(rps(run))} | {ms(run['p50_us'])} | "
                         f"{ms(run['p99_us'])} | {errors_of(run)} |")
    lines.append("")
    lines.append("| DescribeTrainingJob requests/s | c=1 | c=16 | target | c=1 | c=16 |")
    lines.append("|---|---:|---:|---|---|---|")
    ratio_rows = (("smlocal / moto_server", "moto", lambda r: f"{r:,.1f}×", lambda r: r >= 40, "≥ 40×"),
                  ("smlocal / ceiling", "ceiling", lambda r: f"{r * 100:.0f}%", lambda r: r >= 0.5, "≥ 50%"),
                  ("smlocal / ceiling with smlocal-sized body (diagnostic)", "ceiling_sized",
                   lambda r: f"{r * 100:.0f}%", None, "none"))
    for label, other, show, check, target in ratio_rows:
        cells, verdicts = [], []
        for conc in (1, 16):
            mine, theirs = runs.get(f"describe_smlocal_c{conc}"), runs.get(f"describe_{other}_c{conc}")
            if mine and theirs and rps(theirs) > 0:
                ratio = rps(mine) / rps(theirs)
                cells.append(show(ratio))
                verdicts.append(verdict(check(ratio)) if check else "")
            else:
                cells.append("n/a")
                verdicts.append("n/a")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {target} | {verdicts[0]} | {verdicts[1]} |")
    lines.append("")

    lines.append(f"### smlocal with {jobs:,} training jobs")
    lines.append("")
    lines.append("| measure | figure | target | result |")
    lines.append("|---|---|---|---|")
    lst = runs.get("list_smlocal_c1")
    check = runs.get("list_check", {})
    if lst:
        note = f"{int(check.get('list_items', 0))} summaries + NextToken, {int(check.get('list_body_bytes', 0)):,} B"
        lines.append(f"| ListTrainingJobs `{{\"MaxResults\":100}}`, c=1 ({note}): p50 / p99 | "
                     f"{ms(lst['p50_us'])} / {ms(lst['p99_us'])} ms | p50 ≤ 2 ms | {verdict(lst['p50_us'] <= 2000)} |")
        lines.append(f"| ListTrainingJobs `{{\"MaxResults\":100}}`, c=1: requests/s | {fmt_rate(rps(lst))} "
                     f"({errors_of(lst)} errors) | | |")
    create = runs.get("create")
    settle_facts = runs.get("settle", {})
    if create:
        wall = create.get("create_wall_s", -1)
        rate = create["created"] / wall if wall and wall > 0 else 0
        lines.append(f"| CreateTrainingJob rate while creating the {jobs:,} (wrk `-t2 -c8`, "
                     f"`scripts/bench/create_jobs.lua`: unique names, one `wrk.format` per request; "
                     f"{int(create['created']):,} succeeded, {int(create['create_failed'])} failed, "
                     f"{int(settle_facts.get('topped_up', 0))} topped up afterwards) | "
                     f"{rate:,.0f} jobs/s ({int(create['created']):,} in {wall:.2f} s; per request p50 "
                     f"{ms(create['p50_us'])} ms, p99 {ms(create['p99_us'])} ms) | | |")
    if settle_facts:
        statuses = ", ".join(f"{int(v):,} {k[len('status_'):]}" for k, v in settle_facts.items()
                             if k.startswith("status_"))
        lines.append(f"| All {jobs:,} terminal | {settle_facts.get('settle_s', 0):.1f} s after the last create was "
                     f"answered ({statuses}) | | |")
    rss_idle = runs.get("rss_idle", {})
    rss_after = runs.get("rss_after", {})
    def mb(kib):  # /proc's "kB" are KiB; figures in MB (10^6 bytes), as the target is stated
        return kib * 1024 / 1e6

    if rss_idle:
        lines.append(f"| RSS idle after start, before any request (VmRSS) | {mb(rss_idle['vmrss_kb']):.1f} MB | "
                     f"≤ 30 MB | {verdict(mb(rss_idle['vmrss_kb']) <= 30)} |")
    if rss_after:
        lines.append(f"| RSS idle after the {jobs:,} jobs (VmRSS; peak VmHWM) | {mb(rss_after['vmrss_kb']):.1f} MB "
                     f"(peak {mb(rss_after['vmhwm_kb']):.1f} MB) | | |")
    lines.append("")
    notes = []
    for name, run in sorted(runs.items()):
        if name.startswith(("describe_", "list_smlocal")) and errors_of(run):
            notes.append(f"- {name}: {errors_of(run)} non-2xx or socket errors: its figures are suspect.")
    if notes:
        lines += ["Warnings:", ""] + notes + [""]
    section = "\n".join(lines)
    bench_doc.publish(section, args.write, SECTION_TITLE, "api.sh")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("free-port").set_defaults(func=free_port)
    p = sub.add_parser("create-bench0")
    p.add_argument("url")
    p.add_argument("--boto3", action="store_true")
    p.set_defaults(func=create_bench0)
    p = sub.add_parser("settle")
    p.add_argument("url")
    p.add_argument("total", type=int)
    p.add_argument("threads", type=int)
    p.add_argument("prefix")
    p.add_argument("timeout", type=float)
    p.set_defaults(func=settle)
    p = sub.add_parser("list-check")
    p.add_argument("url")
    p.set_defaults(func=list_check)
    p = sub.add_parser("render")
    p.add_argument("results")
    p.add_argument("--write", metavar="DOC")
    p.set_defaults(func=render)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
