//! Runs started through the API execute inside the server with the same [`RunEngine`] as
//! `penstock run`. The supervisor records each run with its bookkeeping, executes it in the
//! background, and keeps what is needed to terminate it; it also retries failed runs and, at
//! start-up, resumes runs whose process is gone (a `penstock run` executing beside the server
//! in the same home is left alone): their leftover task processes are stopped for certain,
//! then the run is re-driven from the store (`RunEngine::resume`, the retry path).
//!
//! With several replicas on one database each run is executed by the replica holding its lease
//! ([`penstock_store::lease`]); [`RunSupervisor::keep_runs`] renews this replica's leases and
//! takes over the runs of replicas that died.

use crate::error::{ApiError, ApiResult};
use jiff::Timestamp;
use penstock_engine::{RunEngine, RunOptions, RunRecord, RunState};
use penstock_spec::Pipeline;
use penstock_store::lease::RENEW_EVERY;
use penstock_store::{OwnedRun, RunMeta, SqliteStore};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long `terminate` waits for a run to reach CANCELED before answering.
const TERMINATE_WAIT: Duration = Duration::from_secs(2);

/// The error an interrupted run gets when it cannot be resumed (its stored spec no longer
/// parses); the reason follows.
pub const UNRESUMABLE: &str =
    "the process executing this run stopped, and the run cannot be resumed";

/// How a spawned execution begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A new run.
    New,
    /// A FAILED run recorded RUNNING again by `RunEngine::reopen`.
    Retry,
    /// A run an earlier process left PENDING or RUNNING.
    Resume,
}

struct ActiveRun {
    cancel: CancellationToken,
    done: watch::Receiver<bool>,
}

/// Starts, terminates and retries runs.
pub struct RunSupervisor {
    engine: RunEngine,
    store: SqliteStore,
    home: PathBuf,
    active: Mutex<HashMap<String, ActiveRun>>,
    tracker: TaskTracker,
    counters: SupervisorCounters,
}

/// What `/metrics` reports about a supervisor since it started.
#[derive(Debug, Default)]
pub struct SupervisorCounters {
    /// Runs this replica took over (resumed) from a process that is gone.
    pub runs_taken_over: AtomicU64,
    /// Runs this replica stopped because another replica claimed them.
    pub runs_lost: AtomicU64,
    /// Lease renewals that failed (the database was unreachable).
    pub lease_renewal_failures: AtomicU64,
}

impl RunSupervisor {
    /// A supervisor executing with `engine`, recording in `store`; run folders live under
    /// `home`.
    pub fn new(engine: RunEngine, store: SqliteStore, home: PathBuf) -> Arc<RunSupervisor> {
        Arc::new(RunSupervisor {
            engine,
            store,
            home,
            active: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
            counters: SupervisorCounters::default(),
        })
    }

    /// The engine (for building run records).
    pub fn engine(&self) -> &RunEngine {
        &self.engine
    }

    /// Resumes the runs a previous process left PENDING or RUNNING (claimed in one
    /// transaction, so two servers starting at once never both take one): each run's leftover
    /// task processes are stopped and waited for, then it is re-driven from the store. A run
    /// that cannot be resumed is recorded FAILED with the reason. Returns how many resumed.
    pub async fn resume_interrupted_runs(
        self: &Arc<Self>,
    ) -> Result<usize, penstock_engine::StoreError> {
        let ids = self
            .store
            .claim_interrupted_runs(penstock_launcher::reaper::process_alive)
            .await?;
        let mut resumed = 0;
        for id in ids {
            // Its lease ran out while it still executes here (the database was unreachable
            // for a while): claiming renewed it; it goes on as it is.
            if self.is_active(&id) {
                continue;
            }
            let stopped = self.engine.launcher().stop_leftovers(&id).await;
            if stopped > 0 {
                tracing::warn!(run = %id, "stopped {stopped} leftover process(es) or container(s) of the interrupted run");
            }
            match self.prepare_resume(&id).await {
                Ok((run, pipeline, options)) => {
                    tracing::warn!(run = %id, "resuming: the process executing it stopped");
                    self.spawn(run, Arc::new(pipeline), options, Start::Resume);
                    self.counters
                        .runs_taken_over
                        .fetch_add(1, Ordering::Relaxed);
                    resumed += 1;
                }
                Err(why) => {
                    tracing::error!(run = %id, "cannot resume: {why}");
                    self.store
                        .fail_run(&id, &format!("{UNRESUMABLE}: {why}"), Timestamp::now())
                        .await?;
                }
            }
        }
        Ok(resumed)
    }

    async fn prepare_resume(&self, id: &str) -> Result<(RunRecord, Pipeline, RunOptions), String> {
        let (run, meta) = self.store.get_run(id).await.map_err(|e| e.to_string())?;
        let pipeline = stored_pipeline(&run).map_err(|e| e.message)?;
        let tasks = self.store.list_tasks(id).await.map_err(|e| e.to_string())?;
        if let Some(missing) = missing_kept_artifact(&tasks).await {
            return Err(missing);
        }
        let mut options = self.options(&run, &meta);
        options.earlier_tasks = tasks.into_iter().map(|t| (t.path.clone(), t)).collect();
        Ok((run, pipeline, options))
    }

    fn options(&self, run: &RunRecord, meta: &RunMeta) -> RunOptions {
        RunOptions {
            pipeline_root: penstock_launcher::staging::pipeline_root_for(
                meta.pipeline_root.as_deref(),
                &run.pipeline_spec,
                &self.home,
                &run.run_id,
            ),
            ..Default::default()
        }
    }

    /// Records a new run with its bookkeeping (one transaction) and starts executing it.
    pub async fn start(
        self: &Arc<Self>,
        run: RunRecord,
        meta: RunMeta,
        pipeline: Arc<Pipeline>,
    ) -> ApiResult<()> {
        self.store.insert_run_with_meta(&run, &meta).await?;
        let options = self.options(&run, &meta);
        self.spawn(run, pipeline, options, Start::New);
        Ok(())
    }

    /// Starts executing a run already recorded with its bookkeeping (the scheduler records a
    /// run together with its tick).
    pub fn execute_stored(
        self: &Arc<Self>,
        run: RunRecord,
        meta: &RunMeta,
        pipeline: Arc<Pipeline>,
    ) {
        let options = self.options(&run, meta);
        self.spawn(run, pipeline, options, Start::New);
    }

    fn spawn(
        self: &Arc<Self>,
        run: RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        start: Start,
    ) {
        let cancel = CancellationToken::new();
        let (done_tx, done_rx) = watch::channel(false);
        let run_id = run.run_id.clone();
        if let Ok(mut active) = self.active.lock() {
            active.insert(
                run_id.clone(),
                ActiveRun {
                    cancel: cancel.clone(),
                    done: done_rx,
                },
            );
        }
        let this = self.clone();
        self.tracker.spawn(async move {
            let result = match start {
                Start::Retry => {
                    this.engine
                        .continue_reopened(run, pipeline, options, cancel)
                        .await
                }
                Start::Resume => this.engine.resume(run, pipeline, options, cancel).await,
                Start::New => this.engine.execute(run, pipeline, options, cancel).await,
            };
            match result {
                Ok(done) => tracing::info!(run = %run_id, state = %done.state, "run finished"),
                Err(e) => tracing::error!(run = %run_id, "run stopped: {e}"),
            }
            if let Ok(mut active) = this.active.lock() {
                active.remove(&run_id);
            }
            let _ = done_tx.send(true);
        });
    }

    /// Cancels a running run and waits (up to 2 s) until it is recorded CANCELED.
    pub async fn terminate(&self, run_id: &str) -> ApiResult<()> {
        let waiting = self.active.lock().ok().and_then(|active| {
            active.get(run_id).map(|a| {
                a.cancel.cancel();
                a.done.clone()
            })
        });
        match waiting {
            Some(mut done) => {
                let _ = tokio::time::timeout(TERMINATE_WAIT, done.wait_for(|d| *d)).await;
                Ok(())
            }
            None => {
                let (run, _) = self.store.get_run(run_id).await?;
                // Executed by another replica: its owner cancels it at its next lease renewal.
                if !run.state.is_terminal()
                    && self
                        .store
                        .request_cancel(run_id)
                        .await
                        .map_err(|e| ApiError::internal(e.to_string()))?
                {
                    return Ok(());
                }
                Err(ApiError::failed_precondition(format!(
                    "run '{run_id}' is {} and cannot be terminated",
                    run.state
                )))
            }
        }
    }

    /// Executes a FAILED run again, keeping the outputs of tasks that succeeded.
    pub async fn retry(self: &Arc<Self>, run_id: &str) -> ApiResult<()> {
        let (run, meta) = self.store.get_run(run_id).await?;
        if run.state != RunState::Failed {
            return Err(ApiError::failed_precondition(format!(
                "run '{run_id}' is {}; only FAILED runs can be retried",
                run.state
            )));
        }
        if self
            .active
            .lock()
            .map(|a| a.contains_key(run_id))
            .unwrap_or(false)
        {
            return Err(ApiError::failed_precondition(format!(
                "run '{run_id}' is still finishing; retry it once it has stopped"
            )));
        }
        let pipeline = stored_pipeline(&run)?;
        let tasks = self.store.list_tasks(run_id).await?;
        let mut options = self.options(&run, &meta);
        options.earlier_tasks = tasks.into_iter().map(|t| (t.path.clone(), t)).collect();
        // RUNNING is recorded before the call answers, so a client polling right after a
        // retry never mistakes the old FAILED for the retry's outcome.
        let mut run = run;
        self.store
            .adopt_finished_run(run_id)
            .await
            .map_err(|e| ApiError::failed_precondition(e.to_string()))?;
        self.engine
            .reopen(&mut run)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.spawn(run, Arc::new(pipeline), options, Start::Retry);
        Ok(())
    }

    /// Keeps this replica's runs until `stop`: every [`RENEW_EVERY`] renews the leases on the
    /// runs it executes, cancels those whose terminate was asked of another replica, stops
    /// (without recording anything: its writes are fenced) those another replica claimed after
    /// their lease ran out, and claims the runs whose owner is gone (another replica died, or
    /// a process on this machine exited) to resume them here.
    pub async fn keep_runs(self: Arc<Self>, stop: CancellationToken) {
        let mut clock = LeaseClock::new(stop);
        while clock.next().await {
            let executing: Vec<String> = self
                .active
                .lock()
                .map(|a| a.keys().cloned().collect())
                .unwrap_or_default();
            match self.store.renew_leases(&executing).await {
                Ok(owned) => self.apply_renewal(owned).await,
                Err(e) => {
                    self.counters
                        .lease_renewal_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("cannot renew the run leases (retried in {RENEW_EVERY:?}): {e}");
                }
            }
            match self.resume_interrupted_runs().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!("took over {n} run(s) whose owner is gone"),
                Err(e) => tracing::warn!(
                    "cannot claim interrupted runs (retried in {RENEW_EVERY:?}): {e}"
                ),
            }
        }
    }

    /// Acts on one lease renewal: the runs this replica still owns.
    async fn apply_renewal(&self, owned: Vec<OwnedRun>) {
        let owned: HashMap<String, bool> = owned
            .into_iter()
            .map(|o| (o.run_id, o.cancel_requested))
            .collect();
        let active: Vec<(String, CancellationToken)> = match self.active.lock() {
            Ok(a) => a
                .iter()
                .map(|(id, r)| (id.clone(), r.cancel.clone()))
                .collect(),
            Err(_) => return,
        };
        for (id, cancel) in active {
            match owned.get(&id) {
                Some(true) if !cancel.is_cancelled() => {
                    tracing::info!(run = %id, "terminate asked through another replica");
                    cancel.cancel();
                }
                Some(_) => {}
                None => {
                    // Finished meanwhile (still ours), or claimed by another replica.
                    if let Some(owner) = taken_by_another(&self.store, &id).await {
                        tracing::error!(run = %id, %owner, "lost the lease on this run; stopping it here");
                        self.counters.runs_lost.fetch_add(1, Ordering::Relaxed);
                        cancel.cancel();
                    }
                }
            }
        }
    }

    /// How many runs execute in this process now.
    pub fn active_count(&self) -> usize {
        self.active.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// The counters `/metrics` reports.
    pub fn counters(&self) -> &SupervisorCounters {
        &self.counters
    }

    /// The store the supervisor records in.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// Whether a run is executing in this process.
    pub fn is_active(&self, run_id: &str) -> bool {
        self.active
            .lock()
            .map(|a| a.contains_key(run_id))
            .unwrap_or(false)
    }

    /// Graceful shutdown: active runs are interrupted, not cancelled. They stay recorded as
    /// they are (RUNNING), their task processes are stopped when this process exits (by the
    /// `penstock reap` watchdog, or at the next start), and the next server resumes them.
    /// Returns how many runs were interrupted.
    pub fn shutdown(&self) -> usize {
        self.tracker.close();
        let active = self.active.lock().map(|a| a.len()).unwrap_or(0);
        if active > 0 {
            tracing::warn!("{active} active run(s) interrupted; they resume at the next start");
        }
        active
    }
}

/// The replica that took `run_id` over from this one, if another did.
async fn taken_by_another(store: &SqliteStore, run_id: &str) -> Option<String> {
    let owner = store.run_owner(run_id).await.ok().flatten()?;
    (owner != store.replica().id).then_some(owner)
}

/// Wakes every [`RENEW_EVERY`] (at once the first time) until stopped.
struct LeaseClock {
    tick: tokio::time::Interval,
    stop: CancellationToken,
}

impl LeaseClock {
    fn new(stop: CancellationToken) -> LeaseClock {
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        LeaseClock { tick, stop }
    }

    /// Waits for the next tick; `false` once stopped.
    async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = self.tick.tick() => true,
        }
    }
}

/// Keeps the lease on one run executed in the foreground (`penstock run`, `penstock runs
/// resume`) until `stop`: renews it every [`RENEW_EVERY`], and cancels `cancel` when a
/// terminate was asked through a server, or when another replica took the run over.
pub async fn keep_foreground_lease(
    store: SqliteStore,
    run_id: String,
    cancel: CancellationToken,
    stop: CancellationToken,
) {
    let mut clock = LeaseClock::new(stop);
    while clock.next().await {
        let owned = match store.renew_leases(std::slice::from_ref(&run_id)).await {
            Ok(owned) => owned,
            Err(e) => {
                tracing::warn!("cannot renew the run's lease (retried in {RENEW_EVERY:?}): {e}");
                continue;
            }
        };
        match owned.iter().find(|o| o.run_id == run_id) {
            Some(o) if o.cancel_requested && !cancel.is_cancelled() => {
                eprintln!("penstock: the run was terminated through the API, cancelling it…");
                cancel.cancel();
            }
            Some(_) => {}
            None => {
                if taken_by_another(&store, &run_id).await.is_some() {
                    eprintln!("penstock: another replica took this run over; stopping it here");
                    cancel.cancel();
                }
            }
        }
    }
}

/// The first output artifact of a finished task that is gone from the artifact store: a
/// resume would keep the task and hand downstream tasks a file that no longer exists. Local
/// files are looked for on this machine; `s3://`, `minio://`, `gs://` and `az://` artifacts in
/// their object store (a store that cannot be asked is logged and not held against the run:
/// its consumers fail with the store's error if the artifact is really gone). `http(s)://`
/// imports are read where they live and not checked.
pub async fn missing_kept_artifact(tasks: &[penstock_engine::TaskRecord]) -> Option<String> {
    // Owned, so that no iterator closure is held across the checks' awaits (the future
    // stays `Send`).
    let kept: Vec<(String, String, String)> = tasks
        .iter()
        .filter(|t| t.state.produced_outputs())
        .flat_map(|t| {
            t.outputs.artifacts.iter().flat_map(|(name, list)| {
                list.iter()
                    .map(|a| (t.path.clone(), name.clone(), a.uri.clone()))
            })
        })
        .collect();
    for (task, name, uri) in kept {
        let gone = match uri.strip_prefix("file://") {
            Some(path) => !std::path::Path::new(path).exists(),
            None if !uri.contains("://") => !std::path::Path::new(&uri).exists(),
            None => match penstock_store::blob::ObjectUri::parse(&uri) {
                Some(o) if !o.scheme.starts_with("http") => {
                    match penstock_store::object::exists(&uri).await {
                        Ok(found) => !found,
                        Err(e) => {
                            tracing::warn!(
                                "cannot tell whether output artifact '{name}' of task '{task}' \
                                 still exists: {e}"
                            );
                            false
                        }
                    }
                }
                _ => false,
            },
        };
        if gone {
            return Some(format!(
                "output artifact '{name}' of finished task '{task}' is gone from the artifact store ({uri})"
            ));
        }
    }
    None
}

/// The pipeline a run executed, rebuilt from its stored spec.
pub fn stored_pipeline(run: &RunRecord) -> ApiResult<Pipeline> {
    let spec = crate::wire::spec_with_platform(&run.pipeline_spec, run.platform_spec.as_ref());
    let bytes = serde_json::to_vec(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
    // It was checked against the limits when the run was created (the server's limits may have
    // been raised for it since); the structural checks still apply.
    let accepted = penstock_spec::Limits {
        max_dag_depth: usize::MAX,
        max_tasks: usize::MAX,
        max_loop_items: usize::MAX,
        max_name_length: usize::MAX,
        max_spec_bytes: usize::MAX,
    };
    penstock_spec::parse_pipeline_with_limits(&format!("run {}", run.run_id), &bytes, &accepted)
        .map_err(|e| ApiError::internal(format!("the stored pipeline no longer parses: {e}")))
}
