"""Realised-performance pieces from ClickHouse 18.16 against the same pieces counted in Python.

Each test stores held-out predictions of a model trained on a data set bundled with
scikit-learn as the sink would (``scores`` rows over two days) and the records' labels in a
``labels`` table of the shape the labels sink writes, together with what the queries must
see through: a replayed batch of scores, labels replaced by a later one, labels of records
never scored, scored records without a label, and labelled records outside the period. The
pieces the SQL returns must equal the pieces ``from_arrays`` counts from the rows that
should count; the metrics of the SQL pieces must equal scikit-learn's on the stored rows.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.labels.check import check_labels
from scorestream.consumers.performance.queries import (
    PieceKey,
    binary_pieces,
    multiclass_pieces,
    regression_pieces,
)
from scorestream.contract import CHALLENGER_SCORES, LABELS, SCORES
from scorestream.settings import Settings
from scorestream.streams.performance import (
    BinaryPieces,
    MulticlassPieces,
    RegressionPieces,
    binary_metrics,
    calibration_curve,
    multiclass_metrics,
    regression_metrics,
)
from tests.consumers.comparison.score_rows import score_rows
from tests.streams.performance.pieces_equality import (
    assert_binary_equal,
    assert_multiclass_equal,
    assert_regression_equal,
)
from tests.streams.performance.predictions import cancer, diabetes, wine

DAY = datetime(2026, 5, 4)
DAYS = (DAY, DAY + timedelta(days=1))
START, END = DAY, DAY + timedelta(days=2)
OUTSIDE = END  # a third day, outside the period
EXACT = 1e-9


def create_tables(client: Any, database: str) -> None:
    apply_migrations(client, database)  # labels included (migration 0020)
    # Background merges would fold the replays and replaced labels away before a query
    # ran, and the tests would not show that the queries see through them: stop them on
    # this test's tables, so only FINAL can.
    for table in (SCORES, CHALLENGER_SCORES, LABELS):
        client.execute(f"SYSTEM STOP MERGES {database}.{table.name}")


def label_rows(
    ids: list[str], labels: list[str], values: list[float], received_at_ms: int = 2
) -> list[tuple[Any, ...]]:
    rows = []
    for record_id, label, value in zip(ids, labels, values, strict=True):
        row = {
            "id": record_id,
            "label": label,
            "value": float(value),
            "label_time": DAY + timedelta(days=7),
            "label_time_ms": int((DAY + timedelta(days=7)).timestamp() * 1000),
            "received_at": datetime.fromtimestamp(received_at_ms // 1000),
            "model_name": "",
            "model_version": "",
            "received_at_ms": received_at_ms,
        }
        rows.append(tuple(row[c] for c in LABELS.inserted))
    return rows


def store(
    client: Any,
    database: str,
    scores: list[tuple[Any, ...]],
    labels: list[tuple[Any, ...]],
    table: Any = SCORES,
) -> None:
    """Store the rows, plus a replay of the first 40 of each (the sink's at-least-once)."""
    client.execute(table.insert_sql(database), scores)
    client.execute(table.insert_sql(database), scores[:40])
    client.execute(LABELS.insert_sql(database), labels)
    client.execute(LABELS.insert_sql(database), labels[:40])


def noise(client: Any, database: str, prefix: str, kind: str, labels: list[str]) -> None:
    """Rows no piece may count: labels of unscored ids, unlabelled and out-of-period scores."""
    n = len(labels)
    client.execute(
        LABELS.insert_sql(database),
        label_rows([f"{prefix}-ghost{k}" for k in range(n)], labels, [1.0] * n),
    )
    unlabelled = score_rows(
        [f"{prefix}-nolabel{k}" for k in range(n)], DAY, "other", "v", kind, [0.5] * n, labels
    )
    client.execute(SCORES.insert_sql(database), unlabelled)
    late = [f"{prefix}-late{k}" for k in range(n)]
    client.execute(
        SCORES.insert_sql(database),
        score_rows(late, OUTSIDE, "other", "v", kind, [0.5] * n, labels),
    )
    client.execute(LABELS.insert_sql(database), label_rows(late, labels, [1.0] * n))


def halves(n: int) -> list[slice]:
    return [slice(0, n // 2), slice(n // 2, n)]


def test_binary_pieces_from_sql_equal_pieces_from_rows(settings: Settings, ch_client: Any) -> None:
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    expected: dict[PieceKey, BinaryPieces] = {}
    truth_by_version = {}
    for version, model in (("1", "logistic"), ("2", "forest")):
        scores, y = cancer(model)
        ids = [f"b{version}-{k}" for k in range(len(y))]
        text = ["1" if v else "0" for v in y]
        predicted = ["1" if s >= 0.5 else "0" for s in scores]
        rows = []
        for day, part in zip(DAYS, halves(len(y)), strict=True):
            rows += score_rows(
                ids[part], day, "cancer", version, "binary", scores[part], predicted[part]
            )
            expected[PieceKey("cancer", version, day.date())] = BinaryPieces.from_arrays(
                scores[part], y[part]
            )
        # The first 30 records were first labelled wrongly, then corrected by a later label.
        wrong = label_rows(ids[:30], ["0" if t == "1" else "1" for t in text[:30]], [0.0] * 30, 1)
        ch_client.execute(LABELS.insert_sql(database), wrong)
        store(ch_client, database, rows, label_rows(ids, text, [0.0] * len(ids)))
        truth_by_version[version] = (scores, y)
    noise(ch_client, database, "b", "binary", ["1", "0"] * 10)

    # The duplicates are there for FINAL to hide.
    raw = ch_client.execute(f"SELECT count() FROM {database}.labels")[0][0]
    assert raw > ch_client.execute(f"SELECT count() FROM {database}.labels FINAL")[0][0]
    got = binary_pieces(ch_client, database, START, END, model_name="cancer")
    assert sorted(got) == sorted(expected)
    for key, pieces in expected.items():
        assert_binary_equal(got[key], pieces)
    # Without the filter: the same pieces; the noise (model "other") counts nowhere.
    assert binary_pieces(ch_client, database, START, END) == got

    # The metrics of a version's two days merged: scikit-learn's on the stored rows.
    for version, (scores, y) in truth_by_version.items():
        merged = (
            got[PieceKey("cancer", version, DAYS[0].date())]
            + got[PieceKey("cancer", version, DAYS[1].date())]
        )
        stored = stored_binary(ch_client, database, version)
        assert len(stored) == len(y)
        assert stored["score"].to_numpy() == pytest.approx(np.sort(scores))
        check_binary_metrics(merged, stored["score"].to_numpy(), stored["label"].eq("1").to_numpy())


def stored_binary(client: Any, database: str, version: str) -> pd.DataFrame:
    """The stored rows of a version, joined to their labels in pandas, sorted by score."""
    scores = pd.DataFrame(
        client.execute(
            f"SELECT id, score FROM {database}.scores FINAL "
            "WHERE model_name = 'cancer' AND model_version = %(v)s",
            {"v": version},
        ),
        columns=["id", "score"],
    )
    labels = pd.DataFrame(
        client.execute(f"SELECT id, label FROM {database}.labels FINAL"), columns=["id", "label"]
    )
    return scores.merge(labels, on="id").sort_values("score", kind="stable")


def check_binary_metrics(pieces: BinaryPieces, scores: np.ndarray, y: np.ndarray) -> None:
    m = binary_metrics(pieces)
    predicted = scores >= 0.5
    assert m.n == len(y)
    assert abs(m.roc_auc - metrics.roc_auc_score(y, scores)) <= m.auc_binning_error + 1e-12
    assert abs(m.pr_auc - metrics.average_precision_score(y, scores)) <= (
        m.pr_auc_binning_error + 1e-12
    )
    assert m.log_loss == pytest.approx(metrics.log_loss(y, scores), abs=EXACT)
    assert m.brier == pytest.approx(metrics.brier_score_loss(y, scores), abs=EXACT)
    assert m.accuracy == pytest.approx(metrics.accuracy_score(y, predicted), abs=EXACT)
    assert m.precision == pytest.approx(metrics.precision_score(y, predicted), abs=EXACT)
    assert m.recall == pytest.approx(metrics.recall_score(y, predicted), abs=EXACT)
    assert m.f1 == pytest.approx(metrics.f1_score(y, predicted), abs=EXACT)
    assert m.base_rate == pytest.approx(y.mean(), abs=EXACT)
    assert calibration_curve(pieces).counts.sum() == len(y)


def test_challenger_scores_table_is_read_the_same_way(settings: Settings, ch_client: Any) -> None:
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    scores, y = cancer("forest")
    ids = [f"c{k}" for k in range(len(y))]
    predicted = ["1" if s >= 0.3 else "0" for s in scores]
    rows = score_rows(ids, DAY, "cancer-forest", "f1", "binary", scores, predicted)
    store(
        ch_client,
        database,
        rows,
        label_rows(ids, ["1" if v else "0" for v in y], [0.0] * len(y)),
        CHALLENGER_SCORES,
    )
    got = binary_pieces(
        ch_client, database, START, END, threshold=0.3, scores_table=CHALLENGER_SCORES.name
    )
    assert list(got) == [PieceKey("cancer-forest", "f1", date(2026, 5, 4))]
    assert_binary_equal(
        got[PieceKey("cancer-forest", "f1", DAY.date())],
        BinaryPieces.from_arrays(scores, y, threshold=0.3),
    )
    # The champions' table holds none of them.
    assert binary_pieces(ch_client, database, START, END) == {}


def test_multiclass_pieces_from_sql_equal_pieces_from_rows(
    settings: Settings, ch_client: Any
) -> None:
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    truth, probabilities, classes = wine()
    # Two records' truths are a class the model does not know: the labels check rejects
    # them (label_type_mismatch), and no piece counts them.
    truth = ["nebbiolo", "nebbiolo", *truth[2:]]
    ids = [f"m{k}" for k in range(len(truth))]
    top = probabilities.argmax(axis=1)
    predicted = [classes[i] for i in top]
    rows: list[tuple[Any, ...]] = []
    expected = {}
    for day, part in zip(DAYS, halves(len(truth)), strict=True):
        known = [k for k in range(len(truth))[part] if truth[k] in classes]
        rows += score_rows(
            ids[part],
            day,
            "wine",
            "3",
            "multiclass",
            probabilities[part, :].max(axis=1),
            predicted[part],
            probabilities[part],
            classes,
        )
        expected[PieceKey("wine", "3", day.date())] = MulticlassPieces.from_arrays(
            [truth[k] for k in known], probabilities[known], classes
        )
    store(ch_client, database, rows, label_rows(ids, truth, [0.0] * len(ids)))
    noise(ch_client, database, "m", "multiclass", classes * 3)

    got = multiclass_pieces(ch_client, database, START, END, model_name="wine", model_version="3")
    assert sorted(got) == sorted(expected)
    for key, pieces in expected.items():
        assert_multiclass_equal(got[key], pieces)

    merged = got[PieceKey("wine", "3", DAYS[0].date())] + got[PieceKey("wine", "3", DAYS[1].date())]
    m = multiclass_metrics(merged)
    known = [k for k, t in enumerate(truth) if t in classes]
    truth = [truth[k] for k in known]
    predicted = [predicted[k] for k in known]
    assert m.n == len(known) == len(ids) - 2
    assert m.accuracy == pytest.approx(metrics.accuracy_score(truth, predicted), abs=EXACT)
    assert m.macro_f1 == pytest.approx(
        metrics.f1_score(truth, predicted, average="macro"), abs=EXACT
    )
    assert m.log_loss == pytest.approx(
        metrics.log_loss(truth, probabilities[known], labels=classes), abs=EXACT
    )
    assert "nebbiolo" not in m.recall
    for name in classes:
        want = metrics.recall_score(truth, predicted, labels=[name], average=None)[0]
        assert m.recall[name] == pytest.approx(want, abs=EXACT)


def test_regression_pieces_from_sql_equal_pieces_from_rows(
    settings: Settings, ch_client: Any
) -> None:
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    predicted, y = diabetes()
    ids = [f"r{k}" for k in range(len(y))]
    rows: list[tuple[Any, ...]] = []
    expected = {}
    for day, part in zip(DAYS, halves(len(y)), strict=True):
        rows += score_rows(
            ids[part], day, "diabetes", "1", "regression", predicted[part], [""] * len(ids[part])
        )
        expected[PieceKey("diabetes", "1", day.date())] = RegressionPieces.from_arrays(
            predicted[part], y[part]
        )
    # A first, wrong measurement of every value, replaced by the later one.
    ch_client.execute(LABELS.insert_sql(database), label_rows(ids, [""] * len(ids), list(y * 2), 1))
    store(ch_client, database, rows, label_rows(ids, [""] * len(ids), list(y)))
    noise(ch_client, database, "r", "regression", [""] * 20)

    got = regression_pieces(ch_client, database, START, END, model_name="diabetes")
    assert sorted(got) == sorted(expected)
    for key, pieces in expected.items():
        assert_regression_equal(got[key], pieces)
    merged = (
        got[PieceKey("diabetes", "1", DAYS[0].date())]
        + got[PieceKey("diabetes", "1", DAYS[1].date())]
    )
    m = regression_metrics(merged)
    assert m.mae == pytest.approx(metrics.mean_absolute_error(y, predicted), rel=EXACT)
    assert m.rmse == pytest.approx(metrics.root_mean_squared_error(y, predicted), rel=EXACT)
    assert m.r2 == pytest.approx(metrics.r2_score(y, predicted), rel=EXACT)
    assert m.mean_error == pytest.approx(float(np.mean(predicted - y)), rel=EXACT)


def test_a_period_without_labels_gives_no_pieces(settings: Settings, ch_client: Any) -> None:
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    scores, y = cancer("logistic")
    rows = score_rows(
        [f"u{k}" for k in range(len(y))], DAY, "cancer", "1", "binary", scores, ["1"] * len(y)
    )
    ch_client.execute(SCORES.insert_sql(database), rows)
    assert binary_pieces(ch_client, database, START, END) == {}
    assert regression_pieces(ch_client, database, START, END) == {}
    assert multiclass_pieces(ch_client, database, START, END) == {}
    # The metrics of "no pieces" are NaN, not an error.
    assert math.isnan(binary_metrics(BinaryPieces()).roc_auc)


def test_sql_bins_every_score_as_numpy_does(settings: Settings, ch_client: Any) -> None:
    # Every bin edge k/1000, its float neighbours, values whose product rounds onto an edge
    # (0.3 * 1000 == 300.0) and scores outside [0, 1]: the bin in SQL is numpy's.
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    edges = np.arange(1001) / 1000
    scores = np.concatenate(
        [
            edges,
            np.nextafter(edges, 2.0),
            np.nextafter(edges, -1.0),
            [0.3, 0.7, 0.9995, 1.2, -0.1, 1e-300],
        ]
    )
    y = np.arange(len(scores)) % 3 == 0
    ids = [f"e{k}" for k in range(len(scores))]
    rows = score_rows(ids, DAY, "edges", "1", "binary", scores, ["1"] * len(ids))
    labels = ["1" if v else "0" for v in y]
    store(ch_client, database, rows, label_rows(ids, labels, [0.0] * len(ids)))
    got = binary_pieces(ch_client, database, START, END)
    assert_binary_equal(
        got[PieceKey("edges", "1", DAY.date())], BinaryPieces.from_arrays(scores, y)
    )


def test_labels_of_neither_class_are_left_out_when_asked(
    settings: Settings, ch_client: Any
) -> None:
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    scores, y = cancer("logistic")
    ids = [f"n{k}" for k in range(len(y))]
    labels = ["1" if v else "0" for v in y]
    labels[:25] = ["maybe"] * 25
    rows = score_rows(ids, DAY, "cancer", "1", "binary", scores, ["1"] * len(ids))
    store(ch_client, database, rows, label_rows(ids, labels, [0.0] * len(ids)))
    key = PieceKey("cancer", "1", DAY.date())
    strict = binary_pieces(ch_client, database, START, END, negative_label="0")[key]
    assert_binary_equal(strict, BinaryPieces.from_arrays(scores[25:], y[25:]))
    # Without the negative class named, "maybe" counts as negative.
    loose = binary_pieces(ch_client, database, START, END)[key]
    assert_binary_equal(loose, BinaryPieces.from_arrays(scores, np.r_[[False] * 25, y[25:]]))


def test_labels_the_labels_check_rejects_never_count(settings: Settings, ch_client: Any) -> None:
    # Labels of the wrong type for the model's kind stay in `labels` (the check rejects them
    # to rejected_records, it deletes nothing): every one the real check rejects must be
    # left out of the pieces of every kind, and only those.
    database = settings.clickhouse.database
    create_tables(ch_client, database)
    received = DAY + timedelta(days=8)
    received_ms = int(received.timestamp() * 1000)
    bad = 10

    scores, y = cancer("logistic")
    b_ids = [f"b{k}" for k in range(len(y))]
    b_labels = ["maybe"] * bad + ["1" if v else "0" for v in y[bad:]]
    b_rows = score_rows(b_ids, DAY, "cancer", "1", "binary", scores, ["1"] * len(y))

    truth, probabilities, classes = wine()
    m_ids = [f"m{k}" for k in range(len(truth))]
    m_labels = ["nebbiolo"] * bad + list(truth[bad:])
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    m_rows = score_rows(
        m_ids,
        DAY,
        "wine",
        "3",
        "multiclass",
        probabilities.max(axis=1),
        predicted,
        probabilities,
        classes,
    )

    r_predicted, r_y = diabetes()
    r_ids = [f"r{k}" for k in range(len(r_y))]
    r_labels = ["high"] * bad + [str(v) for v in r_y[bad:]]
    r_values = [math.nan] * bad + list(r_y[bad:])
    r_rows = score_rows(r_ids, DAY, "diabetes", "1", "regression", r_predicted, [""] * len(r_ids))

    ch_client.execute(SCORES.insert_sql(database), b_rows + m_rows + r_rows)
    ch_client.execute(
        LABELS.insert_sql(database),
        label_rows(b_ids, b_labels, [0.0] * len(b_ids), received_ms)
        + label_rows(m_ids, m_labels, [0.0] * len(m_ids), received_ms)
        + label_rows(r_ids, r_labels, r_values, received_ms),
    )
    result = check_labels(
        ch_client,
        database,
        "labels",
        received.date(),
        classes_of=lambda name, version: ["0", "1"] if name == "cancer" else None,
    )
    assert result.type_mismatch == 3 * bad
    rejected = {
        row[0]
        for row in ch_client.execute(
            f"SELECT id FROM {database}.rejected_records WHERE reason = 'label_type_mismatch'"
        )
    }
    assert rejected == {*b_ids[:bad], *m_ids[:bad], *r_ids[:bad]}

    key = PieceKey("cancer", "1", DAY.date())
    got_binary = binary_pieces(ch_client, database, START, END, negative_label="0")[key]
    assert_binary_equal(got_binary, BinaryPieces.from_arrays(scores[bad:], y[bad:]))
    key = PieceKey("wine", "3", DAY.date())
    got_multiclass = multiclass_pieces(ch_client, database, START, END)[key]
    assert_multiclass_equal(
        got_multiclass,
        MulticlassPieces.from_arrays(list(truth[bad:]), probabilities[bad:], classes),
    )
    key = PieceKey("diabetes", "1", DAY.date())
    got_regression = regression_pieces(ch_client, database, START, END)[key]
    assert_regression_equal(
        got_regression, RegressionPieces.from_arrays(r_predicted[bad:], r_y[bad:])
    )
