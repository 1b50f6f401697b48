"""Times as the messages carry them: ISO-8601 text or epoch milliseconds, within what a
``DateTime`` column stores. One parser for ``event_time`` (records) and ``label_time`` (labels).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from scorestream.contract.tables import DATETIME_MAX_S, DATETIME_MIN_S

#: A time is accepted exactly when a ``DateTime`` column can store it: [MIN, MAX) epoch
#: milliseconds (the last storable second, 2106-02-07T06:28:15Z, up to its last ms).
MIN_STORABLE_MS = DATETIME_MIN_S * 1000
MAX_STORABLE_MS = (DATETIME_MAX_S + 1) * 1000

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def storable_epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds of an ISO-8601 string or an integral number, or None if invalid
    or not storable (naive times are UTC; booleans are not times).

    >>> storable_epoch_ms("2024-05-01T12:00:00Z"), storable_epoch_ms(1714564800000)
    (1714564800000, 1714564800000)
    >>> storable_epoch_ms("yesterday"), storable_epoch_ms(-1), storable_epoch_ms(True)
    (None, None, None)
    """
    kind = type(value)
    millis: int
    if kind is str:
        # fromisoformat ignores what follows a NUL; only printable ASCII can be a time.
        if not (value.isascii() and value.isprintable()):
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            millis = (moment - EPOCH) // ONE_MS
        except OverflowError:
            return None
    elif kind is int:
        millis = value
    elif kind is float and value.is_integer():  # False for inf and nan
        millis = int(value)
    else:
        return None
    return millis if MIN_STORABLE_MS <= millis < MAX_STORABLE_MS else None
