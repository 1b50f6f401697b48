"""Kafka's default key partitioning (murmur2), computed for a whole batch of keys at once.

Records are keyed by id, and every producer of ``records`` must send the same id to the
same partition (the worker's duplicate check relies on it), so the partition must be
exactly what the Java client and kafka-python/aiokafka's ``DefaultPartitioner`` choose:
``(murmur2(key) & 0x7fffffff) % len(partitions)``. aiokafka computes that in pure Python
per message, about 5 µs for a UUID: a quarter of the bridge's time per record in batches
of 100. Here keys of equal length are hashed together with numpy (uint32 arithmetic wraps
like Java's int: ``streams/partitioning.py``, the worker's), and small batches use aiokafka's
own function. Used by the bridge and by
``scorestream produce`` (chunks into kafka-python's accumulator, and ``--processes``).

Examples
--------
>>> from aiokafka.partitioner import DefaultPartitioner
>>> keys = [f"id-{i}".encode() for i in range(50)]
>>> mine = partitions_for(keys, [0, 1, 2, 3])
>>> mine == [DefaultPartitioner()(key, [0, 1, 2, 3], []) for key in keys]
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from aiokafka.partitioner import murmur2 as murmur2_one

# One murmur2 for the worker, the bridge and the producer: an id must land where every
# client of ``records`` would put it.
from scorestream.streams.partitioning import murmur2, partitions_of

# Below this many keys, numpy's per-call overhead costs more than it saves.
_VECTOR_MIN_KEYS = 16


def partitions_for(keys: Sequence[bytes], partitions: Sequence[int]) -> list[int]:
    """The partition of each key among ``partitions`` (sorted partition ids)."""
    count = len(partitions)
    hashes = murmur2_many(keys)
    return [partitions[(value & 0x7FFFFFFF) % count] for value in hashes]


def group_by_partition(keys: Sequence[bytes], count: int) -> list[tuple[int, list[int]]]:
    """Positions of ``keys`` by partition (0 .. count-1, as :func:`partitions_for` chooses),
    in the keys' order within each; partitions without keys are left out."""
    if not keys:
        return []
    chosen = partitions_of(keys, count)
    # A stable sort keeps each partition's keys in their order (an id's records in order).
    order = np.argsort(chosen, kind="stable")
    bounds = np.searchsorted(chosen[order], np.arange(count + 1)).tolist()
    return [
        (partition, order[bounds[partition] : bounds[partition + 1]].tolist())
        for partition in range(count)
        if bounds[partition + 1] > bounds[partition]
    ]


def murmur2_many(keys: Sequence[bytes]) -> list[int]:
    """Kafka's murmur2 of every key, as unsigned 32-bit integers."""
    if len(keys) < _VECTOR_MIN_KEYS:
        return [murmur2_one(key) for key in keys]
    return murmur2(keys).tolist()
