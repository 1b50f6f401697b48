"""Expand a panel's SQL the way Grafana and the ClickHouse plugin do before it runs.

Three passes, in the plugin's order (``CHDatasource.applyTemplateVariables`` in the
browser, then ``sqlds`` in the plugin backend):

1. ``$__conditionalAll(condition, $var)`` becomes ``1=1`` when ``var`` is *All* (or empty),
   else ``condition`` (the plugin's ``applyConditionalAll``, with its bracket-counting
   argument parser).
2. Template variables ``$var``, ``${var}``, ``${var:format}`` and ``[[var]]`` are replaced
   (Grafana's ``templateSrv.replace`` with the plugin's formatter: a list becomes
   ``'a','b'``, a single value is inserted as it is, neither escaped; an explicit
   ``:format`` uses Grafana's formatter of that name, see :func:`_format`). Unknown names
   stay as they are, like Grafana leaves them.
3. Backend macros (``pkg/macros/macros.go`` of grafana/clickhouse-datasource on the sqlds
   regex ``\\$__name\\b(?:\\((.*?)\\))?``): ``$__timeFilter(c)``, ``$__timeInterval(c)``,
   ``$__interval_s``, ``$__fromTime``, ``$__toTime`` and their ``_ms`` forms.

Because the sqlds regex stops at the first ``)``, a macro argument with parentheses would
be cut short in Grafana; :func:`expand_macros` refuses such an argument instead of
silently producing SQL that Grafana would not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

ALL = "$__all"
VariableValue = str | Sequence[str]


@dataclass(frozen=True)
class QueryContext:
    """What Grafana sends with a query: time range, interval and variable values."""

    time_from: datetime
    time_to: datetime
    interval_s: int
    variables: Mapping[str, VariableValue]
    #: All options of each variable, used when a variable is set to All.
    options: Mapping[str, Sequence[str]] | None = None


# --- 1. $__conditionalAll ----------------------------------------------------------------
def _macro_args(query: str, open_index: int) -> list[str]:
    """Arguments of the call whose '(' is at ``open_index`` (the plugin's getMacroArgs)."""
    args: list[str] = []
    depth = 0
    last = open_index + 1
    for match in re.finditer(r"[(),]", query[open_index:]):
        char, at = match.group(), open_index + match.start()
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 1:
            args.append(query[last:at])
            last = at + 1
        if depth == 0:
            args.append(query[last:at])
            return args
    return []


def _is_all(value: VariableValue | None) -> bool:
    if value is None:
        return False
    text = value if isinstance(value, str) else ",".join(value)
    return text in ("", ALL)


def apply_conditional_all(query: str, variables: Mapping[str, VariableValue]) -> str:
    """Replace each ``$__conditionalAll(condition, $var)``, innermost-last like the plugin.

    >>> apply_conditional_all("WHERE $__conditionalAll(f IN ($f), $f)", {"f": "$__all"})
    'WHERE 1=1'
    >>> apply_conditional_all("WHERE $__conditionalAll(f IN ($f), ${f})", {"f": ["a"]})
    'WHERE f IN ($f)'
    """
    macro = "$__conditionalAll("
    index = query.rfind(macro)
    while index != -1:
        params = _macro_args(query, index + len(macro) - 1)
        if len(params) != 2:
            return query
        phrase = params[0]
        name = re.search(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+", params[1].strip())
        if name and _is_all(variables.get(name.group())):
            phrase = "1=1"
        query = query.replace(f"{macro}{params[0]},{params[1]})", phrase)
        index = query.rfind(macro)
    return query


# --- 2. template variables ---------------------------------------------------------------
# Grafana's variable regex: $name, [[name:format]], ${name.fieldPath:format}.
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)


def _encode_uri_component_strict(text: str) -> str:
    # JavaScript's encodeURIComponent (UTF-8, upper-case hex, leaves A-Z a-z 0-9 -_.!~*'())
    # followed by Grafana's replacement of !'()* by %XX: only A-Z a-z 0-9 -_.~ and %XX stay.
    return quote(text, safe="-_.~")


def _format(value: VariableValue, fmt: str | None) -> str:
    r"""Grafana 12's formatters (``formatRegistry`` of @grafana/scenes) for ``${var:fmt}``.

    ``value`` is a string for a single-value variable and a list for a multi-value one, as
    in Grafana: some formats (percentencode) differ between a string and a list of one.

    >>> _format("it's", "sqlstring"), _format(["a", "b"], "singlequote")
    ("'it''s'", "'a','b'")
    >>> _format("x' OR 1=1 --\\", "percentencode"), _format(["a b", "c"], "percentencode")
    ('x%27%20OR%201%3D1%20--%5C', '%7Ba%20b%2Cc%7D')
    """
    values = [value] if isinstance(value, str) else list(value)
    if fmt == "percentencode":
        text = value if isinstance(value, str) else "{" + ",".join(values) + "}"
        return _encode_uri_component_strict(text)
    if fmt == "singlequote":  # ' escaped with a backslash; a backslash is left as it is
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "sqlstring":  # ' doubled, " escaped with a backslash; a backslash left as is
        return ",".join("'" + v.replace("'", "''").replace('"', '\\"') + "'" for v in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt in (None, "raw"):
        # The ClickHouse plugin's own formatter (CHDatasource.format): no escaping at all.
        return "'" + "','".join(values) + "'" if len(values) > 1 else values[0]
    raise ValueError(f"variable format {fmt!r} is not supported by this expansion")


def replace_variables(query: str, context: QueryContext) -> str:
    """Substitute template variables like Grafana's templateSrv.replace.

    >>> ctx = QueryContext(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
    ...                    60, {"f": ["a", "b"], "w": "daily"})
    >>> replace_variables("x IN (${f:singlequote}) AND k = '$w' AND $__timeFilter(t)", ctx)
    "x IN ('a','b') AND k = 'daily' AND $__timeFilter(t)"
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name not in context.variables:
            return match.group(0)
        value = context.variables[name]
        if (value if isinstance(value, str) else list(value)) in (ALL, [ALL]):
            value = list((context.options or {}).get(name, []))
            if not value:
                raise ValueError(f"variable {name} is All but has no options")
        return _format(value, fmt)

    return _VARIABLE.sub(substitute, query)


# --- 3. backend macros -------------------------------------------------------------------
def _epoch(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


def _date_time(moment: datetime) -> str:
    return f"toDateTime({_epoch(moment)})"


def _date_time64(moment: datetime) -> str:
    return f"fromUnixTimestamp64Milli({_epoch(moment) * 1000})"


def _one_arg(name: str, args: list[str]) -> str:
    if len(args) != 1 or not args[0]:
        raise ValueError(f"$__{name} expects 1 argument, got {args}")
    return args[0]


def expand_macros(query: str, context: QueryContext) -> str:
    """Expand the plugin's backend macros.

    >>> ctx = QueryContext(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC),
    ...                    300, {})
    >>> expand_macros("SELECT $__timeInterval(t) WHERE $__timeFilter(t)", ctx)
    'SELECT toStartOfInterval(toDateTime(t), INTERVAL 300 second) WHERE t >= toDateTime(1767225600) AND t <= toDateTime(1767229200)'
    """  # noqa: E501
    seconds = max(context.interval_s, 1)
    frm, to = context.time_from, context.time_to
    macros = {
        "fromTime": lambda a: _date_time(frm),
        "toTime": lambda a: _date_time(to),
        "fromTime_ms": lambda a: _date_time64(frm),
        "toTime_ms": lambda a: _date_time64(to),
        "timeFilter": lambda a: (lambda c: f"{c} >= {_date_time(frm)} AND {c} <= {_date_time(to)}")(
            _one_arg("timeFilter", a)
        ),
        "timeFilter_ms": lambda a: (
            lambda c: f"{c} >= {_date_time64(frm)} AND {c} <= {_date_time64(to)}"
        )(_one_arg("timeFilter_ms", a)),
        "timeInterval": lambda a: (
            f"toStartOfInterval(toDateTime({_one_arg('timeInterval', a)}), "
            f"INTERVAL {seconds} second)"
        ),
        "interval_s": lambda a: str(seconds),
    }
    for name, expand in macros.items():
        pattern = re.compile(rf"\$__{name}\b(?:\((.*?)\))?")
        for match in pattern.finditer(query):
            raw = match.group(1)
            if raw is not None and "(" in raw:
                raise ValueError(
                    f"$__{name}({raw}...): sqlds cuts a macro argument at the "
                    "first ')'; use a plain column"
                )
            args = [part.strip() for part in (raw or "").split(",")]
            query = query.replace(match.group(0), expand(args))
    return query


def expand(query: str, context: QueryContext) -> str:
    """All three passes; raises if a ``$`` placeholder survives them."""
    expanded = expand_macros(
        replace_variables(apply_conditional_all(query, context.variables), context), context
    )
    leftover = re.search(r"\$\{?\w+", expanded)
    if leftover:
        raise ValueError(f"unexpanded placeholder {leftover.group()!r} in:\n{expanded}")
    return expanded
