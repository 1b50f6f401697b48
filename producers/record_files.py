"""Read record files (JSON Lines, CSV, Parquet) into Kafka (key, value) payloads.

Each format keeps what its file says:

- JSON Lines: every line is sent byte for byte as written (minus its line ending). A line is
  parsed only to find its ``id`` for the key. A line that is not JSON, or not an object, is
  sent as written without a key: the worker rejects it to ``records.rejected`` with the
  original payload, so nothing is lost and the run does not stop. Blank lines are skipped.
- CSV: ``id`` is read as text (``"007"`` stays ``"007"``); in other columns only an empty
  cell is missing (``NA`` stays a string), a column whose cells in a chunk are all numbers
  becomes JSON numbers (integers stay integers), anything else stays a string.
- Parquet: the file's types are kept; timestamps become ISO-8601 in UTC with ``Z``
  (naive ones are taken as UTC), dates ``YYYY-MM-DD``, decimals numbers.

A record without an id gets a UUID, as the bridge does: in JSON Lines an ``"id"`` member is
put first and every other byte is left as written. An id that is there is never changed,
except that an integer id of a Parquet file is sent as its decimal text (the contract's ids
are strings, and an integer has no other spelling to keep).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from scorestream.exceptions import ConfigurationError

Payload = tuple[bytes | None, bytes]

ID_FIELD = "id"
SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
_BOM = b"\xef\xbb\xbf"
# Bytes read from a JSON Lines file at a time.
_BLOCK_BYTES = 4 * 1024 * 1024
# What bytes.strip() removes: a line of only these is blank.
_BLANK_BYTES = frozenset(b" \t\n\r\x0b\x0c")
_CR = ord("\r")
_ABSENT = object()
# Naive timestamps are UTC (as the worker reads a naive event_time) and UTC is written "Z".
_DUMPS_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def file_chunks(path: Path, chunk_size: int = 10_000) -> Iterator[list[Payload]]:
    """(key, value) payloads of a csv, parquet or jsonl file, ``chunk_size`` records at a time.

    The type and the file are checked at the call, not at the first chunk, so that a wrong
    ``--file`` is reported before the producer connects to Kafka.

    Raises
    ------
    ConfigurationError
        If the file type is not supported, there is no such file, or a Parquet column has a
        type that has no JSON form (binary, duration).
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigurationError(
            f"unsupported file type {suffix or path.name!r}: use .csv, .parquet or .jsonl"
        )
    # Not only a regular file: a named pipe (``mkfifo records.jsonl``) streams records as they
    # are written, e.g. from ``zcat`` or another process.
    if not path.exists() or path.is_dir():
        raise ConfigurationError(f"cannot read {path}: no such file")
    if suffix == ".csv":
        return _csv_chunks(path, chunk_size)
    if suffix == ".parquet":
        return _parquet_chunks(path, chunk_size)
    return jsonl_chunks(path, chunk_size)


# --- JSON Lines ----------------------------------------------------------------------------
def jsonl_chunks(
    path: Path, chunk_size: int, payload: Callable[[bytes], Payload] | None = None
) -> Iterator[list[Payload]]:
    """The non-blank lines of a JSON Lines file (BOM and line endings dropped) as payloads,
    ``chunk_size`` at a time; ``payload`` makes one (default :func:`jsonl_payload`)."""
    make = payload or jsonl_payload
    chunk: list[Payload] = []
    add = chunk.append
    first = True
    for lines in _line_blocks(path):
        if first and lines:
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
            first = False
        for line in lines:
            # A line that starts with a non-blank byte is not blank (the common case is
            # decided without a copy of the line).
            if not line or (line[0] in _BLANK_BYTES and not line.strip()):
                continue
            if line[-1] == _CR:
                line = line.rstrip(b"\r")
            add(make(line))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
                add = chunk.append
    if chunk:
        yield chunk


def _line_blocks(path: Path) -> Iterator[list[bytes]]:
    """The lines of ``path`` (split at ``\\n``, which is dropped), read in large blocks.

    One read and one ``split`` per block rather than a buffered read per line. ``read1``:
    from a named pipe a block is what the writer has written so far, not 4 MB or the end.
    """
    with path.open("rb") as handle:
        rest = b""
        while True:
            block = handle.read1(_BLOCK_BYTES)
            if not block:
                break
            lines = (rest + block if rest else block).split(b"\n")
            rest = lines.pop()
            yield lines
        if rest:
            yield [rest]


def jsonl_payload(line: bytes) -> Payload:
    """(key, value) of one JSON Lines record: the line as written, keyed by its string id."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        # The worker also reads NaN/Infinity and integers beyond 64 bits (the standard
        # library does); such a record keeps its key so that its id's partition holds.
        try:
            record = json.loads(line)
        except ValueError:
            return None, line
    if type(record) is not dict:
        return None, line
    record_id = record.get(ID_FIELD, _ABSENT)
    if type(record_id) is str:
        return record_id.encode(), line
    if record_id is _ABSENT:
        new_id = uuid.uuid4().hex
        brace = line.index(b"{") + 1
        member = b'"id":"' + new_id.encode() + (b'",' if record else b'"')
        return new_id.encode(), line[:brace] + member + line[brace:]
    # null, a number, ...: sent as written; the worker rejects it with the reason.
    return None, line


# --- CSV -----------------------------------------------------------------------------------
def _csv_chunks(path: Path, chunk_size: int) -> Iterator[list[Payload]]:
    import pandas as pd

    reader = pd.read_csv(
        path,
        chunksize=chunk_size,
        dtype={ID_FIELD: str},
        # Only an empty cell is missing: "NA", "null" or "None" may well be a category.
        keep_default_na=False,
        na_values=[""],
        # Nullable dtypes keep an integer column with gaps integral (1, not 1.0).
        dtype_backend="numpy_nullable",
    )
    for frame in reader:
        names = [str(name) for name in frame.columns]
        # Column by column to Python objects (missing: None), five times faster than to_dict.
        # (pandas-stubs do not list None as an na_value; pandas takes it.)
        columns = [
            frame[name].to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]
            for name in frame.columns
        ]
        yield [
            _row_payload(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)
        ]


# --- Parquet -------------------------------------------------------------------------------
def _parquet_chunks(path: Path, chunk_size: int) -> Iterator[list[Payload]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    unsupported = [
        f"{field.name} ({field.type})"
        for field in schema
        if pa.types.is_binary(field.type)
        or pa.types.is_large_binary(field.type)
        or pa.types.is_fixed_size_binary(field.type)
        or pa.types.is_duration(field.type)
        or pa.types.is_interval(field.type)
    ]
    if unsupported:
        raise ConfigurationError(
            f"{path}: columns without a JSON form: {', '.join(unsupported)}; "
            "cast them to strings or numbers"
        )
    return _parquet_batches(parquet, chunk_size)


def _parquet_batches(parquet: Any, chunk_size: int) -> Iterator[list[Payload]]:
    import pyarrow as pa

    for batch in parquet.iter_batches(batch_size=chunk_size):
        columns = []
        for field, column in zip(batch.schema, batch.columns, strict=True):
            # An aware timestamp is stored as UTC: relabelling it UTC changes no instant, and
            # orjson then writes "Z" rather than the zone's offset.
            if pa.types.is_timestamp(field.type) and field.type.tz is not None:
                column = column.cast(pa.timestamp(field.type.unit, tz="UTC"))
            columns.append(column)
        rows = pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist()
        yield [_row_payload(row) for row in rows]


# --- rows of CSV and Parquet ---------------------------------------------------------------
def _row_payload(row: dict[str, Any]) -> Payload:
    record_id = row.get(ID_FIELD)
    if type(record_id) is int:
        row[ID_FIELD] = record_id = str(record_id)
    elif record_id is None or (type(record_id) is float and record_id != record_id):
        row[ID_FIELD] = record_id = uuid.uuid4().hex
    value = orjson.dumps(row, default=_json_default, option=_DUMPS_OPTIONS)
    return (record_id.encode() if type(record_id) is str else None), value


def _json_default(value: Any) -> Any:
    """JSON forms of what orjson does not write itself."""
    import pandas as pd

    if isinstance(value, pd.Timestamp):
        # pyarrow gives nanosecond timestamps as pandas Timestamps (datetime cannot hold ns).
        moment = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return float(value)
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"{type(value).__name__} has no JSON form")
