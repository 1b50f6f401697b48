"""``/docs``: Swagger UI served by the bridge itself, rendering with the network cut.

The first tests read the page in-process; the last one renders it in headless Chromium,
offline (every host but loopback resolves to nothing), from a real bridge, and reads
Chromium's own log of the requests the page made.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from scorestream.producers.bridge import BridgeOptions, create_app
from scorestream.producers.bridge.docs import ASSETS
from scorestream.settings import Settings
from tests.fixtures.bridge import API_KEY, BridgeFactory, free_port
from tests.fixtures.chromium import Chromium

# Every URL a page can name: attributes, and Swagger UI's `url: '...'` option.
URL_IN_HTML = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']*)["']""", re.IGNORECASE)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture()
def app(model_dir: Path) -> FastAPI:
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",  # nobody there; /docs needs no one
        model_dir=model_dir,
        ingest_api_keys=API_KEY,
    )
    return create_app(settings, BridgeOptions())


@pytest.fixture()
def get(app: FastAPI) -> Iterator[Any]:
    loop = asyncio.new_event_loop()

    def request(path: str, root_path: str = "") -> httpx.Response:
        transport = httpx.ASGITransport(app=app, root_path=root_path)

        async def fetch() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                return await client.get(path)

        return loop.run_until_complete(fetch())

    yield request
    loop.close()


def test_the_page_names_only_the_bridges_own_files(get: Any) -> None:
    page = get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = URL_IN_HTML.findall(page.text)
    assert sorted(urls) == sorted(
        ["/docs/swagger-ui.css", "/docs/favicon.png", "/docs/swagger-ui-bundle.js", "/openapi.json"]
    )
    # No scheme, no host, nothing protocol-relative anywhere in the page.
    assert "//" not in page.text
    assert '"validatorUrl": null' in page.text


def test_the_files_are_served_whole_with_their_types(get: Any) -> None:
    for name, media_type in ASSETS.items():
        response = get(f"/docs/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == media_type
        assert len(response.content) > 1000, name
    bundle = get("/docs/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle
    # Swagger UI 5 or later: it reads OpenAPI 3.1, the version of the bridge's document.
    assert get("/openapi.json").json()["openapi"].startswith("3.1")
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle)
    assert version is not None and int(version.group(1)) >= 5
    assert get("/docs/nothing.js").status_code == 404


def test_behind_a_prefixing_proxy_every_url_carries_the_prefix(get: Any) -> None:
    page = get("/docs", root_path="/bridge").text
    urls = URL_IN_HTML.findall(page)
    assert len(urls) == 4 and all(url.startswith("/bridge/") for url in urls), urls


def page_requests(net_log: Path, origin: str) -> list[str]:
    """URLs of every request the page at ``origin`` made, from Chromium's NetLog.

    The page's requests (scripts, styles, fetches) name the page's origin as their
    initiator; Chromium's own (update checks, autofill, accounts; cut off by the offline
    host rules anyway) name none.
    """
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    starts = [
        event["params"]
        for event in log["events"]
        if event["type"] == start_job and "url" in event.get("params", {})
    ]
    return [params["url"] for params in starts if params.get("initiator") == origin]


def test_docs_render_offline_in_chromium(
    start_bridge: BridgeFactory, chromium: Chromium, tmp_path: Path
) -> None:
    bridge = start_bridge(ready=False)
    operation_ids = [
        operation["operationId"]
        for methods in httpx.get(bridge.url + "/openapi.json", timeout=10).json()["paths"].values()
        for operation in methods.values()
    ]
    net_log = tmp_path / "net-log.json"
    # Deep link: the records operation opens, with its examples.
    dom = chromium.dump_dom(bridge.url + "/docs#/ingest/sendRecords", net_log=net_log)
    # Swagger UI ran: every operation is listed, by the id the document gives it.
    for operation_id in operation_ids:
        assert re.search(rf'id="operations-\w+-{operation_id}"', dom), operation_id
    assert len(operation_ids) == 6
    # The opened operation shows the model's examples (typical record, invalid record).
    assert "One typical record" in dom and "example-invalid-1" in dom
    requested = page_requests(net_log, bridge.url)
    paths = {urlsplit(url).path for url in requested}
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/openapi.json"} <= paths
    external = [url for url in requested if urlsplit(url).hostname not in LOOPBACK]
    assert external == [], external
