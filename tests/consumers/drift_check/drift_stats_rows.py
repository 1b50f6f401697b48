"""Writing ``drift_stats`` rows straight into ClickHouse, as the sink would, for the checks."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from scorestream.streams.drift.profile import NumericFeatureProfile, ReferenceProfile
from scorestream.streams.drift.values import as_float_array
from scorestream.streams.model.registry import LoadedModel


def write_day(
    client,
    database: str,
    model: LoadedModel,
    day: date,
    frame: pd.DataFrame,  # type: ignore[no-untyped-def]
    partials: int = 3,
    model_name: str = "",
) -> None:
    """Bins of ``frame`` spread over the day's minutes, split into several partial rows.

    ``model_name`` empty: rows as written before models were named in them.
    """
    profile: ReferenceProfile = model.profile
    features = frame[model.schema.names]
    counts = profile.count(features, model.predict_scores(features))
    minutes = np.array_split(np.arange(len(frame)), 24)
    rows = []
    start = datetime(day.year, day.month, day.day)
    for hour, index in enumerate(minutes):
        part = features.iloc[index]
        part_scores = model.predict_scores(part)
        part_counts = profile.count(part, part_scores)
        for feature, bins in part_counts.items():
            # The sums the sink keeps (present numeric values), in the hour's first partial:
            # the check compares the day's mean with the reference's.
            total = total_sq = 0.0
            spec = profile[feature]
            raw = profile.values_of(spec, part, part_scores)
            if isinstance(spec, NumericFeatureProfile) and raw is not None:
                x = as_float_array(raw)
                x = x[np.isfinite(x)]
                total, total_sq = float(x.sum()), float((x * x).sum())
            for k, share in enumerate(np.array_split(np.arange(len(bins)), partials)):
                partial = np.zeros_like(bins)
                partial[share] = bins[share]
                rows.append(
                    (
                        start + timedelta(hours=hour, minutes=k),
                        feature,
                        "x",
                        model.version,
                        uuid.uuid4().hex,
                        [int(v) for v in partial],
                        int(partial.sum()),
                        0,
                        total if k == 0 else 0.0,
                        total_sq if k == 0 else 0.0,
                        0,
                        model_name,
                        f"{model_name}@{model.version}" if model_name else "",
                    )
                )
    assert sum(int(np.sum(v)) for v in counts.values()) == sum(r[6] for r in rows)
    client.execute(
        f"INSERT INTO {database}.drift_stats (minute, feature, kind, model_version, batch_id, "
        "counts, count, missing, sum, sumsq, emitted_at_ms, model_name, model_id) VALUES",
        rows,
    )
