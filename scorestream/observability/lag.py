"""Consumer lag of an aiokafka consumer, from what it already knows (no broker round trip)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from scorestream.observability.health import Partition

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer


async def aiokafka_lags(
    consumer: AIOKafkaConsumer,
    in_flight: Mapping[Partition, int],
    ends: Mapping[Partition, int] | None = None,
) -> tuple[dict[Partition, int], int]:
    """Lag of each assigned partition whose end offset a fetch has reported, and how many
    partitions are assigned.

    A paused consumer fetches nothing, so its ``highwater`` stands still while records keep
    arriving: give it ``ends`` (``consumer.end_offsets``, asked now and then) instead.

    The next offset to process is ``in_flight[tp]``, the first offset of records delivered
    but not finished yet, or else the consumer's position (everything delivered is
    finished; the position also skips transaction markers, which no record fills). A
    partition fetched at least once has a valid position, so ``position`` returns at once.
    """
    from aiokafka.errors import IllegalStateError

    assignment = consumer.assignment()
    # Highwaters first, without awaiting: a rebalance can only happen at an await.
    seen = [(tp, consumer.highwater(tp)) for tp in assignment]
    lags: dict[Partition, int] = {}
    for tp, end in seen:
        if ends is not None and tp in ends:
            end = max(end or 0, ends[tp])
        if end is None:
            continue
        start = in_flight.get(tp)
        if start is None:
            try:
                start = await consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile
                continue
        lags[tp] = max(0, end - start)
    return lags, len(assignment)
