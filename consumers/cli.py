"""The consumer subcommands of ``scorestream``: the ClickHouse ``sink`` and ``drift-check``.

Handlers import the Kafka and ClickHouse clients and SciPy when they run, so
``scorestream --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from scorestream.cli_support import (
    SubParsers,
    add_membership_options,
    add_subcommand,
    option_defaults,
    options_from_args,
)

log = logging.getLogger(__name__)

#: ``drift-check --date D``'s exit code when the day is still incomplete after the wait:
#: nothing was checked or written; run it again later (2 is a usage mistake).
EXIT_INCOMPLETE = 3
#: ``drift-check``'s exit code when alerts stay undelivered (another delivery holds their
#: partitions, or SMTP stayed down past ``--smtp-give-up``); the next run, or that delivery,
#: sends them.
EXIT_UNDELIVERED = 4


def register(sub: SubParsers) -> None:
    """Add ``sink`` and ``drift-check`` to the ``scorestream`` subcommands."""
    _register_sink(sub)
    _register_drift_check(sub)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


# --- sink ----------------------------------------------------------------------------------
def _sink_defaults() -> Mapping[str, Any]:
    from scorestream.consumers.sink import SinkOptions

    return option_defaults(SinkOptions)


def cmd_sink(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from scorestream.consumer_groups import sink_group
    from scorestream.consumers.sink import SinkOptions, run_sink
    from scorestream.membership import claim_instance_id
    from scorestream.settings import Settings

    settings = Settings()
    options = options_from_args(SinkOptions, args)
    if options.instance_id is None:
        group = options.group_id or sink_group(settings.topic_prefix)
        options = replace(options, instance_id=claim_instance_id(group))
    # The driver logs every refused connection with a traceback; the sink's own warning
    # (with the retry count and delay) says the same in one line.
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)
    stats = run_sink(settings, options)
    rows = ", ".join(f"{table} {count}" for table, count in sorted(stats.rows.items()))
    log.info(
        "sink stopped: %d messages, %d flushes, rows: %s, %d rejected by the sink",
        stats.messages,
        stats.flushes,
        rows or "none",
        stats.rejected,
    )
    return 0


def _register_sink(sub: SubParsers) -> None:
    # Option dests are SinkOptions' field names, so the handler builds it from them.
    parser = add_subcommand(
        sub,
        "sink",
        cmd_sink,
        defaults=_sink_defaults,
        help="store scores, rejected records and drift statistics in ClickHouse",
        description="Consumes scores, records.rejected and drift.stats as one consumer group "
        "(run N of them to share partitions), inserts column-wise in batches and commits "
        "offsets only after the insert. Applies the schema migrations on start. Runs until "
        "SIGTERM/SIGINT; rides out ClickHouse outages by pausing and retrying.",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="drain what the topics hold now, then exit (tests, backfills)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        help="rows per insert and topic (default %(default)s)",
    )
    parser.add_argument(
        "--flush-interval",
        dest="flush_interval_s",
        type=_positive_float,
        metavar="SECONDS",
        help="flush a topic at least this often (default %(default)s)",
    )
    parser.add_argument(
        "--max-backoff",
        dest="backoff_max_s",
        type=_positive_float,
        metavar="SECONDS",
        help="longest wait between retries while ClickHouse is down (default %(default)s)",
    )
    parser.add_argument("--group-id", help="consumer group (default <prefix>scorestream-sink)")
    add_membership_options(parser, "sink")


# --- drift-check ---------------------------------------------------------------------------
def _drift_check_defaults() -> Mapping[str, Any]:
    from scorestream.consumers.drift_check.schedule import DriftCheckScheduler

    return option_defaults(DriftCheckScheduler)


def cmd_drift_check(args: argparse.Namespace) -> int:
    import signal
    import sys

    from rich.console import Console
    from rich.table import Table

    from scorestream.consumers.alerting.delivery import deliver_pending
    from scorestream.consumers.comparison.compare import ComparisonOptions
    from scorestream.consumers.drift_check.schedule import (
        DriftCheckScheduler,
        check_complete_day,
        yesterday,
    )
    from scorestream.exceptions import AlertsPendingError
    from scorestream.settings import Settings
    from scorestream.streams.model.registry import LoadedModel

    settings = Settings()
    # MODEL_DIR is the default model; with a registry (MODELS_DIR) every version with counts
    # is checked against its own reference, so MODEL_DIR may be absent unless named.
    model_dir = args.model_dir or settings.model_dir
    model = LoadedModel.load(model_dir) if args.model_dir or model_dir.exists() else None
    comparison = ComparisonOptions(tolerance=args.comparison_tolerance)
    if args.schedule:
        scheduler = DriftCheckScheduler(
            settings,
            model,
            rolling_every_s=args.rolling_every_s,
            catch_up_days=args.catch_up_days,
            comparison_tolerance=args.comparison_tolerance,
            wait_complete_s=args.wait_complete_s,
        )
        signal.signal(signal.SIGTERM, lambda *_: scheduler.stop())
        scheduler.run()
        return 0
    day = args.date or yesterday()
    state, results = check_complete_day(
        settings, model, day, comparison=comparison, wait_s=args.wait_complete_s
    )
    console = Console(stderr=True)
    if not state.complete:
        # One plain line (no console wrapping): scripts and cron mails grep it.
        said = f"drift check {day}: {state.summary()}; not checked, run again later"
        print(said, file=sys.stderr)
        return EXIT_INCOMPLETE
    colours = {"drift": "red", "warning": "yellow", "ok": "green", "error": "magenta"}
    for result in results:
        name = f"{result.model_name}@{result.model_version}"
        table = Table(title=f"drift check {day} — {result.records:,} records, model {name}")
        for column in ("feature", "level", "test", "p (BH)", "PSI", "JS", "Wasserstein"):
            table.add_column(column)
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
        if result.rows:
            console.print(table)
        if result.performance is not None:
            for verdict in result.performance.verdicts:
                console.print(f"performance {day}, model {name}: {verdict.sentence()}")
    if not results:
        console.print(f"drift check {day}: no drift counts and no default model (MODEL_DIR)")
    # A performance verdict or a feature that could not be checked alerts without drift.
    if any(result.alerting for result in results) and not args.no_deliver:
        try:
            sent = deliver_pending(settings, smtp_give_up_s=args.smtp_give_up_s)
        except AlertsPendingError as exc:
            # One plain line each (no console wrapping): scripts and cron mails grep them.
            print(f"alert e-mails sent: {exc.sent}", file=sys.stderr)
            print(f"drift check {day}: alerts not delivered: {exc}", file=sys.stderr)
            return EXIT_UNDELIVERED
        print(f"alert e-mails sent: {sent}", file=sys.stderr)
    return 0


def _register_drift_check(sub: SubParsers) -> None:
    # Defaults of the schedule options are DriftCheckScheduler's keyword defaults.
    parser = add_subcommand(
        sub,
        "drift-check",
        cmd_drift_check,
        defaults=_drift_check_defaults,
        help="check a day's inputs for drift and e-mail an alert once",
        description="Sums the day's bins from ClickHouse, tests every feature against the "
        "reference (Benjamini-Hochberg corrected, with effect-size thresholds), writes "
        "drift_checks rows, and e-mails an alert when a feature drifted — once per day "
        "and model version. Then compares every challenger with its champion on the same "
        "records (model_comparisons rows). Exit code 3: the day is incomplete; 4: alerts "
        "stay undelivered (another delivery holds their partitions, or SMTP stayed down "
        "past --smtp-give-up).",
    )
    parser.add_argument(
        "--date", type=_iso_date, help="UTC day to check, YYYY-MM-DD (default: yesterday)"
    )
    parser.add_argument("--model-dir", type=Path, help="model directory (default $MODEL_DIR)")
    parser.add_argument(
        "--no-deliver",
        action="store_true",
        help="publish the alert to drift.alerts but do not e-mail it here",
    )
    parser.add_argument(
        "--smtp-give-up",
        dest="smtp_give_up_s",
        type=_positive_float,
        metavar="SECONDS",
        help="stop retrying an unreachable SMTP server after SECONDS: the alert stays pending "
        f"(the next run sends it once), exit code {EXIT_UNDELIVERED} (default: retry until "
        "SMTP is back; not with --schedule, which always retries)",
    )
    parser.add_argument(
        "--schedule",
        action="store_true",
        help="run forever: daily check per DRIFT_CHECK_SCHEDULE, rolling "
        "checks, alert delivery (run exactly one of these)",
    )
    parser.add_argument(
        "--rolling-every",
        dest="rolling_every_s",
        type=float,
        metavar="SECONDS",
        help="seconds between rolling 1 h / 24 h checks (with --schedule; default %(default)s)",
    )
    parser.add_argument(
        "--catch-up-days",
        type=int,
        help="days back to look for missed daily checks (with --schedule; default %(default)s)",
    )
    parser.add_argument(
        "--wait-complete",
        dest="wait_complete_s",
        type=float,
        metavar="SECONDS",
        help="wait this long for the day to be complete (worker and sink without lag, every "
        "score counted); still incomplete: nothing is written, exit code "
        f"{EXIT_INCOMPLETE} (default %(default)s)",
    )
    parser.add_argument(
        "--comparison-tolerance",
        type=_positive_float,
        metavar="ABS",
        help="regression challengers agree with the champion when |difference| <= ABS "
        "(default: 0.1 x the champion's reference score standard deviation)",
    )
