//! `RunService`: create (inline spec in both shapes, or a stored version), get with task
//! details, list, terminate, retry, archive, unarchive, delete.

use super::experiments::visible_experiment;
use super::pipelines::{parse_pipeline_value, version_source, visible_pipeline};
use super::{list_params, ApiState};
use crate::access::{namespace_scope, Principal};
use crate::error::{ApiError, ApiResult};
use crate::limits::{check_name, check_text};
use crate::listing::list_request;
use crate::wire::{parse_body, run_message, ListRunsResponse, PipelineVersionReference, Run};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use penstock_engine::params::{check_no_required_input_artifacts, resolve_run_parameters};
use penstock_engine::ParameterMap;
use penstock_spec::Pipeline;
use penstock_store::list::{Entity, FieldValue, Operation, Predicate};
use penstock_store::{RunMeta, SqliteStore, StorageState};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a run's pipeline came from.
pub struct PipelineSource {
    /// The parsed, validated pipeline.
    pub pipeline: Pipeline,
    /// The stored pipeline, when referenced.
    pub pipeline_id: Option<String>,
    /// The stored version (resolved; "latest" is looked up).
    pub pipeline_version_id: Option<String>,
}

/// Resolves the pipeline of a run or recurring run: exactly one of an inline spec, a
/// version reference (no version id = the latest version), or the deprecated version id.
pub async fn resolve_source(
    store: &SqliteStore,
    who: &Principal,
    limits: &penstock_spec::Limits,
    what: &str,
    spec: Option<&Value>,
    reference: Option<&PipelineVersionReference>,
    deprecated_version_id: Option<&str>,
) -> ApiResult<PipelineSource> {
    let deprecated = deprecated_version_id.filter(|v| !v.is_empty());
    match (spec, reference, deprecated) {
        (Some(spec), None, None) => Ok(PipelineSource {
            pipeline: parse_pipeline_value(&format!("{what}.pipeline_spec"), spec, limits)?,
            pipeline_id: None,
            pipeline_version_id: None,
        }),
        (None, Some(r), None) => {
            let pipeline_id = r
                .pipeline_id
                .as_deref()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{what}.pipeline_version_reference.pipeline_id is required"
                    ))
                })?;
            visible_pipeline(store, who, pipeline_id).await?;
            let version = match r.pipeline_version_id.as_deref().filter(|v| !v.is_empty()) {
                Some(v) => store.get_version(Some(pipeline_id), v).await?,
                None => store.latest_version(pipeline_id).await?,
            };
            Ok(PipelineSource {
                pipeline: parse_pipeline_value(
                    &format!("pipeline version {}", version.pipeline_version_id),
                    &version_source(&version),
                    limits,
                )?,
                pipeline_id: Some(version.pipeline_id),
                pipeline_version_id: Some(version.pipeline_version_id),
            })
        }
        (None, None, Some(v)) => {
            let version = store.get_version(None, v).await?;
            visible_pipeline(store, who, &version.pipeline_id)
                .await
                .map_err(|_| ApiError::not_found(format!("pipeline version '{v}' not found")))?;
            Ok(PipelineSource {
                pipeline: parse_pipeline_value(
                    &format!("pipeline version {v}"),
                    &version_source(&version),
                    limits,
                )?,
                pipeline_id: Some(version.pipeline_id),
                pipeline_version_id: Some(version.pipeline_version_id),
            })
        }
        (None, None, None) => Err(ApiError::invalid(format!(
            "{what}: a pipeline is required: set pipeline_spec or pipeline_version_reference"
        ))),
        _ => Err(ApiError::invalid(format!(
            "{what}: set only one of pipeline_spec, pipeline_version_reference and pipeline_version_id"
        ))),
    }
}

/// Checks and types run parameters against the pipeline's inputs.
pub fn typed_parameters(
    what: &str,
    pipeline: &Pipeline,
    given: Option<&Map<String, Value>>,
) -> ApiResult<ParameterMap> {
    check_no_required_input_artifacts(&pipeline.spec.root)
        .map_err(|e| ApiError::invalid(format!("{what}: {e}")))?;
    let given: ParameterMap = given
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    resolve_run_parameters(&pipeline.spec.root, given)
        .map_err(|e| ApiError::invalid(format!("{what}.runtime_config.parameters: {e}")))
}

/// Creates and starts a run.
#[utoipa::path(post, path = "/apis/v2beta1/runs", request_body = Run,
    params(("experiment_id" = Option<String>, Query, description = "deprecated; use the body's")),
    responses((status = 200, body = Run), (status = 400), (status = 404)))]
pub async fn create(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Json<Run>> {
    let input: Run = parse_body("run", &body)?;
    let display_name = input
        .display_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("run.display_name is required"))?;
    check_name("run.display_name", &display_name)?;
    check_text(
        "run.description",
        input.description.as_deref().unwrap_or(""),
    )?;
    let experiment = run_experiment(
        &s.store,
        &who,
        "run",
        input
            .experiment_id
            .as_deref()
            .or_else(|| q.get("experiment_id").map(String::as_str)),
    )
    .await?;
    let experiment_id = experiment.experiment_id;
    let source = resolve_source(
        &s.store,
        &who,
        &s.spec_limits,
        "run",
        input.pipeline_spec.as_ref(),
        input.pipeline_version_reference.as_ref(),
        input.pipeline_version_id.as_deref(),
    )
    .await?;
    let config = input.runtime_config.clone().unwrap_or_default();
    let parameters = typed_parameters("run", &source.pipeline, config.parameters.as_ref())?;
    let (record, meta) = start_run(
        &s,
        NewRunRequest {
            display_name,
            description: input.description.clone().unwrap_or_default(),
            experiment_id,
            namespace: experiment.namespace,
            source,
            parameters,
            pipeline_root: config.pipeline_root.filter(|r| !r.is_empty()),
            service_account: input.service_account.clone().unwrap_or_default(),
        },
    )
    .await?;
    Ok(Json(run_message(&record, &meta, None)))
}

/// A run to create and start, whichever API (v2beta1 or v1beta1) asked for it.
pub struct NewRunRequest {
    /// Its display name.
    pub display_name: String,
    /// Its description.
    pub description: String,
    /// The experiment it goes to.
    pub experiment_id: String,
    /// The experiment's namespace.
    pub namespace: String,
    /// The pipeline it runs.
    pub source: PipelineSource,
    /// Its typed parameters.
    pub parameters: ParameterMap,
    /// A pipeline root other than the default.
    pub pipeline_root: Option<String>,
    /// The service account it runs as (recorded).
    pub service_account: String,
}

/// Records a new run with its bookkeeping and hands it to the supervisor to execute.
pub async fn start_run(
    s: &ApiState,
    request: NewRunRequest,
) -> ApiResult<(penstock_engine::RunRecord, RunMeta)> {
    let record = s.supervisor.engine().prepare_run(
        uuid::Uuid::now_v7().to_string(),
        request.display_name,
        &request.source.pipeline,
        request.parameters,
    );
    let meta = RunMeta {
        experiment_id: request.experiment_id,
        description: request.description,
        storage_state: StorageState::Available,
        namespace: request.namespace,
        pipeline_id: request.source.pipeline_id,
        pipeline_version_id: request.source.pipeline_version_id,
        pipeline_root: request.pipeline_root,
        service_account: request.service_account,
        recurring_run_id: None,
        scheduled_at: Some(record.created_at),
    };
    s.supervisor
        .start(
            record.clone(),
            meta.clone(),
            Arc::new(request.source.pipeline),
        )
        .await?;
    Ok((record, meta))
}

/// The experiment a new run or recurring run goes to: the one named (which the caller must be
/// able to see), or the Default experiment for callers that may use every namespace.
pub async fn run_experiment(
    store: &SqliteStore,
    who: &Principal,
    what: &str,
    requested: Option<&str>,
) -> ApiResult<penstock_store::ExperimentRow> {
    match requested.filter(|e| !e.is_empty()) {
        Some(id) => visible_experiment(store, who, id).await,
        None if who.may_use("") => Ok(store.get_experiment(store.default_experiment_id()).await?),
        None => Err(ApiError::invalid(format!(
            "{what}.experiment_id is required: the Default experiment is outside this token's namespaces"
        ))),
    }
}

/// The run and its bookkeeping, if the caller can see it (else the same 404 as a missing one).
pub async fn visible_run(
    s: &ApiState,
    who: &Principal,
    id: &str,
) -> ApiResult<(penstock_engine::RunRecord, RunMeta)> {
    let (run, meta) = s.store.get_run(id).await?;
    who.check(&meta.namespace, || format!("run '{id}' not found"))?;
    Ok((run, meta))
}

/// The most task details one `GET` of a run carries. A run has at most
/// `max_tasks_per_run` tasks (10,000 by default), and each detail carries its inputs and outputs,
/// so an unbounded answer could be hundreds of megabytes; the rest are paged by
/// `GET /apis/penstock/v1/runs/{run_id}/tasks`.
pub const MAX_TASK_DETAILS: usize = 2_000;

/// Gets a run with its task details (the first [`MAX_TASK_DETAILS`]; when there are more,
/// `run_details.penstock_truncated` says how many and where the rest are).
#[utoipa::path(get, path = "/apis/v2beta1/runs/{run_id}",
    responses((status = 200, body = Run), (status = 404)))]
pub async fn get(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (run, meta) = visible_run(&s, &who, &id).await?;
    let tasks = s.store.list_tasks(&id).await?;
    let shown = &tasks[..tasks.len().min(MAX_TASK_DETAILS)];
    let mut answer = serde_json::to_value(run_message(&run, &meta, Some(shown)))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if shown.len() < tasks.len() {
        answer["run_details"]["penstock_truncated"] = json!({
            "shown": shown.len(),
            "total": tasks.len(),
            "rest": format!("/apis/penstock/v1/runs/{id}/tasks?page_token={}", shown.len()),
        });
    }
    Ok(Json(answer))
}

/// Lists runs (`experiment_id` scopes the list).
#[utoipa::path(get, path = "/apis/v2beta1/runs", params(list_params::ListParams),
    responses((status = 200, body = ListRunsResponse), (status = 400)))]
pub async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<ListRunsResponse>> {
    let mut scope = experiment_scope(Entity::Runs, &q)?;
    scope.extend(namespace_scope(Entity::Runs, &who, &q, false)?);
    let req = list_request(Entity::Runs, &q, scope)?;
    let page = s.store.list_runs_page(&req.query).await?;
    Ok(Json(ListRunsResponse {
        runs: page
            .items
            .iter()
            .map(|(run, meta)| run_message(run, meta, None))
            .collect(),
        total_size: page.total_size as i32,
        next_page_token: req.next_token(page.next),
    }))
}

/// The `experiment_id` query parameter as a list condition.
pub fn experiment_scope(entity: Entity, q: &HashMap<String, String>) -> ApiResult<Vec<Predicate>> {
    match q.get("experiment_id").filter(|e| !e.is_empty()) {
        None => Ok(vec![]),
        Some(id) => Ok(vec![Predicate {
            field: entity
                .field("experiment_id")
                .ok_or_else(|| ApiError::internal("no experiment_id field"))?,
            op: Operation::Equals,
            values: vec![FieldValue::Text(id.clone())],
        }]),
    }
}

/// `POST /runs/{id}:terminate`, `:retry`, `:archive`, `:unarchive`.
#[utoipa::path(post, path = "/apis/v2beta1/runs/{run_id_action}",
    params(("run_id_action" = String, Path,
        description = "`<id>:terminate`, `<id>:retry`, `<id>:archive` or `<id>:unarchive`")),
    responses((status = 200, description = "{}"), (status = 400), (status = 404)))]
pub async fn action(
    State(s): State<ApiState>,
    who: Principal,
    Path(target): Path<String>,
) -> ApiResult<Json<Value>> {
    let (id, verb) = super::split_action(&target)?;
    if !["terminate", "retry", "archive", "unarchive"].contains(&verb) {
        return Err(ApiError::not_found(format!(
            "unknown run action ':{verb}'; expected :terminate, :retry, :archive or :unarchive"
        )));
    }
    visible_run(&s, &who, id).await?;
    match verb {
        "terminate" => s.supervisor.terminate(id).await?,
        "retry" => s.supervisor.retry(id).await?,
        "archive" => s.store.set_run_storage(id, StorageState::Archived).await?,
        _ => s.store.set_run_storage(id, StorageState::Available).await?,
    }
    Ok(Json(json!({})))
}

/// Deletes a run: terminates it if it is running, then removes its records and its folder
/// of artifacts and logs.
#[utoipa::path(delete, path = "/apis/v2beta1/runs/{run_id}",
    responses((status = 200, description = "{}"), (status = 404)))]
pub async fn delete(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    visible_run(&s, &who, &id).await?;
    if s.supervisor.is_active(&id) {
        s.supervisor.terminate(&id).await?;
    }
    s.store.delete_run(&id).await?;
    let folder = s.home.join("runs").join(&id);
    // The id came from the store, so the folder is one of ours; removing it is best effort.
    if folder.starts_with(s.home.join("runs")) && folder.exists() {
        if let Err(e) = tokio::fs::remove_dir_all(&folder).await {
            tracing::warn!(run = %id, "cannot remove {}: {e}", folder.display());
        }
    }
    Ok(Json(json!({})))
}
