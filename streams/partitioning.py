"""Kafka's default partition of many keys at once: murmur2 in numpy, one pass per key length.

aiokafka's ``DefaultPartitioner`` computes the same hash (the Java client's murmur2) in pure
Python, a few µs per key: as much as validating a record, and the worker needs one per
output. Keys of one length form a matrix of bytes and are hashed column block by column
block, so the Python work is per distinct length and 4-byte block, not per key. The result
is the partition aiokafka's ``send`` (and the Java client) would choose; a property test
holds it equal to aiokafka's ``murmur2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_SEED = np.uint32(0x9747B28C)
_M = np.uint32(0x5BD1E995)


def murmur2(keys: Sequence[bytes]) -> npt.NDArray[np.uint32]:
    """The Java client's murmur2 of every key (as aiokafka's ``murmur2``, unsigned 32-bit).

    >>> from aiokafka.partitioner import murmur2 as one
    >>> keys = [b"", b"a", b"id-00042", "é-ü".encode()]
    >>> murmur2(keys).tolist() == [one(key) for key in keys]
    True
    """
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    hashes = np.empty(len(keys), dtype=np.uint32)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        same = keys if rows.size == len(keys) else [keys[row] for row in rows.tolist()]
        hashes[rows] = _murmur2_of_length(same, length)
    return hashes


def partitions_of(keys: Sequence[bytes], count: int) -> npt.NDArray[np.int64]:
    """Index into the sorted partitions of each key, as Kafka's default partitioner picks.

    >>> partitions_of([b"a", b"b", b"c"], 4).tolist()
    [0, 0, 2]
    """
    positive = murmur2(keys) & np.uint32(0x7FFFFFFF)
    return (positive % np.uint32(count)).astype(np.int64)


def _murmur2_of_length(keys: Sequence[bytes], length: int) -> npt.NDArray[np.uint32]:
    data = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), length)
    blocks = length // 4
    h = np.full(len(keys), _SEED ^ np.uint32(length & 0xFFFFFFFF), dtype=np.uint32)
    if blocks:
        # Little-endian 4-byte words, as the Java code assembles them byte by byte.
        words = np.ascontiguousarray(data[:, : blocks * 4]).view("<u4").astype(np.uint32)
        for i in range(blocks):
            k = words[:, i] * _M
            k ^= k >> np.uint32(24)
            k *= _M
            h *= _M
            h ^= k
    tail = data[:, blocks * 4 :].astype(np.uint32)
    extra = length % 4
    if extra >= 3:
        h ^= tail[:, 2] << np.uint32(16)
    if extra >= 2:
        h ^= tail[:, 1] << np.uint32(8)
    if extra >= 1:
        h ^= tail[:, 0]
        h *= _M
    h ^= h >> np.uint32(13)
    h *= _M
    h ^= h >> np.uint32(15)
    return h
