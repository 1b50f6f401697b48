"""CPU per record of one batch's stages, offline: no broker, the worker's own objects.

``python -m bench.bench_batch [--batch-sizes 500,2000,10000] [--before REV] [--rounds 3]
[--refused 0.02]``

Validates, scores, encodes and counts the drift of the same synthetic records (the demo
model, 20,000 records, after one warm-up pass) with the worker's ``BatchScorer`` and
``DriftStatsPublisher``, and the collector's settings (:mod:`scorestream.streams.collector`),
timing each stage with ``time.process_time``. ``--before REV`` runs the same measurement on
that revision's code (a git worktree first on the import path of a child process), so the two
columns come from one run. Each column is the median of ``--rounds`` child processes, the
columns alternating their order from round to round. Stages, in µs of CPU per record:

- ``validate``: ``RecordValidator.validate_batch`` (decoding and every check);
- ``predict``: ``LoadedModel.predict`` on the validated frame;
- ``encode``: ``score_messages`` (one ``scores`` message per record);
- ``duplicates``: ``RecentIds.classify_batch``;
- ``drift``: ``DriftStatsPublisher.add`` and one ``flush``;
- ``whole``: ``BatchScorer.score`` and the drift counting, as the worker runs them.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import checkout, print_table, trained_model

RECORDS = 20_000
STAGES = ("validate", "predict", "encode", "duplicates", "drift", "whole")


def measure(model_dir: Path, batch_size: int, refused: float = 0.0) -> dict[str, float]:
    """µs of CPU per record of each stage, batches of ``batch_size`` (this process's code);
    ``refused``: the share of records spoiled, half with a wrong type (rejected), half with
    an event time in another ISO form (valid, but not what the fast paths read)."""
    import numpy as np
    import orjson

    from scorestream.settings import Settings
    from scorestream.streams.collector import settle
    from scorestream.streams.drift_outputs import DriftStatsPublisher
    from scorestream.streams.model.registry import load_model

    try:
        from scorestream.streams.recent_ids import RecentIds
    except ImportError:  # a revision before it had a module of its own (--before)
        from scorestream.streams.scoring import RecentIds  # type: ignore[attr-defined,no-redef]
    from scorestream.streams.scoring import BatchScorer, RawRecord, score_messages
    from scorestream.streams.synthetic import generate_records
    from scorestream.streams.validation import RecordValidator

    settle()
    model = load_model(model_dir)
    rows = next(generate_records(RECORDS, 3, RECORDS, start="2026-03-01T00:00:00"))
    payloads = [orjson.dumps(row) for row in rows]
    if refused > 0:
        every = max(1, round(1 / refused))
        for position in range(0, RECORDS, every):
            payloads[position] = (
                payloads[position].replace(b'.000Z"', b'+00:00"')
                if (position // every) % 2
                else b'{"id": "spoiled-%d", "income": "high"}' % position
            )
    # Each batch holds 4 partitions' records one after the other, as a poll returns them.
    records = [
        RawRecord(p, "records", (i % batch_size) * 4 // batch_size, i, 1_772_323_200_000 + i)
        for i, p in enumerate(payloads)
    ]
    starts = range(0, RECORDS, batch_size)
    validator = RecordValidator(model.schema)
    out: dict[str, float] = {}

    def timed(stage: str, run: Any) -> Any:
        began = time.process_time()
        result = run()
        out[stage] = (time.process_time() - began) / RECORDS * 1e6
        return result

    def worker_drift() -> DriftStatsPublisher:
        """The agent engine's publisher: per input partition, where the revision has that."""
        if "per_partition" in inspect.signature(DriftStatsPublisher).parameters:
            return DriftStatsPublisher(model, Settings(), per_partition=True)
        return DriftStatsPublisher(model, Settings())

    def whole() -> None:
        scorer = BatchScorer(model, validator, RecentIds())
        drift = worker_drift()
        for start in starts:
            drift.add(scorer.score(records[start : start + batch_size]))
        drift.flush()

    whole()  # warm-up: imports, caches, the first call of everything
    timed("whole", whole)
    times = [0] * batch_size
    validated = timed(
        "validate",
        lambda: [validator.validate_batch(payloads[s : s + batch_size], times) for s in starts],
    )
    predictions = timed("predict", lambda: [model.predict(v.frame) for v in validated])
    timed(
        "encode",
        lambda: [
            score_messages(
                model, p, v.ids, [records[s + i] for i in v.positions], np.asarray(v.event_time_ms)
            )
            for v, p, s in zip(validated, predictions, starts, strict=True)
        ],
    )
    recent = RecentIds()
    timed(
        "duplicates",
        lambda: [
            recent.classify_batch(
                v.ids,
                [0] * len(v.ids),
                [s + i for i in v.positions],
                [payloads[s + i] for i in v.positions],
            )
            for v, s in zip(validated, starts, strict=True)
        ],
    )
    scorer = BatchScorer(model, validator, RecentIds())
    scored = [scorer.score(records[s : s + batch_size]) for s in starts]
    drift = worker_drift()

    def count() -> None:
        for batch in scored:
            drift.add(batch)
        drift.flush()

    timed("drift", count)
    return out


def _child(code: Path | None, model_dir: Path, batch_size: int, refused: float) -> dict[str, float]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    here = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(here), str(model_dir), str(batch_size), str(refused)],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# The child imports the project from the working directory (a checkout) or the path, and
# this file from the current tree.
_CHILD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bench_batch", sys.argv[1] + "/bench/bench_batch.py")
sys.path.append(sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
from pathlib import Path
print(json.dumps(module.measure(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-sizes", default="500,2000,10000")
    parser.add_argument("--before", metavar="REVISION", help="also measure this revision")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each column (median)")
    parser.add_argument(
        "--refused",
        type=float,
        default=0.0,
        help="share of records spoiled (half rejected, half valid in a form the fast paths "
        "leave to the general one), e.g. 0.02",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.refused <= 1:
        parser.error("--refused is a share, from 0 to 1")
    sizes = [int(size) for size in args.batch_sizes.split(",") if size]
    model_dir = trained_model()
    load = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        before = stack.enter_context(checkout(args.before)) if args.before else None
        codes = [(args.before, before)] if before is not None else []
        codes.append(("now", None))
        runs: dict[str, list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            # Alternated each round, so that the machine's other work falls on every column.
            order = codes if round_ % 2 == 0 else codes[::-1]
            for size in sizes:
                for label, code in order:
                    runs.setdefault(f"{label}, {size}", []).append(
                        _child(code, model_dir, size, args.refused)
                    )
    columns = [f"{label}, {size}" for size in sizes for label, _ in codes]
    print_table(
        f"µs of CPU per record by stage, offline ({RECORDS:,} records, {args.refused:.0%} "
        f"spoiled; median of "
        f"{args.rounds} rounds; load average {load:.1f} at the start); columns: code, batch size",
        ["stage", *columns],
        [
            [stage, *(f"{statistics.median(r[stage] for r in runs[c]):.1f}" for c in columns)]
            for stage in STAGES
        ],
    )


if __name__ == "__main__":
    main()
