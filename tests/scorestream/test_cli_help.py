"""``scorestream ... --help`` explains every flag, and says what the README says.

The parser is walked in process (the help text is what argparse would print): every option
and positional argument of every subcommand, nested ones (``models promote``) included,
must say what it is, not only its default.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from scorestream.cli import build_parser

#: Placeholders and "(default ...)" clauses: what is left must still say something.
PLACEHOLDER = re.compile(r"%\(\w+\)s")
DEFAULT_CLAUSE = re.compile(r"\(?\bdefault:? [^()]*\)?")


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[str, argparse.Action]]:
    """(command path, action) of every argument under ``parser``, subcommands included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))
        elif not isinstance(action, argparse._HelpAction):
            yield " ".join(path), action


def explanation(help_text: str | None) -> str:
    """``help_text`` without its placeholders and default clauses.

    >>> explanation("(default %(default)s)")
    ''
    >>> explanation("default $MODELS_DIR")
    ''
    >>> explanation("records per batch (1 = per-record scoring; default %(default)s)")
    'records per batch (1 = per-record scoring'
    """
    if not help_text or help_text == argparse.SUPPRESS:
        return ""
    without = DEFAULT_CLAUSE.sub("", PLACEHOLDER.sub("X", help_text))
    return without.strip(" ;,.()")


ARGUMENTS = list(walk(build_parser(), ("scorestream",)))


def test_the_walk_reaches_nested_subcommands_and_positionals() -> None:
    seen = {(command, action.dest) for command, action in ARGUMENTS}
    assert ("scorestream models promote", "version") in seen
    assert ("scorestream stack", "action") in seen
    assert ("scorestream worker", "engine") in seen
    assert len(ARGUMENTS) > 80


@pytest.mark.parametrize(
    ("command", "action"),
    ARGUMENTS,
    ids=[f"{command} {'/'.join(a.option_strings) or a.dest}" for command, a in ARGUMENTS],
)
def test_every_argument_has_a_help_text(command: str, action: argparse.Action) -> None:
    words = re.findall(r"[A-Za-z]{2,}", explanation(action.help))
    assert len(words) >= 2, f"{command} {action.option_strings or action.dest}: {action.help!r}"
