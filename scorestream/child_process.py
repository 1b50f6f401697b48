"""Run ``scorestream`` subcommands as child processes (demo, benchmarks, tests).

The one launcher of the CLI: :func:`spawn_cli` starts a long-running subcommand in the
background (output to a log file, or to pipes), :func:`run_cli` runs one to completion and
hands back its output, and :func:`terminate` stops a background one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, overload


def _command(args: list[str]) -> list[str]:
    """The argv that runs ``scorestream ARGS`` with this interpreter."""
    return [sys.executable, "-m", "scorestream.cli", *args]


@overload
def spawn_cli(
    args: list[str],
    env: Mapping[str, str],
    log: Path,
    *,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]: ...


@overload
def spawn_cli(
    args: list[str],
    env: Mapping[str, str],
    log: None = None,
    *,
    capture: Literal[True],
    cwd: Path | None = None,
) -> subprocess.Popen[str]: ...


def spawn_cli(
    args: list[str],
    env: Mapping[str, str],
    log: Path | None = None,
    *,
    capture: bool = False,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes] | subprocess.Popen[str]:
    """Start ``scorestream ARGS`` in its own session.

    Its output (stdout and stderr) is appended to ``log``; with ``capture=True`` instead,
    stdout and stderr are text pipes, read with ``communicate()``.
    """
    child_env = {**env, "PYTHONUNBUFFERED": "1"}
    if capture:
        if log is not None:
            raise ValueError("either a log file or capture, not both")
        return subprocess.Popen(
            _command(args),
            env=child_env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    if log is None:
        raise ValueError("a log file is needed unless the output is captured")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            _command(args),
            env=child_env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_cli(
    args: list[str],
    env: Mapping[str, str] | None = None,
    *,
    timeout_s: float,
    input: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``scorestream ARGS`` to completion; its stdout and stderr come back as text.

    ``env`` is the child's whole environment (``None``: this process's). A non-zero exit
    is the caller's to check: it raises nothing; running over ``timeout_s`` raises
    :class:`subprocess.TimeoutExpired` once the child is killed.
    """
    return subprocess.run(
        _command(args),
        env=None if env is None else dict(env),
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def terminate(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout_s: float = 30.0
) -> None:
    """SIGTERM the child's process group; SIGKILL it if it has not exited in time."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
