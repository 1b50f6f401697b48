"""Jars from Maven Central: a checked-in pom's dependencies copied into a directory.

The stack's JVM services come as Maven Central jars (no tarball download, no Docker):
``mvn dependency:copy-dependencies`` resolves them through the local Maven repository,
so a second state directory on the same machine costs no download.
"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

from scorestream.exceptions import StackError
from scorestream.stack.service import require_tool


def fetch_jars(pom: str, libs: Path, stamp_name: str, what: str) -> None:
    """Copy the dependencies of ``scorestream/stack/<pom>`` into ``libs`` once.

    ``libs/<stamp_name>`` marks a complete copy; without it the directory is refilled.

    Raises
    ------
    StackError
        Maven failed (the message ends with its output).
    """
    stamp = libs / stamp_name
    if stamp.exists():
        return
    java_hint = "Install a Java runtime ≥ 11: apt-get install openjdk-17-jre-headless"
    require_tool("java", "openjdk-17-jre-headless", java_hint)
    mvn = require_tool("mvn", "maven", "Install Maven: apt-get install maven")
    resource = resources.files("scorestream.stack").joinpath(pom)
    with resources.as_file(resource) as pom_path:
        shutil.rmtree(libs, ignore_errors=True)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom_path),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise StackError(
            f"Maven could not fetch the {what} jars from Maven Central:\n"
            f"{(result.stdout + result.stderr)[-3000:]}"
        )
    stamp.touch()
