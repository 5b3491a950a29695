//! The KFP v2beta1 JSON messages, hand-written from `backend/api/v2beta1/*.proto` and the
//! swagger beside them, with grpc-gateway's conventions: proto (snake_case) names on output,
//! lowerCamel accepted on input, unset fields left out, enums by name, int64 as strings, RFC
//! 3339 times, and unknown request fields rejected.

use crate::error::{ApiError, ApiResult};
use jiff::Timestamp;
use penstock_engine::{RunRecord, TaskRecord, TaskState};
use penstock_store::{ExperimentRow, PipelineRow, PipelineVersionRow, RecurringRunRow, RunMeta};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

/// Parses a request body, naming the offending field on error; unknown fields are errors.
pub fn parse_body<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(format!(
            "{what}: the request body is empty"
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::invalid(format!("{what}: {inner}"))
        } else {
            ApiError::invalid(format!("{what}: field '{path}': {inner}"))
        }
    })?;
    // One JSON value and nothing after it but whitespace.
    de.end().map_err(|e| {
        ApiError::invalid(format!(
            "{what}: unexpected data after the JSON body ({e}); expected exactly one JSON value"
        ))
    })?;
    Ok(value)
}

/// A protobuf int64: a JSON string on output; a number or a string on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Int64(pub i64);

impl Serialize for Int64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Int64, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_i64()
                .map(Int64)
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a 64-bit integer"))),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Int64)
                .map_err(|_| serde::de::Error::custom(format!("\"{s}\" is not an integer"))),
            other => Err(serde::de::Error::custom(format!(
                "expected an integer, found {other}"
            ))),
        }
    }
}

fn time(t: Timestamp) -> String {
    t.to_string()
}

fn opt_time(t: Option<Timestamp>) -> Option<String> {
    t.map(time)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// `google.rpc.Status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// gRPC code.
    #[serde(default)]
    pub code: i32,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Details (always empty here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<Value>,
}

impl Status {
    fn unknown(message: &str) -> Status {
        Status {
            code: 2,
            message: message.to_string(),
            details: Vec::new(),
        }
    }
}

/// An experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Id.
    #[serde(
        default,
        alias = "experimentId",
        skip_serializing_if = "Option::is_none"
    )]
    pub experiment_id: Option<String>,
    /// Name (unique).
    #[serde(
        default,
        alias = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Creation time.
    #[serde(default, alias = "createdAt", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Namespace (empty in single-user mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `AVAILABLE` or `ARCHIVED`.
    #[serde(
        default,
        alias = "storageState",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub storage_state: Option<Value>,
    /// When its newest run was created.
    #[serde(
        default,
        alias = "lastRunCreatedAt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_run_created_at: Option<String>,
}

impl From<&ExperimentRow> for Experiment {
    fn from(e: &ExperimentRow) -> Experiment {
        Experiment {
            experiment_id: Some(e.experiment_id.clone()),
            display_name: Some(e.display_name.clone()),
            description: non_empty(&e.description),
            created_at: Some(time(e.created_at)),
            namespace: non_empty(&e.namespace),
            storage_state: Some(json!(e.storage_state.name())),
            last_run_created_at: opt_time(e.last_run_created_at),
        }
    }
}

/// `ListExperimentsResponse`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ListExperimentsResponse {
    /// The page.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiments: Vec<Experiment>,
    /// Matching rows in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_size: i32,
    /// Token of the next page; absent on the last.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// A pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Id.
    #[serde(default, alias = "pipelineId", skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    /// Human name.
    #[serde(
        default,
        alias = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// Unique name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Creation time.
    #[serde(default, alias = "createdAt", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Status>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tags: Option<Map<String, Value>>,
}

impl From<&PipelineRow> for Pipeline {
    fn from(p: &PipelineRow) -> Pipeline {
        Pipeline {
            pipeline_id: Some(p.pipeline_id.clone()),
            display_name: Some(p.display_name.clone()),
            name: Some(p.name.clone()),
            description: non_empty(&p.description),
            created_at: Some(time(p.created_at)),
            namespace: non_empty(&p.namespace),
            error: None,
            tags: (!p.tags.is_empty()).then(|| p.tags.clone()),
        }
    }
}

/// `ListPipelinesResponse`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ListPipelinesResponse {
    /// The page.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<Pipeline>,
    /// Matching rows in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_size: i32,
    /// Token of the next page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
}

/// `Url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageUrl {
    /// The URL.
    #[serde(default, alias = "pipelineUrl")]
    pub pipeline_url: String,
}

/// A pipeline version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineVersion {
    /// Its pipeline.
    #[serde(default, alias = "pipelineId", skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    /// Id.
    #[serde(
        default,
        alias = "pipelineVersionId",
        skip_serializing_if = "Option::is_none"
    )]
    pub pipeline_version_id: Option<String>,
    /// Human name.
    #[serde(
        default,
        alias = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// Name, unique within the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Creation time.
    #[serde(default, alias = "createdAt", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Where the package was fetched from (not supported: no network fetches).
    #[serde(default, alias = "packageUrl", skip_serializing_if = "Option::is_none")]
    pub package_url: Option<PackageUrl>,
    /// Where the code lives.
    #[serde(
        default,
        alias = "codeSourceUrl",
        skip_serializing_if = "Option::is_none"
    )]
    pub code_source_url: Option<String>,
    /// The pipeline spec (IR) as JSON.
    #[serde(
        default,
        alias = "pipelineSpec",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Object>)]
    pub pipeline_spec: Option<Value>,
    /// Error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Status>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tags: Option<Map<String, Value>>,
}

/// The spec as KFP returns it: bare, or `{pipeline_spec, platform_spec}` when there is a
/// platform spec (the shape the SDK sends).
pub fn spec_with_platform(spec: &Value, platform: Option<&Value>) -> Value {
    match platform {
        Some(p) => json!({"pipeline_spec": spec, "platform_spec": p}),
        None => spec.clone(),
    }
}

impl From<&PipelineVersionRow> for PipelineVersion {
    fn from(v: &PipelineVersionRow) -> PipelineVersion {
        PipelineVersion {
            pipeline_id: Some(v.pipeline_id.clone()),
            pipeline_version_id: Some(v.pipeline_version_id.clone()),
            display_name: Some(v.display_name.clone()),
            name: Some(v.name.clone()),
            description: non_empty(&v.description),
            created_at: Some(time(v.created_at)),
            package_url: None,
            code_source_url: non_empty(&v.code_source_url),
            pipeline_spec: Some(spec_with_platform(
                &v.pipeline_spec,
                v.platform_spec.as_ref(),
            )),
            error: None,
            tags: (!v.tags.is_empty()).then(|| v.tags.clone()),
        }
    }
}

/// `ListPipelineVersionsResponse`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ListPipelineVersionsResponse {
    /// The page.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pipeline_versions: Vec<PipelineVersion>,
    /// Token of the next page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
    /// Matching rows in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_size: i32,
}

/// `CreatePipelineAndVersionRequest`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipelineAndVersionRequest {
    /// The pipeline.
    #[serde(default)]
    pub pipeline: Option<Pipeline>,
    /// Its first version.
    #[serde(default, alias = "pipelineVersion")]
    pub pipeline_version: Option<PipelineVersion>,
}

/// `PipelineVersionReference`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineVersionReference {
    /// The pipeline.
    #[serde(default, alias = "pipelineId", skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    /// The version; empty means the latest.
    #[serde(
        default,
        alias = "pipelineVersionId",
        skip_serializing_if = "Option::is_none"
    )]
    pub pipeline_version_id: Option<String>,
}

/// `RuntimeConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Run parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Map<String, Value>>,
    /// The pipeline root.
    #[serde(
        default,
        alias = "pipelineRoot",
        skip_serializing_if = "Option::is_none"
    )]
    pub pipeline_root: Option<String>,
}

/// A run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Its experiment.
    #[serde(
        default,
        alias = "experimentId",
        skip_serializing_if = "Option::is_none"
    )]
    pub experiment_id: Option<String>,
    /// Id.
    #[serde(default, alias = "runId", skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Name.
    #[serde(
        default,
        alias = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// `AVAILABLE` or `ARCHIVED`.
    #[serde(
        default,
        alias = "storageState",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub storage_state: Option<Value>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Deprecated: a version id.
    #[serde(
        default,
        alias = "pipelineVersionId",
        skip_serializing_if = "Option::is_none"
    )]
    pub pipeline_version_id: Option<String>,
    /// Inline spec (bare, or `{pipeline_spec, platform_spec}`).
    #[serde(
        default,
        alias = "pipelineSpec",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Object>)]
    pub pipeline_spec: Option<Value>,
    /// A stored version.
    #[serde(
        default,
        alias = "pipelineVersionReference",
        skip_serializing_if = "Option::is_none"
    )]
    pub pipeline_version_reference: Option<PipelineVersionReference>,
    /// Parameters and pipeline root.
    #[serde(
        default,
        alias = "runtimeConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_config: Option<RuntimeConfig>,
    /// Recorded service account.
    #[serde(
        default,
        alias = "serviceAccount",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_account: Option<String>,
    /// Creation time.
    #[serde(default, alias = "createdAt", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Scheduled time.
    #[serde(
        default,
        alias = "scheduledAt",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduled_at: Option<String>,
    /// End time.
    #[serde(default, alias = "finishedAt", skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `RuntimeState` name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub state: Option<Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Status>,
    /// Tasks (on get).
    #[serde(default, alias = "runDetails", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub run_details: Option<Value>,
    /// The recurring run that started it.
    #[serde(
        default,
        alias = "recurringRunId",
        skip_serializing_if = "Option::is_none"
    )]
    pub recurring_run_id: Option<String>,
    /// State changes.
    #[serde(
        default,
        alias = "stateHistory",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Vec<Object>>)]
    pub state_history: Option<Vec<Value>>,
}

/// KFP's `RuntimeState` name of a task state: v2beta1 has no CACHED, a cached task is
/// complete with outputs (Penstock's own state is in the `penstock` object).
fn kfp_task_state(state: TaskState) -> &'static str {
    match state {
        TaskState::Cached => "SUCCEEDED",
        other => other.name(),
    }
}

/// The `taskInfo.name` (what `set_display_name` sets; the SDK writes the task key when it is
/// not called) of the task at `path` in a run's pipeline spec. A loop iteration's segment
/// (`for-loop-2[3]`) names its loop. `None` when the spec has no such task or no name.
pub fn spec_task_name(spec: &Value, path: &str) -> Option<String> {
    let mut component = spec.get("root")?;
    let mut name = None;
    for segment in path.split('/') {
        let key = match segment.split_once('[') {
            Some((loop_key, rest)) if rest.ends_with(']') => loop_key,
            _ => segment,
        };
        let task = component.get("dag")?.get("tasks")?.get(key)?;
        name = task
            .pointer("/taskInfo/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        // The component the next segment's task is in (absent after the last segment of a
        // container task; a further segment then finds no DAG).
        component = task
            .pointer("/componentRef/name")
            .and_then(Value::as_str)
            .and_then(|c| spec.get("components")?.get(c))
            .unwrap_or(&Value::Null);
    }
    name
}

/// What Kubeflow shows for a task: its `taskInfo.name` from the run's spec (else its key),
/// with the index for a loop iteration.
pub fn task_display_name(spec: &Value, task: &TaskRecord) -> String {
    let base = spec_task_name(spec, &task.path).unwrap_or_else(|| task.name.clone());
    match task.iteration {
        Some(i) => format!("{base}-{i}"),
        None => base,
    }
}

/// A task as a v2beta1 `PipelineTaskDetail`, plus Penstock's `penstock` extension object
/// (path, task key, kind, attempts, cache decision, log URI and resolved values).
/// `display_name` is the task's display name ([`task_display_name`] over `spec`, the run's
/// pipeline spec); `penstock.path` and `penstock.name` keep its path and key.
pub fn task_detail(task: &TaskRecord, all: &[TaskRecord], spec: &Value) -> Value {
    let children: Vec<Value> = all
        .iter()
        .filter(|t| t.parent_task_id.as_deref() == Some(task.task_id.as_str()))
        .map(|t| json!({"task_id": t.task_id}))
        .collect();
    let display = task_display_name(spec, task);
    let mut detail = Map::new();
    detail.insert("run_id".into(), json!(task.run_id));
    detail.insert("task_id".into(), json!(task.task_id));
    detail.insert("display_name".into(), json!(display));
    detail.insert("create_time".into(), json!(time(task.created_at)));
    if let Some(t) = task.started_at {
        detail.insert("start_time".into(), json!(time(t)));
    }
    if let Some(t) = task.finished_at {
        detail.insert("end_time".into(), json!(time(t)));
    }
    detail.insert("state".into(), json!(kfp_task_state(task.state)));
    if let Some(p) = &task.parent_task_id {
        detail.insert("parent_task_id".into(), json!(p));
    }
    if !children.is_empty() {
        detail.insert("child_tasks".into(), Value::Array(children));
    }
    if let Some(e) = &task.error {
        detail.insert("error".into(), json!(Status::unknown(e)));
    }
    detail.insert(
        "penstock".into(),
        json!({
            "path": task.path,
            "name": task.name,
            "kind": task.kind.name(),
            "state": task.state.name(),
            "attempts": task.attempts,
            "cache": task.cache,
            "fingerprint": task.fingerprint,
            "log_uri": task.log_uri,
            "inputs": task.inputs,
            "outputs": task.outputs,
        }),
    );
    Value::Object(detail)
}

fn state_history(run: &RunRecord) -> Vec<Value> {
    let mut history = vec![json!({"update_time": time(run.created_at), "state": "PENDING"})];
    if let Some(t) = run.started_at {
        history.push(json!({"update_time": time(t), "state": "RUNNING"}));
    }
    if let Some(t) = run.finished_at {
        let mut entry = json!({"update_time": time(t), "state": run.state.name()});
        if let Some(e) = &run.error {
            entry["error"] = json!(Status::unknown(e));
        }
        history.push(entry);
    }
    history
}

/// A recorded run as a v2beta1 `Run`; `tasks` fills `run_details.task_details` (on get).
pub fn run_message(run: &RunRecord, meta: &RunMeta, tasks: Option<&[TaskRecord]>) -> Run {
    let parameters: Map<String, Value> = run
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (pipeline_spec, reference) = match &meta.pipeline_id {
        Some(pid) => (
            None,
            Some(PipelineVersionReference {
                pipeline_id: Some(pid.clone()),
                pipeline_version_id: meta.pipeline_version_id.clone(),
            }),
        ),
        None => (
            Some(spec_with_platform(
                &run.pipeline_spec,
                run.platform_spec.as_ref(),
            )),
            None,
        ),
    };
    Run {
        experiment_id: non_empty(&meta.experiment_id),
        run_id: Some(run.run_id.clone()),
        display_name: Some(run.display_name.clone()),
        storage_state: Some(json!(meta.storage_state.name())),
        description: non_empty(&meta.description),
        pipeline_version_id: None,
        pipeline_spec,
        pipeline_version_reference: reference,
        runtime_config: Some(RuntimeConfig {
            parameters: (!parameters.is_empty()).then_some(parameters),
            pipeline_root: meta.pipeline_root.clone(),
        }),
        service_account: non_empty(&meta.service_account),
        created_at: Some(time(run.created_at)),
        scheduled_at: opt_time(meta.scheduled_at),
        finished_at: opt_time(run.finished_at),
        state: Some(json!(run.state.name())),
        error: run.error.as_deref().map(Status::unknown),
        run_details: tasks.map(|all| {
            json!({
                "task_details": all
                    .iter()
                    .map(|t| task_detail(t, all, &run.pipeline_spec))
                    .collect::<Vec<_>>(),
            })
        }),
        recurring_run_id: meta.recurring_run_id.clone(),
        state_history: Some(state_history(run)),
    }
}

/// `ListRunsResponse`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ListRunsResponse {
    /// The page.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<Run>,
    /// Matching rows in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_size: i32,
    /// Token of the next page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
}

/// `CronSchedule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CronSchedule {
    /// First possible fire time.
    #[serde(default, alias = "startTime", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Last possible fire time.
    #[serde(default, alias = "endTime", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// 6 fields (seconds first) or 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Penstock extension: the IANA time zone the cron fields are read in (UTC when absent;
    /// answers always name it).
    #[serde(default, alias = "timeZone", skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// `PeriodicSchedule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodicSchedule {
    /// First possible fire time.
    #[serde(default, alias = "startTime", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Last possible fire time.
    #[serde(default, alias = "endTime", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Seconds between runs (≥ 1).
    #[serde(
        default,
        alias = "intervalSecond",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub interval_second: Option<Int64>,
}

/// `Trigger`: exactly one of the two schedules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Cron.
    #[serde(
        default,
        alias = "cronSchedule",
        skip_serializing_if = "Option::is_none"
    )]
    pub cron_schedule: Option<CronSchedule>,
    /// Periodic.
    #[serde(
        default,
        alias = "periodicSchedule",
        skip_serializing_if = "Option::is_none"
    )]
    pub periodic_schedule: Option<PeriodicSchedule>,
}

/// A recurring run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringRun {
    /// Id.
    #[serde(
        default,
        alias = "recurringRunId",
        skip_serializing_if = "Option::is_none"
    )]
    pub recurring_run_id: Option<String>,
    /// Name.
    #[serde(
        default,
        alias = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Deprecated: a version id.
    #[serde(
        default,
        alias = "pipelineVersionId",
        skip_serializing_if = "Option::is_none"
    )]
    pub pipeline_version_id: Option<String>,
    /// Inline spec.
    #[serde(
        default,
        alias = "pipelineSpec",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Object>)]
    pub pipeline_spec: Option<Value>,
    /// A stored version.
    #[serde(
        default,
        alias = "pipelineVersionReference",
        skip_serializing_if = "Option::is_none"
    )]
    pub pipeline_version_reference: Option<PipelineVersionReference>,
    /// Parameters and pipeline root.
    #[serde(
        default,
        alias = "runtimeConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_config: Option<RuntimeConfig>,
    /// Recorded service account.
    #[serde(
        default,
        alias = "serviceAccount",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_account: Option<String>,
    /// 1–10.
    #[serde(
        default,
        alias = "maxConcurrency",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub max_concurrency: Option<Int64>,
    /// When to fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// `ENABLE` or `DISABLE` (input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub mode: Option<Value>,
    /// Creation time.
    #[serde(default, alias = "createdAt", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default, alias = "updatedAt", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// `ENABLED` or `DISABLED` (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub status: Option<Value>,
    /// Error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Status>,
    /// Only the latest missed tick after downtime.
    #[serde(default, alias = "noCatchup", skip_serializing_if = "Option::is_none")]
    pub no_catchup: Option<bool>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Experiment of its runs.
    #[serde(
        default,
        alias = "experimentId",
        skip_serializing_if = "Option::is_none"
    )]
    pub experiment_id: Option<String>,
}

impl From<&RecurringRunRow> for RecurringRun {
    fn from(r: &RecurringRunRow) -> RecurringRun {
        let (pipeline_spec, reference) = match &r.pipeline_id {
            Some(pid) => (
                None,
                Some(PipelineVersionReference {
                    pipeline_id: Some(pid.clone()),
                    pipeline_version_id: r.pipeline_version_id.clone(),
                }),
            ),
            None => (
                r.pipeline_spec
                    .as_ref()
                    .map(|s| spec_with_platform(s, r.platform_spec.as_ref())),
                None,
            ),
        };
        RecurringRun {
            recurring_run_id: Some(r.recurring_run_id.clone()),
            display_name: Some(r.display_name.clone()),
            description: non_empty(&r.description),
            pipeline_version_id: None,
            pipeline_spec,
            pipeline_version_reference: reference,
            runtime_config: Some(RuntimeConfig {
                parameters: (!r.parameters.is_empty()).then(|| r.parameters.clone()),
                pipeline_root: r.pipeline_root.clone(),
            }),
            service_account: non_empty(&r.service_account),
            max_concurrency: Some(Int64(r.max_concurrency)),
            trigger: serde_json::from_value::<Trigger>(r.trigger.clone())
                .ok()
                .map(|mut t| {
                    // The zone cron fields are read in is always named (UTC unless given).
                    if let Some(c) = t.cron_schedule.as_mut() {
                        c.time_zone.get_or_insert_with(|| "UTC".to_string());
                    }
                    t
                }),
            mode: Some(json!(if r.enabled { "ENABLE" } else { "DISABLE" })),
            created_at: Some(time(r.created_at)),
            updated_at: Some(time(r.updated_at)),
            status: Some(json!(if r.enabled { "ENABLED" } else { "DISABLED" })),
            error: r.last_error.as_deref().map(Status::unknown),
            no_catchup: Some(r.no_catchup),
            namespace: non_empty(&r.namespace),
            experiment_id: Some(r.experiment_id.clone()),
        }
    }
}

/// `ListRecurringRunsResponse`; note the camelCase `recurringRuns` key, as in KFP's proto.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ListRecurringRunsResponse {
    /// The page.
    #[serde(rename = "recurringRuns", skip_serializing_if = "Vec::is_empty")]
    pub recurring_runs: Vec<RecurringRun>,
    /// Matching rows in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_size: i32,
    /// Token of the next page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
}

/// Reads a protobuf enum given by name or number against its names (index = number).
pub fn enum_value(field: &str, value: &Value, names: &[&str]) -> ApiResult<usize> {
    match value {
        Value::String(s) => names.iter().position(|n| n == s).ok_or_else(|| {
            ApiError::invalid(format!(
                "{field}: unknown value \"{s}\"; expected one of {}",
                names.join(", ")
            ))
        }),
        Value::Number(n) => n
            .as_u64()
            .map(|i| i as usize)
            .filter(|i| *i < names.len())
            .ok_or_else(|| ApiError::invalid(format!("{field}: unknown enum number {n}"))),
        other => Err(ApiError::invalid(format!(
            "{field}: expected an enum name, found {other}"
        ))),
    }
}

/// Parses an RFC 3339 time from a request field.
pub fn parse_time(field: &str, text: &str) -> ApiResult<Timestamp> {
    text.parse::<Timestamp>().map_err(|e| {
        ApiError::invalid(format!("{field}: \"{text}\" is not an RFC 3339 time ({e})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_come_from_the_spec_by_path() {
        let spec = json!({
            "root": {"dag": {"tasks": {
                "for-loop-2": {"taskInfo": {"name": "for-loop-2"}, "componentRef": {"name": "comp-for-loop-2"}},
                "report-2": {"taskInfo": {"name": "send the report"}, "componentRef": {"name": "comp-report"}},
                "unnamed": {"componentRef": {"name": "comp-report"}}
            }}},
            "components": {
                "comp-report": {"executorLabel": "exec-report"},
                "comp-for-loop-2": {"dag": {"tasks": {
                    "train": {"taskInfo": {"name": "train the model"}, "componentRef": {"name": "comp-report"}}
                }}}
            }
        });
        assert_eq!(
            spec_task_name(&spec, "report-2").as_deref(),
            Some("send the report")
        );
        assert_eq!(
            spec_task_name(&spec, "for-loop-2[3]/train").as_deref(),
            Some("train the model")
        );
        assert_eq!(
            spec_task_name(&spec, "for-loop-2[3]").as_deref(),
            Some("for-loop-2")
        );
        assert_eq!(spec_task_name(&spec, "unnamed"), None);
        assert_eq!(spec_task_name(&spec, "report-2/deeper"), None);
        assert_eq!(spec_task_name(&spec, "missing"), None);
        assert_eq!(spec_task_name(&Value::Null, "report-2"), None);
    }

    #[test]
    fn int64_reads_numbers_and_strings_and_writes_strings() {
        let a: Int64 = serde_json::from_str("3600").unwrap();
        let b: Int64 = serde_json::from_str("\"3600\"").unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"3600\"");
        assert!(serde_json::from_str::<Int64>("\"x\"").is_err());
        assert!(serde_json::from_str::<Int64>("1.5").is_err());
    }

    #[test]
    fn unknown_request_fields_are_rejected_with_their_name() {
        let err = parse_body::<Experiment>("experiment", br#"{"display_name":"a","colour":1}"#)
            .unwrap_err();
        assert!(err.message.contains("colour"), "{}", err.message);
        let ok: Experiment =
            parse_body("experiment", br#"{"displayName":"a","namespace":""}"#).unwrap();
        assert_eq!(ok.display_name.as_deref(), Some("a"));
    }

    #[test]
    fn recurring_runs_list_uses_the_camel_case_key_and_omits_empty_fields() {
        let empty = serde_json::to_value(ListRecurringRunsResponse::default()).unwrap();
        assert_eq!(empty, json!({}));
        let one = ListRecurringRunsResponse {
            recurring_runs: vec![RecurringRun::default()],
            total_size: 1,
            next_page_token: String::new(),
        };
        let v = serde_json::to_value(one).unwrap();
        assert!(v.get("recurringRuns").is_some());
        assert_eq!(v["total_size"], json!(1));
    }

    #[test]
    fn enums_are_read_by_name_or_number() {
        let names = ["MODE_UNSPECIFIED", "ENABLE", "DISABLE"];
        assert_eq!(enum_value("mode", &json!("DISABLE"), &names).unwrap(), 2);
        assert_eq!(enum_value("mode", &json!(1), &names).unwrap(), 1);
        assert!(enum_value("mode", &json!("ON"), &names)
            .unwrap_err()
            .message
            .contains("ENABLE"));
    }
}
