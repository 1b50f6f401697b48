"""Rate-limited warnings and errors: one line per distinct message per interval.

During an outage the Kafka clients log the same failure many times a second (every
reconnect, metadata request and fetch of every partition), and our retry loops log every
attempt: a 52-s broker outage wrote about 5,000 ERROR lines to the worker's and the sink's
logs. :class:`RepeatFilter` lets the first line of each distinct message through, drops
its repeats for ``interval_s``, and appends how many it dropped to the next line of that
message it lets through: "... (and 212 more like this in the last 10 s)".

Two messages are the same when they differ only in numbers (attempt counts, delays, node
ids, offsets), so "retry 3 in 1.2 s" and "retry 4 in 2.5 s" are one message. Records below
``level`` (INFO: flushes, progress) always pass.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds during which repeats of one warning or error are dropped and counted.
REPEAT_INTERVAL_S = 10.0

_NUMBER = re.compile(r"\d+")


@dataclass
class _Seen:
    shown_at: float
    dropped: int = 0


class RepeatFilter(logging.Filter):
    """A :class:`logging.Filter` for handlers: repeats of a message within ``interval_s``
    are dropped, and counted in the next line of that message let through.

    Parameters
    ----------
    interval_s
        How long repeats of a message are dropped after it was shown.
    level
        Records below this level always pass.
    clock
        Seconds, monotonic (tests pass a fake one).
    max_messages
        Distinct messages remembered; the oldest are forgotten beyond it (bounded memory
        whatever the messages).
    """

    def __init__(
        self,
        interval_s: float = REPEAT_INTERVAL_S,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_messages: int = 1000,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.level = level
        self.clock = clock
        self.max_messages = max_messages
        self._seen: dict[tuple[str, int, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it, not us
            return True
        key = (record.name, record.levelno, _NUMBER.sub("#", message))
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.shown_at < self.interval_s:
            seen.dropped += 1
            return False
        if seen is not None and seen.dropped:
            # The count goes into the message itself, so every handler and format shows it.
            record.msg = (
                f"{message} (and {seen.dropped} more like this in the last "
                f"{now - seen.shown_at:.0f} s)"
            )
            record.args = None
        self._seen.pop(key, None)
        self._seen[key] = _Seen(now)
        while len(self._seen) > self.max_messages:
            del self._seen[next(iter(self._seen))]
        return True


def limit_repeats(
    logger: logging.Logger | None = None, interval_s: float = REPEAT_INTERVAL_S
) -> RepeatFilter:
    """Install one :class:`RepeatFilter` on every handler of ``logger`` (the root logger)."""
    repeat = RepeatFilter(interval_s)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(repeat)
    return repeat
