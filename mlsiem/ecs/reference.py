"""ECS itself, vendored: every field of the Elastic Common Schema release mlsiem targets, trimmed to what
the conformance checks compare (type, multi-fields, allowed values).

`ecs_fields.json` beside this module is generated from Elastic's `generated/ecs/ecs_flat.yml` (elastic/ecs
at the release tag, Apache License 2.0, Copyright Elasticsearch B.V.; the file names its source) and
committed, so the project and its tests need nothing outside the repository. All fields are kept, not
only the mapped ones, so a newly mapped name is checked against ECS as a whole. To regenerate it:

    python -m mlsiem.ecs.reference path/to/ecs_flat.yml
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypedDict

from mlsiem.ecs.fields import ECS_VERSION

REFERENCE_FILE = "ecs_fields.json"


class EcsField(TypedDict, total=False):
    type: str
    multi_fields: dict[str, str]  # sub-field name -> type
    allowed_values: list[str]


@cache
def ecs_fields() -> dict[str, EcsField]:
    """Dotted ECS field name -> its definition, for the release in `ECS_VERSION`."""
    document = json.loads(resources.files("mlsiem.ecs").joinpath(REFERENCE_FILE).read_text("utf-8"))
    if document["ecs_version"] != ECS_VERSION:
        raise ValueError(f"{REFERENCE_FILE} is ECS {document['ecs_version']}, the code targets {ECS_VERSION}")
    return document["fields"]


def trim(flat: dict[str, dict[str, Any]]) -> dict[str, EcsField]:
    """The parts of `ecs_flat.yml` the checks use, field by field."""
    fields: dict[str, EcsField] = {}
    for name, body in sorted(flat.items()):
        entry: EcsField = {"type": body["type"]}
        if body.get("multi_fields"):
            entry["multi_fields"] = {m["name"]: m["type"] for m in body["multi_fields"]}
        if body.get("allowed_values"):
            entry["allowed_values"] = [v["name"] for v in body["allowed_values"]]
        fields[name] = entry
    return fields


def render(fields: dict[str, EcsField]) -> str:
    """One line per field, so a new ECS release shows as a readable diff."""
    head = {
        "ecs_version": ECS_VERSION,
        "source": f"elastic/ecs v{ECS_VERSION}, generated/ecs/ecs_flat.yml (trimmed to type, "
        "multi_fields, allowed_values)",
        "license": "Apache License 2.0; Copyright Elasticsearch B.V.",
    }
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    body = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in fields.items())
    return "{\n" + "\n".join(lines) + '\n  "fields": {\n' + body + "\n  }\n}\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m mlsiem.ecs.reference path/to/ecs_flat.yml", file=sys.stderr)
        return 2
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    flat = yaml.load(Path(argv[0]).read_text(encoding="utf-8"), Loader=loader)
    target = Path(__file__).with_name(REFERENCE_FILE)
    target.write_text(render(trim(flat)), encoding="utf-8")
    print(f"wrote {target} ({len(flat)} fields)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
