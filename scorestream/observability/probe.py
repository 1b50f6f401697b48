"""A health probe for container healthchecks: ``python -m scorestream.observability.probe``.

``probe worker`` (or ``sink``) asks that process's ``/readyz`` on the port its settings give
it; ``probe URL`` asks any URL (the bridge's ``http://127.0.0.1:8000/readyz``). Prints the
answer on one line and exits 0 on 200, 1 otherwise (including no answer within the
timeout), which is what Docker's ``HEALTHCHECK`` and Kubernetes' exec probes read. Only the
standard library and the settings: it runs every few seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from scorestream.settings import Settings

#: Addresses that mean "every interface" when bound, and are no address to connect to.
_ANY = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - compared with, never bound


def url_of(target: str, path: str, settings: Settings | None = None) -> str:
    """The URL to ask: ``target`` itself, or the ``path`` of the worker's or sink's server.

    >>> ours = Settings(SCORESTREAM_METRICS_HOST="0.0.0.0", SCORESTREAM_WORKER_METRICS_PORT=8001)
    >>> url_of("worker", "/readyz", ours)
    'http://127.0.0.1:8001/readyz'
    >>> url_of("http://bridge:8000/readyz", "/healthz")
    'http://bridge:8000/readyz'
    """
    if "://" in target:
        return target
    settings = settings or Settings()
    ports = {"worker": settings.worker_metrics_port, "sink": settings.sink_metrics_port}
    if target not in ports:
        raise ValueError(f"probe takes worker, sink or a URL, not {target!r}")
    host = "127.0.0.1" if settings.metrics_host in _ANY else settings.metrics_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{ports[target]}{path}"


def probe(url: str, timeout_s: float) -> tuple[bool, str]:
    """(whether ``url`` answered 200, one line saying what it answered)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http only
            return True, _summary(response.status, response.read())
    except urllib.error.HTTPError as error:
        return False, _summary(error.code, error.read())
    except (OSError, TimeoutError) as error:
        return False, f"no answer from {url}: {error}"


def _summary(status: int, body: bytes) -> str:
    """One line of an answer.

    >>> _summary(200, b'{"status": "ready", "reason": "consuming", "lag": 0}')
    '200 ready: consuming'
    >>> _summary(503, b'{"title": "Not ready", "status": 503, "detail": "not ready: kafka"}')
    '503 Not ready: not ready: kafka'
    """
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{status}"
    if not isinstance(doc, dict):
        return f"{status}"
    # Ours: {"status": "ready", "reason": ...}; the bridge's 503 is a problem+json document.
    word = doc.get("status") if isinstance(doc.get("status"), str) else doc.get("title")
    reason = doc.get("reason") or doc.get("detail")
    return " ".join(str(p) for p in (status, word) if p) + (f": {reason}" if reason else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scorestream.observability.probe",
        description="Exit 0 when a scorestream process answers 200, else 1.",
    )
    parser.add_argument("target", help="worker, sink, or a URL to ask")
    parser.add_argument(
        "--path", default="/readyz", help="/readyz (default) or /healthz, for worker and sink"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args(argv)
    try:
        url = url_of(args.target, args.path)
    except ValueError as error:
        parser.error(str(error))
    ok, line = probe(url, args.timeout)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
