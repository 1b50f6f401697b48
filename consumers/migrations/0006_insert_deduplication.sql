-- requires-server: 22.8
-- Keep the hashes of the last inserted blocks of each non-replicated table, so that an
-- insert retried with the same insert_deduplication_token (the sink builds it from topic,
-- partition and offset range) is dropped by the server. Replicated tables deduplicate by
-- default. Older servers (18.16) skip this; ReplacingMergeTree + FINAL still hides replays.
ALTER TABLE {database}.scores MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {database}.rejected_records MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {database}.drift_stats MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {database}.drift_events MODIFY SETTING non_replicated_deduplication_window = 1000;
