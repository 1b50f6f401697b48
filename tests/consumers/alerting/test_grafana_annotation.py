"""The alert's Grafana annotation: one POST to ``/api/annotations`` with a Bearer token.

A small HTTP server on loopback stands in for Grafana's HTTP API and records what it gets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from scorestream.consumers.alerting.delivery import annotate_grafana
from scorestream.contract import AlertMessage
from scorestream.settings import Settings

ALERT = AlertMessage(
    "daily:2026-01-11T00:00:00",
    "daily",
    "2026-01-11T00:00:00",
    "2026-01-12T00:00:00",
    "v1",
    20000,
    5,
    None,
    [{"feature": "income"}, {"feature": "age"}],
)


class FakeGrafana(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    status: int


class Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.requests.append(
            {
                "path": self.path,
                "authorization": self.headers["Authorization"],
                "content_type": self.headers["Content-Type"],
                "body": json.loads(self.rfile.read(length)),
            }
        )
        body = b'{"message": "Annotation added", "id": 1}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana(("127.0.0.1", 0), Handler)
    server.requests = []
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _settings(server: FakeGrafana) -> Settings:
    host, port = server.server_address[:2]
    return Settings(grafana_url=f"http://{host!s}:{port}/", grafana_token=SecretStr("tok-123"))


def test_the_annotation_is_posted_with_the_token(grafana: FakeGrafana) -> None:
    annotate_grafana(ALERT, _settings(grafana))
    assert len(grafana.requests) == 1
    request = grafana.requests[0]
    assert request["path"] == "/api/annotations"
    assert request["authorization"] == "Bearer tok-123"
    assert request["content_type"].startswith("application/json")
    start = int(datetime(2026, 1, 11, tzinfo=UTC).timestamp() * 1000)
    assert request["body"] == {
        "time": start,
        "timeEnd": start + 86_400_000,
        "tags": ["scorestream", "drift"],
        "text": "Drift: income, age",
    }


def test_a_refusal_is_logged_without_the_token(
    grafana: FakeGrafana, caplog: pytest.LogCaptureFixture
) -> None:
    grafana.status = 401
    annotate_grafana(ALERT, _settings(grafana))  # best effort: no exception
    assert len(grafana.requests) == 1
    assert "could not write the Grafana annotation" in caplog.text
    assert "tok-123" not in caplog.text


def test_without_url_or_token_nothing_is_sent(grafana: FakeGrafana) -> None:
    annotate_grafana(ALERT, Settings(grafana_url=None, grafana_token=SecretStr("t")))
    annotate_grafana(ALERT, Settings(grafana_url=_settings(grafana).grafana_url))
    assert grafana.requests == []
