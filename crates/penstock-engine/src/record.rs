//! What the engine records about runs, tasks, attempts, artifacts and cache decisions. These
//! are the rows a [`crate::RunStore`] persists; they are plain data with no behaviour.

use crate::state::{RunState, TaskState};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One artifact as it flows between tasks (KFP's `RuntimeArtifact`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeArtifact {
    /// The artifact's name (the output name, as KFP's local runner names it).
    pub name: String,
    /// The artifact type, e.g. `system.Dataset`.
    pub schema_title: String,
    /// The type's schema version, e.g. `0.0.1`.
    pub schema_version: String,
    /// Where the content is. For the local launcher an absolute path.
    pub uri: String,
    /// Free-form metadata (`artifact.metadata`).
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Artifacts by input or output name; each name holds a list (one element unless it is an
/// artifact list).
pub type ArtifactMap = BTreeMap<String, Vec<RuntimeArtifact>>;

/// Resolved parameter values by name.
pub type ParameterMap = BTreeMap<String, Value>;

/// Parameters and artifacts: a task's inputs or outputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskIo {
    /// Parameter values.
    #[serde(default)]
    pub parameters: ParameterMap,
    /// Artifacts.
    #[serde(default)]
    pub artifacts: ArtifactMap,
}

/// What a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A container (or lightweight Python) step.
    Container,
    /// An importer: registers an existing artifact.
    Importer,
    /// A nested DAG: sub-pipeline, condition branch or exit-handler group.
    Dag,
    /// A `ParallelFor` loop.
    Loop,
    /// One iteration of a loop.
    Iteration,
}

impl TaskKind {
    /// The lower-case name used in the store.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Container => "container",
            TaskKind::Importer => "importer",
            TaskKind::Dag => "dag",
            TaskKind::Loop => "loop",
            TaskKind::Iteration => "iteration",
        }
    }
}

/// Why a task was or was not served from the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheDecision {
    /// True when the task reused earlier outputs.
    pub hit: bool,
    /// Why, in words.
    pub reason: String,
    /// The task whose outputs were reused, on a hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_task_id: Option<String>,
}

/// A run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id (a UUID).
    pub run_id: String,
    /// Human name.
    pub display_name: String,
    /// `pipelineInfo.name`.
    pub pipeline_name: String,
    /// The pipeline spec as JSON, exactly what was run.
    pub pipeline_spec: Value,
    /// The second YAML document, when present.
    pub platform_spec: Option<Value>,
    /// The typed run parameters (after defaults).
    pub parameters: ParameterMap,
    /// Current state.
    pub state: RunState,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When it started executing.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal state.
    pub finished_at: Option<Timestamp>,
    /// The pipeline's outputs (root `dagOutputs`).
    pub outputs: TaskIo,
    /// The run FAILS when it has been RUNNING longer than this (counted from `started_at`, so
    /// it holds across a resume); `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// A task of a run: a node of the expanded DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Unique id, derived from the run id and `path`, so the same task always has the same id.
    pub task_id: String,
    /// The run it belongs to.
    pub run_id: String,
    /// The enclosing DAG, loop or iteration task; `None` in the root DAG.
    pub parent_task_id: Option<String>,
    /// Position in the expanded DAG, e.g. `root/for-loop-2[3]/train`.
    pub path: String,
    /// The task's name in its DAG (`taskInfo.name` key).
    pub name: String,
    /// What it is.
    pub kind: TaskKind,
    /// Current state.
    pub state: TaskState,
    /// Loop iteration index, for iterations.
    pub iteration: Option<i64>,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When it started executing.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal state.
    pub finished_at: Option<Timestamp>,
    /// Resolved inputs.
    pub inputs: TaskIo,
    /// Produced (or reused) outputs.
    pub outputs: TaskIo,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// Number of attempts started.
    pub attempts: u32,
    /// The caching decision, for container tasks.
    pub cache: Option<CacheDecision>,
    /// The cache fingerprint, for container tasks.
    pub fingerprint: Option<String>,
    /// Where the task's log is kept.
    pub log_uri: Option<String>,
}

impl TaskRecord {
    /// The scalars this task produced, by name: numeric output parameters, and the numeric
    /// metadata of its `system.Metrics` and `system.ClassificationMetrics` artifacts.
    pub fn scalars(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        if !matches!(self.kind, TaskKind::Container | TaskKind::Importer)
            || !self.state.produced_outputs()
        {
            return out;
        }
        for (name, value) in &self.outputs.parameters {
            if let (true, Some(v)) = (value.is_number(), value.as_f64()) {
                out.push((name.clone(), v));
            }
        }
        for artifact in self.outputs.artifacts.values().flatten() {
            if !matches!(
                artifact.schema_title.as_str(),
                "system.Metrics" | "system.ClassificationMetrics"
            ) {
                continue;
            }
            for (name, value) in &artifact.metadata {
                if name == "display_name" {
                    continue;
                }
                if let (true, Some(v)) = (value.is_number(), value.as_f64()) {
                    out.push((name.clone(), v));
                }
            }
        }
        out
    }
}

/// One execution attempt of a container task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The task.
    pub task_id: String,
    /// The run.
    pub run_id: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// The resulting state (SUCCEEDED, FAILED or CANCELED).
    pub state: TaskState,
    /// The process exit code, when there was a process.
    pub exit_code: Option<i32>,
    /// The failure, if any.
    pub error: Option<String>,
}

/// Whether a task consumed or produced an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ArtifactRole {
    /// Consumed.
    Input,
    /// Produced.
    Output,
}

/// A recorded successful execution that later identical tasks may reuse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The fingerprint (component + resolved inputs, or the user's cache key).
    pub fingerprint: String,
    /// The task that produced the outputs.
    pub task_id: String,
    /// Its run.
    pub run_id: String,
    /// The outputs to reuse.
    pub outputs: TaskIo,
    /// When the outputs were produced.
    pub created_at: Timestamp,
}
