//! KFP's v1beta1 API as `kfp==1.8`'s `kfp.Client` (and its `kfp_server_api`) uses it:
//! healthz; experiments (create, get, list, archive, unarchive, delete); pipelines (upload,
//! get, list, delete, templates) and pipeline versions (upload, get, list, delete,
//! templates); runs (create from a workflow manifest or a stored pipeline, get with an
//! Argo-style `workflow_manifest` and the run's `metrics`, list, terminate, retry, archive,
//! unarchive, delete, `:reportMetrics`); jobs (recurring runs: create, get, list, enable,
//! disable, delete). Everything maps onto the same store, supervisor and scheduler as
//! v2beta1, so v1 and v2 runs share experiments, lists and metrics. These routes are not in
//! the OpenAPI document.

use super::experiments::{new_experiment, visible_experiment};
use super::pipelines::{parse_pipeline_bytes, visible_pipeline};
use super::runs::{resolve_source, run_experiment, typed_parameters, visible_run};
use super::ApiState;
use crate::access::{namespace_scope, Principal};
use crate::error::{ApiError, ApiResult};
use crate::limits::{check_name, check_text};
use crate::listing::list_request;
use crate::wire::{parse_body, PipelineVersionReference};
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::Json;
use jiff::Timestamp;
use penstock_engine::{RunRecord, RunState, TaskState};
use penstock_store::list::Entity;
use penstock_store::{
    ExperimentRow, PipelineRow, PipelineVersionRow, RecurringRunRow, RunMeta, ScalarRow,
    StorageState,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// `ApiResourceKey`.
#[derive(Debug, Default, Deserialize)]
pub struct ResourceKey {
    /// `EXPERIMENT`, `PIPELINE`, `PIPELINE_VERSION`, `NAMESPACE`, `JOB`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The referenced object's id.
    #[serde(default)]
    pub id: Option<String>,
}

/// `ApiResourceReference`.
#[derive(Debug, Default, Deserialize)]
pub struct ResourceReference {
    /// What is referenced.
    #[serde(default)]
    pub key: Option<ResourceKey>,
    /// Its name (ignored).
    #[serde(default)]
    pub name: Option<String>,
    /// `OWNER` or `CREATOR` (ignored).
    #[serde(default)]
    pub relationship: Option<String>,
}

/// `ApiExperiment` as sent to create one.
#[derive(Debug, Default, Deserialize)]
pub struct NewExperiment {
    /// Name (required).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// A `NAMESPACE` reference, in multi-user deployments.
    #[serde(default)]
    pub resource_references: Option<Vec<ResourceReference>>,
}

/// `ApiParameter`.
#[derive(Debug, Default, Deserialize)]
pub struct Parameter {
    /// The workflow parameter's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its value, always a string in v1.
    #[serde(default)]
    pub value: Option<String>,
}

/// `ApiPipelineSpec`.
#[derive(Debug, Default, Deserialize)]
pub struct PipelineSpec {
    /// A stored pipeline (its latest version runs unless a `PIPELINE_VERSION` is referenced).
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// Ignored (output only).
    #[serde(default)]
    pub pipeline_name: Option<String>,
    /// The Argo workflow (or a v2 pipeline spec) as a JSON or YAML string.
    #[serde(default)]
    pub workflow_manifest: Option<String>,
    /// Ignored.
    #[serde(default)]
    pub pipeline_manifest: Option<String>,
    /// Run parameters.
    #[serde(default)]
    pub parameters: Option<Vec<Parameter>>,
}

/// `ApiRun` as sent to create one.
#[derive(Debug, Default, Deserialize)]
pub struct NewRun {
    /// Name (required).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// What to run.
    #[serde(default)]
    pub pipeline_spec: Option<PipelineSpec>,
    /// The `EXPERIMENT` owner and optionally a `PIPELINE_VERSION` creator.
    #[serde(default)]
    pub resource_references: Option<Vec<ResourceReference>>,
    /// Service account (recorded).
    #[serde(default)]
    pub service_account: Option<String>,
}

/// `GET /apis/v1beta1/healthz`.
pub async fn healthz(state: State<ApiState>) -> Json<Value> {
    super::healthz(state).await
}

fn storage(s: StorageState) -> &'static str {
    match s {
        StorageState::Available => "STORAGESTATE_AVAILABLE",
        StorageState::Archived => "STORAGESTATE_ARCHIVED",
    }
}

fn experiment_json(e: &ExperimentRow) -> Value {
    let mut refs = vec![];
    if !e.namespace.is_empty() {
        refs.push(
            json!({"key": {"type": "NAMESPACE", "id": e.namespace}, "relationship": "OWNER"}),
        );
    }
    json!({
        "id": e.experiment_id,
        "name": e.display_name,
        "description": e.description,
        "created_at": e.created_at.to_string(),
        "resource_references": refs,
        "storage_state": storage(e.storage_state),
    })
}

/// The id of the first reference of `kind`.
fn reference<'a>(refs: Option<&'a [ResourceReference]>, kind: &str) -> Option<&'a str> {
    refs.unwrap_or_default()
        .iter()
        .filter_map(|r| r.key.as_ref())
        .find(|k| k.kind.as_deref() == Some(kind))
        .and_then(|k| k.id.as_deref())
        .filter(|id| !id.is_empty())
}

/// `POST /apis/v1beta1/experiments`.
pub async fn create_experiment(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let input: NewExperiment = parse_body("experiment", &body)?;
    let name = input
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("experiment.name is required"))?;
    check_name("experiment.name", &name)?;
    let description = input.description.unwrap_or_default();
    check_text("experiment.description", &description)?;
    let namespace = reference(input.resource_references.as_deref(), "NAMESPACE").unwrap_or("");
    let namespace = who.namespace_for_new("experiment", namespace)?;
    let mut row = new_experiment(name, description);
    row.namespace = namespace;
    s.store.insert_experiment(&row).await?;
    Ok(Json(experiment_json(&row)))
}

/// `GET /apis/v1beta1/experiments/{id}`.
pub async fn get_experiment(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(experiment_json(
        &visible_experiment(&s.store, &who, &id).await?,
    )))
}

/// The v1 list query in v2 terms: `resource_reference_key.{type,id}` becomes
/// `experiment_id` or `namespace`.
fn v2_query(mut q: HashMap<String, String>) -> ApiResult<HashMap<String, String>> {
    let kind = q.remove("resource_reference_key.type");
    let id = q.remove("resource_reference_key.id").unwrap_or_default();
    match kind.as_deref() {
        None | Some("") | Some("UNKNOWN_RESOURCE_TYPE") => {}
        Some(_) if id.is_empty() => {}
        Some("EXPERIMENT") => {
            q.insert("experiment_id".into(), id);
        }
        Some("NAMESPACE") => {
            q.insert("namespace".into(), id);
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "resource_reference_key.type: listing by '{other}' is not supported; \
                 expected EXPERIMENT or NAMESPACE (or JOB for runs)"
            )))
        }
    }
    Ok(q)
}

/// `GET /apis/v1beta1/experiments`.
pub async fn list_experiments(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let q = v2_query(q)?;
    let scope = namespace_scope(Entity::Experiments, &who, &q, false)?;
    let req = list_request(Entity::Experiments, &q, scope)?;
    let page = s.store.list_experiments(&req.query).await?;
    Ok(Json(json!({
        "experiments": page.items.iter().map(experiment_json).collect::<Vec<_>>(),
        "total_size": page.total_size,
        "next_page_token": req.next_token(page.next),
    })))
}

/// The pipeline's input parameters with their defaults, as v1 lists them.
fn spec_parameters(spec: &Value) -> Vec<Value> {
    spec.pointer("/root/inputDefinitions/parameters")
        .and_then(Value::as_object)
        .map(|defs| {
            defs.iter()
                .map(|(name, def)| match def.get("defaultValue") {
                    Some(v) => json!({"name": name, "value": parameter_text(v)}),
                    None => json!({"name": name}),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `ApiPipelineVersion`.
fn version_json(v: &PipelineVersionRow) -> Value {
    json!({
        "id": v.pipeline_version_id,
        "name": v.name,
        "created_at": v.created_at.to_string(),
        "description": v.description,
        "code_source_url": v.code_source_url,
        "parameters": spec_parameters(&v.pipeline_spec),
        "resource_references": [{"key": {"type": "PIPELINE", "id": v.pipeline_id},
            "relationship": "OWNER"}],
    })
}

async fn pipeline_json(s: &ApiState, p: &PipelineRow) -> ApiResult<Value> {
    let mut out = json!({
        "id": p.pipeline_id,
        "name": p.name,
        "description": p.description,
        "created_at": p.created_at.to_string(),
    });
    if let Ok(v) = s.store.latest_version(&p.pipeline_id).await {
        out["parameters"] = json!(spec_parameters(&v.pipeline_spec));
        out["default_version"] = version_json(&v);
    }
    Ok(out)
}

/// `POST /apis/v1beta1/pipelines/upload` (multipart `uploadfile`; `name`, `description`).
pub async fn upload_pipeline(
    State(s): State<ApiState>,
    who: Principal,
    q: Query<HashMap<String, String>>,
    form: Multipart,
) -> ApiResult<Json<Value>> {
    let Json(created) = super::pipelines::upload(State(s.clone()), who, q, form).await?;
    let id = created
        .pipeline_id
        .ok_or_else(|| ApiError::internal("the uploaded pipeline has no id"))?;
    let row = s.store.get_pipeline(&id).await?;
    Ok(Json(pipeline_json(&s, &row).await?))
}

/// `GET /apis/v1beta1/pipelines/{id}`.
pub async fn get_pipeline(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = visible_pipeline(&s.store, &who, &id).await?;
    Ok(Json(pipeline_json(&s, &row).await?))
}

/// `GET /apis/v1beta1/pipelines`.
pub async fn list_pipelines(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let q = v2_query(q)?;
    let scope = namespace_scope(Entity::Pipelines, &who, &q, true)?;
    let req = list_request(Entity::Pipelines, &q, scope)?;
    let page = s.store.list_pipelines(&req.query).await?;
    let mut pipelines = Vec::with_capacity(page.items.len());
    for p in &page.items {
        pipelines.push(pipeline_json(&s, p).await?);
    }
    Ok(Json(json!({
        "pipelines": pipelines,
        "total_size": page.total_size,
        "next_page_token": req.next_token(page.next),
    })))
}

/// KFP v1's run status names.
fn run_status(state: RunState) -> &'static str {
    match state {
        RunState::Pending => "Pending",
        RunState::Running => "Running",
        RunState::Succeeded => "Succeeded",
        RunState::Failed | RunState::Canceled => "Failed",
    }
}

fn task_phase(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "Pending",
        TaskState::Running => "Running",
        TaskState::Succeeded | TaskState::Cached => "Succeeded",
        TaskState::Skipped => "Skipped",
        TaskState::Failed | TaskState::Canceled => "Failed",
    }
}

/// A parameter value as v1 shows it: strings bare, everything else as JSON.
fn parameter_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A run's metrics as v1 shows them: one per (step, name), the step by its node id.
fn metrics_json(run_id: &str, scalars: &[ScalarRow]) -> Vec<Value> {
    scalars
        .iter()
        .filter(|m| m.run_id == run_id)
        .map(|m| {
            let mut out = json!({
                "name": m.name,
                "node_id": penstock_engine::task_id(run_id, &m.task_path),
                "number_value": m.value,
            });
            if let Some(f) = &m.format {
                out["format"] = json!(f);
            }
            out
        })
        .collect()
}

fn run_json(run: &RunRecord, meta: &RunMeta, scalars: &[ScalarRow]) -> Value {
    let mut refs = vec![
        json!({"key": {"type": "EXPERIMENT", "id": meta.experiment_id}, "relationship": "OWNER"}),
    ];
    if let Some(v) = &meta.pipeline_version_id {
        refs.push(json!({"key": {"type": "PIPELINE_VERSION", "id": v}, "relationship": "CREATOR"}));
    }
    if let Some(j) = &meta.recurring_run_id {
        refs.push(json!({"key": {"type": "JOB", "id": j}, "relationship": "CREATOR"}));
    }
    let parameters: Vec<Value> = run
        .parameters
        .iter()
        .map(|(k, v)| json!({"name": k, "value": parameter_text(v)}))
        .collect();
    let mut spec = json!({"parameters": parameters, "pipeline_name": run.pipeline_name});
    if let Some(p) = &meta.pipeline_id {
        spec["pipeline_id"] = json!(p);
    }
    let mut out = json!({
        "id": run.run_id,
        "name": run.display_name,
        "description": meta.description,
        "storage_state": storage(meta.storage_state),
        "service_account": meta.service_account,
        "pipeline_spec": spec,
        "resource_references": refs,
        "created_at": run.created_at.to_string(),
        "scheduled_at": meta.scheduled_at.unwrap_or(run.created_at).to_string(),
        "status": run_status(run.state),
        "error": run.error.clone().unwrap_or_default(),
        "metrics": metrics_json(&run.run_id, scalars),
    });
    if let Some(f) = run.finished_at {
        out["finished_at"] = json!(f.to_string());
    }
    out
}

/// The pipeline of a v1 run or job: `pipeline_spec.workflow_manifest`, or
/// `pipeline_spec.pipeline_id` and/or a `PIPELINE_VERSION` reference (`what` names the object
/// in errors).
async fn v1_source(
    s: &ApiState,
    who: &Principal,
    what: &str,
    spec: &PipelineSpec,
    refs: Option<&[ResourceReference]>,
) -> ApiResult<super::runs::PipelineSource> {
    let manifest = spec.workflow_manifest.as_deref().filter(|m| !m.is_empty());
    let pipeline_id = spec.pipeline_id.as_deref().filter(|p| !p.is_empty());
    let version_id = reference(refs, "PIPELINE_VERSION");
    match (manifest, pipeline_id, version_id) {
        (Some(m), None, None) => Ok(super::runs::PipelineSource {
            pipeline: parse_pipeline_bytes(
                &format!("{what}.pipeline_spec.workflow_manifest"),
                m.as_bytes(),
                &s.spec_limits,
            )?,
            pipeline_id: None,
            pipeline_version_id: None,
        }),
        (Some(_), _, _) => Err(ApiError::invalid(format!(
            "{what}.pipeline_spec: set only one of workflow_manifest and pipeline_id \
             (or a PIPELINE_VERSION resource reference)"
        ))),
        (None, Some(p), v) => {
            let r = PipelineVersionReference {
                pipeline_id: Some(p.to_string()),
                pipeline_version_id: v.map(str::to_string),
            };
            resolve_source(&s.store, who, &s.spec_limits, what, None, Some(&r), None).await
        }
        (None, None, Some(v)) => {
            resolve_source(&s.store, who, &s.spec_limits, what, None, None, Some(v)).await
        }
        (None, None, None) => Err(ApiError::invalid(format!(
            "{what}.pipeline_spec: a pipeline is required: set workflow_manifest or pipeline_id"
        ))),
    }
}

/// v1's `[{name, value}]` parameters in v2 terms: every value is a string in v1; a typed (v2)
/// input gets it parsed as JSON.
fn v1_parameters(
    what: &str,
    pipeline: &penstock_spec::Pipeline,
    parameters: Option<Vec<Parameter>>,
) -> ApiResult<Map<String, Value>> {
    let defs = &pipeline.spec.root.input_definitions.parameters;
    let mut given = Map::new();
    for (i, p) in parameters.unwrap_or_default().into_iter().enumerate() {
        let pname = p.name.filter(|n| !n.is_empty()).ok_or_else(|| {
            ApiError::invalid(format!(
                "{what}.pipeline_spec.parameters[{i}].name is required"
            ))
        })?;
        let text = p.value.unwrap_or_default();
        let typed = match defs.get(&pname) {
            Some(def)
                if def.parameter_type.effective(def.legacy_type.as_deref())
                    != penstock_spec::ParameterType::String =>
            {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            _ => Value::String(text),
        };
        given.insert(pname, typed);
    }
    Ok(given)
}

/// `POST /apis/v1beta1/runs`: from `pipeline_spec.workflow_manifest`, or from
/// `pipeline_spec.pipeline_id` and/or a `PIPELINE_VERSION` reference.
pub async fn create_run(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let input: NewRun = parse_body("run", &body)?;
    let name = input
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("run.name is required"))?;
    check_name("run.name", &name)?;
    let description = input.description.clone().unwrap_or_default();
    check_text("run.description", &description)?;
    let refs = input.resource_references.as_deref();
    let experiment = run_experiment(
        &s.store,
        &who,
        "run.resource_references[EXPERIMENT]",
        reference(refs, "EXPERIMENT"),
    )
    .await?;
    let spec = input.pipeline_spec.unwrap_or_default();
    let source = v1_source(&s, &who, "run", &spec, refs).await?;
    let given = v1_parameters("run", &source.pipeline, spec.parameters)?;
    let parameters = typed_parameters("run", &source.pipeline, Some(&given))?;
    let (record, meta) = super::runs::start_run(
        &s,
        super::runs::NewRunRequest {
            display_name: name,
            description,
            experiment_id: experiment.experiment_id,
            namespace: experiment.namespace,
            source,
            parameters,
            pipeline_root: None,
            service_account: input.service_account.unwrap_or_default(),
        },
    )
    .await?;
    Ok(Json(json!({
        "run": run_json(&record, &meta, &[]),
        "pipeline_runtime": {"workflow_manifest": workflow_manifest(&record, &[])?},
    })))
}

/// An Argo-style workflow carrying the run's phase and one node per task, as a JSON string.
fn workflow_manifest(run: &RunRecord, tasks: &[penstock_engine::TaskRecord]) -> ApiResult<String> {
    let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
    let nodes: Map<String, Value> = tasks
        .iter()
        .take(super::runs::MAX_TASK_DETAILS)
        .map(|t| {
            (
                t.task_id.clone(),
                json!({
                    "id": t.task_id,
                    "name": t.path,
                    "displayName": t.name,
                    "type": "Pod",
                    "phase": task_phase(t.state),
                    "startedAt": time(t.started_at),
                    "finishedAt": time(t.finished_at),
                    "message": t.error,
                }),
            )
        })
        .collect();
    let doc = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": run.run_id, "creationTimestamp": run.created_at.to_string()},
        "status": {
            "phase": run_status(run.state),
            "startedAt": time(run.started_at),
            "finishedAt": time(run.finished_at),
            "message": run.error,
            "nodes": nodes,
        },
    });
    serde_json::to_string(&doc).map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET /apis/v1beta1/runs/{id}`: the run and its Argo-style workflow status.
pub async fn get_run(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (run, meta) = visible_run(&s, &who, &id).await?;
    let tasks = s.store.list_tasks(&id).await?;
    let scalars = s.store.scalar_rows(std::slice::from_ref(&id)).await?;
    Ok(Json(json!({
        "run": run_json(&run, &meta, &scalars),
        "pipeline_runtime": {"workflow_manifest": workflow_manifest(&run, &tasks)?},
    })))
}

/// `GET /apis/v1beta1/runs` (`resource_reference_key` scopes it to an experiment, a namespace
/// or a job's runs).
pub async fn list_runs(
    State(s): State<ApiState>,
    who: Principal,
    Query(mut q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let job = match q.get("resource_reference_key.type").map(String::as_str) {
        Some("JOB") => {
            q.remove("resource_reference_key.type");
            q.remove("resource_reference_key.id")
                .filter(|j| !j.is_empty())
        }
        _ => None,
    };
    let q = v2_query(q)?;
    let mut scope = super::runs::experiment_scope(Entity::Runs, &q)?;
    if let Some(job) = job {
        scope.push(penstock_store::list::Predicate {
            field: Entity::Runs
                .field("recurring_run_id")
                .ok_or_else(|| ApiError::internal("no recurring_run_id field"))?,
            op: penstock_store::list::Operation::Equals,
            values: vec![penstock_store::list::FieldValue::Text(job)],
        });
    }
    scope.extend(namespace_scope(Entity::Runs, &who, &q, false)?);
    let req = list_request(Entity::Runs, &q, scope)?;
    let page = s.store.list_runs_page(&req.query).await?;
    let ids: Vec<String> = page.items.iter().map(|(r, _)| r.run_id.clone()).collect();
    let scalars = s.store.scalar_rows(&ids).await?;
    Ok(Json(json!({
        "runs": page.items.iter().map(|(r, m)| run_json(r, m, &scalars)).collect::<Vec<_>>(),
        "total_size": page.total_size,
        "next_page_token": req.next_token(page.next),
    })))
}

/// `POST /apis/v1beta1/runs/{id}/terminate`.
pub async fn terminate_run(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    visible_run(&s, &who, &id).await?;
    s.supervisor.terminate(&id).await?;
    Ok(Json(json!({})))
}

/// `POST /apis/v1beta1/runs/{id}/retry`: reruns a failed or cancelled run's unfinished steps.
pub async fn retry_run(
    state: State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    super::runs::action(state, who, Path(format!("{id}:retry"))).await
}

/// `POST /apis/v1beta1/runs/{id}:archive`, `:unarchive` and `:reportMetrics`.
pub async fn run_action(
    State(s): State<ApiState>,
    who: Principal,
    Path(target): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (id, verb) = super::split_action(&target)?;
    match verb {
        "reportMetrics" => report_metrics(&s, &who, id, &body).await,
        "archive" | "unarchive" => super::runs::action(State(s), who, Path(target)).await,
        other => Err(ApiError::not_found(format!(
            "unknown run action ':{other}'; expected :archive, :unarchive or :reportMetrics"
        ))),
    }
}

/// `ReportRunMetricsRequest`.
#[derive(Debug, Default, Deserialize)]
pub struct ReportMetricsRequest {
    /// The run (optional; the path names it).
    #[serde(default)]
    pub run_id: Option<String>,
    /// The metrics, each `{name, node_id, number_value, format}`; each is judged on its own.
    #[serde(default)]
    pub metrics: Option<Vec<Value>>,
}

/// The most metrics one report may carry.
pub const MAX_REPORTED_METRICS: usize = 1_000;

/// One reported metric checked against the run's steps: the row to record, or why not.
fn reported_metric(
    run_id: &str,
    tasks: &[penstock_engine::TaskRecord],
    m: &Value,
) -> Result<ScalarRow, String> {
    let name = m
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("name is required")?;
    if !penstock_engine::v1_metrics::valid_name(name) {
        return Err(format!(
            "name '{name}' must be lower-case letters, digits and '-', starting with a letter \
             and at most 64 characters"
        ));
    }
    let node = m
        .get("node_id")
        .or_else(|| m.get("nodeId"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("node_id is required")?;
    let task = tasks
        .iter()
        .find(|t| t.task_id == node || t.path == node)
        .ok_or_else(|| format!("node_id '{node}' is not a step of run {run_id}"))?;
    let value = m
        .get("number_value")
        .or_else(|| m.get("numberValue"))
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
        .ok_or("number_value is required and must be a finite number")?;
    let formats = penstock_engine::v1_metrics::FORMATS;
    let format = match m.get("format") {
        None | Some(Value::Null) => None,
        Some(f) => match crate::wire::enum_value("format", f, &formats) {
            Ok(0) => None,
            Ok(i) => Some(formats[i].to_string()),
            Err(e) => return Err(e.message),
        },
    };
    Ok(ScalarRow {
        run_id: run_id.to_string(),
        task_path: task.path.clone(),
        name: name.to_string(),
        value,
        format,
    })
}

/// Records reported metrics; each gets its own result (`OK`, `INVALID_ARGUMENT` with the
/// field, or `DUPLICATE_REPORTING` when that step already has a metric of that name), as in
/// KFP. A body that is not a report, or names another run, is a 400.
async fn report_metrics(
    s: &ApiState,
    who: &Principal,
    id: &str,
    body: &[u8],
) -> ApiResult<Json<Value>> {
    visible_run(s, who, id).await?;
    let input: ReportMetricsRequest = parse_body("report_metrics", body)?;
    if let Some(other) = input
        .run_id
        .as_deref()
        .filter(|r| !r.is_empty() && *r != id)
    {
        return Err(ApiError::invalid(format!(
            "report_metrics.run_id '{other}' is not the run in the path ('{id}')"
        )));
    }
    let metrics = input.metrics.unwrap_or_default();
    if metrics.len() > MAX_REPORTED_METRICS {
        return Err(ApiError::invalid(format!(
            "report_metrics.metrics: {} metrics; at most {MAX_REPORTED_METRICS} per report",
            metrics.len()
        )));
    }
    let tasks = s.store.list_tasks(id).await?;
    let checked: Vec<Result<ScalarRow, String>> = metrics
        .iter()
        .map(|m| reported_metric(id, &tasks, m))
        .collect();
    let rows: Vec<ScalarRow> = checked.iter().filter_map(|c| c.clone().ok()).collect();
    let mut recorded = s.store.report_scalars(&rows).await?.into_iter();
    let results: Vec<Value> = metrics
        .iter()
        .zip(&checked)
        .map(|(m, c)| {
            let mut out = json!({
                "metric_name": m.get("name").cloned().unwrap_or(Value::Null),
                "metric_node_id": m.get("node_id").cloned().unwrap_or(Value::Null),
            });
            let (status, message) = match c {
                Err(e) => ("INVALID_ARGUMENT", e.clone()),
                Ok(_) if recorded.next() == Some(true) => ("OK", String::new()),
                Ok(r) => (
                    "DUPLICATE_REPORTING",
                    format!("step {} already reported metric '{}'", r.task_path, r.name),
                ),
            };
            out["status"] = json!(status);
            if !message.is_empty() {
                out["message"] = json!(message);
            }
            out
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

/// `DELETE /apis/v1beta1/pipelines/{id}`: the pipeline and all its versions, as in KFP v1.
pub async fn delete_pipeline(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    visible_pipeline(&s.store, &who, &id).await?;
    s.store.delete_pipeline(&id, true).await?;
    Ok(Json(json!({})))
}

/// `{template}`: the version's pipeline as stored (the v2 IR a v1 workflow was mapped to, with
/// its platform spec), as JSON text.
fn template_json(v: &PipelineVersionRow) -> ApiResult<Json<Value>> {
    let text = serde_json::to_string_pretty(&super::pipelines::version_source(v))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({ "template": text })))
}

/// `GET /apis/v1beta1/pipelines/{id}/templates`: the default (latest) version's template.
pub async fn pipeline_template(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    visible_pipeline(&s.store, &who, &id).await?;
    template_json(&s.store.latest_version(&id).await?)
}

/// The version, if the caller can see its pipeline (else the same 404 as a missing one).
async fn visible_version(s: &ApiState, who: &Principal, id: &str) -> ApiResult<PipelineVersionRow> {
    let v = s.store.get_version(None, id).await?;
    visible_pipeline(&s.store, who, &v.pipeline_id)
        .await
        .map_err(|_| ApiError::not_found(format!("pipeline version '{id}' not found")))?;
    Ok(v)
}

/// `POST /apis/v1beta1/pipelines/upload_version` (multipart `uploadfile`; `name`,
/// `pipelineid`, `description`).
pub async fn upload_version(
    State(s): State<ApiState>,
    who: Principal,
    q: Query<HashMap<String, String>>,
    form: Multipart,
) -> ApiResult<Json<Value>> {
    let Json(created) = super::pipelines::upload_version(State(s.clone()), who, q, form).await?;
    let id = created
        .pipeline_version_id
        .ok_or_else(|| ApiError::internal("the uploaded version has no id"))?;
    Ok(Json(version_json(&s.store.get_version(None, &id).await?)))
}

/// `GET /apis/v1beta1/pipeline_versions?resource_key.type=PIPELINE&resource_key.id=…`.
pub async fn list_versions(
    State(s): State<ApiState>,
    who: Principal,
    Query(mut q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let kind = q.remove("resource_key.type").unwrap_or_default();
    let id = q.remove("resource_key.id").unwrap_or_default();
    if !matches!(kind.as_str(), "" | "PIPELINE") {
        return Err(ApiError::invalid(format!(
            "resource_key.type: versions are listed by PIPELINE, found '{kind}'"
        )));
    }
    if id.is_empty() {
        return Err(ApiError::invalid(
            "resource_key.id is required: the pipeline whose versions to list",
        ));
    }
    let (page, req) = super::pipelines::version_page(&s, &who, id, &q).await?;
    Ok(Json(json!({
        "versions": page.items.iter().map(version_json).collect::<Vec<_>>(),
        "total_size": page.total_size,
        "next_page_token": req.next_token(page.next),
    })))
}

/// `GET /apis/v1beta1/pipeline_versions/{id}`.
pub async fn get_version(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(version_json(&visible_version(&s, &who, &id).await?)))
}

/// `DELETE /apis/v1beta1/pipeline_versions/{id}`.
pub async fn delete_version(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = visible_version(&s, &who, &id).await?;
    s.store.delete_version(&v.pipeline_id, &id).await?;
    Ok(Json(json!({})))
}

/// `GET /apis/v1beta1/pipeline_versions/{id}/templates`.
pub async fn version_template(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    template_json(&visible_version(&s, &who, &id).await?)
}

/// `ApiJob` as sent to create one.
#[derive(Debug, Default, Deserialize)]
pub struct NewJob {
    /// Name (required).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// What each run runs.
    #[serde(default)]
    pub pipeline_spec: Option<PipelineSpec>,
    /// The `EXPERIMENT` owner and optionally a `PIPELINE_VERSION` creator.
    #[serde(default)]
    pub resource_references: Option<Vec<ResourceReference>>,
    /// Service account (recorded).
    #[serde(default)]
    pub service_account: Option<String>,
    /// How many of its runs may be active at once (1–10).
    #[serde(default)]
    pub max_concurrency: Option<crate::wire::Int64>,
    /// When it fires: `cron_schedule` or `periodic_schedule`.
    #[serde(default)]
    pub trigger: Option<crate::wire::Trigger>,
    /// Whether it fires (absent: disabled, as in KFP v1).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Only the latest missed tick after downtime.
    #[serde(default)]
    pub no_catchup: Option<bool>,
    /// Deprecated in KFP v1 (`enabled` decides); ignored.
    #[serde(default)]
    pub mode: Option<Value>,
}

/// A v2 recurring-run error in v1 terms (`job.name`, `job.…`).
fn job_error(mut e: ApiError) -> ApiError {
    e.message = e
        .message
        .replace("recurring_run.display_name", "job.name")
        .replace("recurring_run", "job");
    e
}

/// `POST /apis/v1beta1/jobs`: a recurring run, recorded and fired by the same scheduler as
/// v2beta1's.
pub async fn create_job(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let input: NewJob = parse_body("job", &body)?;
    let name = input
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("job.name is required"))?;
    let refs = input.resource_references.as_deref();
    let spec = input.pipeline_spec.unwrap_or_default();
    let source = v1_source(&s, &who, "job", &spec, refs).await?;
    let given = v1_parameters("job", &source.pipeline, spec.parameters)?;
    let request = crate::wire::RecurringRun {
        display_name: Some(name),
        description: input.description,
        experiment_id: reference(refs, "EXPERIMENT").map(str::to_string),
        pipeline_version_id: reference(refs, "PIPELINE_VERSION").map(str::to_string),
        runtime_config: Some(crate::wire::RuntimeConfig {
            parameters: Some(given),
            pipeline_root: None,
        }),
        service_account: input.service_account,
        max_concurrency: input.max_concurrency,
        trigger: input.trigger,
        mode: Some(json!(if input.enabled.unwrap_or(false) {
            "ENABLE"
        } else {
            "DISABLE"
        })),
        no_catchup: input.no_catchup,
        ..Default::default()
    };
    let row = super::recurring_runs::create_recurring_run_from(
        &s.store,
        &who,
        &s.spec_limits,
        &request,
        Some(source),
    )
    .await
    .map_err(job_error)?;
    s.recurring_changed.notify_waiters();
    Ok(Json(job_json(&row)))
}

/// `ApiJob`.
fn job_json(r: &RecurringRunRow) -> Value {
    let mut refs = vec![
        json!({"key": {"type": "EXPERIMENT", "id": r.experiment_id}, "relationship": "OWNER"}),
    ];
    if let Some(v) = &r.pipeline_version_id {
        refs.push(json!({"key": {"type": "PIPELINE_VERSION", "id": v}, "relationship": "CREATOR"}));
    }
    let parameters: Vec<Value> = r
        .parameters
        .iter()
        .map(|(k, v)| json!({"name": k, "value": parameter_text(v)}))
        .collect();
    let mut spec = json!({ "parameters": parameters });
    if let Some(p) = &r.pipeline_id {
        spec["pipeline_id"] = json!(p);
    }
    if let Some(inline) = &r.pipeline_spec {
        let source = crate::wire::spec_with_platform(inline, r.platform_spec.as_ref());
        spec["pipeline_manifest"] = json!(source.to_string());
    }
    json!({
        "id": r.recurring_run_id,
        "name": r.display_name,
        "description": r.description,
        "pipeline_spec": spec,
        "resource_references": refs,
        "service_account": r.service_account,
        "max_concurrency": r.max_concurrency.to_string(),
        "trigger": r.trigger,
        "mode": if r.enabled { "ENABLED" } else { "DISABLED" },
        "created_at": r.created_at.to_string(),
        "updated_at": r.updated_at.to_string(),
        "status": if r.enabled { "Enabled" } else { "Disabled" },
        "error": r.last_error.clone().unwrap_or_default(),
        "enabled": r.enabled,
        "no_catchup": r.no_catchup,
    })
}

/// `GET /apis/v1beta1/jobs/{id}`.
pub async fn get_job(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = super::recurring_runs::visible_recurring_run(&s.store, &who, &id).await?;
    Ok(Json(job_json(&row)))
}

/// `GET /apis/v1beta1/jobs` (`resource_reference_key` scopes it to an experiment).
pub async fn list_jobs(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let q = v2_query(q)?;
    let (page, req) = super::recurring_runs::recurring_run_page(&s, &who, &q).await?;
    Ok(Json(json!({
        "jobs": page.items.iter().map(job_json).collect::<Vec<_>>(),
        "total_size": page.total_size,
        "next_page_token": req.next_token(page.next),
    })))
}

/// `POST /apis/v1beta1/jobs/{id}/enable`.
pub async fn enable_job(
    state: State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    super::recurring_runs::action(state, who, Path(format!("{id}:enable"))).await
}

/// `POST /apis/v1beta1/jobs/{id}/disable`.
pub async fn disable_job(
    state: State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    super::recurring_runs::action(state, who, Path(format!("{id}:disable"))).await
}

/// KFP's v1beta1 routes (`kfp==1.8`'s client); not in the OpenAPI document. Where v1 and v2
/// mean the same (archive, delete, enable), the v2beta1 handler serves both.
pub fn routes() -> axum::Router<ApiState> {
    use super::{experiments as e, recurring_runs as rr, runs};
    use axum::routing::{get, post};
    let v1 = "/apis/v1beta1";
    axum::Router::new()
        .route(&format!("{v1}/healthz"), get(healthz))
        .route(
            &format!("{v1}/experiments"),
            get(list_experiments).post(create_experiment),
        )
        .route(
            &format!("{v1}/experiments/{{id}}"),
            get(get_experiment).delete(e::delete).post(e::action),
        )
        .route(&format!("{v1}/pipelines"), get(list_pipelines))
        .route(&format!("{v1}/pipelines/upload"), post(upload_pipeline))
        .route(
            &format!("{v1}/pipelines/upload_version"),
            post(upload_version),
        )
        .route(
            &format!("{v1}/pipelines/{{id}}"),
            get(get_pipeline).delete(delete_pipeline),
        )
        .route(
            &format!("{v1}/pipelines/{{id}}/templates"),
            get(pipeline_template),
        )
        .route(&format!("{v1}/pipeline_versions"), get(list_versions))
        .route(
            &format!("{v1}/pipeline_versions/{{id}}"),
            get(get_version).delete(delete_version),
        )
        .route(
            &format!("{v1}/pipeline_versions/{{id}}/templates"),
            get(version_template),
        )
        .route(&format!("{v1}/runs"), get(list_runs).post(create_run))
        .route(
            &format!("{v1}/runs/{{id}}"),
            get(get_run).delete(runs::delete).post(run_action),
        )
        .route(&format!("{v1}/runs/{{id}}/terminate"), post(terminate_run))
        .route(&format!("{v1}/runs/{{id}}/retry"), post(retry_run))
        .route(&format!("{v1}/jobs"), get(list_jobs).post(create_job))
        .route(
            &format!("{v1}/jobs/{{id}}"),
            get(get_job).delete(rr::delete),
        )
        .route(&format!("{v1}/jobs/{{id}}/enable"), post(enable_job))
        .route(&format!("{v1}/jobs/{{id}}/disable"), post(disable_job))
}
