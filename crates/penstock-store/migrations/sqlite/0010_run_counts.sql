-- Number 0010 on PostgreSQL adds per-group run counts so that a filtered runs list's
-- total_size does not scan every matching run. SQLite needs no such table: it counts an index
-- range directly from its b-tree pages, fast enough at 100,000 runs (see docs/database.md).
-- Kept so that both backends share the numbering.
SELECT 1;
