"""Producer throughput: records/s from a JSON Lines file to the local broker, before and after.

One file of synthetic loan applications (10^6 records by default, about 300 bytes each) is
sent to a fresh topic by each variant in turn, each in a process of its own, all keyed by
id with acks=all and the idempotent producer:

- **REVISION** (``--before``, default ``dd65edd``): that revision's producer, run from a
  checkout of it in the same run (its chunks appended record by record to kafka-python's
  accumulator, a future per record), from the file and ``--synthetic``;
- **after**: ``RecordProducer`` as it is (each partition's records of a chunk encoded into
  whole record batches together, one outcome per batch), from the file, the same records as
  CSV, ``--synthetic``, and with 2 processes (``ShardedProducer``, ``--processes 2``);
- with ``--original``: the producer as it was first (one ``KafkaProducer.send`` per record
  with an errback, then an unbounded ``flush()``; kafka-python's pure-Python CRC-32C), and
  the same with the ``crc32c`` extension (about 200 s each for 10^6 records).

The reading is part of every variant (``file_chunks``, as ``produce --file``). Variants
run one after another; ``--repeat N`` runs the whole sequence N times, so that before and
after alternate on a machine whose other work comes and goes.

    python -m bench.bench_producer [--records 1000000] [--before dd65edd] [--repeat 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import bench_settings, checkout, env_for, print_table
from scorestream.settings import Settings

VARIANTS = {
    "before": "original (one send per record, pure-Python CRC)",
    "before-crc32c": "original + crc32c",
    "after": "after, JSON Lines (1 process)",
    "after-synthetic": "after, `--synthetic` (generated while sending)",
    "after-csv": "after, the same records as CSV",
    "after-2": "after, JSON Lines, 2 processes",
}
# Variants a checkout of --before runs (its own bench module knows them).
BEFORE_VARIANTS = {"after": "JSON Lines (1 process)", "after-synthetic": "`--synthetic`"}
DEFAULT_BEFORE = "dd65edd"


def write_jsonl(path: Path, n: int) -> None:
    """``n`` synthetic loan applications as JSON Lines (ids ``syn-1-<i>``)."""
    import orjson

    from scorestream.streams.synthetic import generate_records

    with path.open("wb") as handle:
        for chunk in generate_records(
            n, 1, 50_000, start="2026-01-01T00:00:00", include_target=False
        ):
            handle.write(b"".join(orjson.dumps(record) + b"\n" for record in chunk))


def run_variant(variant: str, path: Path) -> dict[str, float]:
    """Send ``path`` with ``variant`` in this process; seconds and records acknowledged."""
    from scorestream.producers.record_files import file_chunks
    from scorestream.settings import Settings
    from scorestream.topics import ensure_topics

    settings = Settings()
    ensure_topics(settings, [settings.topics.records])
    started = time.monotonic()
    if variant == "after-synthetic":
        return _after_synthetic(settings, sum(1 for _ in path.open("rb")), started)
    if variant == "after-csv":
        path = path.with_suffix(".csv")
    if variant.startswith("before"):
        if variant == "before":
            _use_pure_python_crc()
        sent, failed = _before(settings, file_chunks(path, 5000))
    else:
        from scorestream.producers.producer import RecordProducer
        from scorestream.producers.sharded import ShardedProducer

        producer = (
            RecordProducer(settings)
            if variant in ("after", "after-csv")
            else ShardedProducer(settings, processes=int(variant.split("-")[1]))
        )
        summary = producer.send_all(file_chunks(path, 5000))
        producer.close()
        sent, failed = summary.sent, summary.failed
    return {"seconds": time.monotonic() - started, "sent": sent, "failed": failed}


def _after_synthetic(settings: object, n: int, started: float) -> dict[str, float]:
    from scorestream.producers.producer import RecordProducer, synthetic_chunks

    producer = RecordProducer(settings)  # type: ignore[arg-type]
    summary = producer.send_all(
        synthetic_chunks(n, seed=1, chunk_size=5000, drift=None, drift_from=0)
    )
    producer.close()
    return {"seconds": time.monotonic() - started, "sent": summary.sent, "failed": summary.failed}


def write_csv(jsonl: Path, csv_path: Path) -> None:
    """The records of ``jsonl`` as CSV (pandas writes; ``produce`` reads it as it would)."""
    import pandas as pd

    pd.read_json(jsonl, lines=True, dtype={"id": str}).to_csv(csv_path, index=False)


def _use_pure_python_crc() -> None:
    """kafka-python as installed before ``crc32c`` was a dependency."""
    from kafka.record import _crc32c, util

    util.calc_crc32c.__defaults__ = (_crc32c.crc,)


def _before(settings: object, chunks: object) -> tuple[int, int]:
    """The producer loop as it was: one send per record, an errback each, then flush()."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,  # type: ignore[attr-defined]
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type=None,
        max_request_size=2 * 1024 * 1024,
        retries=10,
    )
    topic = settings.topics.records  # type: ignore[attr-defined]
    counts = {"sent": 0, "failed": 0}

    def failed(_exc: BaseException) -> None:
        counts["failed"] += 1

    for chunk in chunks:  # type: ignore[attr-defined]
        for key, value in chunk:
            producer.send(topic, key=key or None, value=value).add_errback(failed)
            counts["sent"] += 1
    producer.flush()
    producer.close()
    return counts["sent"] - counts["failed"], counts["failed"]


def run_in_child(variant: str, path: Path, label: str, code: Path | None) -> dict[str, float]:
    """Run one variant in a process of its own (``code``: a checkout's bench and producer)."""
    settings = bench_settings(f"producer_{label}")
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_producer", "--variant", variant, "--file", str(path)],
        env=env_for(settings, code),
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    _delete_topics(settings)
    if result.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _delete_topics(settings: Settings) -> None:
    """Remove a run's topic from the shared broker (10^6 records are 300 MB of its disk)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        ours = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--before",
        default=DEFAULT_BEFORE,
        metavar="REVISION",
        help="also run this git revision's producer, side by side ('' for none; "
        "default %(default)s)",
    )
    parser.add_argument("--original", action="store_true", help="also the first producer")
    parser.add_argument("--repeat", type=int, default=1, help="run the sequence N times")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: one variant, here
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.file)))
        return 0

    # (label, variant, from the checkout?)
    plan: list[tuple[str, str, bool]] = []
    if args.original:
        plan += [(VARIANTS[v], v, False) for v in ("before", "before-crc32c")]
    for variant in ("after", "after-synthetic"):
        if args.before:
            plan.append((f"{args.before}, {BEFORE_VARIANTS[variant]}", variant, True))
        plan.append((VARIANTS[variant], variant, False))
    plan += [(VARIANTS[v], v, False) for v in ("after-csv", "after-2")]
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="scorestream-bench-") as directory,
    ):
        code = stack.enter_context(checkout(args.before)) if args.before else None
        path = Path(directory) / "records.jsonl"
        write_jsonl(path, args.records)
        write_csv(path, path.with_suffix(".csv"))
        size_mb = path.stat().st_size / 1e6
        print(f"{args.records:,} records, {size_mb:,.0f} MB of JSON Lines", flush=True)
        rates: dict[str, list[float]] = {label: [] for label, _, _ in plan}
        loads: dict[str, list[float]] = {label: [] for label, _, _ in plan}
        for _ in range(args.repeat):
            for label, variant, before in plan:
                load = os.getloadavg()[0]
                result = run_in_child(
                    variant,
                    path,
                    f"{len(rates[label])}_{variant.replace('-', '_')}",
                    code if before else None,
                )
                if result["sent"] != args.records or result["failed"]:
                    print(f"{label}: {result}", file=sys.stderr)
                    return 1
                rate = result["sent"] / result["seconds"]
                rates[label].append(rate)
                loads[label].append(max(load, os.getloadavg()[0]))
                print(f"{label}: {rate:,.0f} records/s, load {load:.1f}", flush=True)
    rows = []
    for label, values in rates.items():
        rows.append(
            [
                label,
                " / ".join(f"{value:,.0f}" for value in values),
                " / ".join(f"{load:.1f}" for load in loads[label]),
            ]
        )
    print_table(
        f"produce, {args.records:,} records (JSON Lines unless said), records/s per run, "
        f"{os.cpu_count()} cores",
        ["variant", "records/s", "1-minute load"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
