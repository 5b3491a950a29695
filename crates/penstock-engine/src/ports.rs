//! The engine's view of the outside world. Everything with side effects (persistence, running
//! processes, time) comes in through these traits so the engine stays deterministic and can
//! be tested with in-memory fakes.

use crate::record::{
    ArtifactMap, ArtifactRole, AttemptRecord, CacheEntry, ParameterMap, RunRecord, RuntimeArtifact,
    TaskRecord,
};
use async_trait::async_trait;
use jiff::Timestamp;
use penstock_spec::{ComponentSpec, ContainerSpec};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A failure of the store. The engine stops acting when it cannot record what it does.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// One write of a run's record, for [`RunStore::write_all`].
#[derive(Debug, Clone, PartialEq)]
pub enum RunWrite {
    /// [`RunStore::upsert_task`].
    Task {
        /// The task as it is now.
        task: TaskRecord,
        /// Why its state changed.
        message: Option<String>,
    },
    /// [`RunStore::insert_attempt`].
    Attempt(AttemptRecord),
    /// [`RunStore::record_artifacts`].
    Artifacts {
        /// The task that consumed or produced them.
        task: TaskRecord,
        /// Consumed or produced.
        role: ArtifactRole,
        /// By input or output name.
        artifacts: ArtifactMap,
    },
    /// [`RunStore::insert_cache_entry`].
    CacheEntry(CacheEntry),
}

/// Persistence of everything a run does. Each call must be durable when it returns: the engine
/// records a change *before* acting on it.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Records several writes of one run together: all of them or none (a store with
    /// transactions commits them in one). The default applies them one by one, in order.
    async fn write_all(&self, writes: Vec<RunWrite>) -> Result<(), StoreError> {
        for write in writes {
            match write {
                RunWrite::Task { task, message } => {
                    self.upsert_task(&task, message.as_deref()).await?
                }
                RunWrite::Attempt(attempt) => self.insert_attempt(&attempt).await?,
                RunWrite::Artifacts {
                    task,
                    role,
                    artifacts,
                } => self.record_artifacts(&task, role, &artifacts).await?,
                RunWrite::CacheEntry(entry) => self.insert_cache_entry(&entry).await?,
            }
        }
        Ok(())
    }
    /// Records a new run.
    async fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    /// Updates a run's state, times, error and outputs.
    async fn update_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    /// Inserts or updates a task; when its state changed, appends to its state history with
    /// `message`.
    async fn upsert_task(&self, task: &TaskRecord, message: Option<&str>)
        -> Result<(), StoreError>;
    /// Records a finished attempt.
    async fn insert_attempt(&self, attempt: &AttemptRecord) -> Result<(), StoreError>;
    /// Records artifacts a task consumed or produced (lineage).
    async fn record_artifacts(
        &self,
        task: &TaskRecord,
        role: ArtifactRole,
        artifacts: &ArtifactMap,
    ) -> Result<(), StoreError>;
    /// The newest reusable execution with this fingerprint.
    async fn find_cache_entry(&self, fingerprint: &str) -> Result<Option<CacheEntry>, StoreError>;
    /// Records a reusable execution.
    async fn insert_cache_entry(&self, entry: &CacheEntry) -> Result<(), StoreError>;
}

/// Everything a launcher needs to execute one attempt of a container task.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The run.
    pub run_id: String,
    /// The run's display name (`{{$.pipeline_job_name}}`).
    pub run_name: String,
    /// `{{$.pipeline_job_resource_name}}`.
    pub run_resource_name: String,
    /// When the run was created.
    pub run_created_at: Timestamp,
    /// The task id (`{{$.pipeline_task_uuid}}`).
    pub task_id: String,
    /// The task's path in the expanded DAG; unique within the run.
    pub task_path: String,
    /// The task's name (`{{$.pipeline_task_name}}`).
    pub task_name: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The component (its input and output definitions).
    pub component: ComponentSpec,
    /// The container to run.
    pub container: ContainerSpec,
    /// Resolved input parameters (absent optional inputs are missing).
    pub parameters: ParameterMap,
    /// Resolved input artifacts.
    pub artifacts: ArtifactMap,
    /// Output artifacts to produce, with their URIs already chosen.
    pub output_artifacts: BTreeMap<String, RuntimeArtifact>,
    /// The platform (Kubernetes) configuration for this task's executor, if any.
    pub platform_config: Option<Value>,
    /// The pipeline root.
    pub pipeline_root: String,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LaunchOutcome {
    /// The process exited 0 and its outputs were read back.
    Succeeded {
        /// Output parameters.
        parameters: ParameterMap,
        /// Output artifacts (with metadata written by the task).
        artifacts: ArtifactMap,
    },
    /// The task could not be started, exited non-zero, or wrote malformed outputs.
    Failed {
        /// What went wrong, naming the file or exit code.
        message: String,
        /// The process exit code, when it exited.
        exit_code: Option<i32>,
    },
    /// Cancelled: the process group was killed.
    Canceled,
}

/// Resolves once a task may start: `true`, or `false` when it must not
/// ([`TaskLauncher::launch_when_ready`]).
pub type ReadySignal = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

/// Executes container tasks.
#[async_trait]
pub trait TaskLauncher: Send + Sync {
    /// Runs one attempt to completion, or until `cancel` fires (then kills everything it
    /// started and returns [`LaunchOutcome::Canceled`]).
    async fn launch(&self, request: LaunchRequest, cancel: CancellationToken) -> LaunchOutcome;
    /// [`TaskLauncher::launch`], starting the task's process only once `ready` resolves to
    /// `true` (the engine has recorded the attempt RUNNING and holds a task slot); a launcher
    /// may meanwhile prepare what has no effect outside it (folders, its log). `false`: nothing
    /// is started and the outcome is [`LaunchOutcome::Canceled`]. By default it waits, then
    /// launches.
    async fn launch_when_ready(
        &self,
        request: LaunchRequest,
        cancel: CancellationToken,
        ready: ReadySignal,
    ) -> LaunchOutcome {
        if !ready.await {
            return LaunchOutcome::Canceled;
        }
        self.launch(request, cancel).await
    }
    /// The URI an output artifact of a task gets.
    fn output_artifact_uri(&self, run_id: &str, task_path: &str, output_name: &str) -> String;
    /// Where the task's log is kept.
    fn log_uri(&self, run_id: &str, task_path: &str) -> Option<String>;
    /// The URI an output artifact gets in a run whose pipeline root is `pipeline_root`. By
    /// default the root is not used: [`TaskLauncher::output_artifact_uri`].
    fn output_artifact_uri_under(
        &self,
        pipeline_root: &str,
        run_id: &str,
        task_path: &str,
        output_name: &str,
    ) -> String {
        let _ = pipeline_root;
        self.output_artifact_uri(run_id, task_path, output_name)
    }
    /// Where the task's log is kept in a run whose pipeline root is `pipeline_root`. By default
    /// the root is not used: [`TaskLauncher::log_uri`].
    fn log_uri_under(&self, pipeline_root: &str, run_id: &str, task_path: &str) -> Option<String> {
        let _ = pipeline_root;
        self.log_uri(run_id, task_path)
    }
    /// Whether an artifact's content still exists (cached outputs are only reused if so).
    async fn artifact_exists(&self, uri: &str) -> bool;
    /// The last lines of a task's log, for error reports.
    async fn log_tail(&self, run_id: &str, task_path: &str, lines: usize) -> Vec<String>;
    /// Stops whatever an earlier, dead Penstock process left running for `run_id` (task
    /// processes, containers) before the run is resumed. Returns how many it stopped.
    async fn stop_leftovers(&self, _run_id: &str) -> usize {
        0
    }
}

/// Time, injected so that tests of retries and backoff do not sleep.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
    /// Waits for `duration`.
    async fn sleep(&self, duration: Duration);
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Receives every recorded change, after it is stored (for live progress in the CLI and the
/// server's live updates).
pub trait RunObserver: Send + Sync {
    /// A task was recorded with a new state.
    fn task_changed(&self, task: &TaskRecord);
    /// The run was recorded with a new state.
    fn run_changed(&self, run: &RunRecord);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl RunObserver for NoObserver {
    fn task_changed(&self, _task: &TaskRecord) {}
    fn run_changed(&self, _run: &RunRecord) {}
}
