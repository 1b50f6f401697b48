"""Where a scoring worker's CPU time goes: µs per record for each stage, from py-spy.

One worker drains a pre-filled topic while py-spy samples it (``--rate`` Hz, idle samples
dropped, so a sample is CPU time). Each sample is attributed to the stage of its innermost
frame that belongs to scorestream, aiokafka or Faust (:func:`stage_of`); start-up samples
(imports, model loading, joining the group) are left out by name. µs per record =
samples / rate / records.

    python -m bench.bench_stages [--records 100000] [--engines direct,faust] [--rate 250]

py-spy is a dev dependency (``pip install py-spy``); it needs ptrace rights over the worker
(root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.bench_pipeline import _fill, _read_scores
from bench.common import bench_settings, checkout, env_for, print_table, trained_model
from scorestream.topics import ensure_topics

#: The stages of the table, in the order a record meets them.
STAGES = (
    "fetch",
    "decode",
    "validate",
    "frame",
    "predict",
    "encode",
    "produce",
    "drift",
    "commit",
    "faust",
    "loop",
    "other",
)

# (stage, substring of "function (file" ...) checked on the innermost matching frame first.
_MARKERS: tuple[tuple[str, str], ...] = (
    ("decode", "input_decoding.py"),
    ("decode", "_decode ("),
    ("frame", "validate_batch ("),
    ("validate", "validation.py"),
    ("validate", "validation_outcome.py"),
    ("validate", "field_checks.py"),
    ("validate", "typed_columns.py"),
    ("validate", "recent_ids.py"),  # RecentIds: the duplicate-id window
    ("predict", "/model/registry.py"),
    ("predict", "/sklearn/"),
    ("encode", "score_messages ("),
    ("encode", "rejection_message ("),
    ("encode", "contract/scores.py"),
    ("encode", "contract/codec.py"),
    ("drift", "drift_outputs.py"),
    ("drift", "/streams/drift/"),
    # The batch's own loops (gathering, the duplicate-id window) between the stages above.
    ("validate", "scoring.py"),
    ("produce", "aiokafka/producer/"),
    ("produce", "aiokafka/partitioner"),
    ("produce", "publishing.py"),
    ("produce", "partitioning.py"),
    ("fetch", "aiokafka/consumer/fetcher.py"),
    ("commit", "aiokafka/consumer/group_coordinator.py"),
    ("commit", "flush_and_commit ("),
    ("fetch", "aiokafka/conn.py"),
    ("fetch", "getmany ("),
    # The loops that turn polled messages into RawRecords (before, agent, faust engines).
    ("fetch", "score_records_directly"),
    ("fetch", "BatchFeed.run ("),
    ("fetch", "score_records.<locals>.<listcomp>"),
    ("faust", "/faust/"),
    ("faust", "/mode/"),
    # The event loop's own work (select, callbacks, socket reads), unless one of the stages
    # above called it; it is checked innermost first like the rest: a select() under
    # Faust's worker is the loop's, not Faust's.
    ("loop", "asyncio/"),
    ("loop", "selectors.py"),
    # Any other worker code (the pipeline's own lines, metrics): not Faust's, which is
    # only what is left when no worker frame matched.
    ("other", "/scorestream/"),
)

# Frames that only run while the worker starts: their samples are not per-record work.
_STARTUP = (
    "_find_and_load (",
    "load_model (",
    "create_app (",
    "train_model (",
    "threadpoolctl",
    "findsource (",
    "claim_instance_id (",
    "ensure_topics (",
    # kafka-python: the worker uses it only to create topics at start (aiokafka after).
    "/site-packages/kafka/",
)


def stage_of(stack: list[str]) -> str | None:
    """The stage of one sampled stack (outermost frame first), None for start-up.

    >>> stage_of(["run (asyncio/runners.py:1)", "outputs (x/pipeline.py:9)",
    ...           "predict (x/model/registry.py:3)", "f (sklearn/linear_model/_base.py:4)"])
    'predict'
    >>> stage_of(["<module> (cli.py:1)", "_find_and_load (<frozen>:1)"]) is None
    True
    """
    if any(marker in frame for frame in stack for marker in _STARTUP):
        return None
    for frame in reversed(stack):
        for stage, marker in _MARKERS:
            if marker in frame:
                return stage
    return "other"


def stage_samples(raw: Path) -> Counter[str]:
    """Samples per stage from py-spy's ``--format raw`` output (``a;b;c count`` lines)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stage = stage_of(stack.split(";"))
        if stage is not None:
            counts[stage] += int(count)
    return counts


def profile(
    model_dir: Path, engine: str, n: int, rate: int, workdir: Path, code: Path | None = None
) -> tuple[Counter[str], float]:
    """Samples per stage of one worker draining ``n`` records, and its records/s.

    ``code``: a checkout whose ``scorestream`` the worker runs (the "before" column).
    """
    label = f"{engine}{'before' if code else ''}"
    settings = bench_settings(f"stages{label}")
    ensure_topics(settings)
    _fill(settings, n, seed=11)
    raw = workdir / f"py-spy-{label}.txt"
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [
        py_spy,
        "record",
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--full-filenames",
        "--nonblocking",
        "--output",
        str(raw),
        "--",
        sys.executable,
        "-m",
        "scorestream.cli",
        "worker",
        "--model-dir",
        str(model_dir),
        "--engine",
        engine,
    ]
    with (workdir / f"worker-{label}.log").open("ab") as log:
        spy = subprocess.Popen(
            command,
            env=env_for(settings, code),
            cwd=code,  # python -m puts the working directory ahead of PYTHONPATH
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        scores = _read_scores(settings, n, timeout_s=900, worker=spy)
    finally:
        # py-spy writes its file when the worker it started ends.
        for child in _children(spy.pid):
            os.kill(child, signal.SIGTERM)
        spy.wait(60)
    stamps = [s["scored_at_ms"] for s in scores]
    seconds = max(1, max(stamps) - min(stamps)) / 1000
    return stage_samples(raw), len(scores) / seconds


def _children(pid: int) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [int(child) for child in found]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--engines", default="agent,faust")
    parser.add_argument(
        "--before",
        metavar="REVISION",
        help="also profile this git revision's worker (with --before-engine), in the same run",
    )
    parser.add_argument("--before-engine", default="direct")
    parser.add_argument("--rate", type=int, default=250)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="scorestream-bench-stages-"))
    model_dir = trained_model()
    results: dict[str, tuple[Counter[str], float]] = {}
    if args.before:
        with checkout(args.before) as code:
            label = f"{args.before} --engine {args.before_engine}"
            results[label] = profile(
                model_dir, args.before_engine, args.records, args.rate, workdir, code
            )
    for engine in args.engines.split(","):
        results[f"--engine {engine}"] = profile(model_dir, engine, args.records, args.rate, workdir)
    rows = []
    for stage in [*STAGES, "total"]:
        row: list[object] = [stage]
        for counts, _ in results.values():
            samples = sum(counts.values()) if stage == "total" else counts[stage]
            row.append(f"{samples / args.rate / args.records * 1e6:,.1f}")
        rows.append(row)
    rows.append(["records/s (scores' timestamps)", *(f"{r[1]:,.0f}" for r in results.values())])
    print(f"(raw profiles in {workdir})")
    print_table(
        f"Worker CPU µs per record by stage (py-spy {args.rate} Hz, {args.records:,} records, "
        f"load average {os.getloadavg()[0]:.1f})",
        ["stage", *results],
        rows,
    )


if __name__ == "__main__":
    main()
