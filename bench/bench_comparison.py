"""Time of one period's champion-against-challenger comparison at growing day sizes.

Writes a day of ``scores`` and, for each of two challengers, ``challenger_scores`` of the
same records straight into ClickHouse (as the sink would), then times
:func:`compare_period` over the day: the pair query (counts, mean, exact quantiles), one
bin-count query per pair and the ``model_comparisons`` insert. Nothing but aggregates leaves
the server, so the time grows with what ClickHouse scans, not with Python.

    python -m bench.bench_comparison [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from bench.common import bench_settings, median, print_table
from scorestream.consumers.clickhouse import apply_migrations, make_client
from scorestream.consumers.comparison.compare import compare_period
from scorestream.contract import CHALLENGER_SCORES, SCORES

DAY = datetime(2026, 7, 1)
CHUNK = 200_000


def _write(client: object, database: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        ids = [f"r{k}" for k in range(first, first + size)]
        seconds = np.sort(rng.integers(0, 86_400, size))
        champion = rng.beta(2, 6, size)
        for spec, name, scores in (
            (SCORES, "loans", champion),
            (CHALLENGER_SCORES, "loans-a", np.clip(champion + rng.normal(0, 0.03, size), 0, 1)),
            (CHALLENGER_SCORES, "loans-b", np.clip(champion + rng.normal(0.05, 0.1, size), 0, 1)),
        ):
            rows = [
                (
                    record_id,
                    DAY + timedelta(seconds=int(s)),
                    0,
                    DAY,
                    1,
                    name,
                    "v1",
                    float(score),
                    "1" if score >= 0.5 else "0",
                    1,
                    0,
                    0,
                    "binary",
                    [],
                    [],
                )
                for record_id, s, score in zip(ids, seconds, scores, strict=True)
            ]
            client.execute(spec.insert_sql(database), rows)  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 records only")
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    settings = bench_settings("comparison")
    client = make_client(settings.clickhouse)
    rows = []
    for n in sizes:
        database = f"{settings.clickhouse.database}_cmp_{n}"
        client.execute(f"DROP DATABASE IF EXISTS {database}")
        client.execute(f"CREATE DATABASE {database}")
        try:
            apply_migrations(client, database)
            _write(client, database, n, seed=n)
            times = []
            for _ in range(3):
                started = time.perf_counter()
                result = compare_period(client, database, "daily", DAY, DAY + timedelta(days=1))
                times.append(time.perf_counter() - started)
            assert [r["n_paired"] for r in result] == [n, n]
            rows.append([f"{n:,}", len(result), f"{median(times):.2f}"])
        finally:
            client.execute(f"DROP DATABASE IF EXISTS {database}")
    print_table(
        "Comparison of one day, two challengers (median of 3 runs)",
        ["records a day", "pairs", "seconds"],
        rows,
    )


if __name__ == "__main__":
    main()
