-- Challengers' scores of the same records, keyed by model so that every model keeps its own
-- row per record; the columns are those of scores (contract: CHALLENGER_SCORES).
CREATE TABLE IF NOT EXISTS {database}.challenger_scores
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
    inserted_at DateTime DEFAULT now(),
    model_kind String,
    class_labels Array(String),
    class_probabilities Array(Float64)
)
ENGINE = ReplacingMergeTree(scored_at_ms)
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (model_name, model_version, event_time, id);
