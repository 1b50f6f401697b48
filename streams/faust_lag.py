"""Consumer lag of the ``faust`` engine: Faust's end offsets against the events it finished.

Faust fetches ahead into its own buffers, so its consumer's position says nothing about what
was scored; the offsets of the events the agent finished do. A partition's lag is therefore
known once the worker has processed a record of it (the ``direct`` engine knows it from the
first fetch). The agent reports at batch boundaries; a timer refreshes while it waits,
since ``take_events`` yields nothing while the topic is idle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scorestream.observability import ConsumerHealth
from scorestream.observability.health import Partition


class FaustLag:
    """Next offset to process per partition of ``topic``, and the lag it gives."""

    def __init__(self, app: Any, topic: str, health: ConsumerHealth) -> None:
        self.app = app
        self.topic = topic
        self.health = health
        self.done: dict[Partition, int] = {}
        self._in_flight: dict[Partition, tuple[int, int]] = {}

    def started(self, events: Sequence[Any]) -> None:
        """A batch was taken: its first and last offset per partition are in flight."""
        spans: dict[Partition, tuple[int, int]] = {}
        for event in events:
            message = event.message
            key = (message.topic, message.partition)
            span = spans.get(key)
            spans[key] = (
                (message.offset, message.offset) if span is None else (span[0], message.offset)
            )
        self._in_flight = spans
        self.refresh()

    def finished(self) -> None:
        """The batch's outputs are acknowledged: its offsets are done."""
        for key, (_, last) in self._in_flight.items():
            self.done[key] = last + 1
        self._in_flight = {}
        self.health.progressed()
        self.refresh()

    def refresh(self) -> None:
        consumer = getattr(self.app, "consumer", None)
        if consumer is None:
            return
        try:
            assignment = [tp for tp in consumer.assignment() if tp.topic == self.topic]
        except Exception:  # the consumer is not started yet, or stopping
            return
        lags: dict[Partition, int] = {}
        for tp in assignment:
            key = (tp.topic, tp.partition)
            span = self._in_flight.get(key)
            start = span[0] if span is not None else self.done.get(key)
            try:
                end = consumer.highwater(tp)
            except AssertionError:  # revoked since assignment() (another thread's consumer)
                continue
            if start is not None and end is not None:
                lags[key] = max(0, end - start)
        self.health.observe(lags, len(assignment))
