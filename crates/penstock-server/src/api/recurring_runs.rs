//! `RecurringRunService`: the records and their API (the scheduler that fires them lives
//! beside it).

use super::runs::{
    experiment_scope, resolve_source, run_experiment, typed_parameters, PipelineSource,
};
use super::{list_params, ApiState};
use crate::access::{namespace_scope, Principal};
use crate::error::{ApiError, ApiResult};
use crate::limits::{check_name, check_text};
use crate::listing::list_request;
use crate::trigger::validate_trigger;
use crate::wire::{enum_value, parse_body, ListRecurringRunsResponse, RecurringRun};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use jiff::Timestamp;
use penstock_store::list::Entity;
use penstock_store::{RecurringRunRow, SqliteStore};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Creates a recurring run.
#[utoipa::path(post, path = "/apis/v2beta1/recurringruns", request_body = RecurringRun,
    responses((status = 200, body = RecurringRun), (status = 400), (status = 404)))]
pub async fn create(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<RecurringRun>> {
    let input: RecurringRun = parse_body("recurring_run", &body)?;
    let row = create_recurring_run(&s.store, &who, &s.spec_limits, &input).await?;
    s.recurring_changed.notify_waiters();
    Ok(Json(RecurringRun::from(&row)))
}

/// Validates and records a recurring run (the API's and the CLI's one way to create one);
/// it belongs to its experiment's namespace, which `who` must be able to use.
pub async fn create_recurring_run(
    store: &SqliteStore,
    who: &Principal,
    limits: &penstock_spec::Limits,
    input: &RecurringRun,
) -> ApiResult<RecurringRunRow> {
    create_recurring_run_from(store, who, limits, input, None).await
}

/// [`create_recurring_run`] with the pipeline already resolved (`source`; `None` resolves
/// `input`'s), for callers that read it from another shape (the v1beta1 jobs API).
pub async fn create_recurring_run_from(
    store: &SqliteStore,
    who: &Principal,
    limits: &penstock_spec::Limits,
    input: &RecurringRun,
    source: Option<PipelineSource>,
) -> ApiResult<RecurringRunRow> {
    let display_name = input
        .display_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("recurring_run.display_name is required"))?;
    check_name("recurring_run.display_name", &display_name)?;
    check_text(
        "recurring_run.description",
        input.description.as_deref().unwrap_or(""),
    )?;
    let max_concurrency = input.max_concurrency.map(|m| m.0).unwrap_or(0);
    if !(1..=10).contains(&max_concurrency) {
        return Err(ApiError::invalid(format!(
            "recurring_run.max_concurrency must be between 1 and 10, found {max_concurrency}"
        )));
    }
    let now = Timestamp::now();
    validate_trigger(input.trigger.as_ref(), now)?;
    let enabled = match &input.mode {
        None => true,
        Some(m) => {
            enum_value(
                "recurring_run.mode",
                m,
                &["MODE_UNSPECIFIED", "ENABLE", "DISABLE"],
            )? != 2
        }
    };
    let experiment =
        run_experiment(store, who, "recurring_run", input.experiment_id.as_deref()).await?;
    let experiment_id = experiment.experiment_id;
    let source = match source {
        Some(source) => source,
        None => {
            resolve_source(
                store,
                who,
                limits,
                "recurring_run",
                input.pipeline_spec.as_ref(),
                input.pipeline_version_reference.as_ref(),
                input.pipeline_version_id.as_deref(),
            )
            .await?
        }
    };
    let config = input.runtime_config.clone().unwrap_or_default();
    typed_parameters(
        "recurring_run",
        &source.pipeline,
        config.parameters.as_ref(),
    )?;
    // A reference without a version id means "the latest version at each tick".
    let referenced_version = input
        .pipeline_version_reference
        .as_ref()
        .and_then(|r| r.pipeline_version_id.clone())
        .filter(|v| !v.is_empty())
        .or(input.pipeline_version_id.clone().filter(|v| !v.is_empty()));
    let row = RecurringRunRow {
        recurring_run_id: uuid::Uuid::new_v4().to_string(),
        display_name,
        description: input.description.clone().unwrap_or_default(),
        experiment_id,
        namespace: experiment.namespace,
        pipeline_version_id: source.pipeline_id.as_ref().and(referenced_version),
        pipeline_id: source.pipeline_id.clone(),
        pipeline_spec: match source.pipeline_id {
            Some(_) => None,
            None => Some(
                serde_json::to_value(&source.pipeline.spec)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            ),
        },
        platform_spec: source.pipeline.platform_spec.clone(),
        parameters: config.parameters.unwrap_or_default(),
        pipeline_root: config.pipeline_root.filter(|r| !r.is_empty()),
        service_account: input.service_account.clone().unwrap_or_default(),
        max_concurrency,
        trigger: serde_json::to_value(&input.trigger)
            .map_err(|e| ApiError::internal(e.to_string()))?,
        enabled,
        no_catchup: input.no_catchup.unwrap_or(false),
        created_at: now,
        updated_at: now,
        last_tick: None,
        last_index: 0,
        last_error: None,
    };
    store.insert_recurring_run(&row).await?;
    Ok(row)
}

/// Gets a recurring run.
#[utoipa::path(get, path = "/apis/v2beta1/recurringruns/{recurring_run_id}",
    responses((status = 200, body = RecurringRun), (status = 404)))]
pub async fn get(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RecurringRun>> {
    Ok(Json(RecurringRun::from(
        &visible_recurring_run(&s.store, &who, &id).await?,
    )))
}

/// The recurring run, if the caller can see it (else the same 404 as a missing one).
pub async fn visible_recurring_run(
    store: &SqliteStore,
    who: &Principal,
    id: &str,
) -> ApiResult<RecurringRunRow> {
    let row = store.get_recurring_run(id).await?;
    who.check(&row.namespace, || format!("recurring run '{id}' not found"))?;
    Ok(row)
}

/// Lists recurring runs (the answer's key is `recurringRuns`, as in KFP).
#[utoipa::path(get, path = "/apis/v2beta1/recurringruns", params(list_params::ListParams),
    responses((status = 200, body = ListRecurringRunsResponse)))]
pub async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<ListRecurringRunsResponse>> {
    let (page, req) = recurring_run_page(&s, &who, &q).await?;
    Ok(Json(ListRecurringRunsResponse {
        recurring_runs: page.items.iter().map(RecurringRun::from).collect(),
        total_size: page.total_size as i32,
        next_page_token: req.next_token(page.next),
    }))
}

/// One page of the recurring runs the caller can see (the list parameters and `experiment_id`
/// in `q`); the request gives the next page's token.
pub(crate) async fn recurring_run_page(
    s: &ApiState,
    who: &Principal,
    q: &HashMap<String, String>,
) -> ApiResult<(
    penstock_store::list::Page<RecurringRunRow>,
    crate::listing::ListRequest,
)> {
    let mut scope = experiment_scope(Entity::RecurringRuns, q)?;
    scope.extend(namespace_scope(Entity::RecurringRuns, who, q, false)?);
    let req = list_request(Entity::RecurringRuns, q, scope)?;
    let page = s.store.list_recurring_runs(&req.query).await?;
    Ok((page, req))
}

/// `POST /recurringruns/{id}:enable` and `:disable`.
#[utoipa::path(post, path = "/apis/v2beta1/recurringruns/{recurring_run_id_action}",
    params(("recurring_run_id_action" = String, Path, description = "`<id>:enable` or `<id>:disable`")),
    responses((status = 200, description = "{}"), (status = 404)))]
pub async fn action(
    State(s): State<ApiState>,
    who: Principal,
    Path(target): Path<String>,
) -> ApiResult<Json<Value>> {
    let (id, verb) = super::split_action(&target)?;
    let enabled = match verb {
        "enable" => true,
        "disable" => false,
        other => {
            return Err(ApiError::not_found(format!(
                "unknown recurring run action ':{other}'; expected :enable or :disable"
            )))
        }
    };
    visible_recurring_run(&s.store, &who, id).await?;
    s.store
        .set_recurring_run_enabled(id, enabled, Timestamp::now())
        .await?;
    s.recurring_changed.notify_waiters();
    Ok(Json(json!({})))
}

/// Deletes a recurring run (its runs stay).
#[utoipa::path(delete, path = "/apis/v2beta1/recurringruns/{recurring_run_id}",
    responses((status = 200, description = "{}"), (status = 404)))]
pub async fn delete(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    visible_recurring_run(&s.store, &who, &id).await?;
    s.store.delete_recurring_run(&id).await?;
    s.recurring_changed.notify_waiters();
    Ok(Json(json!({})))
}
