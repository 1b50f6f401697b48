"""``models:/name@alias`` against a real ``mlflow server`` (``tests.fixtures.mlflow_server``).

Two versions of a breast-cancer classifier (scikit-learn's bundled data set) are published
to the registry; the alias is moved with MLflow's own client, as a user would, and the
source must follow it, download each version once, and turn every failure into one
:class:`ModelError` line that a polling worker can log and survive.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorestream.exceptions import ModelError
from scorestream.settings import Settings
from scorestream.streams.model.mlflow_source import (
    CACHE_DIR,
    MlflowSource,
    log_model_dir,
    parse_reference,
)
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.source import ResolvedModel, open_source
from scorestream.streams.model.train import train_model
from tests.fixtures.bridge import free_port
from tests.fixtures.mlflow_server import MlflowRegistry

DOWNLOADED = "downloaded MLflow version"


@dataclass(frozen=True)
class Trained:
    """A model directory and the pipeline object that wrote it."""

    path: Path
    version: str
    pipeline: object


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def versions(cancer: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> list[Trained]:
    """Two different models of the same data set: all rows seed 0, a sample seed 1."""
    root = tmp_path_factory.mktemp("cancer")
    trained = []
    for index, (frame, seed) in enumerate(
        [(cancer, 0), (cancer.sample(frac=0.7, random_state=1).reset_index(drop=True), 1)]
    ):
        report = train_model(frame, "target", root / f"v{index}", name="cancer", seed=seed)
        trained.append(Trained(report.model_dir, report.version, report.pipeline))
    assert trained[0].version != trained[1].version
    return trained


def _predictions(model: object, frame: pd.DataFrame) -> np.ndarray:
    features = frame.drop(columns=["target"])
    return np.asarray(model.predict_proba(features)[:, 1])  # type: ignore[attr-defined]


def _check_one_line(error: ModelError, *fragments: str) -> None:
    text = str(error)
    assert "\n" not in text and "Traceback" not in text
    for fragment in fragments:
        assert fragment in text


@pytest.mark.integration
def test_alias_names_a_version_that_loads_and_predicts_like_the_original(
    mlflow_registry: MlflowRegistry, versions: list[Trained], cancer: pd.DataFrame
) -> None:
    published = mlflow_registry.publish(versions[0].path, "cancer-a")
    mlflow_registry.set_alias("cancer-a", "champion", published.number)

    source = open_source("models:/cancer-a@champion", mlflow_registry.settings)
    resolved = source.resolve()

    assert isinstance(source, MlflowSource)
    assert resolved == ResolvedModel(
        "models:/cancer-a@champion",
        "cancer-a",
        versions[0].version,
        mlflow_registry.settings.models_dir / CACHE_DIR / "cancer-a" / published.number,
    )
    assert source.current is not None and source.current.number == published.number
    model = LoadedModel.load(resolved.path)
    assert (model.name, model.version) == ("cancer-a", versions[0].version)
    features = cancer.drop(columns=["target"])
    np.testing.assert_allclose(
        model.predict(features).scores, _predictions(versions[0].pipeline, cancer)
    )


@pytest.mark.integration
def test_moving_the_alias_makes_resolve_return_the_new_version(
    mlflow_registry: MlflowRegistry, versions: list[Trained], cancer: pd.DataFrame
) -> None:
    first = mlflow_registry.publish(versions[0].path, "cancer-b", alias="champion")
    source = MlflowSource("models:/cancer-b@champion", mlflow_registry.settings)
    assert source.resolve().version == versions[0].version

    second = mlflow_registry.publish(versions[1].path, "cancer-b")
    # Publishing a version does not move the alias: only setting it does.
    assert source.resolve().version == versions[0].version
    mlflow_registry.set_alias("cancer-b", "champion", second.number)
    moved = source.resolve()

    assert (first.number, second.number) == ("1", "2")
    assert moved.version == versions[1].version
    assert moved.path.name == second.number
    assert source.current is not None and source.current.number == second.number
    model = LoadedModel.load(moved.path)
    np.testing.assert_allclose(
        model.predict(cancer.drop(columns=["target"])).scores,
        _predictions(versions[1].pipeline, cancer),
    )
    # A pinned reference names its version whatever the alias does.
    assert MlflowSource("models:/cancer-b/1", mlflow_registry.settings).resolve().version == (
        versions[0].version
    )


@pytest.mark.integration
def test_a_version_is_downloaded_once(
    mlflow_registry: MlflowRegistry, versions: list[Trained], caplog: pytest.LogCaptureFixture
) -> None:
    first = mlflow_registry.publish(versions[0].path, "cancer-c", alias="champion")
    second = mlflow_registry.publish(versions[1].path, "cancer-c")
    caplog.set_level(logging.INFO, logger="scorestream.streams.model.mlflow_source")
    source = MlflowSource("models:/cancer-c@champion", mlflow_registry.settings)

    paths = {source.resolve().path for _ in range(3)}
    # Another process on the same MODELS_DIR (a second worker, a restart) reuses the cache.
    paths.add(MlflowSource("models:/cancer-c@champion", mlflow_registry.settings).resolve().path)
    assert len(paths) == 1
    assert sum(DOWNLOADED in r.getMessage() for r in caplog.records) == 1
    # The registry saw the version's files fetched once: MLmodel, the four model files and
    # the calibration of performance estimation.
    assert mlflow_registry.server.artifact_downloads(first.run_id) == 6
    assert (paths.pop() / "calibration.json").is_file()

    mlflow_registry.set_alias("cancer-c", "champion", second.number)
    assert source.resolve().version == versions[1].version
    mlflow_registry.set_alias("cancer-c", "champion", first.number)
    assert source.resolve().version == versions[0].version  # back to the cached one
    assert sum(DOWNLOADED in r.getMessage() for r in caplog.records) == 2
    cache = mlflow_registry.settings.models_dir / CACHE_DIR / "cancer-c"
    # Nothing half-written is left beside the versions.
    assert sorted(p.name for p in cache.iterdir()) == ["1", "2"]


@pytest.mark.integration
def test_unknown_model_or_alias_is_one_clear_error(
    mlflow_registry: MlflowRegistry, versions: list[Trained]
) -> None:
    mlflow_registry.publish(versions[0].path, "cancer-d", alias="champion")
    uri = mlflow_registry.server.uri

    with pytest.raises(ModelError) as no_alias:
        MlflowSource("models:/cancer-d@nope", mlflow_registry.settings).resolve()
    _check_one_line(no_alias.value, "models:/cancer-d@nope", "not in the MLflow registry", uri)
    assert "nope" in str(no_alias.value).split(uri, 1)[1]

    with pytest.raises(ModelError) as no_model:
        MlflowSource("models:/no-such-model@champion", mlflow_registry.settings).resolve()
    _check_one_line(no_model.value, "models:/no-such-model@champion", "not in the MLflow")

    with pytest.raises(ModelError) as no_version:
        MlflowSource("models:/cancer-d/7", mlflow_registry.settings).resolve()
    _check_one_line(no_version.value, "models:/cancer-d/7", "not in the MLflow registry")


@pytest.mark.integration
def test_a_registry_that_is_down_raises_model_error_and_pinned_versions_stay_cached(
    mlflow_registry: MlflowRegistry, versions: list[Trained]
) -> None:
    published = mlflow_registry.publish(versions[0].path, "cancer-e", alias="champion")
    live = MlflowSource("models:/cancer-e@champion", mlflow_registry.settings)
    before = live.resolve()
    pinned = MlflowSource(published.reference, mlflow_registry.settings).resolve()

    down_uri = f"http://127.0.0.1:{free_port()}"
    down = mlflow_registry.settings.model_copy(update={"mlflow_tracking_uri": down_uri})
    with pytest.raises(ModelError) as error:
        MlflowSource("models:/cancer-e@champion", down).resolve()
    _check_one_line(
        error.value, "models:/cancer-e@champion", "cannot reach the MLflow registry", down_uri
    )
    assert "connection refused" in str(error.value)
    # A pinned version already downloaded needs no registry: it is served from the cache.
    assert MlflowSource(published.reference, down).resolve() == pinned
    assert pinned.version == before.version == versions[0].version


@pytest.mark.integration
def test_artifacts_that_are_not_a_scorestream_model_are_refused(
    mlflow_registry: MlflowRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_registry.server.uri)
    experiment = client.create_experiment("not-scorestream")
    run = client.create_run(experiment)
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.pkl").write_bytes(b"not a pickle we would ever load")
    client.log_artifacts(run.info.run_id, str(other), "model")
    client.create_registered_model("foreign")
    version = client.create_model_version(
        "foreign", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias("foreign", "champion", version.version)
    caplog.set_level(logging.INFO, logger="scorestream.streams.model.mlflow_source")
    source = MlflowSource("models:/foreign@champion", mlflow_registry.settings)

    for _ in range(2):  # refused again on the next poll, without downloading it again
        with pytest.raises(ModelError) as refused:
            source.resolve()
        _check_one_line(refused.value, "models:/foreign@champion", "is not a scorestream model")
        assert mlflow_registry.server.artifact_downloads(run.info.run_id) == 1  # model.pkl
    assert not any(DOWNLOADED in r.getMessage() for r in caplog.records)
    cache = mlflow_registry.settings.models_dir / CACHE_DIR / "foreign"
    assert list(cache.iterdir()) == []


@pytest.mark.integration
def test_a_poller_rides_out_a_registry_restart(
    mlflow_registry: MlflowRegistry, versions: list[Trained]
) -> None:
    mlflow_registry.publish(versions[0].path, "cancer-f", alias="champion")
    second = mlflow_registry.publish(versions[1].path, "cancer-f")
    source = MlflowSource("models:/cancer-f@champion", mlflow_registry.settings)
    assert source.resolve().version == versions[0].version

    server = mlflow_registry.server
    server.stop()
    try:
        for _ in range(2):  # every poll while it is down fails the same way, and promptly
            with pytest.raises(ModelError) as down:
                source.resolve()
            _check_one_line(down.value, "cannot reach the MLflow registry", "connection refused")
    finally:
        server.start()  # same port and store: the registry as it was
    mlflow_registry.set_alias("cancer-f", "champion", second.number)
    # The same source (and its MLflow client) works again and follows the alias.
    assert source.resolve().version == versions[1].version


def test_an_unloadable_directory_is_not_published(versions: list[Trained], tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(versions[0].path, broken)
    metadata = json.loads((broken / "metadata.json").read_text())
    (broken / "metadata.json").write_text(json.dumps({**metadata, "pipeline_sha256": "0" * 64}))
    # No server is needed to refuse it: nothing is sent before the directory loads.
    with pytest.raises(ModelError, match="does not match its metadata"):
        log_model_dir(broken, "broken", tracking_uri=f"http://127.0.0.1:{free_port()}")


@pytest.mark.parametrize(
    "reference",
    ["models:/churn/Production", "models:/churn/0", "models:/../etc@champion", "models:/a@b/c"],
)
def test_invalid_references_are_refused(reference: str) -> None:
    with pytest.raises(ModelError, match="invalid MLflow reference"):
        parse_reference(reference)


def test_a_bare_name_follows_its_champion() -> None:
    assert parse_reference("models:/churn").alias == "champion"


def test_a_reference_needs_the_tracking_uri(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path, mlflow_tracking_uri=None)
    with pytest.raises(ModelError, match="set MLFLOW_TRACKING_URI"):
        open_source("models:/churn@champion", settings)
