"""Time of the daily drift check at 10^4, 10^6 and 10^8 records a day, against raw rows.

The check reads a day of per-minute partial bins from ClickHouse (``drift_stats``), so its
cost depends on features x minutes x flushes, not on what was in the bins. This bench
writes each day's bins straight into ClickHouse, as many partial rows as a worker would
write (one per feature, minute and flush window that saw records), and times the complete
daily check: query, statistics, Benjamini-Hochberg and the ``drift_checks`` insert.

In the same run it times what raw-row tools do with the same day at 10^6 rows: scipy on
the rows in memory (KS + PSI per numeric feature, chi-square per categorical), the same
after reading the rows back from ClickHouse, and, when an interpreter with ``evidently``
is given, Evidently's ``DataDriftPreset``.

    python -m bench.bench_drift [--quick] [--evidently-python PATH]

Evidently 0.7 does not import with pandas 3 (this project's pandas), so it runs in a
separate virtualenv of its own (``EVIDENTLY_PYTHON``), e.g.::

    python3 -m venv /tmp/evidently-venv
    /tmp/evidently-venv/bin/pip install evidently "pandas<3"
    EVIDENTLY_PYTHON=/tmp/evidently-venv/bin/python python -m bench.bench_drift
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_driver import Client
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bench.common import median, print_table
from scorestream.consumers.clickhouse import apply_migrations, make_client
from scorestream.consumers.drift_check.check import DriftChecker, Period, read_period_counts
from scorestream.contract import DRIFT_STATS
from scorestream.settings import ClickHouseDsn
from scorestream.streams.app import WorkerOptions
from scorestream.streams.drift.profile import NumericFeatureProfile, ReferenceProfile

DEFAULT_URL = "clickhouse://default:@127.0.0.1:19000/bench_drift"
MODEL_VERSION = "bench-drift-v1"
N_NUMERIC, N_CATEGORICAL = 40, 10
REFERENCE_ROWS = 50_000
# The agent engine publishes its counts (and commits) this often.
FLUSH_S = int(WorkerOptions().drift_flush_s)
MINUTES = 1440
INSERT_CHUNK = 200_000  # rows per INSERT: large blocks, as the sink writes them
FIRST_DAY = date(2026, 3, 1)


# --- the population: 40 numeric and 10 categorical features --------------------------------


@dataclass(frozen=True)
class Population:
    """Fixed distributions of every feature; reference and current days draw from it."""

    numeric: dict[str, tuple[str, float, float]]  # name -> (family, a, b)
    categorical: dict[str, tuple[list[str], NDArray[np.float64]]]  # name -> (values, shares)

    @classmethod
    def make(cls, seed: int) -> Population:
        rng = np.random.default_rng(seed)
        numeric: dict[str, tuple[str, float, float]] = {}
        for i in range(N_NUMERIC):
            family = ("normal", "lognormal", "uniform")[i % 3]
            if family == "normal":
                params = (float(rng.uniform(-50, 50)), float(rng.uniform(0.5, 20)))
            elif family == "lognormal":
                params = (float(rng.uniform(0, 3)), float(rng.uniform(0.3, 1.2)))
            else:
                low = float(rng.uniform(-10, 10))
                params = (low, low + float(rng.uniform(1, 100)))
            numeric[f"num_{i:02d}"] = (family, *params)
        categorical: dict[str, tuple[list[str], NDArray[np.float64]]] = {}
        for j in range(N_CATEGORICAL):
            k = 4 + j % 3  # 4 to 6 categories, about 5
            # Uneven shares, so that "other" and rare categories behave as in real data.
            categorical[f"cat_{j:02d}"] = (
                [f"c{j}_{v}" for v in range(k)],
                rng.dirichlet(np.full(k, 2.0)),
            )
        return cls(numeric, categorical)

    @property
    def numeric_names(self) -> list[str]:
        return list(self.numeric)

    @property
    def categorical_names(self) -> list[str]:
        return list(self.categorical)

    def sample(self, n: int, seed: int) -> dict[str, NDArray[Any]]:
        """``n`` raw rows, column by column."""
        rng = np.random.default_rng(seed)
        columns: dict[str, NDArray[Any]] = {}
        for name, (family, a, b) in self.numeric.items():
            if family == "normal":
                columns[name] = rng.normal(a, b, n)
            elif family == "lognormal":
                columns[name] = rng.lognormal(a, b, n)
            else:
                columns[name] = rng.uniform(a, b, n)
        for name, (values, shares) in self.categorical.items():
            columns[name] = np.asarray(values, dtype=object)[rng.choice(len(values), n, p=shares)]
        return columns


@dataclass(frozen=True)
class BenchModel:
    """What :class:`DriftChecker` needs of a model: its reference profile and version."""

    profile: ReferenceProfile
    version: str


# --- a day of bins, as the worker would have written them -----------------------------------


@dataclass(frozen=True)
class BinModel:
    """How to draw a feature's partial rows: bin shares and each bin's mean and mean square."""

    name: str
    kind: str
    shares: NDArray[np.float64]
    bin_mean: NDArray[np.float64]
    bin_meansq: NDArray[np.float64]


def bin_models(profile: ReferenceProfile, reference: Mapping[str, NDArray[Any]]) -> list[BinModel]:
    """Reference shares per bin, and per-bin moments so that partial sums look real."""
    models = []
    for feature in profile:
        shares = feature.reference_counts / feature.reference_counts.sum()
        mean = np.zeros(feature.n_bins)
        meansq = np.zeros(feature.n_bins)
        if isinstance(feature, NumericFeatureProfile):
            x = reference[feature.name]
            bins = feature.assign(x)
            sizes = np.maximum(np.bincount(bins, minlength=feature.n_bins), 1)
            mean = np.bincount(bins, weights=x, minlength=feature.n_bins) / sizes
            meansq = np.bincount(bins, weights=x * x, minlength=feature.n_bins) / sizes
            mean[-1] = meansq[-1] = 0.0  # missing values add nothing to sum and sumsq
        models.append(BinModel(feature.name, feature.kind, shares, mean, meansq))
    return models


def partial_sizes(
    records: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Minute index and record count of every partial row of a day of ``records``.

    Records spread over the minutes at random; the worker (agent engine) publishes its
    counts every ``FLUSH_S`` seconds, so each minute has one partial row per feature for
    every flush window that saw a record of it: at most 60 / FLUSH_S, none for an empty
    minute.
    """
    per_minute = rng.multinomial(records, np.full(MINUTES, 1 / MINUTES))
    windows = 60 // FLUSH_S
    per_window = rng.multinomial(per_minute, np.full(windows, 1 / windows))
    minute, _ = np.nonzero(per_window)
    return minute.astype(np.int64), per_window[per_window > 0].astype(np.int64)


STATS_COLUMNS = DRIFT_STATS.inserted


def write_day(
    client: Client, database: str, day: date, records: int, models: Sequence[BinModel], seed: int
) -> int:
    """Write one day of partial bins into ``drift_stats``; returns the number of rows."""
    rng = np.random.default_rng(seed)
    minute_idx, sizes = partial_sizes(records, rng)
    start = datetime(day.year, day.month, day.day)
    minute_times = [start + timedelta(minutes=m) for m in range(MINUTES)]
    minutes = [minute_times[m] for m in minute_idx.tolist()]
    position = np.arange(minute_idx.size) - np.searchsorted(minute_idx, minute_idx)
    # A worker batch covers all features, so every feature's partial shares its batch id.
    batch_ids = [
        f"bench-{day:%Y%m%d}-{m}-{p}"
        for m, p in zip(minute_idx.tolist(), position.tolist(), strict=True)
    ]
    emitted = (start.timestamp() * 1000 + (minute_idx + 1) * 60_000 + 5_000).astype(np.int64)
    emitted_list = emitted.tolist()
    sizes_list = sizes.tolist()
    query = f"INSERT INTO {database}.drift_stats ({', '.join(STATS_COLUMNS)}) VALUES"
    buffer: list[list[Any]] = [[] for _ in STATS_COLUMNS]
    written = 0
    for model in models:
        # One vectorised multinomial draw per feature: every partial row at once.
        counts = rng.multinomial(sizes, model.shares)
        sums = counts @ model.bin_mean
        sumsqs = counts @ model.bin_meansq
        n = sizes.size
        for column, values in zip(
            buffer,
            (
                minutes,
                [model.name] * n,
                [model.kind] * n,
                [MODEL_VERSION] * n,
                batch_ids,
                counts.tolist(),
                sizes_list,
                counts[:, -1].tolist(),
                sums.tolist(),
                sumsqs.tolist(),
                emitted_list,
            ),
            strict=True,
        ):
            column.extend(values)
        if len(buffer[0]) >= INSERT_CHUNK:
            written += _flush(client, query, buffer)
    return written + _flush(client, query, buffer)


def _flush(client: Client, query: str, buffer: list[list[Any]]) -> int:
    n = len(buffer[0])
    if n:
        client.execute(query, buffer, columnar=True)
        for column in buffer:
            column.clear()
    return n


# --- the raw-row computation (what Evidently-style tools do) ---------------------------------


def raw_drift(
    reference: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike],
    numeric: Sequence[str],
    categorical: Sequence[str],
    n_bins: int = 10,
) -> dict[str, float]:
    """scipy on the raw rows: KS + PSI per numeric feature, chi-square per categorical.

    Returns each feature's p-value (for the sanity check that both sides agree).
    """
    pvalues: dict[str, float] = {}
    for name in numeric:
        ref = np.asarray(reference[name], dtype=np.float64)
        cur = np.asarray(current[name], dtype=np.float64)
        ks = stats.ks_2samp(ref, cur)
        edges = np.quantile(ref, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = -np.inf, np.inf  # open ends: nothing falls outside
        ref_share = np.histogram(ref, edges)[0] / ref.size
        cur_share = np.histogram(cur, edges)[0] / cur.size
        ref_share, cur_share = np.maximum(ref_share, 1e-4), np.maximum(cur_share, 1e-4)
        psi = float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
        assert math.isfinite(psi)
        pvalues[name] = float(ks.pvalue)
    for name in categorical:
        table = pd.concat(
            [pd.Series(reference[name]).value_counts(), pd.Series(current[name]).value_counts()],
            axis=1,
        ).fillna(0)
        pvalues[name] = float(stats.chi2_contingency(table.to_numpy().T).pvalue)
    return pvalues


def create_raw_table(client: Client, database: str, population: Population) -> None:
    columns = [f"{name} Float64" for name in population.numeric_names]
    columns += [f"{name} String" for name in population.categorical_names]
    client.execute(
        f"CREATE TABLE {database}.raw_rows ({', '.join(columns)}) "
        "ENGINE = MergeTree ORDER BY tuple()"
    )


def insert_raw(client: Client, database: str, rows: Mapping[str, NDArray[Any]]) -> None:
    names = list(rows)
    n = len(rows[names[0]])
    query = f"INSERT INTO {database}.raw_rows ({', '.join(names)}) VALUES"
    for start in range(0, n, INSERT_CHUNK):
        client.execute(
            query,
            [rows[name][start : start + INSERT_CHUNK].tolist() for name in names],
            columnar=True,
        )


def read_raw(client: Client, database: str, names: Sequence[str]) -> dict[str, ArrayLike]:
    """The day's raw rows back from ClickHouse, column-wise (numeric columns as arrays)."""
    columns = client.execute(f"SELECT {', '.join(names)} FROM {database}.raw_rows", columnar=True)
    return {
        name: np.asarray(column, dtype=np.float64) if name.startswith("num_") else column
        for name, column in zip(names, columns, strict=True)
    }


# --- Evidently, in its own interpreter -------------------------------------------------------

_EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

ref_path, cur_path = sys.argv[1:3]
numeric, categorical = json.loads(sys.argv[3]), json.loads(sys.argv[4])
reference, current = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)

def run(ref, cur):
    return Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition))

run(reference.head(1000), current.head(1000))  # warm-up: lazy imports and registries
started = time.perf_counter()
snapshot = run(reference, current)
seconds = time.perf_counter() - started
drifted = snapshot.dict()["metrics"][0]["value"]["count"]
version = __import__("evidently").__version__
print(json.dumps({"seconds": seconds, "drifted": drifted, "version": version}))
"""


def time_evidently(
    python: str,
    reference: Mapping[str, NDArray[Any]],
    current: Mapping[str, NDArray[Any]],
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> dict[str, Any]:
    """Time ``Report([DataDriftPreset()]).run`` in ``python`` (data handed over as parquet)."""
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        ref_path, cur_path = Path(tmp) / "reference.parquet", Path(tmp) / "current.parquet"
        pd.DataFrame(reference).to_parquet(ref_path)
        pd.DataFrame(current).to_parquet(cur_path)
        # Evidently's usage telemetry would phone home from a benchmark; switch it off.
        env = {**os.environ, "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
        done = subprocess.run(
            [
                python,
                "-c",
                _EVIDENTLY_SCRIPT,
                str(ref_path),
                str(cur_path),
                json.dumps(list(numeric)),
                json.dumps(list(categorical)),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"evidently run failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- timing ----------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], runs: int, warmup: int = 1) -> tuple[float, Any]:
    """Median wall time of ``runs`` calls after ``warmup`` untimed ones; and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return median(seconds), result


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10^4 and 10^5 records a day, raw rows at 10^5, one timed run",
    )
    parser.add_argument(
        "--clickhouse-url",
        default=DEFAULT_URL,
        help="the database in it is dropped and recreated (default: %(default)s)",
    )
    parser.add_argument(
        "--evidently-python",
        default=os.environ.get("EVIDENTLY_PYTHON"),
        help="interpreter with evidently installed (env EVIDENTLY_PYTHON); skipped when unset",
    )
    parser.add_argument(
        "--evidently-rows",
        type=int,
        default=None,
        help="current rows given to Evidently (default: the raw-row volume)",
    )
    parser.add_argument("--seed", type=int, default=20260301)
    args = parser.parse_args(argv)

    volumes = [10**4, 10**5] if args.quick else [10**4, 10**6, 10**8]
    raw_volume = 10**5 if args.quick else 10**6
    runs = 1 if args.quick else 3

    dsn = ClickHouseDsn.parse(args.clickhouse_url)
    database = dsn.database
    client = make_client(dsn, send_receive_timeout=600)
    # A clean database each run: no bins or checks of an earlier run can leak into this one.
    client.execute(f"DROP DATABASE IF EXISTS {database}")
    apply_migrations(client, database)

    population = Population.make(args.seed)
    numeric, categorical = population.numeric_names, population.categorical_names
    reference = population.sample(REFERENCE_ROWS, args.seed + 1)
    profile = ReferenceProfile.from_frame(pd.DataFrame(reference), numeric, categorical)
    model = BenchModel(profile, MODEL_VERSION)
    models = bin_models(profile, reference)
    print(
        f"reference: {REFERENCE_ROWS:,} rows, {len(numeric)} numeric + {len(categorical)} "
        f"categorical features; ClickHouse {client.execute('SELECT version()')[0][0]}"
    )

    # --- the binned daily check at each volume ---
    check_rows: list[list[object]] = []
    check_seconds: dict[int, float] = {}
    for i, volume in enumerate(volumes):
        day = FIRST_DAY + timedelta(days=i)
        started = time.perf_counter()
        written = write_day(client, database, day, volume, models, args.seed + 10 + i)
        print(
            f"{volume:.0e} records/day: {written:,} drift_stats rows written to {day} "
            f"in {time.perf_counter() - started:.1f} s"
        )
        period = Period.day(day)
        seconds, result = timed(lambda p=period: DriftChecker(client, database, model).run(p), runs)
        # Sanity: every record is in the sums, and an in-distribution day raises no drift.
        assert result.records == volume, (result.records, volume)
        drifted = [d.feature for d in result.decisions if d.level == "drift"]
        assert not drifted, f"in-distribution day flagged as drift: {drifted}"
        warnings = sum(d.level == "warning" for d in result.decisions)
        query_s, _ = timed(
            lambda p=period: read_period_counts(client, database, p, MODEL_VERSION), runs
        )
        progress = client.last_query.progress if client.last_query else None
        rows_read = progress.rows if progress else written
        check_seconds[volume] = seconds
        check_rows.append(
            [
                f"10^{round(math.log10(volume))}",
                f"{written:,}",
                f"{rows_read:,}",
                fmt_s(query_s),
                fmt_s(seconds),
                len(result.decisions),
                f"0 drift, {warnings} warning",
            ]
        )

    # --- the raw-row computation on the same kind of day ---
    current = population.sample(raw_volume, args.seed + 99)
    create_raw_table(client, database, population)
    insert_raw(client, database, current)  # not timed: the rows are already stored
    names = [*numeric, *categorical]
    scipy_s, pvalues = timed(lambda: raw_drift(reference, current, numeric, categorical), runs)
    read_s, _ = timed(lambda: read_raw(client, database, names), runs)
    read_scipy_s, _ = timed(
        lambda: raw_drift(reference, read_raw(client, database, names), numeric, categorical), runs
    )
    assert len(pvalues) == len(names)

    evidently: dict[str, Any] | None = None
    evidently_note = "skipped: no --evidently-python / EVIDENTLY_PYTHON given"
    if args.evidently_python:
        evidently_rows = args.evidently_rows or raw_volume
        evidently = time_evidently(
            args.evidently_python,
            reference,
            {k: v[:evidently_rows] for k, v in current.items()},
            numeric,
            categorical,
        )
        evidently["rows"] = evidently_rows
        assert evidently["drifted"] == 0, evidently

    # --- report ---
    binned = check_seconds[raw_volume] if raw_volume in check_seconds else float("nan")
    print_table(
        f"Daily drift check, {len(names)} features (median of {runs} after a warm-up)",
        [
            "records/day",
            "drift_stats rows in the day",
            "rows read by the query",
            "query",
            "complete check",
            "features",
            "verdict",
        ],
        check_rows,
    )
    exp = round(math.log10(raw_volume))
    raw_rows = [
        [
            f"scipy on 10^{exp} raw rows in memory (KS + PSI, chi-square)",
            fmt_s(scipy_s),
            f"{scipy_s / binned:,.0f}x",
        ],
        [
            f"read 10^{exp} × {len(names)} raw rows from ClickHouse (columnar)",
            fmt_s(read_s),
            f"{read_s / binned:,.0f}x",
        ],
        ["read from ClickHouse + scipy", fmt_s(read_scipy_s), f"{read_scipy_s / binned:,.0f}x"],
    ]
    if evidently is not None:
        label = f"Evidently {evidently['version']} DataDriftPreset on {evidently['rows']:,} rows"
        if evidently["rows"] != raw_volume:
            label += " (fewer rows: too slow at the full volume)"
        raw_rows.append(
            [
                f"{label}, in memory",
                fmt_s(evidently["seconds"]),
                f"{evidently['seconds'] / binned:,.0f}x",
            ]
        )
        if evidently["rows"] == raw_volume:
            total = evidently["seconds"] + read_s
            raw_rows.append(
                ["read from ClickHouse + Evidently", fmt_s(total), f"{total / binned:,.0f}x"]
            )
    print_table(
        f"Raw-row computation on one day of 10^{exp} records × {len(names)} features "
        f"(ratio = time ÷ binned check at 10^{exp}: {fmt_s(binned)})",
        ["computation", "time", "raw ÷ binned"],
        raw_rows,
    )
    if evidently is None:
        print(f"\nEvidently: {evidently_note}")

    spread = max(check_seconds.values()) / min(check_seconds.values())
    slowest = max(check_seconds.values())
    targets: list[list[object]] = [
        [
            "flat across volumes (slowest ÷ fastest check)",
            f"{spread:.2f}",
            "yes" if spread < 2 else "no",
        ],
        [
            "under 1 s for 50 features (slowest check)",
            fmt_s(slowest),
            "yes" if slowest < 1 else "no",
        ],
    ]
    baselines = [("scipy in memory", scipy_s), ("read from ClickHouse + scipy", read_scipy_s)]
    if evidently is not None and evidently["rows"] == raw_volume:
        baselines.append(("Evidently in memory", evidently["seconds"]))
    for label, seconds in baselines:
        ratio = seconds / binned
        targets.append(
            [
                f"≥ 100× faster than raw rows at 10^{exp}: {label}",
                f"{ratio:,.0f}×",
                "yes" if ratio >= 100 else "no",
            ]
        )
    print_table("Targets", ["target", "measured", "met"], targets)


if __name__ == "__main__":
    main()
