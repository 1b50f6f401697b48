"""Estimated performance side by side: scorestream's CBPE against NannyML's, same data.

Data: river's Bananas, a 30-nearest-neighbour classifier fitted on 1,500 rows and
calibrated on 600 held-out rows (the reference both estimators fit on). Eight days of
600 unseen rows: four as they come, four drawn more and more toward rows the model is
unsure of (covariate shift). Per day: the realised metric (labels known here), our
estimate and NannyML's, and each one's absolute error; then the seconds one day's
estimate takes at 10^5 and 10^7 scored records.

Ours reads counts: the seconds to estimate from a day's histogram are flat; counting the
scores into it is the one ``GROUP BY`` query ClickHouse runs (:func:`scorestream.streams.
estimation.histogram.histogram_query`), timed here as numpy's ``bincount`` over the same
scores for scale. NannyML runs in its own virtualenv (NANNYML_PYTHON, default
``.stack/nannyml-venv/bin/python``; create it with ``python3 -m venv .stack/nannyml-venv &&
.stack/nannyml-venv/bin/pip install nannyml==0.13.1 statsmodels``: NannyML imports
statsmodels without declaring it).

    python -m bench.compare_nannyml [--sizes 100000,10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from scorestream.streams.estimation.cbpe import BINARY_METRICS, CBPE
from scorestream.streams.estimation.histogram import ScoreHistogram

ROOT = Path(__file__).resolve().parents[1]
DAY_ROWS = 600
RUNNER = Path(__file__).resolve().parent / "nannyml" / "run_cbpe.py"


def realised(truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    predicted = (scores >= 0.5).astype(int)
    return {
        "accuracy": accuracy_score(truth, predicted),
        "precision": precision_score(truth, predicted, zero_division=0),
        "recall": recall_score(truth, predicted, zero_division=0),
        "f1": f1_score(truth, predicted, zero_division=0),
        "roc_auc": roc_auc_score(truth, scores),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,10000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    default = ROOT / ".stack" / "nannyml-venv" / "bin" / "python"
    python = os.environ.get("NANNYML_PYTHON", str(default))

    from tests.streams.estimation.datasets import bananas, split

    x, y = bananas()
    s = split(x, y, seed=0, fit_rows=1500, holdout_rows=600, multiclass=False)
    order = np.random.default_rng(0).permutation(len(y))
    holdout = order[1500:2100]
    reference_scores = s.model.predict_proba(x[holdout])[:, 1]
    calibration = s.calibration  # fitted on exactly these held-out rows
    pool = s.probabilities[:, 1]
    uncertainty = 1.0 - np.abs(2 * pool - 1)
    rng = np.random.default_rng(1)
    days = []
    for strength in (0, 0, 0, 0, 1, 2, 4, 8):
        weights = uncertainty**strength + 1e-6
        days.append(rng.choice(len(pool), size=DAY_ROWS, p=weights / weights.sum()))
    big = rng.choice(pool, size=max(sizes))

    ours, ours_seconds = [], {}
    for day in days:
        ours.append(CBPE(calibration).estimate(ScoreHistogram.from_scores(pool[day])))
    for size in sizes:
        start = time.perf_counter()
        histogram = ScoreHistogram.from_scores(big[:size])
        counted = time.perf_counter() - start
        start = time.perf_counter()
        CBPE(calibration).estimate(histogram)
        ours_seconds[size] = (counted, time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        arrays = Path(tmp) / "data.npz"
        np.savez(
            arrays,
            reference_scores=reference_scores,
            reference_truth=y[holdout],
            day_scores=np.concatenate([pool[d] for d in days]),
            day_rows=DAY_ROWS,
            sizes=np.asarray(sizes),
            big_scores=big,
        )
        done = subprocess.run(
            [python, str(RUNNER), str(arrays)], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"NannyML failed ({python}):\n{done.stderr[-2000:]}")
    theirs = json.loads(done.stdout.strip().splitlines()[-1])

    errors: dict[str, dict[str, list[float]]] = {"ours": {}, "nannyml": {}}
    print(
        "day  shift  metric     realised  ours (band)                nannyml   |err| ours  nannyml"
    )
    for k, day in enumerate(days):
        truth = realised(s.y[day], pool[day])
        for name in BINARY_METRICS:
            estimate = ours[k][name]
            nml = theirs["days"][k][name]
            errors["ours"].setdefault(name, []).append(abs(estimate.value - truth[name]))
            errors["nannyml"].setdefault(name, []).append(abs(nml - truth[name]))
            if name in ("accuracy", "roc_auc"):
                print(
                    f"{k + 1:>3}  {'yes' if k >= 4 else 'no':>5}  {name:<9} {truth[name]:>8.3f}  "
                    f"{estimate.value:.3f} [{estimate.lower:.3f}, {estimate.upper:.3f}]   "
                    f"{nml:>7.3f}   {abs(estimate.value - truth[name]):>9.3f}  "
                    f"{abs(nml - truth[name]):>7.3f}"
                )
    print("\nmean absolute estimation error over the 8 days")
    for name in BINARY_METRICS:
        print(
            f"  {name:<9} ours {np.mean(errors['ours'][name]):.4f}   "
            f"nannyml {np.mean(errors['nannyml'][name]):.4f}"
        )
    print("\nseconds for one day's estimate")
    for size in sizes:
        counted, estimated = ours_seconds[size]
        print(
            f"  {size:>12,} records: ours {estimated:.3f} s from counts (+ {counted:.3f} s to "
            f"count in numpy; ClickHouse's GROUP BY in production)   "
            f"nannyml {theirs['seconds'][str(size)]:.3f} s"
        )


if __name__ == "__main__":
    main()
