#!/usr/bin/env python3
"""Helpers for scripts/bench/hpo/run.sh and tuner_overhead.sh.

Subcommands (all traffic goes to 127.0.0.1; every loop is bounded in count and time):
  overhead URL --json FILE [--jobs 200] [--parallel 10] [--repeats 3] [--timeout 300]
        run REPEATS Random tuning jobs of JOBS zero-duration simulator children (simulator/quadratic,
        sim_seconds=0, epochs=1) one after another; time each from sending Create to seeing Completed
        (Describe every 25 ms); read every child's timestamps and SecondaryStatusTransitions; write FILE
  overhead-table FILE
        print the Markdown of the overhead measurement
  render --quality MD --overhead JSON [--meta K=V ...] [--write DOC]
        print the benchmark's section; with --write, replace it in DOC
"""

import argparse
import json
import os
import statistics
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench_doc  # noqa: E402
import smlocal_client  # noqa: E402

SECTION_TITLE = "## Hyperparameter tuning quality and overhead (scripts/bench/hpo/run.sh)"
TARGET_MS_PER_CHILD = 5.0
POLL_S = 0.025
TUNER_POLL_S = 0.1  # poll_interval in emulator/tuning/tuning_jobs.cpp


class Client(smlocal_client.Client):
    """The shared keep-alive client, raising on any answer but 200: a failed call must not pass for
    tuner overhead."""

    def call(self, operation, body):
        status, out = super().call(operation, body)
        if status != 200:
            raise RuntimeError(f"{operation}: HTTP {status} {out}")
        return out


def tuning_request(name, jobs, parallel):
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "RandomSeed": 7,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "-5", "MaxValue": "5", "ScalingType": "Linear"},
                {"Name": "y", "MinValue": "-5", "MaxValue": "5", "ScalingType": "Linear"},
            ]},
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "simulator/quadratic",
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "validation:loss", "Regex": "validation:loss=([-0-9.eE+]+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "s3://bench-bucket/hpo-output"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "StaticHyperParameters": {"sim_seconds": "0", "epochs": "1"},
        },
    }


def list_children(client, name):
    out, token = [], None
    for _ in range(1000):
        body = {"HyperParameterTuningJobName": name, "MaxResults": 100}
        if token:
            body["NextToken"] = token
        page = client.call("ListTrainingJobsForHyperParameterTuningJob", body)
        out += page.get("TrainingJobSummaries", [])
        token = page.get("NextToken")
        if not token:
            return out
    raise RuntimeError("too many pages")


def one_run(client, name, jobs, parallel, timeout):
    request = tuning_request(name, jobs, parallel)
    started = time.monotonic()
    client.call("CreateHyperParameterTuningJob", request)
    deadline = started + timeout
    polls = 0
    while True:
        described = client.call("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": name})
        polls += 1
        status = described["HyperParameterTuningJobStatus"]
        if status != "InProgress":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} still InProgress after {timeout} s")
        time.sleep(POLL_S)
    elapsed = time.monotonic() - started
    if status != "Completed":
        raise RuntimeError(f"{name} ended {status}: {described.get('FailureReason')}")
    counters = described["TrainingJobStatusCounters"]
    if counters.get("Completed") != jobs:
        raise RuntimeError(f"{name}: {counters}")

    children = []
    for summary in list_children(client, name):
        detail = client.call("DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]})
        phases = {t["Status"]: t["EndTime"] - t["StartTime"]
                  for t in detail.get("SecondaryStatusTransitions", []) if "EndTime" in t}
        children.append({"name": summary["TrainingJobName"], "created": detail["CreationTime"],
                         "ended": detail["TrainingEndTime"], "phases": phases})
    if len(children) != jobs:
        raise RuntimeError(f"{name}: listed {len(children)} children")
    return {"name": name, "elapsed_s": elapsed, "describe_polls": polls,
            "tuning_created": described["CreationTime"], "tuning_ended": described["HyperParameterTuningEndTime"],
            "children": children}


def analyse(run):
    """Launch rounds (children created within 30 ms of each other) and where the time went."""
    children = sorted(run["children"], key=lambda c: c["created"])
    rounds = []
    for child in children:
        if rounds and child["created"] - rounds[-1][-1]["created"] < 0.03:
            rounds[-1].append(child)
        else:
            rounds.append([child])
    spans, gaps = [], []
    for i, group in enumerate(rounds):
        start = min(c["created"] for c in group)
        end = max(c["ended"] for c in group)
        spans.append(end - start)
        if i + 1 < len(rounds):
            gaps.append(min(c["created"] for c in rounds[i + 1]) - end)
    launches = [min(c["created"] for c in group) for group in rounds]
    intervals = [b - a for a, b in zip(launches, launches[1:])]
    first_launch = children[0]["created"] - run["tuning_created"]
    last_end = max(c["ended"] for c in children)
    finish = run["tuning_ended"] - last_end
    phase_names = sorted({p for c in children for p in c["phases"]})
    phases = {p: statistics.median(c["phases"].get(p, 0.0) for c in children) for p in phase_names}
    lifetimes = [c["ended"] - c["created"] for c in children]
    return {
        "rounds": len(rounds),
        "round_sizes": sorted({len(r) for r in rounds}),
        "first_launch_s": first_launch,
        "span_sum_s": sum(spans),
        "span_median_s": statistics.median(spans),
        "gap_sum_s": sum(gaps),
        "gap_median_s": statistics.median(gaps) if gaps else 0.0,
        "finish_s": finish,
        "round_interval_median_s": statistics.median(intervals) if intervals else 0.0,
        "server_s": run["tuning_ended"] - run["tuning_created"],
        "child_lifetime_median_s": statistics.median(lifetimes),
        "phases_median_s": phases,
    }


def overhead(args):
    client = Client(args.url)
    runs = []
    for i in range(args.repeats):
        name = f"hpo-overhead-{i + 1}"
        print(f"[hpo_helper] tuning job {name}: {args.jobs} children, parallel {args.parallel}", file=sys.stderr)
        run = one_run(client, name, args.jobs, args.parallel, args.timeout)
        run["analysis"] = analyse(run)
        print(f"[hpo_helper]   {run['elapsed_s']:.3f} s = {1000 * run['elapsed_s'] / args.jobs:.2f} ms per child, "
              f"{run['analysis']['rounds']} launch rounds", file=sys.stderr)
        runs.append(run)
    with open(args.json, "w") as f:
        json.dump({"jobs": args.jobs, "parallel": args.parallel, "runs": runs}, f)


def ms(seconds):
    return f"{1000 * seconds:,.0f}"


def overhead_markdown(data):
    jobs, parallel, runs = data["jobs"], data["parallel"], data["runs"]
    for r in runs:
        r["analysis"] = analyse(r)  # recomputed from the raw timestamps
    per_child = [1000 * r["elapsed_s"] / jobs for r in runs]
    headline = statistics.median(per_child)
    ok = headline <= TARGET_MS_PER_CHILD
    lines = []
    lines.append(f"### Tuner overhead: {jobs} zero-duration children, MaxParallelTrainingJobs {parallel}")
    lines.append("")
    lines.append(f"A Random tuning job of {jobs} children on `simulator/quadratic` with `sim_seconds=0 epochs=1` "
                 f"(the children do no work), timed from sending CreateHyperParameterTuningJob until "
                 f"DescribeHyperParameterTuningJob (polled every {int(POLL_S * 1000)} ms on one keep-alive "
                 f"connection) shows Completed; {len(runs)} tuning jobs one after another on one server. "
                 f"The breakdown comes from the server's own timestamps: children created within 30 ms of each "
                 f"other form one launch round.")
    lines.append("")
    lines.append("| run | Create → Completed | per child | launch rounds (size) | Create → first child | "
                 "rounds: first child created → last child ended (sum / median) | waiting for the next tuner poll "
                 "(sum / median) | last child ended → tuning job Completed |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        a = r["analysis"]
        sizes = ", ".join(str(s) for s in a["round_sizes"])
        lines.append(f"| {r['name']} | {ms(r['elapsed_s'])} ms | {1000 * r['elapsed_s'] / jobs:.2f} ms | "
                     f"{a['rounds']} ({sizes}) | {ms(a['first_launch_s'])} ms | {ms(a['span_sum_s'])} / "
                     f"{ms(a['span_median_s'])} ms | {ms(a['gap_sum_s'])} / {ms(a['gap_median_s'])} ms | "
                     f"{ms(a['finish_s'])} ms |")
    lines.append("")
    # One child's life, medians over all children of all runs.
    phase_names = sorted({p for r in runs for p in r["analysis"]["phases_median_s"]},
                         key=lambda p: ["Starting", "Downloading", "Training", "Uploading", "Completed"].index(p)
                         if p in ["Starting", "Downloading", "Training", "Uploading", "Completed"] else 99)
    lifetimes = [c["ended"] - c["created"] for r in runs for c in r["children"]]
    phase_text = ", ".join(
        f"{p} {statistics.median(c['phases'].get(p, 0.0) for r in runs for c in r['children']) * 1000:.0f} ms"
        for p in phase_names if p != "Completed")
    lines.append(f"| target | measured (median of {len(runs)}) | result |")
    lines.append("|---|---|---|")
    lines.append(f"| time per child ≤ {TARGET_MS_PER_CHILD:g} ms | {headline:.2f} ms "
                 f"({', '.join(f'{v:.2f}' for v in per_child)}) | {'**PASS**' if ok else '**MISS**'} |")
    lines.append("")
    min_rounds = -(-jobs // parallel)
    interval = statistics.median(r["analysis"]["round_interval_median_s"] for r in runs)
    span_round = statistics.median(r["analysis"]["span_median_s"] for r in runs)
    lifetime = statistics.median(lifetimes)
    lines.append(f"Where the time goes: the tuner runs a round as soon as a child ends (and polls every "
                 f"{int(TUNER_POLL_S * 1000)} ms for early stopping); launch rounds start {interval * 1000:.0f} ms "
                 f"apart (median). A child's life: {lifetime * 1000:.0f} ms from CreateTrainingJob to its end (median; "
                 f"SecondaryStatusTransitions: {phase_text}), most of it the simulator run and writing and syncing "
                 f"model.tar.gz and output.tar.gz; a whole round, first launch to last end, {span_round * 1000:.0f} ms "
                 f"(median). With {parallel} children at a time, {jobs} children take at least {min_rounds} rounds of "
                 f"a child's life each.")
    return "\n".join(lines), ok, headline


def overhead_table(args):
    with open(args.json) as f:
        text, _, _ = overhead_markdown(json.load(f))
    print(text)


def render(args):
    meta = dict(kv.split("=", 1) for kv in args.meta)
    with open(args.quality) as f:
        quality = f.read().rstrip("\n")
    with open(args.overhead) as f:
        over_text, _, _ = overhead_markdown(json.load(f))
    lines = [SECTION_TITLE, ""]
    lines.append("Command: `scripts/bench/hpo/run.sh --write` (progress on stderr, this section on stdout).")
    lines.append("")
    lines.append(f"- Machine: {meta.get('machine', 'unknown')}. Load average before the run: "
                 f"{meta.get('load_before', '?')}; after: {meta.get('load_after', '?')}.")
    lines.append(f"- Date: {meta.get('date', '?')}. smlocal `{meta.get('git', '?')}`, Release build "
                 f"(`build-bench`). Quality: `scripts/bench/hpo/hpo_quality.cpp` (g++ -O2, linked against "
                 f"build-bench's `libsmlocal_core.a`), {meta.get('quality_seconds', '?')} s wall. Overhead: "
                 f"`scripts/bench/hpo/tuner_overhead.sh`, `smlocal serve --port 0 --threads 2`, "
                 f"{meta.get('overhead_seconds', '?')} s wall.")
    lines.append("- Quality runs replay the tuner's loop in virtual time with the server's own classes "
                 "(parameter_space's unit-cube mapping and rendering, random_strategy, bayesian_strategy, "
                 "hyperband_stopper, median_stopper) and the simulator's objectives and learning curve "
                 "(`simulator::learning_curve_value`, noise 0, values rounded as printed). Ranges: Branin x1 ∈ "
                 "[−5, 10], x2 ∈ [0, 15]; Hartmann6 x1…x6 ∈ [0, 1]; all Linear. One tick of the virtual clock is "
                 "one epoch of every running child; after each tick the tuner judges running children (stopper), "
                 "then fills free slots (a slot freed by a stop or an end at the same tick: the real tuner refills it at its "
                 "next round, at most 100 ms later, negligible against epochs of seconds), calling propose with the history "
                 "in launch order and drawing once more for the child's name, as `tune_once` does. Simple regret "
                 "= best final objective among the children − the known minimum; a child stopped early "
                 "contributes the value of its last epoch (its last metric is its final metric, as in the real "
                 "tuner). IQM = mean of the middle 50% of the seeds. Seeds are RandomSeed values; parallelism is "
                 "MaxParallelTrainingJobs.")
    lines.append("")
    lines.append(quality)
    lines.append("")
    lines.append(over_text)
    section = "\n".join(lines) + "\n"
    bench_doc.publish(section, args.write, SECTION_TITLE, "hpo run.sh")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("overhead")
    p.add_argument("url")
    p.add_argument("--json", required=True)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--parallel", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300)
    p.set_defaults(func=overhead)
    p = sub.add_parser("overhead-table")
    p.add_argument("json")
    p.set_defaults(func=overhead_table)
    p = sub.add_parser("render")
    p.add_argument("--quality", required=True)
    p.add_argument("--overhead", required=True)
    p.add_argument("--meta", nargs="*", default=[])
    p.add_argument("--write", metavar="DOC")
    p.set_defaults(func=render)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
