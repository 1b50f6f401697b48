"""The worker's series, from the pipeline on real models (breast cancer), without Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from prometheus_client import generate_latest

from scorestream.settings import Settings
from scorestream.streams.metrics import WorkerMetrics
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
        "v2": cm.train(root / "v2", name="cancer", features=29),  # another version, quickly
    }


def _value(metrics: WorkerMetrics, sample: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(sample, labels)


def test_outcomes_count_once_published_and_the_swap_shows(
    tmp_path: Path, trained: dict[str, Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    versions = {key: cm.register(registry, path, "cancer") for key, path in trained.items()}
    registry.set_alias("cancer", "champion", versions["v1"])
    settings = Settings(models_dir=registry.root, model="cancer@champion")
    follower = ModelFollower.start(open_source(settings.model, settings), ChampionBuilder(settings))
    metrics = WorkerMetrics(settings)
    pipeline = ScoringPipeline(settings, follower, drift_every_batch=False, metrics=metrics)
    info = "scorestream_worker_model_info"
    assert (
        _value(metrics, info, role="champion", name="cancer", version=versions["v1"], kind="binary")
        == 1
    )

    records = cm.records(20)
    raw = [
        RawRecord(orjson.dumps(r), "records", 0, i, cm.EVENT_START_MS)
        for i, r in enumerate(records)
    ]
    clash = {**records[1], "id": records[0]["id"]}
    raw += [
        RawRecord(b'{"id": ', "records", 0, 20, cm.EVENT_START_MS),
        RawRecord(orjson.dumps(records[0]), "records", 0, 21, cm.EVENT_START_MS),  # re-sent
        RawRecord(orjson.dumps(clash), "records", 0, 22, cm.EVENT_START_MS),  # same id, other
    ]
    pipeline.outputs(raw)
    scored = "scorestream_worker_records_scored_total"
    resent = "scorestream_worker_records_resent_total"
    rejected = "scorestream_worker_records_rejected_total"
    assert _value(metrics, scored) == 0  # not published yet: a retried batch counts once
    metrics.batch(len(raw), 0.01, 0.002)
    assert _value(metrics, scored) == 21  # the re-send is scored again...
    assert _value(metrics, resent) == 1  # ...and shown as such
    assert _value(metrics, rejected, reason="invalid_json") == 1
    assert _value(metrics, rejected, reason="duplicate_id") == 1
    assert _value(metrics, rejected, reason="missing_field") == 0  # every reason, from 0
    assert _value(metrics, "scorestream_worker_batch_size_sum") == 23
    assert _value(metrics, "scorestream_worker_batch_duration_seconds_count", stage="publish") == 1
    metrics.batch(5, 0.01, 0.002)  # the next batch does not count the last one's outcomes
    assert (_value(metrics, scored), _value(metrics, resent)) == (21, 1)

    registry.set_alias("cancer", "champion", versions["v2"])
    asyncio.run(follower.poll())
    pipeline.outputs(raw[:3])
    text = generate_latest(metrics.registry).decode()
    assert f'version="{versions["v2"]}"' in text
    assert f'version="{versions["v1"]}"' not in text  # the replaced version is gone
