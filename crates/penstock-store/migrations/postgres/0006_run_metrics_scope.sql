-- PostgreSQL twin of sqlite/0006_run_metrics_scope.sql: copies of the run's experiment and
-- storage state in run_metrics, kept in step with the run by a trigger, so metric sorts of one
-- experiment's or the available runs stay inside the matching index range.
ALTER TABLE run_metrics ADD COLUMN experiment_id TEXT COLLATE "C";
ALTER TABLE run_metrics ADD COLUMN storage_state TEXT COLLATE "C" NOT NULL DEFAULT 'AVAILABLE';
UPDATE run_metrics SET
    experiment_id = (SELECT runs.experiment_id FROM runs WHERE runs.run_id = run_metrics.run_id),
    storage_state = (SELECT runs.storage_state FROM runs WHERE runs.run_id = run_metrics.run_id);
CREATE INDEX run_metrics_by_storage ON run_metrics (name, storage_state, value, run_id);
CREATE INDEX run_metrics_by_experiment
    ON run_metrics (name, experiment_id, storage_state, value, run_id);
CREATE FUNCTION run_metrics_follow_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE run_metrics SET experiment_id = NEW.experiment_id, storage_state = NEW.storage_state
    WHERE run_id = NEW.run_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER run_metrics_follow_run AFTER UPDATE OF experiment_id, storage_state ON runs
    FOR EACH ROW EXECUTE FUNCTION run_metrics_follow_run();
