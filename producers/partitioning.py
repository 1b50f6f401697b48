"""Kafka's default key partitioning (murmur2), computed for a whole batch of keys at once.

Records are keyed by id, and every producer of ``records`` must send the same id to the
same partition (the worker's duplicate check relies on it), so the partition must be
exactly what the Java client and kafka-python/aiokafka's ``DefaultPartitioner`` choose:
``(murmur2(key) & 0x7fffffff) % len(partitions)``. aiokafka computes that in pure Python
per message, about 5 µs for a UUID: a quarter of the bridge's time per record in batches
of 100. Here keys of equal length are hashed together with numpy (uint32 arithmetic wraps
like Java's int), and small groups use aiokafka's own function. Used by the bridge and by
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
import numpy.typing as npt
from aiokafka.partitioner import murmur2

_SEED = 0x9747B28C
_M = np.uint32(0x5BD1E995)
# Below this many keys of one length, numpy's per-call overhead costs more than it saves.
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
    chosen = (_murmur2_array(keys) & np.uint32(0x7FFFFFFF)) % np.uint32(count)
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
        return [murmur2(key) for key in keys]
    return _murmur2_array(keys).tolist()


def _murmur2_array(keys: Sequence[bytes]) -> npt.NDArray[np.uint32]:
    """murmur2 of every key: keys of one length hashed together (ids mostly are)."""
    count = len(keys)
    out = np.empty(count, dtype=np.uint32)
    lengths = np.fromiter(map(len, keys), dtype=np.intp, count=count)
    for length in np.unique(lengths).tolist():
        indices = np.flatnonzero(lengths == length)
        if len(indices) < _VECTOR_MIN_KEYS:
            for index in indices.tolist():
                out[index] = murmur2(keys[index])
            continue
        joined = (
            b"".join(keys)
            if len(indices) == count
            else b"".join([keys[index] for index in indices.tolist()])
        )
        rows = np.frombuffer(joined, dtype=np.uint8).reshape(len(indices), length)
        out[indices] = _murmur2_equal_length(rows, length)
    return out


def _murmur2_equal_length(rows: npt.NDArray[np.uint8], length: int) -> npt.NDArray[np.uint32]:
    """murmur2 of each row of a (keys x length) byte matrix; mirrors aiokafka's murmur2."""
    n = rows.shape[0]
    h = np.full(n, _SEED ^ length, dtype=np.uint32)
    whole = length // 4
    if whole:
        words = np.ascontiguousarray(rows[:, : whole * 4]).view("<u4").astype(np.uint32)
        k = words * _M
        k ^= k >> np.uint32(24)
        k *= _M
        for column in range(whole):
            h *= _M
            h ^= k[:, column]
    tail = length & 3
    base = whole * 4
    if tail >= 3:
        h ^= rows[:, base + 2].astype(np.uint32) << np.uint32(16)
    if tail >= 2:
        h ^= rows[:, base + 1].astype(np.uint32) << np.uint32(8)
    if tail >= 1:
        h ^= rows[:, base].astype(np.uint32)
        h *= _M
    h ^= h >> np.uint32(13)
    h *= _M
    h ^= h >> np.uint32(15)
    return h
