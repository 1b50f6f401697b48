"""The ``records.rejected`` message: why an input was refused, with its original bytes."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

from scorestream.contract.codec import Row, decoder
from scorestream.contract.tables import DATETIME_MAX_S, DATETIME_MIN_S
from scorestream.exceptions import DecodeError

#: Why the worker's validator refuses a record, in the order it checks: the record as a whole
#: first, then each feature in schema order, then ``event_time``.
ValidatorReason = Literal[
    "too_large",
    "invalid_json",
    "not_an_object",
    "missing_id",
    "missing_field",
    "unknown_field",
    "wrong_type",
    "not_finite",
    "null_not_allowed",
    "out_of_range",
    "invalid_event_time",
]
#: Every reason a record lands on ``records.rejected`` with (and the bridge answers with).
#: ``duplicate_id`` is the worker's, which alone knows at which offsets it saw an id;
#: ``internal_error`` is the worker's too: handling the record raised (a bug, not the input's
#: fault), and the record is refused alone instead of stopping its batch.
RejectionReason = Literal[ValidatorReason, "duplicate_id", "internal_error"]
#: The validator's reasons, in the order they are checked.
VALIDATOR_REASONS: tuple[ValidatorReason, ...] = get_args(ValidatorReason)
#: Every record rejection reason (the validator's, then the worker's own).
REJECTION_REASONS: tuple[RejectionReason, ...] = get_args(RejectionReason)

# Inputs are bounded by the broker's message.max.bytes long before this; the cap only keeps
# a misconfigured broker from making rejections undeliverable.
MAX_REJECTED_PAYLOAD_BYTES = 6 * 1024 * 1024
# The topic carries its input whole (base64, so 4/3 of its size) plus the reason.
REJECTED_MAX_MESSAGE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RejectionMessage:
    """One refused input (topic ``records.rejected``, table ``rejected_records``)."""

    #: The record's id, or ``kafka:<topic>:<partition>:<offset>`` when it had none.
    id: str
    reason: str
    #: The offending field, when one is to blame.
    field: str | None
    message: str
    source_topic: str
    source_partition: int
    source_offset: int
    ingested_at_ms: int
    rejected_at_ms: int
    payload_base64: str
    payload_truncated: bool

    @classmethod
    def of(
        cls,
        *,
        id: str,
        reason: str,
        field: str | None,
        message: str,
        source_topic: str,
        source_partition: int,
        source_offset: int,
        ingested_at_ms: int,
        rejected_at_ms: int,
        payload: bytes,
    ) -> RejectionMessage:
        """A rejection carrying ``payload`` exactly (cut at the size the topic can take)."""
        return cls(
            id=id,
            reason=reason,
            field=field,
            message=message,
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            ingested_at_ms=ingested_at_ms,
            rejected_at_ms=rejected_at_ms,
            payload_base64=base64.b64encode(payload[:MAX_REJECTED_PAYLOAD_BYTES]).decode(),
            payload_truncated=len(payload) > MAX_REJECTED_PAYLOAD_BYTES,
        )

    @property
    def payload(self) -> bytes:
        """The original bytes (or their first :data:`MAX_REJECTED_PAYLOAD_BYTES`)."""
        return base64.b64decode(self.payload_base64)

    def encode(self) -> bytes:
        return orjson.dumps(self)


@decoder
def decode_rejection_row(doc: dict[str, Any]) -> Row:
    """A ``records.rejected`` message -> its ``rejected_records`` row (payload as bytes).

    >>> message = RejectionMessage.of(id="a", reason="invalid_json", field="", message="bad",
    ...     source_topic="records", source_partition=0, source_offset=5,
    ...     ingested_at_ms=1714564800000, rejected_at_ms=1714564801000, payload=b"{")
    >>> decode_rejection_row(message.encode())
    ('a', 'invalid_json', '', 'bad', 'records', 0, 5, 1714564800, 1714564801, 1714564801000, b'{')
    """
    rejected_ms = int(doc["rejected_at_ms"])
    # The input's Kafka timestamp is whatever its producer set (-1, or centuries ahead);
    # clamped into what DateTime stores so that the rejection of such an input is storable.
    ingested_s = min(max(int(doc["ingested_at_ms"]) // 1000, DATETIME_MIN_S), DATETIME_MAX_S)
    try:
        payload = base64.b64decode(doc["payload_base64"], validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise DecodeError(f"payload_base64 is not base64: {exc}", "payload_base64") from None
    return (
        str(doc.get("id") or ""),
        str(doc["reason"]),
        str(doc.get("field") or ""),
        str(doc.get("message") or ""),
        str(doc["source_topic"]),
        int(doc["source_partition"]),
        int(doc["source_offset"]),
        ingested_s,
        rejected_ms // 1000,
        rejected_ms,
        payload,
    )
