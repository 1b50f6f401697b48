"""The ``scorestream`` command line: one subcommand per job of the system."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from scorestream.exceptions import ScorestreamError
from scorestream.stack.config import StackConfig

Handler = Callable[[argparse.Namespace], int]


def _stack_config(args: argparse.Namespace) -> StackConfig:

    overrides = {
        key: value
        for key, value in {
            "kafka_port": args.kafka_port,
            "clickhouse_port": args.clickhouse_port,
            "smtp_port": args.smtp_port,
            "state_dir": args.state_dir,
        }.items()
        if value is not None
    }
    return StackConfig(**overrides)


def cmd_stack(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from scorestream.stack import LocalStack

    stack = LocalStack(_stack_config(args))
    err = Console(stderr=True)
    if args.action == "up":
        for service in stack.services:
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
        for name, value in stack.env().items():
            print(f"export {name}={value}")
        return 0
    if args.action == "down":
        for service in reversed(stack.services):
            stopped = service.stop()
            err.print(f"{service.name}: {'stopped' if stopped else 'was not running'}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorestream",
        description="Score records with an ML model on a Kafka stream, store results in "
        "ClickHouse and watch the inputs for drift.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stack = sub.add_parser(
        "stack",
        help="start, stop or inspect the local Kafka, ClickHouse and SMTP servers",
        description="The local stack without Docker. `up` prints eval-able export lines.",
    )
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument("--kafka-port", type=int, help="Kafka client port (default 19092)")
    stack.add_argument("--clickhouse-port", type=int, help="ClickHouse native port (default 19000)")
    stack.add_argument("--smtp-port", type=int, help="SMTP port (default 18025)")
    stack.add_argument("--state-dir", help="where data, logs and pids live (default .stack)")
    stack.set_defaults(handler=cmd_stack)

    for register in _registrations():
        register(sub)
    return parser


def _registrations() -> list[Callable[[argparse._SubParsersAction], None]]:
    # Each area of the system adds its own subcommands; imports stay lazy so that
    # `scorestream --help` does not load scikit-learn or Faust.
    from scorestream import commands

    return commands.REGISTRATIONS


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
    handler: Handler = args.handler
    try:
        return handler(args)
    except ScorestreamError as exc:
        print(f"scorestream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
