-- PostgreSQL twin of sqlite/0003_schedule_progress.sql: scheduler progress of recurring runs.
ALTER TABLE recurring_runs ADD COLUMN last_tick_ms BIGINT;
ALTER TABLE recurring_runs ADD COLUMN last_index BIGINT NOT NULL DEFAULT 0;
ALTER TABLE recurring_runs ADD COLUMN last_error TEXT;
CREATE INDEX recurring_runs_enabled ON recurring_runs (enabled);
