"""The duplicate-id window: new, replayed, re-sent and duplicate records told apart."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scorestream.streams.recent_ids import DUPLICATE, NEW, RESENT, RecentIds


def test_recent_ids_tell_new_replayed_resent_and_duplicate_apart() -> None:
    ids = RecentIds(capacity=2)
    big = 2**62  # offsets are int64: the hash bits must not overlap them
    assert ids.classify("a", 7, big, b"one") == NEW
    assert ids.classify("a", 7, big, b"one") == NEW  # a replay at the same offset
    assert ids.classify("a", 7, big, b"two") == NEW  # the same offset is the same record
    assert ids.classify("a", 7, big + 1, b"one") == RESENT
    assert ids.classify("a", 6, big, b"one") == RESENT  # another partition, same bytes
    assert ids.classify("a", 7, big + 1, b"two") == DUPLICATE
    assert ids.classify("b", 0, 0, b"") == NEW
    assert ids.classify("c", 0, 1, b"x") == NEW  # "a", the oldest, is forgotten
    assert ids.classify("a", 7, big + 2, b"two") == NEW


def test_recent_ids_keep_hashes_of_either_sign_apart_from_positions() -> None:
    # The interpreter's hash is signed; 64 payloads hold both signs but once in 2^63 runs.
    ids = RecentIds()
    payloads = [f'{{"id": "r{n}"}}'.encode() for n in range(64)]
    assert len({hash(payload) < 0 for payload in payloads}) == 2
    for n, payload in enumerate(payloads):
        assert ids.classify(f"r{n}", n % 4, 2**40 + n, payload) == NEW
    for n, payload in enumerate(payloads):
        assert ids.classify(f"r{n}", n % 4, 2**40 + n, payload + b" ") == NEW  # replay
        assert ids.classify(f"r{n}", n % 4, 2**41 + n, payload) == RESENT
        assert ids.classify(f"r{n}", n % 4, 2**41 + n, payload + b" ") == DUPLICATE


class _ReferenceIds:
    """What :class:`RecentIds` promises, written plainly: one record at a time, tuples, the
    oldest forgotten at the end of each batch."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.seen: dict[str, tuple[int, int, bytes]] = {}

    def end_batch(self) -> None:
        while len(self.seen) > self.capacity:
            del self.seen[next(iter(self.seen))]

    def classify(self, record_id: str, partition: int, offset: int, payload: bytes) -> int:
        where = self.seen.get(record_id)
        if where is None:
            self.seen[record_id] = (partition, offset, payload)
            return NEW
        if where[:2] == (partition, offset):
            return NEW  # a replay
        return RESENT if where[2] == payload else DUPLICATE


_ARRIVAL = st.tuples(
    st.sampled_from("abcdefgh"),  # few ids: repeats within and across batches
    st.integers(0, 3),
    st.one_of(st.integers(0, 5), st.integers(2**62, 2**62 + 3)),
    st.sampled_from([b"", b"x", b"y"]),
)


@settings(max_examples=300, deadline=None)
@given(
    batches=st.lists(st.lists(_ARRIVAL, max_size=12), max_size=8),
    capacity=st.integers(1, 10),
)
def test_recent_ids_by_batch_match_one_record_at_a_time(
    batches: list[list[tuple[str, int, int, bytes]]], capacity: int
) -> None:
    # One call per batch, with repeats within a batch and across batches, and evictions.
    recent, reference = RecentIds(capacity=capacity), _ReferenceIds(capacity)
    for batch in batches:
        expected = [reference.classify(*arrival) for arrival in batch]
        reference.end_batch()
        columns = [list(column) for column in zip(*batch, strict=True)] or [[], [], [], []]
        ids, partitions, offsets, payloads = columns
        duplicates, resent = recent.classify_batch(ids, partitions, offsets, payloads)
        assert duplicates == [row for row, kind in enumerate(expected) if kind == DUPLICATE]
        assert resent == [row for row, kind in enumerate(expected) if kind == RESENT]
        assert list(recent._seen) == list(reference.seen)
