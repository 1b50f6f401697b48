"""Models and records from scikit-learn's breast cancer data, for the swap and challenger tests.

Records cycle through the data set's 569 rows (values exactly as in the data, so every
record lies within each model's allowed ranges), each with its own id and a distinct event
time, so many thousands can be produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pandas as pd

from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.streams.model.versions import ModelRegistry

EVENT_START_MS = 1_780_000_000_000  # 2026-05-28, a day the tests' partitions accept
#: Features of the subset challenger: the first ten ("mean ...") measurements.
SUBSET = 10


def cancer_frame() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame


def train(
    directory: Path, *, name: str, classifier: str = "logistic", features: int | None = None
) -> Path:
    """Train one model on the data set (all features, or the first ``features``)."""
    frame = cancer_frame()
    if features is not None:
        frame = frame[[*frame.columns[:features], "target"]]
    train_model(frame, "target", directory, name=name, classifier=classifier, seed=0)  # type: ignore[arg-type]
    return directory


def tighten(model_dir: Path, feature: str, allowed_max: float) -> None:
    """Lower a feature's ``allowed_max`` in ``schema.json`` (a user's edit; still loads)."""
    path = model_dir / "schema.json"
    schema = json.loads(path.read_text())
    for spec in schema["features"]:
        if spec["name"] == feature:
            spec["allowed_max"] = allowed_max
    path.write_text(json.dumps(schema))


def break_pipeline(version_dir: Path) -> None:
    """Corrupt a registered version's pipeline file in place (its hash no longer matches)."""
    pipeline = version_dir / "pipeline.skops"
    version_dir.chmod(0o755)
    pipeline.chmod(0o644)
    data = bytearray(pipeline.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    pipeline.write_bytes(bytes(data))


def drop_feature_from_schema(version_dir: Path) -> None:
    """Make a registered version's schema name one feature fewer than its pipeline."""
    path = version_dir / "schema.json"
    version_dir.chmod(0o755)
    path.chmod(0o644)
    schema = json.loads(path.read_text())
    schema["features"] = schema["features"][1:]
    path.write_text(json.dumps(schema))


def records(n: int, prefix: str = "r") -> list[dict]:
    """``n`` records: the data set's rows in turn, ids ``{prefix}-{i}``, no target."""
    frame = cancer_frame().drop(columns=["target"])
    rows = frame.to_dict(orient="records")
    return [
        {"id": f"{prefix}-{i}", "event_time": EVENT_START_MS + i, **rows[i % len(rows)]}
        for i in range(n)
    ]


def payloads(batch: list[dict]) -> list[tuple[bytes, bytes]]:
    return [(r["id"].encode(), orjson.dumps(r)) for r in batch]


def offline_scores(model_dir: Path, batch: list[dict]) -> dict[str, float]:
    """Id -> the score ``model_dir``'s model gives each record, computed directly."""
    model = LoadedModel.load(model_dir)
    frame = pd.DataFrame(batch)
    scores = model.predict(frame[model.schema.names]).scores
    return dict(zip(frame["id"], scores.tolist(), strict=True))


def register(registry: ModelRegistry, model_dir: Path, name: str) -> str:
    """Register ``model_dir`` as a version of ``name``; returns the version."""
    return registry.add(model_dir, name=name).version
