"""Fixtures of the HTTP bridge tests: bridge processes, and the pipeline's model and worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.streams.conftest import model_dir, start_worker  # noqa: F401

API_KEY = "test-key-0123456789"
OTHER_KEY = "second-key-abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BridgeProcess:
    """A ``scorestream bridge`` subprocess and where it listens."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, path: str, status: int, timeout_s: float = 60.0) -> None:
        """Poll ``path`` until it answers ``status``; fail with the log if it never does."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"bridge exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                last = httpx.get(self.url + path, timeout=2).status_code
                if last == status:
                    return
            except httpx.TransportError as error:
                last = error
            time.sleep(0.2)
        pytest.fail(f"{path} never answered {status} (last: {last}):\n{self.log_text()}")


BridgeFactory = Callable[..., BridgeProcess]


@pytest.fixture()
def start_bridge(
    settings_env: dict[str, str],
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> Iterator[BridgeFactory]:
    """Start ``scorestream bridge`` subprocesses on free ports; killed after the test.

    ``start_bridge(*flags, env={...}, ready=True)`` waits for ``/readyz`` unless told not to.
    """
    started: list[BridgeProcess] = []

    def start(*flags: str, env: dict[str, str] | None = None, ready: bool = True) -> BridgeProcess:
        port = free_port()
        log = tmp_path / f"bridge-{len(started)}.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scorestream.cli",
                "bridge",
                "--port",
                str(port),
                "--model-dir",
                str(model_dir),
                *flags,
            ],
            env={
                **settings_env,
                "INGEST_API_KEYS": f"{API_KEY},{OTHER_KEY}",
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        bridge = BridgeProcess(proc, port, log)
        started.append(bridge)
        bridge.wait_until("/readyz" if ready else "/healthz", 200)
        return bridge

    yield start
    for bridge in started:
        if bridge.proc.poll() is None:
            os.killpg(bridge.proc.pid, signal.SIGKILL)
            bridge.proc.wait(10)
