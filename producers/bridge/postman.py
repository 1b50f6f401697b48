"""A Postman collection (v2.1) generated from the bridge's OpenAPI document, tests included.

One folder per operation, one request per request example, each with tests that check what
the document says the answer is: the status (the response under which an example of the
same key is documented, see :mod:`.examples`), the media type, the body against the
response's JSON Schema, and for batches and problems, which records were accepted and the
``(index, reason, field)`` of every error. Each secured operation also gets a request
without an API key, expected to answer 401. Collection variables ``baseUrl`` and
``apiKey`` (the API key is the collection's auth, as the document's security scheme says)
are set by a Postman or newman environment (``postman/scorestream.postman_environment.json``).

The output depends on the document only, and is written with sorted keys, so that the
collection checked into ``postman/`` can be compared with a fresh one (a test does).
Regenerate it for the demo model (the model ``make demo`` and the tests train)::

    python -m scorestream.producers.bridge.postman

or for any running bridge (for your own model: the examples are its records)::

    python -m scorestream.producers.bridge.postman --openapi http://127.0.0.1:8080/openapi.json \\
        --out my-model.postman_collection.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from scorestream.cli_support import CommandParser

#: The collection format (an identifier Postman and newman read, not fetched).
SCHEMA_ID = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
ROOT = Path(__file__).resolve().parents[2]
COLLECTION_FILE = ROOT / "postman" / "scorestream.postman_collection.json"
ENVIRONMENT_FILE = ROOT / "postman" / "scorestream.postman_environment.json"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
#: Annotations that do not constrain a value: left out of the schemas the tests embed.
_ANNOTATIONS = frozenset({"title", "description", "examples", "example", "default"})
_JSON_TYPES = ("application/json", "application/problem+json")


def collection(document: dict[str, Any]) -> dict[str, Any]:
    """The Postman collection of an OpenAPI 3.x ``document`` (see the module docstring)."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    folders = [
        _folder(path, method, operation, document, schemes)
        for path, method, operation in _operations(document)
    ]
    info = document.get("info", {})
    return {
        "info": {
            "name": str(info.get("title", "API")),
            "description": f"{info.get('description', '')}\n\nGenerated from the OpenAPI "
            "document by scorestream.producers.bridge.postman; every request has tests.",
            "schema": SCHEMA_ID,
        },
        "auth": _auth(schemes),
        "variable": [
            {"key": "baseUrl", "value": DEFAULT_BASE_URL, "type": "string"},
            {"key": "apiKey", "value": "change-me", "type": "string"},
        ],
        "item": folders,
    }


def environment(name: str, base_url: str, api_key: str) -> dict[str, Any]:
    """A Postman environment setting the collection's two variables."""
    return {
        "name": name,
        "values": [
            {"key": "baseUrl", "value": base_url, "type": "default", "enabled": True},
            {"key": "apiKey", "value": api_key, "type": "secret", "enabled": True},
        ],
    }


def dumps(value: dict[str, Any]) -> str:
    """The JSON text written to files: indented, keys sorted, a final newline."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield path, method, operation


def _auth(schemes: dict[str, Any]) -> dict[str, Any]:
    """The collection's auth: the document's header API key, valued ``{{apiKey}}``."""
    for scheme in schemes.values():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            return {
                "type": "apikey",
                "apikey": [
                    {"key": "key", "value": scheme["name"], "type": "string"},
                    {"key": "value", "value": "{{apiKey}}", "type": "string"},
                    {"key": "in", "value": "header", "type": "string"},
                ],
            }
    return {"type": "noauth"}


def _folder(
    path: str,
    method: str,
    operation: dict[str, Any],
    document: dict[str, Any],
    schemes: dict[str, Any],
) -> dict[str, Any]:
    name = operation.get("operationId", f"{method.upper()} {path}")
    secured = bool(operation.get("security"))
    requests: list[dict[str, Any]] = []
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    examples = body.get("examples", {})
    for key, example in examples.items():
        answer = _answer_to(operation, key)
        if answer is None:
            continue  # an example without a documented answer has nothing to test
        requests.append(
            _request(
                example.get("summary", key),
                path,
                method,
                example.get("value"),
                _expectation(operation, *answer, document),
                authenticated=secured,
            )
        )
    if not examples:
        answer = _first_success(operation)
        if answer is not None:
            requests.append(
                _request(
                    operation.get("summary", name),
                    path,
                    method,
                    None,
                    _expectation(operation, *answer, document),
                    authenticated=secured,
                )
            )
    if secured and "401" in operation.get("responses", {}) and schemes:
        first_example: dict[str, Any] = next(iter(examples.values()), {})
        first = first_example.get("value")
        unauthorised = _expectation(operation, "401", _media_type(operation, "401"), None, document)
        requests.append(
            _request("Without an API key", path, method, first, unauthorised, authenticated=False)
        )
    return {
        "name": name,
        "description": f"{method.upper()} {path}: {operation.get('summary', '')}",
        "item": requests,
    }


def _answer_to(operation: dict[str, Any], key: str) -> tuple[str, str, Any] | None:
    """``(status, media type, example value)`` of the response example named ``key``."""
    for status, response in operation.get("responses", {}).items():
        for media_type, content in response.get("content", {}).items():
            if key in content.get("examples", {}):
                return status, media_type, content["examples"][key].get("value")
    return None


def _first_success(operation: dict[str, Any]) -> tuple[str, str, Any] | None:
    for status in sorted(operation.get("responses", {})):
        if status.startswith("2"):
            return status, _media_type(operation, status), None
    return None


def _media_type(operation: dict[str, Any], status: str) -> str:
    content = operation["responses"][status].get("content", {})
    return next(iter(content), "application/json")


def _expectation(
    operation: dict[str, Any],
    status: str,
    media_type: str,
    example: Any,
    document: dict[str, Any],
) -> dict[str, Any]:
    """What the tests of a request check: status, media type, schema, and the shape.

    The shape is what the documented answer ``example`` says about the records: which
    were accepted, and the ``(index, reason, field)`` of every error.
    """
    expected: dict[str, Any] = {"status": int(status), "mediaType": media_type}
    schema = operation["responses"][status].get("content", {}).get(media_type, {}).get("schema")
    if schema is not None and media_type in _JSON_TYPES:
        expected["schema"] = _inline(schema, document)
    if isinstance(example, dict):
        if isinstance(example.get("accepted"), list):
            expected["acceptedIndexes"] = [item["index"] for item in example["accepted"]]
        for member in ("rejected", "errors"):
            if isinstance(example.get(member), list):
                expected[member] = [
                    [item.get("index"), item.get("reason"), item.get("field")]
                    for item in example[member]
                ]
    return expected


def _inline(schema: Any, document: dict[str, Any], depth: int = 0) -> Any:
    """``schema`` with every ``$ref`` replaced by its target, and annotations left out."""
    if depth > 32:
        raise ValueError("the schema nests (or refers to itself) too deeply to inline")
    if isinstance(schema, list):
        return [_inline(item, document, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _inline(target, document, depth + 1)
    inlined: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "properties":
            # Property names are names, not keywords: keep every one.
            inlined[key] = {name: _inline(sub, document, depth + 1) for name, sub in value.items()}
        else:
            inlined[key] = _inline(value, document, depth + 1)
    return inlined


def _request(
    name: str,
    path: str,
    method: str,
    body: Any,
    expected: dict[str, Any],
    *,
    authenticated: bool,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": [],
        "url": {
            "raw": "{{baseUrl}}" + path,
            "host": ["{{baseUrl}}"],
            "path": [part for part in path.split("/") if part],
        },
    }
    if body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(body, indent=2, ensure_ascii=False),
            "options": {"raw": {"language": "json"}},
        }
    if not authenticated:
        request["auth"] = {"type": "noauth"}
    return {
        "name": name,
        "request": request,
        "event": [
            {"listen": "test", "script": {"type": "text/javascript", "exec": _tests(expected)}}
        ],
    }


def _tests(expected: dict[str, Any]) -> list[str]:
    """The test script of one request, as Postman stores it (a list of lines)."""
    status, media_type = expected["status"], expected["mediaType"]
    lines = [
        f"const expected = {json.dumps(expected, sort_keys=True)};",
        f'pm.test("answers {status}", function () {{',
        "    pm.response.to.have.status(expected.status);",
        "});",
        f'pm.test("as {media_type}", function () {{',
        '    const type = (pm.response.headers.get("Content-Type") || "").split(";")[0].trim();',
        "    pm.expect(type).to.eql(expected.mediaType);",
        "});",
    ]
    if "schema" in expected:
        lines += [
            'pm.test("the body matches the documented schema", function () {',
            "    pm.response.to.have.jsonSchema(expected.schema);",
            "});",
        ]
    if "acceptedIndexes" in expected:
        lines += [
            'pm.test("the documented records are accepted", function () {',
            "    const accepted = pm.response.json().accepted.map(function (a) {",
            "        return a.index;",
            "    });",
            "    pm.expect(accepted).to.eql(expected.acceptedIndexes);",
            "});",
        ]
    for member in ("rejected", "errors"):
        if member in expected:
            lines += [
                f'pm.test("{member}: every problem, as documented (index, reason, field)", '
                "function () {",
                f"    const found = pm.response.json().{member}.map(function (e) {{",
                "        return [e.index, e.reason, e.field];",
                "    });",
                f"    pm.expect(found).to.eql(expected.{member});",
                "});",
            ]
    return lines


def demo_document() -> dict[str, Any]:
    """The OpenAPI document of a bridge serving the demo model (trained here, ~5 s)."""
    from pydantic import SecretStr

    from scorestream.producers.bridge import BridgeOptions, create_app
    from scorestream.settings import Settings
    from scorestream.streams.model.train import train_model
    from scorestream.streams.synthetic import generate_frame

    with tempfile.TemporaryDirectory(prefix="scorestream-demo-model-") as directory:
        model_dir = Path(directory) / "loans"
        # The demo's model (scorestream/demo.py) and the tests' (tests/fixtures/worker.py).
        train_model(
            generate_frame(20_000, seed=7, start="2026-01-01T00:00:00"),
            "default",
            model_dir,
            name="loans",
            seed=0,
        )
        settings = Settings(
            kafka_bootstrap_servers="127.0.0.1:9",
            model_dir=model_dir,
            ingest_api_keys=SecretStr("unused"),
        )
        document: dict[str, Any] = create_app(settings, BridgeOptions()).openapi()
        return document


def _read_document(source: str) -> dict[str, Any]:
    if source.startswith(("http://", "https://")):
        response = httpx.get(source, timeout=30)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document
    loaded: dict[str, Any] = json.loads(Path(source).read_text(encoding="utf-8"))
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scorestream.producers.bridge.postman``: write (or check) the collection."""
    parser = CommandParser(
        prog="python -m scorestream.producers.bridge.postman",
        description="Generate the Postman collection (v2.1, with tests) of the bridge's API, "
        "and an environment for it.",
    )
    parser.add_argument(
        "--openapi",
        metavar="FILE_OR_URL",
        help="the OpenAPI document (a file, or a bridge's /openapi.json URL); "
        "default: the demo model's, built here",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=COLLECTION_FILE,
        help="where to write the collection (default: %(default)s)",
    )
    parser.add_argument(
        "--environment",
        type=Path,
        default=ENVIRONMENT_FILE,
        help="where to write the environment: baseUrl and apiKey (default: %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the files differ from what would be written",
    )
    args = parser.parse_args(argv)
    try:
        document = demo_document() if args.openapi is None else _read_document(args.openapi)
    except (OSError, ValueError, httpx.HTTPError) as error:
        parser.error(f"cannot read the OpenAPI document {args.openapi}: {error}")
    files = {
        args.out: dumps(collection(document)),
        args.environment: dumps(environment("scorestream local", DEFAULT_BASE_URL, "change-me")),
    }
    if args.check:
        stale = [
            path
            for path, text in files.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"{path} is stale; regenerate it without --check", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
