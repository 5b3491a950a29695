-- Every scalar a run's tasks produced (numeric output parameters, Metrics values), recorded with
-- the task's outputs, so runs can be listed with metric columns and sorted by a metric.
CREATE TABLE run_scalars (
    run_id    TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_path TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (run_id, task_path, name)
);
CREATE INDEX run_scalars_by_name ON run_scalars (name, run_id);
-- Each run's largest value per scalar name: what "sort runs by a metric" orders by.
CREATE TABLE run_metrics (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE INDEX run_metrics_by_value ON run_metrics (name, value, run_id);
