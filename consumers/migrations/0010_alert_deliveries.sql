-- One row per drift alert delivered by e-mail: the alert consumer looks here before it
-- sends, so a replayed alert or a second check of the same period sends nothing.
CREATE TABLE IF NOT EXISTS {database}.alert_deliveries
(
    alert_id String,
    check_kind String,
    period_start DateTime,
    delivered_at DateTime,
    message_id String,
    recipients String
)
ENGINE = ReplacingMergeTree(delivered_at)
ORDER BY alert_id
