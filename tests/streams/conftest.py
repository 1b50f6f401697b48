"""Fixtures of the scoring pipeline: a trained demo model and worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scorestream.child_process import spawn_cli


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic-regression model trained on 20,000 synthetic loan applications."""
    from scorestream.streams.model.train import train_model
    from scorestream.streams.synthetic import generate_frame

    directory = tmp_path_factory.mktemp("model") / "loans"
    train_model(
        generate_frame(20_000, seed=7, start="2026-01-01T00:00:00"),
        "default",
        directory,
        name="loans",
        seed=0,
    )
    return directory


WorkerFactory = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture()
def start_worker(
    settings_env: dict[str, str], model_dir: Path, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """Start ``scorestream worker`` subprocesses; all are killed at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        proc = spawn_cli(
            ["worker", "--model-dir", str(model_dir), *extra],
            settings_env,
            tmp_path / f"worker-{len(started)}.log",
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
