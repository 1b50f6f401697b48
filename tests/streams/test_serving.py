"""Following a model reference: swap between batches, refuse what does not load, no hot loop.

No Kafka here: the follower and the pipeline on real registered models (breast cancer).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from scorestream.settings import Settings
from scorestream.streams.challengers import ChallengerScorer
from scorestream.streams.model.source import open_source
from scorestream.streams.model.versions import ModelRegistry
from scorestream.streams.pipeline import ChampionBuilder, ScoringPipeline
from scorestream.streams.scoring import RawRecord
from scorestream.streams.serving import ModelFollower
from tests.streams import cancer_models as cm


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cancer")
    return {
        "v1": cm.train(root / "v1", name="cancer"),
        "v2": cm.train(root / "v2", name="cancer", classifier="hgb"),
        "bad": cm.train(root / "bad", name="cancer", features=20),
    }


@pytest.fixture()
def registry(tmp_path: Path, trained: dict[str, Path]) -> tuple[ModelRegistry, dict[str, str]]:
    registry = ModelRegistry(tmp_path / "models")
    versions = {key: cm.register(registry, path, "cancer") for key, path in trained.items()}
    registry.set_alias("cancer", "champion", versions["v1"])
    return registry, versions


def _settings(registry: ModelRegistry) -> Settings:
    return Settings(models_dir=registry.root, model="cancer@champion")


def _raw(batch: list[dict], first_offset: int = 0) -> list[RawRecord]:
    return [
        RawRecord(orjson.dumps(r), "records", 0, first_offset + i, cm.EVENT_START_MS)
        for i, r in enumerate(batch)
    ]


def _follower(settings: Settings) -> ModelFollower:
    return ModelFollower.start(open_source(settings.model, settings), ChampionBuilder(settings))


def test_a_moved_alias_is_loaded_beside_and_swapped_in_between_batches(
    registry: tuple[ModelRegistry, dict[str, str]], trained: dict[str, Path]
) -> None:
    models, versions = registry
    settings = _settings(models)
    follower = _follower(settings)
    pipeline = ScoringPipeline(settings, follower, drift_every_batch=False)
    records = cm.records(40)
    first = pipeline.outputs(_raw(records[:20]))

    models.set_alias("cancer", "champion", versions["v2"])
    asyncio.run(follower.poll())
    assert follower.current.model.version == versions["v1"]  # loaded, not yet switched
    second = pipeline.outputs(_raw(records[20:], first_offset=20))

    def scored(outputs: list) -> list[dict]:
        return [orjson.loads(m.value) for t, m in outputs if t == settings.topics.scores]

    assert {s["model_version"] for s in scored(first)} == {versions["v1"]}
    assert {s["model_version"] for s in scored(second)} == {versions["v2"]}
    expected = cm.offline_scores(trained["v2"], records[20:])
    assert {s["id"]: s["score"] for s in scored(second)} == pytest.approx(expected, abs=1e-12)

    # The old version's counts go out under its own version, the new one's under its own.
    drift = [orjson.loads(m.value) for _, m in pipeline.drift_messages()]
    counted = {
        m["model_version"]: sum(r["count"] for r in m["rows"] if r["feature"] == "mean_radius")
        for m in drift
        if m["type"] == "bins"
    }
    assert counted == {versions["v1"]: 20, versions["v2"]: 20}
    assert pipeline.drift_messages() == []


def test_ids_seen_before_a_swap_are_replays_here_and_resends_or_duplicates_elsewhere(
    registry: tuple[ModelRegistry, dict[str, str]],
) -> None:
    models, versions = registry
    settings = _settings(models)
    follower = _follower(settings)
    pipeline = ScoringPipeline(settings, follower, drift_every_batch=False)
    records = cm.records(10)
    pipeline.outputs(_raw(records))
    models.set_alias("cancer", "champion", versions["v2"])
    asyncio.run(follower.poll())
    pipeline.drift_messages()  # v1's counts out of the way
    replayed = pipeline.outputs(_raw(records))  # same offsets: a replay after a crash
    # Same ids elsewhere: three re-sent as they were, two with other content.
    clashes = [{**records[5 + i], "id": records[3 + i]["id"]} for i in range(2)]
    again = pipeline.outputs(_raw([*records[:3], *clashes], first_offset=100))
    topics = settings.topics
    assert len([1 for t, _ in replayed if t == topics.scores]) == 10
    rescored = [orjson.loads(m.value) for t, m in again if t == topics.scores]
    assert sorted(s["id"] for s in rescored) == sorted(r["id"] for r in records[:3])
    assert {s["model_version"] for s in rescored} == {versions["v2"]}
    rejected = [orjson.loads(m.value) for t, m in again if t == topics.rejected]
    assert [r["reason"] for r in rejected] == ["duplicate_id"] * 2
    # The replay is counted again (its first counts may have died with the crash); the
    # re-sends are not: their first copies were counted.
    drift = [orjson.loads(m.value) for _, m in pipeline.drift_messages()]
    counted = sum(
        r["count"]
        for m in drift
        if m["type"] == "bins"
        for r in m["rows"]
        if r["feature"] == "mean_radius"
    )
    assert counted == 10


def test_a_version_that_does_not_load_is_refused_once_and_the_old_one_keeps_serving(
    registry: tuple[ModelRegistry, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    models, versions = registry
    cm.break_pipeline(models.version_dir("cancer", versions["bad"]))
    settings = _settings(models)
    follower = _follower(settings)
    models.set_alias("cancer", "champion", versions["bad"])
    with caplog.at_level(logging.INFO, logger="scorestream.streams.serving"):
        for _ in range(5):  # polls in a row: one attempt, then the backoff holds
            asyncio.run(follower.poll())
    refusals = [r for r in caplog.records if "refused version" in r.getMessage()]
    assert len(refusals) == 1
    assert "does not match its metadata" in refusals[0].getMessage()
    assert follower.take_next() is None
    assert follower.current.model.version == versions["v1"]
    assert set(follower.refused()) == {versions["bad"]}

    # Another version is loaded at once; going back to the refused one waits for its backoff.
    models.set_alias("cancer", "champion", versions["v2"])
    asyncio.run(follower.poll())
    assert follower.take_next() is not None
    assert follower.current.model.version == versions["v2"]
    models.set_alias("cancer", "champion", versions["bad"])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="scorestream.streams.serving"):
        asyncio.run(follower.poll())
    assert not [r for r in caplog.records if "loading it" in r.getMessage()]
    assert follower.current.model.version == versions["v2"]


def test_a_schema_that_does_not_match_its_pipeline_is_refused(
    registry: tuple[ModelRegistry, dict[str, str]],
) -> None:
    models, versions = registry
    cm.drop_feature_from_schema(models.version_dir("cancer", versions["bad"]))
    follower = _follower(_settings(models))
    models.set_alias("cancer", "champion", versions["bad"])
    asyncio.run(follower.poll())
    assert follower.take_next() is None
    assert follower.current.model.version == versions["v1"]
    assert "feature" in follower.refused()[versions["bad"]]


def test_an_unresolvable_reference_is_logged_once_and_scoring_goes_on(
    registry: tuple[ModelRegistry, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    models, versions = registry
    follower = _follower(_settings(models))
    aliases = models.root / "cancer" / "aliases.json"
    aliases.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="scorestream.streams.serving"):
        for _ in range(3):
            asyncio.run(follower.poll())
    assert len([r for r in caplog.records if "cannot resolve" in r.getMessage()]) == 1
    assert follower.current.model.version == versions["v1"]


def test_challengers_follow_their_own_alias(
    registry: tuple[ModelRegistry, dict[str, str]],
) -> None:
    models, versions = registry
    models.set_alias("cancer", "challenger", versions["v2"])
    settings = _settings(models)
    challenger = ModelFollower.start(
        open_source("cancer@challenger", settings), ChallengerScorer, "challenger"
    )
    pipeline = ScoringPipeline(settings, _follower(settings), [challenger])
    records = cm.records(8)
    out = pipeline.outputs(_raw(records))
    shadow = [orjson.loads(m.value) for t, m in out if t == settings.topics.challenger_scores]
    assert {(s["role"], s["model_version"]) for s in shadow} == {("challenger", versions["v2"])}
    models.set_alias("cancer", "challenger", versions["v1"])
    asyncio.run(challenger.poll())
    out = pipeline.outputs(_raw(cm.records(8, prefix="s")))
    shadow = [orjson.loads(m.value) for t, m in out if t == settings.topics.challenger_scores]
    assert {s["model_version"] for s in shadow} == {versions["v1"]}
    assert len(shadow) == 8
