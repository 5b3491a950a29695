-- PostgreSQL twin of sqlite/0009_run_timeout.sql: a run's timeout in seconds.
ALTER TABLE runs ADD COLUMN timeout_seconds BIGINT;
