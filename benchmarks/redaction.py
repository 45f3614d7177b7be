"""Cost of redaction per byte of prompt text, against the SHA-256 the content policy computes anyway.

Redaction (`shipper.normalize.redaction.redact`) runs on every prompt and completion under the default
`redacted` policy. Its cost depends on the text: ordinary prose skips most patterns after a few
substring tests, while text dense with digit groups makes the card and phone-number search try many
candidate runs (the worst shape found while fuzzing). Each shape is timed, interleaved with the
baseline, `--runs` times; the script prints medians in microseconds per byte and the ratio to the
baseline. Run by hand:

    .venv/bin/python benchmarks/redaction.py --kib 256 --runs 7
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from collections.abc import Callable

from shipper.normalize.redaction import redact

PROSE = (
    "Summarise the attached ticket for the on-call engineer and list the three most likely causes, "
    "then suggest which dashboard to open first. "
)
SECRETS = (
    "Deploy with api_key=sk-proj-a1b2c3d4e5f6a7b8c9d0e1f2 and call me on +1 415 555 0100; "
    "card 4111 1111 1111 1111, mail jane.doe@example.com, Authorization: Bearer abc.def-ghi_123. "
)


def shapes(size: int, rng: random.Random) -> dict[str, str]:
    """Texts of about `size` characters: what prompts look like, and the worst shape known."""

    def fill(unit: Callable[[], str]) -> str:
        parts: list[str] = []
        total = 0
        while total < size:
            part = unit()
            parts.append(part)
            total += len(part)
        return "".join(parts)[:size]

    return {
        "prose": fill(lambda: PROSE),
        "prose with secrets (1 in 4)": fill(lambda: SECRETS if rng.random() < 0.25 else PROSE),
        "digit groups (worst case)": fill(lambda: f"{rng.randrange(10)} "),
        "dash-joined 1-3 digits": fill(lambda: f"{rng.randrange(1000)}-"),
    }


def _seconds(work: Callable[[str], object], text: str) -> float:
    started = time.process_time()
    work(text)
    return time.process_time() - started


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kib", type=int, default=256, help="size of each text in KiB")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    size = args.kib * 1024
    print(f"{'text':30} {'sha256 us/B':>12} {'redact us/B':>12} {'ratio':>8}")
    for name, text in shapes(size, random.Random(7)).items():
        base, cost, ratios = [], [], []
        for _ in range(args.runs):
            b = _seconds(_sha256, text)
            r = _seconds(redact, text)
            base.append(b * 1e6 / size)
            cost.append(r * 1e6 / size)
            ratios.append(r / max(b, 1e-9))
        print(
            f"{name:30} {statistics.median(base):12.4f} {statistics.median(cost):12.3f} "
            f"{statistics.median(ratios):8.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
