-- What each drift_checks row was compared with: 'reference' (the training profile) or
-- 'same_time_of_day' (the same window on previous days, for rolling windows shorter than a
-- day). Plain ADD COLUMN: 18.16 has no IF NOT EXISTS here; the runner treats "column
-- already exists" as done. Older rows read as 'reference', which is what they used.
ALTER TABLE {database}.drift_checks ADD COLUMN baseline String DEFAULT 'reference';
