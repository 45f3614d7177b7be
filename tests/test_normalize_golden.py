"""Every golden input normalizes to the pinned documents, ids and rejections (tests/normalize_golden.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.normalize_golden import GOLDEN, digests, edge_dicts, edge_lines


def test_the_documents_are_the_pinned_ones(tmp_path: Path) -> None:
    expected = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    found = digests(tmp_path)
    assert found.keys() == expected.keys()
    changed = [
        f"{name} record {index}"
        for name, pinned in expected.items()
        for index, (old, new) in enumerate(zip(pinned, found[name], strict=True))
        if old != new
    ]
    assert not changed, (
        f"{len(changed)} records normalize differently than pinned (first: {changed[:5]}); if that is meant, "
        "regenerate with tests/normalize_golden.py"
    )


def test_the_golden_inputs_reach_the_paths_they_are_for() -> None:
    """The edge cases hold what the pinned comparison relies on (else it would pin little)."""
    text = b"\n".join(edge_lines())
    for needle in (
        b"4111 1111 1111 1111",
        b"jane.doe@example.com",
        b"AKIA",
        "é".encode(),
        b"\\ud800",
        b"\xff",
        b"a.b",
    ):
        assert needle in text
    assert any(any(type(key) is not str for key in d.get("features", {})) for d in edge_dicts())
