"""What every service of the local stack can do: install, start, check, stop."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from scorestream.exceptions import MissingToolError, StackError
from scorestream.stack import process
from scorestream.stack.config import StackConfig


@dataclass(frozen=True)
class Health:
    """One line of ``stack status``."""

    name: str
    state: str  # running | stopped | unhealthy
    pid: int | None
    port: int
    version: str
    detail: str = ""


class Service(ABC):
    """A process of the local stack, started and stopped through its pid file."""

    name: str

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.path(self.name)

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    @abstractmethod
    def port(self) -> int:
        """The client port."""

    @abstractmethod
    def install(self) -> None:
        """Make the service's programs available (idempotent, cached)."""

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str] | None]:
        """The command line that runs the service in the foreground, and its environment."""

    @abstractmethod
    def probe(self) -> str:
        """Talk to the service as a client would; return its version or raise."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """The contract's environment variables that point clients at this service."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Write configuration and initialise storage before the first start."""

    @property
    def marker(self) -> str:
        return str(self.home)

    def running(self) -> process.PidRecord | None:
        return process.running(self.pid_file)

    def start(self) -> bool:
        """Start unless already running; False when it was already running."""
        if not self.launch():
            return False
        self.wait_healthy()
        return True

    def launch(self) -> bool:
        """Spawn the process without waiting for it; False when it was already running.

        The nodes of a cluster are launched together and then waited for: none of them is
        healthy before a majority runs.
        """
        if self.running() is not None:
            return False
        if process.port_open(self.port):
            raise StackError(
                f"port {self.port} for {self.name} is taken by a process the stack did not "
                f"start; stop it or choose another port (see `scorestream stack up --help`)"
            )
        self.install()
        self.prepare()
        argv, env = self.command()
        process.spawn(
            argv, pid_file=self.pid_file, log_file=self.log_file, marker=self.marker, env=env
        )
        return True

    def wait_healthy(self) -> str:
        deadline = time.monotonic() + self.config.startup_timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.running() is None:
                raise StackError(f"{self.name} exited during start-up; see {self.log_file}")
            try:
                return self.probe()
            except Exception as exc:
                last_error = exc
                time.sleep(0.5)
        raise StackError(f"{self.name} did not become healthy: {last_error}; see {self.log_file}")

    def stop(self) -> bool:
        stopped = process.stop(self.pid_file)
        process.wait_for_port_free(self.port)
        return stopped

    def health(self) -> Health:
        record = self.running()
        if record is None:
            return Health(self.name, "stopped", None, self.port, "")
        try:
            version = self.probe()
        except Exception as exc:
            return Health(self.name, "unhealthy", record.pid, self.port, "", str(exc)[:120])
        return Health(self.name, "running", record.pid, self.port, version)


def require_tool(program: str, debian_package: str, hint: str) -> str:
    """The path of ``program``; installs ``debian_package`` when root on Debian, else explains."""
    found = shutil.which(program) or _sbin(program)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", debian_package],
        ):
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0 and argv[1] == "install":
                raise MissingToolError(
                    f"{program} is missing and `apt-get install {debian_package}` failed:\n"
                    f"{result.stderr[-2000:]}\n{hint}"
                )
        found = shutil.which(program) or _sbin(program)
        if found:
            return found
    raise MissingToolError(f"{program} is not on PATH. {hint}")


def _sbin(program: str) -> str | None:
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        candidate = Path(folder) / program
        if candidate.exists():
            return str(candidate)
    return None
