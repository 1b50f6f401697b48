"""Lag per partition, liveness and readiness of one consumer, at batch cost, not record cost.

The consumer loop reports what it knows after each poll and batch (:meth:`observe`,
:meth:`progressed`) and a heartbeat task ticks (:meth:`heartbeat`); the HTTP thread judges
at request time (:meth:`readiness`, :meth:`liveness`), so a loop that stopped reporting is
noticed without its help.

Lag is "end offset minus the next offset to process": records the broker holds that this
process has not finished yet (scored and acknowledged for the worker, inserted and committed
for the sink). The end offset is the one the consumer's last fetch saw (``highwater``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

#: (topic, partition): aiokafka's ``TopicPartition`` and Faust's ``TP`` are such tuples.
Partition = tuple[str, int]


@dataclass(frozen=True)
class Verdict:
    """A probe's answer: ``ok`` decides the status code, the rest is its JSON body."""

    ok: bool
    status: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, **self.details}


@dataclass(frozen=True)
class _Observation:
    # Replaced whole by the loop, read whole by the HTTP thread: no torn reads.
    assigned: int
    lag: int
    at: float


class ConsumerHealth:
    """The series ``PREFIX_consumer_lag``, ``..._assigned_partitions``, ``..._ready``,
    ``..._live`` and ``..._seconds_since_progress`` of one consumer, and its probes.

    Parameters
    ----------
    registry
        Where the series are registered (one registry per process object).
    prefix
        ``scorestream_worker`` or ``scorestream_sink``.
    stall_s
        Not ready when records wait and none was processed for this long, or when the
        loop has not polled for this long.
    live_timeout_s
        Not live when the event loop has not run the heartbeat for this long.
    clock
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        prefix: str,
        *,
        stall_s: float = 30.0,
        live_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_s = stall_s
        self.live_timeout_s = live_timeout_s
        self._clock = clock
        started = clock()
        self._beat_at = started
        self._progress_at = started
        self._observed: _Observation | None = None
        self._lag = Gauge(
            f"{prefix}_consumer_lag",
            "Records on the broker not processed yet, per partition "
            "(end offset seen by the last fetch minus the next offset to process)",
            ["topic", "partition"],
            registry=registry,
        )
        self._children: dict[Partition, Any] = {}
        self._assigned = Gauge(
            f"{prefix}_assigned_partitions",
            "Partitions assigned to this consumer",
            registry=registry,
        )
        Gauge(
            f"{prefix}_ready", "1 when /readyz answers 200, else 0", registry=registry
        ).set_function(lambda: float(self.readiness().ok))
        Gauge(
            f"{prefix}_live", "1 when /healthz answers 200, else 0", registry=registry
        ).set_function(lambda: float(self.liveness().ok))
        Gauge(
            f"{prefix}_seconds_since_progress",
            "Seconds since records were last processed or nothing was waiting",
            registry=registry,
        ).set_function(lambda: self._clock() - self._progress_at)

    # --- reported by the consumer loop ---------------------------------------------------
    def observe(self, lags: Mapping[Partition, int], assigned: int) -> None:
        """The loop's view after a poll or a batch: lag of each partition it knows of.

        Partitions missing from ``lags`` (revoked, or not fetched yet) lose their series.
        """
        total = 0
        children = self._children
        for key, lag in lags.items():
            child = children.get(key)
            if child is None:
                child = children[key] = self._lag.labels(key[0], str(key[1]))
            child.set(lag)
            total += lag
        if len(children) != len(lags):
            for key in [key for key in children if key not in lags]:
                del children[key]
                self._lag.remove(key[0], str(key[1]))
        self._assigned.set(assigned)
        now = self._clock()
        if total == 0:
            self._progress_at = now  # caught up: nothing is late
        self._observed = _Observation(assigned, total, now)

    def progressed(self) -> None:
        """Records were processed (a batch's outputs written)."""
        self._progress_at = self._clock()

    def beat(self) -> None:
        """The event loop ran just now."""
        self._beat_at = self._clock()

    async def heartbeat(
        self, should_stop: Callable[[], bool] = lambda: False, interval_s: float = 1.0
    ) -> None:
        """Tick until ``should_stop()``: the proof, for :meth:`liveness`, that the loop runs."""
        while not should_stop():
            self.beat()
            await asyncio.sleep(interval_s)

    # --- judged by the HTTP thread ---------------------------------------------------------
    def liveness(self) -> Verdict:
        silent = self._clock() - self._beat_at
        details = {"seconds_since_heartbeat": round(silent, 1)}
        if silent > self.live_timeout_s:
            reason = f"the event loop has not run for {silent:.0f} s"
            return Verdict(False, "not alive", reason, details)
        return Verdict(True, "alive", "the event loop runs", details)

    def readiness(self) -> Verdict:
        now = self._clock()
        seen = self._observed
        idle = now - self._progress_at
        if seen is None:
            return Verdict(False, "not ready", "the consumer has not polled yet")
        details = {
            "assigned_partitions": seen.assigned,
            "lag": seen.lag,
            "seconds_since_progress": round(idle, 1),
            "seconds_since_poll": round(now - seen.at, 1),
        }
        if seen.assigned == 0:
            return Verdict(False, "not ready", "no partitions assigned", details)
        if now - seen.at > self.stall_s:
            reason = f"the consumer has not polled for {now - seen.at:.0f} s"
            return Verdict(False, "not ready", reason, details)
        if seen.lag > 0 and idle > self.stall_s:
            reason = f"{seen.lag:,} records waiting and none processed for {idle:.0f} s"
            return Verdict(False, "not ready", reason, details)
        return Verdict(True, "ready", "consuming", details)
