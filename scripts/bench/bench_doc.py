"""docs/BENCHMARKS.md: one section per benchmark script, each replaced only by its own `--write`."""

import os
import sys

HEADER = ("# Benchmarks\n\n"
          "Each section is written by the script named in its title, run with `--write`, which replaces\n"
          "only its own section. Figures come from one real run on the machine described in the section.\n")


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
