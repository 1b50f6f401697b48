"""A worker that follows ``models:/<name>@champion`` in a real MLflow registry.

Two breast-cancer classifiers (scikit-learn's bundled data set; logistic regression, then
gradient boosting) are published to the session's ``mlflow server``
(``tests.fixtures.mlflow_server``) and the alias is moved with MLflow's own client, as a
user would. Records go through the real broker, worker and sink; counts are taken in
ClickHouse without ``FINAL``. The registry is also stopped mid-stream: the worker must keep
scoring with the version it has, say so in one line, and follow the alias again once the
registry is back.
"""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scorestream.settings import Settings
from scorestream.topics import ensure_topics
from tests.fixtures.mlflow_server import MlflowRegistry
from tests.fixtures.worker import WorkerFactory
from tests.kafka_io import collect, produce_raw
from tests.streams import cancer_models as cm
from tests.streams.swap_support import (
    log_text,
    produce_in_background,
    sink_once,
    stored_scores,
)

RATE = 2_000  # records/s while the alias moves
WORKER_FLAGS = ("--batch-size", "500", "--commit-interval", "2", "--model-poll-interval", "0.5")
SWAPPED = "now serving"
DOWN = "cannot resolve"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Version 1 (logistic regression) and version 2 (gradient boosting) of one model."""
    root = tmp_path_factory.mktemp("cancer-mlflow")
    return {
        "v1": cm.train(root / "v1", name="cancer"),
        "v2": cm.train(root / "v2", name="cancer", classifier="hgb"),
    }


def _worker(
    start_worker: WorkerFactory, registry: MlflowRegistry, name: str
) -> subprocess.Popen[bytes]:
    return start_worker(*WORKER_FLAGS, model=f"models:/{name}@champion", env=registry.environment())


def _scores_of(settings: Settings, batch: list[dict], timeout_s: float = 180) -> dict[str, dict]:
    """Id -> score message of every record of ``batch`` (waits until all are scored)."""
    wanted = {r["id"] for r in batch}
    messages = collect(
        settings,
        settings.topics.scores,
        until=lambda m: wanted <= {s["id"] for s in m},
        timeout_s=timeout_s,
    )
    found = {s["id"]: s for s in messages if s["id"] in wanted}
    assert set(found) == wanted, f"{len(wanted - set(found))} records never scored"
    return found


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout_s:.0f} s"
        time.sleep(0.2)


def _check_exactly_once(rows: list[dict], batch: list[dict]) -> None:
    # Without FINAL: a record scored twice would be two rows until a merge.
    assert len(rows) == len({r["id"] for r in rows}) == len(batch)
    assert {r["id"] for r in rows} == {r["id"] for r in batch}


def _check_scores_match(rows: list[dict], batch: list[dict], dirs: dict[str, Path]) -> None:
    """Each stored score is what the version it names predicts for that record, directly."""
    by_id = {r["id"]: r for r in batch}
    assert {r["model_version"] for r in rows} <= set(dirs)
    for version, model_dir in dirs.items():
        ours = [r for r in rows if r["model_version"] == version]
        expected = cm.offline_scores(model_dir, [by_id[r["id"]] for r in ours])
        assert {r["id"]: r["score"] for r in ours} == pytest.approx(expected, abs=1e-9), version


def _check_one_step(rows: list[dict], old: str, new: str) -> None:
    """Per partition, by offset: ``old`` up to one point, ``new`` after it."""
    for partition in {r["partition"] for r in rows}:
        versions = [
            r["model_version"]
            for r in sorted(rows, key=lambda r: r["offset"])
            if r["partition"] == partition
        ]
        switch = versions.index(new) if new in versions else len(versions)
        assert set(versions[:switch]) <= {old} and set(versions[switch:]) <= {new}, partition


def test_a_model_aliased_in_mlflow_is_scored_and_moving_the_alias_swaps_it(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client: Any,
    mlflow_registry: MlflowRegistry,
    trained: dict[str, Path],
    start_worker: WorkerFactory,
    unique_name: str,
    tmp_path: Path,
) -> None:
    ensure_topics(settings)
    name = f"cancer_{unique_name}"
    first = mlflow_registry.publish(trained["v1"], name, alias="champion")
    proc = _worker(start_worker, mlflow_registry, name)

    before = cm.records(1_000, prefix="a")
    produce_raw(settings, cm.payloads(before))
    scored = _scores_of(settings, before)
    assert {(s["model_name"], s["model_version"]) for s in scored.values()} == {
        (name, first.version)
    }

    second = mlflow_registry.publish(trained["v2"], name)
    assert second.version != first.version and second.number != first.number
    stream = cm.records(10_000, prefix="b")
    producing = produce_in_background(settings, stream, RATE)
    collect(settings, settings.topics.scores, until=lambda m: len(m) >= 3_000, timeout_s=120)
    mlflow_registry.set_alias(name, "champion", second.number)  # mid-stream
    producing.join(120)
    assert not producing.is_alive()
    _scores_of(settings, stream)
    assert proc.poll() is None, "the worker stopped"
    sink_once(settings_env)

    rows = stored_scores(ch_client)
    everything = before + stream
    _check_exactly_once(rows, everything)
    assert {r["model_name"] for r in rows} == {name}
    served: dict[str, int] = defaultdict(int)
    for row in rows:
        served[row["model_version"]] += 1
    assert set(served) == {first.version, second.version}  # the alias move did swap
    assert served[first.version] >= 3_000
    _check_one_step(rows, first.version, second.version)
    _check_scores_match(
        rows, everything, {first.version: trained["v1"], second.version: trained["v2"]}
    )

    log = log_text(tmp_path / "worker-0.log")
    assert log.count(SWAPPED) == 1, log[-3000:]  # one swap, no restart
    assert f"models:/{name}@champion is MLflow version {second.number}" in log
    assert "Traceback" not in log


def test_the_worker_rides_out_an_mlflow_outage_and_follows_the_alias_after_it(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client: Any,
    mlflow_registry: MlflowRegistry,
    trained: dict[str, Path],
    start_worker: WorkerFactory,
    unique_name: str,
    tmp_path: Path,
) -> None:
    ensure_topics(settings)
    name = f"cancer_{unique_name}"
    server = mlflow_registry.server
    first = mlflow_registry.publish(trained["v1"], name, alias="champion")
    second = mlflow_registry.publish(trained["v2"], name)
    proc = _worker(start_worker, mlflow_registry, name)
    log_path = tmp_path / "worker-0.log"

    warm = cm.records(500, prefix="a")
    produce_raw(settings, cm.payloads(warm))
    _scores_of(settings, warm)

    stream = cm.records(6_000, prefix="b")
    producing = produce_in_background(settings, stream, RATE)
    collect(settings, settings.topics.scores, until=lambda m: len(m) >= 1_500, timeout_s=120)
    server.stop()  # mid-stream
    try:
        _wait_for(lambda: DOWN in log_text(log_path), "log line about the registry being down")
        # Produced once the worker has seen the registry down: scored while it is down.
        during = cm.records(1_000, prefix="c")
        produce_raw(settings, cm.payloads(during))
        producing.join(120)
        assert not producing.is_alive()
        scored = _scores_of(settings, stream + during)
        assert {s["model_version"] for s in scored.values()} == {first.version}
        assert proc.poll() is None, "the worker stopped while the registry was down"
        time.sleep(2)  # four more failed polls: logged once, not once per poll
    finally:
        server.start()  # same port and store, for this test and the session's others

    down = [line for line in log_text(log_path).splitlines() if DOWN in line]
    # Once per distinct problem, not once per poll (a server shutting down may first
    # answer with another error, its own line).
    refused = [line for line in down if "connection refused" in line]
    assert len(refused) == 1, down
    unreachable = f"models:/{name}@champion: cannot reach the MLflow registry at {server.uri}"
    assert unreachable in refused[0]
    assert all(f"still serving {first.version}" in line for line in down), down
    assert "Retrying" not in log_text(log_path)  # urllib3's warning, once per poll if it retried

    # Back: the worker follows the alias again, without a restart.
    mlflow_registry.set_alias(name, "champion", second.number)
    # It loads the new version beside the old one, then switches at the next batch.
    loaded = f"version {second.version} loaded"
    _wait_for(lambda: loaded in log_text(log_path), "new version loaded after the registry is back")
    after = cm.records(1_000, prefix="d")
    produce_raw(settings, cm.payloads(after))
    scored_after = _scores_of(settings, after)
    assert {s["model_version"] for s in scored_after.values()} == {second.version}
    assert proc.poll() is None
    sink_once(settings_env)

    rows = stored_scores(ch_client)
    everything = warm + stream + during + after
    _check_exactly_once(rows, everything)
    _check_scores_match(
        rows, everything, {first.version: trained["v1"], second.version: trained["v2"]}
    )
    log = log_text(log_path)
    assert log.count(SWAPPED) == 1 and "Traceback" not in log, log[-3000:]
