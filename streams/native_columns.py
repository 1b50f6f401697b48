"""The validator's compiled fast path: a whole batch decoded and checked in one call.

``scorestream_native`` (Rust, ``native/``, built by ``make install``) decodes each payload
and runs every check of a valid record (ids, fields, types, integrality, ranges or clipping,
event times) straight into the batch's columns, with no Python object per value but the
strings. Like the msgspec path (:mod:`.typed_columns`) it can only accept: a payload it
refuses goes to the Python validator, which words every problem, and the two parts are put
back in input order (:func:`merged`). What it accepts comes out exactly as the Python
validator gives it (``tests/streams/test_native_columns.py`` holds them equal over arbitrary
payloads). Without the extension (not built: no Rust toolchain), :data:`AVAILABLE` is False
and the validator runs in Python alone, with the same results, slower.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from scorestream.contract.codec import MAX_ID_LENGTH
from scorestream.streams.input_decoding import MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS
from scorestream.streams.model.schema import (
    EVENT_TIME_COLUMN,
    ID_COLUMN,
    FeatureSchema,
    FeatureSpec,
)

try:
    import scorestream_native
except ImportError:  # not built: the Python validator does all the work
    scorestream_native = None  # type: ignore[assignment]

#: Whether the compiled extension is installed.
AVAILABLE = scorestream_native is not None


def _kind(spec: FeatureSpec) -> str:
    """What the compiled decoder accepts for ``spec``, as the Python checks read it."""
    if spec.kind == "categorical":
        return "categorical"
    return spec.dtype if spec.dtype in ("int", "bool") else "float"


class NativeColumns(NamedTuple):
    """What the compiled decoder accepted of a batch, and what it left to Python."""

    #: Positions of the payloads the Python validator must look at, increasing.
    refused: list[int]
    ids: list[str]
    #: Positions of the accepted payloads, increasing.
    positions: list[int]
    #: Each feature's column, in schema order.
    columns: dict[str, npt.NDArray[Any]]
    event_time_ms: npt.NDArray[np.int64]
    #: The accepted records' event times as written, if all wrote the canonical form.
    event_time_text: list[str] | None


class NativeColumnDecoder:
    """The compiled decoder for one schema and the validator's options.

    Examples
    --------
    >>> from scorestream.streams.model.schema import FeatureSpec
    >>> schema = FeatureSchema(features=[
    ...     FeatureSpec(name="income", kind="numeric", dtype="float", nullable=True)])
    >>> decoder = NativeColumnDecoder(schema, ["default"], 65_536, clip=False)
    >>> decoded = decoder.decode([b'{"id": "a", "income": 5}', b'{"id": 7}'], [0, 0])
    >>> decoded.ids, decoded.columns["income"].tolist(), decoded.refused
    (['a'], [5.0], [1])
    """

    def __init__(
        self,
        schema: FeatureSchema,
        ignored_fields: Collection[str],
        max_record_bytes: int,
        *,
        clip: bool,
    ) -> None:
        if scorestream_native is None:
            raise RuntimeError("the scorestream_native extension is not installed")
        self.names = schema.names
        features = [
            (
                spec.name,
                _kind(spec),
                spec.nullable,
                spec.allowed_min,
                spec.allowed_max,
            )
            for spec in schema.features
        ]
        known = {ID_COLUMN, EVENT_TIME_COLUMN, *schema.names}
        self._categorical = {spec.name for spec in schema.features if spec.kind == "categorical"}
        self._decoder = scorestream_native.BatchDecoder(
            features,
            sorted(set(ignored_fields) - known),
            clip=clip,
            max_record_bytes=max_record_bytes,
            max_id_chars=MAX_ID_LENGTH,
            min_ms=MIN_EVENT_TIME_MS,
            max_ms=MAX_EVENT_TIME_MS,
        )

    def decode(
        self, payloads: Sequence[Any], ingest_time_ms: Sequence[int]
    ) -> NativeColumns | None:
        """Decode ``payloads`` (``ingest_time_ms[i]``: record i's default event time), or
        None if an ingest time is not an int64 (the Python validator words what that means).
        """
        try:
            refused, ids, raw_columns, raw_times, text = self._decoder.decode(
                payloads if type(payloads) is list else list(payloads), list(ingest_time_ms)
            )
        except (OverflowError, TypeError):
            return None
        columns: dict[str, npt.NDArray[Any]] = {}
        for name, raw in zip(self.names, raw_columns, strict=True):
            if name in self._categorical:
                column = np.empty(len(raw), dtype=object)
                column[:] = raw
            else:
                # A bytearray: the array is writable, as the Python validator's are.
                column = np.frombuffer(raw if raw else bytearray(), dtype=np.float64)
            columns[name] = column
        times = np.frombuffer(raw_times if raw_times else bytearray(), dtype=np.int64)
        if refused:
            accepted = np.ones(len(payloads), dtype=bool)
            accepted[refused] = False
            positions = np.flatnonzero(accepted).tolist()
        else:
            positions = list(range(len(payloads)))
        return NativeColumns(refused, ids, positions, columns, times, text)
