"""Format detection per record, by its keys only (cheap: no parsing beyond the JSON itself).

Each format in the registry (`shipper.formats.registry.FORMATS`) claims records by their keys; they
are asked in `claim_order`:

| keys | format |
| --- | --- |
| `resourceSpans` or `resourceLogs` | otlp |
| `call_type` with `startTime` or `response_cost` | litellm |
| `type` equal to `inference` or `pipeline` | native |
| `ecs` and an `event.dataset` of `mlsiem.inference` or `mlsiem.pipeline` | ecs (relayed documents) |
| anything else | the mapping, when one is configured; otherwise the record is rejected |
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from shipper.formats.registry import FORMATS


def detector(available: Collection[str]) -> Callable[[dict[str, Any]], str | None]:
    """`detect(record)`: the name of the first available format that claims the record, else the
    available fallback format (one without a claim), else None."""
    ordered = sorted(
        (f for f in FORMATS if f.claims is not None and f.name in available), key=lambda f: f.claim_order
    )
    fallback = next((f.name for f in FORMATS if f.claims is None and f.name in available), None)
    # One generated if-chain (`if c0(record): return 'otlp'` ...): detection runs for every record, and a
    # loop over (claim, name) pairs costs more than the claims themselves. Only our own names go in.
    namespace: dict[str, Any] = {f"c{i}": f.claims for i, f in enumerate(ordered)}
    lines = ["def detect(record):"]
    lines += [f"    if c{i}(record):\n        return {f.name!r}" for i, f in enumerate(ordered)]
    lines.append(f"    return {fallback!r}")
    exec("\n".join(lines), namespace)
    return namespace["detect"]  # type: ignore[no-any-return]
