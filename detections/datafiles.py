"""Read a data file (CSV, Parquet or NDJSON) into numpy columns for the drift statistics.

Arrow does the reading (multi-threaded, columnar; a million rows take a second or two) and decides
each column's type: numbers become float64 arrays (missing -> NaN), text and booleans become
`CategoricalColumn`s (Arrow's dictionary encoding: no Python string per row). Nested NDJSON objects
are flattened to dotted names (`mlsiem.features.age`). Timestamps, lists and binary columns are not
features and are skipped with the reason. Every problem is one clear error naming the file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from detections.statistics.columns import CategoricalColumn
from mlsiem.errors import ConfigError

COMPRESSION_SUFFIXES = {".gz", ".bz2", ".zst", ".lz4"}
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
}

Column = np.ndarray | CategoricalColumn


class DataFileError(ConfigError):
    """A data file that cannot be read or used (exit code 2 on the command line)."""


@dataclass
class DataColumns:
    path: Path
    rows: int
    columns: dict[str, Column]
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it is not a feature

    def kind(self, name: str) -> str:
        return "categorical" if isinstance(self.columns[name], CategoricalColumn) else "numeric"


def file_format(path: Path) -> str:
    """csv | tsv | parquet | ndjson from the file name (a compression suffix such as .gz may follow)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataFileError(
            f"{path}: unknown file type; use .csv, .tsv, .parquet or .ndjson/.jsonl (optionally .gz)"
        )
    return fmt


def _read_table(path: Path, fmt: str, role: str) -> pa.Table:
    try:
        if fmt == "parquet":  # text columns straight into dictionary form (Parquet stores them so)
            schema = pq.read_schema(path)
            text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
            return pq.read_table(path, read_dictionary=text)
        if fmt == "ndjson":
            return pa_json.read_json(path)
        options = pa_csv.ConvertOptions(strings_can_be_null=True)
        parse = pa_csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
        return pa_csv.read_csv(path, parse_options=parse, convert_options=options)
    except FileNotFoundError:
        raise DataFileError(f"{role} file {path}: no such file") from None
    except IsADirectoryError:
        raise DataFileError(f"{role} file {path}: is a directory, not a file") from None
    except PermissionError:
        raise DataFileError(f"{role} file {path}: permission denied") from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = " (one JSON object per line expected)" if fmt == "ndjson" else ""
        raise DataFileError(f"{role} file {path}: cannot read as {fmt}{hint}: {detail}") from None


def _flatten(table: pa.Table) -> pa.Table:
    """Nested struct columns (NDJSON objects) -> dotted column names."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def _categorical(array: pa.ChunkedArray) -> CategoricalColumn:
    if pa.types.is_boolean(array.type):
        array = pc.cast(array, pa.string())
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    chunks = array.unify_dictionaries().chunks
    if not chunks:
        return CategoricalColumn(np.empty(0, dtype=object), np.empty(0, dtype=np.int32))
    codes = np.concatenate(
        [c.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32) for c in chunks]
    )
    categories = np.asarray(chunks[0].dictionary.cast(pa.string()).to_pylist(), dtype=object)
    return CategoricalColumn(categories, codes)


def _convert(name: str, array: pa.ChunkedArray) -> Column | str:
    """A feature column, or the reason this column is not one."""
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return _categorical(array)
    if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
        return _categorical(array)
    if pa.types.is_null(kind):
        return "no values"
    return f"type {kind} is not a feature"


def read_columns(path: str | Path, role: str = "data") -> DataColumns:
    """Read a whole file into feature columns; `role` (reference, current) names it in errors."""
    path = Path(path)
    fmt = file_format(path)
    table = _flatten(_read_table(path, fmt, role))
    if table.num_columns == 0:
        raise DataFileError(f"{role} file {path}: no columns")
    if table.num_rows == 0:
        raise DataFileError(f"{role} file {path}: no rows")
    columns: dict[str, Column] = {}
    skipped: dict[str, str] = {}
    for name, array in zip(table.column_names, table.columns, strict=True):
        converted = _convert(name, array)
        if isinstance(converted, str):
            skipped[name] = converted
        else:
            columns[name] = converted
    return DataColumns(path, table.num_rows, columns, skipped)


def _as_numbers(column: CategoricalColumn) -> tuple[np.ndarray, int]:
    """Parse a text column as numbers: the values, and how many present values did not parse."""
    parsed = np.full(len(column.categories), np.nan)
    for i, label in enumerate(column.categories):
        with contextlib.suppress(TypeError, ValueError):
            parsed[i] = float(label)
    values = np.where(column.codes >= 0, parsed[np.maximum(column.codes, 0)], np.nan)
    present = column.codes >= 0
    return values, int(np.count_nonzero(present & np.isnan(values)))


def harmonize(reference: DataColumns, current: DataColumns) -> dict[str, str]:
    """Make a column that is numeric in one file and text in the other numeric in both, when the text
    is mostly numbers (at least half; the rest become missing, and the note says how many).
    """
    notes: dict[str, str] = {}
    for name in reference.columns.keys() & current.columns.keys():
        kinds = (reference.kind(name), current.kind(name))
        if kinds[0] == kinds[1]:
            continue
        side = reference if kinds[0] == "categorical" else current
        values, failed = _as_numbers(side.columns[name])  # type: ignore[arg-type]
        present = int(np.count_nonzero(side.columns[name].codes >= 0))  # type: ignore[union-attr]
        if present and failed <= present / 2:
            side.columns[name] = values
            which = "reference" if side is reference else "current"
            notes[name] = (
                f"text in the {which} file; {failed} of {present} values there are not numbers (missing)"
            )
        else:
            notes[name] = "numeric in one file, text in the other"
    return notes
