"""N workers of one group against one, each group stable before it is measured.

For each count of workers, on a topic of 4 partitions of its own:

1. start the N workers (agent engine, one consumer group, static ids, 60-s sessions) and
   wait until the group is ``Stable`` with N members owning every partition (DescribeGroups);
2. warm up: 2,000 records, until all their outputs are read (every worker has fetched,
   scored and published; the group did not move meanwhile);
3. freeze the workers (SIGSTOP), pre-fill ``--records`` records, thaw them (SIGCONT): the
   fill does not compete with the workers for the two cores, and the sessions (60 s) outlast
   the freeze, so nobody leaves the group;
4. records/s from the fill's outputs' Kafka timestamps (first to last), and check that the
   group's members are the same ones as before the fill (no rebalance during the drain).

The first version of this benchmark started the workers on a pre-filled topic: the first
worker took every partition and drained while the second was still starting, and the
measurement was mostly the rebalance when it joined (27,042 against 3,770 records/s).

The counts run side by side, alternating their order each round (``--rounds``), so that the
machine's other work falls on both. ``--bare`` adds the bare loop (:mod:`bench.bare_loop`:
consume, produce, commit, no scoring) at every count of ``--workers`` to every round, measured
the same way (N bare loops of one group). The ceiling is the best of them: on two cores one
bare loop leaves the second core partly idle, and two of them copied 166,342 records/s
against one's 120,531 in one run, so a worker's share of one bare loop overstates its share
of what the machine can copy. The shares come from medians of one run.

    python -m bench.bench_workers [--records 100000] [--workers 1,2] [--rounds 2] [--before REV]
        [--bare] [--event-interval-ms 1000]

``--event-interval-ms`` spaces the records' event times: 1000 (the default) spreads 300,000
records over 83 hours, so every batch touches hours of drift minutes and the worker publishes
about one drift row per record and feature group of a minute, a backfill; 1 keeps a drain
within minutes, as a stream scored as it arrives is.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import bare_loop
from bench.bench_pipeline import _consumer, _fill, _stop
from bench.common import (
    bench_settings,
    checkout,
    cli,
    free_port,
    print_table,
    scraped,
    trained_model,
)
from scorestream.consumer_groups import owned_partitions, scoring_group, wait_for_assignment
from scorestream.settings import Settings
from scorestream.topics import ensure_topics

WARM_UP = 2_000
BARE = "bare loop"
#: Longer than the freeze while the topic is filled (seconds): nobody's session ends.
SESSION_S = 60
WAIT_S = 600.0


@dataclass(frozen=True)
class Run:
    """One measurement of ``workers`` workers."""

    workers: int
    rate: float
    records: int
    cpu_us: float  # CPU seconds of all the workers during the drain, per record, in µs
    batch_records: float  # mean records per scored batch during the drain (from /metrics)
    stable_s: float  # from the start of the processes until the group owned every partition
    rebalanced: bool  # the group's members changed between the fill and the end


def _members(settings: Settings, group: str) -> dict[str, list[int]]:
    """Member id -> partitions of ``records`` it owns (empty unless the group is Stable)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        return owned_partitions(admin.describe_groups([group])[group], settings.topics.records)
    finally:
        admin.close()


def _outputs(
    settings: Settings, prefix: bytes, n: int, processes: list[subprocess.Popen[bytes]]
) -> dict[bytes, int]:
    """Kafka timestamps (ms) of the first output of each of ``n`` ids starting ``prefix``.

    Scores and rejections both: every input gives one or the other.
    """
    consumer = _consumer(settings, settings.topics.scores, settings.topics.rejected)
    stamps: dict[bytes, int] = {}
    deadline = time.monotonic() + WAIT_S
    try:
        while len(stamps) < n and time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError("a worker exited: see its log")
            polled = consumer.poll(timeout_ms=500, max_records=50_000)  # type: ignore[attr-defined]
            for batch in polled.values():
                for message in batch:
                    if message.key.startswith(prefix):
                        stamps.setdefault(message.key, message.timestamp)
    finally:
        consumer.close()  # type: ignore[attr-defined]
    return stamps


def _cpu_s(processes: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU seconds the processes used so far (every thread; Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in processes:
        # The fields after the command name (which may hold spaces) in /proc/PID/stat.
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _signal(processes: list[subprocess.Popen[bytes]], which: signal.Signals) -> None:
    for process in processes:
        os.killpg(process.pid, which)


def measure(
    model_dir: Path,
    workers: int,
    n: int,
    workdir: Path,
    label: str,
    code: Path | None = None,
    bare: bool = False,
    interval_ms: int = 1000,
) -> Run:
    """Records/s of ``workers`` workers of one stable group draining ``n`` records
    (``code``: that checkout's workers, else this tree's; ``bare``: as many bare loops instead;
    ``interval_ms``: of event time between consecutive records)."""
    settings = bench_settings(f"workers{workers}")
    ensure_topics(settings)
    group = bare_loop.GROUP.format(prefix=settings.topic_prefix) if bare else None
    group = group or scoring_group(settings.topic_prefix)
    started = time.monotonic()
    # Each worker serves /metrics on a port of its own: the mean batch size is read there.
    ports = [] if bare else [free_port() for _ in range(workers)]
    processes = (
        # Copies until stopped: it must not exit while its outputs are being read.
        [
            bare_loop.spawn(
                settings, workdir / f"bare-{label}-{slot}.log", ["--records", str(10**15)]
            )
            for slot in range(workers)
        ]
        if bare
        else [
            cli(
                [
                    "worker",
                    "--model-dir",
                    str(model_dir),
                    "--instance-id",
                    f"bench-{slot}",
                    "--session-timeout",
                    str(SESSION_S),
                ],
                settings.model_copy(update={"worker_metrics_port": ports[slot]}),
                workdir / f"worker-{label}-{slot}.log",
                code,
            )
            for slot in range(workers)
        ]
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while True:  # every partition owned, and by all N (not by the first to join alone)
            owned = wait_for_assignment(
                settings.kafka_bootstrap_servers,
                group,
                settings.topics.records,
                timeout_s=WAIT_S,
                alive=lambda: all(p.poll() is None for p in processes),
            )
            if len(owned) == workers:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{group} never had {workers} members: {owned}")
            time.sleep(0.5)
        stable_s = time.monotonic() - started
        _fill(settings, WARM_UP, seed=1)
        _outputs(settings, b"syn-1-", WARM_UP, processes)
        before = _members(settings, group)
        batches_before = _batches(ports)  # while they answer: not once they are frozen
        _signal(processes, signal.SIGSTOP)
        try:
            _fill(settings, n, seed=2, interval_ms=interval_ms)
        finally:
            cpu_before = _cpu_s(processes)
            _signal(processes, signal.SIGCONT)
        stamps = _outputs(settings, b"syn-2-", n, processes)
        cpu = _cpu_s(processes) - cpu_before
        batches = _batches(ports)
        after = _members(settings, group)
    finally:
        for process in processes:
            _stop(process)
    seconds = max(1, max(stamps.values()) - min(stamps.values())) / 1000
    rate, count = len(stamps) / seconds, len(stamps)
    scored, polled = (now - then for now, then in zip(batches, batches_before, strict=True))
    return Run(
        workers,
        rate,
        count,
        cpu * 1e6 / max(1, count),
        scored / polled if polled else float("nan"),
        stable_s,
        before != after,
    )


def _batches(ports: list[int]) -> tuple[float, float]:
    """Records scored and batches so far, summed over the workers' /metrics."""
    name = "scorestream_worker_batch_size"
    return (
        sum(scraped(port, f"{name}_sum") for port in ports),
        sum(scraped(port, f"{name}_count") for port in ports),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--rounds", type=int, default=2, help="each count this many times")
    parser.add_argument(
        "--before", metavar="REVISION", help="also run this revision's workers (a git worktree)"
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="also run as many bare loops (no scoring) the same way; the ceiling is the best",
    )
    parser.add_argument(
        "--event-interval-ms",
        type=int,
        default=1000,
        help="event time between consecutive records: 1000 (default) spreads a drain over "
        "days, a backfill, each batch spanning hours of drift minutes; 1 keeps it within "
        "minutes, as records scored as they arrive are",
    )
    args = parser.parse_args(argv)
    if args.event_interval_ms < 0:
        parser.error("--event-interval-ms must not be negative")
    workdir = Path(tempfile.mkdtemp(prefix="scorestream-bench-workers-"))
    model_dir = trained_model()
    counts = [int(w) for w in args.workers.split(",")]
    loads = [os.getloadavg()[0]]
    runs: dict[tuple[str, int], list[Run]] = {}
    with contextlib.ExitStack() as stack:
        codes: list[tuple[str, Path | None]] = [("now", None)]
        if args.before:
            codes.insert(0, (args.before, stack.enter_context(checkout(args.before))))
        variants = [(label, code, w) for w in counts for label, code in codes]
        if args.bare:
            variants += [(BARE, None, w) for w in counts]
        for round_ in range(args.rounds):
            # Alternated order: a load that rises or falls during the run falls on every one.
            for label, code, workers in variants if round_ % 2 == 0 else variants[::-1]:
                name = f"{label}-{workers}-{round_}".replace(" ", "-")
                run = measure(
                    model_dir,
                    workers,
                    args.records,
                    workdir,
                    name,
                    code,
                    bare=label == BARE,
                    interval_ms=args.event_interval_ms,
                )
                runs.setdefault((label, workers), []).append(run)
                print(
                    f"round {round_ + 1}, {label}, {workers} worker(s): {run.rate:,.0f} "
                    f"records/s, {run.cpu_us:.0f} µs of CPU per record, batches of "
                    f"{run.batch_records:,.0f} records on average, stable after "
                    f"{run.stable_s:.1f} s, rebalanced: {run.rebalanced}",
                    flush=True,
                )
    loads.append(os.getloadavg()[0])
    first = statistics.median(r.rate for r in runs[(codes[0][0], counts[0])])
    # The ceiling is the best of the bare loops, whatever their count.
    ceiling = max(
        (
            statistics.median(r.rate for r in done)
            for (label, _), done in runs.items()
            if label == BARE
        ),
        default=float("nan"),
    )
    print_table(
        f"Workers of one stable group on a 4-partition topic (same broker, one run, "
        f"{args.rounds} round(s), records {args.event_interval_ms} ms of event time apart; "
        f"load average {loads[0]:.1f} at the start, {loads[1]:.1f} "
        "at the end)",
        [
            "code",
            "workers",
            "records",
            "records/s (each round)",
            "median",
            f"vs {codes[0][0]}, {counts[0]}",
            "vs bare loop",
            "CPU µs per record (each round)",
            "median CPU µs",
            "mean batch (records)",
            "group stable after (s)",
            "rebalance while draining",
        ],
        [
            [
                label,
                w,
                f"{args.records:,}",
                ", ".join(f"{r.rate:,.0f}" for r in done),
                f"{statistics.median(r.rate for r in done):,.0f}",
                f"{statistics.median(r.rate for r in done) / first:.2f}×",
                f"{statistics.median(r.rate for r in done) / ceiling:.0%}",
                ", ".join(f"{r.cpu_us:.0f}" for r in done),
                f"{statistics.median(r.cpu_us for r in done):.1f}",
                f"{statistics.median(r.batch_records for r in done):,.0f}",
                ", ".join(f"{r.stable_s:.1f}" for r in done),
                "yes" if any(r.rebalanced for r in done) else "none",
            ]
            for (label, w), done in runs.items()
        ],
    )
    print(f"\nworker logs in {workdir}")


if __name__ == "__main__":
    main()
