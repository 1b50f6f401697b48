"""Synthetic Prometheus samples for the "Pipeline health" dashboard: the real series, simulated.

Two hours of one worker, one sink and one bridge, scraped every 15 s, made by the processes'
own metric classes (:class:`~scorestream.streams.metrics.WorkerMetrics`,
:class:`~scorestream.consumers.sink.metrics.SinkMetrics`,
:class:`~scorestream.producers.bridge.metrics.BridgeMetrics`) on a simulated clock, so the
names, labels and readiness rules are the products'. What happens (minutes from
:data:`START`, see :data:`EVENTS`): records arrive at :data:`RATE` per second; some are
rejected for a while; the worker cannot publish for ten minutes (its lag grows, ``/readyz``
fails) then catches up; a new model version is swapped in; ClickHouse is down for five minutes
(the sink retries, its lag grows); the worker is stopped for two minutes (no scrape: ``up`` 0),
longer than its session: the group drops it, so its first commit after it resumes is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from scorestream.settings import Settings

START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
MINUTES = 120
SCRAPE_S = 15
RATE = 400.0  # records per second
CAPACITY = 1500.0  # records per second the worker scores when it has a backlog
PARTITIONS = 4
EVENTS = {
    "rejections": (20, 35),  # 5 % invalid_json, 1 % missing_field
    "publish_blocked": (40, 50),  # the worker runs but the broker refuses its writes
    "model_swap": (60, 60),
    "clickhouse_down": (75, 80),
    "worker_stopped": (95, 97),  # SIGSTOP: no scrape, nothing processed
}
END = START + timedelta(minutes=MINUTES)


#: Families whose values would be the simulating process's own (its memory, CPU, files): left
#: out, and the two a panel reads simulated by :func:`_memory`.
_OWN = ("_process_", "_python_allocated_blocks")
_MIB = 2.0**20


def _memory(job: str, minute: float) -> tuple[float, float]:
    """Resident bytes and live interpreter blocks of ``job`` at ``minute``, as the soak saw
    them: the worker fills its duplicate-id window in the first half hour, then its RSS
    creeps by the allocator's high-water mark while its live blocks stay flat; the sink's
    batch buffer fills and empties."""
    if job == "worker":
        warm = 1 - math.exp(-minute / 10)
        return _MIB * (380 + 280 * warm + 0.3 * minute), 2.8e6 + 1.4e6 * warm
    wave = 0.5 + 0.5 * math.sin(minute / 3)
    return _MIB * (150 + 40 * wave), 1.6e6 + 0.3e6 * wave


def during(event: str, minute: float) -> bool:
    first, last = EVENTS[event]
    return first <= minute < last


@dataclass(frozen=True)
class Model:
    name: str
    version: str
    kind: str = "binary"


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Family:
    kind: str
    documentation: str
    # (labels without the sample name, sample name suffix) -> [(t, value), ...]
    points: dict[tuple[tuple[tuple[str, str], ...], str], list[tuple[float, float]]] = field(
        default_factory=dict
    )


class Simulation:
    """Step the three processes' metrics through :data:`EVENTS` and keep every scrape."""

    def __init__(self) -> None:
        from scorestream.consumers.sink.metrics import SinkMetrics
        from scorestream.producers.bridge.metrics import BridgeMetrics
        from scorestream.streams.metrics import WorkerMetrics

        self.clock = Clock()
        settings = Settings()
        self.worker = WorkerMetrics(settings, clock=self.clock)
        self.sink = SinkMetrics(settings, clock=self.clock)
        self.bridge = BridgeMetrics()
        self.families: dict[str, _Family] = {}
        self.topics = settings.topics
        self.sink.prepare([self.topics.scores, self.topics.rejected, self.topics.drift_stats])
        self.worker.serving(0, "champion", Model("loans", "3f2a9c1e0b7d"))
        self.arrived = 0.0  # records on `records`
        self.scored = 0.0  # records the worker finished (scores or rejections)
        self.stored = 0.0  # of those, stored by the sink

    def run(self) -> Simulation:
        for step in range(MINUTES * 60 // SCRAPE_S):
            self.clock.now = float(step * SCRAPE_S)
            self._step(self.clock.now / 60)
        return self

    def _step(self, minute: float) -> None:
        # Arrivals follow a slow daily-like wave, so rates are not flat lines.
        self.arrived += round(RATE * SCRAPE_S * (1 + 0.15 * math.sin(minute / 9)))
        stopped = during("worker_stopped", minute)
        if not (stopped or during("publish_blocked", minute)):
            self._score(min(self.arrived - self.scored, CAPACITY * SCRAPE_S))
        if minute >= EVENTS["model_swap"][0]:
            self.worker.serving(0, "champion", Model("loans", "8b41d07f5e22"))
        if minute == EVENTS["worker_stopped"][1] + SCRAPE_S / 60:
            # Dropped from the group while stopped: its first commit after it resumed, of
            # what it published just before the stop (a flush's worth, 15 s), is refused.
            self.worker.commit_refused.inc(RATE * SCRAPE_S)
        if not stopped:
            self.worker.health.beat()
            lags = self._lags(self.arrived - self.scored, self.topics.records)
            self.worker.health.observe(lags, PARTITIONS)
        self.sink.health.beat()
        self._store(minute)
        self._bridge()
        t = (START + timedelta(seconds=self.clock.now)).timestamp()
        self._scrape("worker", "worker:8001", self.worker.registry, t, up=not stopped)
        self._scrape("sink", "sink:8002", self.sink.registry, t, up=True)
        self._scrape("bridge", "bridge:8000", self.bridge.registry, t, up=True)

    def _score(self, records: float) -> None:
        batches = math.ceil(records / 120)
        if batches == 0:
            return
        minute = self.clock.now / 60
        for index in range(batches):
            # Equal shares, the remainder in the first: every record is scored exactly once.
            size = int(records // batches) + (1 if index < records % batches else 0)
            rejected: list[str] = []
            if during("rejections", minute):
                rejected = ["invalid_json"] * (size // 20) + ["missing_field"] * (size // 100)
            self.worker.outcomes(size - len(rejected), rejected)
            # Scoring grows with the batch; publishing is a broker round trip.
            self.worker.batch(size, 0.002 + size * 0.00004, 0.004 + size * 0.000004)
        self.worker.health.progressed()
        self.scored += records

    def _store(self, minute: float) -> None:
        sink = self.sink
        waiting = self.scored - self.stored
        if during("clickhouse_down", minute):
            sink.flush_failures.labels(self.topics.scores).inc()
            sink.retries.inc(SCRAPE_S // 2)
            sink.backing_off.set(1)
        elif waiting >= 1:
            sink.backing_off.set(0)
            flushes = SCRAPE_S  # one a second
            for index in range(flushes):
                rows = int(waiting // flushes) + (1 if index < waiting % flushes else 0)
                rejected = rows // 20 if during("rejections", minute) else 0
                tables = {"scores": rows - rejected, "rejected_records": rejected}
                sink.flushed(self.topics.scores, tables, 0, 0, 0.02 + rows * 0.00002)
                sink.consumed.labels(self.topics.scores).inc(rows)
            self.stored += waiting
            sink.flushed(self.topics.drift_stats, {"drift_stats": 48}, 0, 0, 0.01)
        lags = self._lags(self.scored - self.stored, self.topics.scores)
        lags.update(self._lags(0, self.topics.drift_stats))
        sink.health.observe(lags, 3 * PARTITIONS)

    def _bridge(self) -> None:
        requests = self.bridge.requests
        requests.labels("/v1/records", "POST", "202").inc(SCRAPE_S * 3)
        requests.labels("/v1/records", "POST", "422").inc(1)
        for _ in range(3):
            self.bridge.latency.labels("/v1/records").observe(0.004)

    def _lags(self, total: float, topic: str) -> dict[tuple[str, int], int]:
        share = max(0.0, total) / PARTITIONS
        return {(topic, p): round(share * (1 + 0.02 * (p - 1.5))) for p in range(PARTITIONS)}

    def _scrape(
        self, job: str, instance: str, registry: CollectorRegistry, t: float, *, up: bool
    ) -> None:
        target = (("instance", instance), ("job", job))
        self._add("up", "gauge", "Whether the scrape answered", target, "", t, float(up))
        if not up:
            return
        for metric in registry.collect():
            if any(part in metric.name for part in _OWN):
                continue  # the simulating process's own: simulated below instead
            for sample in metric.samples:
                if sample.name.endswith("_created"):
                    continue  # not needed by any panel; Prometheus ignores them by default
                suffix = sample.name[len(metric.name) :]
                labels = tuple(sorted({**sample.labels, **dict(target)}.items()))
                self._add(
                    metric.name, metric.type, metric.documentation, labels, suffix, t, sample.value
                )

        if job in ("worker", "sink"):
            resident, blocks = _memory(job, (t - START.timestamp()) / 60)
            prefix = f"scorestream_{job}_"
            self._add(
                f"{prefix}process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                target,
                "",
                t,
                resident,
            )
            self._add(
                f"{prefix}python_allocated_blocks", "gauge", "Live blocks", target, "", t, blocks
            )

    def _add(
        self,
        name: str,
        kind: str,
        documentation: str,
        labels: tuple[tuple[str, str], ...],
        suffix: str,
        t: float,
        value: float,
    ) -> None:
        family = self.families.setdefault(name, _Family(kind, documentation))
        family.points.setdefault((labels, suffix), []).append((t, value))

    def openmetrics(self) -> str:
        """Every scrape as OpenMetrics text: one family at a time, each series in time order."""
        return "".join(_lines(self.families)) + "# EOF\n"


def _lines(families: dict[str, _Family]) -> Iterator[str]:
    for name, family in families.items():
        yield f"# TYPE {name} {family.kind}\n"
        yield f"# HELP {name} {_escape(family.documentation)}\n"
        # A histogram's point is all its buckets, count and sum at one time, per label set.
        series: dict[tuple[tuple[str, str], ...], dict[float, list[str]]] = {}
        for (labels, suffix), points in family.points.items():
            key = tuple((k, v) for k, v in labels if k != "le")
            times = series.setdefault(key, {})
            for t, value in points:
                times.setdefault(t, []).append(
                    f"{name}{suffix}{_labels(labels)} {_number(value)} {t:.3f}\n"
                )
        for times in series.values():
            for t in sorted(times):
                yield from times[t]


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def sample_text() -> str:
    """The simulated two hours as OpenMetrics text (what the tests and the preview load)."""
    return Simulation().run().openmetrics()
