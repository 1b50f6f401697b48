"""``rejected_records`` rows for messages the sink itself cannot store."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson

from scorestream.contract import Row

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord


def rejection_row(
    record: ConsumerRecord, reason: str, message: str, field: str = "", now_ms: int | None = None
) -> Row:
    """A ``rejected_records`` row for a message the sink could not store.

    Built only from values that always insert (the key as text, ints in range, the raw
    bytes), so that the rejection of a poison message cannot itself be poison.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    ingested_ms = record.timestamp if record.timestamp and record.timestamp > 0 else now_ms
    return (
        _record_id(record),
        reason,
        field,
        message[:2000],
        record.topic,
        record.partition,
        record.offset,
        ingested_ms // 1000,
        now_ms // 1000,
        now_ms,
        record.value or b"",
    )


def _record_id(record: ConsumerRecord) -> str:
    # Producers key every message by its record id.
    if record.key:
        return bytes(record.key).decode("utf-8", "replace")
    try:
        value = orjson.loads(record.value or b"")
        found = value.get("id") if isinstance(value, dict) else None
        return found.encode("utf-8", "replace").decode() if isinstance(found, str) else ""
    except (orjson.JSONDecodeError, UnicodeError):
        return ""
