"""BatchScorer on hostile input: one output per record, never an exception, storable rows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from scorestream.contract.rejections import decode_rejection_row
from scorestream.contract.scores import decode_score_row
from scorestream.contract.tables import DATETIME_MAX_S, UINT32_MAX
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.scoring import BatchScorer, RawRecord, ScoredBatch
from scorestream.streams.synthetic import generate_records
from scorestream.streams.validation import RecordValidator, ValidatedBatch

NOW_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def model(model_dir: Path) -> LoadedModel:
    return LoadedModel.load(model_dir)


@pytest.fixture(scope="module")
def valid() -> list[dict[str, object]]:
    return next(generate_records(50, 3, 50, start="2026-03-01T00:00:00", include_target=False))


def raw(payloads: Sequence[bytes | None], timestamp_ms: int = NOW_MS) -> list[RawRecord]:
    return [RawRecord(p, "records", 0, offset, timestamp_ms) for offset, p in enumerate(payloads)]


def outputs_by_offset(batch: ScoredBatch) -> dict[int, tuple[str, dict[str, object]]]:
    """Source offset -> ("score" or the rejection reason, the decoded message)."""
    found: dict[int, tuple[str, dict[str, object]]] = {}
    for message in batch.scores:
        doc = orjson.loads(message.value)
        assert doc["offset"] not in found
        found[doc["offset"]] = ("score", doc)
    for message in batch.rejected:
        doc = orjson.loads(message.value)
        assert doc["source_offset"] not in found
        found[doc["source_offset"]] = (doc["reason"], doc)
    return found


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- defect 1: one record must never kill the batch -------------------------------------------
def test_deeply_nested_event_time_is_rejected_not_raised(
    model: LoadedModel, valid: list[dict[str, object]]
) -> None:
    record = orjson.dumps({**valid[0], "event_time": None}).replace(
        b'"event_time":null', b'"event_time":' + nested(1000)
    )
    assert orjson.loads(record)  # orjson's decoder takes it (its limit is 1,024)
    batch = BatchScorer(model, RecordValidator(model.schema)).score(
        raw([orjson.dumps(valid[1]), record])
    )
    found = outputs_by_offset(batch)
    assert found[0][0] == "score"
    assert found[1][0] == "invalid_event_time"
    assert found[1][1]["field"] == "event_time"


class _FailingOn(RecordValidator):
    """A validator with a bug: it raises on any batch holding a payload with ``marker``."""

    def __init__(self, model: LoadedModel, marker: bytes, error: Exception) -> None:
        super().__init__(model.schema)
        self.marker, self.error, self.calls = marker, error, 0

    def validate_batch(
        self, payloads: Sequence[bytes], ingest_time_ms: Sequence[int]
    ) -> ValidatedBatch:
        self.calls += 1
        if any(self.marker in payload for payload in payloads):
            raise self.error
        return super().validate_batch(payloads, ingest_time_ms)


def test_a_record_that_raises_becomes_its_own_internal_error(
    model: LoadedModel, valid: list[dict[str, object]]
) -> None:
    payloads = [orjson.dumps(record) for record in valid]
    poisoned = {7, 30}
    for index in poisoned:
        payloads[index] = payloads[index].replace(b"{", b'{"poison":1,', 1)
    validator = _FailingOn(model, b"poison", RecursionError("maximum recursion depth"))
    batch = BatchScorer(model, validator).score(raw(payloads))

    found = outputs_by_offset(batch)
    assert sorted(found) == list(range(len(payloads)))
    assert {offset for offset, (kind, _) in found.items() if kind != "score"} == poisoned
    for offset in poisoned:
        reason, doc = found[offset]
        assert reason == "internal_error"
        assert "RecursionError" in str(doc["message"])
        assert doc["payload_base64"]  # the original bytes travel with it
    # Bisected: far fewer calls than one per record.
    assert validator.calls < 30
    assert batch.frame is not None and len(batch.frame) == len(valid) - len(poisoned)
    assert batch.event_time_ms is not None and len(batch.event_time_ms) == len(batch.frame)


def test_an_internal_error_of_a_lone_record_carries_the_exception_type(
    model: LoadedModel, valid: list[dict[str, object]]
) -> None:
    validator = _FailingOn(model, b"{", MemoryError())
    batch = BatchScorer(model, validator).score(raw([orjson.dumps(valid[0])]))
    assert batch.scores == []
    [message] = batch.rejected
    doc = orjson.loads(message.value)
    assert (doc["reason"], doc["id"]) == ("internal_error", "kafka:records:0:0")
    assert doc["message"].startswith("MemoryError")


# --- defect 3: what is accepted is what the tables can store ---------------------------------
def test_latency_of_an_old_kafka_timestamp_does_not_overflow(
    model: LoadedModel, valid: list[dict[str, object]]
) -> None:
    fifty_days_ago = NOW_MS - 50 * 86_400_000
    batch = BatchScorer(model, RecordValidator(model.schema)).score(
        raw([orjson.dumps(valid[0])], timestamp_ms=fifty_days_ago)
    )
    [message] = batch.scores
    row = decode_score_row(message.value)
    assert orjson.loads(message.value)["latency_ms"] == UINT32_MAX
    assert 0 <= row[9] <= UINT32_MAX


@pytest.mark.parametrize(
    ("event_time", "accepted"),
    [
        ("2106-02-07T06:28:15.999Z", True),
        ((DATETIME_MAX_S + 1) * 1000 - 1, True),
        ("2106-02-07T06:28:16Z", False),
        ((DATETIME_MAX_S + 1) * 1000, False),
        ("2200-01-01T00:00:00Z", False),
        ("1970-01-01T00:00:00Z", True),
    ],
)
def test_event_time_is_accepted_exactly_when_datetime_can_store_it(
    model: LoadedModel, valid: list[dict[str, object]], event_time: object, accepted: bool
) -> None:
    batch = BatchScorer(model, RecordValidator(model.schema)).score(
        raw([orjson.dumps({**valid[0], "event_time": event_time})])
    )
    if accepted:
        [message] = batch.scores
        row = decode_score_row(message.value)
        assert 0 <= row[1] <= DATETIME_MAX_S  # event_time DateTime
    else:
        [message] = batch.rejected
        assert orjson.loads(message.value)["reason"] == "invalid_event_time"


def test_a_far_future_kafka_timestamp_is_not_used_as_an_unstorable_event_time(
    model: LoadedModel, valid: list[dict[str, object]]
) -> None:
    record = {k: v for k, v in valid[0].items() if k != "event_time"}
    year_2200_ms = 7_258_118_400_000
    batch = BatchScorer(model, RecordValidator(model.schema)).score(
        raw([orjson.dumps(record)], timestamp_ms=year_2200_ms)
    )
    assert batch.scores == []
    [message] = batch.rejected
    assert orjson.loads(message.value)["reason"] == "invalid_event_time"
    # Its rejection row still fits rejected_records (ingested_at is a DateTime).
    row = decode_rejection_row(message.value)
    assert 0 <= row[7] <= DATETIME_MAX_S


# --- defect 8: one decoder contract ---------------------------------------------------------
TEXT = '{"id": "enc", "income": 1}'
NOT_UTF8_JSON = {
    "utf-8 with BOM": b"\xef\xbb\xbf" + TEXT.encode(),
    "utf-16 with BOM": TEXT.encode("utf-16"),
    "utf-16-le": TEXT.encode("utf-16-le"),
    "utf-16-be": TEXT.encode("utf-16-be"),
    "utf-32 with BOM": TEXT.encode("utf-32"),
    "utf-32-le": TEXT.encode("utf-32-le"),
    "latin-1": '{"id": "é", "income": 1}'.encode("latin-1"),
}


@pytest.mark.parametrize("payload", NOT_UTF8_JSON.values(), ids=NOT_UTF8_JSON.keys())
def test_only_utf8_json_without_bom_is_json(model: LoadedModel, payload: bytes) -> None:
    batch = RecordValidator(model.schema).validate_batch([payload], [NOW_MS])
    [(_, rejection)] = batch.rejections
    assert rejection.reason == "invalid_json"
    assert "UTF-8" in rejection.message


@pytest.mark.parametrize("payload", NOT_UTF8_JSON.values(), ids=NOT_UTF8_JSON.keys())
def test_the_bridge_refuses_the_same_bytes_with_the_same_reason(
    model: LoadedModel, payload: bytes
) -> None:
    from scorestream.producers.bridge.intake import parse_body
    from scorestream.producers.bridge.problems import ProblemError

    [(_, rejection)] = RecordValidator(model.schema).validate_batch([payload], [NOW_MS]).rejections
    with pytest.raises(ProblemError) as refused:
        parse_body(payload)
    assert refused.value.status == 400
    assert rejection.message in refused.value.detail


@pytest.mark.parametrize(
    "event_time",
    ["2026-03-01T00:00:00\x00", "2026-03-01T00:00:00Z\x00", "2026-03-01 00:00:00\x00"],
)
def test_event_time_with_a_trailing_nul_is_invalid(
    model: LoadedModel, valid: list[dict[str, object]], event_time: str
) -> None:
    payload = orjson.dumps({**valid[0], "event_time": event_time})
    [(_, rejection)] = RecordValidator(model.schema).validate_batch([payload], [NOW_MS]).rejections
    assert rejection.reason == "invalid_event_time"
    assert "\\x00" in rejection.message  # shown escaped, not as a raw control character
