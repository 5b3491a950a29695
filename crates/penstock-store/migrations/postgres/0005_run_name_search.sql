-- PostgreSQL twin of sqlite/0005_run_name_search.sql: substring search on run names (KFP's
-- IS_SUBSTRING) through a trigram index instead of a scan of every run. SQLite uses an FTS5
-- trigram table kept in step by triggers; PostgreSQL's pg_trgm indexes the column itself and
-- serves ILIKE '%…%' from it. pg_trgm is a trusted extension (PostgreSQL 13+): the database's
-- owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX runs_name_search ON runs USING gin (display_name gin_trgm_ops);
