-- The daily performance verdict per model version and metric (contract: MODEL_PERFORMANCE).
CREATE TABLE IF NOT EXISTS {database}.model_performance
(
    check_kind String,
    period_start DateTime,
    period_end DateTime,
    checked_at DateTime,
    model_name String,
    model_version String,
    model_kind String,
    metric String,
    source String,
    value Float64,
    band_low Float64,
    band_high Float64,
    n UInt64,
    coverage Float64,
    level String
)
ENGINE = ReplacingMergeTree(checked_at)
PARTITION BY toYYYYMM(period_start)
ORDER BY (check_kind, period_start, model_name, model_version, metric, source);
