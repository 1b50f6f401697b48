"""``scorestream models`` and ``train --register`` as a user runs them: real subprocesses.

Nothing here needs Kafka or ClickHouse: the registry is a directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import skops.io
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from scorestream import child_process
from scorestream.streams.model.versions import ModelRegistry


def run(*args: str, models: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "SCORESTREAM_"))}
    env["MODELS_DIR"] = str(models)
    return child_process.run_cli(list(args), env, timeout_s=180, cwd=cwd)


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("scorestream") and ": error: " in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli")
    load_diabetes(as_frame=True).frame.to_csv(directory / "diabetes.csv", index=False)
    load_wine(as_frame=True).frame.to_csv(directory / "wine.csv", index=False)
    return directory


def test_train_register_promote_rollback(workdir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    versions = []
    for regressor in ("ridge", "hgb"):
        result = run(
            "train",
            "--data",
            "diabetes.csv",
            "--target",
            "target",
            "--task",
            "regression",
            "--regressor",
            regressor,
            "--name",
            "diabetes",
            "--register",
            *(["--alias", "champion"] if regressor == "ridge" else []),
            models=models,
            cwd=workdir,
        )
        assert result.returncode == 0, result.stderr
        assert "RMSE" in result.stderr
        versions.append(result.stdout.split("@")[1].split()[0])
    registry = ModelRegistry(models)
    assert [v.version for v in registry.versions("diabetes")] == versions
    assert registry.aliases("diabetes") == {"champion": versions[0]}

    listing = run("models", "list", models=models, cwd=workdir)
    assert listing.returncode == 0, listing.stderr
    rows = [line for line in listing.stdout.splitlines() if "diabetes" in line]
    assert len(rows) == 2
    assert "champion" in rows[0] and "regression" in rows[0] and "rmse" in rows[0]

    promoted = run("models", "promote", "diabetes", versions[1], models=models, cwd=workdir)
    assert promoted.returncode == 0, promoted.stderr
    assert registry.aliases("diabetes") == {"champion": versions[1]}
    shown = run("models", "show", "diabetes", models=models, cwd=workdir)
    document = json.loads(shown.stdout)
    assert document["version"] == versions[1] and document["kind"] == "regression"
    assert document["metadata"]["regressor"] == "hgb"
    assert [f["name"] for f in document["schema"]["features"]][:2] == ["age", "sex"]
    assert set(document["metrics"]) == {"mae", "rmse", "r2", "n_train", "n_test"}

    rolled = run("models", "rollback", "diabetes", models=models, cwd=workdir)
    assert rolled.returncode == 0, rolled.stderr
    assert registry.aliases("diabetes") == {"champion": versions[0]}
    one_line_error(
        run("models", "rollback", "diabetes", models=models, cwd=workdir), "no earlier version"
    )


def test_register_a_users_pipeline(workdir: Path, tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(workdir / "diabetes.csv")
    pipeline = make_pipeline(Ridge(alpha=0.5)).fit(frame.drop(columns="target"), frame["target"])
    skops.io.dump(pipeline, tmp_path / "mine.skops")
    models = tmp_path / "models"
    result = run(
        "models",
        "register",
        "--name",
        "mine",
        "--pipeline",
        str(tmp_path / "mine.skops"),
        "--reference",
        "diabetes.csv",
        "--target",
        "target",
        "--alias",
        "champion",
        models=models,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert "regression" in result.stdout and "R²" in result.stdout
    assert ModelRegistry(models).resolve("mine").version in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["models", "show", "nobody"], ["'nobody'", "no alias or version"]),
        (["models", "show", "../etc"], ["invalid model name"]),
        (["models", "list", "nobody"], ["no versions"]),
        (["models", "promote", "nobody", "abc"], ["no version 'abc'"]),
        (["models", "rollback", "nobody"], ["no earlier version"]),
        (
            ["models", "register", "--name", "x", "--pipeline", "p.pkl", "--reference", "wine.csv"],
            ["--trust-pickle"],
        ),
        (
            [
                *["models", "register", "--name", "x", "--pipeline", "evil.skops"],
                "--reference",
                "wine.csv",
            ],
            ["outside the allow-list", "builtins.eval"],
        ),
        (
            [
                *["models", "register", "--name", "x", "--pipeline", "absent.skops"],
                "--reference",
                "wine.csv",
            ],
            ["no such file"],
        ),
        (["train", "--data", "wine.csv", "--target", "target"], ["--model-dir", "--register"]),
        (
            [
                *["train", "--data", "wine.csv", "--target", "target", "--model-dir", "m"],
                "--alias",
                "champion",
            ],
            ["--alias needs --register"],
        ),
        (
            [
                *["train", "--data", "wine.csv", "--target", "proline", "--task", "binary"],
                "--model-dir",
                "m",
            ],
            ["exactly two"],
        ),
        (["models"], ["required"]),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else "",
)
def test_a_mistake_is_one_line_and_exit_2(
    workdir: Path, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    (workdir / "p.pkl").write_bytes(b"\x80\x04K\x01.")  # a valid pickle: never unpickled
    evil = make_pipeline(FunctionTransformer(eval))
    skops.io.dump(evil, workdir / "evil.skops")
    one_line_error(run(*args, models=tmp_path / "models", cwd=workdir), *fragments)
    assert not (tmp_path / "models").exists()
