"""What a topic delivered since its last flush, by table, with where each row came from."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scorestream.contract import Row, TableSpec

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord


@dataclass
class TableRows:
    """Rows for one table and, for each, the index of the message it came from."""

    spec: TableSpec
    rows: list[Row] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)


class SinkBatch:
    """What one topic delivered since its last flush."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord] = []
        self.tables: dict[str, TableRows] = {}
        # partition -> [first offset, last offset, timestamp of the first message]
        self.offsets: dict[int, list[int]] = {}
        self.started = time.monotonic()
        self.rows = 0
        self.decode_errors = 0

    def table(self, spec: TableSpec) -> TableRows:
        rows = self.tables.get(spec.name)
        if rows is None:
            rows = self.tables[spec.name] = TableRows(spec)
        return rows

    def offset_ranges(self) -> str:
        """``p0 120-4119, p3 7-2006`` for the flush log line."""
        return ", ".join(
            f"p{p} {first}-{last}" for p, (first, last, _) in sorted(self.offsets.items())
        )

    def dedup_token(self, spec: TableSpec, part: str = "") -> str:
        """An insert deduplication token: the same messages give the same token.

        The first message's timestamp tells a recreated topic's offsets from the old ones.
        """
        ranges = ",".join(f"{p}:{a}-{b}@{ts}" for p, (a, b, ts) in sorted(self.offsets.items()))
        text = f"{self.topic}|{spec.name}|{ranges}|{part}"
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FlushResult:
    """What a successful write stored."""

    topic: str
    rows: dict[str, int]
    rejected: int
    offsets: dict[int, tuple[int, int]]
    offset_ranges: str
    inserts: int
    lost: int = 0
