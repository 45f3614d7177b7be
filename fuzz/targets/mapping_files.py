"""Fuzz target: YAML mapping files (`shipper/formats/mapping_config.py`, compiled by `mapping.py`).

Each input is a whole mapping file, written to disk and loaded the way `mlsiem ship --mapping FILE`
loads it (`Normalizer(NormalizeConfig(format="mapping", mapping_file=...))`). The contract: a file that
cannot be used gives a ConfigError that names the file and the problem; a file that loads is compiled
and applied to the example records of both example mappings, under the normalizer's record contract
(events or a reason, never a crash).

Seeds: the example mappings in shipper/examples/mappings/.
"""

from __future__ import annotations

from pathlib import Path

from fuzz.checks import check_records, expect_config_error, scratch_dir
from shipper.normalizer import NormalizeConfig, Normalizer
from shipper.records import Origin

MAPPINGS = Path(__file__).resolve().parents[2] / "shipper" / "examples" / "mappings"
SEEDS: list[bytes] = [path.read_bytes() for path in sorted(MAPPINGS.glob("*.yaml"))]
RECORDS: list[bytes] = [
    line
    for path in sorted(MAPPINGS.glob("*.jsonl"))
    for line in path.read_bytes().splitlines()
    if line.strip()
]
FILE = scratch_dir("mapping") / "mapping.yaml"
ORIGIN = Origin("file:fuzz", 0)


def fuzz_one(data: bytes) -> None:
    FILE.write_bytes(data)
    normalizer = expect_config_error(
        lambda: Normalizer(NormalizeConfig(format="mapping", mapping_file=FILE)), FILE, data
    )
    if normalizer is None:
        return
    for line in RECORDS:
        events, rejected = normalizer.normalize(line, ORIGIN)
        check_records(line, events, rejected, report=False)  # the input is the file, not the record
