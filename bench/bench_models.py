"""Challengers and live swap: champion records/s with 0, 1 and 2 challengers, and the swap pause.

Throughput: one worker (agent engine) per run drains a pre-filled topic; the champion's
records/s is counted from its scores' own timestamps (first to last ``scored_at_ms``), so
start-up does not count. The runs go one after the other in the same process, on the same
broker, with the same records. Challengers: gradient boosting on the same features (another
algorithm), and logistic regression on half the features (another feature set; the
champion's validated frame is reused for both).

Swap pause: records stream in at a fixed rate while the champion's alias is moved; the pause
is the gap in ``scored_at_ms`` between the last output of the old version and the first of
the new, beside the largest gap between two outputs elsewhere in the same run.

    python -m bench.bench_models [--records 60000] [--rate 5000] [--seconds 12]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_pipeline import _fill, _read_scores
from bench.common import bench_settings, cli, print_table
from scorestream.settings import Settings
from scorestream.streams.model.versions import ModelRegistry
from scorestream.topics import ensure_topics


def _registry(root: Path) -> ModelRegistry:
    """loans (logistic) as champion, loans@hgb, and loans_small (half the features)."""
    from scorestream.streams.model.train import train_model
    from scorestream.streams.synthetic import generate_frame

    frame = generate_frame(20_000, seed=7, start="2026-01-01T00:00:00")
    registry = ModelRegistry(root / "models")
    features = [c for c in frame.columns if c not in ("id", "event_time", "default")]
    small = frame[[*features[: len(features) // 2], "default"]]
    for name, data, classifier, alias in (
        ("loans", frame, "logistic", "champion"),
        ("loans", frame, "hgb", "hgb"),
        ("loans_small", small, "logistic", "champion"),
    ):
        directory = root / f"{name}-{classifier}"
        train_model(data, "default", directory, name=name, classifier=classifier, seed=0)  # type: ignore[arg-type]
        registry.set_alias(name, alias, registry.add(directory, name=name).version)
    return registry


def _worker(settings: Settings, registry: ModelRegistry, extra: list[str], log: Path) -> object:
    settings = settings.model_copy(update={"models_dir": registry.root, "model": "loans"})
    return cli(["worker", "--batch-within", "0.05", *extra], settings, log)


def _stop(worker: object) -> None:
    os.killpg(worker.pid, signal.SIGTERM)  # type: ignore[attr-defined]
    worker.wait(30)  # type: ignore[attr-defined]


def throughput(
    registry: ModelRegistry, challengers: list[str], n: int, workdir: Path
) -> tuple[float, int]:
    """Champion records/s of one worker draining ``n`` records beside ``challengers``."""
    settings = bench_settings(f"models{len(challengers)}")
    ensure_topics(settings)
    _fill(settings, n, seed=5)
    extra = [arg for reference in challengers for arg in ("--challenger", reference)]
    worker = _worker(settings, registry, extra, workdir / f"worker-{len(challengers)}.log")
    try:
        scores = _read_scores(settings, n, timeout_s=600)
    finally:
        _stop(worker)
    stamps = [s["scored_at_ms"] for s in scores]
    return len(scores) / (max(1, max(stamps) - min(stamps)) / 1000), len(scores)


def swap_pause(
    registry: ModelRegistry, rate: float, seconds: float, workdir: Path
) -> dict[str, float]:
    """Milliseconds without output around a swap, and the largest gap elsewhere."""
    settings = bench_settings("swap")
    ensure_topics(settings)
    worker = _worker(settings, registry, ["--model-poll-interval", "0.5"], workdir / "swap.log")
    old = registry.aliases("loans")["champion"]
    new = registry.aliases("loans")["hgb"]
    try:
        _fill(settings, 200, seed=3)  # warm-up: the group has joined once these are scored
        _read_scores(settings, 200, timeout_s=120)
        n = int(rate * seconds)
        feeding = threading.Thread(target=_fill, args=(settings, n, 4, rate), daemon=True)
        feeding.start()
        time.sleep(seconds / 2)
        registry.set_alias("loans", "champion", new)
        feeding.join()
        scores = _read_scores(settings, n + 200, timeout_s=120)
    finally:
        _stop(worker)
        registry.set_alias("loans", "champion", old)
    ordered = sorted(scores, key=lambda s: s["scored_at_ms"])
    stamps = sorted({s["scored_at_ms"] for s in ordered})
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    last_old = max(s["scored_at_ms"] for s in ordered if s["model_version"] == old)
    first_new = min(s["scored_at_ms"] for s in ordered if s["model_version"] == new)
    at_swap = first_new - last_old
    elsewhere = [g for a, g in zip(stamps, gaps, strict=False) if a != last_old]
    return {
        "pause": float(at_swap),
        "largest_elsewhere": float(max(elsewhere)),
        "median_gap": float(sorted(gaps)[len(gaps) // 2]),
        "n": float(len(scores)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="scorestream-bench-models-"))
    registry = _registry(workdir)
    runs = [[], ["loans@hgb"], ["loans@hgb", "loans_small"]]
    results = [throughput(registry, challengers, args.records, workdir) for challengers in runs]
    base = results[0][0]
    print_table(
        "Champion throughput beside challengers (one worker, agent engine, same run)",
        ["challengers", "records", "champion records/s", "vs none"],
        [
            [len(ch), f"{n:,}", f"{rate:,.0f}", f"{rate / base:.0%}"]
            for ch, (rate, n) in zip(runs, results, strict=True)
        ],
    )
    pause = swap_pause(registry, args.rate, args.seconds, workdir)
    print_table(
        f"Live swap at {args.rate:,.0f} records/s (alias moved mid-stream, gaps in scored_at)",
        ["records", "gap at the swap ms", "largest gap elsewhere ms", "median gap ms"],
        [
            [
                f"{int(pause['n']):,}",
                f"{pause['pause']:,.0f}",
                f"{pause['largest_elsewhere']:,.0f}",
                f"{pause['median_gap']:,.0f}",
            ]
        ],
    )
    print(f"\nworker logs in {workdir}")


if __name__ == "__main__":
    main()
