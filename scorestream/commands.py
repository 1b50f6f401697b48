"""Subcommands of the areas of the system, registered with the ``scorestream`` parser.

Each handler imports what it needs when it runs, so ``scorestream --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from scorestream.settings import Settings

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Registration = Callable[[SubParsers], None]


def _settings() -> Settings:

    return Settings()


# --- train ---------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from scorestream.streams.model.train import train_from_file

    console = Console(stderr=True)
    with console.status(f"training on {args.data} …"):
        report = train_from_file(
            args.data,
            args.target,
            args.model_dir,
            name=args.name,
            classifier=args.classifier,
            seed=args.seed,
        )
    console.print(report.summary() if hasattr(report, "summary") else report)
    print(args.model_dir)
    return 0


def register_train(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "train",
        help="fit a scikit-learn pipeline and write a versioned model directory",
        description="Reads csv, parquet or jsonl; writes pipeline.skops, schema.json, "
        "reference_profile.json and metadata.json into --model-dir.",
    )
    parser.add_argument("--data", type=Path, required=True, help="training data file")
    parser.add_argument("--target", required=True, help="binary target column")
    parser.add_argument("--model-dir", type=Path, required=True, help="output directory")
    parser.add_argument("--name", default="model", help="model name (default: model)")
    parser.add_argument("--classifier", choices=["logistic", "hgb"], default="logistic")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=cmd_train)


# --- worker --------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace) -> int:
    from scorestream.streams.app import WorkerOptions
    from scorestream.streams.worker import run_worker

    settings = _settings()
    if args.model_dir is not None:
        settings = settings.model_copy(update={"model_dir": args.model_dir})
    options = WorkerOptions(
        batch_size=args.batch_size,
        batch_within_s=args.batch_within,
        out_of_range=args.out_of_range,
        max_record_bytes=args.max_record_bytes,
        engine=args.engine,
        drift_flush_s=args.commit_interval,
    )
    run_worker(settings, options, loglevel="debug" if args.verbose else "info")
    return 0


def register_worker(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "worker",
        help="run the Faust scoring worker (records -> scores, records.rejected)",
        description="Joins the worker consumer group; start N of them to share partitions.",
    )
    parser.add_argument("--model-dir", type=Path, help="model directory (default $MODEL_DIR)")
    parser.add_argument(
        "--batch-size", type=int, default=2000, help="records per batch (1 = per-record scoring)"
    )
    parser.add_argument(
        "--batch-within", type=float, default=0.2, help="seconds to wait for a batch to fill"
    )
    parser.add_argument("--out-of-range", choices=["reject", "clip"], default="reject")
    parser.add_argument("--max-record-bytes", type=int, default=65536)
    parser.add_argument(
        "--engine",
        choices=["faust", "direct"],
        default="direct",
        help="direct (default): a Faust task with its own aiokafka consumer, committing "
        "with the drift counts every few seconds; faust: an agent on Faust's stream "
        "(take_events), about a quarter of the throughput, drift partials per batch",
    )
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="direct engine: publish drift counts and commit offsets this often (default 15; "
        "a crash re-scores at most this much input)",
    )
    parser.set_defaults(handler=cmd_worker)


# --- produce -------------------------------------------------------------------------------
def cmd_produce(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from scorestream.producers.drift_injection import DriftSpec
    from scorestream.producers.producer import (
        RecordProducer,
        file_chunks,
        frame_to_payloads,
        synthetic_chunks,
    )
    from scorestream.topics import ensure_topics

    settings = _settings()
    ensure_topics(settings, [settings.topics.records])
    drift = [DriftSpec.parse(text) for text in args.drift]
    console = Console(stderr=True)
    if args.synthetic is not None:
        total: int | None = args.synthetic
        reference_std = _reference_std(args.model_dir) if drift else None
        chunks = synthetic_chunks(
            args.synthetic,
            seed=args.seed,
            chunk_size=5000,
            drift=drift,
            drift_from=args.drift_from,
            start=args.start,
            interval_ms=args.interval_ms,
            reference_std=reference_std,
        )
    else:
        if drift:
            console.print("--drift applies to --synthetic data only")
            return 2
        total = None
        chunks = (frame_to_payloads(frame) for frame in file_chunks(args.file))
    producer = RecordProducer(settings, rate=args.rate)
    columns = [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(
        *Progress.get_default_columns()[:1], *columns, console=console, disable=args.quiet
    ) as progress:
        task = progress.add_task("producing", total=total)
        summary = producer.send_all(chunks, progress=lambda n: progress.advance(task, n))
    producer.close()
    console.print(
        f"sent {summary.sent}, failed {summary.failed}, "
        f"{summary.rate:,.0f} records/s to {settings.topics.records}"
    )
    for error in summary.errors:
        console.print(f"  error: {error}")
    return 0 if summary.failed == 0 else 1


def _reference_std(model_dir: Path | None) -> dict[str, float] | None:
    from scorestream.streams.model.schema import FeatureSchema

    path = Path(model_dir or _settings().model_dir) / "schema.json"
    return FeatureSchema.load(path).reference_std() if path.exists() else None


def register_produce(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "produce",
        help="send records to the records topic (file or synthetic)",
        description="Keyed by id, acks=all, idempotent producer. Example: "
        "scorestream produce --synthetic 100000 --drift income=shift:0.5 --drift-from 50000",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="csv, parquet or jsonl file")
    source.add_argument("--synthetic", type=int, metavar="N", help="N synthetic records")
    parser.add_argument("--rate", type=float, help="records per second (default: max)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed")
    parser.add_argument("--start", help="event time of the first synthetic record (ISO-8601)")
    parser.add_argument(
        "--interval-ms",
        type=int,
        default=1000,
        help="event-time step between synthetic records (default 1000)",
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
        default=0,
        metavar="K",
        help="first record (0-based) that is drifted",
    )
    parser.add_argument("--model-dir", type=Path, help="reference std for shift specs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=cmd_produce)


# --- drift-check ---------------------------------------------------------------------------
def cmd_drift_check(args: argparse.Namespace) -> int:
    import signal
    from datetime import date

    from rich.console import Console
    from rich.table import Table

    from scorestream.consumers.alerting.delivery import deliver_pending
    from scorestream.consumers.drift_check.schedule import (
        DriftCheckScheduler,
        check_day,
        yesterday,
    )
    from scorestream.streams.model.registry import LoadedModel

    settings = _settings()
    model = LoadedModel.load(args.model_dir or settings.model_dir)
    if args.schedule:
        scheduler = DriftCheckScheduler(
            settings, model, rolling_every_s=args.rolling_every, catch_up_days=args.catch_up_days
        )
        signal.signal(signal.SIGTERM, lambda *_: scheduler.stop())
        scheduler.run()
        return 0
    day = date.fromisoformat(args.date) if args.date else yesterday()
    result = check_day(settings, model, day)
    table = Table(
        title=f"drift check {day} — {result.records:,} records, model {result.model_version}"
    )
    for column in ("feature", "level", "test", "p (BH)", "PSI", "JS", "Wasserstein"):
        table.add_column(column)
    colours = {"drift": "red", "warning": "yellow", "ok": "green"}
    for row in result.rows:
        table.add_row(
            row["feature"],
            f"[{colours[row['level']]}]{row['level']}[/]",
            row["test"],
            f"{row['p_adjusted']:.3g}",
            f"{row['psi']:.3f}",
            f"{row['js_distance']:.3f}",
            f"{row['wasserstein']:.3f}",
        )
    Console(stderr=True).print(table)
    if result.drifted and not args.no_deliver:
        sent = deliver_pending(settings)
        Console(stderr=True).print(f"alert e-mails sent: {sent}")
    return 0


def register_drift_check(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "drift-check",
        help="check a day's inputs for drift and e-mail an alert once",
        description="Sums the day's bins from ClickHouse, tests every feature against the "
        "reference (Benjamini-Hochberg corrected, with effect-size thresholds), writes "
        "drift_checks rows, and e-mails an alert when a feature drifted — once per day.",
    )
    parser.add_argument("--date", help="UTC day to check, YYYY-MM-DD (default: yesterday)")
    parser.add_argument("--model-dir", type=Path, help="model directory (default $MODEL_DIR)")
    parser.add_argument(
        "--no-deliver",
        action="store_true",
        help="publish the alert to drift.alerts but do not e-mail it here",
    )
    parser.add_argument(
        "--schedule",
        action="store_true",
        help="run forever: daily check per DRIFT_CHECK_SCHEDULE, rolling "
        "checks, alert delivery (run exactly one of these)",
    )
    parser.add_argument(
        "--rolling-every",
        type=float,
        default=300,
        help="seconds between rolling 1 h / 24 h checks (with --schedule)",
    )
    parser.add_argument(
        "--catch-up-days",
        type=int,
        default=7,
        help="days back to look for missed daily checks (with --schedule)",
    )
    parser.set_defaults(handler=cmd_drift_check)


# --- demo ----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from scorestream.demo import DemoOptions, main_demo

    return main_demo(
        DemoOptions(
            records_per_day=args.records_per_day, drift=args.drift, model_dir=args.model_dir
        )
    )


def register_demo(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "demo",
        help="the whole system on the local stack, ending with a drift e-mail",
        description="Starts the local stack, trains the demo model, runs a worker and a sink, "
        "produces two days of records (the second drifted), checks both days and prints the "
        "path of the alert e-mail the local SMTP server caught.",
    )
    parser.add_argument("--records-per-day", type=int, default=20_000)
    parser.add_argument("--drift", default="income=shift:0.6", help="drift of the second day")
    parser.add_argument("--model-dir", type=Path, default=Path("models/demo"))
    parser.set_defaults(handler=cmd_demo)


def _external_registrations() -> list[Registration]:
    from scorestream.consumers.cli import register_sink
    from scorestream.producers.cli import register_bridge

    return [register_sink, register_bridge]


REGISTRATIONS: list[Registration] = [
    register_train,
    register_worker,
    register_produce,
    register_drift_check,
    register_demo,
    *_external_registrations(),
]
