-- Scheduler progress of recurring runs: the last tick fired (recorded in the transaction that
-- creates its run, so a restart never fires a tick twice), the run index for [[Index]], and why
-- the last tick could not start a run.
ALTER TABLE recurring_runs ADD COLUMN last_tick_ms INTEGER;
ALTER TABLE recurring_runs ADD COLUMN last_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recurring_runs ADD COLUMN last_error TEXT;
CREATE INDEX recurring_runs_enabled ON recurring_runs (enabled);
-- The UI lists available (not archived) runs newest first.
CREATE INDEX runs_by_storage ON runs (storage_state, created_at_ms, run_id);
CREATE INDEX runs_by_experiment_storage ON runs (experiment_id, storage_state, created_at_ms, run_id);
