"""``scorestream thresholds``: the drift and performance thresholds in force, as a file.

The output is a complete thresholds file (TOML), so it doubles as the template to edit;
with a mistake in the file it says which, in one line, and exits 2, as every process that
reads the settings would. ``make dashboards`` runs it first for that reason.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from scorestream.cli_support import SubParsers, add_subcommand


def cmd_thresholds(args: argparse.Namespace) -> int:
    from scorestream.contract.thresholds import THRESHOLDS_VARIABLE, load_thresholds, to_toml

    path = args.file if args.file is not None else os.environ.get(THRESHOLDS_VARIABLE) or None
    thresholds = load_thresholds(path)
    source = f"{path} over the defaults" if path else f"the defaults ({THRESHOLDS_VARIABLE} unset)"
    print(f"# scorestream thresholds: {source}")
    print(to_toml(thresholds), end="")
    return 0


def register(sub: SubParsers) -> None:
    """Add ``thresholds`` to the ``scorestream`` subcommands."""
    parser = add_subcommand(
        sub,
        "thresholds",
        cmd_thresholds,
        help="print the drift and performance thresholds in force (a thresholds file)",
        description="Prints every threshold of the daily drift check and the performance "
        "verdict as TOML: the defaults, overridden by the file $SCORESTREAM_THRESHOLDS names. "
        "Save the output, edit it, point SCORESTREAM_THRESHOLDS at it, and run `make "
        "dashboards` so that Grafana colours with the same values.",
    )
    parser.add_argument(
        "--file",
        type=Path,
        help="check and print this file instead (default $SCORESTREAM_THRESHOLDS)",
    )
