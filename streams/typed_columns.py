"""The validator's fast path: payloads decoded by msgspec straight into typed columns.

:class:`TypedColumnDecoder` turns a feature schema into a msgspec ``Struct`` type, so that
one C call per payload decodes the JSON *and* checks what the validator's record-level pass
checks in Python (an object, a non-empty string ``id`` of at most
:data:`~scorestream.contract.codec.MAX_ID_LENGTH` characters, the required fields present,
no unknown field) and each value's JSON type. It is only ever allowed to say "all of these
are fine as far as I can tell": any payload it refuses sends its whole chunk down the
validator's general path, which finds and words every problem. It never words a rejection.

What it accepts, the general path accepts with the same values (a property test holds the
two equal over arbitrary JSON, ``tests/streams/test_typed_columns.py``):

- numbers are decoded as ``float`` by both decoders (msgspec turns a JSON integer into the
  nearest float, as numpy does with orjson's ``int``; both refuse a number beyond a double's
  range), and features of ``dtype`` ``bool`` take only ``true``/``false``;
- ``event_time`` is a string, an integer within int64 (others take the general path) or
  ``null``;
- an ignored field (the target) must be a scalar: a container takes the general path,
  because msgspec reads integers of any size inside one where orjson refuses some.

Range, finiteness, integrality and event-time checks are not done here: they run on the
columns, for both paths alike (:mod:`.field_checks`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated, Any

import msgspec
from msgspec.structs import astuple

from scorestream.contract.codec import MAX_ID_LENGTH
from scorestream.streams.model.schema import (
    EVENT_TIME_COLUMN,
    ID_COLUMN,
    FeatureSchema,
    FeatureSpec,
)

_ID = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
# orjson reads integers in [-2**63, 2**64) as int and larger ones as float; msgspec reads
# them all as int. Within int64 (the widest bound msgspec takes) the two agree.
_EVENT_TIME = str | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None
_IGNORED = float | str | bool | None
_REFUSED = (msgspec.ValidationError, msgspec.DecodeError)


def _value_type(spec: FeatureSpec) -> Any:
    if spec.kind == "categorical":
        return str
    return bool if spec.dtype == "bool" else float


class TypedColumnDecoder:
    """Decode payloads into one list per field, or say that the general path must.

    Parameters
    ----------
    schema : FeatureSchema
        The model's feature schema.
    ignored_fields : collection of str
        Fields a record may carry that are neither features nor checked.
    max_record_bytes : int
        Larger payloads take the general path (which rejects them as ``too_large``).

    Examples
    --------
    >>> from scorestream.streams.model.schema import FeatureSpec
    >>> schema = FeatureSchema(features=[
    ...     FeatureSpec(name="income", kind="numeric", dtype="float", nullable=True)])
    >>> decoder = TypedColumnDecoder(schema, ["default"], 65_536)
    >>> decoder.decode([b'{"id": "a", "income": 5}', b'{"id": "b", "default": 1}'])
    {'id': ['a', 'b'], 'income': [5.0, None], 'event_time': [None, None]}
    >>> decoder.decode([b'{"id": "a", "income": "5"}']) is None  # the general path words it
    True
    """

    def __init__(
        self, schema: FeatureSchema, ignored_fields: Collection[str], max_record_bytes: int
    ) -> None:
        self.max_record_bytes = max_record_bytes
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [(ID_COLUMN, _ID)]
        for spec in schema.features:
            value_type = _value_type(spec)
            if spec.nullable:
                fields.append((spec.name, value_type | None, None))
            else:
                fields.append((spec.name, value_type))
        fields.append((EVENT_TIME_COLUMN, _EVENT_TIME, None))
        # A challenger ignores its champion's features, some of which are its own too.
        known = {field[0] for field in fields}
        fields.extend((name, _IGNORED, None) for name in sorted(set(ignored_fields) - known))
        # Attribute names of our own: a feature may be called anything JSON allows.
        rename = {f"f{index}": field[0] for index, field in enumerate(fields)}
        record_type = msgspec.defstruct(
            "TypedRecord",
            [(f"f{index}", *field[1:]) for index, field in enumerate(fields)],
            kw_only=True,
            forbid_unknown_fields=True,
            rename=rename,
            # Its fields hold strings, numbers and None only, so it can never be part of a
            # reference cycle: untracked by the garbage collector, cheaper to make and free.
            gc=False,
        )
        self._decode = msgspec.json.Decoder(record_type).decode
        #: The returned columns: the id, the features in schema order, the event time (the
        #: first fields of the Struct, in that order; the ignored ones follow).
        self.names = [ID_COLUMN, *schema.names, EVENT_TIME_COLUMN]

    def decode(self, payloads: Sequence[bytes]) -> dict[str, list[Any]] | None:
        """The id, each feature and the event time of every payload (None where absent),
        or None if any payload needs the general path."""
        if not payloads or set(map(type, payloads)) != {bytes}:
            return None
        if max(map(len, payloads)) > self.max_record_bytes:
            return None
        try:
            records = list(map(self._decode, payloads))
        except _REFUSED:
            return None
        # A tuple per record, then transposed: in C, about a third cheaper than a getter
        # per field and record. zip stops at the shortest: the ignored fields are dropped.
        columns = zip(*map(astuple, records), strict=False)
        return {name: list(column) for name, column in zip(self.names, columns, strict=False)}
