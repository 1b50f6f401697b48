"""The ``drift.stats`` messages: per-minute bin counts (partials that add up) and changes.

Two message types share the topic, told apart by ``type``: ``bins`` (a
:class:`DriftBinsMessage`, rows for table ``drift_stats``) and ``change`` (a
:class:`DriftChangeMessage`, one row of ``drift_events``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from scorestream.contract.codec import Row, decoder
from scorestream.contract.tables import DRIFT_EVENTS, DRIFT_STATS, TableSpec
from scorestream.exceptions import DecodeError

#: Length of an accumulation window (one ``drift_stats`` minute) in milliseconds.
MINUTE_MS = 60_000
#: Rows per ``bins`` message: a backfill over many minutes stays far below the size limit.
ROWS_PER_MESSAGE = 500


@dataclass(frozen=True)
class MinuteFeatureStats:
    """One feature's counts for one minute of event time (a partial: rows add up).

    Attributes
    ----------
    minute_ms
        Start of the minute, epoch milliseconds.
    feature, kind
        Feature name and ``"numeric"`` or ``"categorical"``.
    counts
        Counts in the feature's bin layout (last bin: missing).
    count
        Records counted, missing included (``sum(counts)``).
    missing
        Records whose value was missing (``counts[-1]``).
    sum, sumsq
        Sum and sum of squares of the non-missing values (numeric; ``0.0`` otherwise).
    """

    minute_ms: int
    feature: str
    kind: str
    counts: list[int]
    count: int
    missing: int
    sum: float
    sumsq: float

    @property
    def mean(self) -> float:
        """Mean of the non-missing values (``nan`` if none, or categorical)."""
        present = self.count - self.missing
        return self.sum / present if self.kind == "numeric" and present > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (one row of a ``bins`` message)."""
        return {
            "minute_ms": self.minute_ms,
            "feature": self.feature,
            "kind": self.kind,
            "counts": list(self.counts),
            "count": self.count,
            "missing": self.missing,
            "sum": self.sum,
            "sumsq": self.sumsq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MinuteFeatureStats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            minute_ms=int(data["minute_ms"]),
            feature=str(data["feature"]),
            kind=str(data["kind"]),
            counts=[int(v) for v in data["counts"]],
            count=int(data["count"]),
            missing=int(data["missing"]),
            sum=float(data["sum"]),
            sumsq=float(data["sumsq"]),
        )


@dataclass(frozen=True)
class DriftBinsMessage:
    """One flush of a worker's counts: rows keyed by ``batch_id`` (replays replace)."""

    batch_id: str
    model_version: str
    emitted_at_ms: int
    rows: list[MinuteFeatureStats]
    model_name: str = ""
    type: Literal["bins"] = field(default="bins")

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "type": self.type,
                "batch_id": self.batch_id,
                "model_name": self.model_name,
                "model_version": self.model_version,
                "emitted_at_ms": self.emitted_at_ms,
                # orjson writes each row's fields in order, as to_dict gives them, in C: a
                # backfill's flush has about one row per record and feature group of a minute.
                "rows": self.rows,
            }
        )


@dataclass(frozen=True)
class DriftChangeMessage:
    """A change point a stream detector found in one feature's per-minute mean."""

    event_id: str
    detector: str
    feature: str
    minute_ms: int
    value: float
    detected_at_ms: int
    model_version: str
    model_name: str = ""
    type: Literal["change"] = field(default="change")

    def encode(self) -> bytes:
        return orjson.dumps(self)


def model_id(model_name: str, model_version: str) -> str:
    """The ``model_id`` column: ``name@version``, part of the drift tables' sorting keys.

    >>> model_id("churn", "3f2a9c0d1e4b")
    'churn@3f2a9c0d1e4b'
    """
    return f"{model_name}@{model_version}"


def split_bins(
    batch_id: str,
    model_version: str,
    emitted_at_ms: int,
    rows: list[MinuteFeatureStats],
    model_name: str = "",
) -> list[DriftBinsMessage]:
    """``rows`` as messages of at most :data:`ROWS_PER_MESSAGE` rows, all under one id."""
    return [
        DriftBinsMessage(
            batch_id, model_version, emitted_at_ms, rows[i : i + ROWS_PER_MESSAGE], model_name
        )
        for i in range(0, len(rows), ROWS_PER_MESSAGE)
    ]


@decoder
def decode_drift_rows(doc: dict[str, Any]) -> tuple[TableSpec, list[Row]]:
    """A ``drift.stats`` message -> ``drift_stats`` rows (``bins``) or a ``drift_events`` row.

    >>> row = MinuteFeatureStats(60_000, "x", "numeric", [1, 2, 0], 3, 0, 4.5, 7.25)
    >>> message = DriftBinsMessage("b1", "v1", 5000, [row], model_name="m")
    >>> spec, rows = decode_drift_rows(message.encode())
    >>> spec.name, rows  # doctest: +NORMALIZE_WHITESPACE
    ('drift_stats',
     [(60, 'x', 'numeric', 'v1', 'b1', [1, 2, 0], 3, 0, 4.5, 7.25, 5000, 'm', 'm@v1')])
    """
    kind = doc.get("type")
    # Messages written before models were named in them carry no model_name.
    model_name = str(doc.get("model_name", ""))
    if kind == "bins":
        batch_id = str(doc["batch_id"])
        model_version = str(doc["model_version"])
        key = model_id(model_name, model_version)
        emitted_ms = int(doc["emitted_at_ms"])
        rows = [
            (
                int(r["minute_ms"]) // 1000,
                str(r["feature"]),
                str(r["kind"]),
                model_version,
                batch_id,
                [int(c) for c in r["counts"]],
                int(r["count"]),
                int(r["missing"]),
                float(r["sum"]),
                float(r["sumsq"]),
                emitted_ms,
                model_name,
                key,
            )
            for r in doc["rows"]
        ]
        return DRIFT_STATS, rows
    if kind == "change":
        detected_ms = int(doc["detected_at_ms"])
        return DRIFT_EVENTS, [
            (
                detected_ms // 1000,
                detected_ms,
                int(doc["minute_ms"]) // 1000,
                str(doc["feature"]),
                str(doc["detector"]),
                float(doc["value"]),
                str(doc["model_version"]),
                str(doc["event_id"]),
                model_name,
                model_id(model_name, str(doc["model_version"])),
            )
        ]
    raise DecodeError(f"unknown drift.stats message type {kind!r}", "type")
