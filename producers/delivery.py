"""Account for every record a producer sent: acknowledged, failed, or given up on in time.

A sent chunk comes with its outcomes: one per batch of its records
(:class:`~scorestream.producers.record_batches.BatchOutcome`), or one per record
(:class:`RecordOutcome`, kafka-python's future of a record sent with ``send``), or
:class:`Failed` for records that never got that far. The ledger keeps the records of each
chunk until every outcome is settled, so that a record that fails (or that the client never
settles) is known by its key and value, not only counted. No wait here is unbounded: a chunk
not settled ``delivery_timeout_s + grace_s`` after it was sent is given up, its unsettled
records reported undelivered. (kafka-python's own ``delivery_timeout_ms`` should fail them
first; after a broker outage longer than that, ``flush()`` was seen to wait forever, so the
ledger does not rely on it.)
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Payload = tuple[bytes | None, bytes]

#: Error texts kept for the summary (the records themselves are all kept).
MAX_ERRORS = 10


class Outcome(Protocol):
    """The fate of some records of one chunk (``indices``: their positions in it)."""

    @property
    def indices(self) -> Sequence[int]: ...

    @property
    def is_done(self) -> bool: ...

    def wait(self, seconds: float) -> bool:
        """Wait at most ``seconds``; True once every record's outcome is known."""
        ...

    def failures(self) -> list[tuple[int, BaseException | None]]:
        """(position, error) of the records not acknowledged; error None: no outcome yet."""
        ...


class Failed:
    """A settled, failed outcome for records that never got a future (``send`` raised)."""

    __slots__ = ("exception", "indices")
    is_done = True

    def __init__(self, exception: BaseException, indices: Sequence[int]) -> None:
        self.exception = exception
        self.indices = indices

    def wait(self, seconds: float) -> bool:
        return True

    def failures(self) -> list[tuple[int, BaseException | None]]:
        return [(int(index), self.exception) for index in self.indices]


class RecordOutcome:
    """kafka-python's future of one record (``KafkaProducer.send``) at ``index``."""

    __slots__ = ("future", "indices")

    def __init__(self, future: Any, index: int) -> None:
        self.future = future
        self.indices = (index,)

    @property
    def is_done(self) -> bool:
        return bool(self.future.is_done)

    def wait(self, seconds: float) -> bool:
        # get() raises the record's own error, or KafkaTimeoutError when the wait runs out.
        with contextlib.suppress(Exception):
            self.future.get(timeout=max(0.0, seconds))
        return bool(self.future.is_done)

    def failures(self) -> list[tuple[int, BaseException | None]]:
        if not self.future.is_done:
            return [(self.indices[0], None)]
        if self.future.exception is None:
            return []
        return [(self.indices[0], self.future.exception)]


@dataclass
class _Sent:
    payloads: Sequence[Payload]
    outcomes: list[Outcome]
    deadline: float
    tag: int
    #: Outcomes before this index are settled and accounted.
    settled: int = 0
    #: Positions of the failed records (in the order their outcomes were settled).
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

    def add(self, payloads: Sequence[Payload], outcomes: list[Outcome], tag: int = 0) -> None:
        """Track one sent chunk; between them, ``outcomes`` cover every one of ``payloads``."""
        deadline = time.monotonic() + self.delivery_timeout_s + self.grace_s
        self._pending.append(_Sent(payloads, outcomes, deadline, tag))
        self.pending_records += len(payloads)

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
            self.pending_records -= len(sent.payloads)
            # In the order they were read (outcomes go by partition and batch).
            sent.failed.sort()
            self.undelivered.extend(sent.payloads[index] for index in sent.failed)
            if self.on_settled is not None:
                self.on_settled(sent.tag, sent.failed)

    def finish(self) -> None:
        """Wait (bounded by the deadlines) for every pending record's outcome."""
        self.settle(wait=True)

    def _advance(self, sent: _Sent, *, wait: bool) -> bool:
        """Account ``sent``'s settled outcomes in order; True once all are accounted."""
        outcomes, index = sent.outcomes, sent.settled
        end = len(outcomes)
        while index < end:
            outcome = outcomes[index]
            if not outcome.is_done:
                if not wait:
                    sent.settled = index
                    return False
                if not outcome.wait(max(0.0, sent.deadline - time.monotonic())):
                    self._give_up(sent, index)
                    return True
            self._account(sent, outcome)
            index += 1
        sent.settled = end
        return True

    def _give_up(self, sent: _Sent, start: int) -> None:
        for outcome in sent.outcomes[start:]:
            self._account(sent, outcome)
        sent.settled = len(sent.outcomes)

    def _account(self, sent: _Sent, outcome: Outcome) -> None:
        """Count ``outcome``'s records: acknowledged, failed, or (unsettled) given up."""
        failures = outcome.failures()
        self.acknowledged += len(outcome.indices) - len(failures)
        for index, exception in failures:
            sent.failed.append(index)
            if exception is None:
                self.abandoned += 1
                timeout = f"{self.delivery_timeout_s + self.grace_s:g}"
                self._note(f"no outcome from the client within {timeout} s")
                continue
            text = str(exception)
            name = type(exception).__name__
            # kafka-python's errors start with their class name already.
            self._note(text if text.startswith(name) else f"{name}: {text}")

    def _note(self, text: str) -> None:
        if len(self.errors) < MAX_ERRORS and text not in self.errors:
            self.errors.append(text)
