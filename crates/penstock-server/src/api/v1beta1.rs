//! The part of KFP's v1beta1 API that `kfp==1.8`'s `kfp.Client` needs: healthz, experiments
//! (create, get, list), pipelines (upload, get, list) and runs (create from a workflow
//! manifest or a stored pipeline, get with an Argo-style `workflow_manifest`, list,
//! terminate). Everything maps onto the same store and supervisor as v2beta1, so v1 and v2
//! runs share experiments and lists. These routes are not in the OpenAPI document.

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
use penstock_store::{ExperimentRow, PipelineRow, RunMeta, StorageState};
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
                 expected EXPERIMENT or NAMESPACE"
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

async fn pipeline_json(s: &ApiState, p: &PipelineRow) -> ApiResult<Value> {
    let mut out = json!({
        "id": p.pipeline_id,
        "name": p.name,
        "description": p.description,
        "created_at": p.created_at.to_string(),
    });
    if let Ok(v) = s.store.latest_version(&p.pipeline_id).await {
        out["default_version"] = json!({
            "id": v.pipeline_version_id,
            "name": v.name,
            "created_at": v.created_at.to_string(),
            "description": v.description,
            "resource_references": [{"key": {"type": "PIPELINE", "id": p.pipeline_id},
                "relationship": "OWNER"}],
        });
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

fn run_json(run: &RunRecord, meta: &RunMeta) -> Value {
    let mut refs = vec![
        json!({"key": {"type": "EXPERIMENT", "id": meta.experiment_id}, "relationship": "OWNER"}),
    ];
    if let Some(v) = &meta.pipeline_version_id {
        refs.push(json!({"key": {"type": "PIPELINE_VERSION", "id": v}, "relationship": "CREATOR"}));
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
    });
    if let Some(f) = run.finished_at {
        out["finished_at"] = json!(f.to_string());
    }
    out
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
    let manifest = spec.workflow_manifest.as_deref().filter(|m| !m.is_empty());
    let pipeline_id = spec.pipeline_id.as_deref().filter(|p| !p.is_empty());
    let version_id = reference(refs, "PIPELINE_VERSION");
    let source =
        match (manifest, pipeline_id, version_id) {
            (Some(m), None, None) => super::runs::PipelineSource {
                pipeline: parse_pipeline_bytes(
                    "run.pipeline_spec.workflow_manifest",
                    m.as_bytes(),
                    &s.spec_limits,
                )?,
                pipeline_id: None,
                pipeline_version_id: None,
            },
            (Some(_), _, _) => {
                return Err(ApiError::invalid(
                    "run.pipeline_spec: set only one of workflow_manifest and pipeline_id \
                 (or a PIPELINE_VERSION resource reference)",
                ))
            }
            (None, Some(p), v) => {
                let r = PipelineVersionReference {
                    pipeline_id: Some(p.to_string()),
                    pipeline_version_id: v.map(str::to_string),
                };
                resolve_source(&s.store, &who, &s.spec_limits, "run", None, Some(&r), None).await?
            }
            (None, None, Some(v)) => {
                resolve_source(&s.store, &who, &s.spec_limits, "run", None, None, Some(v)).await?
            }
            (None, None, None) => return Err(ApiError::invalid(
                "run.pipeline_spec: a pipeline is required: set workflow_manifest or pipeline_id",
            )),
        };
    let defs = &source.pipeline.spec.root.input_definitions.parameters;
    let mut given = Map::new();
    for (i, p) in spec.parameters.unwrap_or_default().into_iter().enumerate() {
        let pname = p.name.filter(|n| !n.is_empty()).ok_or_else(|| {
            ApiError::invalid(format!(
                "run.pipeline_spec.parameters[{i}].name is required"
            ))
        })?;
        let text = p.value.unwrap_or_default();
        // v1 sends every value as a string; a typed (v2) input gets it parsed as JSON.
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
        "run": run_json(&record, &meta),
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
    Ok(Json(json!({
        "run": run_json(&run, &meta),
        "pipeline_runtime": {"workflow_manifest": workflow_manifest(&run, &tasks)?},
    })))
}

/// `GET /apis/v1beta1/runs` (`resource_reference_key` scopes it to an experiment).
pub async fn list_runs(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let q = v2_query(q)?;
    let mut scope = super::runs::experiment_scope(Entity::Runs, &q)?;
    scope.extend(namespace_scope(Entity::Runs, &who, &q, false)?);
    let req = list_request(Entity::Runs, &q, scope)?;
    let page = s.store.list_runs_page(&req.query).await?;
    Ok(Json(json!({
        "runs": page.items.iter().map(|(r, m)| run_json(r, m)).collect::<Vec<_>>(),
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
