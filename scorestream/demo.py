"""``scorestream demo``: the whole system on the local stack, from nothing to a drift e-mail.

Trains the demo model, starts a worker and a sink, produces two days of synthetic loan
applications (the second with a shifted ``income``) plus a few bad records, waits until
ClickHouse holds every score, runs the daily drift check of both days and prints where the
alert e-mail landed. Each run uses its own topics and database, so runs never mix.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from scorestream.child_process import spawn_cli, terminate
from scorestream.stack import LocalStack

CLEAN_DAY = date(2026, 1, 10)
DRIFT_DAY = date(2026, 1, 11)
BAD_RECORDS = [
    b'{"id": "demo-bad-json", "income": ',
    b'["not", "an", "object"]',
    b'{"id": "demo-bad-type", "income": "a lot"}',
]


@dataclass(frozen=True)
class DemoOptions:
    records_per_day: int = 20_000
    drift: str = "income=shift:0.6"
    model_dir: Path = Path("models/demo")
    workdir: Path = Path(".stack/demo")


def run_demo(options: DemoOptions, console: Console) -> Path | None:
    """Run the demo; return the path of the alert e-mail."""
    from scorestream.consumer_groups import scoring_group, wait_for_assignment
    from scorestream.consumers.alerting.delivery import deliver_pending
    from scorestream.consumers.clickhouse import make_client
    from scorestream.consumers.drift_check.schedule import check_day
    from scorestream.consumers.queries import count_rejected, count_scores
    from scorestream.producers.producer import RecordProducer, synthetic_chunks
    from scorestream.streams.model.registry import LoadedModel
    from scorestream.streams.model.train import train_model
    from scorestream.streams.synthetic import generate_frame
    from scorestream.topics import ensure_topics

    stack = LocalStack()
    for service in stack.services:
        if service.start():
            console.print(f"started {service.name} on port {service.port}")
    run = time.strftime("%Y%m%d%H%M%S")
    settings = stack.settings(f"demo_{run}", f"demo-{run}.")
    console.rule("1. train the demo model")
    with console.status("training on 20,000 synthetic loan applications …"):
        report = train_model(
            generate_frame(20_000, seed=7, start="2026-01-01T00:00:00"),
            "default",
            options.model_dir,
            name="loans",
        )
    console.print(report.summary() if hasattr(report, "summary") else report)

    console.rule("2. start a worker and a sink")
    ensure_topics(settings)
    child_env = {
        **os.environ,
        **settings.model_copy(update={"model_dir": options.model_dir}).environment(),
    }
    logs = options.workdir / run
    worker = spawn_cli(["worker"], child_env, logs / "worker.log")
    sink = spawn_cli(["sink"], child_env, logs / "sink.log")
    console.print(f"worker pid {worker.pid}, sink pid {sink.pid}; logs in {logs}")
    try:
        # Records produced before the worker owns its partitions would wait for it, and
        # their latency would be its start-up time, not scoring's.
        started = time.monotonic()
        with console.status("waiting until the worker owns the records partitions …"):
            owned = wait_for_assignment(
                settings.kafka_bootstrap_servers,
                scoring_group(settings.topic_prefix),
                settings.topics.records,
                alive=lambda: worker.poll() is None,
            )
        partitions = sum(len(p) for p in owned.values())
        console.print(
            f"the worker owns {partitions} partitions after {time.monotonic() - started:.1f} s"
        )
        console.rule("3. produce two days of records (the second drifted) and 3 bad ones")
        reference_std = LoadedModel.load(options.model_dir).schema.reference_std()
        producer = RecordProducer(settings)
        n = options.records_per_day
        for day, drift, seed in ((CLEAN_DAY, [], 101), (DRIFT_DAY, [options.drift], 102)):
            from scorestream.producers.drift_injection import DriftSpec

            specs = [DriftSpec.parse(text) for text in drift]
            with Progress(console=console) as progress:
                task = progress.add_task(f"{day} {' '.join(drift) or 'no drift'}", total=n)
                summary = producer.send_all(
                    synthetic_chunks(
                        n,
                        seed=seed,
                        chunk_size=5000,
                        drift=specs,
                        drift_from=0,
                        start=f"{day}T00:00:00",
                        interval_ms=86_400_000 // n,
                        reference_std=reference_std,
                    ),
                    progress=lambda k, t=task, p=progress: p.advance(t, k),
                )
            console.print(f"{day}: sent {summary.sent:,} at {summary.rate:,.0f} records/s")
        producer.send_all([[(b"bad", payload) for payload in BAD_RECORDS]])
        producer.close()

        console.rule("4. wait until ClickHouse holds every score")
        client = make_client(settings.clickhouse)
        database = settings.clickhouse.database
        total = 2 * n
        with Progress(console=console) as progress:
            task = progress.add_task("scored and stored", total=total)
            deadline = time.monotonic() + 600
            stored = 0
            while stored < total and time.monotonic() < deadline:
                if worker.poll() is not None or sink.poll() is not None:
                    raise RuntimeError(f"a process exited; see the logs in {logs}")
                time.sleep(1)
                try:
                    stored = count_scores(client, database)
                except Exception as exc:  # the sink may not have created its tables yet
                    console.log(f"waiting for the sink's tables: {exc}")
                    continue
                progress.update(task, completed=stored)
        _print_scores(console, client, database, count_rejected(client, database))

        console.rule("5. daily drift check of both days")
        before = set(stack.smtp.maildir.glob("*.eml"))
        model = LoadedModel.load(options.model_dir)
        with console.status("waiting for the worker's drift counts (published every 15 s) …"):
            _wait_for_counts(client, database, total, worker, sink)
        for day in (CLEAN_DAY, DRIFT_DAY):
            for result in check_day(settings, model, day, client):
                drifted = ", ".join(d.feature for d in result.drifted) or "nothing"
                console.print(f"{day}: {result.records:,} records, drift in: [bold]{drifted}[/]")
        sent = deliver_pending(settings)
        new = sorted(set(stack.smtp.maildir.glob("*.eml")) - before)
        console.print(f"alert e-mails sent: {sent}")
        return new[-1] if new else None
    finally:
        terminate(worker)
        terminate(sink)


def _wait_for_counts(
    client: object,
    database: str,
    total: int,
    *processes: subprocess.Popen[bytes],
    timeout_s: float = 120,
) -> None:
    """Until ``drift_stats`` counts every scored record (the worker flushes periodically)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = client.execute(  # type: ignore[attr-defined]
            f"SELECT sum(count) FROM {database}.drift_stats FINAL "  # noqa: S608
            "WHERE feature = '_score'"
        )
        if rows and rows[0][0] is not None and rows[0][0] >= total:
            return
        if any(proc.poll() is not None for proc in processes):
            raise RuntimeError("the worker or the sink exited; see their logs")
        time.sleep(1)
    raise RuntimeError(f"drift counts did not reach {total} records in {timeout_s:.0f} s")


def _print_scores(console: Console, client: object, database: str, rejected: int) -> None:
    rows = client.execute(  # type: ignore[attr-defined]
        f"SELECT count(), avg(score), sum(label = '1'), quantile(0.5)(latency_ms), "  # noqa: S608
        f"quantile(0.99)(latency_ms) FROM {database}.scores FINAL"
    )
    count, mean, positives, p50, p99 = rows[0]
    table = Table(title="scores in ClickHouse")
    for column in (
        "scored",
        "mean score",
        "predicted default",
        "latency p50 ms",
        "latency p99 ms",
        "rejected",
    ):
        table.add_column(column)
    table.add_row(
        f"{count:,}", f"{mean:.3f}", f"{positives:,}", f"{p50:,.0f}", f"{p99:,.0f}", f"{rejected:,}"
    )
    console.print(table)


def main_demo(options: DemoOptions) -> int:
    console = Console(stderr=True)
    path = run_demo(options, console)
    if path is None:
        console.print("[red]no alert e-mail arrived[/]")
        return 1
    console.rule("6. the alert e-mail")
    console.print(f"[bold green]drift e-mail caught by the local SMTP server:[/] {path}")
    print(path)
    return 0
