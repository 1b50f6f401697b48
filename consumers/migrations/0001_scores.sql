-- One row per scored record. ReplacingMergeTree keeps one row per (event_time, id): a batch
-- replayed after a crash carries the same id and event time, so FINAL / argMax hide it.
CREATE TABLE IF NOT EXISTS {database}.scores
(
    id String,
    event_time DateTime,
    event_time_ms UInt64,
    scored_at DateTime,
    scored_at_ms UInt64,
    model_name String,
    model_version String,
    score Float64,
    label String,
    latency_ms UInt32,
    source_partition UInt16,
    source_offset UInt64,
    inserted_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(scored_at_ms)
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (event_time, id)
