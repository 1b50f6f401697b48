"""scorestream: score a Kafka stream with a scikit-learn model, store it, watch it for drift.

The Python API (``from scorestream import Profile, compare``, see
:mod:`scorestream.drift_api`) is loaded on first use, so that ``import scorestream`` (and
``scorestream --help``) does not pay for pandas and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scorestream.drift_api import DriftReport, DriftThresholds, PeriodCounts, Profile, compare

#: Names served lazily from :mod:`scorestream.drift_api`.
__all__ = ["DriftReport", "DriftThresholds", "PeriodCounts", "Profile", "compare"]
_PYTHON_API = frozenset(__all__)


def __getattr__(name: str) -> Any:
    if name in _PYTHON_API:
        value = getattr(importlib.import_module("scorestream.drift_api"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'scorestream' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PYTHON_API})
