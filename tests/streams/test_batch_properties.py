"""Property: whatever the bytes, the batch path gives one storable output per input, no raise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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


def _storable_datetime(seconds: int) -> bool:
    return DATETIME_MIN_S <= seconds <= DATETIME_MAX_S


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
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
