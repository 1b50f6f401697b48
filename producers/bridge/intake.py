"""From a request body to validated records: parse, assign ids, validate in shared batches.

Validation is :class:`scorestream.streams.validation.RecordValidator`, the worker's own, so the
bridge refuses exactly what the worker would refuse. Its cost is mostly per call (it
builds a column frame), not per record, so :class:`ValidationBatcher` validates the records
of all requests that arrive together in one call: under load a single-record request
pays a share of one call instead of a whole one, and when idle nothing waits.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import orjson

from scorestream.exceptions import DecodeError
from scorestream.producers.bridge.problems import INVALID_RECORD, ProblemError
from scorestream.streams.input_decoding import loads_json
from scorestream.streams.model.schema import ID_COLUMN
from scorestream.streams.validation import RecordValidator, Rejection

JSON_MEDIA_TYPE = "application/json"


class Accepted(NamedTuple):
    """A valid record: its position in the request, its id and the bytes to produce."""

    position: int
    id: str
    payload: bytes


@dataclass
class Verdict:
    """The outcome of validating one request's records."""

    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)


def require_json(content_type: str | None) -> None:
    """Raise 415 unless the media type is ``application/json`` (parameters allowed)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        shown = media_type or "none"
        raise ProblemError(
            415, f"send {JSON_MEDIA_TYPE}, not {shown}", headers={"Accept-Post": JSON_MEDIA_TYPE}
        )


def parse_body(body: bytes) -> Any:
    """Decode a JSON body; 400 when it is not JSON.

    Only standard JSON in UTF-8 without a byte order mark is accepted, through the worker's
    own decoder (:func:`~scorestream.streams.input_decoding.loads_json`), so both doors refuse the
    same bytes for the same reason. ``NaN`` or ``Infinity`` would have to be re-encoded
    before producing, and orjson would turn them into ``null``, a silent change of data.
    """
    if not body:
        raise ProblemError(400, "the request body is empty; send a JSON record")
    try:
        return loads_json(body)
    except DecodeError as error:
        raise ProblemError(400, f"the request body is not valid JSON: {error}") from error


def records_of(document: Any, max_records: int) -> list[Any]:
    """The records of a ``POST /v1/records`` body: one object, or an array of them."""
    if isinstance(document, dict):
        return [document]
    if not isinstance(document, list):
        raise ProblemError(422, "the body must be a JSON object (one record) or an array of them")
    if not document:
        raise ProblemError(422, "the array of records is empty")
    if len(document) > max_records:
        raise ProblemError(413, f"{len(document)} records in one request; at most {max_records}")
    return document


def to_payloads(records: list[Any]) -> list[bytes]:
    """Serialise records for the validator and Kafka, giving id-less objects a UUID4.

    An ``id`` that is absent or ``null`` is assigned; any other id is left for the
    validator to judge. Non-objects pass through and are refused by the validator. A
    body nested too deeply to encode again is refused whole (422).
    """
    missing = [
        record for record in records if type(record) is dict and record.get(ID_COLUMN) is None
    ]
    for record, new_id in zip(missing, _ID_POOL.take(len(missing)), strict=True):
        record[ID_COLUMN] = new_id
    dumps = orjson.dumps
    try:
        return [dumps(record) for record in records]
    except orjson.JSONEncodeError as error:
        # orjson decodes up to 1024 levels but encodes only up to 254. A record is a flat
        # object, so such a body is not records; say so instead of failing with a 500.
        raise ProblemError(
            422,
            f"the body nests too deeply to be records ({error}); a record is a flat object",
            type_=INVALID_RECORD,
            title="Invalid record",
        ) from error


def uuid4_strings(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs as strings.

    Made together from one ``os.urandom`` call with numpy: ``str(uuid.uuid4())`` costs
    about 2 µs per id, more than the rest of a record's way through the bridge.

    >>> import uuid
    >>> [uuid.UUID(text).version for text in uuid4_strings(3)]
    [4, 4, 4]
    """
    if n < 4:
        return [str(uuid.uuid4()) for _ in range(n)]
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    # Version 4 in the high nibble of byte 6, RFC 4122 variant in the top bits of byte 8.
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(n, 32)
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGITS] = digits
    joined = text.tobytes().decode()
    return [joined[i : i + 36] for i in range(0, 36 * n, 36)]


# Where the 32 hex digits go in the 36 characters of a UUID (dashes at 8, 13, 18, 23).
_UUID_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


class _IdPool:
    """UUID4 strings made a thousand at a time, so that a lone record's id costs nothing."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._ids: list[str] = []

    def take(self, n: int) -> list[str]:
        if n > len(self._ids):
            if n >= self.size:
                return uuid4_strings(n)
            self._ids.extend(uuid4_strings(self.size))
        taken = self._ids[len(self._ids) - n :]
        del self._ids[len(self._ids) - n :]
        return taken


_ID_POOL = _IdPool()


class ValidationBatcher:
    """Validate the payloads of concurrent requests together, in one validator call.

    A request's payloads are queued and a flush is scheduled for the next turn of the
    event loop; every request queued before it runs shares it. No timer: batches form
    only from requests that are already there, so latency never grows to fill a batch.
    """

    def __init__(self, validator: RecordValidator) -> None:
        self.validator = validator
        self._queue: list[tuple[list[bytes], asyncio.Future[Verdict]]] = []

    async def validate(self, payloads: list[bytes]) -> Verdict:
        """Validate ``payloads``; positions in the verdict are indices into it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Verdict] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((payloads, future))
        return await future

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        starts: list[int] = []
        payloads: list[bytes] = []
        for request_payloads, _ in queue:
            starts.append(len(payloads))
            payloads.extend(request_payloads)
        verdicts = [Verdict() for _ in queue]
        try:
            now_ms = int(time.time() * 1000)
            batch = self.validator.validate_batch(payloads, [now_ms] * len(payloads))
        except Exception as error:  # a validator bug: fail these requests, not the loop
            for _, future in queue:
                if not future.done():
                    future.set_exception(error)
            return
        if len(queue) == 1:  # the common case when not busy: no mapping back needed
            verdicts[0].accepted = [
                Accepted(position, record_id, payloads[position])
                for record_id, position in zip(batch.ids, batch.positions, strict=True)
            ]
            verdicts[0].rejected = batch.rejections
        else:
            for record_id, position in zip(batch.ids, batch.positions, strict=True):
                request = bisect_right(starts, position) - 1
                verdicts[request].accepted.append(
                    Accepted(position - starts[request], record_id, payloads[position])
                )
            for position, rejection in batch.rejections:
                request = bisect_right(starts, position) - 1
                verdicts[request].rejected.append((position - starts[request], rejection))
        for verdict, (_, future) in zip(verdicts, queue, strict=True):
            if not future.done():  # the client may have gone away meanwhile
                future.set_result(verdict)
