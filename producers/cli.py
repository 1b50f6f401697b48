"""The producer subcommands of ``scorestream``: ``produce`` records, serve the ``bridge``.

Handlers import pandas, Kafka clients and FastAPI when they run, so ``scorestream --help``
stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scorestream.cli_support import SubParsers, add_subcommand, option_defaults, options_from_args


def register(sub: SubParsers) -> None:
    """Add ``produce`` and ``bridge`` to the ``scorestream`` subcommands."""
    _register_produce(sub)
    _register_bridge(sub)


# --- produce -------------------------------------------------------------------------------
def _produce_defaults() -> Mapping[str, Any]:
    from scorestream.producers.producer import ProduceOptions

    return option_defaults(ProduceOptions)


def cmd_produce(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from scorestream.exceptions import ConfigurationError
    from scorestream.producers.drift_injection import parse_drift_specs
    from scorestream.producers.kafka_logs import quiet_repeated_kafka_errors
    from scorestream.producers.label_files import label_file_chunks
    from scorestream.producers.producer import (
        ProduceOptions,
        RecordProducer,
        check_delivery_timeout,
        synthetic_chunks,
    )
    from scorestream.producers.record_files import file_chunks
    from scorestream.producers.sharded import ShardedProducer
    from scorestream.settings import Settings
    from scorestream.topics import ensure_topics

    settings = Settings()
    options = options_from_args(ProduceOptions, args)
    # Everything the user gave is checked before the first connection to Kafka.
    check_delivery_timeout(options.delivery_timeout_s)
    if options.processes < 1:
        raise ConfigurationError(f"--processes must be at least 1, not {options.processes}")
    if options.processes > 1 and options.rate:
        raise ConfigurationError("--rate paces one process: use it without --processes")
    drift = parse_drift_specs(args.drift)
    chunks: Iterable[Sequence[tuple[bytes | None, bytes]]]
    if args.synthetic is not None:
        total: int | None = args.synthetic
        reference_std = _reference_std(args.model_dir or settings.model_dir) if drift else None
        chunks = synthetic_chunks(
            args.synthetic,
            seed=options.seed,
            chunk_size=options.chunk_size,
            drift=drift,
            drift_from=options.drift_from,
            start=options.start,
            interval_ms=options.interval_ms,
            reference_std=reference_std,
        )
    else:
        if drift:
            raise ConfigurationError("--drift applies to --synthetic data only")
        total = None
        if args.labels is not None:
            chunks = label_file_chunks(args.labels, options.chunk_size)
        else:
            chunks = file_chunks(args.file, options.chunk_size)
    topic = settings.topics.labels if args.labels is not None else settings.topics.records
    # An outage is reported by the summary, record by record; the client's reconnect errors
    # are one line each, at most once a minute per kind.
    quiet_repeated_kafka_errors(tracebacks=False)
    try:
        ensure_topics(settings, [topic])
    except KafkaError as exc:
        # Not a mistake of the user's, and not a bug: one line, nothing was sent.
        print(
            f"sent 0: cannot reach Kafka at {settings.kafka_bootstrap_servers} ({exc}); "
            "nothing was sent",
            file=sys.stderr,
        )
        return 1
    # soft_wrap: the summary line is never broken (scripts and tests read it).
    console = Console(stderr=True, soft_wrap=True)
    producer: RecordProducer | ShardedProducer
    if options.processes > 1:
        producer = ShardedProducer(
            settings,
            processes=options.processes,
            topic=topic,
            delivery_timeout_s=options.delivery_timeout_s,
        )
    else:
        producer = RecordProducer(
            settings, rate=options.rate, topic=topic, delivery_timeout_s=options.delivery_timeout_s
        )
    columns = [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    try:
        with Progress(
            *Progress.get_default_columns()[:1], *columns, console=console, disable=args.quiet
        ) as progress:
            task = progress.add_task("producing", total=total)
            summary = producer.send_all(chunks, progress=lambda n: progress.advance(task, n))
    finally:
        producer.close()
    noun = "labels" if args.labels is not None else "records"
    line = f"sent {summary.sent}, failed {summary.failed}, {summary.rate:,.0f} {noun}/s to {topic}"
    if summary.failed:
        line += "; " + _write_undelivered(summary, args.undelivered, noun)
    console.print(line, markup=False, highlight=False)
    for error in summary.errors:
        console.print(f"  error: {error}", markup=False, highlight=False)
    return 0 if summary.failed == 0 else 1


def _write_undelivered(summary: Any, path: Path | None, noun: str) -> str:
    """Write the undelivered records to a JSON Lines file; the summary's words for them.

    The file holds each record's value exactly as it was to be sent, one per line, so that
    ``scorestream produce --file`` (or ``--labels``) sends exactly them again.
    """
    import time

    shown = summary.undelivered_ids(5)
    more = f" and {summary.failed - len(shown)} more" if summary.failed > len(shown) else ""
    named = f"undelivered {noun} {', '.join(shown)}{more}"
    target = path or Path(
        f"scorestream-undelivered-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl"
    )
    try:
        with target.open("wb") as handle:
            for _key, value in summary.undelivered:
                handle.write(value + b"\n")
    except OSError as exc:
        return f"{named}; could not write them to {target}: {exc.strerror or exc}"
    again = "--labels" if noun == "labels" else "--file"
    return f"{named} written to {target} (send them again with {again} {target})"


def _reference_std(model_dir: Path) -> dict[str, float] | None:
    from scorestream.streams.model.schema import FeatureSchema

    path = Path(model_dir) / "schema.json"
    return FeatureSchema.load(path).reference_std() if path.exists() else None


def _register_produce(sub: SubParsers) -> None:
    # Option dests are ProduceOptions' field names, so the handler builds it from them.
    parser = add_subcommand(
        sub,
        "produce",
        cmd_produce,
        defaults=_produce_defaults,
        help="send records to the records topic (file or synthetic), or labels to labels",
        description="Keyed by id, acks=all, idempotent producer. Exit 0: every record "
        "acknowledged; 1: some were not (named in the summary line and written to "
        "--undelivered); 2: a usage mistake. Examples: "
        "scorestream produce --synthetic 100000 --drift income=shift:0.5 --drift-from 50000; "
        "scorestream produce --labels labels.csv (columns id, label, optional label_time, "
        "model_name, model_version)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="csv, parquet or jsonl file")
    source.add_argument("--synthetic", type=int, metavar="N", help="N synthetic records")
    source.add_argument(
        "--labels", type=Path, metavar="FILE", help="csv or jsonl file of labels (topic labels)"
    )
    parser.add_argument("--rate", type=float, help="records per second (default: max)")
    parser.add_argument("--seed", type=int, help="synthetic data seed (default %(default)s)")
    parser.add_argument(
        "--start", help="event time of the first synthetic record (ISO-8601; default now)"
    )
    parser.add_argument(
        "--interval-ms",
        type=int,
        help="event-time step between synthetic records (default %(default)s)",
    )
    parser.add_argument(
        "--drift",
        action="append",
        default=[],
        metavar="FEATURE=SPEC",
        help="inject drift, e.g. income=shift:0.5 or region=weight:north:0.4",
    )
    parser.add_argument(
        "--drift-from",
        type=int,
        metavar="K",
        help="first record (0-based) that is drifted (default %(default)s)",
    )
    parser.add_argument("--model-dir", type=Path, help="reference std for shift specs")
    parser.add_argument(
        "--delivery-timeout",
        dest="delivery_timeout_s",
        type=float,
        metavar="SECONDS",
        help="a record the broker has not acknowledged in this time is undelivered; the "
        "client reconnects meanwhile (default %(default)s)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="producer processes, each owning the partitions p with p %% N == its number "
        "(ids keep their partition and their order; default %(default)s)",
    )
    parser.add_argument(
        "--undelivered",
        type=Path,
        metavar="FILE",
        help="where undelivered records go, as JSON Lines (default "
        "./scorestream-undelivered-TIME.jsonl, written only when some are)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# --- bridge --------------------------------------------------------------------------------
def _bridge_defaults() -> Mapping[str, Any]:
    from scorestream.producers.bridge.options import BridgeOptions

    return option_defaults(BridgeOptions)


def cmd_bridge(args: argparse.Namespace) -> int:
    import uvicorn

    from scorestream.producers.bridge import BridgeOptions, create_app
    from scorestream.producers.bridge.server import protocol_class
    from scorestream.producers.kafka_logs import quiet_repeated_kafka_errors
    from scorestream.settings import Settings

    settings = Settings()
    if args.model_dir is not None:
        settings = settings.model_copy(update={"model_dir": args.model_dir})
    # Bad limits and a bridge without API keys raise ConfigurationError here, before the
    # port opens; `scorestream` reports it in one line.
    options = options_from_args(BridgeOptions, args)
    app = create_app(settings, options)
    quiet_repeated_kafka_errors()
    # loop "auto" picks uvloop when installed; HTTP is httptools (uvicorn[standard]) with the
    # bridge's limit on request heads and problem+json refusals.
    uvicorn.run(
        app,
        http=protocol_class(options.max_header_bytes, head_timeout_s=options.body_timeout_s),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=args.access_log,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _register_bridge(sub: SubParsers) -> None:
    # Option dests are BridgeOptions' field names, so the handler builds it from them.
    parser = add_subcommand(
        sub,
        "bridge",
        cmd_bridge,
        defaults=_bridge_defaults,
        help="serve the HTTP ingest bridge (POST /v1/records, /v1/score)",
        description="JSON records over HTTP onto the records topic, validated against the "
        "model's feature schema. API keys from INGEST_API_KEYS (comma-separated); Kafka from "
        "KAFKA_BOOTSTRAP_SERVERS; schema from --model-dir or MODEL_DIR. OpenAPI at "
        "/openapi.json. Scale out by running several bridges behind a load balancer.",
    )
    # Where to listen is uvicorn's business, not BridgeOptions'.
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8080, help="HTTP port to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--model-dir", type=Path, help="model directory with schema.json (default $MODEL_DIR)"
    )
    parser.add_argument(
        "--max-body-bytes", type=int, help="larger bodies get 413 (default %(default)s)"
    )
    parser.add_argument(
        "--max-header-bytes",
        type=int,
        help="larger request line + headers get 431 (default %(default)s)",
    )
    parser.add_argument(
        "--body-timeout",
        dest="body_timeout_s",
        type=float,
        metavar="SECONDS",
        help="a request head or body not received whole in this time gets 408 "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--max-records", type=int, help="most records per POST /v1/records (default %(default)s)"
    )
    parser.add_argument(
        "--max-record-bytes",
        type=int,
        help="largest record; same as the worker's (default %(default)s)",
    )
    parser.add_argument(
        "--out-of-range",
        choices=["reject", "clip"],
        help="same as the worker's (default %(default)s)",
    )
    parser.add_argument(
        "--score-timeout",
        dest="score_timeout_s",
        type=float,
        metavar="SECONDS",
        help="seconds POST /v1/score waits before 504 (default %(default)s)",
    )
    parser.add_argument(
        "--model-poll",
        dest="model_poll_s",
        type=float,
        metavar="SECONDS",
        help="with MODEL=name@alias: how often to check the alias; the schema follows it "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--score-memory",
        type=int,
        help="POST /v1/score outcomes remembered for retries (default %(default)s)",
    )
    parser.add_argument(
        "--send-timeout",
        dest="send_timeout_s",
        type=float,
        metavar="SECONDS",
        help="seconds to wait for Kafka before 503 (default %(default)s)",
    )
    parser.add_argument(
        "--retry-after",
        dest="retry_after_s",
        type=int,
        metavar="SECONDS",
        help="Retry-After seconds of 503 answers (default %(default)s)",
    )
    parser.add_argument(
        "--linger-ms", type=int, help="producer batching delay (default %(default)s)"
    )
    parser.add_argument(
        "--allow-anonymous",
        action="store_true",
        help="serve without API keys when INGEST_API_KEYS is empty",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
