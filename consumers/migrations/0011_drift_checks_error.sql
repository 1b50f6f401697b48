-- Why a feature could not be checked (level 'error'): one feature's failure is reported
-- on its own row instead of failing the whole check.
ALTER TABLE {database}.drift_checks ADD COLUMN IF NOT EXISTS error String DEFAULT '';
