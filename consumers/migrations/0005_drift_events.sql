-- One row per change point a river detector reported (drift.stats messages of type
-- "change"). Replays carry the same event_id and replace themselves. Few rows: monthly
-- partitions keep the part count low.
CREATE TABLE IF NOT EXISTS {database}.drift_events
(
    detected_at DateTime,
    detected_at_ms UInt64,
    minute DateTime,
    feature String,
    detector String,
    value Float64,
    model_version String,
    event_id String
)
ENGINE = ReplacingMergeTree(detected_at_ms)
PARTITION BY toYYYYMM(minute)
ORDER BY (feature, minute, event_id)
