"""Prometheus metrics of the bridge, and the ASGI middleware that counts every request.

Each app gets its own registry, so that several apps in one process (tests) do not
share counters. Routes are labelled by their template (``/v1/records``), never by the raw
path: a scanner probing random URLs must not create a time series per URL.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scorestream.observability.buckets import SECONDS_BUCKETS

UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})

LATENCY_BUCKETS = SECONDS_BUCKETS


class BridgeMetrics:
    """The bridge's series; ``render()`` gives the text exposition format."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "scorestream_bridge_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "scorestream_bridge_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.records_produced = Counter(
            "scorestream_bridge_records_produced",
            "Records acknowledged by Kafka",
            registry=self.registry,
        )
        self.records_rejected = Counter(
            "scorestream_bridge_records_rejected",
            "Records refused by validation, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.labels_produced = Counter(
            "scorestream_bridge_labels_produced",
            "Labels acknowledged by Kafka",
            registry=self.registry,
        )
        self.labels_rejected = Counter(
            "scorestream_bridge_labels_rejected",
            "Labels refused by the labels decoder, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.errors = Counter(
            "scorestream_bridge_errors",
            "Failed requests by kind (kafka_unavailable, score_timeout, internal)",
            ["kind"],
            registry=self.registry,
        )
        self.pending_scores = Gauge(
            "scorestream_bridge_pending_scores",
            "POST /v1/score requests waiting for a score",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count requests by route and status and time them, including refusals and 500s."""

    def __init__(
        self, app: ASGIApp, metrics: BridgeMetrics, known_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Requests refused before routing (413 on Content-Length) still count per route.
        self.known_paths = known_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, status_send)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is None:
                path = scope.get("path", "")
                route = path if path in self.known_paths else UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            if status >= 500 and status not in (503, 504):
                self.metrics.errors.labels("internal").inc()
