"""Label files (CSV, JSON Lines) into payloads: ids stay text, labels keep their JSON type,
nothing is invented (no id is ever assigned to a label)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from scorestream.exceptions import ConfigurationError
from scorestream.producers.label_files import label_file_chunks


def _all(path: Path, chunk_size: int = 10_000) -> list[tuple[bytes | None, bytes]]:
    return [payload for chunk in label_file_chunks(path, chunk_size) for payload in chunk]


def test_csv_keeps_ids_as_text_and_numbers_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "id,label,label_time,model_version\n007,1,2026-01-02T00:00:00Z,0042\n008,0,,\n,1,,\n"
    )
    payloads = _all(path)
    assert [key for key, _ in payloads] == [b"007", b"008", None]
    assert [orjson.loads(value) for _, value in payloads] == [
        {"id": "007", "label": 1, "label_time": "2026-01-02T00:00:00Z", "model_version": "0042"},
        {"id": "008", "label": 0},
        {"label": 1},  # no id: sent as is, for the sink to reject with its reason
    ]


def test_csv_class_names_stay_strings_and_na_is_a_class(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id,label\na,yes\nb,NA\nc,3\n")
    assert [orjson.loads(value)["label"] for _, value in _all(path)] == ["yes", "NA", "3"]


def test_csv_regression_values_and_epoch_times(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id,label,label_time\nr1,151.5,1767225600000\nr2,75,1767225600001\n")
    labels = [orjson.loads(value) for _, value in _all(path, chunk_size=1)]
    assert labels == [
        {"id": "r1", "label": 151.5, "label_time": 1767225600000},
        {"id": "r2", "label": 75.0, "label_time": 1767225600001},
    ]
    # Each chunk of one row is typed on its own: 75 alone is an integer column.
    assert [type(label["label"]) for label in labels] == [float, int]
    assert [type(label["label_time"]) for label in labels] == [int, int]


def test_jsonl_lines_are_sent_as_written(tmp_path: Path) -> None:
    lines = [
        b'{"id": "007", "label": "yes"}',
        b'{"label": 1}',
        b"not json",
        b'{"id": 7, "label": 1}',
    ]
    path = tmp_path / "labels.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines[:2]) + b"\n\n" + b"\r\n".join(lines[2:]))
    assert _all(path) == [(b"007", lines[0]), (None, lines[1]), (None, lines[2]), (None, lines[3])]


@pytest.mark.parametrize("name", ["labels.parquet", "labels.txt", "labels"])
def test_unsupported_or_missing_files_are_configuration_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError):
        label_file_chunks(tmp_path / name)
    with pytest.raises(ConfigurationError, match="no such file"):
        label_file_chunks(tmp_path / "absent.csv")
