"""Run NannyML's CBPE on the arrays ``bench/compare_nannyml.py`` wrote; print JSON.

Runs in NannyML's own virtualenv (see ``compare_nannyml.py``): it imports nothing of
scorestream. Argument: the ``.npz`` file. Output: per day the estimated metrics, and per
size the seconds one day's estimate took.
"""

from __future__ import annotations

import json
import sys
import time

import nannyml as nml
import numpy as np
import pandas as pd

METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"]


def frame(scores: np.ndarray, truth: np.ndarray | None = None) -> pd.DataFrame:
    data = {"y_pred_proba": scores, "y_pred": (scores >= 0.5).astype(int)}
    if truth is not None:
        data["y_true"] = truth.astype(int)
    return pd.DataFrame(data)


def estimator(day_rows: int) -> nml.CBPE:
    return nml.CBPE(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="y_true",
        metrics=METRICS,
        chunk_size=day_rows,
        problem_type="classification_binary",
    )


def main() -> None:
    data = np.load(sys.argv[1])
    reference = frame(data["reference_scores"], data["reference_truth"])
    day_rows = int(data["day_rows"])
    cbpe = estimator(day_rows)
    cbpe.fit(reference)
    result = cbpe.estimate(frame(data["day_scores"])).filter(period="analysis").to_df()
    days = [
        {name: float(result[(name, "value")].iloc[k]) for name in METRICS}
        for k in range(len(result))
    ]
    timings = {}
    for size in data["sizes"]:
        rows = data["big_scores"][: int(size)]
        timed = estimator(len(rows))
        timed.fit(reference)
        start = time.perf_counter()
        timed.estimate(frame(rows))
        timings[str(int(size))] = time.perf_counter() - start
    print(json.dumps({"days": days, "seconds": timings}))


if __name__ == "__main__":
    main()
