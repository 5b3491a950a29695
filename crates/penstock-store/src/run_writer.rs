//! Group commit of the engine's records.
//!
//! Every [`RunWrite`] of the engine (task states, attempts, artifacts, cache entries) goes
//! through one [`RunWriter`]: a task that owns the writing connection, takes every write that is
//! waiting, and commits them in one transaction. A write's caller gets its answer only after
//! that commit, so each write is still durable when the engine acts on it; what changes is that
//! a thousand loop iterations finishing at once cost a few commits instead of a thousand. (On
//! SQLite a commit appends every changed page to the write-ahead log and takes its locks; with
//! one task at a time nothing waits and a write is committed alone, as before.)
//!
//! Fencing is unchanged: each group checks, inside its transaction and in `run_id` order, that the
//! writing replica still owns each run it writes for (once per run), and refuses that run's
//! writes if not, without affecting the others. When a statement of a group fails (a
//! constraint), each of its writes is retried in a transaction of its own, so one bad write never
//! fails the others; when the database cannot be reached or the commit fails (a full disk),
//! every write of the group gets that error at once, as each would have on its own.

use crate::backend::Backend;
use crate::lease::Replica;
use crate::store::{err, json, ts};
use jiff::Timestamp;
use penstock_engine::{
    ArtifactMap, ArtifactRole, AttemptRecord, CacheEntry, RunWrite, StoreError, TaskRecord,
    TaskState,
};
use sqlx::{Any, AnyPool, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most writes committed in one transaction.
const MOST_IN_A_GROUP: usize = 512;
/// How many writes may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

/// Writes of one run that are committed together, and whom to tell.
struct Unit {
    /// The replica writing, whose ownership of the run is checked.
    replica: Arc<Replica>,
    run_id: String,
    writes: Vec<RunWrite>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle the store submits writes through; the committing task ends when the last handle
/// is dropped. It runs on the Tokio runtime that opened the store, so a store is used on that
/// runtime (every caller in Penstock does).
#[derive(Debug, Clone)]
pub(crate) struct RunWriter {
    queue: mpsc::Sender<Unit>,
}

/// The database written to.
struct Writer {
    pool: AnyPool,
    backend: Backend,
}

impl RunWriter {
    /// Starts the committing task on the current Tokio runtime.
    pub(crate) fn start(pool: AnyPool, backend: Backend) -> RunWriter {
        let (queue, mut receiver) = mpsc::channel::<Unit>(QUEUE);
        let writer = Writer { pool, backend };
        tokio::spawn(async move {
            let mut group = Vec::new();
            while receiver.recv_many(&mut group, MOST_IN_A_GROUP).await > 0 {
                writer.commit(std::mem::take(&mut group)).await;
            }
        });
        RunWriter { queue }
    }

    /// Commits `writes` (all of run `run_id`, by `replica`) together, with whatever else is
    /// waiting; returns once they are durable, or why they were not recorded.
    pub(crate) async fn write(
        &self,
        replica: &Arc<Replica>,
        run_id: &str,
        writes: Vec<RunWrite>,
    ) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let unit = Unit {
            replica: replica.clone(),
            run_id: run_id.to_string(),
            writes,
            done,
        };
        let stopped = || StoreError("the store's writer has stopped".into());
        self.queue.send(unit).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Writer {
    async fn commit(&self, group: Vec<Unit>) {
        let units: Vec<&Unit> = group.iter().collect();
        let outcomes = match self.try_commit(&units).await {
            Ok(outcomes) => outcomes,
            Err(Failure::Unreachable(e)) => {
                // Retrying each unit would wait for the database once per unit.
                units.iter().map(|_| Err(StoreError(e.clone()))).collect()
            }
            Err(failure) if units.len() == 1 => vec![Err(failure.into())],
            Err(failure) => {
                let e = StoreError::from(failure);
                tracing::debug!(error = %e, writes = units.len(), "a group commit failed; committing its writes one by one");
                let mut outcomes = Vec::with_capacity(units.len());
                for unit in &units {
                    outcomes.push(match self.try_commit(&[unit]).await {
                        Ok(mut one) => one.pop().unwrap_or(Ok(())),
                        Err(failure) => Err(failure.into()),
                    });
                }
                outcomes
            }
        };
        for (unit, outcome) in group.into_iter().zip(outcomes) {
            // A caller that stopped waiting needs no answer.
            let _ = unit.done.send(outcome);
        }
    }

    /// One transaction for `units`. `Err` when the transaction failed (nothing of it is
    /// recorded); otherwise each unit's outcome: recorded, or refused because this replica no
    /// longer owns its run. The runs are checked (share-locked on PostgreSQL) in `run_id`
    /// order before anything is written, so two transactions never lock runs in opposite
    /// orders.
    async fn try_commit(&self, units: &[&Unit]) -> Result<Vec<Result<(), StoreError>>, Failure> {
        let mut tx = self.pool.begin().await.map_err(Failure::unreachable)?;
        let mut runs: Vec<(&str, &str)> = units
            .iter()
            .map(|u| (u.run_id.as_str(), u.replica.id.as_str()))
            .collect();
        runs.sort_unstable();
        runs.dedup();
        let mut owned: HashMap<(&str, &str), Result<(), String>> = HashMap::new();
        for (run_id, replica) in runs {
            let ownership =
                match crate::lease::owner_other_than(&mut tx, self.backend, replica, run_id)
                    .await
                    .map_err(Failure::Statement)?
                {
                    None => Ok(()),
                    Some(owner) => Err(crate::lease::lost(run_id, &owner).0),
                };
            owned.insert((run_id, replica), ownership);
        }
        let mut outcomes = Vec::with_capacity(units.len());
        for unit in units {
            let key = (unit.run_id.as_str(), unit.replica.id.as_str());
            if let Some(Err(lost)) = owned.get(&key) {
                outcomes.push(Err(StoreError(lost.clone())));
                continue;
            }
            for write in &unit.writes {
                apply(&mut tx, self.backend, write)
                    .await
                    .map_err(Failure::Statement)?;
            }
            outcomes.push(Ok(()));
        }
        tx.commit().await.map_err(Failure::unreachable)?;
        Ok(outcomes)
    }
}

/// Why a group's transaction failed.
enum Failure {
    /// The database could not be reached, or the transaction could not begin or commit: every
    /// unit of the group gets this answer.
    Unreachable(String),
    /// A statement failed: the units are committed one by one.
    Statement(StoreError),
}

impl Failure {
    fn unreachable(e: sqlx::Error) -> Failure {
        Failure::Unreachable(e.to_string())
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> StoreError {
        match failure {
            Failure::Unreachable(e) => StoreError(e),
            Failure::Statement(e) => e,
        }
    }
}

/// Applies one write inside a transaction.
async fn apply(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    write: &RunWrite,
) -> Result<(), StoreError> {
    match write {
        RunWrite::Task { task, message } => {
            upsert_task(tx, backend, task, message.as_deref()).await
        }
        RunWrite::Attempt(attempt) => insert_attempt(tx, attempt).await,
        RunWrite::Artifacts {
            task,
            role,
            artifacts,
        } => record_artifacts(tx, task, *role, artifacts).await,
        RunWrite::CacheEntry(entry) => insert_cache_entry(tx, entry).await,
    }
}

// The row of a task; its history gains an entry when the state changes (the newest entry is
// the state the task had: every change appends one), and for every new attempt of a RUNNING
// task. Macros, so that SQLite's combined statements below are literals too.
macro_rules! upsert_task {
    () => {
        "INSERT INTO tasks (task_id, run_id, parent_task_id, path, name, kind, state, iteration, created_at,
         started_at, finished_at, inputs, outputs, error, attempts, cache_hit, cache_reason,
         cache_source_task_id, fingerprint, log_uri)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, started_at = excluded.started_at,
         finished_at = excluded.finished_at, inputs = excluded.inputs, outputs = excluded.outputs,
         error = excluded.error, attempts = excluded.attempts, cache_hit = excluded.cache_hit,
         cache_reason = excluded.cache_reason, cache_source_task_id = excluded.cache_source_task_id,
         fingerprint = excluded.fingerprint, log_uri = excluded.log_uri"
    };
}
macro_rules! new_attempt_history {
    () => {
        "INSERT INTO task_states (task_id, state, at, message) VALUES ($1, $7, $21, $22)"
    };
}
macro_rules! changed_state_history {
    () => {
        "INSERT INTO task_states (task_id, state, at, message) SELECT $1, $7, $21, $22
         WHERE COALESCE((SELECT state FROM task_states WHERE task_id = $1 ORDER BY id DESC LIMIT 1), '') <> $7"
    };
}

async fn upsert_task(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    task: &TaskRecord,
    message: Option<&str>,
) -> Result<(), StoreError> {
    let new_attempt = task.state == TaskState::Running && message.is_some();
    // SQLite runs both statements of one query (binding `$N` by number in each), which saves
    // a round trip to its worker thread per write; PostgreSQL prepares one statement at a time.
    let statements: &[&'static str] = match (backend, new_attempt) {
        (Backend::Sqlite, true) => &[concat!(upsert_task!(), ";\n", new_attempt_history!())],
        (Backend::Sqlite, false) => &[concat!(upsert_task!(), ";\n", changed_state_history!())],
        (Backend::Postgres, true) => &[upsert_task!(), new_attempt_history!()],
        (Backend::Postgres, false) => &[upsert_task!(), changed_state_history!()],
    };
    for sql in statements {
        sqlx::query(*sql)
            .bind(&task.task_id)
            .bind(&task.run_id)
            .bind(&task.parent_task_id)
            .bind(&task.path)
            .bind(&task.name)
            .bind(task.kind.name())
            .bind(task.state.name())
            .bind(task.iteration)
            .bind(task.created_at.to_string())
            .bind(ts(&task.started_at))
            .bind(ts(&task.finished_at))
            .bind(json(&task.inputs)?)
            .bind(json(&task.outputs)?)
            .bind(&task.error)
            .bind(task.attempts as i64)
            .bind(task.cache.as_ref().map(|c| c.hit as i64))
            .bind(task.cache.as_ref().map(|c| c.reason.clone()))
            .bind(task.cache.as_ref().and_then(|c| c.source_task_id.clone()))
            .bind(&task.fingerprint)
            .bind(&task.log_uri)
            .bind(Timestamp::now().to_string())
            .bind(message)
            .execute(&mut **tx)
            .await
            .map_err(err)?;
    }
    for (name, value) in task.scalars() {
        let row = crate::scalars::ScalarRow {
            run_id: task.run_id.clone(),
            task_path: task.path.clone(),
            format: task.scalar_format(&name),
            name,
            value,
        };
        crate::scalars::record_scalar(tx, &row, true).await?;
    }
    Ok(())
}

async fn insert_attempt(
    tx: &mut Transaction<'_, Any>,
    a: &AttemptRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO attempts (task_id, attempt, run_id, started_at, finished_at, state, exit_code, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (task_id, attempt) DO UPDATE SET run_id = excluded.run_id,
         started_at = excluded.started_at, finished_at = excluded.finished_at,
         state = excluded.state, exit_code = excluded.exit_code, error = excluded.error",
    )
    .bind(&a.task_id)
    .bind(a.attempt as i64)
    .bind(&a.run_id)
    .bind(a.started_at.to_string())
    .bind(a.finished_at.to_string())
    .bind(a.state.name())
    .bind(a.exit_code.map(i64::from))
    .bind(&a.error)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    Ok(())
}

async fn record_artifacts(
    tx: &mut Transaction<'_, Any>,
    task: &TaskRecord,
    role: ArtifactRole,
    artifacts: &ArtifactMap,
) -> Result<(), StoreError> {
    let role_name = match role {
        ArtifactRole::Input => "INPUT",
        ArtifactRole::Output => "OUTPUT",
    };
    for (io_name, list) in artifacts {
        for a in list {
            let producer = (role == ArtifactRole::Output).then(|| task.task_id.clone());
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO artifacts (uri, name, schema_title, schema_version, metadata, producer_task_id, run_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (uri) DO UPDATE SET
                   metadata = CASE WHEN excluded.producer_task_id IS NOT NULL THEN excluded.metadata ELSE artifacts.metadata END,
                   producer_task_id = COALESCE(artifacts.producer_task_id, excluded.producer_task_id)
                 RETURNING artifact_id",
            )
            .bind(&a.uri)
            .bind(&a.name)
            .bind(&a.schema_title)
            .bind(&a.schema_version)
            .bind(json(&a.metadata)?)
            .bind(producer)
            .bind(&task.run_id)
            .bind(Timestamp::now().to_string())
            .fetch_one(&mut **tx)
            .await
            .map_err(err)?;
            sqlx::query(
                "INSERT INTO artifact_events (artifact_id, task_id, run_id, role, io_name) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&task.task_id)
            .bind(&task.run_id)
            .bind(role_name)
            .bind(io_name)
            .execute(&mut **tx)
            .await
            .map_err(err)?;
        }
    }
    Ok(())
}

async fn insert_cache_entry(
    tx: &mut Transaction<'_, Any>,
    entry: &CacheEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cache_entries (fingerprint, task_id, run_id, outputs, created_at, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (fingerprint, task_id) DO UPDATE SET run_id = excluded.run_id,
         outputs = excluded.outputs, created_at = excluded.created_at,
         created_at_ms = excluded.created_at_ms",
    )
    .bind(&entry.fingerprint)
    .bind(&entry.task_id)
    .bind(&entry.run_id)
    .bind(json(&entry.outputs)?)
    .bind(entry.created_at.to_string())
    .bind(entry.created_at.as_millisecond())
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    Ok(())
}

/// The run a write belongs to.
pub(crate) fn run_of(write: &RunWrite) -> &str {
    match write {
        RunWrite::Task { task, .. } | RunWrite::Artifacts { task, .. } => &task.run_id,
        RunWrite::Attempt(attempt) => &attempt.run_id,
        RunWrite::CacheEntry(entry) => &entry.run_id,
    }
}
