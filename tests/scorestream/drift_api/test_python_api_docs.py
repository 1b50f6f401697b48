"""The Python API's documentation runs: the module's doctest, the README's example, and
``import scorestream`` staying cheap (the API loads on first use)."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

import scorestream.drift_api
import scorestream.drift_api.html

README = Path(__file__).resolve().parents[3] / "README.md"
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@pytest.mark.parametrize("module", [scorestream.drift_api, scorestream.drift_api.html])
def test_the_doctests_pass(module) -> None:  # type: ignore[no-untyped-def]
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.attempted >= 1
    assert result.failed == 0


def test_the_readme_example_runs_and_says_what_it_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    test = doctest.DocTestParser().get_doctest(block, {}, "README Python API", str(README), 0)
    assert len(test.examples) >= 10
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert (tmp_path / "drift.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_import_scorestream_loads_the_api_only_when_used() -> None:
    code = (
        "import sys, scorestream\n"
        "assert 'pandas' not in sys.modules and 'scorestream.drift_api' not in sys.modules\n"
        "from scorestream import Profile, compare, DriftReport, DriftThresholds, PeriodCounts\n"
        "assert 'pandas' in sys.modules and Profile.__module__ == 'scorestream.drift_api.profile'\n"
        "from scorestream import streams\n"
        "try:\n"
        "    scorestream.nothing\n"
        "except AttributeError as e:\n"
        "    print(e)\n"
        "print(sorted(set(scorestream.__all__) & set(dir(scorestream))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "module 'scorestream' has no attribute 'nothing'",
        "['DriftReport', 'DriftThresholds', 'PeriodCounts', 'Profile', 'compare']",
    ]
