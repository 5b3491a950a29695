//! The store: the engine's `RunStore` over SQLite or PostgreSQL, plus the queries the CLI
//! needs. One implementation serves both backends (see [`crate::backend`]).

use crate::backend::{Backend, DatabaseLocation};
use async_trait::async_trait;
use jiff::Timestamp;
use penstock_engine::{
    ArtifactMap, ArtifactRole, AttemptRecord, CacheDecision, CacheEntry, RunRecord, RunState,
    RunStore, RunWrite, StoreError, TaskIo, TaskKind, TaskRecord, TaskState,
};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use std::path::Path;

/// The database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the store: {0}")]
pub struct StoreOpenError(pub String);

/// Runs, tasks, artifacts and the KFP catalog in a SQLite file or a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Readers (several connections).
    pub(crate) pool: AnyPool,
    /// The connections that write. On SQLite a single one: SQLite serialises writes anyway,
    /// and one connection avoids `SQLITE_BUSY` when a read-then-write transaction would need
    /// to upgrade its lock. On PostgreSQL the same pool as the readers.
    pub(crate) writer: AnyPool,
    /// Which database this is.
    pub(crate) backend: Backend,
    /// The experiment that runs created without one belong to (KFP's "Default").
    pub(crate) default_experiment_id: String,
    /// The replica recorded as the owner of the runs this store creates and claims.
    pub(crate) replica: std::sync::Arc<crate::lease::Replica>,
    /// Commits the engine's task, attempt, artifact and cache writes in groups.
    pub(crate) run_writer: crate::run_writer::RunWriter,
}

/// The store's name from before it had a PostgreSQL backend; the same type as [`Store`].
pub type SqliteStore = Store;

/// One entry of a task's state history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStateChange {
    /// The state entered.
    pub state: String,
    /// When.
    pub at: String,
    /// Why, when known.
    pub message: Option<String>,
}

/// An artifact with its lineage role for one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactRow {
    /// The artifact's URI.
    pub uri: String,
    /// Its type.
    pub schema_title: String,
    /// Metadata JSON.
    pub metadata: serde_json::Value,
    /// INPUT or OUTPUT.
    pub role: String,
    /// The input or output name.
    pub io_name: String,
    /// The task that produced it.
    pub producer_task_id: Option<String>,
}

pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub(crate) fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(err)
}

pub(crate) fn ts(t: &Option<Timestamp>) -> Option<String> {
    t.as_ref().map(Timestamp::to_string)
}

pub(crate) fn parse_required_ts(text: String) -> Result<Timestamp, StoreError> {
    text.parse::<Timestamp>()
        .map_err(|e| err(format!("bad time {text:?}: {e}")))
}

pub(crate) fn parse_ts(text: Option<String>) -> Result<Option<Timestamp>, StoreError> {
    text.map(parse_required_ts).transpose()
}

impl Store {
    /// Opens (creating if needed) a SQLite database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Store, StoreOpenError> {
        let opened = crate::backend::open_sqlite(path).await?;
        Store::ready(opened, Backend::Sqlite, &path.display().to_string()).await
    }

    /// Opens the database at `url` (`postgres://…`, or `sqlite://PATH`) and applies pending
    /// migrations. Errors name the URL without its password.
    pub async fn connect(url: &str) -> Result<Store, StoreOpenError> {
        Store::open_location(&DatabaseLocation::parse(url)?).await
    }

    /// Opens a parsed database location.
    pub async fn open_location(location: &DatabaseLocation) -> Result<Store, StoreOpenError> {
        match location {
            DatabaseLocation::Sqlite(path) => Store::open(path).await,
            DatabaseLocation::Postgres(url) => {
                let opened = crate::backend::open_postgres(url).await?;
                Store::ready(opened, Backend::Postgres, &location.display()).await
            }
        }
    }

    /// `--database` when given, else the SQLite file `penstock.db` in `home`.
    pub async fn open_configured(
        database: Option<&str>,
        home: &Path,
    ) -> Result<Store, StoreOpenError> {
        match database.map(str::trim).filter(|d| !d.is_empty()) {
            Some(url) => Store::connect(url).await,
            None => Store::open(&home.join("penstock.db")).await,
        }
    }

    async fn ready(
        opened: crate::backend::Opened,
        backend: Backend,
        shown: &str,
    ) -> Result<Store, StoreOpenError> {
        let default_experiment_id = crate::catalog::ensure_default_experiment(&opened.writer)
            .await
            .map_err(|e| StoreOpenError(format!("{shown}: {e}")))?;
        if backend == Backend::Postgres {
            let pool = opened.writer.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
                while !pool.is_closed() {
                    tick.tick().await;
                    if let Err(e) = fold_run_counts(&pool).await {
                        tracing::debug!(error = %e, "cannot fold the run counts (retried)");
                    }
                }
            });
        }
        let replica = std::sync::Arc::new(crate::lease::Replica::current().clone());
        let run_writer = crate::run_writer::RunWriter::start(
            opened.writer.clone(),
            backend,
            opened.file.clone(),
        )
        .map_err(|e| StoreOpenError(format!("{shown}: {e}")))?;
        Ok(Store {
            pool: opened.pool,
            writer: opened.writer,
            backend,
            default_experiment_id,
            replica,
            run_writer,
        })
    }

    /// Which database this store is in.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Refreshes the query planner's statistics (after loading many rows at once, e.g. in
    /// benchmarks; a running PostgreSQL does this by itself through autovacuum).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            fold_run_counts(&self.writer).await?;
        }
        let sql = match self.backend {
            Backend::Sqlite => "PRAGMA optimize=0x10002",
            Backend::Postgres => "VACUUM ANALYZE",
        };
        sqlx::query(sql).execute(&self.writer).await.map_err(err)?;
        Ok(())
    }

    /// The newest runs first.
    pub async fn list_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM runs ORDER BY created_at_ms DESC, run_id DESC LIMIT $1")
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        rows.iter().map(run_from_row).collect()
    }

    /// A run by id, or by a unique prefix of its id.
    pub async fn find_run(&self, id_or_prefix: &str) -> Result<Option<RunRecord>, StoreError> {
        let pattern = format!("{}%", id_or_prefix.replace(['%', '_'], ""));
        let rows = sqlx::query("SELECT * FROM runs WHERE run_id = $1 OR run_id LIKE $2 LIMIT 2")
            .bind(id_or_prefix)
            .bind(&pattern)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        if let Some(exact) = rows
            .iter()
            .find(|r| r.get::<String, _>("run_id") == id_or_prefix)
        {
            return run_from_row(exact).map(Some);
        }
        match rows.len() {
            1 => run_from_row(&rows[0]).map(Some),
            0 => Ok(None),
            _ => Err(StoreError(format!(
                "run id prefix '{id_or_prefix}' is ambiguous"
            ))),
        }
    }

    /// Every task of a run, in creation order.
    pub async fn list_tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tasks WHERE run_id = $1 ORDER BY created_at, path")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(task_from_row).collect()
    }

    /// One task by id.
    pub async fn get_task(&self, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM tasks WHERE task_id = $1")
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// A task's state history, oldest first.
    pub async fn task_history(&self, task_id: &str) -> Result<Vec<TaskStateChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, at, message FROM task_states WHERE task_id = $1 ORDER BY id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| TaskStateChange {
                state: r.get("state"),
                at: r.get("at"),
                message: r.get("message"),
            })
            .collect())
    }

    /// The attempts of a task.
    pub async fn list_attempts(&self, task_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM attempts WHERE task_id = $1 ORDER BY attempt")
            .bind(task_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(AttemptRecord {
                    task_id: r.get("task_id"),
                    run_id: r.get("run_id"),
                    attempt: r.get::<i64, _>("attempt") as u32,
                    started_at: parse_required_ts(r.get("started_at"))?,
                    finished_at: parse_required_ts(r.get("finished_at"))?,
                    state: {
                        let state: String = r.get("state");
                        TaskState::from_name(&state)
                            .ok_or_else(|| err(format!("unknown attempt state {state}")))?
                    },
                    exit_code: r.get::<Option<i64>, _>("exit_code").map(|c| c as i32),
                    error: r.get("error"),
                })
            })
            .collect()
    }

    /// The artifacts a task consumed and produced.
    pub async fn task_artifacts(&self, task_id: &str) -> Result<Vec<ArtifactRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.uri, a.schema_title, a.metadata, a.producer_task_id, e.role, e.io_name
             FROM artifact_events e JOIN artifacts a ON a.artifact_id = e.artifact_id
             WHERE e.task_id = $1 ORDER BY e.role, e.io_name",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(ArtifactRow {
                    uri: r.get("uri"),
                    schema_title: r.get("schema_title"),
                    metadata: serde_json::from_str(&r.get::<String, _>("metadata")).map_err(err)?,
                    role: r.get("role"),
                    io_name: r.get("io_name"),
                    producer_task_id: r.get("producer_task_id"),
                })
            })
            .collect()
    }
}

/// PostgreSQL: folds the run-count deltas the trigger of migration 0010 appends into one row
/// per group, in one statement (a delta appended meanwhile is not in the statement's snapshot
/// and stays; a concurrent fold skips the rows this one deleted), so counts stay a sum over a
/// few rows.
pub(crate) async fn fold_run_counts(pool: &AnyPool) -> Result<(), StoreError> {
    sqlx::query(
        "WITH moved AS (DELETE FROM run_count_deltas
                        RETURNING experiment_id, storage_state, namespace, state, n)
         INSERT INTO run_count_deltas (experiment_id, storage_state, namespace, state, n)
         SELECT experiment_id, storage_state, namespace, state, SUM(n) FROM moved
         GROUP BY experiment_id, storage_state, namespace, state HAVING SUM(n) <> 0",
    )
    .execute(pool)
    .await
    .map_err(err)?;
    Ok(())
}

pub(crate) fn run_from_row(r: &AnyRow) -> Result<RunRecord, StoreError> {
    let state: String = r.get("state");
    Ok(RunRecord {
        run_id: r.get("run_id"),
        display_name: r.get("display_name"),
        pipeline_name: r.get("pipeline_name"),
        pipeline_spec: serde_json::from_str(&r.get::<String, _>("pipeline_spec")).map_err(err)?,
        platform_spec: r
            .get::<Option<String>, _>("platform_spec")
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(err)?,
        parameters: serde_json::from_str(&r.get::<String, _>("parameters")).map_err(err)?,
        state: RunState::from_name(&state)
            .ok_or_else(|| err(format!("unknown run state {state}")))?,
        error: r.get("error"),
        created_at: parse_required_ts(r.get("created_at"))?,
        started_at: parse_ts(r.get("started_at"))?,
        finished_at: parse_ts(r.get("finished_at"))?,
        outputs: serde_json::from_str(&r.get::<String, _>("outputs")).map_err(err)?,
        timeout_seconds: r
            .get::<Option<i64>, _>("timeout_seconds")
            .and_then(|s| u64::try_from(s).ok()),
    })
}

fn task_from_row(r: &AnyRow) -> Result<TaskRecord, StoreError> {
    let state: String = r.get("state");
    let kind: String = r.get("kind");
    let kind = match kind.as_str() {
        "container" => TaskKind::Container,
        "importer" => TaskKind::Importer,
        "dag" => TaskKind::Dag,
        "loop" => TaskKind::Loop,
        "iteration" => TaskKind::Iteration,
        other => return Err(err(format!("unknown task kind {other}"))),
    };
    let cache = r
        .get::<Option<i64>, _>("cache_hit")
        .map(|hit| CacheDecision {
            hit: hit != 0,
            reason: r
                .get::<Option<String>, _>("cache_reason")
                .unwrap_or_default(),
            source_task_id: r.get("cache_source_task_id"),
        });
    Ok(TaskRecord {
        task_id: r.get("task_id"),
        run_id: r.get("run_id"),
        parent_task_id: r.get("parent_task_id"),
        path: r.get("path"),
        name: r.get("name"),
        kind,
        state: TaskState::from_name(&state)
            .ok_or_else(|| err(format!("unknown task state {state}")))?,
        iteration: r.get("iteration"),
        created_at: parse_required_ts(r.get("created_at"))?,
        started_at: parse_ts(r.get("started_at"))?,
        finished_at: parse_ts(r.get("finished_at"))?,
        inputs: serde_json::from_str::<TaskIo>(&r.get::<String, _>("inputs")).map_err(err)?,
        outputs: serde_json::from_str::<TaskIo>(&r.get::<String, _>("outputs")).map_err(err)?,
        error: r.get("error"),
        attempts: r.get::<i64, _>("attempts") as u32,
        cache,
        fingerprint: r.get("fingerprint"),
        log_uri: r.get("log_uri"),
    })
}

#[async_trait]
impl RunStore for Store {
    async fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let meta = crate::catalog::RunMeta::in_experiment(self.default_experiment_id.clone(), run);
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(err)?;
        crate::catalog::insert_run_row(&mut tx, self, run, &meta).await?;
        tx.commit().await.map_err(err)
    }

    async fn update_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        // Fenced: only the run's owner (or anyone, for a run recorded before leases existed,
        // which then becomes this replica's) may record it.
        let sql = format!(
            "UPDATE runs SET state = $1, error = $2, started_at = $3, finished_at = $4, finished_at_ms = $5,
             outputs = $6, owner_pid = $7, owner_replica = $9, owner_host = $10,
             lease_until_ms = COALESCE(lease_until_ms, {} + $11)
             WHERE run_id = $8 AND (owner_replica IS NULL OR owner_replica = $9)",
            self.backend.now_ms()
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run.state.name())
            .bind(&run.error)
            .bind(ts(&run.started_at))
            .bind(ts(&run.finished_at))
            .bind(run.finished_at.map(|t| t.as_millisecond()))
            .bind(json(&run.outputs)?)
            .bind(self.replica.pid)
            .bind(&run.run_id)
            .bind(&self.replica.id)
            .bind(&self.replica.pid_scope)
            .bind(crate::lease::lease_ms())
            .execute(&self.writer)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Err(match self.run_owner(&run.run_id).await {
                Ok(Some(owner)) => crate::lease::lost(&run.run_id, &owner),
                _ => StoreError(format!("run {} is not recorded", run.run_id)),
            });
        }
        Ok(())
    }

    async fn upsert_task(
        &self,
        task: &TaskRecord,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write_all(vec![RunWrite::Task {
            task: task.clone(),
            message: message.map(str::to_string),
        }])
        .await
    }

    async fn insert_attempt(&self, a: &AttemptRecord) -> Result<(), StoreError> {
        self.write_all(vec![RunWrite::Attempt(a.clone())]).await
    }

    async fn record_artifacts(
        &self,
        task: &TaskRecord,
        role: ArtifactRole,
        artifacts: &ArtifactMap,
    ) -> Result<(), StoreError> {
        if artifacts.is_empty() {
            return Ok(());
        }
        self.write_all(vec![RunWrite::Artifacts {
            task: task.clone(),
            role,
            artifacts: artifacts.clone(),
        }])
        .await
    }

    /// Commits the writes together (group commit: with whatever other writes are waiting),
    /// fenced like every write of a run. Writes that mix runs (the engine never does) are
    /// committed one by one.
    async fn write_all(&self, writes: Vec<RunWrite>) -> Result<(), StoreError> {
        let Some(first) = writes.first() else {
            return Ok(());
        };
        let run_id = crate::run_writer::run_of(first).to_string();
        if writes
            .iter()
            .all(|w| crate::run_writer::run_of(w) == run_id)
        {
            return self.run_writer.write(&self.replica, &run_id, writes).await;
        }
        for write in writes {
            let run_id = crate::run_writer::run_of(&write).to_string();
            self.run_writer
                .write(&self.replica, &run_id, vec![write])
                .await?;
        }
        Ok(())
    }

    async fn find_cache_entry(&self, fingerprint: &str) -> Result<Option<CacheEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM cache_entries WHERE fingerprint = $1 ORDER BY created_at_ms DESC LIMIT 1",
        )
        .bind(fingerprint)
        .fetch_optional(&self.writer)
        .await
        .map_err(err)?;
        row.map(|r| {
            Ok(CacheEntry {
                fingerprint: r.get("fingerprint"),
                task_id: r.get("task_id"),
                run_id: r.get("run_id"),
                outputs: serde_json::from_str(&r.get::<String, _>("outputs")).map_err(err)?,
                created_at: parse_required_ts(r.get("created_at"))?,
            })
        })
        .transpose()
    }

    async fn insert_cache_entry(&self, entry: &CacheEntry) -> Result<(), StoreError> {
        // Fenced like every write of a run: other runs reuse what a cache entry says.
        self.write_all(vec![RunWrite::CacheEntry(entry.clone())])
            .await
    }
}
