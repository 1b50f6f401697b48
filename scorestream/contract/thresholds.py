"""The thresholds of the daily check, and the file that changes them without editing code.

``SCORESTREAM_THRESHOLDS=thresholds.toml`` names a TOML file of up to two tables. Every key
is optional (absent: the default); ``scorestream thresholds`` prints the values in force, in
this format, so its output is a template::

    [drift]            # DriftThresholds, below
    alpha = 0.01
    psi_warn = 0.1
    psi_alert = 0.25

    [performance]      # PerformanceThresholds, below
    min_labels = 500

The daily drift check and the performance verdict (``drift-check``, also ``--schedule``)
decide with these values, and the Grafana dashboards colour PSI and Jensen-Shannon with the
same ones: ``make dashboards`` (``python -m scorestream.grafana.build``) reads the same
variable, so a changed file needs ``make dashboards`` too. A mistake in the file (unknown key,
wrong type, a warning threshold above its alert threshold) stops every process that reads
the settings at start-up: one line on stderr, exit code 2.

:class:`DriftThresholds` is also importable from :mod:`scorestream.streams.drift.decision`,
which decides with it; it lives here so that reading a file needs neither numpy nor scipy.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scorestream.exceptions import ConfigurationError
from scorestream.settings import THRESHOLDS_VARIABLE

__all__ = [
    "EFFECT_SIZES",
    "THRESHOLDS_VARIABLE",
    "DriftThresholds",
    "PerformanceThresholds",
    "Thresholds",
    "load_thresholds",
    "to_toml",
]


#: The effect sizes with a ``<name>_warn`` and ``<name>_alert`` gate in :class:`DriftThresholds`.
EFFECT_SIZES = (
    "psi",
    "js",
    "wasserstein",
    "missing_rate",
    "other_share",
    "out_of_range",
    "mean_shift",
    "unseen_share",
)


@dataclass(frozen=True)
class DriftThresholds:
    """Significance level and effect-size thresholds of a drift check.

    The defaults are tuned (and tested, in ``tests/streams/drift/test_drift_decision.py``)
    so that, on daily windows of 100,000 records against a 50,000-row reference with 10
    quantile bins, a 0.5-std mean shift or a 20-point move of one category's share is a
    *drift*, while a 0.25-std shift or a 10-point move is at most a *warning*. For
    reference, with 10 quantile bins a normal mean shift of 0.25 / 0.5 std gives PSI
    0.06 / 0.24, Jensen-Shannon 0.10 / 0.20 and Wasserstein 0.25 / 0.5; moving 10 / 20
    points into one category gives Jensen-Shannon 0.09-0.12 / 0.17-0.22 for categories
    holding 10-35 % (rare categories react more: +10 points on a 2 % category, a six-fold
    rise, reaches 0.18 and is a drift).

    Parameters
    ----------
    alpha
        Significance level of the Benjamini-Hochberg adjusted p-values. With no drift at
        all it bounds the chance that any feature is significant on a given check.
    psi_warn, psi_alert
        Population stability index thresholds; 0.1 and 0.2 are the industry convention
        for a moderate and a major shift.
    js_warn, js_alert
        Jensen-Shannon distance (base 2) thresholds. The distance is about the share of
        mass that moved, so 0.15 reads "roughly 15 % of the records changed bins". This
        is what catches a 20-point move between two common categories, whose PSI (0.16)
        stays under ``psi_alert``.
    wasserstein_warn, wasserstein_alert
        Wasserstein-1 thresholds in reference standard deviations (numeric features).
        The estimate is exact for mean shifts of light-tailed shapes but reads changes of
        scale low (see :mod:`~scorestream.streams.drift.wasserstein_estimate`), hence 0.35
        for a 0.5-std target.
    missing_rate_warn, missing_rate_alert
        Thresholds on the absolute change of a numeric feature's missing rate (tested
        with its own p-value in the same correction).
    other_share_warn, other_share_alert
        Thresholds on the growth of a categorical feature's *other* share (values outside
        the reference's kept categories), in share points, graded with the feature's
        chi-square test; see :func:`other_share_growth`. A new value taking 10 % of a
        high-cardinality feature takes a little from each of dozens of categories and
        moves Jensen-Shannon only to about 0.04, while *other* grows by 10 points times
        the kept categories' share (6.9 points when they hold 69 %, 2.5 at 25 %). With
        an *unseen* bin such values are graded by ``unseen_share_*`` instead (all 10
        points), and *other* holds only the reference's own rarer values; profiles saved
        without that bin count new values here.
    out_of_range_warn, out_of_range_alert
        Thresholds on the share of a numeric feature's current values beyond the
        reference's min/max (records rejected as beyond the allowed range included),
        graded with its own beta-binomial test (``FeatureDrift.out_of_range_pvalue``). The
        reference holds none by construction and an i.i.d. day about ``2 / N`` of them, so
        0.5 % is a tail that grew past anything the model saw; the folded outer bins of PSI
        and Jensen-Shannon cannot see it (the top 5 % moved by +3 sd puts ~5 % there).
    mean_shift_warn, mean_shift_alert
        Thresholds on ``|cur_mean - ref_mean| / ref_std`` of a numeric feature, graded with
        its own z-test (``FeatureDrift.mean_pvalue``): a mean far beyond its standard error
        is a drift even when the bins barely move (a few records multiplied by 100). The
        same values as Wasserstein, which equals the mean difference for a pure shift; the
        practical size keeps a million-record day from flagging a 0.01-sd wobble.
    unseen_share_warn, unseen_share_alert
        Thresholds on the growth of a categorical feature's share of values the reference
        never had, over what an i.i.d. day holds (Good-Turing), graded with its own test
        (``FeatureDrift.unseen_pvalue``). A new value at 10 % of traffic is 10 points here
        however much of the reference *other* already held.
    """

    alpha: float = 0.01
    psi_warn: float = 0.1
    psi_alert: float = 0.2
    js_warn: float = 0.075
    js_alert: float = 0.15
    wasserstein_warn: float = 0.15
    wasserstein_alert: float = 0.35
    missing_rate_warn: float = 0.05
    missing_rate_alert: float = 0.10
    other_share_warn: float = 0.025
    other_share_alert: float = 0.05
    out_of_range_warn: float = 0.005
    out_of_range_alert: float = 0.01
    mean_shift_warn: float = 0.15
    mean_shift_alert: float = 0.35
    unseen_share_warn: float = 0.025
    unseen_share_alert: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        for name in EFFECT_SIZES:
            warn, alert = getattr(self, f"{name}_warn"), getattr(self, f"{name}_alert")
            if not 0 <= warn <= alert:
                raise ValueError(f"need 0 <= {name}_warn <= {name}_alert")


@dataclass(frozen=True)
class PerformanceThresholds:
    """When the daily performance verdict of a model version warns and alerts.

    Parameters
    ----------
    min_labels
        Labelled records a day needs before its realised metrics are judged: below, the
        sampling error of a day's accuracy (±7 points at 200) drowns the drops worth an
        e-mail; the estimate (CBPE) speaks for the day instead.
    z_alert
        Standard errors of the alert band around the reference of a realised metric (1.96:
        95 %, as wide as CBPE's band of an estimate).
    z_warn
        Standard errors of the narrower warning band (1.645: 90 %); an estimate's band is
        narrowed by ``z_warn / z_alert`` for its warning.
    """

    min_labels: int = 200
    z_alert: float = 1.96
    z_warn: float = 1.645

    def __post_init__(self) -> None:
        if self.min_labels < 1:
            raise ValueError("min_labels must be at least 1")
        if not 0 < self.z_warn <= self.z_alert:
            raise ValueError("need 0 < z_warn <= z_alert")


@dataclass(frozen=True)
class Thresholds:
    """Everything a thresholds file sets: ``[drift]`` and ``[performance]``."""

    drift: DriftThresholds = field(default_factory=DriftThresholds)
    performance: PerformanceThresholds = field(default_factory=PerformanceThresholds)


def load_thresholds(path: str | Path | None) -> Thresholds:
    """The thresholds in ``path`` over the defaults; the defaults for None or ``""``.

    Raises
    ------
    ConfigurationError
        For a file that cannot be read, is not TOML, or holds an unknown table or key, a
        value of the wrong type, or values that contradict each other; the message names
        the file and the key.

    Examples
    --------
    >>> load_thresholds(None).drift.psi_alert
    0.2
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
    ...     _ = f.write("[drift]\\npsi_alert = 0.3\\n[performance]\\nmin_labels = 500\\n")
    >>> custom = load_thresholds(f.name)
    >>> custom.drift.psi_alert, custom.drift.psi_warn, custom.performance.min_labels
    (0.3, 0.1, 500)
    """
    if path is None or str(path) == "":
        return Thresholds()
    where = f"thresholds file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{where}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{where}: not valid TOML: {exc}") from None
    tables: dict[str, type[Any]] = {"drift": DriftThresholds, "performance": PerformanceThresholds}
    unknown = sorted(set(data) - set(tables))
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown table {unknown[0]!r}; the tables are [drift] and [performance]"
        )
    built: dict[str, Any] = {}
    for name, cls in tables.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where}: {name} must be a table, [{name}]")
        built[name] = _build(cls, table, f"{where}: [{name}]")
    return Thresholds(**built)


def _build(cls: type[Any], table: dict[str, Any], where: str) -> Any:
    """``cls(**table)``, with every mistake said in one line."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in defaults:
            close = difflib.get_close_matches(key, defaults, n=1)
            hint = f"did you mean {close[0]}?" if close else f"keys: {', '.join(defaults)}"
            raise ConfigurationError(f"{where}: unknown key {key!r}; {hint}")
        whole = isinstance(defaults[key], int)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (whole and not isinstance(value, int)) or not math.isfinite(value):
            kind = "a whole number" if whole else "a finite number"
            raise ConfigurationError(f"{where}: {key} must be {kind}, got {value!r}")
        values[key] = value if whole else float(value)
    try:
        return cls(**values)
    except ValueError as exc:  # the class's own checks (warn <= alert, ...)
        raise ConfigurationError(f"{where}: {exc}") from None


def to_toml(thresholds: Thresholds) -> str:
    """``thresholds`` as a thresholds file (every key, so it reads as a template).

    >>> text = to_toml(Thresholds())
    >>> print(text.splitlines()[0], text.splitlines()[1], sep="\\n")
    [drift]
    alpha = 0.01
    """
    lines: list[str] = []
    for name in ("drift", "performance"):
        lines.append(f"[{name}]")
        section = getattr(thresholds, name)
        lines += [f"{f.name} = {getattr(section, f.name)!r}" for f in dataclasses.fields(section)]
        lines.append("")
    return "\n".join(lines)
