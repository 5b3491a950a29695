-- PostgreSQL twin of sqlite/0004_run_scalars.sql: every scalar a run's tasks produced, and
-- each run's largest value per scalar name (what "sort runs by a metric" orders by).
CREATE INDEX runs_by_storage ON runs (storage_state, created_at_ms, run_id);
CREATE INDEX runs_by_experiment_storage ON runs (experiment_id, storage_state, created_at_ms, run_id);
CREATE TABLE run_scalars (
    run_id    TEXT COLLATE "C" NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_path TEXT COLLATE "C" NOT NULL,
    name      TEXT COLLATE "C" NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, task_path, name)
);
CREATE INDEX run_scalars_by_name ON run_scalars (name, run_id);
CREATE TABLE run_metrics (
    run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    name   TEXT COLLATE "C" NOT NULL,
    value  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE INDEX run_metrics_by_value ON run_metrics (name, value, run_id);
