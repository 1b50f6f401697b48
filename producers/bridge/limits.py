"""Refuse request bodies over the limit (413) before they are read whole.

A declared ``Content-Length`` over the limit is refused before a single body byte is
read. Bodies without one (chunked transfer) or that lie about it are counted as they
stream in, and refused as soon as the count passes the limit, so a client can never
make the bridge buffer more than the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scorestream.producers.bridge.problems import ProblemError, problem_response


class _BodyTooLarge(Exception):
    """Raised from ``receive`` inside the app; caught by the middleware that raised it."""


class BodyLimitMiddleware:
    """ASGI middleware answering 413 problem+json for bodies over ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _refusal(self) -> ProblemError:
        # The unread rest of the body would otherwise be parsed as the next request.
        return ProblemError(
            413,
            f"the request body is larger than {self.max_body_bytes} bytes",
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
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
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


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length before we get here
    return None
