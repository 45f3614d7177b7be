"""Fuzzing of every parser mlsiem exposes to hostile input (see fuzz/README.md).

`fuzz.harness` runs targets (modules in fuzz/targets/ with `fuzz_one(data: bytes) -> None` and
`SEEDS: list[bytes]`) over inputs from `fuzz.mutate`; `fuzz/run.py` is the command line.
"""
