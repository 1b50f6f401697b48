"""The bridge's schema follows MODEL=name@alias, and refuses a version that does not load."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scorestream.settings import Settings
from scorestream.streams.model.train import train_model
from scorestream.streams.model.versions import ModelRegistry
from scorestream.streams.synthetic import generate_frame, generate_records
from tests.fixtures.bridge import API_KEY, BridgeFactory

HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"never: {what}")


def record_properties(client: httpx.Client) -> set[str]:
    document = client.get("/openapi.json").json()
    return set(document["components"]["schemas"]["Record"]["properties"])


def test_schema_follows_the_alias_and_a_broken_version_is_refused(
    settings: Settings,
    start_bridge: BridgeFactory,
    model_dir: Path,
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    first = registry.add(model_dir, name="loans")
    registry.set_alias("loans", "champion", first.version)
    # The second version no longer takes income.
    frame = generate_frame(3000, seed=5, start="2026-01-01T00:00:00").drop(columns="income")
    train_model(frame, "default", tmp_path / "no-income", name="loans")
    second = registry.add(tmp_path / "no-income", name="loans")
    # A third whose schema was damaged after registration.
    train_model(frame.drop(columns="age"), "default", tmp_path / "broken", name="loans")
    third = registry.add(tmp_path / "broken", name="loans")
    schema_file = third.path / "schema.json"
    third.path.chmod(0o755)
    schema_file.chmod(0o644)
    schema_file.write_text('{"features": "not a list"}')

    env = {"MODEL": "loans@champion", "MODELS_DIR": str(registry.root)}
    bridge = start_bridge("--model-poll", "0.3", "--send-timeout", "10", env=env)
    record: dict[str, Any] = next(
        iter(generate_records(1, 3, 1, start="2026-04-01T00:00:00", include_target=False))
    )[0]
    del record["id"]
    without_income = {k: v for k, v in record.items() if k != "income"}

    with httpx.Client(base_url=bridge.url, headers=HEADERS, timeout=10) as client:
        assert "income" in record_properties(client)
        assert client.post("/v1/records", json=record).status_code == 202

        registry.set_alias("loans", "champion", second.version)
        eventually(lambda: "income" not in record_properties(client), "the OpenAPI followed")
        refused = client.post("/v1/records", json=record)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["reason"] == "unknown_field"
        assert refused.json()["errors"][0]["field"] == "income"
        assert client.post("/v1/records", json=without_income).status_code == 202

        registry.set_alias("loans", "champion", third.version)
        eventually(
            lambda: f"refusing version {third.version}" in bridge.log_text(),
            "the broken version was refused",
        )
        # The second version's schema still serves: age is still a feature.
        assert "age" in record_properties(client)
        assert client.post("/v1/records", json=without_income).status_code == 202
        assert bridge.proc.poll() is None

        registry.rollback("loans")  # champion back to the second version: nothing changes
        registry.rollback("loans")  # and to the first: income is back
        eventually(lambda: "income" in record_properties(client), "rolled back to the first")
        assert client.post("/v1/records", json=record).status_code == 202
    assert f"now from version {second.version}" in bridge.log_text()
    assert f"now from version {first.version}" in bridge.log_text()
