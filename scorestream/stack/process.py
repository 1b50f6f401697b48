"""Start, find and stop the detached processes of the local stack.

Every process the stack starts is recorded in a pid file together with a marker that its
command line must contain, so that ``down`` never signals a process it did not start, even
when the operating system has reused the pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    """A process started by the stack: its pid and a string its command line contains."""

    pid: int
    marker: str

    def is_alive(self) -> bool:
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        # A zombie is dead to us: it listens on nothing and cannot be stopped twice.
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
        return self.marker.encode() in cmdline


def read_pid(pid_file: Path) -> PidRecord | None:
    try:
        data = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return None
    return PidRecord(pid=int(data["pid"]), marker=str(data["marker"]))


def running(pid_file: Path) -> PidRecord | None:
    """The recorded process, if it is still alive; otherwise forget the stale record."""
    record = read_pid(pid_file)
    if record is None:
        return None
    if record.is_alive():
        return record
    pid_file.unlink(missing_ok=True)
    return None


def spawn(
    argv: list[str], *, pid_file: Path, log_file: Path, marker: str, env: dict[str, str] | None
) -> PidRecord:
    """Start ``argv`` detached from our session, output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    record = PidRecord(pid=proc.pid, marker=marker)
    # Between fork and exec the child's command line is still ours: wait for the exec so
    # that the first liveness check does not mistake the new process for a stranger.
    deadline = time.monotonic() + 5.0
    while not record.is_alive() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps({"pid": record.pid, "marker": marker}))
    return record


def stop(pid_file: Path, *, timeout_s: float = 30.0) -> bool:
    """SIGTERM the recorded process group, SIGKILL after ``timeout_s``; True if one ran."""
    record = running(pid_file)
    if record is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while record.is_alive() and time.monotonic() < deadline:
        _reap(record.pid)
        time.sleep(0.1)
    if record.is_alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signal.SIGKILL)
        time.sleep(0.2)
    _reap(record.pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for the others this is a no-op.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port_free(port: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while port_open(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
