//! Group commit of the engine's records.
//!
//! Every [`RunWrite`] of the engine (task states, attempts, artifacts, cache entries) goes
//! through one [`RunWriter`]: it owns a connection of its own, takes every write that is
//! waiting, and commits them in one transaction. A write's caller gets its answer only after
//! that commit, so each write is still durable when the engine acts on it; what changes is that
//! a thousand loop iterations finishing at once cost a few commits instead of a thousand. (On
//! SQLite a commit appends every changed page to the write-ahead log and takes its locks; with
//! one task at a time nothing waits and a write is committed alone, as before.)
//!
//! On SQLite the writer is a thread holding a `rusqlite` connection: a group is one hand-over
//! to that thread and one answer back, its statements prepared once and kept. (Through sqlx
//! every statement, `BEGIN` and `COMMIT` would be a hand-over to sqlx's worker thread and back,
//! and a pooled connection pings the database each time it is handed back.) The store's other
//! write transactions begin `IMMEDIATE` on SQLite, so the two writing connections take turns
//! instead of failing on a stale snapshot (they wait for each other through SQLite's busy
//! handler, up to 10 s, rather than in one queue). On PostgreSQL the writer is a task holding a
//! connection of its own, one statement at a time; when a kept connection cannot begin a
//! transaction (the server restarted, an idle timeout closed it), the group is tried once more
//! on a fresh one.
//!
//! Fencing is unchanged: each group checks, inside its transaction and in `run_id` order, that the
//! writing replica still owns each run it writes for (once per run), and refuses that run's
//! writes if not, without affecting the others. When a statement of a group fails (a
//! constraint), each of its writes is retried in a transaction of its own, so one bad write never
//! fails the others; when the database cannot be reached, a transaction cannot begin or commit,
//! or SQLite says it cannot be used (busy past its timeout, an I/O error, a full disk,
//! read-only), every write of the group gets that error at once, as each would have on its own
//! (and units still waiting to be retried one by one get it too).

use crate::backend::Backend;
use crate::lease::Replica;
use crate::store::{err, json, ts};
use jiff::Timestamp;
use penstock_engine::{
    ArtifactMap, ArtifactRole, AttemptRecord, CacheEntry, RunWrite, StoreError, TaskRecord,
    TaskState,
};
use rusqlite::OptionalExtension as _;
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, AnyPool, Arguments, Connection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

/// A unit of a group with the statements of its writes, in order.
struct Prepared<'a> {
    /// Its place in the group.
    index: usize,
    unit: &'a Unit,
    statements: Vec<Statement>,
}

/// The handle the store submits writes through; the writer ends when the last handle is
/// dropped. It is started on a Tokio runtime, which answers the writes.
#[derive(Debug, Clone)]
pub(crate) struct RunWriter {
    queue: mpsc::Sender<Unit>,
}

/// Where a writer commits: one transaction for a group of units, as described in
/// [`Committer::try_commit`].
trait Committer {
    /// One transaction for `units`. `Err` when the transaction failed (nothing of it is
    /// recorded); otherwise each unit's outcome: recorded, or refused because this replica no
    /// longer owns its run. The runs are checked (share-locked on PostgreSQL) in `run_id`
    /// order before anything is written, so two transactions never lock runs in opposite
    /// orders. A connection that failed is let go, and the next group opens another.
    async fn try_commit(
        &mut self,
        units: &[Prepared<'_>],
    ) -> Result<Vec<Result<(), StoreError>>, Failure>;
}

impl RunWriter {
    /// Starts the writer of a SQLite file (a thread) or of a PostgreSQL database (a task on the
    /// current Tokio runtime, connecting through `pool`). `Err`: the thread could not start.
    pub(crate) fn start(
        pool: AnyPool,
        backend: Backend,
        file: Option<PathBuf>,
    ) -> Result<RunWriter, String> {
        let (queue, mut receiver) = mpsc::channel::<Unit>(QUEUE);
        match (backend, file) {
            (Backend::Sqlite, Some(file)) => {
                let runtime = tokio::runtime::Handle::current();
                std::thread::Builder::new()
                    .name("penstock-writer".into())
                    .spawn(move || {
                        let mut committer = SqliteCommitter {
                            file,
                            connection: None,
                        };
                        let mut group = Vec::new();
                        while let Some(unit) = receiver.blocking_recv() {
                            group.push(unit);
                            while group.len() < MOST_IN_A_GROUP {
                                match receiver.try_recv() {
                                    Ok(unit) => group.push(unit),
                                    Err(_) => break,
                                }
                            }
                            // Nothing in it waits: the future is ready when first polled.
                            runtime.block_on(commit(&mut committer, std::mem::take(&mut group)));
                        }
                    })
                    .map_err(|e| format!("cannot start the store's writer thread: {e}"))?;
            }
            (_, _) => {
                let mut committer = PostgresCommitter {
                    pool,
                    connection: None,
                };
                tokio::spawn(async move {
                    let mut group = Vec::new();
                    while receiver.recv_many(&mut group, MOST_IN_A_GROUP).await > 0 {
                        commit(&mut committer, std::mem::take(&mut group)).await;
                    }
                    if let Some(connection) = committer.connection.take() {
                        let _ = connection.close().await;
                    }
                });
            }
        }
        Ok(RunWriter { queue })
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

/// Commits a group and answers each unit.
async fn commit(committer: &mut impl Committer, group: Vec<Unit>) {
    // Each unit's statements, built before anything is sent: a unit whose values cannot be
    // encoded is refused alone.
    let mut outcomes: Vec<Option<Result<(), StoreError>>> = Vec::with_capacity(group.len());
    let mut units: Vec<Prepared> = Vec::with_capacity(group.len());
    for (index, unit) in group.iter().enumerate() {
        match statements_of(&unit.writes) {
            Ok(statements) => {
                outcomes.push(None);
                units.push(Prepared {
                    index,
                    unit,
                    statements,
                });
            }
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    let attempt = if units.is_empty() {
        Ok(Vec::new())
    } else {
        committer.try_commit(&units).await
    };
    let committed = match attempt {
        Ok(committed) => committed,
        Err(Failure::Unreachable(e)) => {
            // Retrying each unit would wait for the database once per unit.
            units.iter().map(|_| Err(StoreError(e.clone()))).collect()
        }
        Err(failure) if units.len() == 1 => vec![Err(failure.into())],
        Err(failure) => {
            let e = StoreError::from(failure);
            tracing::debug!(error = %e, writes = units.len(), "a group commit failed; committing its writes one by one");
            let mut one_by_one = Vec::with_capacity(units.len());
            let mut unreachable = None;
            for unit in &units {
                if let Some(e) = &unreachable {
                    // The database went away meanwhile: the rest get that answer at once.
                    one_by_one.push(Err(StoreError(String::clone(e))));
                    continue;
                }
                one_by_one.push(
                    match committer.try_commit(std::slice::from_ref(unit)).await {
                        Ok(mut one) => one.pop().unwrap_or_else(|| Err(unanswered())),
                        Err(Failure::Unreachable(e)) => {
                            unreachable = Some(e.clone());
                            Err(StoreError(e))
                        }
                        Err(failure) => Err(failure.into()),
                    },
                );
            }
            one_by_one
        }
    };
    for (prepared, outcome) in units.iter().zip(committed) {
        outcomes[prepared.index] = Some(outcome);
    }
    for (unit, outcome) in group.into_iter().zip(outcomes) {
        // A caller that stopped waiting needs no answer.
        let _ = unit.done.send(outcome.unwrap_or_else(|| Err(unanswered())));
    }
}

/// What a unit is told if its transaction gave no outcome for it (which `try_commit` never
/// does): not recorded, as far as the writer knows.
fn unanswered() -> StoreError {
    StoreError("the store's writer lost track of this write; it may not be recorded".into())
}

/// The runs `units` write for, each with the replica writing, in `run_id` order, once each.
fn runs_of<'a>(units: &'a [Prepared<'a>]) -> Vec<(&'a str, &'a str)> {
    let mut runs: Vec<(&str, &str)> = units
        .iter()
        .map(|p| (p.unit.run_id.as_str(), p.unit.replica.id.as_str()))
        .collect();
    runs.sort_unstable();
    runs.dedup();
    runs
}

/// Whether `replica` may write for `run_id`, whose owner is `owner` (a run without an owner,
/// or an unknown run, is nobody else's); `Err`: why not.
fn ownership(run_id: &str, replica: &str, owner: Option<String>) -> Result<(), String> {
    match owner {
        Some(owner) if owner != replica => Err(crate::lease::lost(run_id, &owner).0),
        _ => Ok(()),
    }
}

/// Each unit's outcome given who owns each run (`Err`: the error a fenced unit gets), and the
/// units to write.
fn fence<'a>(
    units: &'a [Prepared<'a>],
    owned: &HashMap<(&str, &str), Result<(), String>>,
) -> (Vec<Result<(), StoreError>>, Vec<&'a Prepared<'a>>) {
    let mut outcomes = Vec::with_capacity(units.len());
    let mut writing = Vec::with_capacity(units.len());
    for unit in units {
        let key = (unit.unit.run_id.as_str(), unit.unit.replica.id.as_str());
        match owned.get(&key) {
            Some(Err(lost)) => outcomes.push(Err(StoreError(lost.clone()))),
            _ => {
                outcomes.push(Ok(()));
                writing.push(unit);
            }
        }
    }
    (outcomes, writing)
}

/// The writer of a SQLite file, and its connection once opened.
struct SqliteCommitter {
    file: PathBuf,
    connection: Option<rusqlite::Connection>,
}

/// Opens the writer's connection to a SQLite file the store has created and migrated.
fn open_writer_connection(file: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.execute_batch(crate::backend::SQLITE_CONNECTION_PRAGMAS)?;
    Ok(connection)
}

impl Committer for SqliteCommitter {
    async fn try_commit(
        &mut self,
        units: &[Prepared<'_>],
    ) -> Result<Vec<Result<(), StoreError>>, Failure> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => {
                let opened = open_writer_connection(&self.file)
                    .map_err(|e| Failure::Unreachable(format!("{}: {e}", self.file.display())))?;
                self.connection.insert(opened)
            }
        };
        let outcome = commit_sqlite(connection, units);
        if let Err(Failure::Unreachable(_)) = outcome {
            self.connection = None;
        }
        outcome
    }
}

fn commit_sqlite(
    connection: &mut rusqlite::Connection,
    units: &[Prepared<'_>],
) -> Result<Vec<Result<(), StoreError>>, Failure> {
    let tx = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let mut owned = HashMap::new();
    {
        let mut owner_of = tx
            .prepare_cached("SELECT owner_replica FROM runs WHERE run_id = ?1")
            .map_err(Failure::sqlite)?;
        for (run_id, replica) in runs_of(units) {
            let owner: Option<Option<String>> = owner_of
                .query_row([run_id], |row| row.get(0))
                .optional()
                .map_err(Failure::sqlite)?;
            owned.insert(
                (run_id, replica),
                ownership(run_id, replica, owner.flatten()),
            );
        }
    }
    let (outcomes, writing) = fence(units, &owned);
    for prepared in writing {
        for statement in &prepared.statements {
            execute_sqlite(&tx, statement).map_err(Failure::sqlite)?;
        }
    }
    // A transaction dropped before its commit is rolled back.
    tx.commit()
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    Ok(outcomes)
}

/// Runs one statement, its `$N` bound to its Nth value. A statement whose placeholders and
/// values do not match is refused (SQLite would bind a missing value as NULL; PostgreSQL
/// refuses it too).
fn execute_sqlite(tx: &rusqlite::Transaction, statement: &Statement) -> rusqlite::Result<()> {
    let mut prepared = tx.prepare_cached(statement.sql)?;
    if prepared.parameter_count() != statement.values.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            prepared.parameter_count(),
            statement.values.len(),
        ));
    }
    for (i, value) in statement.values.iter().enumerate() {
        let name = format!("${}", i + 1);
        let Some(index) = prepared.parameter_index(&name)? else {
            return Err(rusqlite::Error::InvalidParameterName(name));
        };
        match value {
            Value::Text(text) => prepared.raw_bind_parameter(index, text)?,
            Value::Int(int) => prepared.raw_bind_parameter(index, int)?,
            Value::Real(real) => prepared.raw_bind_parameter(index, real)?,
        }
    }
    prepared.raw_execute()?;
    Ok(())
}

/// The writer of a PostgreSQL database, and its connection once taken from the pool (and
/// detached from it: a pooled connection is pinged each time it is handed back).
struct PostgresCommitter {
    pool: AnyPool,
    connection: Option<AnyConnection>,
}

/// A connection of the writer's own, taken from `pool` and detached from it.
async fn fresh(pool: &AnyPool) -> Result<AnyConnection, Failure> {
    Ok(pool.acquire().await.map_err(Failure::unreachable)?.detach())
}

impl Committer for PostgresCommitter {
    async fn try_commit(
        &mut self,
        units: &[Prepared<'_>],
    ) -> Result<Vec<Result<(), StoreError>>, Failure> {
        let kept = self.connection.take();
        let reused = kept.is_some();
        let mut connection = match kept {
            Some(connection) => connection,
            None => fresh(&self.pool).await?,
        };
        let mut outcome = commit_postgres(&mut connection, units).await;
        if reused && matches!(outcome, Err(Failure::NotBegun(_))) {
            // The kept connection was closed meanwhile (a server restart, a fail-over, an idle
            // timeout): once more on a fresh one. Only when nothing was sent in a transaction:
            // after a failed COMMIT it is unknown whether the writes were recorded.
            drop(connection);
            connection = fresh(&self.pool).await?;
            outcome = commit_postgres(&mut connection, units).await;
        }
        let outcome = outcome.map_err(|failure| match failure {
            Failure::NotBegun(e) => Failure::Unreachable(e),
            other => other,
        });
        if !matches!(outcome, Err(Failure::Unreachable(_))) {
            self.connection = Some(connection);
        }
        outcome
    }
}

/// A failed transaction is rolled back when the connection is next used or dropped.
async fn commit_postgres(
    connection: &mut AnyConnection,
    units: &[Prepared<'_>],
) -> Result<Vec<Result<(), StoreError>>, Failure> {
    let mut tx = connection
        .begin()
        .await
        .map_err(|e| Failure::NotBegun(e.to_string()))?;
    let mut owned = HashMap::new();
    for (run_id, replica) in runs_of(units) {
        // Share-locked until the transaction ends, so a claim by another replica waits for
        // this write or this write sees the claim.
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT owner_replica FROM runs WHERE run_id = $1 FOR SHARE")
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Failure::of_statement)?;
        owned.insert(
            (run_id, replica),
            ownership(run_id, replica, owner.flatten()),
        );
    }
    let (outcomes, writing) = fence(units, &owned);
    for prepared in writing {
        for statement in &prepared.statements {
            let mut args = AnyArguments::default();
            for value in &statement.values {
                let added = match value {
                    Value::Text(text) => args.add(text.clone()),
                    Value::Int(int) => args.add(*int),
                    Value::Real(real) => args.add(*real),
                };
                if let Err(e) = added {
                    // Encoding text and numbers into the Any buffer cannot fail; if it ever
                    // did, the statement would fail on its missing parameter with a clear
                    // database error.
                    tracing::error!("cannot bind a value of a write: {e}");
                }
            }
            sqlx::query_with(statement.sql, args)
                .execute(&mut *tx)
                .await
                .map_err(Failure::of_statement)?;
        }
    }
    tx.commit().await.map_err(Failure::unreachable)?;
    Ok(outcomes)
}

/// Why a group's transaction failed.
enum Failure {
    /// A transaction could not begin (PostgreSQL: nothing was sent in it, so it may be tried
    /// again on another connection); told to the units as [`Failure::Unreachable`].
    NotBegun(String),
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

    /// An error of SQLite's: the database cannot be used (busy past the timeout, locked, an
    /// I/O error, a full disk, read-only, corrupt), or it refused one statement (a constraint,
    /// a value too big: retried unit by unit).
    fn sqlite(e: rusqlite::Error) -> Failure {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(
                DatabaseBusy
                | DatabaseLocked
                | SystemIoFailure
                | DiskFull
                | CannotOpen
                | ReadOnly
                | DatabaseCorrupt
                | NotADatabase
                | OutOfMemory
                | PermissionDenied
                | FileLockingProtocolFailed,
            ) => Failure::Unreachable(e.to_string()),
            _ => Failure::Statement(err(e)),
        }
    }

    /// A statement's error: the database refused it (a constraint, a full disk: retried unit
    /// by unit), or the connection failed (every unit gets it).
    fn of_statement(e: sqlx::Error) -> Failure {
        match e {
            sqlx::Error::Database(_) => Failure::Statement(err(e)),
            e => Failure::Unreachable(e.to_string()),
        }
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> StoreError {
        match failure {
            Failure::Unreachable(e) | Failure::NotBegun(e) => StoreError(e),
            Failure::Statement(e) => e,
        }
    }
}

/// A value bound to a statement.
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Real(f64),
}

/// One statement of a write: SQL both backends run, its placeholders `$1…$N` bound to `values`
/// in order.
struct Statement {
    sql: &'static str,
    values: Vec<Value>,
}

fn text(value: impl Into<String>) -> Value {
    Value::Text(Some(value.into()))
}

fn opt_text(value: Option<impl Into<String>>) -> Value {
    Value::Text(value.map(Into::into))
}

/// The statements of a unit's writes, in order.
fn statements_of(writes: &[RunWrite]) -> Result<Vec<Statement>, StoreError> {
    let mut statements = Vec::new();
    for write in writes {
        match write {
            RunWrite::Task { task, message } => {
                upsert_task(&mut statements, task, message.as_deref())?
            }
            RunWrite::Attempt(attempt) => statements.push(insert_attempt(attempt)),
            RunWrite::Artifacts {
                task,
                role,
                artifacts,
            } => record_artifacts(&mut statements, task, *role, artifacts)?,
            RunWrite::CacheEntry(entry) => statements.push(insert_cache_entry(entry)?),
        }
    }
    Ok(statements)
}

/// The row of a task; its history gains an entry when the state changes (the newest entry is
/// the state the task had: every change appends one), and for every new attempt of a RUNNING
/// task.
fn upsert_task(
    statements: &mut Vec<Statement>,
    task: &TaskRecord,
    message: Option<&str>,
) -> Result<(), StoreError> {
    statements.push(Statement {
        sql: "INSERT INTO tasks (task_id, run_id, parent_task_id, path, name, kind, state, iteration, created_at,
         started_at, finished_at, inputs, outputs, error, attempts, cache_hit, cache_reason,
         cache_source_task_id, fingerprint, log_uri)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, started_at = excluded.started_at,
         finished_at = excluded.finished_at, inputs = excluded.inputs, outputs = excluded.outputs,
         error = excluded.error, attempts = excluded.attempts, cache_hit = excluded.cache_hit,
         cache_reason = excluded.cache_reason, cache_source_task_id = excluded.cache_source_task_id,
         fingerprint = excluded.fingerprint, log_uri = excluded.log_uri",
        values: vec![
            text(&task.task_id),
            text(&task.run_id),
            opt_text(task.parent_task_id.as_deref()),
            text(&task.path),
            text(&task.name),
            text(task.kind.name()),
            text(task.state.name()),
            Value::Int(task.iteration),
            text(task.created_at.to_string()),
            Value::Text(ts(&task.started_at)),
            Value::Text(ts(&task.finished_at)),
            text(json(&task.inputs)?),
            text(json(&task.outputs)?),
            opt_text(task.error.as_deref()),
            Value::Int(Some(task.attempts as i64)),
            Value::Int(task.cache.as_ref().map(|c| c.hit as i64)),
            opt_text(task.cache.as_ref().map(|c| c.reason.as_str())),
            opt_text(task.cache.as_ref().and_then(|c| c.source_task_id.as_deref())),
            opt_text(task.fingerprint.as_deref()),
            opt_text(task.log_uri.as_deref()),
        ],
    });
    let new_attempt = task.state == TaskState::Running && message.is_some();
    statements.push(Statement {
        sql: if new_attempt {
            "INSERT INTO task_states (task_id, state, at, message) VALUES ($1, $2, $3, $4)"
        } else {
            "INSERT INTO task_states (task_id, state, at, message) SELECT $1, $2, $3, $4
             WHERE COALESCE((SELECT state FROM task_states WHERE task_id = $1 ORDER BY id DESC LIMIT 1), '') <> $2"
        },
        values: vec![
            text(&task.task_id),
            text(task.state.name()),
            text(Timestamp::now().to_string()),
            opt_text(message),
        ],
    });
    for (name, value) in task.scalars() {
        let format = task.scalar_format(&name);
        // The value replaces one recorded before for the same task, and the run's largest
        // value of that name is refreshed (as `scalars::record_scalar` does).
        statements.push(Statement {
            sql: "INSERT INTO run_scalars (run_id, task_path, name, value, format) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (run_id, task_path, name) DO UPDATE SET value = excluded.value,
             format = excluded.format",
            values: vec![
                text(&task.run_id),
                text(&task.path),
                text(name.clone()),
                Value::Real(value),
                opt_text(format),
            ],
        });
        statements.push(Statement {
            sql: crate::scalars::REFRESH_RUN_METRIC,
            values: vec![text(&task.run_id), text(name)],
        });
    }
    Ok(())
}

fn insert_attempt(a: &AttemptRecord) -> Statement {
    Statement {
        sql: "INSERT INTO attempts (task_id, attempt, run_id, started_at, finished_at, state, exit_code, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (task_id, attempt) DO UPDATE SET run_id = excluded.run_id,
         started_at = excluded.started_at, finished_at = excluded.finished_at,
         state = excluded.state, exit_code = excluded.exit_code, error = excluded.error",
        values: vec![
            text(&a.task_id),
            Value::Int(Some(a.attempt as i64)),
            text(&a.run_id),
            text(a.started_at.to_string()),
            text(a.finished_at.to_string()),
            text(a.state.name()),
            Value::Int(a.exit_code.map(i64::from)),
            opt_text(a.error.as_deref()),
        ],
    }
}

/// Each artifact's row (an output's producer is set once; its metadata follows the producer)
/// and its event: which task read or wrote it under which name.
fn record_artifacts(
    statements: &mut Vec<Statement>,
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
            let producer = (role == ArtifactRole::Output).then_some(task.task_id.as_str());
            statements.push(Statement {
                sql: "INSERT INTO artifacts (uri, name, schema_title, schema_version, metadata, producer_task_id, run_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (uri) DO UPDATE SET
                   metadata = CASE WHEN excluded.producer_task_id IS NOT NULL THEN excluded.metadata ELSE artifacts.metadata END,
                   producer_task_id = COALESCE(artifacts.producer_task_id, excluded.producer_task_id)",
                values: vec![
                    text(&a.uri),
                    text(&a.name),
                    text(&a.schema_title),
                    text(&a.schema_version),
                    text(json(&a.metadata)?),
                    opt_text(producer),
                    text(&task.run_id),
                    text(Timestamp::now().to_string()),
                ],
            });
            // SQLite needs the WHERE clause to read `ON CONFLICT` as the upsert's.
            statements.push(Statement {
                sql: "INSERT INTO artifact_events (artifact_id, task_id, run_id, role, io_name)
                 SELECT artifact_id, $2, $3, $4, $5 FROM artifacts WHERE uri = $1
                 ON CONFLICT DO NOTHING",
                values: vec![
                    text(&a.uri),
                    text(&task.task_id),
                    text(&task.run_id),
                    text(role_name),
                    text(io_name),
                ],
            });
        }
    }
    Ok(())
}

fn insert_cache_entry(entry: &CacheEntry) -> Result<Statement, StoreError> {
    Ok(Statement {
        sql: "INSERT INTO cache_entries (fingerprint, task_id, run_id, outputs, created_at, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (fingerprint, task_id) DO UPDATE SET run_id = excluded.run_id,
         outputs = excluded.outputs, created_at = excluded.created_at,
         created_at_ms = excluded.created_at_ms",
        values: vec![
            text(&entry.fingerprint),
            text(&entry.task_id),
            text(&entry.run_id),
            text(json(&entry.outputs)?),
            text(entry.created_at.to_string()),
            Value::Int(Some(entry.created_at.as_millisecond())),
        ],
    })
}

/// The run a write belongs to.
pub(crate) fn run_of(write: &RunWrite) -> &str {
    match write {
        RunWrite::Task { task, .. } | RunWrite::Artifacts { task, .. } => &task.run_id,
        RunWrite::Attempt(attempt) => &attempt.run_id,
        RunWrite::CacheEntry(entry) => &entry.run_id,
    }
}
