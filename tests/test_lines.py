"""Line framing, one way for files, stdin and `mlsiem normalize`: bounded by max_line_bytes, an over-long
line reported once and skipped to its newline, offsets exact (the file registry's positions)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from shipper.sources.files import FileSource
from shipper.sources.lines import LineReader, stream_lines
from shipper.sources.registry import Registry
from shipper.sources.stdin import StdinSource
from tests.shipping import native_line

MIB = 1 << 20


def big_line(seq: int, size: int) -> str:
    """A valid native record of about `size` bytes (one long feature value)."""
    record = json.loads(native_line(seq))
    record["features"]["blob"] = "x" * size
    return json.dumps(record)


def framed(data: bytes, limit: int, chunk: int) -> list[tuple[int, int, bytes]]:
    reader = LineReader(limit)
    lines = []
    for at in range(0, len(data), chunk):
        lines += reader.feed(data[at : at + chunk])
    return lines + list(reader.finish())


def test_lines_and_offsets_do_not_depend_on_chunking() -> None:
    data = b"a\n\nbb\r\n" + b"x" * 40 + b"\ncc\n" + b"y" * 25 + b"\ndd"
    expected = [
        (0, 2, b"a"),
        (2, 3, b""),
        (3, 7, b"bb\r"),  # a carriage return stays: JSON whitespace, and file ids stay what they were
        (7, 18, b"x" * 11),  # the head (limit + 1 bytes) of the over-long line, once; the rest skipped
        (48, 51, b"cc"),
        (51, 62, b"y" * 11),
        (77, 79, b"dd"),  # the last line without a newline, at the end of the stream
    ]
    for chunk in (1, 2, 3, 7, 16, 1000):
        lines = framed(data, 10, chunk)
        # Whether an over-long line arrives whole (its newline in the same chunk) decides whether it is
        # handed on whole or as its head: either way it is ONE line that the normalizer refuses.
        assert [(s, line[:11]) for s, _, line in lines] == [(s, line) for s, _, line in expected], chunk
        assert [e for _, e, line in lines if len(line) <= 10] == [
            e for _, e, line in expected if len(line) <= 10
        ]


def test_stream_lines_bounds_memory_and_reports_an_over_long_line_once() -> None:
    data = b"first\n" + b"z" * (3 * MIB) + b"\nlast\n"
    lines = list(stream_lines(io.BufferedReader(io.BytesIO(data)), MIB))  # type: ignore[arg-type]
    assert [(start, line[:5], len(line)) for start, _, line in lines] == [
        (0, b"first", 5),
        (6, b"zzzzz", MIB + 1),
        (6 + 3 * MIB + 1, b"last", 4),
    ]


def test_stdin_gives_one_record_for_an_over_long_line() -> None:
    """Regression: stdin cut a 2 MiB line into three records (three dead-letter entries)."""
    data = f"{native_line(1)}\n{big_line(2, 2 * MIB)}\n{native_line(3)}\n".encode()
    source = StdinSource(max_line_bytes=MIB, stream=io.BytesIO(data))
    blocks = [b for b in source.records() if b is not None]
    raws = [raw for block in blocks for raw in block.raws]
    origins = [origin for block in blocks for origin in block.all_origins()]
    assert [len(raw) for raw in raws] == [len(native_line(1)), MIB + 1, len(native_line(3))]
    assert origins[2].offset == data.index(native_line(3).encode())


def test_a_file_over_long_line_is_one_record_and_the_offsets_resume_exactly(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    lines = [native_line(1), big_line(2, 3 * MIB), native_line(3)]
    log.write_text("".join(line + "\n" for line in lines))
    registry = Registry(tmp_path / "registry.json")
    source = FileSource([str(log)], registry, max_line_bytes=MIB)
    blocks = [block for block in source.records() if block is not None]
    assert [len(raw) for block in blocks for raw in block.raws] == [len(lines[0]), MIB + 1, len(lines[2])]
    for block in blocks:
        for _, ack in block.acks:
            source.acknowledge(ack)
    source.close()
    assert [s.offset for s in Registry(tmp_path / "registry.json").states()] == [log.stat().st_size]


def ship(tmp_path: Path, *args: str, stdin: bytes | None = None) -> tuple[dict, list[dict]]:
    """`mlsiem ship ... --output file:` as a user runs it: (its --json summary, the dead-letter entries)."""
    tmp_path.mkdir(exist_ok=True)
    dead = tmp_path / "dead.ndjson"
    command = [sys.executable, "-m", "mlsiem", "ship", *args, "--output", f"file:{tmp_path / 'out.ndjson'}"]
    command += ["--dead-letter", str(dead), "--json", "--registry", str(tmp_path / "registry.json")]
    out = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        env={**os.environ, "MLSIEM_HOME": str(tmp_path / "home")},
        timeout=120,
        check=True,
    )
    letters = [json.loads(line) for line in dead.read_text().splitlines()] if dead.exists() else []
    return json.loads(out.stdout), letters


def test_max_line_bytes_is_the_file_and_stdin_limit(tmp_path: Path) -> None:
    """Regression: `--max-line-bytes` did not reach the file and stdin sources, which cut at 1 MiB."""
    log = tmp_path / "big.jsonl"
    log.write_text(f"{native_line(1)}\n{big_line(2, 2 * MIB)}\n")
    limits = ["--max-line-bytes", str(8 * MIB), "--max-string-chars", str(4 * MIB)]
    summary, letters = ship(tmp_path, str(log), *limits)
    assert (summary["shipped"], summary["dead_lettered"], letters) == (2, 0, [])
    summary, letters = ship(tmp_path / "stdin", "-", *limits, stdin=log.read_bytes())
    assert (summary["shipped"], summary["dead_lettered"], letters) == (2, 0, [])


def test_an_over_long_line_is_one_dead_letter_entry_for_files_stdin_and_normalize(tmp_path: Path) -> None:
    log = tmp_path / "big.jsonl"
    log.write_text(f"{native_line(1)}\n{big_line(2, 2 * MIB)}\n{native_line(3)}\n")
    reason = f"line too long: {MIB + 1} bytes, the limit is {MIB} (max_line_bytes)"
    for name, args, stdin in (("file", [str(log)], None), ("stdin", ["-"], log.read_bytes())):
        summary, letters = ship(tmp_path / name, *args, stdin=stdin)
        assert (summary["shipped"], summary["over_limit"]) == (2, {"max_line_bytes": 1}), args
        assert [letter["reason"] for letter in letters] == [reason], args
    dead = tmp_path / "normalize-dead.ndjson"
    out = subprocess.run(
        [sys.executable, "-m", "mlsiem", "normalize", str(log), "--dead-letter", str(dead)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert len(out.stdout.splitlines()) == 2
    assert [json.loads(line)["reason"] for line in dead.read_text().splitlines()] == [reason]
