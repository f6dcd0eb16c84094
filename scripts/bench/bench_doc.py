"""docs/BENCHMARKS.md: one section per benchmark script, each replaced only by its own `--write`."""

import math
import os
import platform
import sys

HEADER = ("# Benchmarks\n\n"
          "Each section is written by the script named in its title, run with `--write`, which replaces\n"
          "only its own section. Figures come from one real run on the machine described in the section.\n")


def machine_facts():
    """nproc, CPU model, OS and kernel, for a section's "Machine:" line."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        with open("/etc/os-release") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
            os_name = fields.get("PRETTY_NAME", os_name).strip('"')
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "os": os_name, "kernel": platform.release()}


def nearest_rank(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def load_text(meta):
    """The load sentences of a section's "Machine:" line, from meta keys load_before, load_after and, if
    present, busy_before, busy_after (common.sh busy_percent, taken while the benchmark was idle)."""
    text = f"Load average before the run: {meta.get('load_before', '?')}; after: {meta.get('load_after', '?')}. "
    if meta.get("busy_before") and meta.get("busy_after"):
        return text + (f"The machine is shared: other work kept its CPUs {meta['busy_before']}% busy in the 2 s "
                       f"before the measurements and {meta['busy_after']}% in the 2 s after (/proc/stat, with "
                       f"this benchmark idle).")
    return text + "The machine is shared: other work shows in these."


def publish(section, doc, title, who):
    """Prints the section; with `doc` (the driver's --write), also replaces it there."""
    print(section, end="" if section.endswith("\n") else "\n")
    if doc:
        write_section(doc, title, section, who)


def write_section(path, title, section, who):
    """Replaces the section headed `title` (a '## ...' line) in `path`, or appends it."""
    text = open(path).read() if os.path.exists(path) else HEADER
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == title), None)
    if start is None:
        new_text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before = "\n".join(lines[:start]).rstrip("\n")
        after = "\n".join(lines[end:]).rstrip("\n")
        new_text = before + "\n\n" + section.rstrip("\n") + "\n" + ("\n" + after + "\n" if after else "")
    # Write aside and rename, so a failed run never leaves a half-written document.
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(new_text)
    os.replace(tmp, path)
    print(f"[{who}] wrote {path}", file=sys.stderr)
