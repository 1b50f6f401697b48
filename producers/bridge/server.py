"""uvicorn's HTTP protocol with a limit on the request head and problem+json refusals.

Below the ASGI app, uvicorn (httptools) parses requests by itself: it buffers a header of
any size (an 8 MB header is accepted, and forty unfinished ones hold hundreds of MB), and
answers what it cannot parse with a ``text/plain`` 400. This subclass counts the bytes of
each request head as they arrive and refuses a head over the limit with 431 as soon as it
passes it, and answers both refusals as ``application/problem+json`` like the app does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from scorestream.producers.bridge.problems import PROBLEM_MEDIA_TYPE


def protocol_class(max_header_bytes: int) -> type[asyncio.Protocol]:
    """The protocol class to give ``uvicorn.run(http=...)``, limiting heads to this size."""

    class BridgeHttpProtocol(_LimitedHeadProtocol):
        max_head_bytes = max_header_bytes

    return BridgeHttpProtocol


class _HeadTooLargeError(Exception):
    """Raised from a parser callback to stop parsing a head over the limit."""


class _LimitedHeadProtocol(HttpToolsProtocol):
    max_head_bytes = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # bytes arriving now belong to a request line or headers
        self._head_bytes = 0  # read while in the head, counted per read
        self._parsed_head = 0  # parsed so far of the current head
        self._head_too_large = False

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused already; what the client still sends is dropped
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Counted per read (at most 256 KiB), so at most that much over the limit is held.
        over = self._in_head and self._head_bytes > self.max_head_bytes
        if over and not self.transport.is_closing():
            self._head_too_large = True
            self.send_400_response("head too large")

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
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # the next request on this connection starts with its head

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            status = 431
            detail = f"the request line and headers are larger than {self.max_head_bytes} bytes"
        else:
            status = 400
            detail = "the request is not valid HTTP/1.1"
        body = orjson.dumps(
            {
                "type": "about:blank",
                "title": "Request Header Fields Too Large" if status == 431 else "Bad Request",
                "status": status,
                "detail": detail,
            }
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
