#!/usr/bin/env python3
"""Writes the service models smlocal embeds, trimmed to the operations it serves:
api/sagemaker/model.json (SageMaker) and api/logs/model.json (CloudWatch Logs).

Run by hand after a botocore upgrade (`scripts/extract_model.py [service ...]`, default every
service); the output is committed and embedded into the binary.
The format stays botocore's own (metadata, operations, shapes), minus every `documentation` field
and every shape the served operations do not reach through their inputs, outputs and errors.
"""

import json
import pathlib
import sys

import botocore
import botocore.loaders

SAGEMAKER_OPERATIONS = [
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

LOGS_OPERATIONS = [
    "DescribeLogGroups",
    "DescribeLogStreams",
    "GetLogEvents",
    "FilterLogEvents",
]

# botocore service name -> (output file relative to the repository, operations served)
SERVICES = {
    "sagemaker": ("api/sagemaker/model.json", SAGEMAKER_OPERATIONS),
    "logs": ("api/logs/model.json", LOGS_OPERATIONS),
}

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


def trim(model, served):
    """botocore's model reduced to the served operations and the shapes they reach."""
    all_shapes = model["shapes"]

    operations = {}
    pending = []
    for name in served:
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

    return {
        "metadata": {k: model["metadata"][k] for k in METADATA_KEYS if k in model["metadata"]},
        "operations": operations,
        "shapes": {name: strip(all_shapes[name]) for name in reached},
    }


def main(argv):
    unknown = [name for name in argv if name not in SERVICES]
    if unknown:
        sys.exit(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICES)}")
    root = pathlib.Path(__file__).resolve().parent.parent
    loader = botocore.loaders.Loader()
    for service in argv or list(SERVICES):
        relative, served = SERVICES[service]
        out = trim(loader.load_service_model(service, "service-2"), served)
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(out, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
        target.write_text(text, encoding="utf-8")
        print(f"{target}: {len(out['operations'])} operations, {len(out['shapes'])} shapes, "
              f"{len(text)} bytes (botocore {botocore.__version__})", file=sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
