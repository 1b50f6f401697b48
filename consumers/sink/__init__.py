"""The ClickHouse sink: ``scores``, ``records.rejected`` and ``drift.stats`` into ClickHouse.

Shaped like quix-streams' sinks and checkpoint:

* :mod:`.sink`: :class:`ClickHouseSink` buffers decoded rows per topic (``add``); ``write``
  holds the only code that talks to ClickHouse; ``flush`` always clears the topic's buffer,
  whether the write succeeded or not.
* :mod:`.batch`: what a topic delivered since its last flush. :mod:`.decoders`: the
  contract's decoder of each topic. :mod:`.errors`: "not now" versus "not this row".
  :mod:`.rejections`: rows for what the sink itself cannot store.
* :mod:`.runner`: :class:`SinkRunner`, the consumer loop and the checkpoint: flush a topic,
  then commit its offsets. :mod:`.process`: :func:`run_sink`, the process around it.

Delivery is at-least-once: a crash between insert and commit replays the batch. The
tables are ReplacingMergeTree keyed by record id, and the product's queries
(:mod:`scorestream.consumers.queries`) read them with ``FINAL``, so a replayed row never
shows twice. Servers that support it (22.8+, migration 0006) also drop a retried insert
outright by its ``insert_deduplication_token``.

A message the sink cannot decode, or whose row ClickHouse refuses, becomes a
``rejected_records`` row (reason ``sink_decode_error`` / ``sink_insert_error``, or the
decoder's own reason for a label, with the original bytes) instead of blocking its
partition.
"""

from scorestream.consumers.sink.batch import FlushResult, SinkBatch, TableRows
from scorestream.consumers.sink.decoders import (
    Decoded,
    Decoder,
    decode_label,
    decode_rejected,
    decode_score,
    topic_decoders,
)
from scorestream.consumers.sink.errors import is_transient
from scorestream.consumers.sink.options import SinkOptions, SinkStats
from scorestream.consumers.sink.process import run_sink, tune_gc
from scorestream.consumers.sink.rejections import rejection_row
from scorestream.consumers.sink.runner import SinkRunner
from scorestream.consumers.sink.sink import ClickHouseSink

__all__ = [
    "ClickHouseSink",
    "Decoded",
    "Decoder",
    "FlushResult",
    "SinkBatch",
    "SinkOptions",
    "SinkRunner",
    "SinkStats",
    "TableRows",
    "decode_label",
    "decode_rejected",
    "decode_score",
    "is_transient",
    "rejection_row",
    "run_sink",
    "topic_decoders",
    "tune_gc",
]
