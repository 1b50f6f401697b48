"""Live swap and challengers against the real broker and ClickHouse.

The worker follows ``cancer@champion`` in a registry; the tests move the alias while records
stream in, break versions on purpose, kill the worker in the middle of a swap, and score
challengers in shadow. Counts are taken in ClickHouse without ``FINAL``, after the real sink.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scorestream.child_process import spawn_cli
from scorestream.consumers.comparison.compare import compare_period
from scorestream.settings import Settings
from scorestream.streams.model.versions import ModelRegistry
from scorestream.topics import ensure_topics
from tests.kafka_io import collect, produce_raw
from tests.streams import cancer_models as cm
from tests.streams.swap_support import (
    log_text,
    produce_in_background,
    sink_once,
    stored_scores,
)

RATE = 3_000  # records/s, above the 2,000 the issue asks to swap under


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cancer")
    strict = cm.train(root / "strict", name="cancer_strict")
    cm.tighten(strict, "mean_radius", float(np.median(cm.cancer_frame()["mean_radius"])))
    return {
        "v1": cm.train(root / "v1", name="cancer"),
        "v2": cm.train(root / "v2", name="cancer", classifier="hgb"),
        "bad": cm.train(root / "bad", name="cancer", features=20),
        "odd": cm.train(root / "odd", name="cancer", features=25),
        "small": cm.train(root / "small", name="cancer_small", classifier="hgb", features=10),
        "strict": strict,
    }


class Models:
    """The test's registry: versions of ``cancer`` and the challengers, and the aliases."""

    def __init__(self, root: Path, trained: dict[str, Path]) -> None:
        self.registry = ModelRegistry(root)
        self.version = {
            key: cm.register(self.registry, trained[key], "cancer")
            for key in ("v1", "v2", "bad", "odd")
        }
        cm.register(self.registry, trained["small"], "cancer_small")
        cm.register(self.registry, trained["strict"], "cancer_strict")
        for name in ("cancer_small", "cancer_strict"):
            only = self.registry.versions(name)[0].version
            self.registry.set_alias(name, "champion", only)
        self.promote("v1")

    def promote(self, key: str) -> None:
        self.registry.set_alias("cancer", "champion", self.version[key])


@pytest.fixture()
def models(tmp_path: Path, trained: dict[str, Path]) -> Models:
    return Models(tmp_path / "models", trained)


WorkerStarter = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture()
def worker(settings_env: dict[str, str], models: Models, tmp_path: Path) -> Iterator[WorkerStarter]:
    started: list[subprocess.Popen[bytes]] = []
    env = {**settings_env, "MODELS_DIR": str(models.registry.root), "MODEL": "cancer@champion"}

    def start(*extra: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker-{len(started)}.log"
        proc = spawn_cli(["worker", "--model-poll-interval", "0.5", *extra], env, log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _scores_until(settings: Settings, wanted: set[str], timeout_s: float = 240) -> list[dict]:
    return collect(
        settings,
        settings.topics.scores,
        until=lambda m: wanted <= {s["id"] for s in m},
        timeout_s=timeout_s,
    )


@pytest.mark.parametrize("engine", ["agent", "faust"])
def test_alias_moved_mid_stream_every_record_scored_once_by_the_version_it_names(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client: Any,
    models: Models,
    trained: dict[str, Path],
    worker: WorkerStarter,
    tmp_path: Path,
    engine: str,
) -> None:
    ensure_topics(settings)
    n = 24_000
    batch = cm.records(n)
    proc = worker("--engine", engine, "--batch-size", "500", "--commit-interval", "2")
    producing = produce_in_background(settings, batch, RATE)
    collect(settings, settings.topics.scores, until=lambda m: len(m) >= 3_000, timeout_s=120)
    models.promote("v2")
    producing.join(120)
    scores = _scores_until(settings, {r["id"] for r in batch})
    assert proc.poll() is None, "the worker stopped"
    sink_once(settings_env)

    rows = stored_scores(ch_client, "scores")
    assert len(rows) == len({r["id"] for r in rows}) == n  # every record exactly once
    v1, v2 = models.version["v1"], models.version["v2"]
    by_version: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_version[row["model_version"]].append(row)
    assert set(by_version) == {v1, v2}
    assert len(by_version[v1]) >= 3_000 and len(by_version[v2]) >= 1

    # One switch point: per partition, the old version up to an offset and the new after
    # it; in time, every old output before every new one.
    for partition in {row["partition"] for row in rows}:
        versions = [
            row["model_version"]
            for row in sorted(rows, key=lambda r: r["offset"])
            if row["partition"] == partition
        ]
        switch = versions.index(v2) if v2 in versions else len(versions)
        assert set(versions[:switch]) <= {v1} and set(versions[switch:]) <= {v2}, partition
    assert max(r["scored_at_ms"] for r in by_version[v1]) <= min(
        r["scored_at_ms"] for r in by_version[v2]
    )

    # Each output's score is the one its named version computes.
    by_id = {r["id"]: r for r in batch}
    for version, key in ((v1, "v1"), (v2, "v2")):
        ours = by_version[version]
        expected = cm.offline_scores(trained[key], [by_id[r["id"]] for r in ours])
        got = {r["id"]: r["score"] for r in ours}
        assert got == pytest.approx(expected, abs=1e-9), version

    # Drift bins: each record counted once, against the reference of the version that scored it.
    def counted(messages: list[dict]) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for m in messages:
            if m.get("type") == "bins":
                totals[m["model_version"]] += sum(
                    r["count"] for r in m["rows"] if r["feature"] == "mean_radius"
                )
        return totals

    stats = collect(
        settings,
        settings.topics.drift_stats,
        until=lambda m: sum(counted(m).values()) >= n,
        timeout_s=60,
    )
    assert counted(stats) == {v1: len(by_version[v1]), v2: len(by_version[v2])}
    assert len(scores) >= n
    log = log_text(tmp_path / "worker-0.log")
    assert log.count("now serving") == 1, log[-3000:]


def test_broken_versions_are_refused_and_the_old_one_keeps_serving(
    settings: Settings,
    settings_env: dict[str, str],
    models: Models,
    worker: WorkerStarter,
    tmp_path: Path,
) -> None:
    ensure_topics(settings)
    proc = worker()
    first = cm.records(1_000, prefix="a")
    produce_raw(settings, cm.payloads(first))
    _scores_until(settings, {r["id"] for r in first}, timeout_s=120)

    cm.break_pipeline(models.registry.version_dir("cancer", models.version["bad"]))
    cm.drop_feature_from_schema(models.registry.version_dir("cancer", models.version["odd"]))
    log_path = tmp_path / "worker-0.log"
    for key in ("bad", "odd"):
        models.promote(key)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and models.version[key] not in {
            version for version, _ in _refusals(log_path)
        }:
            time.sleep(0.2)
        time.sleep(2.5)  # five more polls: none may try again
        second = cm.records(1_000, prefix=f"after-{key}")
        produce_raw(settings, cm.payloads(second))
        scores = _scores_until(settings, {r["id"] for r in second}, timeout_s=120)
        served = {s["model_version"] for s in scores if s["id"].startswith(f"after-{key}-")}
        assert served == {models.version["v1"]}
    refusals = _refusals(log_path)
    assert [version for version, _ in refusals] == [models.version["bad"], models.version["odd"]]
    assert "does not match its metadata" in refusals[0][1]  # the corrupt pipeline's reason
    assert "feature" in refusals[1][1]  # the schema's

    models.promote("v2")
    loaded = f"version {models.version['v2']} loaded"
    deadline = time.monotonic() + 60
    while loaded not in log_text(log_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    third = cm.records(1_000, prefix="c")
    produce_raw(settings, cm.payloads(third))
    scores = _scores_until(settings, {r["id"] for r in third}, timeout_s=120)
    served = {s["model_version"] for s in scores if s["id"].startswith("c-")}
    assert served == {models.version["v2"]}  # loaded before they came: all scored by it
    assert proc.poll() is None


def _refusals(log_path: Path) -> list[tuple[str, str]]:
    """(version, log line) of every refusal the worker logged, in order."""
    return [
        (line.split("refused version ")[1].split()[0], line)
        for line in log_text(log_path).splitlines()
        if "refused version" in line
    ]


def test_a_worker_killed_during_a_swap_loses_nothing(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client: Any,
    models: Models,
    trained: dict[str, Path],
    worker: WorkerStarter,
) -> None:
    ensure_topics(settings)
    n = 20_000
    batch = cm.records(n)
    proc = worker("--batch-size", "500", "--commit-interval", "2")
    producing = produce_in_background(settings, batch, RATE)
    collect(settings, settings.topics.scores, until=lambda m: len(m) >= 3_000, timeout_s=120)
    models.promote("v2")
    v2 = models.version["v2"]
    collect(
        settings,
        settings.topics.scores,
        until=lambda m: any(s["model_version"] == v2 for s in m),
        timeout_s=60,
    )
    os.killpg(proc.pid, signal.SIGKILL)  # right after the swap, records still arriving
    proc.wait(10)
    worker("--batch-size", "500", "--commit-interval", "2")
    producing.join(120)
    _scores_until(settings, {r["id"] for r in batch})
    sink_once(settings_env)

    rows = stored_scores(ch_client, "scores")
    assert {r["id"] for r in rows} == {r["id"] for r in batch}
    # Replays after the kill may appear twice, each scored by a version that names itself.
    by_id = {r["id"]: r for r in batch}
    for key in ("v1", "v2"):
        ours = [r for r in rows if r["model_version"] == models.version[key]]
        expected = cm.offline_scores(trained[key], [by_id[r["id"]] for r in ours])
        assert {r["id"]: r["score"] for r in ours} == pytest.approx(expected, abs=1e-9)


def test_challengers_score_the_same_records_into_their_own_table(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client: Any,
    models: Models,
    trained: dict[str, Path],
    worker: WorkerStarter,
) -> None:
    ensure_topics(settings)
    n = 3_000
    batch = cm.records(n)
    produce_raw(settings, cm.payloads(batch))
    worker("--challenger", "cancer_small@champion", "--challenger", "cancer_strict")
    _scores_until(settings, {r["id"] for r in batch}, timeout_s=120)
    bound = float(np.median(cm.cancer_frame()["mean_radius"]))
    strict_ids = {r["id"] for r in batch if r["mean_radius"] <= bound}
    collect(
        settings,
        settings.topics.challenger_scores,
        until=lambda m: len(m) >= n + len(strict_ids),
        timeout_s=60,
    )
    sink_once(settings_env)

    champion = stored_scores(ch_client, "scores")
    assert len(champion) == n and {r["model_name"] for r in champion} == {"cancer"}
    shadow = stored_scores(ch_client, "challenger_scores")
    by_model: dict[str, list[dict]] = defaultdict(list)
    for row in shadow:
        by_model[row["model_name"]].append(row)
    assert set(by_model) == {"cancer_small", "cancer_strict"}
    small, strict = by_model["cancer_small"], by_model["cancer_strict"]
    assert len(small) == len({r["id"] for r in small}) == n
    assert len(strict) == len({r["id"] for r in strict}) and {r["id"] for r in strict} == strict_ids
    by_id = {r["id"]: r for r in batch}
    for rows, key in ((small, "small"), (strict, "strict")):
        expected = cm.offline_scores(trained[key], [by_id[r["id"]] for r in rows])
        assert {r["id"]: r["score"] for r in rows} == pytest.approx(expected, abs=1e-9)
    # Same record, same place: a challenger row points at its champion row's input.
    champion_at = {r["id"]: (r["partition"], r["offset"]) for r in champion}
    assert all(champion_at[r["id"]] == (r["partition"], r["offset"]) for r in shadow)
    # The two models really differ on these records (another algorithm, other features).
    champion_score = {r["id"]: r["score"] for r in champion}
    assert np.mean([abs(champion_score[r["id"]] - r["score"]) > 1e-3 for r in small]) > 0.1
    # The comparison of that period, run on what the worker and sink stored, equals a direct
    # computation on the same rows (issue #13: "match a direct computation on the stored scores").
    labels = dict(ch_client.execute("SELECT id, label FROM scores"))
    small_labels = dict(
        ch_client.execute(
            "SELECT id, label FROM challenger_scores WHERE model_name = 'cancer_small'"
        )
    )
    first, last = ch_client.execute("SELECT min(event_time), max(event_time) FROM scores")[0]
    written = compare_period(
        ch_client, settings.clickhouse.database, "daily", first, last + timedelta(seconds=1)
    )
    pairs = {row["challenger_name"]: row for row in written}
    assert set(pairs) == {"cancer_small", "cancer_strict"}
    assert pairs["cancer_small"]["n_paired"] == n
    assert pairs["cancer_strict"]["n_paired"] == len(strict_ids)
    agreement = np.mean([small_labels[record_id] == labels[record_id] for record_id in labels])
    assert pairs["cancer_small"]["agreement_rate"] == pytest.approx(agreement, abs=1e-12)
    difference = np.mean([r["score"] - champion_score[r["id"]] for r in small])
    assert pairs["cancer_small"]["mean_difference"] == pytest.approx(difference, abs=1e-9)
