"""Freed memory given back to the operating system, now and then.

A worker or sink frees most of what each batch allocates, but glibc's allocator returns a
freed page to the system only when it lies at the top of the heap. The rest stays resident:
a worker that had scored 500,000 records held about 390 MiB it had freed, given back by one
``malloc_trim(0)`` (which releases free pages anywhere in the heap) in 26 ms (measured on
the scoring loop with the demo model, batches of 10,000). Calling it every
:data:`RELEASE_INTERVAL_S` seconds costs the event loop that pause and nothing per record.

Only glibc has ``malloc_trim``; elsewhere (musl, macOS) :func:`release_free_memory` does
nothing and says so.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from functools import cache

log = logging.getLogger(__name__)

#: Seconds between two releases of a long-running process.
RELEASE_INTERVAL_S = 15.0


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; False if this C library cannot.

    >>> release_free_memory() in (True, False)
    True
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


async def release_free_memory_every(
    interval_s: float, stopping: Callable[[], bool], poll_s: float = 0.5
) -> None:
    """Call :func:`release_free_memory` every ``interval_s`` until ``stopping()``."""
    if _malloc_trim() is None:
        log.info("no malloc_trim in this C library: freed memory stays with the process")
        return
    waited = 0.0
    while not stopping():
        await asyncio.sleep(poll_s)
        waited += poll_s
        if waited >= interval_s:
            release_free_memory()
            waited = 0.0
