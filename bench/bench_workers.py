"""Two workers against one on the same topic: records/s, side by side in one run.

Each run drains its own pre-filled topic of 4 partitions with N workers of one consumer
group (the agent engine); records/s from the outputs' Kafka timestamps (first to last), so
start-up does not count. On two cores shared with the broker this shows the cost of
coordination (a group of two, two event loops) rather than a speed-up.

    python -m bench.bench_workers [--records 100000] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.bench_pipeline import _fill, _output_rate, _stop
from bench.common import bench_settings, cli, print_table, trained_model
from scorestream.topics import ensure_topics


def drain(model_dir: Path, workers: int, n: int, workdir: Path) -> tuple[float, int]:
    """Records/s of ``workers`` workers of one group draining ``n`` pre-filled records."""
    settings = bench_settings(f"workers{workers}")
    ensure_topics(settings)
    _fill(settings, n, seed=3)
    processes = [
        cli(
            ["worker", "--model-dir", str(model_dir), "--instance-id", f"bench-{slot}"],
            settings,
            workdir / f"worker-{workers}-{slot}.log",
        )
        for slot in range(workers)
    ]
    try:
        return _output_rate(settings, n, timeout_s=900, worker=processes[0])
    finally:
        for process in processes:
            _stop(process)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="scorestream-bench-workers-"))
    model_dir = trained_model()
    load = os.getloadavg()[0]
    counts = [int(w) for w in args.workers.split(",")]
    results = {w: drain(model_dir, w, args.records, workdir) for w in counts}
    first = results[counts[0]][0]
    print_table(
        f"Workers of one group on a 4-partition topic (same broker, same run; load average "
        f"{load:.1f} at the start)",
        ["workers", "records", "records/s", f"vs {counts[0]}"],
        [[w, f"{n:,}", f"{rate:,.0f}", f"{rate / first:.2f}×"] for w, (rate, n) in results.items()],
    )
    print(f"\nworker logs in {workdir}")


if __name__ == "__main__":
    main()
