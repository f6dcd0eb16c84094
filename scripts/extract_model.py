#!/usr/bin/env python3
"""Writes api/sagemaker/model.json: botocore's SageMaker model trimmed to the operations smlocal serves.

Run by hand after a botocore upgrade; the output is committed and embedded into the binary.
The format stays botocore's own (metadata, operations, shapes), minus every `documentation` field
and every shape the served operations do not reach through their inputs, outputs and errors.
"""

import json
import pathlib
import sys

import botocore
import botocore.loaders

OPERATIONS = [
    "CreateTrainingJob",
    "DescribeTrainingJob",
    "ListTrainingJobs",
    "StopTrainingJob",
    "DeleteTrainingJob",
    "CreateHyperParameterTuningJob",
    "DescribeHyperParameterTuningJob",
    "ListHyperParameterTuningJobs",
    "StopHyperParameterTuningJob",
    "DeleteHyperParameterTuningJob",
    "ListTrainingJobsForHyperParameterTuningJob",
    "AddTags",
    "ListTags",
    "DeleteTags",
]

METADATA_KEYS = ["apiVersion", "protocol", "jsonVersion", "targetPrefix", "serviceId", "signingName",
                 "endpointPrefix"]

# Keys that only serve documentation or SDK code generation; the validator never reads them.
DROPPED_KEYS = {"documentation", "deprecated", "deprecatedMessage", "locationName", "box"}


def strip(node):
    """Copies a JSON node without documentation-only keys."""
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in DROPPED_KEYS}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def referenced_shapes(shape):
    """Names of the shapes one shape points at directly."""
    refs = []
    for member in shape.get("members", {}).values():
        refs.append(member["shape"])
    for key in ("member", "key", "value"):
        if key in shape:
            refs.append(shape[key]["shape"])
    return refs


def main():
    model = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")
    all_shapes = model["shapes"]

    operations = {}
    pending = []
    for name in OPERATIONS:
        op = model["operations"][name]
        kept = {"name": op["name"], "http": op["http"]}
        for key in ("input", "output"):
            if key in op:
                kept[key] = {"shape": op[key]["shape"]}
                pending.append(op[key]["shape"])
        if "errors" in op:
            kept["errors"] = [{"shape": e["shape"]} for e in op["errors"]]
            pending.extend(e["shape"] for e in op["errors"])
        operations[name] = kept

    # Walk the shape graph from the operations' roots.
    reached = set()
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending.extend(referenced_shapes(all_shapes[name]))

    out = {
        "metadata": {k: model["metadata"][k] for k in METADATA_KEYS if k in model["metadata"]},
        "operations": operations,
        "shapes": {name: strip(all_shapes[name]) for name in reached},
    }

    target = pathlib.Path(__file__).resolve().parent.parent / "api" / "sagemaker" / "model.json"
    text = json.dumps(out, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    target.write_text(text, encoding="utf-8")
    print(f"{target}: {len(operations)} operations, {len(reached)} shapes, {len(text)} bytes "
          f"(botocore {botocore.__version__})", file=sys.stdout)


if __name__ == "__main__":
    main()
