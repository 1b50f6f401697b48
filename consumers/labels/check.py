"""The daily labels check: labels that match no score, or do not fit the model's kind.

The sink stores every well-formed label the moment it arrives, whether or not its record
has been scored yet (labels may come first). Once a day, for the check's ``day``, this
module looks at the labels received from ``grace`` before the day's start to the day's
end (the latest label of each id, by ``received_at_ms``), joins them by id with
``scores``, and rejects to ``rejected_records``:

``label_without_score``
    no score with the label's id, and the label was received more than ``grace`` before
    the end of ``day`` (default :data:`GRACE`, 7 days): a score that is that late is taken
    never to come.
``label_type_mismatch``
    the record was scored, and the label cannot be an answer of that model:
    a regression model's label that is not a number (``value`` is NaN); a multi-class
    label that is not among the score's ``class_labels``; a binary label that is not one of
    the model version's classes (from its model directory; when the version cannot be
    found, binary labels are not judged).

Each label version is rejected once: a rejection is keyed by (labels topic, partition 0,
``source_offset`` = the label's ``received_at_ms``, id), and labels that already have one
are skipped, so a re-run (or the catch-up of a missed day, or overlapping windows) adds
nothing. A rejected label stays in ``labels``; its correction (a later label for the same
id) is judged afresh. The payload of such a rejection is the stored label as JSON (the
check reads the table, not the topic: a label's text, not its original JSON type).

Cost: a scan of ``labels`` (no time partition, see migration 0020) and of the ``id`` and
model columns of ``scores``, filtered to the window's ids; only offending rows and a
handful of (model version, label) pairs come back to Python. All SQL runs on 18.16.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from scorestream.consumers.clickhouse import Executor, check_identifier
from scorestream.consumers.drift_check.models import ModelKey, ModelLocator
from scorestream.contract import REJECTED_RECORDS, Row
from scorestream.exceptions import ModelError

log = logging.getLogger(__name__)

#: How long a label waits for its score before it is rejected as ``label_without_score``.
GRACE = timedelta(days=7)
WITHOUT_SCORE = "label_without_score"
TYPE_MISMATCH = "label_type_mismatch"
REASONS = (WITHOUT_SCORE, TYPE_MISMATCH)

#: A binary model version's classes as text (by the rule of ``scores.label``), or None
#: when the version is not found.
ClassesLookup = Callable[[str, str], "Sequence[str] | None"]

# The latest label of every id with a version in the window, joined with the latest score
# of the same id (scored = 0 when there is none), without the labels rejected already.
# argMax rather than FINAL: a WHERE on FINAL may be applied before the merge on old servers.
_JOINED = """
SELECT id, label, value, label_time_ms, version, model_name, model_version,
       s_name, s_version, s_kind, s_classes, scored
FROM
(
    SELECT id,
           argMax(label, received_at_ms) AS label,
           argMax(value, received_at_ms) AS value,
           argMax(label_time_ms, received_at_ms) AS label_time_ms,
           max(received_at_ms) AS version,
           argMax(model_name, received_at_ms) AS model_name,
           argMax(model_version, received_at_ms) AS model_version
    FROM {db}.labels
    WHERE id IN (SELECT id FROM {db}.labels
                 WHERE received_at_ms >= %(from_ms)s AND received_at_ms < %(to_ms)s)
    GROUP BY id
    HAVING version >= %(from_ms)s AND version < %(to_ms)s
)
ANY LEFT JOIN
(
    SELECT id,
           argMax(model_name, scored_at_ms) AS s_name,
           argMax(model_version, scored_at_ms) AS s_version,
           argMax(model_kind, scored_at_ms) AS s_kind,
           argMax(class_labels, scored_at_ms) AS s_classes,
           toUInt8(1) AS scored
    FROM {db}.scores
    WHERE id IN (SELECT id FROM {db}.labels
                 WHERE received_at_ms >= %(from_ms)s AND received_at_ms < %(to_ms)s)
    GROUP BY id
) USING id
WHERE (id, version) NOT IN (SELECT id, source_offset FROM {db}.rejected_records
                            WHERE source_topic = %(topic)s AND reason IN %(reasons)s)
"""
_COLUMNS = "id, label, value, label_time_ms, version, model_name, model_version, s_name, "
_COLUMNS += "s_version, s_kind, s_classes, scored"

_OFFENDING = """
SELECT {columns} FROM ({joined})
WHERE (scored = 0 AND version < %(cutoff_ms)s)
   OR (scored = 1 AND s_kind = 'regression' AND isNaN(value))
   OR (scored = 1 AND s_kind = 'multiclass' AND NOT has(s_classes, label))
"""
_BINARY_LABELS = """
SELECT s_name, s_version, groupUniqArray(label) FROM ({joined})
WHERE scored = 1 AND s_kind = 'binary'
GROUP BY s_name, s_version
"""
_BINARY_OFFENDING = """
SELECT {columns} FROM ({joined})
WHERE scored = 1 AND s_kind = 'binary' AND s_name = %(name)s AND s_version = %(version)s
  AND label IN %(unknown)s
"""


@dataclass(frozen=True)
class LabelsCheckResult:
    """What one run of the labels check rejected."""

    day: date
    without_score: int
    type_mismatch: int

    @property
    def rejected(self) -> int:
        return self.without_score + self.type_mismatch


def check_labels(
    client: Executor,
    database: str,
    labels_topic: str,
    day: date,
    *,
    grace: timedelta = GRACE,
    classes_of: ClassesLookup | None = None,
    now: datetime | None = None,
) -> LabelsCheckResult:
    """Reject, once, the labels of the window of ``day`` with no score or the wrong type.

    Parameters
    ----------
    client, database
        ClickHouse, and the database of ``labels``, ``scores`` and ``rejected_records``.
    labels_topic
        The labels topic's name: the ``source_topic`` of the rejections.
    day
        The window is the labels received in ``[day - grace, day + 1)``; those received
        before ``day + 1 - grace`` and still without a score are rejected.
    grace
        How long a label may wait for its score.
    classes_of
        A binary model version's classes as text, or None when unknown (then its labels
        are not judged). Without it, binary labels are not judged.
    now
        The rejections' time (default: now).
    """
    db = check_identifier(database)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    params: dict[str, Any] = {
        "from_ms": _ms(start - grace),
        "to_ms": _ms(end),
        "cutoff_ms": _ms(end - grace),
        "topic": labels_topic,
        "reasons": REASONS,
    }
    joined = _JOINED.format(db=db)
    offending = client.execute(_OFFENDING.format(columns=_COLUMNS, joined=joined), params)
    if classes_of is not None:
        for name, version, seen in client.execute(_BINARY_LABELS.format(joined=joined), params):
            classes = classes_of(name, version)
            unknown = sorted(set(seen) - set(classes)) if classes is not None else []
            if unknown:
                offending += client.execute(
                    _BINARY_OFFENDING.format(columns=_COLUMNS, joined=joined),
                    {**params, "name": name, "version": version, "unknown": tuple(unknown)},
                )
    now_ms = _ms(now or datetime.now(UTC))
    rows = [_rejection(row, labels_topic, grace, classes_of, now_ms) for row in offending]
    if rows:
        client.execute(REJECTED_RECORDS.insert_sql(db), rows)
    without = sum(1 for row in rows if row[1] == WITHOUT_SCORE)
    result = LabelsCheckResult(day, without, len(rows) - without)
    log.info(
        "labels check %s: %d without a score after %s, %d of the wrong type",
        day.isoformat(),
        result.without_score,
        grace,
        result.type_mismatch,
    )
    return result


def locator_classes(locator: ModelLocator) -> ClassesLookup:
    """The classes of binary model versions as the drift check finds them (cached)."""

    def classes_of(name: str, version: str) -> list[str] | None:
        try:
            model = locator.load(ModelKey(name, version))
        except ModelError:
            return None
        return [str(c) for c in model.classes] if model.kind == "binary" else None

    return classes_of


def _rejection(
    row: Sequence[Any],
    topic: str,
    grace: timedelta,
    classes_of: ClassesLookup | None,
    now_ms: int,
) -> Row:
    record_id, label, _value, label_time_ms, version, model_name, model_version = row[:7]
    s_name, s_version, s_kind, s_classes, scored = row[7:]
    if not scored:
        reason = WITHOUT_SCORE
        message = (
            f"no record with id {record_id!r} was scored within {_days(grace)} of its label "
            f"(received {_iso(version)})"
        )
    else:
        reason = TYPE_MISMATCH
        model = f"{s_name}@{s_version}"
        if s_kind == "regression":
            message = f"label {label!r} is not a number, but {model} is a regression model"
        else:
            classes = list(s_classes) if s_kind == "multiclass" else None
            if classes is None and classes_of is not None:
                classes = list(classes_of(s_name, s_version) or [])
            shown = ", ".join(repr(c) for c in (classes or [])[:20])
            message = f"label {label!r} is not a class of {s_kind} model {model} ({shown})"
    payload = {"id": record_id, "label": label, "label_time": label_time_ms}
    if model_name:
        payload["model_name"] = model_name
    if model_version:
        payload["model_version"] = model_version
    return (
        record_id,
        reason,
        "label" if scored else "id",
        message,
        topic,
        0,
        version,
        version // 1000,
        now_ms // 1000,
        now_ms,
        orjson.dumps(payload),
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(millis: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(millis / 1000))


def _days(grace: timedelta) -> str:
    days = grace.total_seconds() / 86400
    return f"{days:g} days" if days >= 1 else str(grace)
