-- Every drift row keyed by model name and version: two models, or two versions of one on
-- the same day, never replace each other's rows. ClickHouse 18.16 can only append columns
-- added in the same ALTER to a sorting key, hence model_id ("name@version").
ALTER TABLE {database}.drift_stats ADD COLUMN model_name String, ADD COLUMN model_id String, MODIFY ORDER BY (feature, minute, batch_id, model_name, model_id);
ALTER TABLE {database}.drift_events ADD COLUMN model_name String, ADD COLUMN model_id String, MODIFY ORDER BY (feature, minute, event_id, model_name, model_id);
ALTER TABLE {database}.drift_checks ADD COLUMN model_name String, ADD COLUMN model_id String, MODIFY ORDER BY (check_kind, period_start, feature, model_name, model_id);
