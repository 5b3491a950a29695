//! Runs started through the API execute inside the server with the same [`RunEngine`] as
//! `penstock run`. The supervisor records each run with its bookkeeping, executes it in the
//! background, and keeps what is needed to terminate it; it also retries failed runs and, at
//! start-up, settles runs whose process is gone (a `penstock run` executing beside the server
//! in the same home is left alone).

use crate::error::{ApiError, ApiResult};
use jiff::Timestamp;
use penstock_engine::{RunEngine, RunOptions, RunRecord, RunState};
use penstock_spec::Pipeline;
use penstock_store::{RunMeta, SqliteStore};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long `terminate` waits for a run to reach CANCELED before answering.
const TERMINATE_WAIT: Duration = Duration::from_secs(2);

/// The error runs left RUNNING by a previous server process get.
pub const INTERRUPTED: &str = "the Penstock server stopped while this run was running; \
     its unfinished tasks were not completed (retry the run to execute them again)";

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
        })
    }

    /// The engine (for building run records).
    pub fn engine(&self) -> &RunEngine {
        &self.engine
    }

    /// Marks runs a previous process left PENDING or RUNNING as FAILED (they can then be
    /// retried). Returns how many.
    pub async fn settle_interrupted_runs(&self) -> Result<usize, penstock_engine::StoreError> {
        let ids = self
            .store
            .fail_interrupted_runs(INTERRUPTED, Timestamp::now(), process_alive)
            .await?;
        for id in &ids {
            tracing::warn!(run = %id, "marked FAILED: the previous server stopped while it ran");
        }
        Ok(ids.len())
    }

    fn options(&self, run: &RunRecord, meta: &RunMeta) -> RunOptions {
        RunOptions {
            pipeline_root: meta.pipeline_root.clone().unwrap_or_else(|| {
                self.home
                    .join("runs")
                    .join(&run.run_id)
                    .join("artifacts")
                    .display()
                    .to_string()
            }),
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
        self.spawn(run, pipeline, options, false);
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
        self.spawn(run, pipeline, options, false);
    }

    fn spawn(
        self: &Arc<Self>,
        run: RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        retry: bool,
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
            let result = if retry {
                this.engine
                    .continue_reopened(run, pipeline, options, cancel)
                    .await
            } else {
                this.engine.execute(run, pipeline, options, cancel).await
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
        self.engine
            .reopen(&mut run)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.spawn(run, Arc::new(pipeline), options, true);
        Ok(())
    }

    /// Whether a run is executing in this process.
    pub fn is_active(&self, run_id: &str) -> bool {
        self.active
            .lock()
            .map(|a| a.contains_key(run_id))
            .unwrap_or(false)
    }

    /// Cancels every active run and waits for all of them to be recorded (graceful shutdown).
    pub async fn shutdown(&self) {
        if let Ok(active) = self.active.lock() {
            for a in active.values() {
                a.cancel.cancel();
            }
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Whether a process with this id exists (signal 0 probes without sending anything).
fn process_alive(pid: i64) -> bool {
    i32::try_from(pid)
        .is_ok_and(|p| p > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
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
