-- True labels, one row per record id however late they come (contract: LABELS). A label
-- sent later for the same id replaces the earlier one: the version is the label message's
-- Kafka timestamp (received_at_ms), so a correction wins even with the same label_time.
-- No time partition, on purpose: ReplacingMergeTree (and FINAL) only collapse rows within
-- one partition, and a correction may carry a label_time in another month than the label
-- it corrects. Labels are small (one short row per scored record); the sorting key is id.
CREATE TABLE IF NOT EXISTS {database}.labels
(
    id String,
    label String,
    value Float64,
    label_time DateTime,
    label_time_ms UInt64,
    received_at DateTime,
    received_at_ms UInt64,
    model_name String,
    model_version String,
    inserted_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(received_at_ms)
ORDER BY id
