//! Run ownership across replicas: every unfinished run is owned by one [`Replica`] (a process
//! executing runs: a `penstock server` or a `penstock run`), which renews a lease on it while it
//! executes. Another replica claims a run whose lease expired — or, on the owner's own machine,
//! whose owner process is gone — in one conditional statement, so two replicas never both take
//! it, and resumes it from the store.
//!
//! Lease times are judged by the database's clock only ([`Backend::now_ms`]), so replicas on
//! machines whose clocks disagree still agree on when a lease ran out. Writes of run and task
//! state are fenced: a replica that lost a run (its lease expired and another replica claimed
//! it) can no longer record anything about it.

use crate::backend::Backend;
use crate::store::{err, Store};
use penstock_engine::StoreError;
use sqlx::Row;
use std::sync::OnceLock;
use std::time::Duration;

/// How long a lease lasts after it is taken or renewed.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often an owner renews its leases (a third of [`LEASE`], so two renewals may fail in a
/// row before the lease runs out).
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// One process that executes runs, as other replicas know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Unique among all processes ever started: `host:pid:nonce`.
    pub id: String,
    /// The machine it runs on: `PENSTOCK_HOSTNAME`, else the kernel's host name.
    pub host: String,
    /// Where its process id means something: the host name and the PID namespace
    /// (`machine-a/pid:[4026531836]`). Replicas with the same one can tell whether each other's
    /// process is still alive; others (containers sharing a host name, `hostNetwork` pods) rely
    /// on the lease only.
    pub pid_scope: String,
    /// Its process id.
    pub pid: i64,
}

impl Replica {
    /// This process.
    pub fn current() -> &'static Replica {
        static CURRENT: OnceLock<Replica> = OnceLock::new();
        CURRENT.get_or_init(|| {
            let host = std::env::var("PENSTOCK_HOSTNAME")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .or_else(|| {
                    std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .ok()
                        .map(|h| h.trim().to_string())
                        .filter(|h| !h.is_empty())
                })
                .unwrap_or_else(|| "localhost".to_string());
            let mut replica = Replica::new(&host, std::process::id() as i64);
            if let Ok(ns) = std::fs::read_link("/proc/self/ns/pid") {
                replica.pid_scope = format!("{host}/{}", ns.display());
            }
            replica
        })
    }

    /// A replica on `host` with process id `pid`, a fresh nonce, and the host as its PID scope
    /// (tests use it to act as another process).
    pub fn new(host: &str, pid: i64) -> Replica {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        Replica {
            id: format!("{host}:{pid}:{}", &nonce[..8]),
            host: host.to_string(),
            pid_scope: host.to_string(),
            pid,
        }
    }
}

/// An unfinished run as [`Store::renew_leases`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRun {
    /// The run.
    pub run_id: String,
    /// Whether a terminate was asked of a replica that does not execute it.
    pub cancel_requested: bool,
}

/// Who executes an unfinished run that another process wanted to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOwner {
    /// Its replica id (`host:pid:nonce`), or `pid N` for runs recorded before leases existed.
    pub replica: String,
    /// When its lease runs out, in milliseconds from now (by the database's clock); `None` for
    /// a process on this machine recorded before leases existed.
    pub lease_left_ms: Option<i64>,
}

impl std::fmt::Display for LiveOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.replica)?;
        if let Some(left) = self.lease_left_ms {
            write!(f, " (its lease runs out in {:.1} s)", left as f64 / 1000.0)?;
        }
        Ok(())
    }
}

impl Backend {
    /// The database's clock in milliseconds since the Unix epoch, as an SQL expression.
    pub(crate) fn now_ms(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }
}

/// The lease length in milliseconds (as bound into statements).
pub(crate) fn lease_ms() -> i64 {
    LEASE.as_millis() as i64
}

/// A claimable run, as read before the conditional update that takes it.
struct Candidate {
    run_id: String,
    replica: Option<String>,
    host: Option<String>,
    pid: Option<i64>,
    lease_until: Option<i64>,
}

impl Store {
    /// The replica this store records as the owner of the runs it creates and claims.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The same database, acting as another replica (tests; several replicas in one process).
    pub fn as_replica(&self, replica: Replica) -> Store {
        Store {
            replica: std::sync::Arc::new(replica),
            ..self.clone()
        }
    }

    /// Renews this replica's leases on the unfinished runs it owns among `executing` (the runs
    /// this process executes now), in one statement. Returns those runs: a run this process
    /// executes that is missing was lost (another replica claimed it after the lease ran out)
    /// and must stop here without recording anything. Runs this replica owns but no longer
    /// executes (their execution stopped on an error) are not renewed: their lease runs out and
    /// they are claimed again, by this replica or another.
    pub async fn renew_leases(&self, executing: &[String]) -> Result<Vec<OwnedRun>, StoreError> {
        if executing.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = (0..executing.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "UPDATE runs SET lease_until_ms = {} + $1 WHERE owner_replica = $2
             AND state IN ('PENDING', 'RUNNING') AND run_id IN ({})
             RETURNING run_id, cancel_requested_ms",
            self.backend.now_ms(),
            ids.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lease_ms())
            .bind(&self.replica.id);
        for id in executing {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.writer).await.map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| OwnedRun {
                run_id: r.get("run_id"),
                cancel_requested: r.get::<Option<i64>, _>("cancel_requested_ms").is_some(),
            })
            .collect())
    }

    /// Claims every unfinished run whose owner is gone: its lease ran out (this replica's own
    /// runs included: their execution here stopped), or its process on this machine no longer
    /// exists (`alive` says whether a local process id does). Each is taken in one conditional
    /// statement, so two replicas claiming at once never both take a run. Returns the claimed
    /// runs' ids.
    pub async fn claim_interrupted_runs(
        &self,
        alive: impl Fn(i64) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let (now, candidates) = self.candidates(None).await?;
        let mut claimed = Vec::new();
        for c in candidates {
            if self.live_owner(&c, now, &alive).is_none() && self.take(&c).await? {
                claimed.push(c.run_id);
            }
        }
        Ok(claimed)
    }

    /// Claims one unfinished run whose owner is gone (see [`Store::claim_interrupted_runs`]).
    /// `Ok(None)` when it is claimed (or already this replica's); otherwise who executes it.
    pub async fn claim_run(
        &self,
        run_id: &str,
        alive: impl Fn(i64) -> bool,
    ) -> Result<Option<LiveOwner>, StoreError> {
        let (now, candidates) = self.candidates(Some(run_id)).await?;
        let Some(c) = candidates.into_iter().next() else {
            return Err(StoreError(format!(
                "run {run_id} is not PENDING or RUNNING"
            )));
        };
        if c.replica.as_deref() == Some(self.replica.id.as_str()) {
            return Ok(None);
        }
        if let Some(owner) = self.live_owner(&c, now, &alive) {
            return Ok(Some(owner));
        }
        if self.take(&c).await? {
            Ok(None)
        } else {
            Err(StoreError(format!(
                "run {run_id} changed while it was being claimed; try again"
            )))
        }
    }

    /// Makes this replica the owner of a finished run about to be executed again (retry), so
    /// its fenced writes are accepted. Fails if the run is unfinished and owned by another
    /// replica.
    pub async fn adopt_finished_run(&self, run_id: &str) -> Result<(), StoreError> {
        let done = self
            .take_ownership(
                ", cancel_requested_ms = NULL
                 WHERE run_id = $5 AND (state NOT IN ('PENDING', 'RUNNING') OR owner_replica = $1)",
            )
            .bind(run_id)
            .execute(&self.writer)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError(format!(
                "run {run_id} is not recorded, or is executing elsewhere"
            )));
        }
        Ok(())
    }

    /// Records that a terminate was asked for an unfinished run this replica does not execute;
    /// its owner cancels it when it next renews its lease. Whether the run is unfinished.
    pub async fn request_cancel(&self, run_id: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE runs SET cancel_requested_ms = {} WHERE run_id = $1
             AND state IN ('PENDING', 'RUNNING')",
            self.backend.now_ms()
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_id)
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    /// Who owns a run (`None` for runs recorded before leases existed).
    pub async fn run_owner(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT owner_replica FROM runs WHERE run_id = $1")
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        Ok(owner.flatten())
    }

    /// The database's clock and the unfinished runs (or the one named), with their owners.
    async fn candidates(&self, run_id: Option<&str>) -> Result<(i64, Vec<Candidate>), StoreError> {
        let sql = format!(
            "SELECT {} AS now_ms, run_id, owner_replica, owner_host, owner_pid, lease_until_ms
             FROM runs WHERE state IN ('PENDING', 'RUNNING') {}",
            self.backend.now_ms(),
            if run_id.is_some() {
                "AND run_id = $1"
            } else {
                ""
            }
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = run_id {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.writer).await.map_err(err)?;
        let now = match rows.first() {
            Some(r) => r.get::<i64, _>("now_ms"),
            None => 0,
        };
        let candidates = rows
            .iter()
            .map(|r| Candidate {
                run_id: r.get("run_id"),
                replica: r.get("owner_replica"),
                host: r.get("owner_host"),
                pid: r.get("owner_pid"),
                lease_until: r.get("lease_until_ms"),
            })
            .collect();
        Ok((now, candidates))
    }

    /// Who still executes a candidate, if anyone.
    fn live_owner(
        &self,
        c: &Candidate,
        now: i64,
        alive: &impl Fn(i64) -> bool,
    ) -> Option<LiveOwner> {
        match (&c.replica, c.lease_until) {
            (Some(replica), lease) if *replica == self.replica.id => {
                let left = lease.map(|until| until - now).unwrap_or(0);
                (left > 0).then(|| LiveOwner {
                    replica: replica.clone(),
                    lease_left_ms: Some(left),
                })
            }
            (Some(replica), lease) => {
                // Where pids are shared a dead owner is known at once; elsewhere only its lease
                // tells.
                let same_host = c.host.as_deref() == Some(self.replica.pid_scope.as_str());
                if same_host && c.pid.is_some_and(|p| !alive(p)) {
                    return None;
                }
                let left = lease.map(|until| until - now).unwrap_or(0);
                (left > 0).then(|| LiveOwner {
                    replica: replica.clone(),
                    lease_left_ms: Some(left),
                })
            }
            // Recorded before leases existed (one machine, SQLite): the process tells.
            (None, _) => c
                .pid
                .filter(|p| *p == self.replica.pid || alive(*p))
                .map(|p| LiveOwner {
                    replica: format!("pid {p}"),
                    lease_left_ms: None,
                }),
        }
    }

    /// `UPDATE runs` making this replica the owner with a fresh lease, `rest` appended (more
    /// `SET`s and the `WHERE`); `$1`–`$4` are bound (replica, pid scope, pid, lease length),
    /// the caller binds `$5` onwards.
    fn take_ownership(
        &self,
        rest: &str,
    ) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let sql = format!(
            "UPDATE runs SET owner_replica = $1, owner_host = $2, owner_pid = $3,
             lease_until_ms = {} + $4{rest}",
            self.backend.now_ms()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.replica.id)
            .bind(&self.replica.pid_scope)
            .bind(self.replica.pid)
            .bind(lease_ms())
    }

    /// Takes a candidate for this replica, only if nobody changed its owner or lease since it
    /// was read. Whether it did.
    async fn take(&self, c: &Candidate) -> Result<bool, StoreError> {
        let done = self
            .take_ownership(
                " WHERE run_id = $5 AND state IN ('PENDING', 'RUNNING')
                 AND owner_replica IS NOT DISTINCT FROM $6 AND lease_until_ms IS NOT DISTINCT FROM $7
                 AND owner_pid IS NOT DISTINCT FROM $8",
            )
            .bind(&c.run_id)
            .bind(&c.replica)
            .bind(c.lease_until)
            .bind(c.pid)
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }
}

/// Fails a write about `run_id` unless this replica owns the run (or nobody does: runs
/// recorded before leases existed). Called inside the writing transaction. On PostgreSQL the
/// run's row is share-locked until the transaction ends, so a claim by another replica waits
/// for the write or the write sees the claim: never a write after a claim. (On SQLite write
/// transactions begin IMMEDIATE, holding the database's write lock from their first read.)
pub(crate) async fn ensure_owner(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    store: &Store,
    run_id: &str,
) -> Result<(), StoreError> {
    match owner_other_than(tx, store.backend, &store.replica.id, run_id).await? {
        Some(other) => Err(lost(run_id, &other)),
        None => Ok(()),
    }
}

/// The replica that owns `run_id` when it is not `replica` (a run without an owner, or an
/// unknown run, is nobody else's). The row stays share-locked until the transaction ends on
/// PostgreSQL; on SQLite the transaction holds the write lock anyway.
pub(crate) async fn owner_other_than(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    replica: &str,
    run_id: &str,
) -> Result<Option<String>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => "SELECT owner_replica FROM runs WHERE run_id = $1",
        Backend::Postgres => "SELECT owner_replica FROM runs WHERE run_id = $1 FOR SHARE",
    };
    let owner: Option<Option<String>> = sqlx::query_scalar(sql)
        .bind(run_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(err)?;
    Ok(owner.flatten().filter(|other| other != replica))
}

/// The error a fenced write gets.
pub(crate) fn lost(run_id: &str, owner: &str) -> StoreError {
    StoreError(format!(
        "run {run_id} is now executed by replica {owner}: this process lost its lease and records nothing more about it"
    ))
}
