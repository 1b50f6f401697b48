"""The day's score histogram: counting raw scores, and one aggregate query over ``scores``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pytest

from scorestream.contract import SCORES
from scorestream.settings import Settings
from scorestream.streams.estimation.cbpe import CBPE
from scorestream.streams.estimation.histogram import BINS, ScoreHistogram, read_histogram
from tests.consumers.comparison.score_rows import insert, score_rows
from tests.streams.estimation.datasets import digits, split


def test_edges_and_the_threshold_bin() -> None:
    h = ScoreHistogram.from_scores([0.0, 0.4999, 0.5, 1.0, 1.5, -0.2])
    assert h.counts[0, 0] == 2  # 0.0 and the clipped -0.2
    assert h.counts[0, 499] == 1 and h.counts[0, 500] == 1
    assert h.counts[0, BINS - 1] == 2  # 1.0 and the clipped 1.5
    # Bin 500 starts at the worker's threshold 0.5: every record is on its side.
    assert ScoreHistogram.midpoints()[500] >= 0.5 > ScoreHistogram.midpoints()[499]


def test_rows_and_scores_give_the_same_histogram() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=3000)
    predicted = rng.choice(["a", "b", "c"], size=3000)
    direct = ScoreHistogram.from_scores(scores, list(predicted))
    bins = ScoreHistogram.bin_of(scores)
    cells: dict[tuple[str, int], int] = {}
    for label, b in zip(predicted, bins, strict=True):
        cells[(str(label), int(b))] = cells.get((str(label), int(b)), 0) + 1
    rebuilt = ScoreHistogram.from_rows([(k[0], k[1], v) for k, v in cells.items()], binary=False)
    assert rebuilt.classes == direct.classes
    np.testing.assert_array_equal(rebuilt.counts, direct.counts)


@pytest.mark.integration
def test_the_days_histogram_from_clickhouse_is_the_histogram_of_its_stored_scores(
    ch_client: Any, settings: Settings
) -> None:
    from scorestream.consumers.clickhouse import apply_migrations

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    x, y = digits()
    s = split(x, y, seed=1, fit_rows=600, holdout_rows=600, multiclass=True)
    probabilities = s.probabilities
    top = probabilities.max(axis=1)
    predicted = probabilities.argmax(axis=1)
    classes = [str(c) for c in range(10)]
    ids = [f"r{k}" for k in range(len(top))]
    day = datetime(2026, 5, 28)
    rows = score_rows(
        ids, day, "digits", "v1", "multiclass", top, predicted, probabilities, classes
    )
    insert(ch_client, database, SCORES, rows)
    # A replay of the first 100 records (same ids): FINAL counts each record once.
    insert(ch_client, database, SCORES, rows[:100])
    # Another day and another version of the model are not the day's scores of v1.
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(
            ["o1", "o2"], datetime(2026, 5, 29), "digits", "v1", "multiclass", [0.9, 0.9], [1, 2]
        ),
    )
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(["v1", "v2"], day, "digits", "v2", "multiclass", [0.9, 0.9], [1, 2]),
    )
    stored = read_histogram(
        ch_client, database, name="digits", version="v1", day=date(2026, 5, 28), binary=False
    )
    expected = ScoreHistogram.from_scores(top, list(predicted))
    assert stored.classes == expected.classes
    np.testing.assert_array_equal(stored.counts, expected.counts)
    cbpe = CBPE(s.calibration)
    assert cbpe.estimate(stored) == cbpe.estimate(expected)
    assert sorted(stored.classes) == sorted({str(p) for p in predicted}) and set(
        stored.classes
    ) <= set(classes)
