//! The HTTP routes: KFP's v2beta1 API, Penstock's `/apis/penstock/v1/` extensions and the
//! OpenAPI document, all served at the root and again under `/pipeline` (the prefix KFP
//! deployments use, so `kfp.Client(host=".../pipeline")` works too).

pub mod experiments;
pub mod penstock_v1;
pub mod pipelines;
pub mod recurring_runs;
pub mod runs;
pub mod ui;

use crate::error::{ApiError, ApiResult};
use crate::supervisor::RunSupervisor;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use penstock_store::SqliteStore;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;
use utoipa::OpenApi;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/apis/penstock/v1/openapi.json";

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: SqliteStore,
    /// Executes runs.
    pub supervisor: Arc<RunSupervisor>,
    /// `PENSTOCK_HOME` (run folders, artifacts and logs live under it).
    pub home: PathBuf,
    /// Woken whenever a recurring run is created, changed or deleted.
    pub recurring_changed: Arc<Notify>,
}

/// Splits `"<id>:<verb>"` (KFP's custom-method paths).
pub fn split_action(target: &str) -> ApiResult<(&str, &str)> {
    target
        .rsplit_once(':')
        .filter(|(id, verb)| !id.is_empty() && !verb.is_empty())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no such method: POST to '{target}'; expected '<id>:<action>'"
            ))
        })
}

/// The query parameters every list accepts (documentation only; handlers read them raw).
#[allow(dead_code)]
pub(crate) mod list_params {
    /// List parameters.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct ListParams {
        /// Token from the previous page's `next_page_token`.
        page_token: Option<String>,
        /// Rows per page, 1–200 (0 or absent: 20).
        page_size: Option<i32>,
        /// `field`, `field asc` or `field desc` (default `created_at` ascending).
        sort_by: Option<String>,
        /// JSON `{"predicates": [{"key", "operation", "<kind>_value"}]}`.
        filter: Option<String>,
        /// Ignored (single-user).
        namespace: Option<String>,
        /// Runs and recurring runs of one experiment.
        experiment_id: Option<String>,
    }
}

/// KFP's health check; the SDK reads `multi_user`.
#[utoipa::path(get, path = "/apis/v2beta1/healthz", responses((status = 200, description = "health")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({
        "commit_sha": option_env!("PENSTOCK_COMMIT").unwrap_or("unknown"),
        "tag_name": concat!("penstock-", env!("CARGO_PKG_VERSION")),
        "multi_user": false,
        "pipeline_store": "database",
    }))
}

/// The OpenAPI document of everything served.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Penstock API",
        description = "Kubeflow Pipelines v2beta1 REST API as served by \
        Penstock, plus Penstock's own endpoints under /apis/penstock/v1/. Every path is also \
        served under the /pipeline prefix."
    ),
    paths(
        healthz,
        experiments::create,
        experiments::get,
        experiments::list,
        experiments::action,
        experiments::delete,
        pipelines::create,
        pipelines::create_with_version,
        pipelines::get,
        pipelines::get_by_name,
        pipelines::list,
        pipelines::delete,
        pipelines::create_version,
        pipelines::get_version,
        pipelines::list_versions,
        pipelines::delete_version,
        pipelines::upload,
        pipelines::upload_version,
        runs::create,
        runs::get,
        runs::list,
        runs::action,
        runs::delete,
        recurring_runs::create,
        recurring_runs::get,
        recurring_runs::list,
        recurring_runs::action,
        recurring_runs::delete,
        penstock_v1::task_log,
        penstock_v1::artifact_content,
        penstock_v1::run_metrics,
        penstock_v1::schedule_preview,
        penstock_v1::recurring_schedule,
        penstock_v1::artifacts,
        penstock_v1::artifact,
        penstock_v1::scalars,
        penstock_v1::compare,
        penstock_v1::recent_runs,
        penstock_v1::scalar_names,
        openapi,
    ),
    components(schemas(crate::wire::Status))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/apis/penstock/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> ApiResult<Json<Value>> {
    serde_json::to_value(ApiDoc::openapi())
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn no_route() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// Every route, at the root and under `/pipeline`.
pub fn routes(state: ApiState) -> Router {
    use experiments as e;
    use pipelines as p;
    use recurring_runs as rr;
    let v2 = "/apis/v2beta1";
    let api: Router = Router::new()
        .route(&format!("{v2}/healthz"), get(healthz))
        .route(&format!("{v2}/experiments"), get(e::list).post(e::create))
        .route(
            &format!("{v2}/experiments/{{id}}"),
            get(e::get).delete(e::delete).post(e::action),
        )
        .route(&format!("{v2}/pipelines"), get(p::list).post(p::create))
        .route(
            &format!("{v2}/pipelines/create"),
            post(p::create_with_version),
        )
        .route(&format!("{v2}/pipelines/upload"), post(p::upload))
        .route(
            &format!("{v2}/pipelines/upload_version"),
            post(p::upload_version),
        )
        .route(
            &format!("{v2}/pipelines/names/{{name}}"),
            get(p::get_by_name),
        )
        .route(
            &format!("{v2}/pipelines/{{id}}"),
            get(p::get).delete(p::delete),
        )
        .route(
            &format!("{v2}/pipelines/{{id}}/versions"),
            get(p::list_versions).post(p::create_version),
        )
        .route(
            &format!("{v2}/pipelines/{{id}}/versions/{{vid}}"),
            get(p::get_version).delete(p::delete_version),
        )
        .route(&format!("{v2}/runs"), get(runs::list).post(runs::create))
        .route(
            &format!("{v2}/runs/{{id}}"),
            get(runs::get).delete(runs::delete).post(runs::action),
        )
        .route(
            &format!("{v2}/recurringruns"),
            get(rr::list).post(rr::create),
        )
        .route(
            &format!("{v2}/recurringruns/{{id}}"),
            get(rr::get).delete(rr::delete).post(rr::action),
        )
        .route(
            "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/logs",
            get(penstock_v1::task_log),
        )
        .route(
            "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/artifacts/{name}",
            get(penstock_v1::artifact_content),
        )
        .route(
            "/apis/penstock/v1/runs/{run_id}/metrics",
            get(penstock_v1::run_metrics),
        )
        .route(
            "/apis/penstock/v1/schedule-preview",
            post(penstock_v1::schedule_preview),
        )
        .route(
            "/apis/penstock/v1/recurringruns/{id}/schedule",
            get(penstock_v1::recurring_schedule),
        )
        .route("/apis/penstock/v1/artifacts", get(penstock_v1::artifacts))
        .route(
            "/apis/penstock/v1/artifacts/{id}",
            get(penstock_v1::artifact),
        )
        .route("/apis/penstock/v1/scalars", get(penstock_v1::scalars))
        .route("/apis/penstock/v1/compare", get(penstock_v1::compare))
        .route(
            "/apis/penstock/v1/recent-runs",
            get(penstock_v1::recent_runs),
        )
        .route(
            "/apis/penstock/v1/scalar-names",
            get(penstock_v1::scalar_names),
        )
        .route("/", get(ui::index))
        .route("/index.html", get(ui::index))
        .route("/ui/app.js", get(ui::app_js))
        .route("/ui/app.css", get(ui::app_css))
        .route(OPENAPI_PATH, get(openapi))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(
            pipelines::MAX_UPLOAD_BYTES + 1024 * 1024,
        ))
        .with_state(state);
    Router::new()
        .route("/pipeline/", get(ui::index))
        .nest("/pipeline", api.clone())
        .merge(api)
}
