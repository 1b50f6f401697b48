"""Evidently's default data-drift preset on a list of (reference, current) pairs.

Runs inside the Evidently virtualenv (``bench/evidently/requirements.txt``; pandas < 3),
called by ``bench/compare_evidently.py``, never imported by scorestream::

    python run_evidently.py MANIFEST.json OUT.json

The manifest is ``{"numeric": [...], "categorical": [...], "jobs": [{"id", "reference",
"current"}]}``, each path an ``.npz`` with one array per column (categorical columns as
strings). The output is, per job id, the columns the preset flagged and its dataset-drift
verdict (at least half of the columns drifted, its default). Only the standard library,
numpy, pandas and evidently: this file must run without scorestream.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def _frame(path: str, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    with np.load(path, allow_pickle=False) as data:
        columns: dict[str, Any] = {name: data[name].astype(np.float64) for name in numeric}
        columns.update({name: data[name].astype(str).astype(object) for name in categorical})
    return pd.DataFrame(columns)


def _verdict(snapshot: Any, columns: list[str]) -> dict[str, Any]:
    # Snapshot metrics: DriftedColumnsCount first (count, share), then one ValueDrift per
    # column whose value is its drift score; a column drifted when the score crosses the
    # method's threshold (p-value below it, distance above it).
    drifted, count, methods = [], None, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        value = metric.get("value")
        if isinstance(value, dict) and "count" in value:
            count = int(value["count"])
            continue
        column = config.get("column")
        if column not in columns or not isinstance(value, int | float):
            continue
        threshold = float(config["threshold"])
        method = str(config.get("method", ""))
        methods[column] = method
        # "K-S p_value", "chi-square p_value", "Z-test p_value": drift below the threshold;
        # "Wasserstein distance (normed)", "Jensen-Shannon distance": at or above it.
        if (value < threshold) if "p_value" in method else (value >= threshold):
            drifted.append(column)
    if count != len(drifted):  # our reading of the thresholds must match Evidently's count
        raise RuntimeError(f"Evidently counted {count} drifted columns, we read {drifted}")
    return {"drifted": sorted(drifted), "methods": methods}


def main() -> None:
    manifest_path, out_path = sys.argv[1:3]
    with open(manifest_path) as f:
        manifest = json.load(f)
    numeric, categorical = manifest["numeric"], manifest["categorical"]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    references: dict[str, Dataset] = {}
    results = {}
    for job in manifest["jobs"]:
        ref = references.get(job["reference"])
        if ref is None:
            frame = _frame(job["reference"], numeric, categorical)
            ref = Dataset.from_pandas(frame, data_definition=definition)
            references = {job["reference"]: ref}  # jobs are grouped by reference
        cur = Dataset.from_pandas(
            _frame(job["current"], numeric, categorical), data_definition=definition
        )
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        results[job["id"]] = _verdict(snapshot, numeric + categorical)
        if len(results) % 50 == 0:
            print(f"evidently: {len(results)} of {len(manifest['jobs'])}", file=sys.stderr)
    with open(out_path, "w") as f:
        json.dump({"version": __import__("evidently").__version__, "results": results}, f)


if __name__ == "__main__":
    main()
