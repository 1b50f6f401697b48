"""Seeded synthetic loan applications: demo data for training, producing and drift tests.

Each record is a loan application with numeric and categorical features, a few missing
values and a binary target ``default`` that depends on the features through a logistic
model plus Bernoulli noise, so a model can learn it (holdout ROC AUC about 0.8).

Records are generated in fixed-size blocks, each from its own random generator seeded with
``(seed, block number)``: record ``i`` depends only on ``seed`` and ``i``, never on how the
records are chunked, and a million records take about a second.

Examples
--------
>>> frame = generate_frame(3, seed=7, start="2024-01-01T00:00:00Z")
>>> frame["id"].tolist()
['syn-7-0', 'syn-7-1', 'syn-7-2']
>>> frame["event_time"].tolist()
['2024-01-01T00:00:00.000Z', '2024-01-01T00:00:01.000Z', '2024-01-01T00:00:02.000Z']
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

TARGET = "default"
NUMERIC_FEATURES: tuple[str, ...] = (
    "age",
    "income",
    "loan_amount",
    "credit_score",
    "debt_to_income",
    "employment_years",
    "num_open_accounts",
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "region",
    "home_ownership",
    "loan_purpose",
    "employment_type",
)
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
COLUMNS: tuple[str, ...] = ("id", "event_time", *FEATURES, TARGET)

#: Features with missing values.
NULLABLE_FEATURES: frozenset[str] = frozenset(
    {"credit_score", "debt_to_income", "employment_years", "home_ownership"}
)
#: Integer-valued features; the others are floats.
INTEGER_FEATURES: frozenset[str] = frozenset({"age", "credit_score", "num_open_accounts"})

REGIONS = ("north", "south", "east", "west")
HOME_OWNERSHIP = ("rent", "mortgage", "own", "other")
LOAN_PURPOSES = (
    "debt_consolidation",
    "home_improvement",
    "car",
    "education",
    "medical",
    "business",
    "other",
)
EMPLOYMENT_TYPES = ("salaried", "self_employed", "contract", "unemployed", "retired")

# Records per random generator. Part of the data definition: changing it changes the data.
_BLOCK_SIZE = 8192

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]


def generate_frame(
    n: int,
    seed: int = 0,
    start: datetime | str | None = None,
    *,
    interval_ms: int = 1000,
) -> pd.DataFrame:
    """Generate ``n`` loan applications as a DataFrame.

    Parameters
    ----------
    n : int
        Number of records.
    seed : int
        Random seed; the same seed gives the same records (apart from ``event_time`` when
        ``start`` is None).
    start : datetime or str or None
        Event time of the first record (ISO-8601 string or datetime; naive means UTC).
        None means now.
    interval_ms : int
        Milliseconds between consecutive records' event times.

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` (``"syn-{seed}-{i}"``), ``event_time`` (ISO-8601 UTC with
        milliseconds), the features (:data:`FEATURES`; missing values in
        ``credit_score``, ``debt_to_income``, ``employment_years`` and ``home_ownership``)
        and the 0/1 target ``default``.
    """
    _check_count(n)
    start_ms = _start_ms(start)
    parts = [
        _block_slice(seed, block, low, high)
        for block, low, high in _block_ranges(0, n)
        if high > low
    ]
    columns = {
        name: np.concatenate([part[name] for part in parts]) if parts else np.empty(0)
        for name in (*FEATURES, TARGET)
    }
    frame: dict[str, Any] = {
        "id": _ids(seed, 0, n),
        "event_time": _event_times(start_ms, 0, n, interval_ms),
    }
    for name in NUMERIC_FEATURES:
        values = columns[name].astype(np.float64)
        if name not in INTEGER_FEATURES:
            frame[name] = values
            continue
        missing = np.isnan(values)
        whole = np.round(np.nan_to_num(values)).astype(np.int64)
        # A nullable integer column keeps its dtype whether or not this sample has gaps.
        frame[name] = pd.arrays.IntegerArray(whole, missing) if name in NULLABLE_FEATURES else whole
    for name in CATEGORICAL_FEATURES:
        frame[name] = pd.Series(columns[name], dtype=object).where(pd.notna(columns[name]), None)
    frame[TARGET] = columns[TARGET].astype(np.int64)
    return pd.DataFrame(frame, columns=list(COLUMNS))


def generate_records(
    n: int,
    seed: int = 0,
    chunk_size: int = 10_000,
    *,
    start: datetime | str | None = None,
    interval_ms: int = 1000,
    first_index: int = 0,
    include_target: bool = True,
) -> Iterator[list[dict[str, Any]]]:
    """Yield ``n`` loan applications as lists of JSON-ready dicts, ``chunk_size`` at a time.

    The records are the rows :func:`generate_frame` returns for the same seed and start
    (missing values as ``None``, integers as ``int``), generated lazily.

    Parameters
    ----------
    n : int
        Number of records.
    seed : int
        Random seed.
    chunk_size : int
        Records per yielded list.
    start : datetime or str or None
        Event time of record 0 (None: now).
    interval_ms : int
        Milliseconds between consecutive records' event times.
    first_index : int
        Index of the first record, to resume a stream: record ``i`` is the same whatever
        the chunking and starting point.
    include_target : bool
        Whether records carry the label ``default`` (the scoring worker ignores it).

    Yields
    ------
    list of dict
        Records with keys ``id``, ``event_time``, the features and optionally ``default``.
    """
    _check_count(n)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if first_index < 0:
        raise ValueError(f"first_index must not be negative, got {first_index}")
    start_ms = _start_ms(start)
    names = (*FEATURES, TARGET) if include_target else FEATURES
    keys = ("id", "event_time", *names)
    for low in range(first_index, first_index + n, chunk_size):
        high = min(low + chunk_size, first_index + n)
        parts = [_block_slice(seed, block, lo, hi) for block, lo, hi in _block_ranges(low, high)]
        columns: list[list[Any]] = [
            _ids(seed, low, high),
            _event_times(start_ms, low, high, interval_ms).tolist(),
        ]
        for name in names:
            values = np.concatenate([part[name] for part in parts])
            columns.append(_json_values(name, values))
        yield [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"the number of records must not be negative, got {n}")


def _start_ms(start: datetime | str | None) -> int:
    if start is None:
        moment = datetime.now(UTC)
    elif isinstance(start, str):
        moment = datetime.fromisoformat(start)
    else:
        moment = start
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _ids(seed: int, low: int, high: int) -> list[str]:
    prefix = f"syn-{seed}-"
    return [f"{prefix}{i}" for i in range(low, high)]


def _event_times(start_ms: int, low: int, high: int, interval_ms: int) -> ObjectArray:
    millis = start_ms + np.arange(low, high, dtype=np.int64) * interval_ms
    text = np.datetime_as_string(millis.astype("datetime64[ms]"), unit="ms", timezone="UTC")
    return text.astype(object)


def _json_values(name: str, values: npt.NDArray[Any]) -> list[Any]:
    if values.dtype == object:
        return values.tolist()
    if name in INTEGER_FEATURES or name == TARGET:
        missing = np.isnan(values)
        as_objects = np.round(np.nan_to_num(values)).astype(np.int64).astype(object)
        as_objects[missing] = None
        return as_objects.tolist()
    if np.isnan(values).any():
        as_objects = values.astype(object)
        as_objects[np.isnan(values)] = None
        return as_objects.tolist()
    return values.tolist()


def _block_ranges(low: int, high: int) -> Iterator[tuple[int, int, int]]:
    """Split record indices ``[low, high)`` into (block, first, end) offsets inside blocks."""
    index = low
    while index < high:
        block = index // _BLOCK_SIZE
        block_start = block * _BLOCK_SIZE
        end = min(high, block_start + _BLOCK_SIZE)
        yield block, index - block_start, end - block_start
        index = end


_block_cache: dict[tuple[int, int], dict[str, npt.NDArray[Any]]] = {}


def _block_slice(seed: int, block: int, low: int, high: int) -> dict[str, npt.NDArray[Any]]:
    key = (seed, block)
    columns = _block_cache.get(key)
    if columns is None:
        columns = _generate_block(np.random.default_rng([seed, block]), _BLOCK_SIZE)
        # Chunks smaller than a block would regenerate the same block many times; keep
        # only the latest block, which is the only one a sequential reader needs again.
        _block_cache.clear()
        _block_cache[key] = columns
    return {name: values[low:high] for name, values in columns.items()}


def _generate_block(rng: np.random.Generator, size: int) -> dict[str, npt.NDArray[Any]]:
    """Draw one block of records as columns (numeric: float64 with NaN; categorical: object)."""
    age = np.clip(np.round(rng.normal(42.0, 12.5, size)), 18, 85)
    region = _choose(rng, REGIONS, (0.30, 0.25, 0.25, 0.20), size)

    employment_type = _choose(rng, EMPLOYMENT_TYPES, (0.62, 0.14, 0.14, 0.06, 0.04), size)
    # Older applicants are mostly retired; nobody under 50 is.
    retired_now = (age >= 62) & (rng.random(size) < 0.6)
    employment_type[retired_now] = "retired"
    employment_type[(age < 50) & (employment_type == "retired")] = "salaried"

    income_median = np.select(
        [employment_type == "unemployed", employment_type == "retired"],
        [18_000.0, 32_000.0],
        default=52_000.0,
    ) * (1.0 + 0.012 * np.clip(age - 25, 0, 30))
    income = np.round(income_median * rng.lognormal(0.0, 0.5, size), 2)

    working = (employment_type != "unemployed") & (employment_type != "retired")
    employment_years = np.where(
        working, np.minimum(rng.gamma(2.0, 3.5, size), age - 18), 0.0
    ).round(1)

    home_probs = np.where(
        (age >= 35)[:, None], [[0.30, 0.42, 0.25, 0.03]], [[0.62, 0.25, 0.08, 0.05]]
    )
    home_ownership = _choose_rows(rng, HOME_OWNERSHIP, home_probs)
    loan_purpose = _choose(rng, LOAN_PURPOSES, (0.34, 0.15, 0.16, 0.08, 0.07, 0.08, 0.12), size)

    loan_ratio = np.clip(rng.lognormal(np.log(0.22), 0.55, size), 0.02, 1.5)
    loan_amount = np.maximum(np.round(income * loan_ratio / 50.0) * 50.0, 500.0)

    debt_to_income = np.clip(rng.beta(2.2, 5.5, size), 0.0, 0.95).round(3)
    num_open_accounts = rng.poisson(3.5 + 0.03 * (age - 18), size).astype(np.float64)
    credit_score = np.clip(
        np.round(
            rng.normal(690.0, 60.0, size)
            + 1.2 * np.clip(age - 40, -20, 25)
            - 90.0 * (debt_to_income - 0.28)
        ),
        300,
        850,
    )

    logit = (
        -1.9
        - 0.016 * (credit_score - 690.0)
        + 3.2 * (debt_to_income - 0.28)
        + 0.9 * np.log(loan_ratio / 0.22)
        - 0.35 * np.log(income / income_median)
        - 0.04 * (employment_years - 5.0)
        - 0.012 * (age - 42.0)
        + 0.06 * (num_open_accounts - 4.5)
        + _effect(home_ownership, {"rent": 0.3, "own": -0.35, "other": 0.2})
        + _effect(
            loan_purpose,
            {
                "business": 0.55,
                "medical": 0.35,
                "debt_consolidation": 0.2,
                "car": -0.15,
                "home_improvement": -0.3,
            },
        )
        + _effect(employment_type, {"unemployed": 0.9, "self_employed": 0.3, "contract": 0.25})
        + _effect(region, {"south": 0.12, "north": -0.08})
    )
    default = (rng.random(size) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)

    # Missing values come after the target is drawn: the truth exists, the lender lacks it.
    credit_score[rng.random(size) < 0.04] = np.nan
    debt_to_income[rng.random(size) < 0.02] = np.nan
    employment_years[rng.random(size) < 0.06] = np.nan
    home_ownership[rng.random(size) < 0.03] = None

    return {
        "age": age,
        "income": income,
        "loan_amount": loan_amount,
        "credit_score": credit_score,
        "debt_to_income": debt_to_income,
        "employment_years": employment_years,
        "num_open_accounts": num_open_accounts,
        "region": region,
        "home_ownership": home_ownership,
        "loan_purpose": loan_purpose,
        "employment_type": employment_type,
        TARGET: default,
    }


def _choose(
    rng: np.random.Generator, categories: tuple[str, ...], probs: tuple[float, ...], size: int
) -> ObjectArray:
    codes = rng.choice(len(categories), size=size, p=np.asarray(probs) / sum(probs))
    return np.asarray(categories, dtype=object)[codes]


def _choose_rows(
    rng: np.random.Generator, categories: tuple[str, ...], probs: FloatArray
) -> ObjectArray:
    """Draw one category per row, each row with its own probabilities."""
    cumulative = np.cumsum(probs, axis=1)
    draws = rng.random(len(probs))[:, None] * cumulative[:, -1:]
    codes = np.minimum((draws > cumulative).sum(axis=1), len(categories) - 1)
    return np.asarray(categories, dtype=object)[codes]


def _effect(values: ObjectArray, effects: dict[str, float]) -> FloatArray:
    total = np.zeros(len(values))
    for category, effect in effects.items():
        total += np.where(values == category, effect, 0.0)
    return total
