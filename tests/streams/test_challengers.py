"""Challengers in shadow: same records as the champion, own topic, never the champion's loss."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import orjson
import pytest

from scorestream.streams.challengers import ChallengerScorer, frame_reusable
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.scoring import BatchScorer, RawRecord
from scorestream.streams.validation import RecordValidator
from tests.streams import cancer_models as cm


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadedModel]:
    root = tmp_path_factory.mktemp("cancer")
    strict = cm.train(root / "strict", name="cancer_strict")
    cm.tighten(strict, "mean_radius", float(np.median(cm.cancer_frame()["mean_radius"])))
    return {
        "champion": LoadedModel.load(cm.train(root / "champion", name="cancer")),
        "small": LoadedModel.load(
            cm.train(root / "small", name="cancer_small", classifier="hgb", features=cm.SUBSET)
        ),
        "strict": LoadedModel.load(strict),
    }


def _scored(champion: LoadedModel, batch: list[dict]) -> Any:
    raw = [
        RawRecord(orjson.dumps(r), "records", 1, i, cm.EVENT_START_MS) for i, r in enumerate(batch)
    ]
    return BatchScorer(champion, RecordValidator(champion.schema)).score(raw)


def test_a_subset_of_the_champions_features_reuses_its_frame(
    models: dict[str, LoadedModel],
) -> None:
    assert frame_reusable(models["champion"].schema, models["small"].schema)
    assert not frame_reusable(models["small"].schema, models["champion"].schema)
    assert not frame_reusable(models["champion"].schema, models["strict"].schema)


def test_challenger_scores_are_its_own_predictions_of_the_champions_records(
    models: dict[str, LoadedModel],
) -> None:
    batch = cm.records(300)
    result = _scored(models["champion"], batch)
    shadow = [
        orjson.loads(m.value)
        for m in ChallengerScorer(models["small"]).score(models["champion"], result)
    ]
    expected = cm.offline_scores(models["small"].path, batch)
    assert {s["id"]: s["score"] for s in shadow} == pytest.approx(expected, abs=1e-12)
    assert {(s["role"], s["model_name"]) for s in shadow} == {("challenger", "cancer_small")}
    first = orjson.loads(result.scores[0].value)
    twin = next(s for s in shadow if s["id"] == first["id"])
    assert (twin["partition"], twin["offset"], twin["event_time"]) == (
        first["partition"],
        first["offset"],
        first["event_time"],
    )


def test_records_a_challenger_cannot_score_are_counted_not_rejected(
    models: dict[str, LoadedModel],
) -> None:
    batch = cm.records(569)
    result = _scored(models["champion"], batch)
    assert len(result.scores) == 569 and not result.rejected
    scorer = ChallengerScorer(models["strict"])
    shadow = scorer.score(models["champion"], result)
    bound = models["strict"].schema.feature("mean_radius").allowed_max
    within = {r["id"] for r in batch if r["mean_radius"] <= bound}
    assert {orjson.loads(m.value)["id"] for m in shadow} == within
    assert scorer.unscored == {"out_of_range": 569 - len(within)}


def test_a_challenger_that_raises_costs_only_its_own_outputs(
    models: dict[str, LoadedModel],
) -> None:
    class Broken:
        def predict_proba(self, features: Any) -> Any:
            raise RuntimeError("a challenger bug")

    broken = dataclasses.replace(models["small"], pipeline=Broken())
    batch = cm.records(50)
    result = _scored(models["champion"], batch)
    before = [m.value for m in result.scores]
    scorer = ChallengerScorer(broken)
    assert scorer.score(models["champion"], result) == []
    assert [m.value for m in result.scores] == before
    assert scorer.failed_batches == 1 and scorer.unscored["internal_error"] == 50


def test_no_champion_scores_no_challenger_work(models: dict[str, LoadedModel]) -> None:
    result = _scored(models["champion"], [])
    assert ChallengerScorer(models["small"]).score(models["champion"], result) == []
