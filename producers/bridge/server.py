"""uvicorn's HTTP protocol with limits on the request head and problem+json refusals.

Below the ASGI app, uvicorn (httptools) parses requests by itself: it buffers a header of
any size (an 8 MB header is accepted, and forty unfinished ones hold hundreds of MB),
waits for ever for a head sent a byte at a time, and answers what it cannot parse with a
``text/plain`` 400. This subclass counts the bytes of each request head as they arrive
and refuses a head over the size limit with 431 as soon as it passes it, refuses a head
not complete within the time limit with 408, and answers every refusal as
``application/problem+json``, like the app does, before closing the connection.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from scorestream.producers.bridge.problems import PROBLEM_MEDIA_TYPE


def protocol_class(max_header_bytes: int, head_timeout_s: float) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.run(http=...)``, with these limits on request heads."""

    class BridgeHttpProtocol(_LimitedHeadProtocol):
        max_head_bytes = max_header_bytes
        head_timeout = head_timeout_s

    return BridgeHttpProtocol


class _HeadTooLargeError(Exception):
    """Raised from a parser callback to stop parsing a head over the limit."""


class _LimitedHeadProtocol(HttpToolsProtocol):
    max_head_bytes = 64 * 1024
    head_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # bytes arriving now belong to a request line or headers
        self._head_bytes = 0  # read while in the head, counted per read
        self._parsed_head = 0  # parsed so far of the current head
        self._head_too_large = False
        self._head_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused already; what the client still sends is dropped
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:  # the clock starts with a head's first byte
                self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)
        super().data_received(data)
        # Counted per read (at most 256 KiB), so at most that much over the limit is held.
        over = self._in_head and self._head_bytes > self.max_head_bytes
        if over and not self.transport.is_closing():
            self._head_too_large = True
            self.send_400_response("head too large")

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    # Heads that arrive whole are measured as they are parsed (the read-size count above
    # would see them only after they were accepted); raising here makes httptools stop,
    # and uvicorn answer through send_400_response.
    def on_url(self, url: bytes) -> None:
        self._parsed_head += len(url)
        self._check_head()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_head += len(name) + len(value) + 4  # ": " and CRLF
        self._check_head()
        super().on_header(name, value)

    def _check_head(self) -> None:
        if self._parsed_head > self.max_head_bytes:
            self._head_too_large = True
            raise _HeadTooLargeError

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = self._parsed_head = 0
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # the next request on this connection starts with its head

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(
                HTTPStatus.REQUEST_TIMEOUT,
                f"the request line and headers did not arrive within {self.head_timeout:g} s",
            )

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what it cannot parse, as a problem (431 for a head too large)."""
        if self._head_too_large:
            self._refuse(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"the request line and headers are larger than {self.max_head_bytes} bytes",
            )
        else:
            self._refuse(HTTPStatus.BAD_REQUEST, "the request is not valid HTTP/1.1")

    def _refuse(self, status: HTTPStatus, detail: str) -> None:
        self._stop_head_timer()
        body = orjson.dumps(
            {"type": "about:blank", "title": status.phrase, "status": int(status), "detail": detail}
        )
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
