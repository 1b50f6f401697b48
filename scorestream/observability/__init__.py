"""Metrics, liveness and readiness of the consuming processes (worker and sink).

Each process keeps its Prometheus series in its own registry and serves them, with two
probes, on a port of its own (``scorestream.settings.Settings``: ``worker_metrics_port``,
``sink_metrics_port``; 0 serves nothing):

``GET /metrics``
    The Prometheus text format.
``GET /healthz``
    Liveness: 200 while the process's event loop runs (a heartbeat task ticks every
    second), 503 once it has not for ``live_timeout_s``. Restart the process when it fails.
``GET /readyz``
    Readiness: 200 when the consumer has partitions assigned, polled lately, and either has
    nothing waiting or processed records within ``ready_stall_s``; 503 with the reason
    otherwise. A stalled consumer (output refused, ClickHouse down, loop stuck) is not ready.

The endpoints run on a thread of their own (:mod:`.server`), so a scrape is answered while
the event loop is busy with a batch, and a loop that stopped shows as 503 rather than as a
probe that hangs. The process itself only updates numbers, once per batch or poll
(:mod:`.health`).
"""

from scorestream.observability.health import ConsumerHealth, Verdict
from scorestream.observability.server import MetricsServer

__all__ = ["ConsumerHealth", "MetricsServer", "Verdict"]
