"""Run the drift modules' docstring examples (``pytest tests`` does not collect them)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "streams.drift.profile",
    "streams.drift.accumulator",
    "streams.drift.statistics",
    "streams.drift.multiple_testing",
    "streams.drift.decision",
    "streams.drift.detectors",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
