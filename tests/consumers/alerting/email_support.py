"""The alert e-mail's tests share one real model and real days: breast cancer (scikit-learn).

The model is trained once per test process (``scorestream``'s own training, logistic
regression on the 30 measurements); a "day" is 2,000 records drawn from the data set with
some measurements changed, judged by the drift check's own functions
(:mod:`scorestream.consumers.alerting.sample`).
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

from scorestream.consumers.alerting.sample import sample_alert
from scorestream.consumers.drift_check.check import CheckResult
from scorestream.contract import AlertMessage
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model

DAY = date(2026, 3, 1)
GRAFANA = "http://grafana.example.org:3000"
RECORDS = 2_000


@functools.cache
def cancer_frame() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


@functools.cache
def cancer_model() -> LoadedModel:
    """The breast-cancer model, trained once (binary: positive class 1, benign)."""
    directory = Path(tempfile.mkdtemp(prefix="email-tests-")) / "cancer"
    train_model(cancer_frame(), "target", directory, name="cancer", seed=0)
    return LoadedModel.load(directory)


def day_of_records(change: Callable[[pd.DataFrame], None], seed: int = 1) -> pd.DataFrame:
    """:data:`RECORDS` records drawn from the data set, then changed in place by ``change``."""
    frame = cancer_frame().sample(RECORDS, replace=True, random_state=seed).reset_index(drop=True)
    change(frame)
    return frame


def larger_areas(frame: pd.DataFrame) -> None:
    """Tumour areas measured 35% larger: an input drifts, the model's output holds."""
    frame["mean_area"] = frame["mean_area"] * 1.35


def larger_tumours(frame: pd.DataFrame) -> None:
    """Every size measurement of the worst cells 60% larger: the model's output moves."""
    for column in ("worst_radius", "worst_perimeter", "worst_area", "worst_texture"):
        frame[column] = frame[column] * 1.6


def alert_of(
    change: Callable[[pd.DataFrame], None], muted: frozenset[str] = frozenset()
) -> tuple[pd.DataFrame, CheckResult, AlertMessage]:
    """The day's records, the check's result and its alert (Grafana link set)."""
    frame = day_of_records(change)
    result, alert = sample_alert(cancer_model(), frame, DAY, grafana_url=GRAFANA, muted=muted)
    return frame, result, alert
