"""The ClickHouse tables of the product: every column, its type, in insert order.

The sink inserts, the queries read, the migrations' tests compare these specs with
``system.columns`` on the real server, the benchmark and the tests build rows from them.
A new column is added here and in one migration (``consumers/migrations/``), nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: The largest value of a ``UInt32`` column (``latency_ms``).
UINT32_MAX = 2**32 - 1
#: What a ``DateTime`` column stores (ClickHouse 18.16 and 24.x alike), in epoch seconds:
#: 1970-01-01T00:00:00Z .. 2106-02-07T06:28:15Z. A value outside cannot be inserted.
DATETIME_MIN_S = 0
DATETIME_MAX_S = UINT32_MAX


def check_identifier(name: str) -> str:
    """``name`` if it is a plain SQL identifier (databases, tables cannot be parameters).

    >>> check_identifier("scoring")
    'scoring'
    >>> check_identifier("x; DROP TABLE y")
    Traceback (most recent call last):
    ...
    ValueError: not a plain identifier: 'x; DROP TABLE y'
    """
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


@dataclass(frozen=True)
class Column:
    """One column: its name, its ClickHouse type, and whether the server fills it."""

    name: str
    type: str
    server_default: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A table of the ``scoring`` database."""

    name: str
    columns: tuple[Column, ...]

    @property
    def inserted(self) -> tuple[str, ...]:
        """The columns a writer supplies, in the order of its row tuples."""
        return tuple(c.name for c in self.columns if not c.server_default)

    def types(self) -> dict[str, str]:
        """Column name -> ClickHouse type, as ``system.columns`` reports them."""
        return {c.name: c.type for c in self.columns}

    def insert_sql(self, database: str) -> str:
        """``INSERT INTO db.table (columns...) VALUES`` for clickhouse-driver."""
        return (
            f"INSERT INTO {check_identifier(database)}.{check_identifier(self.name)} "
            f"({', '.join(self.inserted)}) VALUES"
        )


def _table(name: str, *columns: tuple[str, str] | Column) -> TableSpec:
    return TableSpec(name, tuple(c if isinstance(c, Column) else Column(*c) for c in columns))


SCORES = _table(
    "scores",
    ("id", "String"),
    ("event_time", "DateTime"),
    ("event_time_ms", "UInt64"),
    ("scored_at", "DateTime"),
    ("scored_at_ms", "UInt64"),
    ("model_name", "String"),
    ("model_version", "String"),
    ("score", "Float64"),
    ("label", "String"),
    ("latency_ms", "UInt32"),
    ("source_partition", "UInt16"),
    ("source_offset", "UInt64"),
    Column("inserted_at", "DateTime", server_default=True),
    # Added by migration 0012: what kind of model scored, and a multi-class model's
    # probability of every class (both arrays empty for the other kinds).
    ("model_kind", "String"),
    ("class_labels", "Array(String)"),
    ("class_probabilities", "Array(Float64)"),
)

#: Challengers' scores of the same records (topic ``scores.challenger``): the columns of
#: ``scores``, but keyed by model name, version and id, so that every model keeps its own.
CHALLENGER_SCORES = TableSpec("challenger_scores", SCORES.columns)

REJECTED_RECORDS = _table(
    "rejected_records",
    ("id", "String"),
    ("reason", "String"),
    ("field", "String"),
    ("message", "String"),
    ("source_topic", "String"),
    ("source_partition", "UInt16"),
    ("source_offset", "UInt64"),
    ("ingested_at", "DateTime"),
    ("rejected_at", "DateTime"),
    ("rejected_at_ms", "UInt64"),
    ("payload", "String"),
)

DRIFT_STATS = _table(
    "drift_stats",
    ("minute", "DateTime"),
    ("feature", "String"),
    ("kind", "String"),
    ("model_version", "String"),
    ("batch_id", "String"),
    ("counts", "Array(UInt64)"),
    ("count", "UInt64"),
    ("missing", "UInt64"),
    ("sum", "Float64"),
    ("sumsq", "Float64"),
    ("emitted_at_ms", "UInt64"),
    # Added by migration 0014 and appended to the sorting key, so that two models, or two
    # versions of one, never replace each other's rows. ClickHouse 18.16 can only append
    # newly added columns to a sorting key, hence ``model_id`` ("name@version") beside
    # the older ``model_version``.
    ("model_name", "String"),
    ("model_id", "String"),
)

DRIFT_EVENTS = _table(
    "drift_events",
    ("detected_at", "DateTime"),
    ("detected_at_ms", "UInt64"),
    ("minute", "DateTime"),
    ("feature", "String"),
    ("detector", "String"),
    ("value", "Float64"),
    ("model_version", "String"),
    ("event_id", "String"),
    # Added by migration 0014 and appended to the sorting key, so that two models, or two
    # versions of one, never replace each other's rows. ClickHouse 18.16 can only append
    # newly added columns to a sorting key, hence ``model_id`` ("name@version") beside
    # the older ``model_version``.
    ("model_name", "String"),
    ("model_id", "String"),
)

DRIFT_CHECKS = _table(
    "drift_checks",
    ("check_kind", "String"),
    ("period_start", "DateTime"),
    ("period_end", "DateTime"),
    ("checked_at", "DateTime"),
    ("feature", "String"),
    ("kind", "String"),
    ("model_version", "String"),
    ("n_reference", "UInt64"),
    ("n_current", "UInt64"),
    ("test", "String"),
    ("statistic", "Float64"),
    ("p_value", "Float64"),
    ("p_adjusted", "Float64"),
    ("psi", "Float64"),
    ("js_distance", "Float64"),
    ("wasserstein", "Float64"),
    ("ref_mean", "Float64"),
    ("cur_mean", "Float64"),
    ("ref_missing_rate", "Float64"),
    ("cur_missing_rate", "Float64"),
    ("level", "String"),
    ("drifted", "UInt8"),
    ("reference_counts", "Array(UInt64)"),
    ("current_counts", "Array(UInt64)"),
    ("bin_labels", "Array(String)"),
    # Why the feature could not be checked (level "error"); empty otherwise.
    ("error", "String"),
    # Added by migration 0014 and appended to the sorting key, so that two models, or two
    # versions of one, never replace each other's rows. ClickHouse 18.16 can only append
    # newly added columns to a sorting key, hence ``model_id`` ("name@version") beside
    # the older ``model_version``.
    ("model_name", "String"),
    ("model_id", "String"),
    # Added by migration 0017: what the period was compared with, "reference" (the
    # training profile) or "same_time_of_day" (the same window on previous days, for
    # windows shorter than a day; consumers/drift_check/baseline.py).
    ("baseline", "String"),
)

#: One row per (period, champion, challenger): how far a challenger agrees with the champion
#: on the same records (computed by the daily check from ``scores`` and ``challenger_scores``).
MODEL_COMPARISONS = _table(
    "model_comparisons",
    ("check_kind", "String"),
    ("period_start", "DateTime"),
    ("period_end", "DateTime"),
    ("checked_at", "DateTime"),
    ("model_kind", "String"),
    ("champion_name", "String"),
    ("champion_version", "String"),
    ("challenger_name", "String"),
    ("challenger_version", "String"),
    # Records both models scored (joined by id).
    ("n_paired", "UInt64"),
    # Same predicted class (classifiers), or |score difference| <= tolerance (regression).
    ("agreement_rate", "Float64"),
    ("tolerance", "Float64"),
    # challenger score - champion score.
    ("mean_difference", "Float64"),
    ("difference_quantiles", "Array(Float64)"),
    ("quantile_levels", "Array(Float64)"),
    # PSI between the two score distributions, on the champion's reference score bins.
    ("score_psi", "Float64"),
)

#: One row per record id: its true label, however late it came (topic ``labels``, see
#: :mod:`scorestream.contract.labels`). A label sent later for the same id replaces the
#: earlier one (version ``received_at_ms``; read with FINAL).
LABELS = _table(
    "labels",
    ("id", "String"),
    # The label as text, by the rule of scores.label ("1", "True", "yes").
    ("label", "String"),
    # The label as a number (regression); NaN for a class name.
    ("value", "Float64"),
    ("label_time", "DateTime"),
    ("label_time_ms", "UInt64"),
    # The label message's Kafka timestamp: the row's version.
    ("received_at", "DateTime"),
    ("received_at_ms", "UInt64"),
    ("model_name", "String"),
    ("model_version", "String"),
    Column("inserted_at", "DateTime", server_default=True),
)

#: The daily performance verdict: one row per (model version, day, metric, source), see
#: :mod:`scorestream.consumers.performance.check`. ``source`` is ``realised`` (from the
#: labelled records), ``estimated`` (CBPE, before labels) or ``reference`` (the holdout
#: metric of the version's ``metadata.json``; its ``level`` is the day's verdict). A day
#: checked again (late labels) replaces its rows (version ``checked_at``; read with FINAL).
#: ``check_kind`` is ``daily`` for the versions in ``scores`` and ``challenger_daily`` for
#: the challengers of ``challenger_scores``.
MODEL_PERFORMANCE = _table(
    "model_performance",
    ("check_kind", "String"),
    ("period_start", "DateTime"),
    ("period_end", "DateTime"),
    ("checked_at", "DateTime"),
    ("model_name", "String"),
    ("model_version", "String"),
    ("model_kind", "String"),
    ("metric", "String"),
    ("source", "String"),
    ("value", "Float64"),
    ("band_low", "Float64"),
    ("band_high", "Float64"),
    # Labelled records (realised), scored records (estimated, reference).
    ("n", "UInt64"),
    # Labelled / scored records of the day.
    ("coverage", "Float64"),
    # ok | warn | alert | insufficient
    ("level", "String"),
)

ALERT_DELIVERIES = _table(
    "alert_deliveries",
    ("alert_id", "String"),
    ("check_kind", "String"),
    ("period_start", "DateTime"),
    ("delivered_at", "DateTime"),
    ("message_id", "String"),
    ("recipients", "String"),
)

#: Every table of the product's database (``schema_migrations`` is the migrator's own).
TABLES: tuple[TableSpec, ...] = (
    SCORES,
    CHALLENGER_SCORES,
    REJECTED_RECORDS,
    DRIFT_STATS,
    DRIFT_EVENTS,
    DRIFT_CHECKS,
    MODEL_COMPARISONS,
    ALERT_DELIVERIES,
    LABELS,
    MODEL_PERFORMANCE,
)
