-- Bin counts and moments per feature per minute of event time, as partial rows that add up:
-- each worker batch writes its own partial (batch_id), queries sum them. Replays of the same
-- message replace themselves (same batch_id); see README "Drift statistics".
CREATE TABLE IF NOT EXISTS {database}.drift_stats
(
    minute DateTime,
    feature String,
    kind String,
    model_version String,
    batch_id String,
    counts Array(UInt64),
    count UInt64,
    missing UInt64,
    sum Float64,
    sumsq Float64,
    emitted_at_ms UInt64
)
ENGINE = ReplacingMergeTree(emitted_at_ms)
PARTITION BY toYYYYMMDD(minute)
ORDER BY (feature, minute, batch_id)
