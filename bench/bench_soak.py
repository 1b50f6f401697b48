"""Memory over a long run: RSS of the worker and the sink while ``--records`` pass through.

A producer thread sends synthetic records (unique ids) at its own pace; one worker and one
sink run as the CLI runs them; every ``--every`` seconds the run samples both processes'
resident memory (``/proc/PID/status``, VmRSS), the interpreter's live blocks (each process's
``python_allocated_blocks`` on ``/metrics``) and how many records the worker has scored (its
``scores`` end offsets). It ends when every record is stored in ClickHouse.

Expected shape: growth while the duplicate-id window fills (the worker remembers the last
1,000,000 ids, :class:`~scorestream.streams.scoring.RecentIds`), flat live blocks afterwards;
RSS may still creep by the allocator's high-water mark, which the live blocks tell apart.

    python -m bench.bench_soak [--records 10000000] [--every 10]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.bench_pipeline import _fill, _stop
from bench.common import bench_settings, cli, free_port, print_table, scraped, trained_model
from scorestream.consumers.clickhouse import apply_migrations, make_client
from scorestream.settings import Settings
from scorestream.topics import ensure_topics


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (nan once it has exited)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def live_blocks(port: int, prefix: str) -> float:
    """The process's ``python_allocated_blocks`` from its ``/metrics`` (nan if unanswered)."""
    return scraped(port, f"{prefix}_python_allocated_blocks")


def scored(settings: Settings) -> int:
    """Messages on ``scores`` (end offsets summed): what the worker has published."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        partitions = consumer.partitions_for_topic(settings.topics.scores) or set()
        ends = consumer.end_offsets([TopicPartition(settings.topics.scores, p) for p in partitions])
        return sum(ends.values())
    finally:
        consumer.close()


def stored(settings: Settings) -> int:
    """Rows stored: scores and rejections (synthetic data has a rejected record now and then)."""
    dsn = settings.clickhouse
    client = make_client(dsn)
    return sum(
        int(client.execute(f"SELECT count() FROM {dsn.database}.{table}")[0][0])
        for table in ("scores", "rejected_records")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="scorestream-bench-soak-"))
    model_dir = trained_model()
    # A database of this run alone: the row count says when it is done.
    settings = bench_settings(f"soak{uuid.uuid4().hex[:6]}").model_copy(
        update={"worker_metrics_port": free_port(), "sink_metrics_port": free_port()}
    )
    ensure_topics(settings)
    apply_migrations(make_client(settings.clickhouse), settings.clickhouse.database)
    producer = threading.Thread(target=_fill, args=(settings, args.records, 5), daemon=True)
    worker = cli(["worker", "--model-dir", str(model_dir)], settings, workdir / "worker.log")
    sink = cli(["sink"], settings, workdir / "sink.log")
    samples: list[tuple[float, int, float, float, float, float]] = []
    started = time.monotonic()
    producer.start()
    try:
        while True:
            time.sleep(args.every)
            rows = stored(settings)
            samples.append(
                (
                    time.monotonic() - started,
                    scored(settings),
                    rss_mb(worker.pid),
                    live_blocks(settings.worker_metrics_port, "scorestream_worker") / 1e6,
                    rss_mb(sink.pid),
                    live_blocks(settings.sink_metrics_port, "scorestream_sink") / 1e6,
                )
            )
            print(
                "{:,.0f} s: {:,} scored, worker {:,.0f} MiB ({:.2f} M blocks), "
                "sink {:,.0f} MiB ({:.2f} M blocks)".format(*samples[-1])
            )
            if rows >= args.records or worker.poll() is not None or sink.poll() is not None:
                break
    finally:
        _stop(worker)
        _stop(sink)
        make_client(settings.clickhouse).execute(f"DROP DATABASE {settings.clickhouse.database}")
    table: list[list[object]] = []
    step = max(1, len(samples) // 12)
    shown = samples[::step]
    if shown and shown[-1] is not samples[-1]:
        shown.append(samples[-1])  # the last sample always shows
    for elapsed, n, worker_mb, worker_blocks, sink_mb, sink_blocks in shown:
        table.append(
            [
                f"{elapsed:,.0f}",
                f"{n:,}",
                f"{worker_mb:,.0f}",
                f"{worker_blocks:.2f}",
                f"{sink_mb:,.0f}",
                f"{sink_blocks:.2f}",
            ]
        )
    print_table(
        f"RSS and live interpreter blocks over {args.records:,} records (worker and sink, "
        f"sampled every {args.every:g} s)",
        [
            "seconds",
            "records scored",
            "worker RSS MiB",
            "worker live blocks (M)",
            "sink RSS MiB",
            "sink live blocks (M)",
        ],
        table,
    )
    warm = [s for s in samples if s[1] >= min(args.records, 1_500_000)]
    if len(warm) >= 2:
        first, last = warm[0], warm[-1]
        print(
            f"\nafter warm-up (≥ 1.5 M scored): worker {first[2]:,.0f} → {last[2]:,.0f} MiB, "
            f"{first[3]:.2f} → {last[3]:.2f} M live blocks; sink {first[4]:,.0f} → "
            f"{last[4]:,.0f} MiB, {first[5]:.2f} → {last[5]:.2f} M live blocks; logs in {workdir}"
        )


if __name__ == "__main__":
    main()
