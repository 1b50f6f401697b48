"""The one input decoder contract of both doors (bridge and worker), and event-time parsing.

A payload is JSON text in UTF-8 without a byte order mark. :func:`loads_json` is the strict
decoder the bridge uses for request bodies; the worker's validator uses orjson directly and,
for a payload orjson refuses, :func:`decode_leniently` (UTF-8 text only) so that ``NaN`` can
be named as such. Both explain a refusal with :func:`not_json`, so the same bytes get the
same reason at either door.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from scorestream.contract.times import (
    EPOCH,
    MAX_STORABLE_MS,
    MIN_STORABLE_MS,
    ONE_MS,
    storable_epoch_ms,
)
from scorestream.exceptions import DecodeError

#: Event times are accepted exactly when the ``DateTime`` columns of ``scores`` can store
#: them: [MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS), epoch milliseconds (the upper bound is
#: exclusive: the last storable second, 2106-02-07T06:28:15Z, is accepted to its last ms).
MIN_EVENT_TIME_MS = MIN_STORABLE_MS
MAX_EVENT_TIME_MS = MAX_STORABLE_MS


def _iso(millis: int) -> str:
    return (EPOCH + millis * ONE_MS).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: The accepted range for messages: "1970-01-01T00:00:00.000Z to 2106-02-07T06:28:15.999Z".
EVENT_TIME_RANGE = f"{_iso(MIN_EVENT_TIME_MS)} to {_iso(MAX_EVENT_TIME_MS - 1)}"

#: What :func:`decode_leniently` returns for a payload it cannot decode either.
UNDECODABLE = object()


def loads_json(payload: bytes) -> Any:
    """Decode JSON text in UTF-8 without a byte order mark: the one input decoder.

    Raises
    ------
    DecodeError
        With a message saying what is wrong, the same at the bridge and in the worker.
    """
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise DecodeError(not_json(payload, error)) from None


_BYTE_ORDER_MARKS = (
    # UTF-32 before UTF-16: the UTF-32-LE mark starts with the UTF-16-LE one.
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def not_json(payload: Any, error: Exception) -> str:
    """Why ``payload`` is not JSON text in UTF-8, for a human."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        return f"payload must be bytes, got {type(payload).__name__}"
    payload = bytes(payload)
    for mark, encoding in _BYTE_ORDER_MARKS:
        if payload.startswith(mark):
            return (
                f"JSON must be UTF-8 without a byte order mark; this starts with a {encoding} one"
            )
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"JSON must be UTF-8; byte {bad.start} (0x{payload[bad.start]:02x}) is not"
    if b"\x00" in payload[:4]:
        # ASCII text in UTF-16 or UTF-32 is valid UTF-8, with NUL bytes between characters.
        return "JSON must be UTF-8; NUL bytes between characters suggest UTF-16 or UTF-32"
    return f"not valid JSON: {error}"[:300]


def decode_leniently(payload: Any) -> Any:
    """Decode what orjson refused if only non-standard numbers (NaN, Infinity) were wrong."""
    try:
        # Text, not bytes: given bytes, the standard library would guess UTF-16 or UTF-32
        # and skip a byte order mark, accepting what the one decoder contract refuses.
        text = payload.decode("utf-8")
        if text.startswith("\ufeff"):
            return UNDECODABLE
        record = json.loads(text)
        # What the standard library accepts but orjson cannot re-encode (lone surrogates,
        # integers beyond 64 bits) would fail further down the pipeline: refuse it here.
        orjson.dumps(record)
    except Exception:
        return UNDECODABLE
    return record


#: Epoch milliseconds of an ``event_time`` value, or None if invalid or not storable.
event_time_ms = storable_epoch_ms
