"""The ``scorestream`` command line: one subcommand per job of the system.

Each area registers its own subcommands (``streams/cli.py``, ``producers/cli.py``,
``consumers/cli.py``); this module wires them, owns ``stack`` and ``demo``, and turns a
user's mistake into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorestream.cli_support import (
    CommandParser,
    Registration,
    SubParsers,
    add_subcommand,
    option_defaults,
    options_from_args,
)
from scorestream.exceptions import ScorestreamError
from scorestream.log_limit import limit_repeats

if TYPE_CHECKING:
    from scorestream.stack.config import StackConfig

Handler = Callable[[argparse.Namespace], int]

#: Exit code of every user mistake, as argparse uses for its own.
USAGE_ERROR = 2


# --- stack ---------------------------------------------------------------------------------
def _stack_config(args: argparse.Namespace) -> StackConfig:
    from scorestream.stack.config import StackConfig

    # Only what was given: the rest comes from SCORESTREAM_* variables or StackConfig.
    overrides = {
        key: value
        for key, value in {
            "kafka_port": args.kafka_port,
            "clickhouse_port": args.clickhouse_port,
            "smtp_port": args.smtp_port,
            "state_dir": args.state_dir,
            "kafka_brokers": args.kafka_brokers,
            "clickhouse_replicas": args.clickhouse_replicas,
        }.items()
        if value is not None
    }
    return StackConfig(**overrides)


def cmd_stack(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from scorestream.exceptions import StackError
    from scorestream.stack import LocalStack

    stack = LocalStack(_stack_config(args))
    err = Console(stderr=True)
    if args.action == "up":
        others = stack.other_kafka()
        if others:
            raise StackError(
                f"{others[0].name} of another Kafka layout runs (port {others[0].port}); "
                "run `scorestream stack down` first"
            )
        # The nodes of a cluster start together: none is healthy before a majority runs.
        launched = {n.name for n in stack.kafka_cluster.launch()} if stack.kafka_cluster else set()
        for service in stack.services:
            if service.name in launched:
                with err.status(f"starting {service.name} …"):
                    service.wait_healthy()
                err.print(
                    f"[green]✓[/] {service.name} started (pid {service.running().pid}, "  # type: ignore[union-attr]
                    f"port {service.port})"
                )
                continue
            record = service.running()
            if record is not None:
                err.print(
                    f"[green]✓[/] {service.name} already running (pid {record.pid}, "
                    f"port {service.port})"
                )
                continue
            with err.status(f"starting {service.name} …"):
                service.start()
            err.print(
                f"[green]✓[/] {service.name} started (pid {service.running().pid}, "  # type: ignore[union-attr]
                f"port {service.port})"
            )
        database = stack.clickhouse.create_database()
        err.print(f"[green]✓[/] clickhouse database {database} exists (CLICKHOUSE_URL)")
        for name, value in stack.env().items():
            print(f"export {name}={value}")
        return 0
    if args.action == "down":
        nodes = stack.kafka_cluster.nodes if stack.kafka_cluster else []
        for service in [*reversed(stack.services), *stack.other_kafka()]:
            if service in nodes:
                continue
            stopped = service.stop()
            err.print(f"{service.name}: {'stopped' if stopped else 'was not running'}")
        if stack.kafka_cluster is not None:
            # All at once: the last node alone would wait for a quorum that is gone.
            with err.status("stopping the Kafka nodes …"):
                ran = stack.kafka_cluster.stop()
            for node in nodes:
                err.print(f"{node.name}: {'stopped' if node in ran else 'was not running'}")
        return 0
    table = Table(title="scorestream local stack")
    for column in ("service", "state", "version", "port", "pid", "detail"):
        table.add_column(column)
    healthy = True
    for health in stack.status():
        healthy &= health.state == "running"
        colour = {"running": "green", "stopped": "yellow"}.get(health.state, "red")
        table.add_row(
            health.name,
            f"[{colour}]{health.state}[/]",
            health.version,
            str(health.port),
            str(health.pid or "-"),
            health.detail,
        )
    Console().print(table)
    return 0 if healthy else 3


def _stack_defaults() -> Mapping[str, Any]:
    from scorestream.stack.config import StackConfig  # pydantic: only for the help text

    return option_defaults(StackConfig)


def _register_stack(sub: SubParsers) -> None:
    # No argparse defaults here: a flag left out must not hide a SCORESTREAM_* variable.
    stack = add_subcommand(
        sub,
        "stack",
        cmd_stack,
        shown_defaults=_stack_defaults,
        help="start, stop or inspect the local Kafka, ClickHouse and SMTP servers",
        description="The local stack without Docker. `up` prints eval-able export lines.",
    )
    stack.add_argument(
        "action",
        choices=["up", "down", "status"],
        help="up: start what is not running and print export lines; down: stop what up "
        "started; status: one line per service (exit 3 unless all are healthy)",
    )
    for flag, field, what in (
        ("--kafka-port", "kafka_port", "Kafka client port"),
        ("--clickhouse-port", "clickhouse_port", "ClickHouse native port"),
        ("--smtp-port", "smtp_port", "SMTP port"),
    ):
        stack.add_argument(
            flag,
            type=int,
            help=f"{what} (default $SCORESTREAM_{field.upper()} or %(builtin)s)",
        )
    stack.add_argument(
        "--kafka-brokers",
        type=int,
        choices=range(1, 10),
        metavar="N",
        help="1: one Kafka broker; 3: a KRaft cluster of three nodes on the next ports "
        "(+10, +20), topics replicated 3 times, min.insync.replicas 2 "
        "(default $SCORESTREAM_KAFKA_BROKERS, the cluster formatted in the state directory, "
        "or %(builtin)s)",
    )
    stack.add_argument(
        "--clickhouse-replicas",
        type=int,
        help="N > 0: ZooKeeper and N ClickHouse replicas of one shard (cluster "
        "$SCORESTREAM_CLICKHOUSE_CLUSTER or scorestream) instead of one server; replica n "
        "listens on the ClickHouse ports + 10 * (n - 1) (default "
        "$SCORESTREAM_CLICKHOUSE_REPLICAS or %(builtin)s)",
    )
    stack.add_argument(
        "--state-dir",
        help="where data, logs and pids live (default $SCORESTREAM_STATE_DIR or %(builtin)s)",
    )


# --- demo ----------------------------------------------------------------------------------
def _demo_defaults() -> Mapping[str, Any]:
    from scorestream.demo import DemoOptions

    return option_defaults(DemoOptions)


def cmd_demo(args: argparse.Namespace) -> int:
    from scorestream.demo import DemoOptions, main_demo

    return main_demo(options_from_args(DemoOptions, args))


def _register_demo(sub: SubParsers) -> None:
    parser = add_subcommand(
        sub,
        "demo",
        cmd_demo,
        defaults=_demo_defaults,
        help="the whole system on the local stack, ending with a drift e-mail",
        description="Starts the local stack, trains the demo model, runs a worker and a sink, "
        "produces two days of records (the second drifted), checks both days and prints the "
        "path of the alert e-mail the local SMTP server caught.",
    )
    parser.add_argument(
        "--records-per-day", type=int, help="records produced per day (default %(default)s)"
    )
    parser.add_argument(
        "--drift", help="drift of the second day, as produce --drift (default %(default)s)"
    )
    parser.add_argument(
        "--model-dir", type=Path, help="where the demo model is trained (default %(default)s)"
    )


# --- the parser and main -------------------------------------------------------------------
def _registrations() -> list[Registration]:
    # The areas' cli modules import only argparse-level code; their handlers import the
    # heavy libraries when they run, so that `scorestream --help` stays fast.
    from scorestream.consumers import cli as consumers_cli
    from scorestream.consumers import thresholds_cli
    from scorestream.producers import cli as producers_cli
    from scorestream.streams import cli as streams_cli
    from scorestream.streams import models_cli

    return [
        _register_stack,
        streams_cli.register,
        models_cli.register,
        producers_cli.register,
        consumers_cli.register,
        thresholds_cli.register,
        _register_demo,
    ]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scorestream")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version, read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = CommandParser(
        prog="scorestream",
        description="Score records with an ML model on a Kafka stream, store results in "
        "ClickHouse and watch the inputs for drift. A mistake in a command line, a setting "
        "or an input file is reported in one line on stderr, with exit code 2.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the installed version and exit"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrations():
        register(sub)
    return parser


def user_error(exc: BaseException) -> str | None:
    """The one-line message for a mistake of the user's; None for anything else (a bug)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):  # Settings read from the environment
        return "; ".join(_validation_message(error) for error in exc.errors(include_url=False))
    if isinstance(exc, ScorestreamError):
        message = str(exc)
    elif isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
    else:
        return None
    # One line, whatever the message holds (a stack error quotes a program's output).
    return " ".join(message.split()) or type(exc).__name__


def _validation_message(error: Mapping[str, Any]) -> str:
    # The variable's name, then the reason; never the value, which may be a secret.
    variable = str(error["loc"][0]).upper() if error["loc"] else ""
    cause = error.get("ctx", {}).get("error")
    reason = str(cause) if isinstance(cause, ValueError) else str(error["msg"])
    reason = " ".join(reason.split())
    return reason if not variable or reason.startswith(variable) else f"{variable}: {reason}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The Kafka clients narrate every connection at INFO and warn about slow event-loop
    # turns and missing metadata while topics are created; errors are what matter.
    for chatty in ("kafka", "aiokafka"):
        logging.getLogger(chatty).setLevel(logging.WARNING if args.verbose else logging.ERROR)
    # An outage repeats the same error many times a second: one line per interval, counted.
    limit_repeats()
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = user_error(exc)
        # SCORESTREAM_DEBUG=1 shows the traceback of a mistake too (bugs always show one).
        if message is None or os.environ.get("SCORESTREAM_DEBUG", "") not in ("", "0"):
            raise
        print(f"scorestream {args.command}: error: {message}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
