"""The directory registry of model versions: immutable versions, aliases, rollback, sources."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from scorestream.exceptions import ModelError
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.source import DirectorySource, open_source
from scorestream.streams.model.train import train_model
from scorestream.streams.model.versions import ALIASES_LOG, ModelRegistry, RegistrySource


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory, cancer: pd.DataFrame) -> list[Path]:
    root = tmp_path_factory.mktemp("trained")
    first = train_model(cancer, "target", root / "a", name="cancer", seed=0)
    second = train_model(cancer, "target", root / "b", name="cancer", seed=1, classifier="hgb")
    assert first.version != second.version
    return [first.model_dir, second.model_dir]


def test_a_version_is_registered_once_under_its_content_version(
    tmp_path: Path, two_models: list[Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    added = registry.add(two_models[0])
    again = registry.add(two_models[0])

    assert again == added
    assert added.path == tmp_path / "models" / "cancer" / added.version
    assert [v.version for v in registry.versions("cancer")] == [added.version]
    # Read-only, as a reminder that a version is never rewritten in place (root ignores it).
    assert all(path.stat().st_mode & 0o222 == 0 for path in [added.path, *added.path.iterdir()])
    assert LoadedModel.load(added.path).version == added.version


def test_a_different_pipeline_under_an_existing_version_is_refused(
    tmp_path: Path, two_models: list[Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    added = registry.add(two_models[0])
    # Pretend another file already sits under this version (e.g. copied in by hand).
    metadata_path = added.path / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    added.path.chmod(0o755)
    metadata_path.chmod(0o644)
    metadata_path.write_text(json.dumps({**metadata, "pipeline_sha256": "0" * 64}))

    with pytest.raises(ModelError, match="different pipeline"):
        registry.add(two_models[0])


def test_register_under_another_name_keeps_the_version(
    tmp_path: Path, two_models: list[Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    added = registry.add(two_models[0], name="tumours")

    model = LoadedModel.load(added.path)
    assert (model.name, model.version) == ("tumours", added.version)
    assert registry.names() == ["tumours"]


def test_aliases_move_and_roll_back_through_their_history(
    tmp_path: Path, two_models: list[Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    first, second = (registry.add(path).version for path in two_models)

    assert registry.set_alias("cancer", "champion", first) is None
    assert registry.set_alias("cancer", "champion", second) == first
    registry.set_alias("cancer", "shadow", first)
    assert registry.resolve("cancer").version == second  # a bare name means the champion
    assert registry.resolve("cancer@shadow").version == first
    assert registry.resolve(f"cancer@{first}").version == first
    assert {v.version: v.aliases for v in registry.versions("cancer")} == {
        first: ("shadow",),
        second: ("champion",),
    }

    assert registry.rollback("cancer") == first
    assert registry.resolve("cancer@champion").version == first
    # Nothing before the first version: a second rollback is refused, the alias unchanged.
    with pytest.raises(ModelError, match="no earlier version"):
        registry.rollback("cancer")
    assert registry.resolve("cancer@champion").version == first


def test_a_torn_history_line_does_not_stop_a_rollback(
    tmp_path: Path, two_models: list[Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    first, second = (registry.add(path).version for path in two_models)
    registry.set_alias("cancer", "champion", first)
    with open(tmp_path / "models" / "cancer" / ALIASES_LOG, "a") as log:
        log.write('{"alias": "champ')  # a crash in the middle of a write
        log.write("\n")
    registry.set_alias("cancer", "champion", second)

    assert registry.rollback("cancer") == first


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("cancer@nightly", "no alias or version 'nightly'"),
        ("unknown@champion", "no alias or version 'champion'"),
        ("../../etc@champion", "invalid model name"),
        ("cancer@../x", "invalid alias or version"),
    ],
)
def test_a_reference_to_nothing_is_one_clear_error(
    tmp_path: Path, two_models: list[Path], reference: str, message: str
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    registry.set_alias("cancer", "champion", registry.add(two_models[0]).version)

    with pytest.raises(ModelError, match=message.replace(".", r"\.")):
        registry.resolve(reference)


def test_an_alias_cannot_name_a_version_that_does_not_exist(
    tmp_path: Path, two_models: list[Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    registry.add(two_models[0])

    with pytest.raises(ModelError, match="has no version"):
        registry.set_alias("cancer", "champion", "0123456789ab")
    assert registry.aliases("cancer") == {}


def test_open_source_follows_what_the_reference_names(
    tmp_path: Path, two_models: list[Path]
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    first, second = (registry.add(path).version for path in two_models)
    registry.set_alias("cancer", "champion", first)
    settings = Settings(models_dir=tmp_path / "models", model_dir=two_models[1])

    followed = open_source("cancer@champion", settings)
    assert isinstance(followed, RegistrySource)
    assert followed.resolve().version == first
    registry.set_alias("cancer", "champion", second)
    assert followed.resolve().version == second  # the same source now names the new version

    fixed = open_source("", settings)
    assert isinstance(fixed, DirectorySource)
    assert fixed.resolve().path == two_models[1]
    assert open_source(str(two_models[0]), settings).resolve().version == first


def test_a_directory_without_a_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is not a model directory"):
        DirectorySource(tmp_path).resolve()
