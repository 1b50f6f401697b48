-- One row per rejected input (or per row ClickHouse refused), with the original bytes.
-- Keyed by where the input was read, so a replayed rejection replaces itself.
CREATE TABLE IF NOT EXISTS {database}.rejected_records
(
    id String,
    reason String,
    field String,
    message String,
    source_topic String,
    source_partition UInt16,
    source_offset UInt64,
    ingested_at DateTime,
    rejected_at DateTime,
    rejected_at_ms UInt64,
    payload String
)
ENGINE = ReplacingMergeTree(rejected_at_ms)
PARTITION BY toYYYYMMDD(ingested_at)
ORDER BY (source_topic, source_partition, source_offset, id)
