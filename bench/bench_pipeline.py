"""Records/s from ``records`` to ``scores``: the batched agent against a per-record agent.

Both workers read a pre-filled topic on the same broker in the same run; throughput is
counted from the scores' own timestamps (first to last ``scored_at_ms``), so worker start-up
does not count. Then end-to-end latency (producer timestamp to scored) at a fixed rate.

    python -m bench.bench_pipeline [--records 100000] [--per-record 3000] [--rate 2000]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

import orjson

from bench.common import bench_settings, cli, percentile, print_table, trained_model
from scorestream.producers.producer import RecordProducer, synthetic_chunks
from scorestream.settings import Settings
from scorestream.topics import ensure_topics


def _fill(settings: Settings, n: int, seed: int, rate: float | None = None) -> None:
    producer = RecordProducer(settings, rate=rate)
    producer.send_all(
        synthetic_chunks(
            n, seed=seed, chunk_size=5000, drift=None, drift_from=0, start="2026-05-01T00:00:00"
        )
    )
    producer.close()


def _read_scores(settings: Settings, n: int, timeout_s: float) -> list[dict]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        settings.topics.scores,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    out: list[dict] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while len(seen) < n and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500, max_records=50_000).values():
            for message in batch:
                score = orjson.loads(message.value)
                if score["id"] not in seen:
                    seen.add(score["id"])
                    out.append(score)
    consumer.close()
    return out


def throughput(
    model_dir: Path, n: int, batch_size: int, workdir: Path, engine: str = "faust"
) -> tuple[float, int]:
    """Records/s of one worker draining ``n`` pre-filled records."""
    settings = bench_settings(f"pipe{batch_size}{engine}")
    ensure_topics(settings)
    _fill(settings, n, seed=batch_size)
    worker = cli(
        [
            "worker",
            "--model-dir",
            str(model_dir),
            "--batch-size",
            str(batch_size),
            "--batch-within",
            "0.05",
        ],
        settings,
        workdir / f"worker-{batch_size}.log",
    )
    try:
        scores = _read_scores(settings, n, timeout_s=600)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    stamps = [s["scored_at_ms"] for s in scores]
    seconds = max(1, max(stamps) - min(stamps)) / 1000
    return len(scores) / seconds, len(scores)


def latency(
    model_dir: Path, rate: float, seconds: float, workdir: Path, engine: str
) -> dict[str, float]:
    settings = bench_settings(f"latency{engine}")
    ensure_topics(settings)
    worker = cli(
        ["worker", "--model-dir", str(model_dir), "--batch-within", "0.02", "--engine", engine],
        settings,
        workdir / f"worker-latency-{engine}.log",
    )
    try:
        _fill(settings, 200, seed=99)  # warm-up: the group has joined once these are scored
        _read_scores(settings, 200, timeout_s=120)
        n = int(rate * seconds)
        _fill(settings, n, seed=98, rate=rate)
        scores = _read_scores(settings, n + 200, timeout_s=120)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    latencies = [float(s["latency_ms"]) for s in scores if s["id"].startswith("syn-98-")]
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "n": float(len(latencies)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--per-record", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=2_000)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="scorestream-bench-pipeline-"))
    model_dir = trained_model()
    direct, n_direct = throughput(model_dir, args.records, 2000, workdir, "direct")
    batched, n_batched = throughput(model_dir, args.records, 2000, workdir, "faust")
    single, n_single = throughput(model_dir, args.per_record, 1, workdir, "faust")
    print_table(
        "Scoring worker: records → scores (one worker, 4 partitions, same broker, same run)",
        ["worker", "records", "records/s", "vs per-record"],
        [
            [
                "--engine direct, batches of 2000",
                n_direct,
                f"{direct:,.0f}",
                f"{direct / single:,.0f}×",
            ],
            [
                "--engine faust (take_events 2000)",
                n_batched,
                f"{batched:,.0f}",
                f"{batched / single:,.0f}×",
            ],
            ["per-record agent (take_events 1)", n_single, f"{single:,.0f}", "1×"],
        ],
    )
    rows = []
    for engine in ("direct", "faust"):
        lat = latency(model_dir, args.rate, args.seconds, workdir, engine)
        rows.append([engine, int(lat["n"]), lat["p50"], lat["p99"]])
    print_table(
        f"End-to-end latency at {args.rate:,.0f} records/s (producer timestamp → scored)",
        ["engine", "records", "p50 ms", "p99 ms"],
        rows,
    )
    print(f"\nworker logs in {workdir}")


if __name__ == "__main__":
    main()
