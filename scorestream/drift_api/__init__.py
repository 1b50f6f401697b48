"""The Python API: compare two DataFrames for drift, as the daily check would, without Kafka.

Build a :class:`Profile` from reference data (the bins ``scorestream train`` would build
from it), :func:`compare` current data with it, and read the :class:`DriftReport`: the
daily check's statistics, Benjamini-Hochberg family, thresholds and verdict, computed by
the same functions (:mod:`scorestream.streams.drift.evaluation`). Export it as JSON (a
documented, versioned shape: :mod:`.report`) or as one self-contained HTML page.

Everything is importable from the top-level package, which loads it only when asked
(``import scorestream`` stays cheap for the command line).

Examples
--------
Breast tumours from scikit-learn: two random halves are the same population; making one
measurement 15 % larger in the second half is a drift of that feature, and only of it.

>>> import numpy as np
>>> from sklearn.datasets import load_breast_cancer
>>> from scorestream import Profile, compare
>>> data = load_breast_cancer(as_frame=True).data  # 569 tumours, 30 measurements
>>> rows = np.random.default_rng(7).permutation(len(data))
>>> reference, current = data.iloc[rows[:300]], data.iloc[rows[300:]]
>>> profile = Profile.from_frame(reference)
>>> compare(profile, current).verdict
'ok'
>>> larger = current.assign(**{"mean radius": current["mean radius"] * 1.15})
>>> report = compare(profile, larger)
>>> report.verdict, report.drifted
('drift', ['mean radius'])
>>> report.summary
'drift in 1 of 30 features (mean radius), 269 records'
>>> print(report["mean radius"]["reasons"][0])
ks q=2.12e-09 < 0.01; PSI 0.503 >= 0.2, Jensen-Shannon 0.294 >= 0.15, Wasserstein 0.782 >= 0.35
>>> import json
>>> document = json.loads(report.to_json())
>>> document["verdict"], document["features"][0]["level"], document["features"][1]["level"]
('drift', 'drift', 'ok')
>>> page = report.to_html()  # inline CSS, the chart of each flagged feature as a data: URI
>>> page.startswith("<!DOCTYPE html>"), page.count("data:image/png;base64,")
(True, 1)

``report.save("drift.html")`` and ``report.save("drift.json")`` write the files;
``Profile.load("models/loans")`` reads a deployed model's reference profile, and
``compare(profile, frame, scores=...)`` compares the model's scores too.
"""

from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.evaluation import PeriodCounts

from .compare import compare
from .profile import Profile
from .report import DriftReport

__all__ = ["DriftReport", "DriftThresholds", "PeriodCounts", "Profile", "compare"]
