"""``make bench``: every benchmark in one run, on the local stack.

    python -m bench [--only pipeline,stages,sink,...]   # names: the keys of BENCHMARKS

Each benchmark prints Markdown tables of ratios measured side by side; the README quotes them.
"""

from __future__ import annotations

import argparse
import importlib
import time

BENCHMARKS = {
    "pipeline": "bench.bench_pipeline",
    "stages": "bench.bench_stages",
    "batch": "bench.bench_batch",
    "sink": "bench.bench_sink",
    "bridge": "bench.bench_bridge",
    "drift": "bench.bench_drift",
    "comparison": "bench.bench_comparison",
    "models": "bench.bench_models",
    "metrics": "bench.bench_metrics",
    "producer": "bench.bench_producer",
    "workers": "bench.bench_workers",
    "soak": "bench.bench_soak",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        # The soak (10^7 records, about an hour on two cores) only when asked for.
        default=",".join(name for name in BENCHMARKS if name != "soak"),
        help="comma-separated subset of " + ", ".join(BENCHMARKS) + " (default: all but soak)",
    )
    args = parser.parse_args()
    for name in args.only.split(","):
        started = time.monotonic()
        print(f"\n## {name}\n", flush=True)
        importlib.import_module(BENCHMARKS[name]).main([])
        print(f"\n({name}: {time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
