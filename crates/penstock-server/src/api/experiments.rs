//! `ExperimentService`.

use super::{list_params, ApiState};
use crate::access::{namespace_scope, Principal};
use crate::error::{ApiError, ApiResult};
use crate::limits::{check_name, check_text};
use crate::listing::list_request;
use crate::wire::{parse_body, Experiment, ListExperimentsResponse};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use jiff::Timestamp;
use penstock_store::list::Entity;
use penstock_store::{ExperimentRow, SqliteStore, StorageState};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Creates an experiment.
#[utoipa::path(post, path = "/apis/v2beta1/experiments", request_body = Experiment,
    responses((status = 200, body = Experiment), (status = 409, description = "name taken")))]
pub async fn create(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<Experiment>> {
    let input: Experiment = parse_body("experiment", &body)?;
    let name = input
        .display_name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("experiment.display_name is required"))?;
    check_name("experiment.display_name", &name)?;
    let description = input.description.unwrap_or_default();
    check_text("experiment.description", &description)?;
    let namespace =
        who.namespace_for_new("experiment", input.namespace.as_deref().unwrap_or(""))?;
    let mut row = new_experiment(name, description);
    row.namespace = namespace;
    s.store.insert_experiment(&row).await?;
    Ok(Json(Experiment::from(&row)))
}

/// A new, available experiment (single-user namespace), not yet stored.
pub fn new_experiment(display_name: String, description: String) -> ExperimentRow {
    ExperimentRow {
        experiment_id: uuid::Uuid::new_v4().to_string(),
        display_name,
        description,
        namespace: String::new(),
        storage_state: StorageState::Available,
        created_at: Timestamp::now(),
        last_run_created_at: None,
    }
}

/// Gets an experiment.
#[utoipa::path(get, path = "/apis/v2beta1/experiments/{experiment_id}",
    responses((status = 200, body = Experiment), (status = 404)))]
pub async fn get(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Experiment>> {
    Ok(Json(Experiment::from(
        &visible_experiment(&s.store, &who, &id).await?,
    )))
}

/// The experiment, if it exists in the caller's namespaces (else the same 404 as a missing one).
pub async fn visible_experiment(
    store: &SqliteStore,
    who: &Principal,
    id: &str,
) -> ApiResult<ExperimentRow> {
    let row = store.get_experiment(id).await?;
    who.check(&row.namespace, || format!("experiment '{id}' not found"))?;
    Ok(row)
}

/// Lists experiments.
#[utoipa::path(get, path = "/apis/v2beta1/experiments", params(list_params::ListParams),
    responses((status = 200, body = ListExperimentsResponse)))]
pub async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<ListExperimentsResponse>> {
    let scope = namespace_scope(Entity::Experiments, &who, &q, false)?;
    let req = list_request(Entity::Experiments, &q, scope)?;
    let page = s.store.list_experiments(&req.query).await?;
    Ok(Json(ListExperimentsResponse {
        experiments: page.items.iter().map(Experiment::from).collect(),
        total_size: page.total_size as i32,
        next_page_token: req.next_token(page.next),
    }))
}

/// `POST /experiments/{id}:archive` and `:unarchive`.
#[utoipa::path(post, path = "/apis/v2beta1/experiments/{experiment_id_action}",
    params(("experiment_id_action" = String, Path, description = "`<id>:archive` or `<id>:unarchive`")),
    responses((status = 200, description = "{}"), (status = 404)))]
pub async fn action(
    State(s): State<ApiState>,
    who: Principal,
    Path(target): Path<String>,
) -> ApiResult<Json<Value>> {
    let (id, verb) = super::split_action(&target)?;
    let state = match verb {
        "archive" => StorageState::Archived,
        "unarchive" => StorageState::Available,
        other => {
            return Err(ApiError::not_found(format!(
                "unknown experiment action ':{other}'; expected :archive or :unarchive"
            )))
        }
    };
    visible_experiment(&s.store, &who, id).await?;
    s.store
        .set_experiment_storage(id, state, Timestamp::now())
        .await?;
    Ok(Json(json!({})))
}

/// Deletes an experiment (its runs stay, as in KFP).
#[utoipa::path(delete, path = "/apis/v2beta1/experiments/{experiment_id}",
    responses((status = 200, description = "{}"), (status = 404)))]
pub async fn delete(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    visible_experiment(&s.store, &who, &id).await?;
    if id == s.store.default_experiment_id() {
        return Err(ApiError::failed_precondition(
            "the Default experiment cannot be deleted; runs created without an experiment go there",
        ));
    }
    s.store.delete_experiment(&id).await?;
    Ok(Json(json!({})))
}
