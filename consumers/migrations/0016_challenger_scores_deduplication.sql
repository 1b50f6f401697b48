-- requires-server: 22.8
-- As 0006 for the challengers' table: a retried insert with the same token is dropped.
ALTER TABLE {database}.challenger_scores MODIFY SETTING non_replicated_deduplication_window = 1000;
