"""Property: whatever the bytes, the batch path gives one storable output per input, no raise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorestream.contract.rejections import decode_rejection_row
from scorestream.contract.scores import decode_score_row
from scorestream.contract.tables import DATETIME_MAX_S, DATETIME_MIN_S, UINT32_MAX
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.recent_ids import RecentIds
from scorestream.streams.scoring import BatchScorer, RawRecord
from scorestream.streams.synthetic import generate_records
from scorestream.streams.validation import RecordValidator
from tests.streams.hostile import hostile_payloads

NOW_MS = int(time.time() * 1000)
TEMPLATE: dict[str, Any] = next(
    generate_records(1, 5, 1, start="2026-03-01T00:00:00", include_target=False)
)[0]
KAFKA_TIMESTAMPS = st.sampled_from(
    [NOW_MS, NOW_MS - 60 * 86_400_000, 0, 7_258_118_400_000, 4_294_967_296_000, -1]
)


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> BatchScorer:
    model = LoadedModel.load(model_dir)
    return BatchScorer(model, RecordValidator(model.schema))


def _examples(count: int) -> Any:
    """Hypothesis settings for a test on the module's scorer (a fixture: fine to share)."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _storable_datetime(seconds: int) -> bool:
    return DATETIME_MIN_S <= seconds <= DATETIME_MAX_S


@_examples(400)
@given(
    st.lists(
        st.tuples(hostile_payloads(TEMPLATE), KAFKA_TIMESTAMPS),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_every_input_gives_exactly_one_storable_output(
    scorer: BatchScorer, inputs: list[tuple[bytes | None, int]], valid_first: bool
) -> None:
    if valid_first:  # so that batches mix scored and refused records
        inputs = [(orjson.dumps({**TEMPLATE, "id": f"v{NOW_MS}"}), NOW_MS), *inputs]
    scorer.recent_ids = RecentIds()  # ids repeat across examples; offsets start at 0 each time
    records = [
        RawRecord(value, "records", 0, offset, timestamp)
        for offset, (value, timestamp) in enumerate(inputs)
    ]
    batch = scorer.score(records)

    offsets = []
    for message in batch.scores:
        row = decode_score_row(message.value)
        offsets.append(row[11])
        assert _storable_datetime(row[1]) and _storable_datetime(row[3])
        assert 0 <= row[9] <= UINT32_MAX
    for message in batch.rejected:
        row = decode_rejection_row(message.value)
        offsets.append(row[6])
        assert _storable_datetime(row[7]) and _storable_datetime(row[8])
        assert row[10] == (records[row[6]].value or b"")  # the original bytes, exactly
    assert sorted(offsets) == list(range(len(records)))
    if batch.frame is not None:
        assert len(batch.frame) == len(batch.scores)


_STORABLE_MS = st.integers(DATETIME_MIN_S * 1000, DATETIME_MAX_S * 1000 + 999)
#: What an arrival is: its event time, written canonically or as epoch ms (then the batch's
#: text is formatted), and whether it breaks a column check (age -1) or repeats an id.
_ARRIVALS = st.lists(
    st.tuples(_STORABLE_MS, st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=12
)


def _iso(millis: int) -> str:
    return str(np.datetime_as_string(np.datetime64(millis, "ms"), unit="ms", timezone="UTC"))


@_examples(200)
@given(_ARRIVALS, st.booleans())
def test_each_score_carries_its_own_event_time_as_text_and_ms(
    scorer: BatchScorer, arrivals: list[tuple[int, bool, bool, bool]], canonical: bool
) -> None:
    # The records' own text is passed through when every one wrote it canonically; rows
    # refused by a column check or as duplicates must not shift it onto another record.
    scorer.recent_ids = RecentIds()
    records, written = [], []
    for offset, (millis, out_of_range, repeat_id, _) in enumerate(arrivals):
        record_id = "r0" if repeat_id and offset else f"r{offset}"
        record = {**TEMPLATE, "id": record_id, "event_time": _iso(millis) if canonical else millis}
        if out_of_range:
            record["age"] = -1
        records.append(RawRecord(orjson.dumps(record), "records", 0, offset, NOW_MS))
        written.append(millis)
    batch = scorer.score(records)
    for message in batch.scores:
        score = orjson.loads(message.value)
        assert score["event_time_ms"] == written[score["offset"]]
        assert score["event_time"] == _iso(score["event_time_ms"])


_NULLABLE = ("credit_score", "debt_to_income", "employment_years", "home_ownership")


@_examples(100)
@given(
    st.lists(
        st.tuples(
            st.sets(st.sampled_from(_NULLABLE)),  # these are null (absent or written null)
            st.booleans(),
            st.sampled_from(["rent", "own", "mortgage", "a home ownership never seen"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_validators_frame_scores_as_the_checked_path_does(
    scorer: BatchScorer, rows: list[tuple[set[str], bool, str]]
) -> None:
    # predict(validated=True) skips the checks and the None -> NaN step of other frames:
    # the validator's frame must not need them (missing categories are NaN already).
    payloads = []
    for nulls, absent, ownership in rows:
        record = {**TEMPLATE, "home_ownership": ownership}
        for name in nulls:
            if absent:
                del record[name]
            else:
                record[name] = None
        payloads.append(orjson.dumps(record))
    validated = scorer.validator.validate_batch(payloads, [NOW_MS] * len(payloads))
    assert len(validated.ids) == len(payloads)
    fast = scorer.model.predict(validated.frame, validated=True)
    checked = scorer.model.predict(validated.frame)
    np.testing.assert_array_equal(fast.scores, checked.scores)
    assert fast.labels.tolist() == checked.labels.tolist()
