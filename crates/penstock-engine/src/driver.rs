//! The run manager: executes one run of a pipeline, DAG by DAG, recording every state change
//! in the [`RunStore`] before acting on it. The CLI (`penstock run`) and the server drive runs
//! through this same type.
//!
//! Semantics follow Kubeflow's backend (see `docs/semantics.md`):
//! - a task starts when every task it depends on (`dependentTasks` and the producers of its
//!   inputs) is finished; a skipped upstream counts as finished;
//! - after a task fails no new task is started anywhere in the run (Argo's fail-fast), except
//!   tasks with the `ALL_UPSTREAM_TASKS_COMPLETED` strategy (exit handlers,
//!   `ignore_upstream_failure`); tasks that were not started are recorded as SKIPPED with the
//!   reason. What such a task contains (an exit handler that is a pipeline) runs in its own
//!   [`FailScope`]: failures outside it do not stop it, failures inside it stop it and count
//!   against the run;
//! - no task is left PENDING or RUNNING when its DAG ends: tasks that never became ready are
//!   recorded as SKIPPED, tasks whose future panicked as FAILED;
//! - a false `triggerPolicy.condition` makes the task SKIPPED; consuming an output that a
//!   skipped task never produced fails the consumer unless the input is optional.

use crate::expr::{apply_selector, evaluate_condition};
use crate::params::{coerce_value, value_to_text};
use crate::policy::{backoff_delay, fingerprint};
use crate::ports::{
    Clock, LaunchOutcome, LaunchRequest, RunObserver, RunStore, RunWrite, StoreError, TaskLauncher,
};
use crate::record::{
    ArtifactMap, ArtifactRole, AttemptRecord, CacheDecision, CacheEntry, ParameterMap, RunRecord,
    RuntimeArtifact, TaskIo, TaskKind, TaskRecord,
};
use crate::state::{RunState, TaskState};
use penstock_spec::{
    validate::task_dependencies, ComponentSpec, Pipeline, PipelineSpec, TaskSpec, TriggerStrategy,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A failure that stops the engine from executing or recording a run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store could not record a change.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An illegal state transition was attempted (a bug).
    #[error("illegal transition of {what} from {from} to {to}")]
    IllegalTransition {
        /// The task path or run id.
        what: String,
        /// Current state.
        from: String,
        /// Requested state.
        to: String,
    },
}

/// Per-run choices.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Never reuse cached outputs in this run (`--no-cache`).
    pub disable_cache: bool,
    /// Cached outputs older than this are not reused.
    pub cache_max_age: Option<Duration>,
    /// The pipeline root (`{{$.pipeline_root}}`).
    pub pipeline_root: String,
    /// The tasks of an earlier execution of this run, by path (for [`RunEngine::retry`] and
    /// [`RunEngine::resume`]). Container and importer tasks that produced outputs are kept as
    /// they are; every other task runs again, continuing its attempt numbers.
    pub earlier_tasks: BTreeMap<String, TaskRecord>,
    /// Resuming an interrupted execution rather than retrying a failed one: container and
    /// importer tasks that had already FAILED also stand (the run reaches the state an
    /// uninterrupted execution would), and re-created tasks record the interruption as their
    /// reason.
    pub resume: bool,
}

/// Bounds the engine enforces while it expands a run, whatever the spec allowed: loop items
/// come from upstream outputs only at run time, and sub-DAGs multiply their tasks.
///
/// A loop over more items than [`RunLimits::max_loop_iterations`] fails before creating any
/// iteration; a sub-DAG or loop whose tasks would take the run over
/// [`RunLimits::max_tasks_per_run`] fails before creating any of them. Either failure fails the
/// run (fail-fast), and its message names the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Most task records (tasks, sub-DAGs, loops and loop iterations) one execution of a run
    /// creates. Default: 10,000, as many as `penstock_spec::Limits::max_tasks` lets a spec
    /// hold; each costs a row in the store and a record in memory.
    pub max_tasks_per_run: usize,
    /// Most items one loop (`ParallelFor`) iterates over. Default: 10,000, as
    /// `penstock_spec::Limits::max_loop_items` allows for static lists.
    pub max_loop_iterations: usize,
}

impl RunLimits {
    /// Default [`RunLimits::max_tasks_per_run`].
    pub const DEFAULT_MAX_TASKS_PER_RUN: usize = 10_000;
    /// Default [`RunLimits::max_loop_iterations`].
    pub const DEFAULT_MAX_LOOP_ITERATIONS: usize = 10_000;
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_tasks_per_run: Self::DEFAULT_MAX_TASKS_PER_RUN,
            max_loop_iterations: Self::DEFAULT_MAX_LOOP_ITERATIONS,
        }
    }
}

/// Executes runs. Cheap to clone; share one between the CLI or the server's requests.
#[derive(Clone)]
pub struct RunEngine {
    store: Arc<dyn RunStore>,
    launcher: Arc<dyn TaskLauncher>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn RunObserver>,
    task_slots: Option<Arc<Semaphore>>,
    /// Twice as many tasks as slots may be past their dependencies and cache check at once, so
    /// that recording a task RUNNING and preparing its folders overlap other tasks' processes;
    /// only `task_slots` of them run a process.
    task_admission: Option<Arc<Semaphore>>,
    task_slot_count: usize,
    limits: RunLimits,
    run_timeout: Option<Duration>,
}

/// Derives a task's id from its run and path, formatted as a UUID, so ids are stable.
pub fn task_id(run_id: &str, path: &str) -> String {
    let digest = Sha256::digest(format!("{run_id}/{path}").as_bytes());
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl RunEngine {
    /// The launcher executing this engine's tasks.
    pub fn launcher(&self) -> &Arc<dyn TaskLauncher> {
        &self.launcher
    }

    /// An engine over a store, a launcher and a clock.
    pub fn new(
        store: Arc<dyn RunStore>,
        launcher: Arc<dyn TaskLauncher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RunEngine {
            store,
            launcher,
            clock,
            observer: Arc::new(crate::ports::NoObserver),
            task_slots: None,
            task_admission: None,
            task_slot_count: 0,
            limits: RunLimits::default(),
            run_timeout: None,
        }
    }

    /// Gives every run this engine creates a timeout: it FAILS when it has been RUNNING longer
    /// (counted from its recorded start, so across a resume too).
    pub fn with_run_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.run_timeout = timeout;
        self
    }

    /// Enforces `limits` while expanding runs (instead of [`RunLimits::default`]).
    pub fn with_limits(mut self, limits: RunLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> RunLimits {
        self.limits
    }

    /// Reports every recorded change to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// Limits how many container tasks execute at once across all runs of this engine.
    pub fn with_task_slots(mut self, slots: usize) -> Self {
        self.task_slots = Some(Arc::new(Semaphore::new(slots.max(1))));
        self.task_admission = Some(Arc::new(Semaphore::new(slots.max(1) * 2)));
        self.task_slot_count = slots.max(1);
        self
    }

    /// The task-slot limit and how many slots are in use now (`None` without a limit).
    pub fn task_slots_in_use(&self) -> Option<(usize, usize)> {
        self.task_slots.as_ref().map(|s| {
            let total = self.task_slot_count;
            (total, total.saturating_sub(s.available_permits()))
        })
    }

    /// Records a new PENDING run. `parameters` must already be typed
    /// ([`crate::params::resolve_run_parameters`]).
    pub async fn create_run(
        &self,
        run_id: String,
        display_name: String,
        pipeline: &Pipeline,
        parameters: ParameterMap,
    ) -> Result<RunRecord, EngineError> {
        let run = self.prepare_run(run_id, display_name, pipeline, parameters);
        self.store.insert_run(&run).await?;
        self.observer.run_changed(&run);
        Ok(run)
    }

    /// The record of a new PENDING run, not yet stored: for callers that store it together
    /// with their own bookkeeping in one transaction (the server's experiments), then
    /// [`RunEngine::execute`] it.
    pub fn prepare_run(
        &self,
        run_id: String,
        display_name: String,
        pipeline: &Pipeline,
        parameters: ParameterMap,
    ) -> RunRecord {
        let spec_json = serde_json::to_value(&pipeline.spec).unwrap_or(Value::Null);
        RunRecord {
            run_id,
            display_name,
            pipeline_name: pipeline.name().to_string(),
            pipeline_spec: spec_json,
            platform_spec: pipeline.platform_spec.clone(),
            parameters,
            state: RunState::Pending,
            error: None,
            created_at: self.clock.now(),
            started_at: None,
            finished_at: None,
            outputs: TaskIo::default(),
            timeout_seconds: self.run_timeout.map(|t| t.as_secs().max(1)),
        }
    }

    /// Executes a recorded run to its end and returns its final record. Cancelling `cancel`
    /// kills running tasks and ends the run as CANCELED.
    pub async fn execute(
        &self,
        mut run: RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<RunRecord, EngineError> {
        self.set_run_state(&mut run, RunState::Running, None)
            .await?;
        self.drive(run, pipeline, options, cancel).await
    }

    /// Executes a FAILED run again in place (KFP's retry, like Argo's): the run goes back to
    /// RUNNING, tasks in `options.earlier_tasks` that produced outputs are kept, and every
    /// other task runs again. Any other state is an [`EngineError::IllegalTransition`].
    pub async fn retry(
        &self,
        mut run: RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<RunRecord, EngineError> {
        self.reopen(&mut run).await?;
        self.drive(run, pipeline, options, cancel).await
    }

    /// Continues a run whose execution was interrupted (its process was killed while the run
    /// was PENDING or RUNNING): the same code path as [`RunEngine::retry`], with
    /// `options.earlier_tasks` holding what the interrupted execution recorded and
    /// `options.resume` set. Finished container and importer tasks keep their outcome and are
    /// not executed again; tasks that were running start again as a new attempt. The caller
    /// must have stopped the interrupted execution's processes for certain.
    pub async fn resume(
        &self,
        run: RunRecord,
        pipeline: Arc<Pipeline>,
        mut options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<RunRecord, EngineError> {
        options.resume = true;
        match run.state {
            RunState::Pending => self.execute(run, pipeline, options, cancel).await,
            RunState::Running => {
                // Recorded again: this process now owns the run.
                self.store.update_run(&run).await?;
                self.observer.run_changed(&run);
                self.drive(run, pipeline, options, cancel).await
            }
            other => Err(EngineError::IllegalTransition {
                what: format!("run {}", run.run_id),
                from: other.name().into(),
                to: RunState::Running.name().into(),
            }),
        }
    }

    /// The first half of [`RunEngine::retry`]: records a FAILED run as RUNNING again (so a
    /// caller can answer only once the retry is visible), to be continued with
    /// [`RunEngine::continue_reopened`].
    pub async fn reopen(&self, run: &mut RunRecord) -> Result<(), EngineError> {
        if run.state != RunState::Failed {
            return Err(EngineError::IllegalTransition {
                what: format!("run {}", run.run_id),
                from: run.state.name().into(),
                to: RunState::Running.name().into(),
            });
        }
        run.state = RunState::Running;
        run.error = None;
        run.finished_at = None;
        // A retry is a new execution: its timeout counts afresh.
        run.started_at = Some(self.clock.now());
        self.store.update_run(run).await?;
        self.observer.run_changed(run);
        Ok(())
    }

    /// The second half of [`RunEngine::retry`]: executes a run [`RunEngine::reopen`] recorded
    /// as RUNNING.
    pub async fn continue_reopened(
        &self,
        run: RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<RunRecord, EngineError> {
        self.drive(run, pipeline, options, cancel).await
    }

    async fn drive(
        &self,
        mut run: RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<RunRecord, EngineError> {
        // The run's timeout stops it like a cancellation, but the run FAILS. It counts from the
        // recorded start, so a resumed run has only what is left of it.
        let cancel = cancel.child_token();
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = run.timeout_seconds.map(|seconds| {
            let limit = Duration::from_secs(seconds);
            let elapsed = run
                .started_at
                .map(|s| {
                    let d = self.clock.now().duration_since(s);
                    Duration::try_from(d).unwrap_or(Duration::ZERO)
                })
                .unwrap_or(Duration::ZERO);
            let left = limit.saturating_sub(elapsed);
            let clock = self.clock.clone();
            let cancel = cancel.clone();
            let timed_out = timed_out.clone();
            tokio::spawn(async move {
                clock.sleep(left).await;
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                cancel.cancel();
            })
        });
        let result = self
            .drive_dag(&mut run, pipeline, options, cancel.clone())
            .await;
        if let Some(t) = timer {
            t.abort();
        }
        let result = result?;
        let (state, error) = if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
            (
                RunState::Failed,
                Some(format!(
                    "the run exceeded its timeout of {} s; its tasks were stopped",
                    run.timeout_seconds.unwrap_or(0)
                )),
            )
        } else if cancel.is_cancelled() {
            (
                RunState::Canceled,
                Some("the run was cancelled".to_string()),
            )
        } else if let Some(err) = result {
            (RunState::Failed, Some(err))
        } else {
            (RunState::Succeeded, None)
        };
        self.set_run_state(&mut run, state, error).await?;
        Ok(run)
    }

    /// Executes the run's root DAG; the error of the run, if any.
    async fn drive_dag(
        &self,
        run: &mut RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Result<Option<String>, EngineError> {
        let suffix: String = run
            .run_id
            .chars()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let ctx = Arc::new(RunContext {
            resource_name: format!("{}-{suffix}", run.pipeline_name),
            run_id: run.run_id.clone(),
            run_name: run.display_name.clone(),
            run_created_at: run.created_at,
            spec: Arc::new(pipeline.spec.clone()),
            platform: pipeline.platform_spec.clone(),
            options,
            engine: self.clone(),
            cancel,
            tasks_created: AtomicUsize::new(0),
        });
        let inputs = TaskIo {
            parameters: run.parameters.clone(),
            artifacts: ArtifactMap::new(),
        };
        let scope = FailScope::root();
        let result = run_dag(ctx.clone(), scope, None, String::new(), None, inputs).await;
        run.outputs = result.outputs;
        Ok(result.error)
    }

    async fn set_run_state(
        &self,
        run: &mut RunRecord,
        next: RunState,
        error: Option<String>,
    ) -> Result<(), EngineError> {
        if !run.state.can_become(next) {
            return Err(EngineError::IllegalTransition {
                what: format!("run {}", run.run_id),
                from: run.state.name().into(),
                to: next.name().into(),
            });
        }
        let now = self.clock.now();
        run.state = next;
        if next == RunState::Running {
            run.started_at = Some(now);
        }
        if next.is_terminal() {
            run.finished_at = Some(now);
            run.error = error;
        }
        self.store.update_run(run).await?;
        self.observer.run_changed(run);
        Ok(())
    }

    /// The one place a task changes state: checks the transition, stamps times, stores the
    /// record, then tells the observer.
    async fn set_task_state(
        &self,
        task: &mut TaskRecord,
        next: TaskState,
        message: Option<String>,
    ) -> Result<(), EngineError> {
        self.set_task_state_after(task, next, message, Vec::new())
            .await
    }

    /// [`RunEngine::set_task_state`], recorded together with `prior` writes of the same run
    /// (an attempt's outcome, its artifacts, its cache entry): all of them or none.
    async fn set_task_state_after(
        &self,
        task: &mut TaskRecord,
        next: TaskState,
        message: Option<String>,
        mut prior: Vec<RunWrite>,
    ) -> Result<(), EngineError> {
        if !task.state.can_become(next) {
            return Err(EngineError::IllegalTransition {
                what: format!("task {}", task.path),
                from: task.state.name().into(),
                to: next.name().into(),
            });
        }
        let now = self.clock.now();
        if next == TaskState::Running && task.started_at.is_none() {
            task.started_at = Some(now);
        }
        if next.is_terminal() {
            task.finished_at = Some(now);
            if matches!(
                next,
                TaskState::Failed | TaskState::Skipped | TaskState::Canceled
            ) {
                task.error = message.clone();
            }
        }
        task.state = next;
        if prior.is_empty() {
            self.store.upsert_task(task, message.as_deref()).await?;
        } else {
            prior.push(RunWrite::Task {
                task: task.clone(),
                message,
            });
            self.store.write_all(prior).await?;
        }
        self.observer.task_changed(task);
        Ok(())
    }
}

struct RunContext {
    run_id: String,
    /// KFP's `pipeline_job_resource_name`: `<pipeline name>-<run id suffix>`.
    resource_name: String,
    run_name: String,
    run_created_at: jiff::Timestamp,
    spec: Arc<PipelineSpec>,
    platform: Option<Value>,
    options: RunOptions,
    engine: RunEngine,
    cancel: CancellationToken,
    /// Task records this execution created (or reserved), for [`RunLimits::max_tasks_per_run`].
    tasks_created: AtomicUsize,
}

impl RunContext {
    fn component(&self, name: Option<&str>) -> Option<&ComponentSpec> {
        match name {
            None => Some(&self.spec.root),
            Some(n) => self.spec.components.get(n),
        }
    }

    /// Counts `count` more task records against [`RunLimits::max_tasks_per_run`]; refuses
    /// (counting none) with the message to fail with when they would exceed it.
    fn reserve_tasks(&self, count: usize, what: &str) -> Result<(), String> {
        let max = self.engine.limits.max_tasks_per_run;
        self.tasks_created
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |created| {
                created.checked_add(count).filter(|total| *total <= max)
            })
            .map(|_| ())
            .map_err(|created| {
                format!(
                    "{what} would create {count} more tasks, and the run already has {created}: \
                     more than the limit of {max} (max_tasks_per_run)"
                )
            })
    }

    fn new_task(
        &self,
        parent: Option<&str>,
        path: &str,
        name: &str,
        kind: TaskKind,
        iteration: Option<i64>,
    ) -> TaskRecord {
        TaskRecord {
            task_id: task_id(&self.run_id, path),
            run_id: self.run_id.clone(),
            parent_task_id: parent.map(str::to_string),
            path: path.to_string(),
            name: name.to_string(),
            kind,
            state: TaskState::Pending,
            iteration,
            created_at: self.engine.clock.now(),
            started_at: None,
            finished_at: None,
            inputs: TaskIo::default(),
            outputs: TaskIo::default(),
            error: None,
            attempts: 0,
            cache: None,
            fingerprint: None,
            log_uri: None,
        }
    }
}

/// Where fail-fast applies: once a failure is noted in a scope, no new task starts in it.
///
/// The run has one root scope, shared by every DAG, loop and iteration in it, so a failure
/// anywhere stops the whole run (Argo's fail-fast). A task that runs *because* it waits for all
/// its upstream tasks to complete (`ALL_UPSTREAM_TASKS_COMPLETED`: an exit handler, a task with
/// `ignore_upstream_failure`) runs what it contains in a child scope: failures noted before or
/// outside it do not stop it (in Kubeflow an exit pipeline runs completely whatever the state
/// of the run), while a failure inside it stops it and is also noted in every enclosing scope,
/// so it counts against the run.
struct FailScope {
    failure: Mutex<Option<String>>,
    parent: Option<Arc<FailScope>>,
}

impl FailScope {
    fn root() -> Arc<FailScope> {
        Arc::new(FailScope {
            failure: Mutex::new(None),
            parent: None,
        })
    }

    fn child(parent: &Arc<FailScope>) -> Arc<FailScope> {
        Arc::new(FailScope {
            failure: Mutex::new(None),
            parent: Some(parent.clone()),
        })
    }

    /// The first failure noted in this scope or inside it.
    fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|g| g.clone())
    }

    /// Notes a failure here and in every enclosing scope (each keeps its first).
    fn note(&self, message: &str) {
        let mut scope = Some(self);
        while let Some(s) = scope {
            if let Ok(mut guard) = s.failure.lock() {
                if guard.is_none() {
                    *guard = Some(message.to_string());
                }
            }
            scope = s.parent.as_deref();
        }
    }
}

/// How a task ended, as seen by its DAG.
#[derive(Debug, Clone)]
struct TaskOutcome {
    state: TaskState,
    outputs: TaskIo,
    error: Option<String>,
}

/// How a DAG ended: the first failure inside it, if any, and its `dagOutputs`.
#[derive(Debug, Default)]
struct DagResult {
    error: Option<String>,
    outputs: TaskIo,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn task_path(dag_path: &str, name: &str) -> String {
    if dag_path.is_empty() {
        name.to_string()
    } else {
        format!("{dag_path}/{name}")
    }
}

fn kind_of(ctx: &RunContext, task: &TaskSpec) -> TaskKind {
    if task.parameter_iterator.is_some() || task.artifact_iterator.is_some() {
        return TaskKind::Loop;
    }
    match ctx.component(Some(&task.component_ref.name)) {
        Some(c) if c.dag.is_some() => TaskKind::Dag,
        Some(c) => match c
            .executor_label
            .as_ref()
            .and_then(|l| ctx.spec.deployment_spec.executors.get(l))
        {
            Some(e) if e.importer.is_some() => TaskKind::Importer,
            _ => TaskKind::Container,
        },
        None => TaskKind::Container,
    }
}

/// Executes the DAG of component `component` (None = root) at `dag_path` with `inputs`;
/// fail-fast applies within `scope`.
fn run_dag(
    ctx: Arc<RunContext>,
    scope: Arc<FailScope>,
    component: Option<String>,
    dag_path: String,
    parent_id: Option<String>,
    inputs: TaskIo,
) -> BoxFuture<DagResult> {
    Box::pin(async move {
        let Some(dag) = ctx
            .component(component.as_deref())
            .and_then(|c| c.dag.clone())
        else {
            return DagResult {
                error: Some(format!("component {component:?} has no DAG")),
                outputs: TaskIo::default(),
            };
        };
        let inputs = Arc::new(inputs);
        let what = if dag_path.is_empty() {
            "the pipeline".to_string()
        } else {
            format!("task '{dag_path}'")
        };
        if let Err(message) = ctx.reserve_tasks(dag.tasks.len(), &what) {
            scope.note(&message);
            return DagResult {
                error: Some(message),
                outputs: TaskIo::default(),
            };
        }
        // Record the whole DAG as PENDING first (in one write), so observers see the graph
        // before it runs.
        let mut records: BTreeMap<String, TaskRecord> = BTreeMap::new();
        let mut created: Vec<RunWrite> = Vec::new();
        for (name, spec) in &dag.tasks {
            let path = task_path(&dag_path, name);
            let kind = kind_of(&ctx, spec);
            let earlier = ctx.options.earlier_tasks.get(&path);
            if let Some(kept) = earlier.filter(|t| {
                matches!(t.kind, TaskKind::Container | TaskKind::Importer)
                    && (t.state.produced_outputs()
                        || (ctx.options.resume && t.state == TaskState::Failed))
            }) {
                // Retry or resume: this task's outcome stands; run_task returns it without
                // executing.
                records.insert(name.clone(), kept.clone());
                continue;
            }
            let mut record = ctx.new_task(parent_id.as_deref(), &path, name, kind, None);
            record.attempts = earlier.map(|t| t.attempts).unwrap_or(0);
            let interrupted;
            let message = match earlier {
                None => "created",
                Some(_) if !ctx.options.resume => "created again by a retry of the run",
                Some(t) if t.state == TaskState::Running => {
                    interrupted = format!(
                        "created again after an interruption: attempt {} was RUNNING when the \
                         process executing the run stopped; its processes were stopped",
                        t.attempts
                    );
                    &interrupted
                }
                Some(_) => "created again when the interrupted run was resumed",
            };
            created.push(RunWrite::Task {
                task: record.clone(),
                message: Some(message.to_string()),
            });
            records.insert(name.clone(), record);
        }
        if !created.is_empty() {
            if let Err(e) = ctx.engine.store.write_all(created).await {
                return DagResult {
                    error: Some(e.to_string()),
                    outputs: TaskIo::default(),
                };
            }
            for record in records.values().filter(|r| r.state == TaskState::Pending) {
                ctx.engine.observer.task_changed(record);
            }
        }

        // Each task waits for its dependencies to finish; counting them once makes scheduling
        // linear in the DAG's size rather than a rescan of every task after each event.
        let mut waiting: BTreeMap<&str, usize> = BTreeMap::new();
        let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut ready: BTreeSet<String> = BTreeSet::new();
        for (name, spec) in &dag.tasks {
            let deps = task_dependencies(spec);
            if deps.is_empty() {
                ready.insert(name.clone());
            }
            waiting.insert(name.as_str(), deps.len());
            for d in deps {
                dependents.entry(d).or_default().push(name.as_str());
            }
        }

        let mut outcomes: BTreeMap<String, TaskOutcome> = BTreeMap::new();
        let mut running: JoinSet<(String, TaskOutcome)> = JoinSet::new();
        // What each spawned future is running, to record its task if the future panics.
        let mut spawned: BTreeMap<tokio::task::Id, (String, TaskRecord)> = BTreeMap::new();
        let mut first_error: Option<String> = None;
        loop {
            while let Some(name) = ready.pop_first() {
                let Some(mut record) = records.remove(&name) else {
                    continue;
                };
                let Some(spec) = dag.tasks.get(&name).cloned() else {
                    continue;
                };
                let deps = task_dependencies(&spec);
                // Kept from an earlier execution (retry, resume): its outcome stands whatever
                // happened around it since.
                let kept = record.state.is_terminal();
                let waits_for_all = spec
                    .trigger_policy
                    .as_ref()
                    .is_some_and(|p| p.strategy == TriggerStrategy::AllUpstreamTasksCompleted);
                let failed_dep = deps
                    .iter()
                    .find(|d| {
                        outcomes.get(**d).is_some_and(|o| {
                            matches!(o.state, TaskState::Failed | TaskState::Canceled)
                        })
                    })
                    .map(|d| d.to_string());
                let not_start = if kept {
                    None
                } else if ctx.cancel.is_cancelled() {
                    Some((
                        TaskState::Canceled,
                        "the run was cancelled before this task started".to_string(),
                    ))
                } else if waits_for_all {
                    None
                } else if let Some(dep) = failed_dep {
                    Some((
                        TaskState::Skipped,
                        format!("not started: upstream task '{dep}' did not succeed"),
                    ))
                } else {
                    scope.failure().map(|f| {
                        (
                            TaskState::Skipped,
                            format!("not started: the run is failing ({f})"),
                        )
                    })
                };
                if let Some((state, message)) = not_start {
                    let outcome = match ctx
                        .engine
                        .set_task_state(&mut record, state, Some(message.clone()))
                        .await
                    {
                        Ok(()) => TaskOutcome {
                            state,
                            outputs: TaskIo::default(),
                            error: None,
                        },
                        Err(e) => failed_outcome(&scope, e.to_string()),
                    };
                    settle(&name, &dependents, &mut waiting, &mut ready);
                    outcomes.insert(name, outcome);
                    continue;
                }
                let upstream: BTreeMap<String, TaskOutcome> = deps
                    .iter()
                    .filter_map(|d| outcomes.get(*d).map(|o| (d.to_string(), o.clone())))
                    .collect();
                // What a task that waits for all its upstream tasks contains runs whatever
                // happened before it: fail-fast starts afresh inside it.
                let task_scope = if waits_for_all {
                    FailScope::child(&scope)
                } else {
                    scope.clone()
                };
                let ctx2 = ctx.clone();
                let inputs2 = inputs.clone();
                let snapshot = record.clone();
                let task_name = name.clone();
                let handle = running.spawn(async move {
                    let outcome = run_task(ctx2, task_scope, record, spec, inputs2, upstream).await;
                    (task_name, outcome)
                });
                spawned.insert(handle.id(), (name, snapshot));
            }
            match running.join_next_with_id().await {
                Some(Ok((id, (name, outcome)))) => {
                    spawned.remove(&id);
                    if outcome.state == TaskState::Failed && first_error.is_none() {
                        first_error = Some(
                            outcome
                                .error
                                .clone()
                                .unwrap_or_else(|| format!("task '{name}' failed")),
                        );
                    }
                    settle(&name, &dependents, &mut waiting, &mut ready);
                    outcomes.insert(name, outcome);
                }
                Some(Err(join_error)) => {
                    let message = format!("internal error: a task panicked: {join_error}");
                    scope.note(&message);
                    first_error.get_or_insert(message.clone());
                    if let Some((name, mut record)) = spawned.remove(&join_error.id()) {
                        let _ = ctx
                            .engine
                            .set_task_state(&mut record, TaskState::Failed, Some(message.clone()))
                            .await;
                        settle(&name, &dependents, &mut waiting, &mut ready);
                        outcomes.insert(
                            name,
                            TaskOutcome {
                                state: TaskState::Failed,
                                outputs: TaskIo::default(),
                                error: Some(message),
                            },
                        );
                    }
                }
                None => break,
            }
        }
        // Every task of the DAG ends in a final state: one that never became ready (its
        // dependencies never all finished) is recorded as not started.
        for (name, mut record) in std::mem::take(&mut records) {
            if record.state.is_terminal() {
                continue;
            }
            let (state, message) = if ctx.cancel.is_cancelled() {
                (
                    TaskState::Canceled,
                    "the run was cancelled before this task started".to_string(),
                )
            } else {
                (
                    TaskState::Skipped,
                    "not started: the tasks it depends on did not all finish".to_string(),
                )
            };
            if let Err(e) = ctx
                .engine
                .set_task_state(&mut record, state, Some(message))
                .await
            {
                first_error.get_or_insert(e.to_string());
            }
            outcomes.insert(
                name,
                TaskOutcome {
                    state,
                    outputs: TaskIo::default(),
                    error: None,
                },
            );
        }
        if first_error.is_none() && outcomes.values().any(|o| o.state == TaskState::Canceled) {
            first_error = Some("the run was cancelled".into());
        }
        let outputs = dag_outputs(&dag, &outcomes);
        DagResult {
            error: first_error,
            outputs,
        }
    })
}

/// Called once per finished task of a DAG: the tasks waiting for it that have nothing else
/// left to wait for become ready.
fn settle<'d>(
    name: &str,
    dependents: &BTreeMap<&'d str, Vec<&'d str>>,
    waiting: &mut BTreeMap<&'d str, usize>,
    ready: &mut BTreeSet<String>,
) {
    for d in dependents.get(name).into_iter().flatten() {
        if let Some(left) = waiting.get_mut(d) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                ready.insert((*d).to_string());
            }
        }
    }
}

fn failed_outcome(scope: &FailScope, message: String) -> TaskOutcome {
    scope.note(&message);
    TaskOutcome {
        state: TaskState::Failed,
        outputs: TaskIo::default(),
        error: Some(message),
    }
}

/// Resolves a DAG's `outputs` from its tasks' outcomes (first produced selector wins, which is
/// how `dsl.OneOf` picks the branch that ran).
fn dag_outputs(dag: &penstock_spec::DagSpec, outcomes: &BTreeMap<String, TaskOutcome>) -> TaskIo {
    let mut io = TaskIo::default();
    let produced = |task: &str| outcomes.get(task).filter(|o| o.state.produced_outputs());
    for (name, out) in &dag.outputs.parameters {
        let selectors: Vec<&penstock_spec::ParameterSelector> =
            match (&out.value_from_parameter, &out.value_from_oneof) {
                (Some(s), _) => vec![s],
                (None, Some(many)) => many.parameter_selectors.iter().collect(),
                _ => vec![],
            };
        if let Some(v) = selectors.iter().find_map(|s| {
            produced(&s.producer_subtask)
                .and_then(|o| o.outputs.parameters.get(&s.output_parameter_key))
        }) {
            io.parameters.insert(name.clone(), v.clone());
        }
    }
    for (name, out) in &dag.outputs.artifacts {
        if let Some(list) = out.artifact_selectors.iter().find_map(|s| {
            produced(&s.producer_subtask)
                .and_then(|o| o.outputs.artifacts.get(&s.output_artifact_key))
        }) {
            io.artifacts.insert(name.clone(), list.clone());
        }
    }
    io
}

/// `PipelineTaskFinalStatus` as KFP's driver fills it: the state is the metadata store's
/// execution state (`COMPLETE`, `CACHED`, `FAILED`, `CANCELED`).
fn final_status(ctx: &RunContext, producer: &str, outcome: Option<&TaskOutcome>) -> Value {
    let state = outcome.map(|o| o.state).unwrap_or(TaskState::Skipped);
    let kfp_state = match state {
        TaskState::Succeeded | TaskState::Skipped | TaskState::Pending | TaskState::Running => {
            "COMPLETE"
        }
        TaskState::Cached => "CACHED",
        TaskState::Failed => "FAILED",
        TaskState::Canceled => "CANCELED",
    };
    let mut status = json!({
        "state": kfp_state,
        "pipelineJobResourceName": ctx.resource_name,
        "pipelineTaskName": producer,
    });
    if let Some(err) = outcome.and_then(|o| o.error.clone()) {
        status["error"] = json!({"code": 2, "message": err});
    }
    status
}

/// Substitutes the run- and task-level placeholders KFP allows in constants
/// (`{{$.pipeline_job_name}}`, `{{$.pipeline_task_uuid}}`, …).
fn substitute_job_placeholders(ctx: &RunContext, task: &TaskRecord, text: &str) -> String {
    let created = ctx.run_created_at.to_string();
    let pairs: [(&str, &str); 8] = [
        ("{{$.pipeline_job_name}}", &ctx.run_name),
        ("{{$.pipeline_job_resource_name}}", &ctx.resource_name),
        ("{{$.pipeline_job_uuid}}", &ctx.run_id),
        ("{{$.pipeline_task_name}}", &task.name),
        ("{{$.pipeline_task_uuid}}", &task.task_id),
        ("{{$.pipeline_job_create_time_utc}}", &created),
        ("{{$.pipeline_job_schedule_time_utc}}", &created),
        ("{{$.pipeline_root}}", &ctx.options.pipeline_root),
    ];
    let mut out = text.to_string();
    for (needle, value) in pairs {
        out = out.replace(needle, value);
    }
    out
}

/// Resolves a task's inputs from its DAG's inputs and its upstream tasks' outputs, applying the
/// callee component's defaults and checking required inputs.
fn resolve_inputs(
    ctx: &RunContext,
    task: &TaskRecord,
    spec: &TaskSpec,
    callee: &ComponentSpec,
    dag_inputs: &TaskIo,
    upstream: &BTreeMap<String, TaskOutcome>,
) -> Result<TaskIo, String> {
    let mut io = TaskIo::default();
    let mut constants: Vec<String> = Vec::new();
    for (name, input) in &spec.inputs.parameters {
        let mut value = if let Some(source) = &input.component_input_parameter {
            dag_inputs.parameters.get(source).cloned()
        } else if let Some(r) = &input.task_output_parameter {
            match upstream.get(&r.producer_task) {
                Some(o) if o.state.produced_outputs() => {
                    match o.outputs.parameters.get(&r.output_parameter_key) {
                        Some(v) => Some(v.clone()),
                        None => {
                            return Err(format!(
                                "input '{name}': task '{}' produced no output parameter '{}'",
                                r.producer_task, r.output_parameter_key
                            ))
                        }
                    }
                }
                Some(o) => {
                    if callee
                        .input_definitions
                        .parameters
                        .get(name)
                        .is_some_and(|d| d.is_optional || d.default_value.is_some())
                    {
                        None
                    } else {
                        return Err(format!(
                            "input '{name}': task '{}' was {} and produced no output '{}'",
                            r.producer_task,
                            o.state.name().to_lowercase(),
                            r.output_parameter_key
                        ));
                    }
                }
                None => {
                    return Err(format!(
                        "input '{name}': producer task '{}' has not run",
                        r.producer_task
                    ))
                }
            }
        } else if let Some(rv) = &input.runtime_value {
            let literal = rv.literal();
            match literal {
                Some(Value::String(s)) if s.contains("{{$") => {
                    constants.push(name.clone());
                    Some(Value::String(substitute_job_placeholders(ctx, task, &s)))
                }
                other => other,
            }
        } else {
            input
                .task_final_status
                .as_ref()
                .map(|r| final_status(ctx, &r.producer_task, upstream.get(&r.producer_task)))
        };
        if let (Some(selector), Some(v)) = (&input.parameter_expression_selector, &value) {
            value = Some(apply_selector(selector, v).map_err(|e| format!("input '{name}': {e}"))?);
        }
        if let Some(v) = value {
            io.parameters.insert(name.clone(), v);
        }
    }
    // Constants that interpolate other inputs (f-strings over pipeline channels).
    for name in constants {
        if let Some(Value::String(template)) = io.parameters.get(&name) {
            let text = interpolate_parameters(template, &io.parameters);
            io.parameters.insert(name, Value::String(text));
        }
    }
    for (name, input) in &spec.inputs.artifacts {
        let list = if let Some(source) = &input.component_input_artifact {
            dag_inputs.artifacts.get(source).cloned()
        } else if let Some(r) = &input.task_output_artifact {
            match upstream.get(&r.producer_task) {
                Some(o) if o.state.produced_outputs() => {
                    o.outputs.artifacts.get(&r.output_artifact_key).cloned()
                }
                _ => None,
            }
        } else {
            None
        };
        match list {
            Some(list) => {
                io.artifacts.insert(name.clone(), list);
            }
            None if callee
                .input_definitions
                .artifacts
                .get(name)
                .is_some_and(|d| !d.is_optional) =>
            {
                let from = input
                    .task_output_artifact
                    .as_ref()
                    .map(|r| {
                        format!(
                            "task '{}' output '{}'",
                            r.producer_task, r.output_artifact_key
                        )
                    })
                    .or_else(|| {
                        input
                            .component_input_artifact
                            .as_ref()
                            .map(|c| format!("pipeline input '{c}'"))
                    })
                    .unwrap_or_default();
                return Err(format!("input artifact '{name}': {from} was not produced"));
            }
            None => {}
        }
    }
    // Defaults, types and required inputs of the callee.
    for (name, def) in &callee.input_definitions.parameters {
        let ty = def.parameter_type.effective(def.legacy_type.as_deref());
        match io
            .parameters
            .remove(name)
            .or_else(|| def.default_value.clone())
        {
            Some(v) => {
                let v = coerce_value(name, ty, v.clone()).unwrap_or(v);
                io.parameters.insert(name.clone(), v);
            }
            None if def.is_optional => {}
            None if spec
                .parameter_iterator
                .as_ref()
                .is_some_and(|it| &it.item_input == name) => {}
            None => {
                return Err(format!(
                    "missing value for required input '{name}' ({})",
                    ty.name()
                ))
            }
        }
    }
    Ok(io)
}

/// Executes one task of a DAG to its end.
async fn run_task(
    ctx: Arc<RunContext>,
    scope: Arc<FailScope>,
    mut record: TaskRecord,
    spec: TaskSpec,
    dag_inputs: Arc<TaskIo>,
    upstream: BTreeMap<String, TaskOutcome>,
) -> TaskOutcome {
    let result = run_task_inner(&ctx, &scope, &mut record, &spec, &dag_inputs, &upstream).await;
    match result {
        Ok(outcome) => {
            if outcome.state == TaskState::Failed {
                if let Some(e) = &outcome.error {
                    scope.note(e);
                }
            }
            outcome
        }
        Err(e) => {
            let message = format!("task '{}': {e}", record.path);
            if !record.state.is_terminal() {
                let _ = ctx
                    .engine
                    .set_task_state(&mut record, TaskState::Failed, Some(message.clone()))
                    .await;
            }
            failed_outcome(&scope, message)
        }
    }
}

async fn fail(
    ctx: &RunContext,
    record: &mut TaskRecord,
    message: String,
) -> Result<TaskOutcome, EngineError> {
    fail_after(ctx, record, message, Vec::new()).await
}

/// [`fail`], recorded together with `prior` writes.
async fn fail_after(
    ctx: &RunContext,
    record: &mut TaskRecord,
    message: String,
    prior: Vec<RunWrite>,
) -> Result<TaskOutcome, EngineError> {
    let message = format!("task '{}': {message}", record.path);
    ctx.engine
        .set_task_state_after(record, TaskState::Failed, Some(message.clone()), prior)
        .await?;
    Ok(TaskOutcome {
        state: TaskState::Failed,
        outputs: TaskIo::default(),
        error: Some(message),
    })
}

async fn finish(
    ctx: &RunContext,
    record: &mut TaskRecord,
    state: TaskState,
    outputs: TaskIo,
    message: Option<String>,
) -> Result<TaskOutcome, EngineError> {
    finish_after(ctx, record, state, outputs, message, Vec::new()).await
}

/// [`finish`], recorded together with `prior` writes.
async fn finish_after(
    ctx: &RunContext,
    record: &mut TaskRecord,
    state: TaskState,
    outputs: TaskIo,
    message: Option<String>,
    prior: Vec<RunWrite>,
) -> Result<TaskOutcome, EngineError> {
    record.outputs = outputs.clone();
    ctx.engine
        .set_task_state_after(record, state, message.clone(), prior)
        .await?;
    Ok(TaskOutcome {
        state,
        outputs,
        error: if state == TaskState::Failed {
            message
        } else {
            None
        },
    })
}

async fn run_task_inner(
    ctx: &Arc<RunContext>,
    scope: &Arc<FailScope>,
    record: &mut TaskRecord,
    spec: &TaskSpec,
    dag_inputs: &TaskIo,
    upstream: &BTreeMap<String, TaskOutcome>,
) -> Result<TaskOutcome, EngineError> {
    if record.state.is_terminal() {
        // Kept from an earlier execution of this run (retry, resume).
        return Ok(TaskOutcome {
            state: record.state,
            outputs: record.outputs.clone(),
            error: record.error.clone(),
        });
    }
    let Some(callee) = ctx.component(Some(&spec.component_ref.name)).cloned() else {
        return fail(
            ctx,
            record,
            format!("unknown component '{}'", spec.component_ref.name),
        )
        .await;
    };
    let inputs = match resolve_inputs(ctx, record, spec, &callee, dag_inputs, upstream) {
        Ok(io) => io,
        Err(e) => return fail(ctx, record, e).await,
    };
    record.inputs = inputs.clone();
    if let Some(condition) = spec
        .trigger_policy
        .as_ref()
        .and_then(|p| p.condition.as_deref())
        .filter(|c| !c.is_empty())
    {
        match evaluate_condition(condition, &inputs.parameters) {
            Ok(true) => {}
            Ok(false) => {
                let message = format!("condition was false: {condition}");
                return finish(
                    ctx,
                    record,
                    TaskState::Skipped,
                    TaskIo::default(),
                    Some(message),
                )
                .await;
            }
            Err(e) => return fail(ctx, record, e).await,
        }
    }
    match record.kind {
        TaskKind::Loop => run_loop(ctx, scope, record, spec, &callee, inputs).await,
        TaskKind::Dag | TaskKind::Iteration => {
            ctx.engine
                .set_task_state(record, TaskState::Running, None)
                .await?;
            let result = run_dag(
                ctx.clone(),
                scope.clone(),
                Some(spec.component_ref.name.clone()),
                record.path.clone(),
                Some(record.task_id.clone()),
                inputs,
            )
            .await;
            dag_finish(ctx, record, result).await
        }
        TaskKind::Importer => run_importer(ctx, record, &callee, inputs).await,
        TaskKind::Container => run_container(ctx, record, spec, &callee, inputs).await,
    }
}

async fn dag_finish(
    ctx: &RunContext,
    record: &mut TaskRecord,
    result: DagResult,
) -> Result<TaskOutcome, EngineError> {
    let state = if ctx.cancel.is_cancelled() {
        TaskState::Canceled
    } else if result.error.is_some() {
        TaskState::Failed
    } else {
        TaskState::Succeeded
    };
    finish(ctx, record, state, result.outputs, result.error).await
}

fn loop_items(spec: &TaskSpec, inputs: &TaskIo) -> Result<Vec<LoopItem>, String> {
    if let Some(it) = &spec.parameter_iterator {
        let value = if let Some(raw) = &it.items.raw {
            serde_json::from_str::<Value>(raw)
                .map_err(|e| format!("loop items {raw:?} are not a JSON list: {e}"))?
        } else if let Some(name) = &it.items.input_parameter {
            inputs
                .parameters
                .get(name)
                .cloned()
                .ok_or_else(|| format!("loop items input '{name}' has no value"))?
        } else {
            return Err("parameterIterator has neither raw items nor an input parameter".into());
        };
        let value = match value {
            Value::String(s) => serde_json::from_str::<Value>(&s)
                .map_err(|e| format!("loop items {s:?} are not a JSON list: {e}"))?,
            other => other,
        };
        match value {
            Value::Array(items) => Ok(items.into_iter().map(LoopItem::Parameter).collect()),
            other => Err(format!("loop items must be a list, got {other}")),
        }
    } else if let Some(it) = &spec.artifact_iterator {
        let list = inputs
            .artifacts
            .get(&it.items.input_artifact)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "loop items artifact '{}' has no value",
                    it.items.input_artifact
                )
            })?;
        Ok(list.into_iter().map(LoopItem::Artifact).collect())
    } else {
        Err("task has no iterator".into())
    }
}

enum LoopItem {
    Parameter(Value),
    Artifact(RuntimeArtifact),
}

async fn run_loop(
    ctx: &Arc<RunContext>,
    scope: &Arc<FailScope>,
    record: &mut TaskRecord,
    spec: &TaskSpec,
    callee: &ComponentSpec,
    inputs: TaskIo,
) -> Result<TaskOutcome, EngineError> {
    let items = match loop_items(spec, &inputs) {
        Ok(items) => items,
        Err(e) => return fail(ctx, record, e).await,
    };
    let max = ctx.engine.limits.max_loop_iterations;
    if items.len() > max {
        let message = format!(
            "the loop has {} items, more than the limit of {max} (max_loop_iterations)",
            items.len()
        );
        return fail(ctx, record, message).await;
    }
    if let Err(message) = ctx.reserve_tasks(items.len(), "the loop") {
        return fail(ctx, record, message).await;
    }
    let item_input = spec
        .parameter_iterator
        .as_ref()
        .map(|i| i.item_input.clone())
        .or_else(|| {
            spec.artifact_iterator
                .as_ref()
                .map(|i| i.item_input.clone())
        })
        .unwrap_or_default();
    ctx.engine
        .set_task_state(record, TaskState::Running, None)
        .await?;
    let limit = spec
        .iterator_policy
        .as_ref()
        .map(|p| p.parallelism_limit)
        .filter(|l| *l > 0);
    let gate = limit.map(|l| Arc::new(Semaphore::new(l as usize)));
    let mut iterations = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let path = format!("{}[{index}]", record.path);
        let mut it = ctx.new_task(
            Some(&record.task_id),
            &path,
            &record.name,
            TaskKind::Iteration,
            Some(index as i64),
        );
        let mut io = inputs.clone();
        match item {
            LoopItem::Parameter(v) => {
                io.parameters.insert(item_input.clone(), v);
            }
            LoopItem::Artifact(a) => {
                io.artifacts.insert(item_input.clone(), vec![a]);
            }
        }
        it.inputs = io.clone();
        iterations.push((it, io));
    }
    // Every iteration is recorded PENDING in one write.
    let created = iterations
        .iter()
        .map(|(it, _)| RunWrite::Task {
            task: it.clone(),
            message: Some("created".to_string()),
        })
        .collect::<Vec<_>>();
    if !created.is_empty() {
        ctx.engine.store.write_all(created).await?;
    }
    for (it, _) in &iterations {
        ctx.engine.observer.task_changed(it);
    }
    let mut running: JoinSet<(usize, TaskOutcome)> = JoinSet::new();
    let mut spawned: BTreeMap<tokio::task::Id, (usize, TaskRecord)> = BTreeMap::new();
    for (index, (mut it, io)) in iterations.into_iter().enumerate() {
        let ctx2 = ctx.clone();
        let scope2 = scope.clone();
        let gate = gate.clone();
        let component = spec.component_ref.name.clone();
        let snapshot = it.clone();
        let handle = running.spawn(async move {
            let _permit = match &gate {
                Some(g) => g.clone().acquire_owned().await.ok(),
                None => None,
            };
            let outcome = async {
                if ctx2.cancel.is_cancelled() {
                    return finish(
                        &ctx2,
                        &mut it,
                        TaskState::Canceled,
                        TaskIo::default(),
                        Some("the run was cancelled".into()),
                    )
                    .await;
                }
                if let Some(f) = scope2.failure() {
                    return finish(
                        &ctx2,
                        &mut it,
                        TaskState::Skipped,
                        TaskIo::default(),
                        Some(format!("not started: the run is failing ({f})")),
                    )
                    .await;
                }
                ctx2.engine
                    .set_task_state(&mut it, TaskState::Running, None)
                    .await?;
                let result = run_dag(
                    ctx2.clone(),
                    scope2.clone(),
                    Some(component),
                    it.path.clone(),
                    Some(it.task_id.clone()),
                    io,
                )
                .await;
                dag_finish(&ctx2, &mut it, result).await
            }
            .await;
            let outcome = outcome.unwrap_or_else(|e| failed_outcome(&scope2, e.to_string()));
            (index, outcome)
        });
        spawned.insert(handle.id(), (index, snapshot));
    }
    let mut results: BTreeMap<usize, TaskOutcome> = BTreeMap::new();
    while let Some(joined) = running.join_next_with_id().await {
        match joined {
            Ok((_, (index, outcome))) => {
                results.insert(index, outcome);
            }
            Err(e) => {
                let message = format!("internal error: an iteration panicked: {e}");
                let index = match spawned.remove(&e.id()) {
                    Some((index, mut it)) => {
                        // Recorded FAILED rather than left as it was.
                        let _ = ctx
                            .engine
                            .set_task_state(&mut it, TaskState::Failed, Some(message.clone()))
                            .await;
                        index
                    }
                    None => usize::MAX - results.len(),
                };
                results.insert(index, failed_outcome(scope, message));
            }
        }
    }
    // Fan-in (`dsl.Collected`): each loop output is the list of the iterations' values.
    let mut outputs = TaskIo::default();
    for name in callee.output_definitions.parameters.keys() {
        let values: Vec<Value> = results
            .values()
            .filter_map(|o| o.outputs.parameters.get(name).cloned())
            .collect();
        outputs
            .parameters
            .insert(name.clone(), Value::Array(values));
    }
    for name in callee.output_definitions.artifacts.keys() {
        let list: Vec<RuntimeArtifact> = results
            .values()
            .flat_map(|o| o.outputs.artifacts.get(name).cloned().unwrap_or_default())
            .collect();
        outputs.artifacts.insert(name.clone(), list);
    }
    let error = results
        .values()
        .find(|o| o.state == TaskState::Failed)
        .and_then(|o| o.error.clone());
    dag_finish(ctx, record, DagResult { error, outputs }).await
}

const PARAMETER_OPEN: &str = "{{$.inputs.parameters['";
const PARAMETER_CLOSE: &str = "']}}";

/// Replaces every `{{$.inputs.parameters['NAME']}}` in `text` whose NAME has a value in
/// `parameters` by that value's text, in one pass (linear in the text; substituted values are
/// not scanned again). Unknown names stay as written.
fn interpolate_parameters(text: &str, parameters: &ParameterMap) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(PARAMETER_OPEN) {
        let after = &rest[start + PARAMETER_OPEN.len()..];
        let Some(end) = after.find(PARAMETER_CLOSE) else {
            break;
        };
        out.push_str(&rest[..start]);
        match parameters.get(&after[..end]) {
            Some(v) => out.push_str(&value_to_text(v)),
            None => out
                .push_str(&rest[start..start + PARAMETER_OPEN.len() + end + PARAMETER_CLOSE.len()]),
        }
        rest = &after[end + PARAMETER_CLOSE.len()..];
    }
    out.push_str(rest);
    out
}

fn substitute_metadata(value: &Value, parameters: &ParameterMap) -> Value {
    match value {
        Value::String(s) => {
            // A placeholder alone keeps the value's type.
            if let Some(v) = s
                .strip_prefix(PARAMETER_OPEN)
                .and_then(|r| r.strip_suffix(PARAMETER_CLOSE))
                .and_then(|name| parameters.get(name))
            {
                return v.clone();
            }
            Value::String(interpolate_parameters(s, parameters))
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute_metadata(v, parameters))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match substitute_metadata(&Value::String(k.clone()), parameters) {
                        Value::String(s) => s,
                        other => value_to_text(&other),
                    };
                    (key, substitute_metadata(v, parameters))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn run_importer(
    ctx: &RunContext,
    record: &mut TaskRecord,
    callee: &ComponentSpec,
    inputs: TaskIo,
) -> Result<TaskOutcome, EngineError> {
    let importer = callee
        .executor_label
        .as_ref()
        .and_then(|l| ctx.spec.deployment_spec.executors.get(l))
        .and_then(|e| e.importer.clone());
    let Some(importer) = importer else {
        return fail(ctx, record, "importer executor not found".into()).await;
    };
    ctx.engine
        .set_task_state(record, TaskState::Running, None)
        .await?;
    let uri = match (
        &importer.artifact_uri.runtime_parameter,
        importer.artifact_uri.literal(),
    ) {
        (Some(name), _) => inputs.parameters.get(name).cloned(),
        (None, literal) => literal,
    };
    let uri = match uri {
        Some(Value::String(s)) if !s.is_empty() => s,
        other => {
            return fail(
                ctx,
                record,
                format!("importer artifact URI must be a non-empty string, got {other:?}"),
            )
            .await
        }
    };
    let metadata = importer
        .metadata
        .as_ref()
        .map(|m| substitute_metadata(&Value::Object(m.clone()), &inputs.parameters))
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let artifact = RuntimeArtifact {
        name: "artifact".into(),
        schema_title: importer
            .type_schema
            .schema_title
            .clone()
            .unwrap_or_else(|| "system.Artifact".into()),
        schema_version: importer
            .type_schema
            .schema_version
            .clone()
            .unwrap_or_else(|| "0.0.1".into()),
        uri,
        metadata,
    };
    let mut outputs = TaskIo::default();
    let key = callee
        .output_definitions
        .artifacts
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "artifact".into());
    outputs.artifacts.insert(key, vec![artifact]);
    record.outputs = outputs.clone();
    ctx.engine
        .store
        .record_artifacts(record, ArtifactRole::Output, &outputs.artifacts)
        .await?;
    finish(ctx, record, TaskState::Succeeded, outputs, None).await
}

async fn cache_decision(
    ctx: &RunContext,
    spec: &TaskSpec,
    print: &str,
) -> Result<(CacheDecision, Option<CacheEntry>), EngineError> {
    let enabled = spec
        .caching_options
        .as_ref()
        .is_some_and(|c| c.enable_cache);
    let miss = |reason: String| CacheDecision {
        hit: false,
        reason,
        source_task_id: None,
    };
    if !enabled {
        return Ok((
            miss(
                "caching is off for this task (the spec does not set cachingOptions.enableCache)"
                    .into(),
            ),
            None,
        ));
    }
    if ctx.options.disable_cache {
        return Ok((
            miss("caching is off for this run (--no-cache)".into()),
            None,
        ));
    }
    let Some(entry) = ctx.engine.store.find_cache_entry(print).await? else {
        return Ok((
            miss("no earlier successful execution with the same component and inputs".into()),
            None,
        ));
    };
    // The run's --cache-max-age and the task's own staleness (KFP v1's max_cache_staleness):
    // the stricter one.
    let task_max_age = spec
        .caching_options
        .as_ref()
        .and_then(|c| c.max_cache_staleness_seconds)
        .map(Duration::from_secs);
    let max_age = match (ctx.options.cache_max_age, task_max_age) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(max_age) = max_age {
        let age = ctx.engine.clock.now().duration_since(entry.created_at);
        if age.as_secs_f64() > max_age.as_secs_f64() {
            return Ok((
                miss(format!(
                    "the matching execution from {} is older than the maximum cache age of {}s",
                    entry.created_at,
                    max_age.as_secs()
                )),
                None,
            ));
        }
    }
    for list in entry.outputs.artifacts.values() {
        for a in list {
            if !ctx.engine.launcher.artifact_exists(&a.uri).await {
                return Ok((
                    miss(format!(
                        "the matching execution's artifact {} no longer exists",
                        a.uri
                    )),
                    None,
                ));
            }
        }
    }
    let decision = CacheDecision {
        hit: true,
        reason: format!(
            "reused the outputs of task {} of run {}",
            entry.task_id, entry.run_id
        ),
        source_task_id: Some(entry.task_id.clone()),
    };
    Ok((decision, Some(entry)))
}

async fn run_container(
    ctx: &Arc<RunContext>,
    record: &mut TaskRecord,
    spec: &TaskSpec,
    callee: &ComponentSpec,
    inputs: TaskIo,
) -> Result<TaskOutcome, EngineError> {
    let label = callee.executor_label.clone().unwrap_or_default();
    let Some(executor) = ctx.spec.deployment_spec.executors.get(&label) else {
        return fail(ctx, record, format!("executor '{label}' not found")).await;
    };
    let Some(container) = executor.container.clone() else {
        let kind = if executor.resolver.is_some() {
            "resolver"
        } else {
            "custom job"
        };
        return fail(
            ctx,
            record,
            format!("executor '{label}' is a {kind}, which runs only on Google Cloud, not locally"),
        )
        .await;
    };
    let print = fingerprint(
        &container,
        callee,
        &inputs,
        spec.caching_options
            .as_ref()
            .and_then(|c| c.cache_key.as_deref()),
    );
    record.fingerprint = Some(print.clone());
    record.log_uri =
        ctx.engine
            .launcher
            .log_uri_under(&ctx.options.pipeline_root, &ctx.run_id, &record.path);
    let (decision, entry) = cache_decision(ctx, spec, &print).await?;
    record.cache = Some(decision.clone());
    ctx.engine
        .store
        .record_artifacts(record, ArtifactRole::Input, &inputs.artifacts)
        .await?;
    if let Some(entry) = entry {
        ctx.engine
            .store
            .record_artifacts(record, ArtifactRole::Output, &entry.outputs.artifacts)
            .await?;
        return finish(
            ctx,
            record,
            TaskState::Cached,
            entry.outputs,
            Some(decision.reason),
        )
        .await;
    }

    let output_artifacts: BTreeMap<String, RuntimeArtifact> = callee
        .output_definitions
        .artifacts
        .iter()
        .map(|(name, def)| {
            let a = RuntimeArtifact {
                name: name.clone(),
                schema_title: def
                    .artifact_type
                    .schema_title
                    .clone()
                    .unwrap_or_else(|| "system.Artifact".into()),
                schema_version: def
                    .artifact_type
                    .schema_version
                    .clone()
                    .unwrap_or_else(|| "0.0.1".into()),
                uri: ctx.engine.launcher.output_artifact_uri_under(
                    &ctx.options.pipeline_root,
                    &ctx.run_id,
                    &record.path,
                    name,
                ),
                metadata: Default::default(),
            };
            (name.clone(), a)
        })
        .collect();
    let platform_config = ctx
        .platform
        .as_ref()
        .and_then(|p| {
            p.pointer(&format!(
                "/platforms/kubernetes/deploymentSpec/executors/{label}"
            ))
        })
        .cloned();
    let max_retries = spec
        .retry_policy
        .as_ref()
        .map(|r| r.max_retry_count.max(0) as u32)
        .unwrap_or(0);

    // A retried run continues the task's attempt numbers; the retry policy counts afresh.
    let first_attempt = record.attempts + 1;
    let mut attempt = first_attempt;
    loop {
        let admitted = match &ctx.engine.task_admission {
            Some(admission) => admission.clone().acquire_owned().await.ok(),
            None => None,
        };
        if ctx.cancel.is_cancelled() {
            return finish(
                ctx,
                record,
                TaskState::Canceled,
                TaskIo::default(),
                Some("the run was cancelled".into()),
            )
            .await;
        }
        record.attempts = attempt;
        let message = (attempt > first_attempt).then(|| {
            format!(
                "attempt {} of {}",
                attempt - first_attempt + 1,
                max_retries + 1
            )
        });
        let request = LaunchRequest {
            run_id: ctx.run_id.clone(),
            run_name: ctx.run_name.clone(),
            run_resource_name: ctx.resource_name.clone(),
            run_created_at: ctx.run_created_at,
            task_id: record.task_id.clone(),
            task_path: record.path.clone(),
            task_name: record.name.clone(),
            attempt,
            component: callee.clone(),
            container: container.clone(),
            parameters: inputs.parameters.clone(),
            artifacts: inputs.artifacts.clone(),
            output_artifacts: output_artifacts.clone(),
            platform_config: platform_config.clone(),
            pipeline_root: ctx.options.pipeline_root.clone(),
        };
        // The process starts once the attempt is recorded RUNNING and a task slot is free; the
        // launcher prepares its folders and log meanwhile. The slot is held until the process
        // has ended and its outputs are read.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<bool>();
        let slots = ctx.engine.task_slots.clone();
        let recording = async {
            let written = ctx
                .engine
                .set_task_state(record, TaskState::Running, message)
                .await;
            let slot = match (&written, slots) {
                (Ok(()), Some(slots)) => slots.acquire_owned().await.ok(),
                _ => None,
            };
            let _ = ready_tx.send(written.is_ok() && !ctx.cancel.is_cancelled());
            (written, slot)
        };
        let launching = ctx.engine.launcher.launch_when_ready(
            request,
            ctx.cancel.child_token(),
            Box::pin(async move { ready_rx.await.unwrap_or(false) }),
        );
        let started = ctx.engine.clock.now();
        let ((written, slot), outcome) = tokio::join!(recording, launching);
        // The next tasks may start while this one's end is recorded (and the writes then share
        // a commit).
        drop(slot);
        drop(admitted);
        written?;
        let (state, exit_code, error) = match &outcome {
            LaunchOutcome::Succeeded { .. } => (TaskState::Succeeded, Some(0), None),
            LaunchOutcome::Failed { message, exit_code } => {
                (TaskState::Failed, *exit_code, Some(message.clone()))
            }
            LaunchOutcome::Canceled => (TaskState::Canceled, None, Some("cancelled".to_string())),
        };
        let attempt_record = RunWrite::Attempt(AttemptRecord {
            task_id: record.task_id.clone(),
            run_id: ctx.run_id.clone(),
            attempt,
            started_at: started,
            finished_at: ctx.engine.clock.now(),
            state,
            exit_code,
            error: error.clone(),
        });
        // The attempt's record, its outputs, its cache entry and the task's new state are one
        // write: a task never appears finished without its attempt, or the other way round.
        match outcome {
            LaunchOutcome::Succeeded {
                parameters,
                artifacts,
            } => {
                let outputs = TaskIo {
                    parameters,
                    artifacts,
                };
                record.outputs = outputs.clone();
                let mut prior = vec![attempt_record];
                if !outputs.artifacts.is_empty() {
                    prior.push(RunWrite::Artifacts {
                        task: record.clone(),
                        role: ArtifactRole::Output,
                        artifacts: outputs.artifacts.clone(),
                    });
                }
                if spec
                    .caching_options
                    .as_ref()
                    .is_some_and(|c| c.enable_cache)
                {
                    prior.push(RunWrite::CacheEntry(CacheEntry {
                        fingerprint: print.clone(),
                        task_id: record.task_id.clone(),
                        run_id: ctx.run_id.clone(),
                        outputs: outputs.clone(),
                        created_at: ctx.engine.clock.now(),
                    }));
                }
                return finish_after(ctx, record, TaskState::Succeeded, outputs, None, prior).await;
            }
            LaunchOutcome::Canceled => {
                return finish_after(
                    ctx,
                    record,
                    TaskState::Canceled,
                    TaskIo::default(),
                    Some("the run was cancelled".into()),
                    vec![attempt_record],
                )
                .await;
            }
            LaunchOutcome::Failed { message, .. } => {
                let this_execution = attempt - first_attempt + 1;
                if this_execution <= max_retries && !ctx.cancel.is_cancelled() {
                    ctx.engine.store.write_all(vec![attempt_record]).await?;
                    let delay = spec
                        .retry_policy
                        .as_ref()
                        .map(|p| backoff_delay(p, this_execution))
                        .transpose();
                    let delay = match delay {
                        Ok(d) => d.unwrap_or_default(),
                        Err(e) => return fail(ctx, record, format!("retryPolicy: {e}")).await,
                    };
                    tracing::info!(task = %record.path, attempt, ?delay, "retrying after failure: {message}");
                    tokio::select! {
                        _ = ctx.engine.clock.sleep(delay) => {}
                        _ = ctx.cancel.cancelled() => {}
                    }
                    attempt += 1;
                    continue;
                }
                let attempts = if this_execution > 1 {
                    format!(" (after {this_execution} attempts)")
                } else {
                    String::new()
                };
                return fail_after(
                    ctx,
                    record,
                    format!("{message}{attempts}"),
                    vec![attempt_record],
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_stable_uuids() {
        let a = task_id("run-1", "for-loop-2[3]/train");
        assert_eq!(a, task_id("run-1", "for-loop-2[3]/train"));
        assert_ne!(a, task_id("run-2", "for-loop-2[3]/train"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn parameters_are_interpolated_in_one_pass() {
        let mut params = ParameterMap::new();
        params.insert("a".into(), json!("{{$.inputs.parameters['b']}}"));
        params.insert("b".into(), json!(2));
        params.insert("list".into(), json!([1, "x"]));
        assert_eq!(
            interpolate_parameters(
                "a={{$.inputs.parameters['a']}} b={{$.inputs.parameters['b']}} \
                 l={{$.inputs.parameters['list']}} u={{$.inputs.parameters['u']}} \
                 open={{$.inputs.parameters['b'",
                &params
            ),
            "a={{$.inputs.parameters['b']}} b=2 l=[1,\"x\"] u={{$.inputs.parameters['u']}} \
             open={{$.inputs.parameters['b'"
        );
        assert_eq!(
            substitute_metadata(&json!({"n": "{{$.inputs.parameters['b']}}"}), &params),
            json!({"n": 2})
        );
    }
}
