"""Producer throughput: records/s from a JSON Lines file to the local broker, before and after.

One file of synthetic loan applications (10^6 records by default, about 300 bytes each) is
sent to a fresh topic by each variant in turn, each in a process of its own, all keyed by
id with acks=all and the idempotent producer:

- **before**: the producer as it was (one ``KafkaProducer.send`` per record with an errback,
  then an unbounded ``flush()``), with kafka-python's pure-Python CRC-32C as installed then;
- **before + crc32c**: the same loop with the ``crc32c`` C extension now required;
- **after**: ``RecordProducer`` (chunks appended to kafka-python's accumulator, ids hashed
  with numpy, every record accounted with a bounded wait);
- **after, 2 processes**: ``ShardedProducer`` (``produce --processes 2``).

The reading is part of every variant (the same ``file_chunks`` as ``produce --file``).

    python -m bench.bench_producer [--records 1000000] [--skip-before]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import bench_settings, env_for, print_table

VARIANTS = {
    "before": "before (one send per record, pure-Python CRC)",
    "before-crc32c": "before + crc32c",
    "after": "after (accumulator, 1 process)",
    "after-2": "after, 2 processes",
}


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
    if variant.startswith("before"):
        if variant == "before":
            _use_pure_python_crc()
        sent, failed = _before(settings, file_chunks(path, 5000))
    else:
        from scorestream.producers.producer import RecordProducer
        from scorestream.producers.sharded import ShardedProducer

        producer = (
            RecordProducer(settings)
            if variant == "after"
            else ShardedProducer(settings, processes=int(variant.split("-")[1]))
        )
        summary = producer.send_all(file_chunks(path, 5000))
        producer.close()
        sent, failed = summary.sent, summary.failed
    return {"seconds": time.monotonic() - started, "sent": sent, "failed": failed}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--skip-before", action="store_true", help="only the after variants")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: one variant, here
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.file)))
        return 0

    variants = [v for v in VARIANTS if not (args.skip_before and v.startswith("before"))]
    with tempfile.TemporaryDirectory(prefix="scorestream-bench-") as directory:
        path = Path(directory) / "records.jsonl"
        write_jsonl(path, args.records)
        size_mb = path.stat().st_size / 1e6
        print(f"{args.records:,} records, {size_mb:,.0f} MB of JSON Lines", flush=True)
        results = {}
        loads = [os.getloadavg()[0]]
        for variant in variants:
            settings = bench_settings(f"producer_{variant.replace('-', '_')}")
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_producer",
                    "--variant",
                    variant,
                    "--file",
                    str(path),
                ],
                env=env_for(settings),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                print(f"{variant} failed:\n{result.stderr[-3000:]}", file=sys.stderr)
                return 1
            results[variant] = json.loads(result.stdout.strip().splitlines()[-1])
            loads.append(os.getloadavg()[0])
            rate = results[variant]["sent"] / results[variant]["seconds"]
            print(f"{VARIANTS[variant]}: {rate:,.0f} records/s", flush=True)
    base = results.get("before")
    rows = []
    for variant, result in results.items():
        rate = result["sent"] / result["seconds"]
        versus = (
            f"×{rate / (base['sent'] / base['seconds']):.1f}"
            if base and variant != "before"
            else ""
        )
        rows.append(
            [
                VARIANTS[variant],
                f"{result['sent']:,.0f}",
                f"{result['failed']:,.0f}",
                f"{result['seconds']:,.1f} s",
                f"{rate:,.0f}",
                versus,
            ]
        )
    print_table(
        f"produce from a {args.records:,}-record JSON Lines file, 1-minute load "
        f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores",
        ["variant", "acknowledged", "failed", "time", "records/s", "vs before"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
