-- Sorting runs by a metric reads run_metrics in value order. The lists the UI sorts (available or
-- archived runs, one experiment's runs) would otherwise skip over every run of other experiments
-- or states that has the metric; these copies of the run's experiment and storage state, kept in
-- step with the run, let the read stay inside the matching runs.
ALTER TABLE run_metrics ADD COLUMN experiment_id TEXT;
ALTER TABLE run_metrics ADD COLUMN storage_state TEXT NOT NULL DEFAULT 'AVAILABLE';
UPDATE run_metrics SET
    experiment_id = (SELECT runs.experiment_id FROM runs WHERE runs.run_id = run_metrics.run_id),
    storage_state = (SELECT runs.storage_state FROM runs WHERE runs.run_id = run_metrics.run_id);
CREATE INDEX run_metrics_by_storage ON run_metrics (name, storage_state, value, run_id);
CREATE INDEX run_metrics_by_experiment
    ON run_metrics (name, experiment_id, storage_state, value, run_id);
CREATE TRIGGER run_metrics_follow_run AFTER UPDATE OF experiment_id, storage_state ON runs BEGIN
    UPDATE run_metrics SET experiment_id = new.experiment_id, storage_state = new.storage_state
    WHERE run_id = new.run_id;
END;
