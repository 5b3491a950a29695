//! The HTTP routes: KFP's v2beta1 API, Penstock's `/apis/penstock/v1/` extensions and the
//! OpenAPI document, all served at the root and again under `/pipeline` (the prefix KFP
//! deployments use, so `kfp.Client(host=".../pipeline")` works too).

pub mod experiments;
pub mod penstock_v1;
pub mod pipelines;
pub mod prometheus;
pub mod recurring_runs;
pub mod runs;
pub mod session;
pub mod ui;
pub mod v1beta1;
pub mod visualizations;

use crate::access::SecurityConfig;
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

/// Where the web UI signs in and out.
pub const SESSION_PATH: &str = "/apis/penstock/v1/session";

/// The largest request body accepted: a 32 MiB pipeline upload and its multipart framing.
pub const MAX_BODY_BYTES: usize = pipelines::MAX_UPLOAD_BYTES + 1024 * 1024;

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
    /// Authentication and the hosts served.
    pub security: Arc<SecurityConfig>,
    /// What a pipeline spec may hold (depth, tasks, names, bytes).
    pub spec_limits: penstock_spec::Limits,
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
/// `multi_user` is true when the server authenticates its callers (namespaces are enforced);
/// `database` names the store's backend (`sqlite` or `postgresql`).
#[utoipa::path(get, path = "/apis/v2beta1/healthz", responses((status = 200, description = "health")))]
pub async fn healthz(axum::extract::State(s): axum::extract::State<ApiState>) -> Json<Value> {
    Json(json!({
        "commit_sha": option_env!("PENSTOCK_COMMIT").unwrap_or("unknown"),
        "tag_name": concat!("penstock-", env!("CARGO_PKG_VERSION")),
        "multi_user": s.security.auth.enabled(),
        "pipeline_store": "database",
        // Which database answered: `sqlite` or `postgresql`.
        "database": s.store.backend().name(),
        // Which replica answered (`host:pid:nonce`), and its machine.
        "replica": s.store.replica().id,
        "host": s.store.replica().host,
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
        penstock_v1::run_tasks,
        penstock_v1::schedule_preview,
        penstock_v1::recurring_schedule,
        penstock_v1::artifacts,
        penstock_v1::artifact,
        penstock_v1::scalars,
        penstock_v1::compare,
        penstock_v1::recent_runs,
        penstock_v1::scalar_names,
        visualizations::task_visualizations,
        session::get,
        session::create,
        session::delete,
        openapi,
    ),
    components(schemas(crate::wire::Status))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/apis/penstock/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> ApiResult<Json<Value>> {
    openapi_document().map(Json)
}

/// KFP's custom methods: one routed path (`{id}` then `:<verb>`) documented as one path per
/// verb, as KFP's own swagger does (`/runs/{run_id}:terminate`).
const ACTION_PATHS: [(&str, &str, &[&str]); 3] = [
    (
        "/apis/v2beta1/experiments/{experiment_id_action}",
        "experiment_id",
        &["archive", "unarchive"],
    ),
    (
        "/apis/v2beta1/runs/{run_id_action}",
        "run_id",
        &["terminate", "retry", "archive", "unarchive"],
    ),
    (
        "/apis/v2beta1/recurringruns/{recurring_run_id_action}",
        "recurring_run_id",
        &["enable", "disable"],
    ),
];

/// The OpenAPI document, made valid for tools that drive it (schemathesis): custom-method
/// paths split per verb, every path parameter declared on every operation, and an
/// operationId unique per operation (`<method>_<path words>`).
pub fn openapi_document() -> ApiResult<Value> {
    let mut doc =
        serde_json::to_value(ApiDoc::openapi()).map_err(|e| ApiError::internal(e.to_string()))?;
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return Err(ApiError::internal("the OpenAPI document has no paths"));
    };
    for (template, param, verbs) in ACTION_PATHS {
        let Some(mut item) = paths.remove(template) else {
            continue;
        };
        if let Some(op) = item.get_mut("post").and_then(Value::as_object_mut) {
            op.remove("parameters");
        }
        for verb in verbs {
            let mut one = item.clone();
            if let Some(op) = one.get_mut("post").and_then(Value::as_object_mut) {
                op.insert(
                    "summary".into(),
                    Value::String(format!("`:{verb}` (KFP custom method)")),
                );
            }
            paths.insert(
                format!("/apis/v2beta1/{}:{verb}", path_prefix(template, param)),
                one,
            );
        }
    }
    for (path, item) in paths.iter_mut() {
        let names: Vec<String> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .map(str::to_string)
            .collect();
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let words: Vec<String> = path
                .trim_start_matches("/apis/")
                .split(['/', ':', '-', '.'])
                .filter(|w| !w.is_empty())
                .map(|w| w.trim_matches(['{', '}']).to_string())
                .collect();
            op.insert(
                "operationId".into(),
                Value::String(format!("{method}_{}", words.join("_"))),
            );
            let params = op
                .entry("parameters")
                .or_insert_with(|| Value::Array(vec![]));
            let Some(params) = params.as_array_mut() else {
                continue;
            };
            for name in &names {
                let declared = params
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == name.as_str());
                if !declared {
                    params.push(json!({
                        "name": name, "in": "path", "required": true,
                        "schema": {"type": "string"},
                    }));
                }
            }
        }
    }
    Ok(doc)
}

/// `/apis/v2beta1/runs/{run_id_action}` → `runs/{run_id}`.
fn path_prefix(template: &str, param: &str) -> String {
    let rest = template.trim_start_matches("/apis/v2beta1/");
    let collection = rest.split('/').next().unwrap_or(rest);
    format!("{collection}/{{{param}}}")
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
        .route("/metrics", get(prometheus::metrics))
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
        .merge(v1beta1::routes())
        .route(
            "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/logs",
            get(penstock_v1::task_log),
        )
        .route(
            "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/artifacts/{name}",
            get(penstock_v1::artifact_content),
        )
        .route(
            "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/visualizations",
            get(visualizations::task_visualizations),
        )
        .route(
            "/apis/penstock/v1/runs/{run_id}/metrics",
            get(penstock_v1::run_metrics),
        )
        .route(
            "/apis/penstock/v1/runs/{run_id}/tasks",
            get(penstock_v1::run_tasks),
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
        .route("/ui/{*path}", get(ui::file))
        .route(OPENAPI_PATH, get(openapi))
        .route(
            SESSION_PATH,
            get(session::get)
                .post(session::create)
                .delete(session::delete),
        )
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone());
    Router::new()
        .route("/pipeline/", get(ui::index))
        .nest("/pipeline", api.clone())
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::access::guard,
        ))
}
