"""The ``scorestream sink`` subcommand."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def cmd_sink(args: argparse.Namespace) -> int:
    from scorestream.consumers.sink import SinkOptions, run_sink
    from scorestream.settings import Settings

    options = SinkOptions(
        batch_size=args.batch_size,
        flush_interval_s=args.flush_interval,
        once=args.once,
        group_id=args.group_id,
        instance_id=args.instance_id,
        backoff_max_s=args.max_backoff,
    )
    # The driver logs every refused connection with a traceback; the sink's own warning
    # (with the retry count and delay) says the same in one line.
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)
    stats = run_sink(Settings(), options)
    rows = ", ".join(f"{table} {count}" for table, count in sorted(stats.rows.items()))
    log.info(
        "sink stopped: %d messages, %d flushes, rows: %s, %d rejected by the sink",
        stats.messages,
        stats.flushes,
        rows or "none",
        stats.rejected,
    )
    return 0


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


def register_sink(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sink`` to the ``scorestream`` subcommands."""
    parser = sub.add_parser(
        "sink",
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
        default=20_000,
        help="rows per insert and topic (default 20000)",
    )
    parser.add_argument(
        "--flush-interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="flush a topic at least this often (default 1)",
    )
    parser.add_argument(
        "--max-backoff",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="longest wait between retries while ClickHouse is down (default 30)",
    )
    parser.add_argument("--group-id", help="consumer group (default <prefix>scorestream-sink)")
    parser.add_argument(
        "--instance-id",
        help="static group membership id: a restarted sink with the same id "
        "gets its partitions back at once, without a rebalance; unique per sink",
    )
    parser.set_defaults(handler=cmd_sink)
