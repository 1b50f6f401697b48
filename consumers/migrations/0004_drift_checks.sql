-- One row per feature per check of a period (the daily check, or a rolling window).
CREATE TABLE IF NOT EXISTS {database}.drift_checks
(
    check_kind String,
    period_start DateTime,
    period_end DateTime,
    checked_at DateTime,
    feature String,
    kind String,
    model_version String,
    n_reference UInt64,
    n_current UInt64,
    test String,
    statistic Float64,
    p_value Float64,
    p_adjusted Float64,
    psi Float64,
    js_distance Float64,
    wasserstein Float64,
    ref_mean Float64,
    cur_mean Float64,
    ref_missing_rate Float64,
    cur_missing_rate Float64,
    level String,
    drifted UInt8,
    reference_counts Array(UInt64),
    current_counts Array(UInt64),
    bin_labels Array(String)
)
ENGINE = ReplacingMergeTree(checked_at)
PARTITION BY toYYYYMM(period_start)
ORDER BY (check_kind, period_start, feature)
