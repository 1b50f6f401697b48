"""Read label files (JSON Lines, CSV) into Kafka (key, value) payloads for ``labels``.

As :mod:`.record_files` does for records, with one difference: a label without an id is
*not* given one (it must name the scored record it labels); it is sent as written and the
sink rejects it with the reason, like any other malformed label.

- JSON Lines: every line is sent byte for byte as written (minus its line ending), keyed by
  its ``id`` when that is a string. Blank lines are skipped.
- CSV: ``id`` is read as text (``"007"`` stays ``"007"``), and so are ``model_name`` and
  ``model_version``; ``label`` becomes JSON numbers when every cell of the chunk is a
  number, else strings (``yes``, ``NA``); ``label_time`` is sent as written (ISO-8601 text,
  or epoch milliseconds when the column is all integers); an empty cell is left out
  (an empty ``label_time`` means "when it reached Kafka").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from scorestream.exceptions import ConfigurationError
from scorestream.producers.record_files import Payload, jsonl_chunks

LABEL_SUFFIXES = (".csv", ".jsonl", ".ndjson")
_TEXT_COLUMNS = ("id", "model_name", "model_version")


def label_file_chunks(path: Path, chunk_size: int = 10_000) -> Iterator[list[Payload]]:
    """(key, value) payloads of a csv or jsonl label file, ``chunk_size`` labels at a time.

    Raises
    ------
    ConfigurationError
        If the file type is not supported or there is no such file (checked at the call).
    """
    suffix = path.suffix.lower()
    if suffix not in LABEL_SUFFIXES:
        raise ConfigurationError(
            f"unsupported label file type {suffix or path.name!r}: use .csv or .jsonl"
        )
    if not path.is_file():
        raise ConfigurationError(f"cannot read {path}: no such file")
    if suffix == ".csv":
        return _csv_chunks(path, chunk_size)
    return jsonl_chunks(path, chunk_size, _keyed_as_written)


def _keyed_as_written(line: bytes) -> Payload:
    """The line as written, keyed by its string id (a label never gets an id invented)."""
    try:
        label = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, line
    record_id = label.get("id") if type(label) is dict else None
    return (record_id.encode() if type(record_id) is str else None), line


def _csv_chunks(path: Path, chunk_size: int) -> Iterator[list[Payload]]:
    import pandas as pd

    reader = pd.read_csv(
        path,
        chunksize=chunk_size,
        dtype={name: str for name in _TEXT_COLUMNS},
        # Only an empty cell is missing: "NA" or "null" may well be a class.
        keep_default_na=False,
        na_values=[""],
        dtype_backend="numpy_nullable",
    )
    for frame in reader:
        names = [str(name) for name in frame.columns]
        columns = [
            frame[name].to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]
            for name in frame.columns
        ]
        yield [
            _row_payload(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)
        ]


def _row_payload(row: dict[str, Any]) -> Payload:
    label = {name: value for name, value in row.items() if value is not None}
    record_id = label.get("id")
    key = record_id.encode() if type(record_id) is str else None
    return key, orjson.dumps(label)
