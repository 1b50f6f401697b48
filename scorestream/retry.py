"""The one retry policy of the project: exponential backoff with "equal jitter".

Every process retries the same way: the n-th consecutive failure waits a random time in
``[ceiling / 2, ceiling]`` with ``ceiling = min(max_s, initial_s * 2 ** (n - 1))``. Never
less than half the step, so processes restarting together spread out without hammering a
recovering server. :class:`Backoff` is the policy; :func:`retry_async` and
:func:`retry_sync` are the loops (log, wait, try again) built on it, so no module writes its
own.

>>> import random
>>> random.seed(7)
>>> policy = Backoff(initial_s=0.5, max_s=4.0)
>>> [policy.ceiling(n) for n in (1, 2, 3, 4, 5, 6)]
[0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
>>> all(policy.ceiling(n) / 2 <= policy.delay(n) <= policy.ceiling(n) for n in range(1, 99))
True
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with equal jitter: ``delay(n)`` for the n-th failure in a row."""

    initial_s: float = 0.5
    max_s: float = 30.0

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` consecutive failures (``failures >= 1``)."""
        # min() before the power: 2 ** 10_000 would overflow a float.
        return min(self.max_s, self.initial_s * 2 ** min(max(failures, 1) - 1, 60))

    def delay(self, failures: int) -> float:
        """A random wait in ``[ceiling / 2, ceiling]``."""
        top = self.ceiling(failures)
        return random.uniform(top / 2, top)


async def retry_async(
    action: Callable[[], Awaitable[T]],
    *,
    what: str,
    policy: Backoff,
    log: logging.Logger,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    give_up: tuple[type[BaseException], ...] = (),
    stop: asyncio.Event | None = None,
) -> T | None:
    """Await ``action()`` until it succeeds and return its result.

    Exceptions in ``retry_on`` (but not in ``give_up``) are logged and retried after
    ``policy.delay``; others propagate. Returns None when ``stop`` is set first (the wait
    ends at once when it is).
    """
    failures = 0
    while stop is None or not stop.is_set():
        try:
            return await action()
        except give_up:
            raise
        except retry_on as exc:
            failures += 1
            delay = policy.delay(failures)
            log.warning(
                "%s failed (%s: %s); retry %d in %.1f s",
                what,
                type(exc).__name__,
                exc,
                failures,
                delay,
            )
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
    return None


def retry_sync(
    action: Callable[[], T],
    *,
    what: str,
    policy: Backoff,
    log: logging.Logger,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    give_up_after_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Call ``action()`` until it succeeds; return its result and the number of attempts.

    After ``give_up_after_s`` seconds of failures the last exception propagates.
    """
    started = time.monotonic()
    failures = 0
    while True:
        try:
            return action(), failures + 1
        except retry_on as exc:
            if give_up_after_s is not None and time.monotonic() - started > give_up_after_s:
                raise
            failures += 1
            delay = policy.delay(failures)
            log.warning(
                "%s failed (%s: %s); attempt %d, next in %.1f s",
                what,
                type(exc).__name__,
                exc,
                failures,
                delay,
            )
            sleep(delay)
