"""``GET /docs``: Swagger UI served by the bridge itself, so it renders with no network.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, which leaves an offline or air-gapped
install with a blank page. Here the page, the script and the style sheet all come from the
bridge: the files are Swagger UI's release build (5.x, which reads OpenAPI 3.1) as the
``fastapi-offline`` package ships them, read once and kept in memory. The page names no
other host, and the Swagger validator badge (which would call one) is off.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

DOCS_PATH = "/docs"
#: The files the page needs: name under /docs/ -> media type.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
#: Swagger UI's configuration options.
UI_PARAMETERS: dict[str, Any] = {
    "validatorUrl": None,  # no badge fetched from validator.swagger.io
    "displayOperationId": True,  # the ids a generated client or Postman shows
    "persistAuthorization": True,  # the API key survives a reload
    "tryItOutEnabled": True,
}


@cache
def asset(name: str) -> bytes:
    """The bytes of one of :data:`ASSETS` (KeyError for any other name)."""
    if name not in ASSETS:
        raise KeyError(name)
    return (files("fastapi_offline") / "static" / name).read_bytes()


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI for ``app.openapi_url`` at :data:`DOCS_PATH`, with its files."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a prefix, every URL of the page carries it again.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{DOCS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_PATH}/favicon.png",
            swagger_ui_parameters=UI_PARAMETERS,
        )

    for name, media_type in ASSETS.items():
        _serve(app, name, media_type)


def _serve(app: FastAPI, name: str, media_type: str) -> None:
    async def serve() -> Response:
        # A day: the files change only with the package, and the page is small anyway.
        return Response(
            asset(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    app.add_api_route(
        f"{DOCS_PATH}/{name}", serve, methods=["GET"], include_in_schema=False, name=name
    )
