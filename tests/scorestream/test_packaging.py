"""The package's metadata: what builds it, and what ``scorestream --version`` says."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())

#: The first setuptools that reads ``license = "SPDX expression"`` (PEP 639); older ones
#: refuse the file ("project.license must be valid exactly by one definition"): 76.1.0
#: fails and 77.0.3 builds, tried with ``pip wheel --no-build-isolation``.
PEP_639_SETUPTOOLS = Version("77")


def _minimum(requirement: Requirement) -> Version | None:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(floors, default=None)


def test_the_setuptools_floor_reads_the_license_field() -> None:
    (setuptools,) = [
        Requirement(text)
        for text in PYPROJECT["build-system"]["requires"]
        if Requirement(text).name == "setuptools"
    ]
    assert isinstance(PYPROJECT["project"]["license"], str)  # an SPDX expression
    floor = _minimum(setuptools)
    assert floor is not None and floor >= PEP_639_SETUPTOOLS, str(setuptools)


def test_version_is_the_installed_metadata() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scorestream.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == f"scorestream {version('scorestream')}\n"
    assert version("scorestream") == PYPROJECT["project"]["version"]
