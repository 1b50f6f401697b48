"""A client's re-send (same id, same bytes, another offset) is scored again and counted once.

The fault suite's Kafka majority loss found it: a publish that timed out had in fact been
written, the client retried it, and the worker refused the second copy as ``duplicate_id``,
so a client that did nothing wrong heard 409 for a record that was scored. No Kafka here:
the scorer and the drift publisher on the loans model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from scorestream.contract.scores import decode_score_row
from scorestream.settings import Settings
from scorestream.streams.drift_outputs import DriftStatsPublisher
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.scoring import BatchScorer, RawRecord, ScoredBatch
from scorestream.streams.synthetic import generate_records
from scorestream.streams.validation import RecordValidator, ValidatedBatch

KAFKA_MS = 1_780_000_000_000


@pytest.fixture(scope="module")
def model(model_dir: Path) -> LoadedModel:
    return LoadedModel.load(model_dir)


@pytest.fixture(scope="module")
def valid() -> list[dict[str, object]]:
    return next(generate_records(20, 5, 20, start="2026-03-01T00:00:00", include_target=False))


def _raw(payloads: Sequence[bytes], first_offset: int) -> list[RawRecord]:
    return [RawRecord(p, "records", 0, first_offset + i, KAFKA_MS) for i, p in enumerate(payloads)]


def _counted(drift: DriftStatsPublisher) -> int:
    """Records counted for ``income`` in everything ``drift`` publishes now."""
    documents = [orjson.loads(message.value) for _, message in drift.flush()]
    return sum(
        row["count"]
        for doc in documents
        if doc["type"] == "bins"
        for row in doc["rows"]
        if row["feature"] == "income"
    )


def _rows_by_id(batch: ScoredBatch) -> dict[str, list[tuple[object, ...]]]:
    rows: dict[str, list[tuple[object, ...]]] = {}
    for message in batch.scores:
        row = decode_score_row(message.value)
        assert message.key == str(row[0]).encode()  # keyed by id, as the sink expects
        rows.setdefault(str(row[0]), []).append(row)
    return rows


def test_an_identical_resend_is_scored_and_not_counted_again(
    model: LoadedModel, valid: list[dict[str, object]]
) -> None:
    scorer = BatchScorer(model, RecordValidator(model.schema))
    drift = DriftStatsPublisher(model, Settings())
    payloads = [orjson.dumps(record) for record in valid]
    # The first copies, and a re-send of record 0 within the same batch.
    first = scorer.score(_raw([*payloads, payloads[0]], first_offset=0))
    drift.add(first)
    # Later, elsewhere: re-sends of records 1..4, and record 5's id with other bytes.
    clash = orjson.dumps({**valid[5], "income": 1.0})
    later = scorer.score(_raw([*payloads[1:5], clash], first_offset=100))
    drift.add(later)

    first_rows, later_rows = _rows_by_id(first), _rows_by_id(later)
    assert len(first_rows) == 20 and len(first_rows[str(valid[0]["id"])]) == 2
    assert sorted(later_rows) == sorted(str(record["id"]) for record in valid[1:5])
    for record_id, rows in later_rows.items():
        # The same score, and the same (event_time, id): the sink stores one row for both.
        (copy,) = rows
        (original,) = first_rows[record_id]
        assert (copy[0], copy[2], copy[7]) == (original[0], original[2], original[7])
        assert copy[11] != original[11]  # another offset
    [rejected] = [orjson.loads(message.value) for message in later.rejected]
    assert (rejected["reason"], rejected["id"]) == ("duplicate_id", valid[5]["id"])
    assert first.rejected == []

    assert first.resent is not None and first.resent.tolist() == [False] * 20 + [True]
    assert later.resent is not None and later.resent.tolist() == [True] * 4
    # Drift counts records, not deliveries: 20 records, however often they came.
    assert _counted(drift) == 20


class _FailingOn(RecordValidator):
    """A validator with a bug: it raises on any batch holding a payload with ``marker``."""

    def __init__(self, model: LoadedModel, marker: bytes) -> None:
        super().__init__(model.schema)
        self.marker = marker

    def validate_batch(
        self, payloads: Sequence[bytes], ingest_time_ms: Sequence[int]
    ) -> ValidatedBatch:
        if any(self.marker in payload for payload in payloads):
            raise RuntimeError("a bug")
        return super().validate_batch(payloads, ingest_time_ms)


def test_a_bisected_batch_keeps_its_resends_flagged(
    model: LoadedModel, valid: list[dict[str, object]]
) -> None:
    payloads = [orjson.dumps(record) for record in valid[:8]]
    poison = orjson.dumps(valid[8]).replace(b"{", b'{"poison":1,', 1)
    # Re-sends on both sides of the poisoned record, so both halves carry flags.
    batch = [*payloads, payloads[1], poison, payloads[6], payloads[2]]
    scorer = BatchScorer(model, _FailingOn(model, b"poison"))
    drift = DriftStatsPublisher(model, Settings())
    scored = scorer.score(_raw(batch, first_offset=0))
    drift.add(scored)

    assert scored.rejection_reasons == ["internal_error"]
    assert len(scored.scores) == 11 and scored.resent is not None
    flagged = zip(scored.sources, scored.resent, strict=True)
    assert [source.offset for source, again in flagged if again] == [8, 10, 11]
    assert _counted(drift) == 8
