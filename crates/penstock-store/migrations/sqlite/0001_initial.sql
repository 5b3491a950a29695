-- Runs, tasks with their state history, attempts, artifacts with lineage, and cache entries.
-- Times are RFC 3339 text; *_ms columns hold the same instant in milliseconds for sorting.
CREATE TABLE runs (
    run_id         TEXT PRIMARY KEY NOT NULL,
    display_name   TEXT NOT NULL,
    pipeline_name  TEXT NOT NULL,
    pipeline_spec  TEXT NOT NULL,
    platform_spec  TEXT,
    parameters     TEXT NOT NULL,
    state          TEXT NOT NULL,
    error          TEXT,
    created_at     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    started_at     TEXT,
    finished_at    TEXT,
    outputs        TEXT NOT NULL
);
CREATE INDEX runs_by_creation ON runs (created_at_ms DESC, run_id DESC);

CREATE TABLE tasks (
    task_id              TEXT PRIMARY KEY NOT NULL,
    run_id               TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    parent_task_id       TEXT,
    path                 TEXT NOT NULL,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    state                TEXT NOT NULL,
    iteration            INTEGER,
    created_at           TEXT NOT NULL,
    started_at           TEXT,
    finished_at          TEXT,
    inputs               TEXT NOT NULL,
    outputs              TEXT NOT NULL,
    error                TEXT,
    attempts             INTEGER NOT NULL,
    cache_hit            INTEGER,
    cache_reason         TEXT,
    cache_source_task_id TEXT,
    fingerprint          TEXT,
    log_uri              TEXT,
    UNIQUE (run_id, path)
);
CREATE INDEX tasks_by_run ON tasks (run_id);

CREATE TABLE task_states (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id  TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    state    TEXT NOT NULL,
    at       TEXT NOT NULL,
    message  TEXT
);
CREATE INDEX task_states_by_task ON task_states (task_id);

CREATE TABLE attempts (
    task_id     TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    state       TEXT NOT NULL,
    exit_code   INTEGER,
    error       TEXT,
    PRIMARY KEY (task_id, attempt)
);

CREATE TABLE artifacts (
    artifact_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    uri              TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    schema_title     TEXT NOT NULL,
    schema_version   TEXT NOT NULL,
    metadata         TEXT NOT NULL,
    producer_task_id TEXT,
    run_id           TEXT,
    created_at       TEXT NOT NULL
);

CREATE TABLE artifact_events (
    artifact_id INTEGER NOT NULL REFERENCES artifacts (artifact_id) ON DELETE CASCADE,
    task_id     TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    role        TEXT NOT NULL,
    io_name     TEXT NOT NULL,
    PRIMARY KEY (artifact_id, task_id, role, io_name)
);
CREATE INDEX artifact_events_by_task ON artifact_events (task_id);

CREATE TABLE cache_entries (
    fingerprint   TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    outputs       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (fingerprint, task_id)
);
