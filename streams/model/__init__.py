"""The scoring model: feature schema, training, and safe loading of model directories."""

from scorestream.streams.model.registry import (
    MODEL_KINDS,
    LoadedModel,
    ModelKind,
    Predictions,
    is_allowed_type,
    load_model,
)
from scorestream.streams.model.schema import FeatureSchema, FeatureSpec, coerce_features
from scorestream.streams.model.train import (
    HoldoutMetrics,
    TrainReport,
    read_table,
    train_from_file,
    train_model,
)

__all__ = [
    "MODEL_KINDS",
    "FeatureSchema",
    "FeatureSpec",
    "HoldoutMetrics",
    "LoadedModel",
    "ModelKind",
    "Predictions",
    "TrainReport",
    "coerce_features",
    "is_allowed_type",
    "load_model",
    "read_table",
    "train_from_file",
    "train_model",
]
