"""The Postman collection in ``postman/``: what the generator makes, and passing under newman.

The collection is generated from the bridge's OpenAPI document for the demo model (the
model of ``tests.fixtures.worker``); the first test keeps the checked-in file from going
stale. The others run it with ``newman`` (from the project's ``node_modules``) against a
real bridge and a real worker on the real broker, with the checked-in environment pointed
at them: every request's tests must pass, and with a wrong API key they must not.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from scorestream.producers.bridge import BridgeOptions, create_app
from scorestream.producers.bridge.postman import (
    COLLECTION_FILE,
    DEFAULT_BASE_URL,
    ENVIRONMENT_FILE,
    collection,
    dumps,
    environment,
    main,
)
from scorestream.settings import Settings
from tests.fixtures.bridge import API_KEY, BridgeFactory, BridgeProcess, free_port
from tests.fixtures.worker import WorkerFactory

HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}


def demo_document(model_dir: Path) -> dict[str, Any]:
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",  # nobody there: not needed
        model_dir=model_dir,
        ingest_api_keys=API_KEY,
    )
    document: dict[str, Any] = create_app(settings, BridgeOptions()).openapi()
    return document


def test_the_checked_in_collection_is_what_the_generator_makes_now(model_dir: Path) -> None:
    fresh = dumps(collection(demo_document(model_dir)))
    assert COLLECTION_FILE.read_text(encoding="utf-8") == fresh, (
        "postman/ is stale: run `python -m scorestream.producers.bridge.postman`"
    )
    assert ENVIRONMENT_FILE.read_text(encoding="utf-8") == dumps(
        environment("scorestream local", DEFAULT_BASE_URL, "change-me")
    )


def test_the_generators_check_mode_tells_stale_from_current(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(demo_document(model_dir)))
    out, env = tmp_path / "c.json", tmp_path / "e.json"
    files = ["--openapi", str(document), "--out", str(out), "--environment", str(env)]
    assert main([*files, "--check"]) == 1  # nothing written yet
    assert main(files) == 0
    assert out.read_text() == COLLECTION_FILE.read_text()
    assert main([*files, "--check"]) == 0
    out.write_text(out.read_text().replace("sendRecords", "postRecords"))
    assert main([*files, "--check"]) == 1
    assert "is stale" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--openapi", str(tmp_path / "missing.json"), "--out", str(out)])
    assert exit_info.value.code == 2


def test_the_collection_tests_every_request() -> None:
    shipped = json.loads(COLLECTION_FILE.read_text())
    assert shipped["info"]["schema"].endswith("/v2.1.0/collection.json")
    requests = [(folder["name"], item) for folder in shipped["item"] for item in folder["item"]]
    names = {folder for folder, _ in requests}
    assert names == {
        "sendRecords",
        "sendLabels",
        "scoreRecord",
        "getHealth",
        "getReadiness",
        "getMetrics",
    }
    for folder, item in requests:
        script = "\n".join(item["event"][0]["script"]["exec"])
        assert "pm.response.to.have.status(expected.status)" in script, (folder, item["name"])
    # A refused record, its problem+json and every error; and a 401 per secured operation.
    invalid = next(
        item
        for folder, item in requests
        if folder == "sendRecords" and item["name"] == "A record with several problems"
    )
    expected = json.loads(invalid["event"][0]["script"]["exec"][0][len("const expected = ") : -1])
    assert expected["status"] == 422 and expected["mediaType"] == "application/problem+json"
    assert len(expected["errors"]) == 3 and "schema" in expected
    unauthorised = [item for _, item in requests if item["name"] == "Without an API key"]
    assert len(unauthorised) == 3
    assert all(item["request"]["auth"] == {"type": "noauth"} for item in unauthorised)


def run_newman(
    newman: Path, bridge: BridgeProcess, api_key: str, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the shipped collection with the shipped environment, pointed at ``bridge``."""
    env = json.loads(ENVIRONMENT_FILE.read_text())
    values = {"baseUrl": bridge.url, "apiKey": api_key}
    for variable in env["values"]:
        variable["value"] = values[variable["key"]]
    env_file = tmp_path / f"env-{api_key}.json"
    env_file.write_text(json.dumps(env))
    report = tmp_path / f"report-{api_key}.json"
    result = subprocess.run(
        [
            str(newman),
            "run",
            str(COLLECTION_FILE),
            "--environment",
            str(env_file),
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--timeout-request",
            "60000",
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, json.loads(report.read_text())["run"]


def test_newman_runs_the_collection_against_the_real_bridge(
    newman: Path,
    start_bridge: BridgeFactory,
    start_worker: WorkerFactory,
    tmp_path: Path,
) -> None:
    bridge = start_bridge("--score-timeout", "60", "--send-timeout", "10")
    start_worker("--batch-within", "0.05")
    # The worker owns its partitions once a score comes back; then the collection runs.
    warm_up = json.loads(
        json.loads(COLLECTION_FILE.read_text())["item"][2]["item"][0]["request"]["body"]["raw"]
    )
    response = httpx.post(bridge.url + "/v1/score", json=warm_up, headers=HEADERS, timeout=90)
    assert response.status_code == 200, response.text

    result, run = run_newman(newman, bridge, API_KEY, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    stats = run["stats"]
    assert stats["requests"]["failed"] == 0
    assert stats["assertions"]["failed"] == 0, result.stdout[-6000:]
    executed = [execution["item"]["name"] for execution in run["executions"]]
    shipped = json.loads(COLLECTION_FILE.read_text())
    assert len(executed) == sum(len(folder["item"]) for folder in shipped["item"])
    # Status, media type and schema at least, for every request.
    assert stats["assertions"]["total"] >= 3 * len(executed)

    # A wrong key: the 2xx requests' tests fail (and only the 401 ones still pass there).
    wrong, wrong_run = run_newman(newman, bridge, "not-a-key", tmp_path)
    assert wrong.returncode != 0
    failed = {f["source"]["name"] for f in wrong_run["failures"]}
    assert {"One typical record", "The true label of a scored record"} <= failed
    assert "Without an API key" not in failed
