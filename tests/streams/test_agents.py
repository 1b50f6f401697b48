"""The worker's publish: retried, whole batch, on the project's retry helper, never dropped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import pytest

import scorestream.streams.agents as agents
from scorestream.retry import Backoff
from scorestream.streams.scoring import OutputMessage


def test_publish_retries_the_whole_batch_until_acknowledged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[tuple[str, bytes]] = []
    failures = iter([True, True, False])

    async def send(topic: str, key: bytes, value: bytes) -> Awaitable[Any]:
        sent.append((topic, key))
        done = asyncio.get_running_loop().create_future()
        if key == b"a" and next(failures):  # the first message fails twice
            done.set_exception(ConnectionError("broker down"))
        else:
            done.set_result(None)
        return done

    # Keep the test fast: the same policy shape, tiny waits.
    monkeypatch.setattr(agents, "Backoff", lambda initial_s, max_s: Backoff(0.001, 0.002))
    messages = [("t", OutputMessage(b"a", b"1")), ("t", OutputMessage(b"b", b"2"))]
    with caplog.at_level(logging.WARNING, logger=agents.__name__):
        asyncio.run(agents.publish(send, messages))
    assert sent == [("t", b"a"), ("t", b"b")] * 3
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "publishing 2 outputs failed"
    ] * 2
