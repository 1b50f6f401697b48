"""Which records each published drift partial covers, so that a replay publishes the same one.

The agent engine publishes the drift counts of the records since its last commit, then
commits their offsets. A worker that dies or is dropped from its group between the two leaves
counts published for records that its partitions' next owner replays and counts again. So
each input partition's counts since the last commit form a *segment* of their own, named by
where it starts (the committed offset; ``batch_id`` ``<records topic>/<partition>/<start>``),
and a flush commits in two steps:

1. the committed offsets again, each with where its segment ends in the commit's metadata
   (``scorestream-drift-until:<offset>``): the *intent* (:meth:`DriftSegments.intents`).
   The group refuses it from a worker it dropped, which then publishes nothing;
2. the counts, then the ends as the new committed offsets.

A replay (after a crash, or by the next owner) starts at the committed offset and reads the
intent there: its first segment then ends at the same offset (:meth:`DriftSegments.cut`),
so it counts the same records under the same ``batch_id``, and the sink's
``ReplacingMergeTree`` keeps one of the two rows of each (feature, minute) instead of adding
them. Counts are exact through crashes and rebalances, except where the two workers'
memories differ about a record: a client's re-send or a duplicate id straddling the replay
(counted by one and not by the other), or a model swapped within the segment.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

#: Prefix of the committed offset's metadata that names where the segment starting there ends.
INTENT = "scorestream-drift-until:"


class CommittedOffset(Protocol):
    """aiokafka's ``OffsetAndMetadata``."""

    offset: int
    metadata: str


class Positioned(Protocol):
    """A polled record: what :meth:`DriftSegments.cut` reads of it."""

    @property
    def offset(self) -> int: ...


Record = TypeVar("Record", bound=Positioned)


def intent(end: int) -> str:
    """The commit metadata saying that the segment starting at the committed offset ends at
    ``end``.

    >>> intent(1200), intended_end(intent(1200)), intended_end(""), intended_end("other")
    ('scorestream-drift-until:1200', 1200, None, None)
    """
    return f"{INTENT}{end}"


def intended_end(metadata: str | None) -> int | None:
    """The end an :func:`intent` names, or None (no intent, or not ours)."""
    if not metadata or not metadata.startswith(INTENT):
        return None
    try:
        return int(metadata[len(INTENT) :])
    except ValueError:
        return None


class DriftSegments:
    """Per input partition (any hashable key, e.g. aiokafka's ``TopicPartition``): where its
    counts since the last commit start, and where a replayed segment must end.

    >>> segments = DriftSegments()
    >>> class Offset:
    ...     def __init__(self, offset, metadata=""): self.offset, self.metadata = offset, metadata
    >>> segments.open({"p0": Offset(100, intent(103)), "p1": None}, {"p0": 100, "p1": 7})
    >>> segments.starts(["p0", "p1"])
    {'p0': 100, 'p1': 7}
    >>> class Record:
    ...     def __init__(self, offset): self.offset = offset
    >>> segments.replaying(["p0", "p1"])  # p0 must not be flushed before it reaches 103
    {'p0'}
    >>> polled = {"p0": [Record(o) for o in (100, 101, 102, 103, 104)]}
    >>> segments.cut(polled), [r.offset for r in polled["p0"]]  # replay: stop where it stopped
    ({'p0': 103}, [100, 101, 102])
    >>> segments.committed({"p0": 103, "p1": 9}), segments.starts(["p0", "p1"])
    (None, {'p0': 103, 'p1': 9})
    """

    def __init__(self) -> None:
        self._starts: dict[Any, int] = {}
        self._replay_ends: dict[Any, int] = {}
        self._reached: set[Any] = set()

    def knows(self, partition: Any) -> bool:
        """Whether ``partition``'s segment is open (its start known)."""
        return partition in self._starts

    def open(
        self,
        committed: Mapping[Any, CommittedOffset | None],
        first_polled: Mapping[Any, int],
    ) -> None:
        """Open the segments of partitions just polled for the first time since their
        assignment: each starts at its committed offset (else at its first polled record),
        and ends where the intent committed there says, if it says so."""
        for partition, first in first_polled.items():
            done = committed.get(partition)
            if done is None or done.offset < 0:
                self._starts[partition] = first
                continue
            self._starts[partition] = done.offset
            end = intended_end(done.metadata)
            if end is not None and end > done.offset:
                self._replay_ends[partition] = end
                log.info(
                    "replaying %s from %d: its first drift partial ends at %d, as the one "
                    "published before the replay did",
                    partition,
                    done.offset,
                    end,
                )

    def cut(self, polled: MutableMapping[Any, list[Record]]) -> dict[Any, int]:
        """Drop from ``polled`` the records at or past a replayed segment's end; the ends
        reached (partition: end), whose records past them must be polled again (seek)."""
        reached: dict[Any, int] = {}
        for partition, end in self._replay_ends.items():
            records = polled.get(partition)
            if not records or records[-1].offset + 1 < end:
                continue
            below = bisect.bisect_left([r.offset for r in records], end)
            polled[partition] = records[:below]
            reached[partition] = end
        self._reached.update(reached)
        return reached

    def reached(self) -> dict[Any, int]:
        """The replayed segments whose end a poll reached (partition: end): complete, to be
        flushed and committed exactly there."""
        return {p: self._replay_ends[p] for p in self._reached}

    def replaying(self, partitions: Collection[Any]) -> set[Any]:
        """Those of ``partitions`` replaying a published partial whose end they have not
        reached: flushing them now would publish a different partial under its id."""
        return {p for p in partitions if p in self._replay_ends and p not in self._reached}

    def starts(self, partitions: Sequence[Any]) -> dict[Any, int]:
        """Where each of ``partitions``' segment starts (each must be open)."""
        return {partition: self._starts[partition] for partition in partitions}

    def intents(self, ends: Mapping[Any, int]) -> dict[Any, tuple[int, str]]:
        """The first commit of a flush: each segment's start, with its end as the intent."""
        return {tp: (self._starts[tp], intent(end)) for tp, end in ends.items()}

    def committed(self, ends: Mapping[Any, int]) -> None:
        """The ends were committed: the next segments start there (replays are over)."""
        for partition, end in ends.items():
            self._starts[partition] = end
            self._replay_ends.pop(partition, None)
            self._reached.discard(partition)

    def forget(self) -> None:
        """Partitions revoked, or a commit refused: positions start again from the group's
        committed offsets, and so do the segments."""
        self._starts.clear()
        self._replay_ends.clear()
        self._reached.clear()
