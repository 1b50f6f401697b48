"""The worker's duplicate-id window: ids seen lately, where, and a hash of their bytes.

A record delivered again at the same (partition, offset) is a replay after a crash or
rebalance and is scored again (the sink keeps one row per id). The same id and bytes at
another offset is a producer's retry (a publish that timed out but was written, sent again):
scored again too, so whoever waits for its score gets it, but flagged so that drift
statistics count it once. The same id with other bytes at another offset is a duplicate and
is rejected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import islice

#: What :meth:`RecentIds.classify` says of a record.
NEW = 0  # an id not seen lately, or seen at this very offset (a replay): scored and counted
RESENT = 1  # the same id and bytes at another offset (a client's retry): scored, not counted
DUPLICATE = 2  # the same id with other bytes at another offset: rejected as duplicate_id

_POSITION_BITS = 96  # offset (int64, never negative) << 32 | partition (int32, same)
_POSITION_MASK = (1 << _POSITION_BITS) - 1


class RecentIds:
    """The last ``capacity`` ids seen, counted at the end of each batch.

    Bounded: the oldest ids are forgotten first, and a fresh worker knows none, so
    duplicates further apart than ``capacity`` records or across a restart reach the sink,
    which keeps the last one. Within a batch nothing is forgotten: the window holds up to
    ``capacity`` plus one batch of ids while it is classified.

    Parameters
    ----------
    capacity : int
        How many ids are remembered between batches.

    Examples
    --------
    >>> recent = RecentIds(capacity=2)
    >>> recent.classify_batch(["a", "b"], [0, 0], [0, 1], [b"{}", b"{}"])
    ([], [])
    >>> recent.classify_batch(["a", "b", "a"], [0, 0, 0], [0, 2, 3], [b"{}", b"{}", b"[]"])
    ([2], [1])
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        # One int per id: hash << 96 | offset << 32 | partition (the hash is signed: then
        # the int is negative, and & and >> still give both parts back exactly). A million
        # tuples would be a million more objects for every full garbage collection to walk;
        # the 64 hash bits cost 16 bytes more per id (a 48- instead of a 36-byte int).
        # A plain dict, oldest first: evicted a batch at a time from its front, where an
        # OrderedDict's per-id links cost a third more per record.
        self._seen: dict[str, int] = {}

    def classify(self, record_id: str, partition: int, offset: int, payload: bytes) -> int:
        """:data:`NEW`, :data:`RESENT` or :data:`DUPLICATE`; remembers a new id."""
        duplicates, resent = self.classify_batch([record_id], [partition], [offset], [payload])
        return DUPLICATE if duplicates else RESENT if resent else NEW

    def classify_batch(
        self,
        ids: Sequence[str],
        partitions: Sequence[int],
        offsets: Sequence[int],
        payloads: Sequence[bytes],
    ) -> tuple[list[int], list[int]]:
        """The rows that are duplicates and the rows that are re-sends, remembering new ids.

        Raises
        ------
        ValueError
            If the four sequences differ in length (a caller bug, not bad input).
        """
        if not len(ids) == len(partitions) == len(offsets) == len(payloads):
            raise ValueError("ids, partitions, offsets and payloads differ in length")
        seen = self._seen
        # The interpreter's own bytes hash: SipHash-1-3, 64 bits, keyed with a random 128-bit
        # seed per process, so nobody can make another payload collide on purpose (2^-64 by
        # chance); about 3x cheaper than blake2b here. It differs between processes, which
        # is fine: this memory never leaves the process.
        values = [
            (digest << _POSITION_BITS) | (offset << 32) | partition  # partitions: int32 >= 0
            for digest, offset, partition in zip(
                map(hash, payloads), offsets, partitions, strict=True
            )
        ]
        if len(set(ids)) == len(ids) and seen.keys().isdisjoint(ids):
            # Every id new (the usual batch): remembered in C, no Python per record.
            seen.update(zip(ids, values, strict=True))
            duplicates: list[int] = []
            resent: list[int] = []
        else:
            duplicates, resent = self._one_at_a_time(ids, values)
        self._forget_oldest()
        return duplicates, resent

    def _one_at_a_time(self, ids: Sequence[str], values: list[int]) -> tuple[list[int], list[int]]:
        seen = self._seen
        get = seen.get
        duplicates: list[int] = []
        resent: list[int] = []
        for row, (record_id, value) in enumerate(zip(ids, values, strict=True)):
            where = get(record_id)
            if where is None:
                seen[record_id] = value
            elif (where ^ value) & _POSITION_MASK:  # not a replay at the same position
                (
                    resent if where >> _POSITION_BITS == value >> _POSITION_BITS else duplicates
                ).append(row)
        return duplicates, resent

    def _forget_oldest(self) -> None:
        excess = len(self._seen) - self.capacity
        if excess > 0:
            # A dict iterates oldest first; deleting a batch's worth at once from its front
            # scans the holes earlier deletions left there once per batch, not once per id.
            deque(map(self._seen.__delitem__, list(islice(self._seen, excess))), maxlen=0)
