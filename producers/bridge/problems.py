"""Errors as RFC 9457 ``application/problem+json``, and the last line of defence (500).

Handlers raise :class:`ProblemError`; the framework's own errors (404, 405, validation)
are translated to the same shape. Anything unexpected becomes a 500 problem *without*
details, and the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scorestream.streams.validation import Rejection

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Problem types the bridge defines; plain HTTP errors use "about:blank" (RFC 9457 §4.2.1).
INVALID_RECORD = "urn:scorestream:problem:invalid-record"
INVALID_LABEL = "urn:scorestream:problem:invalid-label"
KAFKA_UNAVAILABLE = "urn:scorestream:problem:kafka-unavailable"
SCORE_TIMEOUT = "urn:scorestream:problem:score-timeout"
DUPLICATE_ID = "urn:scorestream:problem:duplicate-id"


class ProblemError(Exception):
    """Raise in a handler to answer with a problem document.

    Parameters
    ----------
    status : int
        HTTP status code.
    detail : str
        What went wrong with this request, for a human.
    type_ : str
        Problem type URI; ``about:blank`` means "see the status code".
    title : str, optional
        Short summary of the problem type; defaults to the status phrase.
    headers : mapping, optional
        Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    extensions : mapping, optional
        Extension members, e.g. ``errors`` listing invalid records.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


def problem_response(error: ProblemError) -> Response:
    """The problem+json response of ``error``."""
    body: dict[str, Any] = {
        "type": error.type,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        **error.extensions,
    }
    return Response(
        content=orjson.dumps(body),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer the framework's own errors (404, 405, request validation) as problems."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        # Keep the framework's headers: a 405 must say which methods are Allowed.
        return problem_response(ProblemError(exc.status_code, str(exc.detail), headers=exc.headers))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"location": list(error.get("loc", ())), "message": str(error.get("msg"))}
            for error in exc.errors()
        ]
        return problem_response(
            ProblemError(422, "the request does not match the API", extensions={"errors": errors})
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


class CatchAllMiddleware:
    """Turn any unhandled exception into a detail-free 500 problem, and log it.

    Starlette's own error middleware re-raises after answering, so that the server logs
    the traceback a second time; this one answers, logs once and stops there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                # Too late for a clean answer; the server closes the connection.
                raise
            response = problem_response(ProblemError(500, "internal error; it has been logged"))
            await response(scope, receive, send)


def record_errors(index: int, rejection: Rejection) -> list[dict[str, Any]]:
    """One error per problem of the record (``index`` repeats), so all are fixed at once."""
    return [
        {
            "index": index,
            "id": rejection.id,
            "reason": violation.reason,
            "field": violation.field,
            "message": violation.message,
        }
        for violation in rejection.violations
    ]
