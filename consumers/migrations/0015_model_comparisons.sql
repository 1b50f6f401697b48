-- Champion against challenger on the same records, per period (contract: MODEL_COMPARISONS).
CREATE TABLE IF NOT EXISTS {database}.model_comparisons
(
    check_kind String,
    period_start DateTime,
    period_end DateTime,
    checked_at DateTime,
    model_kind String,
    champion_name String,
    champion_version String,
    challenger_name String,
    challenger_version String,
    n_paired UInt64,
    agreement_rate Float64,
    tolerance Float64,
    mean_difference Float64,
    difference_quantiles Array(Float64),
    quantile_levels Array(Float64),
    score_psi Float64
)
ENGINE = ReplacingMergeTree(checked_at)
PARTITION BY toYYYYMM(period_start)
ORDER BY (check_kind, period_start, champion_name, challenger_name, champion_version, challenger_version);
