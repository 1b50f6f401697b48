-- Why a feature could not be checked (level 'error'): one feature's failure is reported
-- on its own row instead of failing the whole check. Plain ADD COLUMN: 18.16 has no
-- IF NOT EXISTS here; the runner treats "column already exists" as done.
ALTER TABLE {database}.drift_checks ADD COLUMN error String DEFAULT '';
