"""What clients do wrong below the API: deep JSON, huge or trickled heads and bodies, hang-ups.

Every test talks to a real bridge process (on the real broker) over real sockets, because
these are the server's problems (uvicorn's parser and the ASGI body stream), which an
in-process client would not reach.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import httpx

from tests.fixtures.bridge import API_KEY, BridgeFactory, BridgeProcess

AUTH = f"X-API-Key: {API_KEY}\r\nContent-Type: application/json\r\n".encode()
HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}


def _connect(bridge: BridgeProcess, timeout_s: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", bridge.port), timeout=timeout_s)


def _read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or goes quiet)."""
    chunks: list[bytes] = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def _status_and_type(answer: bytes) -> tuple[int, str]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status = int(head.split(" ", 2)[1])
    found = re.search(r"(?im)^content-type:\s*(.+?)\s*$", head)
    return status, found.group(1) if found else ""


def _problem_body(answer: bytes) -> dict[str, object]:
    body: dict[str, object] = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return body


def _server_errors(bridge: BridgeProcess) -> list[str]:
    """Lines of /metrics counting a 5xx other than 503/504, or an internal error."""
    text = httpx.get(bridge.url + "/metrics", timeout=10).text
    return [
        line
        for line in text.splitlines()
        if not line.startswith("#")
        and (
            re.search(r'status="5(?!0[34])\d\d"', line)
            or ('kind="internal"' in line and not line.endswith(" 0.0"))
        )
    ]


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_deeply_nested_json_is_a_4xx_problem_never_a_500(start_bridge: BridgeFactory) -> None:
    bridge = start_bridge()
    for depth, path, body in (
        (levels, path, body)
        for levels in (253, 254, 300, 1000, 1100)
        for path, body in (
            ("/v1/records", b'{"id": "deep", "region":' + _nested(levels) + b"}"),
            ("/v1/records", b"[" + _nested(levels) + b"]"),
            ("/v1/score", b'{"id": "deep", "region":' + _nested(levels) + b"}"),
        )
    ):
        response = httpx.post(bridge.url + path, content=body, headers=HEADERS, timeout=10)
        assert 400 <= response.status_code < 500, (depth, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code
    assert _server_errors(bridge) == []
    assert "Traceback" not in bridge.log_text(), bridge.log_text()


def test_a_head_over_the_limit_is_431_and_never_buffered(start_bridge: BridgeFactory) -> None:
    bridge = start_bridge()  # the default limit: 64 KiB
    # Under the limit: a large but fine head still gets through to the API.
    fine = httpx.get(bridge.url + "/healthz", headers={"X-Padding": "p" * 30_000}, timeout=10)
    assert fine.status_code == 200, fine.text
    # One header of 100 KB, complete: refused as a problem, and the connection closed.
    with _connect(bridge) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n")
        answer = _read_answer(sock)
    status, media_type = _status_and_type(answer)
    assert (status, media_type) == (431, "application/problem+json"), answer[:300]
    assert _problem_body(answer)["status"] == 431
    # Forty unfinished heads of 8 MB each: each is cut off at the limit, so the bridge's
    # memory does not grow with what the clients try to send.
    before = _rss_bytes(bridge.proc.pid)
    sockets: list[socket.socket] = []
    refused = 0
    piece = b"X-Slow: " + b"s" * 65_000 + b"\r\n"
    try:
        for _ in range(40):
            sock = _connect(bridge, timeout_s=5)
            sockets.append(sock)
            sock.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\n")
            try:
                for _ in range(8 * 1024 * 1024 // len(piece)):
                    sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                refused += 1
        time.sleep(0.5)
        growth = _rss_bytes(bridge.proc.pid) - before
    finally:
        for sock in sockets:
            sock.close()
    assert refused == 40
    assert growth < 40 * 1024 * 1024, f"the bridge grew by {growth / 2**20:.0f} MiB"
    assert httpx.get(bridge.url + "/healthz", timeout=10).status_code == 200


def test_a_trickled_body_is_408_within_the_body_timeout(start_bridge: BridgeFactory) -> None:
    bridge = start_bridge("--body-timeout", "1")
    with _connect(bridge) as sock:
        sock.sendall(
            b"POST /v1/records HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: 500\r\n\r\n"
        )
        started = time.monotonic()
        sock.settimeout(0.2)
        answer = b""
        for _ in range(40):  # one byte every 0.2 s: the whole body would take 100 s
            try:
                sock.sendall(b" ")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
        elapsed = time.monotonic() - started
        sock.settimeout(2)
        answer += _read_answer(sock)
    assert answer, "no answer to a body trickled for 8 s"
    status, media_type = _status_and_type(answer)
    assert (status, media_type) == (408, "application/problem+json"), answer[:300]
    assert elapsed < 3, elapsed
    metrics = httpx.get(bridge.url + "/metrics", timeout=10).text
    assert 'route="/v1/records",status="408"' in metrics
    assert _server_errors(bridge) == []


def test_a_trickled_head_is_408_within_the_same_time(start_bridge: BridgeFactory) -> None:
    bridge = start_bridge("--body-timeout", "1")
    with _connect(bridge) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(0.2)
        answer = b""
        for _ in range(40):  # a header byte every 0.2 s, never finishing the head
            try:
                sock.sendall(b"X")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
        elapsed = time.monotonic() - started
        sock.settimeout(2)
        answer += _read_answer(sock)
    assert answer, "no answer to a head trickled for 8 s"
    status, media_type = _status_and_type(answer)
    assert (status, media_type) == (408, "application/problem+json"), answer[:300]
    assert elapsed < 3, elapsed


def test_a_client_hanging_up_mid_body_is_no_server_error(start_bridge: BridgeFactory) -> None:
    bridge = start_bridge()
    # Only what the hang-ups cause: Kafka clients may log start-up chatter (a fresh topic's
    # leader not elected yet) before the bridge is ready.
    ready_at = len(bridge.log_text())
    for path in ("/v1/records", "/v1/score"):
        for _ in range(3):
            with _connect(bridge) as sock:
                head = f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode() + AUTH
                sock.sendall(head + b"Content-Length: 5000\r\n\r\n" + b'{"id": "gone", ' * 10)
                time.sleep(0.2)  # the app is reading the body when the client goes
    time.sleep(0.5)
    assert _server_errors(bridge) == []
    log = bridge.log_text()[ready_at:]
    assert "client went away" in log, log
    assert "Traceback" not in log and "ERROR" not in log, log
    assert httpx.get(bridge.url + "/healthz", timeout=10).status_code == 200


MALFORMED = (
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    b"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
)


def test_malformed_http_is_answered_as_a_problem(start_bridge: BridgeFactory) -> None:
    bridge = start_bridge()
    for request_bytes in MALFORMED:
        with _connect(bridge) as sock:
            sock.sendall(request_bytes)
            answer = _read_answer(sock)
        status, media_type = _status_and_type(answer)
        assert status == 400 and media_type == "application/problem+json", answer[:300]
        body = _problem_body(answer)
        assert body["status"] == 400 and body["type"] == "about:blank" and body["detail"]
    assert httpx.get(bridge.url + "/healthz", timeout=10).status_code == 200
