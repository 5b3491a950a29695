-- What the KFP REST API adds around runs: experiments, pipelines with versions, recurring runs,
-- and each run's bookkeeping (experiment, storage state, pipeline reference, trigger).
-- Times here are milliseconds since the Unix epoch (they sort and page as integers).
CREATE TABLE experiments (
    experiment_id          TEXT PRIMARY KEY NOT NULL,
    display_name           TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    namespace              TEXT NOT NULL DEFAULT '',
    storage_state          TEXT NOT NULL DEFAULT 'AVAILABLE',
    created_at_ms          INTEGER NOT NULL,
    last_run_created_at_ms INTEGER,
    UNIQUE (namespace, display_name)
);
CREATE INDEX experiments_by_creation ON experiments (created_at_ms, experiment_id);

CREATE TABLE pipelines (
    pipeline_id   TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    namespace     TEXT NOT NULL DEFAULT '',
    created_at_ms INTEGER NOT NULL,
    tags          TEXT NOT NULL DEFAULT '{}',
    UNIQUE (namespace, name)
);
CREATE INDEX pipelines_by_creation ON pipelines (created_at_ms, pipeline_id);

CREATE TABLE pipeline_versions (
    pipeline_version_id TEXT PRIMARY KEY NOT NULL,
    pipeline_id         TEXT NOT NULL REFERENCES pipelines (pipeline_id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    created_at_ms       INTEGER NOT NULL,
    pipeline_spec       TEXT NOT NULL,
    platform_spec       TEXT,
    code_source_url     TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL DEFAULT 'READY',
    tags                TEXT NOT NULL DEFAULT '{}',
    UNIQUE (pipeline_id, name)
);
CREATE INDEX pipeline_versions_by_pipeline ON pipeline_versions (pipeline_id, created_at_ms, pipeline_version_id);

CREATE TABLE recurring_runs (
    recurring_run_id    TEXT PRIMARY KEY NOT NULL,
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    experiment_id       TEXT NOT NULL,
    namespace           TEXT NOT NULL DEFAULT '',
    pipeline_id         TEXT,
    pipeline_version_id TEXT,
    pipeline_spec       TEXT,
    platform_spec       TEXT,
    parameters          TEXT NOT NULL DEFAULT '{}',
    pipeline_root       TEXT,
    service_account     TEXT NOT NULL DEFAULT '',
    max_concurrency     INTEGER NOT NULL,
    trigger_spec        TEXT NOT NULL,
    enabled             INTEGER NOT NULL,
    no_catchup          INTEGER NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL
);
CREATE INDEX recurring_runs_by_creation ON recurring_runs (created_at_ms, recurring_run_id);
CREATE INDEX recurring_runs_by_experiment ON recurring_runs (experiment_id, created_at_ms, recurring_run_id);

ALTER TABLE runs ADD COLUMN experiment_id TEXT;
ALTER TABLE runs ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN storage_state TEXT NOT NULL DEFAULT 'AVAILABLE';
ALTER TABLE runs ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN pipeline_id TEXT;
ALTER TABLE runs ADD COLUMN pipeline_version_id TEXT;
ALTER TABLE runs ADD COLUMN pipeline_root TEXT;
ALTER TABLE runs ADD COLUMN service_account TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN recurring_run_id TEXT;
ALTER TABLE runs ADD COLUMN scheduled_at_ms INTEGER;
ALTER TABLE runs ADD COLUMN finished_at_ms INTEGER;
-- The process executing the run (so a restarted server settles only runs whose process is gone).
ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
CREATE INDEX runs_by_experiment ON runs (experiment_id, created_at_ms, run_id);
CREATE INDEX runs_by_recurring_run ON runs (recurring_run_id, created_at_ms, run_id);
CREATE INDEX runs_by_state ON runs (state, created_at_ms, run_id);
