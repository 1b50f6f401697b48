"""Guard request bodies: too large (413), too slow (408), or abandoned by the client.

A declared ``Content-Length`` over the limit is refused before a single body byte is
read. Bodies without one (chunked transfer) or that lie about it are counted as they
stream in, and refused as soon as the count passes the limit, so a client can never
make the bridge buffer more than the limit.

A body must arrive whole within ``body_timeout_s`` of the request's headers; a client
trickling it (a byte now and then) gets 408 and the connection is closed, instead of
holding a request open for ever.

A client that hangs up before its body is complete has nobody left to answer. That is
the client's doing, not a server error: it is counted as 499 ("client closed request",
as nginx says) and logged at INFO, without a traceback.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scorestream.producers.bridge.problems import ProblemError, problem_response

log = logging.getLogger(__name__)

#: Status recorded for a request whose client went away before it could be answered.
CLIENT_CLOSED_REQUEST = 499


class _BodyTooLarge(Exception):
    """Raised from ``receive`` inside the app; caught by the middleware that raised it."""


class _BodyTooSlow(Exception):
    """Raised from ``receive`` when the body's deadline passes."""


class _ClientGone(Exception):
    """Raised from ``receive`` when the client disconnects before its body is complete."""


class BodyLimitMiddleware:
    """ASGI middleware: 413 over ``max_body_bytes``, 408 past ``body_timeout_s``, 499 hang-ups."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    def _refusal(self) -> ProblemError:
        # The unread rest of the body would otherwise be parsed as the next request.
        return ProblemError(
            413,
            f"the request body is larger than {self.max_body_bytes} bytes",
            headers={"Connection": "close"},
        )

    def _too_slow(self) -> ProblemError:
        # The rest of the body may still be on its way; it must not be read as a request.
        return ProblemError(
            408,
            f"the request body did not arrive whole within {self.body_timeout_s:g} s",
            headers={"Connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await problem_response(self._refusal())(scope, receive, send)
            return

        limit = self.max_body_bytes
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        received = 0
        complete = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body, receive only waits for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] == "http.disconnect":
                raise _ClientGone
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await problem_response(self._refusal())(scope, receive, send)
        except _BodyTooSlow:
            if started:
                raise
            await problem_response(self._too_slow())(scope, receive, send)
        except _ClientGone:
            log.info(
                "client went away before sending the whole body of %s %s",
                scope.get("method"),
                scope.get("path"),
            )
            if not started:
                # Nobody reads this (the server drops it); it tells the metrics what happened.
                await send(
                    {"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []}
                )
                await send({"type": "http.response.body", "body": b""})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length before we get here
    return None
