"""Keep a Kafka outage from flooding the bridge's log or ``produce``'s stderr.

While a broker is down, the Kafka clients log each failed reconnect, about ten lines a
second. :class:`RepeatFilter` lets the first of each kind through and then one per
interval, which keeps the news (down, still down, back) and drops the noise. With
``tracebacks=False`` the lines it passes lose their traceback (the clients log a socket
error with its stack; ``produce`` reports the outcome per record in its summary).
"""

from __future__ import annotations

import logging
import time

#: Loggers of the Kafka clients, whose reconnect messages repeat during an outage.
KAFKA_LOGGERS = ("aiokafka", "kafka")
_MAX_KINDS = 1000


class RepeatFilter(logging.Filter):
    """Pass one record per (logger, message template) per ``interval_s`` from ``loggers``."""

    def __init__(
        self,
        interval_s: float = 60.0,
        loggers: tuple[str, ...] = KAFKA_LOGGERS,
        *,
        tracebacks: bool = True,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.loggers = loggers
        self.tracebacks = tracebacks
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.loggers):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            return False
        if len(self._last) >= _MAX_KINDS:  # messages formatted in advance never repeat
            self._last.clear()
        self._last[key] = now
        if not self.tracebacks and record.exc_info:
            # One line: the error's text stays in the message, its stack goes.
            # (%% escaped: the message is %-formatted with its args afterwards.)
            error = repr(record.exc_info[1]).replace("%", "%%")
            record.msg = f"{record.msg}: {error}"
            record.exc_info = record.exc_text = None
        return True


def quiet_repeated_kafka_errors(interval_s: float = 60.0, *, tracebacks: bool = True) -> None:
    """Install :class:`RepeatFilter` on every handler of the root logger."""
    repeat_filter = RepeatFilter(interval_s, tracebacks=tracebacks)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeat_filter)
