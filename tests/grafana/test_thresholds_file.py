"""``make dashboards`` with a thresholds file: every drift colouring takes the file's values.

The checked-in JSON holds the defaults (``test_single_source.py``); a deployment that sets
``SCORESTREAM_THRESHOLDS`` regenerates it with the same variable, and its dashboards then
turn red where its check alerts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scorestream.contract.thresholds import THRESHOLDS_VARIABLE, load_thresholds
from tests.grafana.test_single_source import DRIFT_COLOURINGS, _thresholds_of

FILE = "[drift]\npsi_warn = 0.12\npsi_alert = 0.3\njs_warn = 0.1\njs_alert = 0.25\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The dashboards built with :data:`FILE`, by the command ``make dashboards`` runs."""
    directory = tmp_path_factory.mktemp("thresholds")
    (directory / "thresholds.toml").write_text(FILE)
    out = directory / "dashboards"
    subprocess.run(
        [sys.executable, "-m", "scorestream.grafana.build", "--out", str(out)],
        env={**os.environ, THRESHOLDS_VARIABLE: str(directory / "thresholds.toml")},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.mark.parametrize(("file", "title", "column", "statistic"), DRIFT_COLOURINGS)
def test_drift_colours_follow_the_file(
    built: dict[str, Any],
    tmp_path: Path,
    file: str,
    title: str,
    column: str | None,
    statistic: str,
) -> None:
    (tmp_path / "t.toml").write_text(FILE)
    check = load_thresholds(tmp_path / "t.toml").drift  # what drift-check decides with
    panel = next(p for p in built[file]["panels"] if p["title"] == title)
    steps = {s["color"]: s["value"] for s in _thresholds_of(panel, column)["steps"]}
    assert (steps["orange"], steps["red"]) == (
        getattr(check, f"{statistic}_warn"),
        getattr(check, f"{statistic}_alert"),
    )
    assert steps["red"] in (0.3, 0.25)  # the file's, not the defaults (0.2, 0.15)
