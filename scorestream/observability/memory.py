"""Memory of one process, as series: its resident size, and what the interpreter holds of it.

Resident memory (RSS) alone cannot tell a leak from the allocator keeping freed memory: a
worker's RSS rises by a few MiB per million records after its duplicate-id window is full
(README, *Benchmarks*, the soak), while the blocks the interpreter has allocated stay flat.
Both series side by side say which it is: a leak grows both; the allocator's high-water
mark grows RSS alone.

- ``PREFIX_process_*``: prometheus_client's :class:`~prometheus_client.ProcessCollector`
  (``resident_memory_bytes``, ``virtual_memory_bytes``, ``cpu_seconds_total``,
  ``open_fds``, ``start_time_seconds``), read from ``/proc`` at each scrape (Linux only:
  elsewhere it serves nothing);
- ``PREFIX_python_allocated_blocks``: :func:`sys.getallocatedblocks`, the memory blocks
  the interpreter holds for live objects.

Both are computed when scraped, never on the scoring path.
"""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector


def register_memory_series(registry: CollectorRegistry, prefix: str) -> None:
    """Add the process's memory series to ``registry``, named ``{prefix}_...``.

    >>> from prometheus_client import generate_latest
    >>> registry = CollectorRegistry()
    >>> register_memory_series(registry, "demo")
    >>> text = generate_latest(registry).decode()
    >>> "demo_python_allocated_blocks " in text and "demo_process_resident_memory_bytes" in text
    True
    """
    ProcessCollector(namespace=prefix, registry=registry)
    Gauge(
        f"{prefix}_python_allocated_blocks",
        "Memory blocks the interpreter holds for live objects (sys.getallocatedblocks); "
        "flat while resident memory grows: the allocator keeps freed memory, no leak",
        registry=registry,
    ).set_function(lambda: float(sys.getallocatedblocks()))
