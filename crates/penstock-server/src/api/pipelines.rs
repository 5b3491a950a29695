//! `PipelineService` and the multipart upload endpoints.

use super::{list_params, ApiState};
use crate::access::{namespace_scope, Principal};
use crate::error::{ApiError, ApiResult, Code};
use crate::limits::{check_name, check_text};
use crate::listing::list_request;
use crate::wire::{
    parse_body, spec_with_platform, CreatePipelineAndVersionRequest, ListPipelineVersionsResponse,
    ListPipelinesResponse, Pipeline, PipelineVersion,
};
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::Json;
use jiff::Timestamp;
use penstock_store::list::{Entity, FieldValue, Operation, Predicate};
use penstock_store::{PipelineRow, PipelineVersionRow, SqliteStore};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The largest pipeline file accepted (KFP's limit).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// Parses and validates a pipeline given as bytes within `limits`; `source` names it in errors.
pub fn parse_pipeline_bytes(
    source: &str,
    bytes: &[u8],
    limits: &penstock_spec::Limits,
) -> ApiResult<penstock_spec::Pipeline> {
    penstock_spec::parse_pipeline_with_limits(source, bytes, limits)
        .map_err(|e| ApiError::invalid(e.to_string()))
}

/// Parses and validates an inline spec (bare or `{pipeline_spec, platform_spec}`).
pub fn parse_pipeline_value(
    source: &str,
    spec: &Value,
    limits: &penstock_spec::Limits,
) -> ApiResult<penstock_spec::Pipeline> {
    if !spec.is_object() {
        return Err(ApiError::invalid(format!(
            "{source}: expected a pipeline spec object, found {spec}"
        )));
    }
    let bytes = serde_json::to_vec(spec).map_err(|e| ApiError::internal(e.to_string()))?;
    parse_pipeline_bytes(source, &bytes, limits)
}

pub(crate) fn version_row(
    pipeline_id: &str,
    name: String,
    display_name: Option<String>,
    description: Option<String>,
    code_source_url: Option<String>,
    tags: Option<Map<String, Value>>,
    pipeline: &penstock_spec::Pipeline,
) -> ApiResult<PipelineVersionRow> {
    check_name("pipeline_version.name", &name)?;
    check_name(
        "pipeline_version.display_name",
        display_name.as_deref().unwrap_or(""),
    )?;
    check_text(
        "pipeline_version.description",
        description.as_deref().unwrap_or(""),
    )?;
    Ok(PipelineVersionRow {
        pipeline_version_id: uuid::Uuid::new_v4().to_string(),
        pipeline_id: pipeline_id.to_string(),
        display_name: display_name
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        description: description.unwrap_or_default(),
        created_at: Timestamp::now(),
        pipeline_spec: serde_json::to_value(&pipeline.spec)
            .map_err(|e| ApiError::internal(e.to_string()))?,
        platform_spec: pipeline.platform_spec.clone(),
        code_source_url: code_source_url.unwrap_or_default(),
        tags: tags.unwrap_or_default(),
    })
}

pub(crate) fn pipeline_row(input: Pipeline, who: &Principal) -> ApiResult<PipelineRow> {
    let name = input
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| input.display_name.clone().filter(|n| !n.trim().is_empty()))
        .ok_or_else(|| ApiError::invalid("pipeline.name or pipeline.display_name is required"))?;
    check_name("pipeline.name", &name)?;
    check_name(
        "pipeline.display_name",
        input.display_name.as_deref().unwrap_or(""),
    )?;
    check_text(
        "pipeline.description",
        input.description.as_deref().unwrap_or(""),
    )?;
    let namespace = pipeline_namespace(who, input.namespace.as_deref().unwrap_or(""))?;
    Ok(PipelineRow {
        pipeline_id: uuid::Uuid::new_v4().to_string(),
        display_name: input
            .display_name
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        description: input.description.unwrap_or_default(),
        namespace,
        created_at: Timestamp::now(),
        tags: input.tags.unwrap_or_default(),
    })
}

/// A new pipeline's namespace: none (shared with everyone, as in KFP) or one the caller may use.
fn pipeline_namespace(who: &Principal, requested: &str) -> ApiResult<String> {
    if requested.is_empty() {
        Ok(String::new())
    } else {
        who.namespace_for_new("pipeline", requested)
    }
}

/// The pipeline, if the caller can see it: shared (no namespace) or in its namespaces.
pub async fn visible_pipeline(
    store: &SqliteStore,
    who: &Principal,
    id: &str,
) -> ApiResult<PipelineRow> {
    let row = store.get_pipeline(id).await?;
    if !who.may_read_shared(&row.namespace) {
        return Err(ApiError::not_found(format!("pipeline '{id}' not found")));
    }
    Ok(row)
}

fn version_spec(
    v: &PipelineVersion,
    what: &str,
    limits: &penstock_spec::Limits,
) -> ApiResult<penstock_spec::Pipeline> {
    match (&v.pipeline_spec, &v.package_url) {
        (Some(spec), _) => parse_pipeline_value(&format!("{what}.pipeline_spec"), spec, limits),
        (None, Some(url)) => Err(ApiError::invalid(format!(
            "{what}.package_url '{}': Penstock does not fetch pipeline packages from URLs; \
             upload the file or send pipeline_spec",
            url.pipeline_url
        ))),
        (None, None) => Err(ApiError::invalid(format!(
            "{what}: pipeline_spec is required"
        ))),
    }
}

/// Creates a pipeline without versions.
#[utoipa::path(post, path = "/apis/v2beta1/pipelines", request_body = Pipeline,
    responses((status = 200, body = Pipeline), (status = 409)))]
pub async fn create(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<Pipeline>> {
    let input: Pipeline = parse_body("pipeline", &body)?;
    let row = pipeline_row(input, &who)?;
    s.store.insert_pipeline(&row, None).await?;
    Ok(Json(Pipeline::from(&row)))
}

/// Creates a pipeline and its first version in one step.
#[utoipa::path(post, path = "/apis/v2beta1/pipelines/create",
    request_body = CreatePipelineAndVersionRequest,
    responses((status = 200, body = Pipeline), (status = 400), (status = 409)))]
pub async fn create_with_version(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<Json<Pipeline>> {
    let input: CreatePipelineAndVersionRequest = parse_body("request", &body)?;
    let p = input
        .pipeline
        .ok_or_else(|| ApiError::invalid("pipeline is required"))?;
    let v = input
        .pipeline_version
        .ok_or_else(|| ApiError::invalid("pipeline_version is required"))?;
    let parsed = version_spec(&v, "pipeline_version", &s.spec_limits)?;
    let row = pipeline_row(p, &who)?;
    let version = version_row(
        &row.pipeline_id,
        v.name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| row.name.clone()),
        v.display_name.clone(),
        v.description.clone(),
        v.code_source_url.clone(),
        v.tags.clone(),
        &parsed,
    )?;
    s.store.insert_pipeline(&row, Some(&version)).await?;
    Ok(Json(Pipeline::from(&row)))
}

/// Gets a pipeline.
#[utoipa::path(get, path = "/apis/v2beta1/pipelines/{pipeline_id}",
    responses((status = 200, body = Pipeline), (status = 404)))]
pub async fn get(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Pipeline>> {
    Ok(Json(Pipeline::from(
        &visible_pipeline(&s.store, &who, &id).await?,
    )))
}

/// Gets a pipeline by its unique name.
#[utoipa::path(get, path = "/apis/v2beta1/pipelines/names/{name}",
    params(("name" = String, Path, description = "the pipeline's name"),
        ("namespace" = Option<String>, Query, description = "empty: shared pipelines")),
    responses((status = 200, body = Pipeline), (status = 404)))]
pub async fn get_by_name(
    State(s): State<ApiState>,
    who: Principal,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Pipeline>> {
    let namespace = q.get("namespace").map(String::as_str).unwrap_or("");
    if !who.may_read_shared(namespace) {
        return Err(ApiError::not_found(format!("pipeline '{name}' not found")));
    }
    Ok(Json(Pipeline::from(
        &s.store.get_pipeline_by_name(namespace, &name).await?,
    )))
}

/// Lists pipelines.
#[utoipa::path(get, path = "/apis/v2beta1/pipelines", params(list_params::ListParams),
    responses((status = 200, body = ListPipelinesResponse)))]
pub async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<ListPipelinesResponse>> {
    let scope = namespace_scope(Entity::Pipelines, &who, &q, true)?;
    let req = list_request(Entity::Pipelines, &q, scope)?;
    let page = s.store.list_pipelines(&req.query).await?;
    Ok(Json(ListPipelinesResponse {
        pipelines: page.items.iter().map(Pipeline::from).collect(),
        total_size: page.total_size as i32,
        next_page_token: req.next_token(page.next),
    }))
}

/// Deletes a pipeline; `cascade=true` deletes its versions too.
#[utoipa::path(delete, path = "/apis/v2beta1/pipelines/{pipeline_id}",
    params(("cascade" = Option<bool>, Query)),
    responses((status = 200, description = "{}"), (status = 400), (status = 404)))]
pub async fn delete(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    visible_pipeline(&s.store, &who, &id).await?;
    let cascade = match q.get("cascade").map(String::as_str) {
        None | Some("false") | Some("") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "cascade: expected true or false, found '{other}'"
            )))
        }
    };
    s.store.delete_pipeline(&id, cascade).await?;
    Ok(Json(json!({})))
}

/// Creates a version of a pipeline from an inline spec.
#[utoipa::path(post, path = "/apis/v2beta1/pipelines/{pipeline_id}/versions",
    request_body = PipelineVersion,
    responses((status = 200, body = PipelineVersion), (status = 400), (status = 404)))]
pub async fn create_version(
    State(s): State<ApiState>,
    who: Principal,
    Path(pipeline_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<PipelineVersion>> {
    visible_pipeline(&s.store, &who, &pipeline_id).await?;
    let v: PipelineVersion = parse_body("pipeline_version", &body)?;
    if let Some(other) = v.pipeline_id.as_deref().filter(|p| *p != pipeline_id) {
        return Err(ApiError::invalid(format!(
            "pipeline_version.pipeline_id '{other}' differs from the path's '{pipeline_id}'"
        )));
    }
    let parsed = version_spec(&v, "pipeline_version", &s.spec_limits)?;
    let name = v
        .name
        .clone()
        .or(v.display_name.clone())
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("pipeline_version.name is required"))?;
    let row = version_row(
        &pipeline_id,
        name,
        v.display_name,
        v.description,
        v.code_source_url,
        v.tags,
        &parsed,
    )?;
    s.store.insert_version(&row).await?;
    Ok(Json(PipelineVersion::from(&row)))
}

/// Gets a version.
#[utoipa::path(get, path = "/apis/v2beta1/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    responses((status = 200, body = PipelineVersion), (status = 404)))]
pub async fn get_version(
    State(s): State<ApiState>,
    who: Principal,
    Path((pipeline_id, version_id)): Path<(String, String)>,
) -> ApiResult<Json<PipelineVersion>> {
    visible_pipeline(&s.store, &who, &pipeline_id).await?;
    Ok(Json(PipelineVersion::from(
        &s.store.get_version(Some(&pipeline_id), &version_id).await?,
    )))
}

/// Lists a pipeline's versions.
#[utoipa::path(get, path = "/apis/v2beta1/pipelines/{pipeline_id}/versions",
    params(list_params::ListParams),
    responses((status = 200, body = ListPipelineVersionsResponse), (status = 404)))]
pub async fn list_versions(
    State(s): State<ApiState>,
    who: Principal,
    Path(pipeline_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<ListPipelineVersionsResponse>> {
    let (page, req) = version_page(&s, &who, pipeline_id, &q).await?;
    Ok(Json(ListPipelineVersionsResponse {
        pipeline_versions: page.items.iter().map(PipelineVersion::from).collect(),
        total_size: page.total_size as i32,
        next_page_token: req.next_token(page.next),
    }))
}

/// One page of a pipeline's versions (the list parameters in `q`), if the caller can see the
/// pipeline; the request gives the next page's token.
pub(crate) async fn version_page(
    s: &ApiState,
    who: &Principal,
    pipeline_id: String,
    q: &HashMap<String, String>,
) -> ApiResult<(
    penstock_store::list::Page<PipelineVersionRow>,
    crate::listing::ListRequest,
)> {
    visible_pipeline(&s.store, who, &pipeline_id).await?;
    let scope = vec![Predicate {
        field: Entity::PipelineVersions
            .field("pipeline_id")
            .ok_or_else(|| ApiError::internal("no pipeline_id field"))?,
        op: Operation::Equals,
        values: vec![FieldValue::Text(pipeline_id)],
    }];
    let req = list_request(Entity::PipelineVersions, q, scope)?;
    let page = s.store.list_versions(&req.query).await?;
    Ok((page, req))
}

/// Deletes a version.
#[utoipa::path(delete, path = "/apis/v2beta1/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
    responses((status = 200, description = "{}"), (status = 404)))]
pub async fn delete_version(
    State(s): State<ApiState>,
    who: Principal,
    Path((pipeline_id, version_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    visible_pipeline(&s.store, &who, &pipeline_id).await?;
    s.store.delete_version(&pipeline_id, &version_id).await?;
    Ok(Json(json!({})))
}

/// The uploaded file (form field `uploadfile`) and its name.
async fn read_upload(mut form: Multipart) -> ApiResult<(String, Vec<u8>)> {
    loop {
        let field = form.next_field().await.map_err(upload_error)?;
        let Some(field) = field else {
            return Err(ApiError::invalid(
                "the multipart body has no 'uploadfile' field with the pipeline file",
            ));
        };
        if field.name() != Some("uploadfile") {
            continue;
        }
        let file_name = field.file_name().unwrap_or("pipeline.yaml").to_string();
        let bytes = field.bytes().await.map_err(upload_error)?;
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError::new(
                Code::PayloadTooLarge,
                format!(
                    "{file_name}: {} bytes is more than the limit of {MAX_UPLOAD_BYTES}",
                    bytes.len()
                ),
            ));
        }
        return Ok((file_name, bytes.to_vec()));
    }
}

/// A multipart failure: 413 when the body is over the size limit, else 400.
fn upload_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("the upload is larger than the limit of {MAX_UPLOAD_BYTES} bytes (32 MiB)"),
        )
    } else {
        ApiError::invalid(format!("malformed multipart body: {}", e.body_text()))
    }
}

fn stem(file_name: &str) -> String {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    for ext in [".yaml", ".yml", ".json"] {
        if let Some(s) = base.strip_suffix(ext) {
            return s.to_string();
        }
    }
    base.to_string()
}

fn tags_param(q: &HashMap<String, String>) -> ApiResult<Option<Map<String, Value>>> {
    match q.get("tags").filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => serde_json::from_str::<Map<String, Value>>(t)
            .map(Some)
            .map_err(|e| ApiError::invalid(format!("tags: expected a JSON object: {e}"))),
    }
}

fn non_empty(q: &HashMap<String, String>, key: &str) -> Option<String> {
    q.get(key).filter(|v| !v.is_empty()).cloned()
}

/// Multipart upload of a new pipeline with its first version.
#[utoipa::path(post, path = "/apis/v2beta1/pipelines/upload",
    params(("name" = Option<String>, Query), ("display_name" = Option<String>, Query),
        ("description" = Option<String>, Query), ("namespace" = Option<String>, Query)),
    request_body(content_type = "multipart/form-data", description = "form field `uploadfile`"),
    responses((status = 200, body = Pipeline), (status = 400), (status = 409)))]
pub async fn upload(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
    form: Multipart,
) -> ApiResult<Json<Pipeline>> {
    let result = async {
        let namespace = pipeline_namespace(&who, q.get("namespace").map_or("", String::as_str))?;
        let (file_name, bytes) = read_upload(form).await?;
        let parsed = parse_pipeline_bytes(&file_name, &bytes, &s.spec_limits)?;
        let name = non_empty(&q, "name")
            .or_else(|| non_empty(&q, "display_name"))
            .unwrap_or_else(|| stem(&file_name));
        let tags = tags_param(&q)?;
        check_name("name", &name)?;
        check_name(
            "display_name",
            q.get("display_name").map_or("", String::as_str),
        )?;
        check_text(
            "description",
            q.get("description").map_or("", String::as_str),
        )?;
        let row = PipelineRow {
            pipeline_id: uuid::Uuid::new_v4().to_string(),
            display_name: non_empty(&q, "display_name").unwrap_or_else(|| name.clone()),
            name: name.clone(),
            description: non_empty(&q, "description").unwrap_or_default(),
            namespace,
            created_at: Timestamp::now(),
            tags: tags.clone().unwrap_or_default(),
        };
        let version = version_row(
            &row.pipeline_id,
            name,
            non_empty(&q, "display_name"),
            non_empty(&q, "description"),
            non_empty(&q, "code_source_url"),
            tags,
            &parsed,
        )?;
        s.store.insert_pipeline(&row, Some(&version)).await?;
        Ok(Json(Pipeline::from(&row)))
    }
    .await;
    result.map_err(ApiError::for_upload)
}

/// Multipart upload of a new version of a pipeline (`pipelineid` query key, as in KFP).
#[utoipa::path(post, path = "/apis/v2beta1/pipelines/upload_version",
    params(("pipelineid" = String, Query), ("name" = Option<String>, Query),
        ("display_name" = Option<String>, Query), ("description" = Option<String>, Query)),
    request_body(content_type = "multipart/form-data", description = "form field `uploadfile`"),
    responses((status = 200, body = PipelineVersion), (status = 400), (status = 404), (status = 409)))]
pub async fn upload_version(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
    form: Multipart,
) -> ApiResult<Json<PipelineVersion>> {
    let result = async {
        let pipeline_id = non_empty(&q, "pipelineid")
            .ok_or_else(|| ApiError::invalid("the query parameter 'pipelineid' is required"))?;
        visible_pipeline(&s.store, &who, &pipeline_id).await?;
        let (file_name, bytes) = read_upload(form).await?;
        let parsed = parse_pipeline_bytes(&file_name, &bytes, &s.spec_limits)?;
        let name = non_empty(&q, "name")
            .or_else(|| non_empty(&q, "display_name"))
            .unwrap_or_else(|| stem(&file_name));
        let row = version_row(
            &pipeline_id,
            name,
            non_empty(&q, "display_name"),
            non_empty(&q, "description"),
            non_empty(&q, "code_source_url"),
            tags_param(&q)?,
            &parsed,
        )?;
        s.store.insert_version(&row).await?;
        Ok(Json(PipelineVersion::from(&row)))
    }
    .await;
    result.map_err(ApiError::for_upload)
}

/// The spec a version holds, as sent in a run.
pub fn version_source(v: &PipelineVersionRow) -> Value {
    spec_with_platform(&v.pipeline_spec, v.platform_spec.as_ref())
}
