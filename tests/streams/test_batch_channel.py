"""The agent engine's channel keeps its batches through the Faust app's own rebalances.

Faust suspends its channels' queues when its group rebalances and empties them when it
resumes. A polled batch waiting in the scoring agent's channel then was lost and the feed
waited for it for ever. The checks run against Faust's real flow control (no broker needed:
a rebalance's effect on channels is ``app.flow_control.suspend()`` then ``resume()``).
"""

from __future__ import annotations

import asyncio

import faust

from scorestream.streams.agents import BatchChannel


def _app() -> faust.App:
    # Never started: no connection is made (the stream only reads the consumer object).
    app = faust.App("scorestream-channel-test", broker="kafka://127.0.0.1:9", store="memory://")
    app.flow_control.resume()  # as after the app's first assignment
    return app


def test_a_faust_rebalance_neither_empties_nor_blocks_the_batch_channel() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        app = _app()
        ours = BatchChannel(app).clone(is_iterator=True)
        await ours.queue.put("waiting")
        app.flow_control.suspend()  # the rebalance begins
        await asyncio.wait_for(ours.queue.put("sent meanwhile"), 1.0)
        app.flow_control.resume()  # ... and ends: Faust clears the queues it manages
        kept = [ours.queue.get_nowait() for _ in range(ours.queue.qsize())]
        # Faust's own channel, as the agent used before: its batch is gone.
        theirs = app.channel().clone(is_iterator=True)
        await theirs.queue.put("waiting")
        app.flow_control.suspend()
        app.flow_control.resume()
        lost = [theirs.queue.get_nowait() for _ in range(theirs.queue.qsize())]
        return kept, lost

    kept, lost = asyncio.run(scenario())
    assert kept == ["waiting", "sent meanwhile"]
    assert lost == []  # why BatchChannel exists; fails if Faust stops clearing its queues


def test_the_stream_yields_a_batch_put_before_a_faust_rebalance() -> None:
    """A value put as it is reaches the agent's stream across a generation of the Faust group.

    The same value sent as a Faust event is skipped by the stream: the agent never saw the
    batch and the feed waited for it for ever.
    """

    async def first(stream: faust.StreamT[str]) -> str | None:
        async def take() -> str:
            async for value in stream:
                return value
            raise AssertionError("the stream ended")

        try:
            return await asyncio.wait_for(take(), 2.0)
        except TimeoutError:
            return None

    async def scenario() -> tuple[str | None, str | None]:
        app = _app()
        ours = BatchChannel(app)
        ours_stream = ours.stream()
        await ours.put("put")  # type: ignore[arg-type]
        sent = BatchChannel(app)
        sent_stream = sent.stream()
        await sent.send(value="sent")
        # The Faust app's own group rebalances meanwhile: a new generation.
        app.consumer_generation_id += 1
        return await first(ours_stream), await first(sent_stream)

    put, sent = asyncio.run(scenario())
    assert put == "put"
    assert sent is None  # why the feed puts its batches; fails if Faust stops skipping
