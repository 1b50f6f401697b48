"""``/metrics``, ``/healthz`` and ``/readyz`` of a process, served from a thread of its own.

A thread, not a task on the event loop: the worker scores a batch synchronously on its loop,
and a probe must be answered meanwhile; a loop that stopped must show as a 503 with its
reason, not as a probe that times out. The standard library's HTTP server is enough for a
scrape every few seconds.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from scorestream.observability.health import ConsumerHealth, Verdict

log = logging.getLogger(__name__)

ENDPOINTS = ("/metrics", "/healthz", "/readyz")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry
    health: ConsumerHealth

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A prober that gave up (timeout) before the answer: nothing to report on stderr.
        log.debug("metrics endpoint: request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, content_type, encoder(self.server.registry))
        elif path == "/healthz":
            self._verdict(self.server.health.liveness())
        elif path == "/readyz":
            self._verdict(self.server.health.readiness())
        else:
            self._json(404, {"status": "not found", "endpoints": list(ENDPOINTS)})

    def _verdict(self, verdict: Verdict) -> None:
        self._json(200 if verdict.ok else 503, verdict.body())

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # A probe every few seconds would fill the process's log; failures show in the
        # probes' own answers.
        pass


class MetricsServer:
    """A running endpoint server; :meth:`start` it, :meth:`close` it (or let it die with
    the process: its thread is a daemon)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @classmethod
    def start(
        cls,
        registry: CollectorRegistry,
        health: ConsumerHealth,
        host: str,
        port: int,
        *,
        name: str,
        setting: str,
    ) -> MetricsServer | None:
        """Serve on ``host:port``; ``None`` when ``port`` is 0 or cannot be bound.

        A port already in use (a second process on the same host with the same settings)
        is a warning, not a reason to stop processing records: the process runs without
        endpoints, and the warning names ``setting``, the variable that moves it.
        """
        if port == 0:
            log.info("%s: no metrics or health endpoints (%s=0)", name, setting)
            return None
        try:
            server = _Server((host, port), _Handler)
        except OSError as exc:
            log.warning(
                "%s: cannot serve /metrics, /healthz, /readyz on %s:%d (%s); running without "
                "them: give each process on this host its own %s",
                name,
                host,
                port,
                exc.strerror or exc,
                setting,
            )
            return None
        server.registry = registry
        server.health = health
        thread = threading.Thread(target=server.serve_forever, name=f"{name}-metrics", daemon=True)
        thread.start()
        started = cls(server, thread)
        log.info("%s: /metrics, /healthz, /readyz on http://%s:%d", name, host, started.port)
        return started

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
