"""The scoring agent: batches from ``records`` to ``scores`` and ``records.rejected``.

At-least-once: ``take_events`` acknowledges a batch's events only when the agent asks for
the next batch, and the agent asks only after every output of the batch is acknowledged by
the broker (acks=all). Offsets Faust commits are therefore never past an unwritten output.
Concurrency stays 1: a second concurrent instance could ack events out of order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from scorestream.settings import Settings
from streams.app import WorkerOptions
from streams.scoring import BatchScorer, OutputMessage, RawRecord, ScoredBatch

log = logging.getLogger(__name__)

BatchHook = Callable[[ScoredBatch], list[tuple[str, OutputMessage]]]


async def publish(
    app: faust.App, messages: list[tuple[str, OutputMessage]], max_backoff_s: float = 30.0
) -> None:
    """Produce every message and wait until the broker acknowledged all of them.

    A failed delivery is retried, the whole batch again, with exponential backoff and
    without limit: the batch's input offsets stay unacknowledged meanwhile, so a broker
    outage stalls the agent instead of losing outputs. Retried messages may appear twice
    on their topic; every output is keyed by record id and the sink keeps one row per id.
    """
    producer = app.producer
    attempt = 0
    while True:
        try:
            pending: list[Awaitable[Any]] = []
            for topic, message in messages:
                pending.append(
                    await producer.send(
                        topic,
                        message.key,
                        message.value,
                        partition=None,
                        timestamp=None,
                        headers=None,
                    )
                )
            if pending:
                await asyncio.gather(*pending)
            return
        except Exception as exc:
            attempt += 1
            delay = min(max_backoff_s, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning(
                "publishing %d outputs failed (%r); retry %d in %.1f s",
                len(messages),
                exc,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)


def attach_scoring_agent(
    app: faust.App,
    settings: Settings,
    options: WorkerOptions,
    scorer: BatchScorer,
    extra_outputs: BatchHook | None = None,
) -> faust.types.AgentT:
    """Register the scoring agent on ``app``; ``extra_outputs`` adds e.g. drift statistics."""
    topics = settings.topics
    records = app.topic(topics.records, value_serializer="raw", key_serializer="raw")
    state = {"scored": 0, "rejected": 0, "since": time.monotonic()}

    @app.agent(records, concurrency=1, name=f"{settings.topic_prefix}score-records")
    async def score_records(stream: faust.StreamT) -> None:
        # take_events, unlike take, keeps each message's partition and offset.
        take_events = stream.take_events  # type: ignore[attr-defined]
        async for events in take_events(options.batch_size, within=options.batch_within_s):
            batch = [
                RawRecord(
                    value=event.message.value,
                    topic=event.message.topic,
                    partition=event.message.partition,
                    offset=event.message.offset,
                    timestamp_ms=int(event.message.timestamp * 1000),
                )
                for event in events
            ]
            result = scorer.score(batch)
            outputs = [(topics.scores, message) for message in result.scores]
            outputs += [(topics.rejected, message) for message in result.rejected]
            if extra_outputs is not None:
                outputs += extra_outputs(result)
            await publish(app, outputs)
            _report(state, len(result.scores), len(result.rejected))

    return score_records


def _report(state: dict[str, float], scored: int, rejected: int) -> None:
    state["scored"] += scored
    state["rejected"] += rejected
    elapsed = time.monotonic() - state["since"]
    if elapsed >= 10:
        log.info(
            "scored %d, rejected %d in %.1f s (%.0f records/s)",
            state["scored"],
            state["rejected"],
            elapsed,
            (state["scored"] + state["rejected"]) / elapsed,
        )
        state.update(scored=0, rejected=0, since=time.monotonic())
