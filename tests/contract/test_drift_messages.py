"""The ``bins`` message: orjson writes its rows (dataclasses) exactly as ``to_dict`` reads."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from scorestream.contract.drift import DriftBinsMessage, MinuteFeatureStats

ROWS = st.builds(
    MinuteFeatureStats,
    minute_ms=st.integers(0, 2**40),
    feature=st.text(),
    kind=st.sampled_from(["numeric", "categorical"]),
    counts=st.lists(st.integers(0, 2**40), min_size=1, max_size=12),
    count=st.integers(0, 2**40),
    missing=st.integers(0, 2**40),
    sum=st.floats(allow_nan=False, allow_infinity=False),
    sumsq=st.floats(0, 1e300),
)


@given(st.lists(ROWS, max_size=20), st.text(), st.text())
def test_rows_are_written_as_to_dict_gives_them(
    rows: list[MinuteFeatureStats], batch_id: str, model_name: str
) -> None:
    message = DriftBinsMessage(batch_id, "v1", 1_700_000_000_000, rows, model_name)
    expected = orjson.dumps(
        {
            "type": "bins",
            "batch_id": batch_id,
            "model_name": model_name,
            "model_version": "v1",
            "emitted_at_ms": 1_700_000_000_000,
            "rows": [row.to_dict() for row in rows],
        }
    )
    assert message.encode() == expected
    decoded = orjson.loads(message.encode())["rows"]
    assert [MinuteFeatureStats.from_dict(row) for row in decoded] == rows
