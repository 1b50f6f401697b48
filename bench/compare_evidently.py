"""Scorestream's drift verdict and Evidently's default data-drift preset on the same days.

    python -m bench.compare_evidently [--days 30] [--power-days 10] [--hours-step 6]
                                      [--evidently-python PATH]

Every case draws its days once (raw records, seeded) and hands the same records to both
tools: scorestream grades them as its daily check does (bins, every test, one
Benjamini-Hochberg family, effect-size gates; rolling hours against the same hour of the
previous 7 days), Evidently runs ``Report([DataDriftPreset()])`` with its defaults. A day
is a *false alarm* when a tool flags any column on an in-distribution day (scorestream:
level warning or drift; Evidently: a drifted column; its own dataset verdict, half the
columns drifted, is shown beside). A *detection* is the changed column flagged on day one;
"alone" when no other column was.

Evidently 0.7 does not import with pandas 3 (this project's), so it runs in a virtualenv of
its own, created under ``.stack/evidently-venv`` from ``bench/evidently/requirements.txt``
when missing (or ``--evidently-python``), and reads the days from ``.npz`` files through
``bench/evidently/run_evidently.py``. A benchmark, not a test: CI never installs Evidently.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scorestream.consumers.drift_check.baseline import time_of_day_baseline
from scorestream.consumers.drift_check.check import Period, evaluate
from scorestream.contract.thresholds import EFFECT_SIZES, DriftThresholds
from scorestream.streams.drift.profile import (
    CategoricalFeatureProfile,
    FeatureProfile,
    NumericFeatureProfile,
    ReferenceProfile,
)
from tests.consumers.drift_check import seasonal_traffic as seasonal
from tests.streams.drift.mixed_features import (
    NEW_SHOP,
    check_day,
    draw,
    high_cardinality,
    rare_channels,
)

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "evidently"
VENV = ROOT / ".stack" / "evidently-venv"
NUMERIC = ["x", "amount"]
CATEGORICAL = ["shop", "channel"]
#: Significance only: every effect-size gate at zero (what the gates are measured against).
SIGNIFICANCE_ONLY = DriftThresholds(
    **{f"{name}_{grade}": 0.0 for name in EFFECT_SIZES for grade in ("warn", "alert")}
)


def evidently_python(given: str | None) -> str:
    """The Evidently interpreter: given, or ``.stack/evidently-venv`` (created if missing)."""
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} (evidently, pandas < 3) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")],
            check=True,
        )
    return str(python)


@dataclass
class Case:
    """One row of the table: days of one kind, what each tool said about each."""

    name: str
    kind: str  # "false alarms" or "detection"
    target: str = ""
    days: list[str] = field(default_factory=list)
    ours: dict[str, dict[str, str]] = field(default_factory=dict)
    ours_significant: dict[str, dict[str, str]] = field(default_factory=dict)


class Handover:
    """Writes days as ``.npz`` for Evidently (categorical columns as codes of one vocabulary)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        shops, _ = high_cardinality()
        channels, _ = rare_channels()
        vocabulary = [*shops, *high_cardinality(0.69)[0], NEW_SHOP, *channels, *seasonal.CHANNELS]
        self.codes = pd.Index(pd.unique(np.asarray(vocabulary, dtype=object)))
        self.jobs: list[dict[str, str]] = []
        self.count = 0

    def write(self, columns: dict[str, Any]) -> str:
        self.count += 1
        path = self.directory / f"{self.count}.npz"
        arrays = {
            name: (
                self.codes.get_indexer(np.asarray(values, dtype=object)).astype(np.int32)
                if name in CATEGORICAL
                else np.asarray(values, dtype=np.float64)
            )
            for name, values in columns.items()
        }
        np.savez(path, **arrays)
        return str(path)

    def job(self, job_id: str, reference: str, current: str) -> None:
        self.jobs.append({"id": job_id, "reference": reference, "current": current})


def _levels(levels: dict[str, str]) -> dict[str, str]:
    return {name: level for name, level in levels.items() if level != "ok"}


def mixed_cases(args: argparse.Namespace, handover: Handover) -> Iterator[Case]:
    """I.i.d. days at three sizes, a small reference, autocorrelated days, and power."""
    iid = [
        ("i.i.d., 100 records a day", 50_000, 100, args.days),
        ("i.i.d., 10^4 records a day", 50_000, 10_000, args.days),
        ("i.i.d., 10^6 records a day", 50_000, 1_000_000, args.big_days),
        ("i.i.d., 1,000-row reference, 10^4 records a day", 1_000, 10_000, args.days),
    ]
    for seed, (name, ref_size, day_size, days) in enumerate(iid):
        rng = np.random.default_rng(100 + seed)
        reference = draw(rng, ref_size)
        features = _profiles(reference)
        ref_path = handover.write(reference)
        case = Case(name, "false alarms")
        for d in range(days):
            day = draw(rng, day_size)
            day_id = f"{name}/{d}"
            case.days.append(day_id)
            case.ours[day_id] = _levels(check_day(features, day))
            handover.job(day_id, ref_path, handover.write(day))
        yield case
    for phi in (0.99, 0.999):
        name = f"AR(1) x, phi = {phi}, 10^4 records a day"
        rng = np.random.default_rng(int(phi * 1000))
        reference = draw(rng, 50_000)
        features = _profiles(reference)
        ref_path = handover.write(reference)
        case = Case(name, "false alarms")
        for d in range(args.days):
            day = draw(rng, 10_000)
            day["x"] = _ar1(rng, 10_000, phi)
            day_id = f"{name}/{d}"
            case.days.append(day_id)
            case.ours[day_id] = _levels(check_day(features, day))
            case.ours_significant[day_id] = _levels(check_day(features, day, SIGNIFICANCE_ONLY))
            handover.job(day_id, ref_path, handover.write(day))
        yield case
    changes: list[tuple[str, str, Callable[[np.random.Generator, int], dict[str, Any]]]] = [
        ("x: mean +0.5 sd", "x", lambda r, n: draw(r, n, shift=0.5)),
        ("x: scale x2", "x", lambda r, n: {**draw(r, n), "x": r.normal(0, 2, n)}),
        ("x: top 5 % +3 sd", "x", lambda r, n: _top_moved(draw(r, n))),
        ("amount: zeros 92 % -> 50 %", "amount", lambda r, n: draw(r, n, zero_share=0.5)),
        ("shop: new value at 10 % (other 75 %)", "shop", lambda r, n: draw(r, n, new_shop=0.1)),
    ]
    for day_size in (1_000, 10_000):
        for seed, (change, target, make) in enumerate(changes):
            name = f"{change}, {day_size:,} records"
            rng = np.random.default_rng(200 + seed)
            reference = draw(rng, 50_000)
            features = _profiles(reference)
            ref_path = handover.write(reference)
            case = Case(name, "detection", target)
            for d in range(args.power_days):
                day = make(rng, day_size)
                day_id = f"{name}/{d}"
                case.days.append(day_id)
                case.ours[day_id] = _levels(check_day(features, day))
                handover.job(day_id, ref_path, handover.write(day))
            yield case


def _profiles(reference: dict[str, Any]) -> dict[str, FeatureProfile]:
    return {
        "x": NumericFeatureProfile.from_values("x", reference["x"]),
        "amount": NumericFeatureProfile.from_values("amount", reference["amount"]),
        "shop": CategoricalFeatureProfile.from_values("shop", reference["shop"]),
        "channel": CategoricalFeatureProfile.from_values("channel", reference["channel"]),
    }


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    # Stationary N(0, 1) at every step: each record alone is in distribution, only their
    # dependence differs (effective sample size n (1 - phi) / (1 + phi)).
    noise = rng.normal(0.0, np.sqrt(1 - phi**2), n)
    x = np.empty(n)
    x[0] = rng.normal()
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    return x


def _top_moved(day: dict[str, Any]) -> dict[str, Any]:
    x = day["x"]
    return {**day, "x": np.where(x > np.quantile(x, 0.95), x + 3.0, x)}


def seasonal_cases(args: argparse.Namespace, handover: Handover) -> Iterator[Case]:
    """Rolling hours of seasonal traffic: ours against the same hour of the last 7 days."""
    rng = np.random.default_rng(300)
    reference = seasonal.reference_frame(rng)
    profile = ReferenceProfile.from_frame(reference, ["amount"], ["channel"])
    warm_up = 7
    frames = seasonal.hours(rng, warm_up + args.days)
    counts = {start: seasonal.period_counts(profile, frame) for start, frame in frames.items()}
    ref_path = handover.write({"amount": reference["amount"], "channel": reference["channel"]})
    against_reference = Case("seasonal hours vs the training reference", "false alarms")
    against_hour = Case("seasonal hours vs the same hour of the previous 7 days", "false alarms")
    for start, frame in frames.items():
        if start < seasonal.START + timedelta(days=warm_up) or start.hour % args.hours_step:
            continue
        period = Period("rolling_1h", start, start + timedelta(hours=1))
        baseline = time_of_day_baseline(profile, period, lambda p: counts.get(p.start, {}))
        ours, _ = evaluate(baseline.profile, counts[start], DriftThresholds(), baseline.rejected)
        old, _ = evaluate(profile, counts[start], DriftThresholds())
        current = handover.write({"amount": frame["amount"], "channel": frame["channel"]})
        previous = pd.concat([frames[start - timedelta(days=k)] for k in range(1, 8)])
        previous_path = handover.write(
            {"amount": previous["amount"], "channel": previous["channel"]}
        )
        for case, decisions, reference_path in (
            (against_reference, old, ref_path),
            (against_hour, ours, previous_path),
        ):
            job_id = f"{case.name}/{start:%Y-%m-%dT%H}"
            case.days.append(job_id)
            case.ours[job_id] = _levels({d.feature: d.level for d in decisions})
            handover.job(job_id, reference_path, current)
    yield against_reference
    yield against_hour


def run_evidently(python: str, handover: Handover, columns: dict[str, list[str]]) -> dict[str, Any]:
    manifest = handover.directory / "manifest.json"
    out = handover.directory / "evidently.json"
    manifest.write_text(json.dumps({**columns, "jobs": handover.jobs}))
    # Evidently's usage telemetry would phone home from a benchmark; switch it off.
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "EVIDENTLY_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",  # scipy's divide-by-zero chatter inside Evidently
    }
    subprocess.run(
        [python, str(HERE / "run_evidently.py"), str(manifest), str(out)], env=env, check=True
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def row(case: Case, evidently: dict[str, Any], n_columns: int) -> str:
    n = len(case.days)
    theirs = [evidently[d] for d in case.days]
    if case.kind == "false alarms":
        drift = sum("drift" in case.ours[d].values() for d in case.days)
        any_flag = sum(bool(case.ours[d]) for d in case.days)
        ev_any = sum(bool(t["drifted"]) for t in theirs)
        ev_dataset = sum(len(t["drifted"]) * 2 >= n_columns for t in theirs)
        extra = ""
        if case.ours_significant:
            sig = sum(bool(case.ours_significant[d]) for d in case.days)
            extra = f" (significance alone: {sig}/{n})"
        return (
            f"| {case.name} | {n} | {drift}/{n} drift, {any_flag}/{n} any{extra}"
            f"{_which([list(case.ours[d]) for d in case.days])} "
            f"| {ev_any}/{n} ({ev_dataset}/{n}){_which([t['drifted'] for t in theirs])} |"
        )
    hit = sum(case.ours[d].get(case.target) == "drift" for d in case.days)
    alone = sum(set(case.ours[d]) == {case.target} for d in case.days)
    ev_hit = sum(case.target in t["drifted"] for t in theirs)
    ev_alone = sum(t["drifted"] == [case.target] for t in theirs)
    ours = f"{hit}/{n} ({alone}/{n} alone)"
    return f"| {case.name} | {n} | {ours} | {ev_hit}/{n} ({ev_alone}/{n} alone) |"


def autocorrelation_table(days: int) -> None:
    """Scorestream alone on AR(1) days of ``x``: significance, then the effect-size gates."""
    print("| phi | effective records a day | any test significant | warning or drift | drift |")
    print("|---|---|---|---|---|")
    for phi in (0.9, 0.99, 0.999):
        rng = np.random.default_rng(7)
        features = _profiles(draw(rng, 50_000))
        significant = flagged = drifted = 0
        for _ in range(days):
            day = {**draw(rng, 10_000), "x": _ar1(rng, 10_000, phi)}
            gated = check_day(features, day)["x"]
            significant += check_day(features, day, SIGNIFICANCE_ONLY)["x"] != "ok"
            flagged += gated != "ok"
            drifted += gated == "drift"
        effective = 10_000 * (1 - phi) / (1 + phi)
        print(
            f"| {phi} | {effective:,.0f} | {significant / days:.0%} | {flagged / days:.0%} "
            f"| {drifted / days:.0%} |"
        )


def _which(flagged: list[list[str]]) -> str:
    """Which columns were flagged how often, e.g. ``: shop 30, x 2``."""
    counts: dict[str, int] = {}
    for columns in flagged:
        for column in columns:
            counts[column] = counts.get(column, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return (": " + ", ".join(f"{c} {k}" for c, k in ranked)) if ranked else ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days per false-alarm case")
    parser.add_argument("--big-days", type=int, default=30, help="days at 10^6 records")
    parser.add_argument("--power-days", type=int, default=10, help="days per detection case")
    parser.add_argument("--hours-step", type=int, default=6, help="check every Nth hour")
    parser.add_argument("--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON"))
    parser.add_argument(
        "--autocorrelation-only",
        action="store_true",
        help="only scorestream on AR(1) days (100 days each, no Evidently)",
    )
    args = parser.parse_args(argv)
    if args.autocorrelation_only:
        autocorrelation_table(100)
        return
    python = evidently_python(args.evidently_python)
    load_before, started = os.getloadavg(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compare-evidently-") as tmp:
        mixed = Handover(Path(tmp) / "mixed")
        mixed.directory.mkdir()
        mixed_list = list(mixed_cases(args, mixed))
        hourly = Handover(Path(tmp) / "seasonal")
        hourly.directory.mkdir()
        hourly_list = list(seasonal_cases(args, hourly))
        ours_s = time.monotonic() - started
        ev_mixed = run_evidently(python, mixed, {"numeric": NUMERIC, "categorical": CATEGORICAL})
        ev_hourly = run_evidently(
            python, hourly, {"numeric": ["amount"], "categorical": ["channel"]}
        )
    print(
        f"\nEvidently {ev_mixed['version']} DataDriftPreset (defaults) against scorestream, "
        f"same records; {datetime.now():%Y-%m-%d}, {os.cpu_count()} cores, load average "
        f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"{time.monotonic() - started:.0f} s in all (scorestream side and data: {ours_s:.0f} s)\n"
    )
    print("| false alarms: case | days | scorestream | Evidently: a column (dataset drift) |")
    print("|---|---|---|---|")
    for case in [*mixed_list, *hourly_list]:
        if case.kind == "false alarms":
            results = ev_mixed["results"] if case in mixed_list else ev_hourly["results"]
            n_columns = 4 if case in mixed_list else 2
            print(row(case, results, n_columns))
    print("\n| detection on day one: case | days | scorestream drift (alone) | Evidently (alone) |")
    print("|---|---|---|---|")
    for case in mixed_list:
        if case.kind == "detection":
            print(row(case, ev_mixed["results"], 4))


if __name__ == "__main__":
    main()
