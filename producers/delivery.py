"""Account for every record a producer sent: acknowledged, failed, or given up on in time.

kafka-python returns one future per record. The ledger keeps the records of each sent chunk
with their futures until every one is settled, so that a record that fails (or that the
client never settles) is known by its key and value, not only counted. No wait here is
unbounded: a chunk not settled ``delivery_timeout_s + grace_s`` after it was sent is given up,
its unsettled records reported undelivered. (kafka-python's own ``delivery_timeout_ms``
should fail them first; after a broker outage longer than that, ``flush()`` was seen to
wait forever, so the ledger does not rely on it.)
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Payload = tuple[bytes | None, bytes]

#: Error texts kept for the summary (the records themselves are all kept).
MAX_ERRORS = 10


class Failed:
    """A settled, failed outcome for a record that never got a future (``send`` raised)."""

    __slots__ = ("exception",)
    is_done = True

    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


@dataclass
class _Sent:
    payloads: Sequence[Payload]
    futures: list[Any]
    deadline: float
    tag: int
    #: Futures before this index are settled and accounted.
    settled: int = 0
    #: Indices of the failed records.
    failed: list[int] = field(default_factory=list)


@dataclass
class DeliveryLedger:
    """Outcomes of sent records, chunk by chunk, in the order they were sent.

    Parameters
    ----------
    delivery_timeout_s
        How long the client itself may take to settle a record.
    grace_s
        How much longer the ledger waits before it gives a record up.
    on_settled
        Called with a chunk's tag and the indices of its failed records once all of its
        records are accounted (a producer process tells its parent so).
    """

    delivery_timeout_s: float
    grace_s: float
    acknowledged: int = 0
    undelivered: list[Payload] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Records that were given up unsettled (the client may still hold them).
    abandoned: int = 0
    pending_records: int = 0
    on_settled: Callable[[int, list[int]], None] | None = None
    _pending: deque[_Sent] = field(default_factory=deque)

    def add(self, payloads: Sequence[Payload], futures: list[Any], tag: int = 0) -> None:
        """Track one sent chunk; ``futures[i]`` is the outcome of ``payloads[i]``."""
        deadline = time.monotonic() + self.delivery_timeout_s + self.grace_s
        self._pending.append(_Sent(payloads, futures, deadline, tag))
        self.pending_records += len(futures)

    def settle(self, *, wait: bool = False, keep: int = 0) -> None:
        """Account the settled chunks at the front.

        With ``wait``, block (each chunk at most until its deadline) until at most ``keep``
        records are pending; without, only take what is settled already.
        """
        pending = self._pending
        while pending:
            sent = pending[0]
            if not self._advance(sent, wait=wait and self.pending_records > keep):
                return
            pending.popleft()
            self.pending_records -= len(sent.futures)
            if self.on_settled is not None:
                self.on_settled(sent.tag, sent.failed)

    def finish(self) -> None:
        """Wait (bounded by the deadlines) for every pending record's outcome."""
        self.settle(wait=True)

    def _advance(self, sent: _Sent, *, wait: bool) -> bool:
        """Account ``sent``'s settled futures in order; True once all are accounted."""
        futures, index = sent.futures, sent.settled
        end = len(futures)
        while index < end:
            future = futures[index]
            if not future.is_done:
                if not wait:
                    sent.settled = index
                    return False
                if not _wait(future, sent.deadline - time.monotonic()):
                    self._give_up(sent, index)
                    return True
            if future.exception is None:
                self.acknowledged += 1
            else:
                self._fail(sent, index, future.exception)
            index += 1
        sent.settled = end
        return True

    def _give_up(self, sent: _Sent, start: int) -> None:
        timeout = f"{self.delivery_timeout_s + self.grace_s:g}"
        for index in range(start, len(sent.futures)):
            future = sent.futures[index]
            if future.is_done and future.exception is None:
                self.acknowledged += 1
            elif future.is_done:
                self._fail(sent, index, future.exception)
            else:
                self.abandoned += 1
                self._fail(sent, index, None)
                self._note(f"no outcome from the client within {timeout} s")
        sent.settled = len(sent.futures)

    def _fail(self, sent: _Sent, index: int, exception: BaseException | None) -> None:
        self.undelivered.append(sent.payloads[index])
        sent.failed.append(index)
        if exception is None:
            return
        text = str(exception)
        name = type(exception).__name__
        # kafka-python's errors start with their class name already.
        self._note(text if text.startswith(name) else f"{name}: {text}")

    def _note(self, text: str) -> None:
        if len(self.errors) < MAX_ERRORS and text not in self.errors:
            self.errors.append(text)


def _wait(future: Any, seconds: float) -> bool:
    """Wait at most ``seconds`` for a kafka-python future; True if it is settled."""
    # get() raises the record's own error, or KafkaTimeoutError when the wait runs out.
    with contextlib.suppress(Exception):
        future.get(timeout=max(0.0, seconds))
    return bool(future.is_done)
