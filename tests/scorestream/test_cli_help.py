"""``scorestream ... --help`` explains every flag, and says what the README says.

The parser is walked in process (the help text is what argparse would print): every option
and positional argument of every subcommand, nested ones (``models promote``) included,
must say what it is, not only its default.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

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


# --- worker --engine and the README ---------------------------------------------------------
README = Path(__file__).resolve().parents[2] / "README.md"


def _plain(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def readme_engines() -> dict[str, tuple[bool, str]]:
    """``--engine`` entries of the README's worker section: name -> (default?, text)."""
    section = README.read_text().split("## The scoring worker", 1)[1].split("\n## ", 1)[0]
    entries = re.findall(
        r"^- `--engine (\w+)`( \(default\))?: (.*?)(?=^- |^$)", section, re.M | re.S
    )
    return {name: (bool(default), _plain(text)) for name, default, text in entries}


def readme_records_per_s() -> dict[str, int]:
    """The engines' records/s in the README's benchmark table of the worker."""
    rows = re.findall(
        r"^\| `--engine (\w+)`[^|]*\| [\d,]+ \| ([\d,]+) \|", README.read_text(), re.M
    )
    return {name: int(rate.replace(",", "")) for name, rate in rows}


def test_worker_engine_help_says_what_the_readme_says() -> None:
    from scorestream.streams.app import WorkerOptions
    from scorestream.streams.cli import ENGINES

    parser = build_parser()
    worker = next(
        action.choices["worker"]
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    help_text = worker.format_help()  # also loads the lazy defaults
    engine = next(a for a in worker._actions if a.dest == "engine")
    assert list(engine.choices or []) == list(ENGINES)
    for name, what in ENGINES.items():
        assert _plain(f"{name}: {what}") in _plain(help_text)

    documented = readme_engines()
    assert set(documented) == set(ENGINES)
    for name, (_, text) in documented.items():
        assert text.startswith(_plain(ENGINES[name])), (name, text)
    # One default, the same in the README, the help and the options the worker runs with.
    (readme_default,) = [name for name, (default, _) in documented.items() if default]
    assert readme_default == engine.default == WorkerOptions().engine
    assert f"(default {readme_default};" in _plain(help_text)


def test_the_engine_called_slower_is_slower_in_the_readme_benchmark() -> None:
    from scorestream.streams.cli import ENGINES

    rates = readme_records_per_s()
    assert set(rates) == set(ENGINES)
    slower = [name for name, what in ENGINES.items() if "slower" in what]
    assert slower == ["faust"]
    assert rates["faust"] < rates["agent"]
