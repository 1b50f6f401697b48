"""What the benchmarks share: a private topic prefix, a trained model, a results table."""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from scorestream.child_process import spawn_cli
from scorestream.settings import Settings
from scorestream.stack import LocalStack


def bench_settings(label: str) -> Settings:
    """Settings on the local stack (started if needed) with topics of this run only,
    deleted when the benchmark's process exits."""
    stack = LocalStack()
    for service in stack.services:
        service.start()
    settings = stack.settings(f"bench_{label}", f"bench-{label}-{uuid.uuid4().hex[:6]}.")
    if not _made:
        atexit.register(_delete_topics)
    _made.append(settings)
    return settings


#: Settings made by :func:`bench_settings` in this process: their topics are deleted at exit.
_made: list[Settings] = []


def _delete_topics() -> None:
    """Delete the topics of every :func:`bench_settings` of this process: a session of
    benchmarks left 1,280 on the local broker (5,000 partitions), which slowed it down."""
    from kafka import KafkaAdminClient

    with contextlib.suppress(Exception):  # the stack may be down: nothing to clean then
        admin = KafkaAdminClient(bootstrap_servers=_made[0].kafka_bootstrap_servers)
        try:
            prefixes = tuple(settings.topic_prefix for settings in _made)
            doomed = [name for name in admin.list_topics() if name.startswith(prefixes)]
            for start in range(0, len(doomed), 100):
                admin.delete_topics(doomed[start : start + 100])
        finally:
            admin.close()


def trained_model(n: int = 20_000) -> Path:
    """A synthetic loan model in a temporary directory (the demo model)."""
    from scorestream.streams.model.train import train_model
    from scorestream.streams.synthetic import generate_frame

    directory = Path(tempfile.mkdtemp(prefix="scorestream-bench-")) / "loans"
    train_model(
        generate_frame(n, seed=7, start="2026-01-01T00:00:00"), "default", directory, name="loans"
    )
    return directory


def cli(
    args: list[str], settings: Settings, log: Path, code: Path | None = None
) -> subprocess.Popen[bytes]:
    """``scorestream ARGS`` in the background; ``code``: run that checkout's code instead.

    The child starts in ``code`` then: ``python -m`` puts the working directory first on
    the import path, ahead of ``PYTHONPATH``.
    """
    return spawn_cli(args, env_for(settings, code), log, cwd=code)


def env_for(settings: Settings, code: Path | None = None) -> dict[str, str]:
    """The environment of a child on ``settings``; ``code`` first on its import path."""
    env = {**os.environ, **settings.environment()}
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """The project at ``revision`` in a temporary directory (a detached git worktree).

    Benchmarks run "before" and "after" side by side in one run: a child with this
    directory first on ``PYTHONPATH`` imports that revision's ``scorestream``.
    """
    root = Path(__file__).resolve().parent.parent
    target = Path(tempfile.mkdtemp(prefix="scorestream-before-")) / revision.replace("/", "-")
    git = ["git", "-C", str(root), "worktree"]
    subprocess.run([*git, "add", "--detach", "-q", str(target), revision], check=True)
    try:
        yield target
    finally:
        subprocess.run([*git, "remove", "--force", str(target)], check=False)


def free_port() -> int:
    """A TCP port nobody listens on now (for a child's /metrics)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scraped(port: int, sample: str) -> float:
    """The value of ``sample`` (a series name, e.g. ``..._count``) served on ``port``'s
    ``/metrics``, summed over its labels (nan if unanswered or absent)."""
    with contextlib.suppress(httpx.HTTPError):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        values = [
            point.value
            for family in text_string_to_metric_families(text)
            for point in family.samples
            if point.name == sample
        ]
        if values:
            return float(sum(values))
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """A Markdown table, ready to paste into the README."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
