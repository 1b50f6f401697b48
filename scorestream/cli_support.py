"""What every ``scorestream`` subcommand shares: the parser class and option defaults.

Defaults of a subcommand come from the options class (or the function) that the handler
feeds, so that the CLI cannot drift from the library. Those classes live in modules that
import Faust, scikit-learn or FastAPI; :class:`CommandParser` therefore reads them only
when that subcommand is parsed or its help is printed, which keeps ``scorestream --help``
fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeAlias, TypeVar

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Registration = Callable[[SubParsers], None]
DefaultsSource = Callable[[], Mapping[str, Any]]
T = TypeVar("T")


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and whose defaults may load lazily.

    ``defaults`` is called once, before the first parse or help text, and its values become
    the defaults of the options with the same ``dest``. ``shown_defaults`` is called only
    for the help text: its values replace ``%(builtin)s`` in the help of the options with
    the same ``dest`` and are never applied (for options whose class reads the
    environment itself, where an argparse default would override it).
    """

    def __init__(
        self,
        *args: Any,
        defaults: DefaultsSource | None = None,
        shown_defaults: DefaultsSource | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._pending_defaults = defaults
        self._pending_shown_defaults = shown_defaults

    def load_defaults(self) -> None:
        """Apply the lazy defaults (idempotent)."""
        source, self._pending_defaults = self._pending_defaults, None
        if source is None:
            return
        dests = {action.dest for action in self._actions}
        # Only options this parser has: other fields of the options class are not CLI flags.
        self.set_defaults(**{name: value for name, value in source().items() if name in dests})

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.load_defaults()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self.load_defaults()
        self._show_defaults()
        return super().format_help()

    def _show_defaults(self) -> None:
        source, self._pending_shown_defaults = self._pending_shown_defaults, None
        if source is None:
            return
        values = source()
        for action in self._actions:
            if action.dest in values and action.help:
                # Escaped: argparse %-formats the help text afterwards.
                shown = str(values[action.dest]).replace("%", "%%")
                action.help = action.help.replace("%(builtin)s", shown)

    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block first; one line says the same and is
        # what a user (or a log line) needs. ``--help`` still shows the usage.
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def option_defaults(source: Any) -> dict[str, Any]:
    """The field defaults of a dataclass or pydantic model, or a callable's keyword defaults.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Options:
    ...     size: int
    ...     rate: float = 1.5
    >>> option_defaults(Options)
    {'rate': 1.5}
    >>> def train(data, *, seed=0, name="model"): ...
    >>> option_defaults(train)
    {'seed': 0, 'name': 'model'}
    """
    if isinstance(source, type) and dataclasses.is_dataclass(source):
        defaults: dict[str, Any] = {}
        for field in dataclasses.fields(source):
            if field.default is not dataclasses.MISSING:
                defaults[field.name] = field.default
            elif field.default_factory is not dataclasses.MISSING:
                defaults[field.name] = field.default_factory()
        return defaults
    model_fields = getattr(source, "model_fields", None)
    if isinstance(source, type) and isinstance(model_fields, dict):  # a pydantic model
        return {
            name: info.get_default(call_default_factory=True)
            for name, info in model_fields.items()
            if not info.is_required()
        }
    return {
        name: parameter.default
        for name, parameter in inspect.signature(source).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def options_from_args(cls: Callable[..., T], args: argparse.Namespace) -> T:
    """``cls`` built from the parsed options named like its fields (the rest keep defaults)."""
    given = vars(args)
    return cls(**{name: given[name] for name in option_defaults(cls) if name in given})


def add_subcommand(
    sub: SubParsers, name: str, handler: Callable[[argparse.Namespace], int], **kwargs: Any
) -> argparse.ArgumentParser:
    """``sub.add_parser(name, **kwargs)`` that runs ``handler``; ``defaults=`` may be lazy."""
    parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(handler=handler)
    return parser


def session_timeout(text: str) -> float:
    """``--session-timeout``: seconds within the broker's default bounds (6 s to 30 min)."""
    from scorestream.membership import MAX_SESSION_TIMEOUT_S, MIN_SESSION_TIMEOUT_S

    value = float(text)
    if not MIN_SESSION_TIMEOUT_S <= value <= MAX_SESSION_TIMEOUT_S:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_SESSION_TIMEOUT_S:.0f} and {MAX_SESSION_TIMEOUT_S:.0f} "
            "seconds (the broker's group.min/max.session.timeout.ms)"
        )
    return value


def add_membership_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--instance-id`` and ``--session-timeout`` of a consumer group member (``what``)."""
    parser.add_argument(
        "--instance-id",
        help=f"static group membership id: a restarted {what} with the same id gets its "
        "partitions back at once, without a rebalance; unique among the group's live "
        "members (default: <hostname>-<slot>, the lowest slot no live process of the "
        "group on this host holds)",
    )
    parser.add_argument(
        "--session-timeout",
        dest="session_timeout_s",
        type=session_timeout,
        metavar="SECONDS",
        help=f"a {what} silent this long leaves the group and its partitions move to the "
        "others; a restart with the same instance id within it moves nothing "
        "(default %(default)s)",
    )
