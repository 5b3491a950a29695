//! Penstock's own endpoints under `/apis/penstock/v1/`: task logs (whole, or followed live
//! while the task runs) and artifact contents (streamed; paths never leave the store).

use super::recurring_runs::visible_recurring_run;
use super::runs::visible_run;
use super::ApiState;
use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use penstock_engine::TaskRecord;
use penstock_store::blob::{is_object_uri, BlobError, LocalBlobStore};
use penstock_store::ArtifactFilter;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// How often a followed log is checked for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

async fn find_task(
    s: &ApiState,
    who: &Principal,
    run_id: &str,
    task: &str,
) -> ApiResult<TaskRecord> {
    visible_run(s, who, run_id).await?;
    let tasks = s.store.list_tasks(run_id).await?;
    tasks
        .into_iter()
        .find(|t| t.task_id == task || t.path == task)
        .ok_or_else(|| ApiError::not_found(format!("run '{run_id}' has no task '{task}'")))
}

/// A blob failure as the API tells it: never a host path (those go to the server's log), and
/// the same answer for a path outside the store as for a missing file, so that answers cannot
/// tell which host files exist.
fn blob_error(what: &str, e: BlobError) -> ApiError {
    match e {
        BlobError::NotFound(uri) | BlobError::Forbidden(uri) => {
            tracing::info!(uri, "{what}: not found or outside the store");
            ApiError::not_found(format!("{what}: no such file"))
        }
        BlobError::Io(uri, e) => {
            tracing::error!(uri, "{what}: {e}");
            ApiError::internal(format!("{what}: the file cannot be read"))
        }
        // Object-store URIs are recorded in the run, so they may be named.
        BlobError::Remote(uri, reason) => {
            tracing::error!(uri, "{what}: {reason}");
            ApiError::internal(format!("{what}: {uri}: {reason}"))
        }
        BlobError::Unsupported(uri) => {
            ApiError::failed_precondition(format!("{what}: {uri}: not a supported location"))
        }
    }
}

fn flag(q: &HashMap<String, String>, name: &str) -> ApiResult<bool> {
    match q.get(name).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "{name}: expected true or false, found '{other}'"
        ))),
    }
}

/// A task's log. With `follow=true` the answer streams new output until the task ends.
#[utoipa::path(get, path = "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/logs",
    params(("run_id" = String, Path), ("task_id" = String, Path, description = "task id or task path"),
        ("follow" = Option<bool>, Query, description = "stream until the task ends")),
    responses((status = 200, content_type = "text/plain"), (status = 404)))]
pub async fn task_log(
    State(s): State<ApiState>,
    who: Principal,
    Path((run_id, task)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let follow = flag(&q, "follow")?;
    let record = find_task(&s, &who, &run_id, &task).await?;
    let uri = record.log_uri.clone().ok_or_else(|| {
        ApiError::not_found(format!(
            "task '{}' has no log: it is not a container task, or it has not started",
            record.path
        ))
    })?;
    let blobs = LocalBlobStore::new(&s.home);
    let text_plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    // A log kept in an object store is written to a local file while the task runs and
    // uploaded after each attempt: read the object once the task ended, else the live file.
    let uri = if is_object_uri(&uri) {
        let local = penstock_launcher::staging::local_log_path(&s.home, &run_id, &record.path);
        if record.state.is_terminal() || !local.exists() {
            match penstock_store::object::open(&uri).await {
                Ok((_, stream)) => {
                    return Ok((text_plain, Body::from_stream(stream)).into_response());
                }
                // Not uploaded (yet): the local copy, if this machine ran the task.
                Err(e) if !local.exists() => {
                    return Err(blob_error(&format!("log of task '{}'", record.path), e))
                }
                Err(_) => {}
            }
        }
        local.display().to_string()
    } else {
        uri
    };
    if !follow || record.state.is_terminal() {
        let what = format!("log of task '{}'", record.path);
        let path = blobs.local_path(&uri).map_err(|e| blob_error(&what, e))?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| blob_error(&what, BlobError::Io(uri.clone(), e)))?;
        return Ok((text_plain, Body::from_stream(ReaderStream::new(file))).into_response());
    }
    let stream = futures_util::stream::unfold(
        FollowState {
            s: s.clone(),
            task_id: record.task_id.clone(),
            uri,
            offset: 0,
            finished: false,
        },
        follow_step,
    );
    Ok((text_plain, Body::from_stream(stream)).into_response())
}

struct FollowState {
    s: ApiState,
    task_id: String,
    uri: String,
    offset: u64,
    finished: bool,
}

async fn read_from(path: &PathBuf, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).await?;
    Ok(buf)
}

async fn follow_step(
    mut st: FollowState,
) -> Option<(Result<Vec<u8>, std::io::Error>, FollowState)> {
    let blobs = LocalBlobStore::new(&st.s.home);
    loop {
        if let Ok(path) = blobs.local_path(&st.uri) {
            match read_from(&path, st.offset).await {
                Ok(bytes) if !bytes.is_empty() => {
                    st.offset += bytes.len() as u64;
                    return Some((Ok(bytes), st));
                }
                Ok(_) => {}
                Err(e) => {
                    return Some((
                        Err(e),
                        FollowState {
                            finished: true,
                            ..st
                        },
                    ))
                }
            }
        }
        if st.finished {
            return None;
        }
        // One row, not the run's whole task list, every poll.
        let done = match st.s.store.get_task(&st.task_id).await {
            Ok(task) => task.is_none_or(|t| t.state.is_terminal()),
            Err(_) => true,
        };
        if done {
            // One last read picks up what was written just before the end.
            st.finished = true;
            continue;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        Some("txt" | "log") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// The content of a task's output artifact, streamed. A folder artifact answers with the
/// list of its files; `file=<relative path>` reads one of them.
#[utoipa::path(get, path = "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/artifacts/{name}",
    params(("run_id" = String, Path), ("task_id" = String, Path, description = "task id or task path"),
        ("name" = String, Path, description = "output artifact name"),
        ("index" = Option<usize>, Query, description = "element of an artifact list"),
        ("file" = Option<String>, Query, description = "a file inside a folder artifact"),
        ("format" = Option<String>, Query, description = "`html` renders a Markdown file")),
    responses((status = 200, description = "the bytes, or {\"files\": [...]} for a folder"),
        (status = 400, description = "outside the artifact store"), (status = 404)))]
pub async fn artifact_content(
    State(s): State<ApiState>,
    who: Principal,
    Path((run_id, task, name)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let record = find_task(&s, &who, &run_id, &task).await?;
    let index = match q.get("index") {
        None => 0,
        Some(i) => i
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("index: '{i}' is not a number")))?,
    };
    let artifact = record
        .outputs
        .artifacts
        .get(&name)
        .and_then(|list| list.get(index))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "task '{}' has no output artifact '{name}' (index {index})",
                record.path
            ))
        })?;
    let what = format!("artifact '{name}' of task '{}'", record.path);
    if is_object_uri(&artifact.uri) {
        return object_artifact(&what, &artifact.uri, &artifact.schema_title, &q).await;
    }
    if artifact.uri.contains("://") && !artifact.uri.starts_with("file://") {
        return Err(ApiError::failed_precondition(format!(
            "{}: not stored by Penstock; read it from where it lives",
            artifact.uri
        )));
    }
    let blobs = LocalBlobStore::new(&s.home);
    let base = blobs
        .local_path(&artifact.uri)
        .map_err(|e| blob_error(&what, e))?;
    let target = match q.get("file").filter(|f| !f.is_empty()) {
        None => base.clone(),
        Some(rel) => {
            // One answer for every file that is not inside the artifact, whether it exists
            // or not: absolute paths, `..`, and links pointing out all read as missing.
            let missing = || ApiError::not_found(format!("{what} has no file '{rel}'"));
            let relative = std::path::Path::new(rel);
            if !relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                return Err(missing());
            }
            let canonical = base.join(relative).canonicalize().map_err(|_| missing())?;
            if !canonical.starts_with(&base) {
                return Err(missing());
            }
            canonical
        }
    };
    if target.is_dir() {
        let mut files = Vec::new();
        collect_files(&target, &target, &mut files);
        files.sort();
        return Ok(Json(json!({"uri": artifact.uri, "files": files})).into_response());
    }
    match q.get("format").map(String::as_str) {
        None | Some("") | Some("raw") => {}
        Some("html") => return markdown_as_html(&what, &target).await,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format: '{other}'; expected raw, or html to render Markdown"
            )))
        }
    }
    let file = tokio::fs::File::open(&target)
        .await
        .map_err(|e| blob_error(&what, BlobError::Io(target.display().to_string(), e)))?;
    // Files written through `artifact.path` have no extension: the type says what they are.
    let kind = match (target == base, artifact.schema_title.as_str()) {
        (true, "system.HTML") => "text/html; charset=utf-8",
        (true, "system.Markdown") => "text/markdown; charset=utf-8",
        _ => content_type(&target),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            // HTML artifacts are shown in a sandboxed frame; sandboxed with no scripts if
            // opened directly too.
            (header::CONTENT_SECURITY_POLICY, ARTIFACT_CSP),
        ],
        Body::from_stream(ReaderStream::new(file)),
    )
        .into_response())
}

/// An artifact in an object store, streamed from it; a folder artifact (objects under
/// `uri/`) answers with the list of its files, and `file=` reads one of them.
async fn object_artifact(
    what: &str,
    uri: &str,
    schema_title: &str,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    let rel = q.get("file").filter(|f| !f.is_empty());
    let target = match rel {
        None => uri.to_string(),
        Some(rel) => {
            let parts: Vec<&str> = rel.split('/').collect();
            if parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\'))
            {
                return Err(ApiError::not_found(format!("{what} has no file '{rel}'")));
            }
            format!("{}/{rel}", uri.trim_end_matches('/'))
        }
    };
    let (size, stream) = match penstock_store::object::open(&target).await {
        Ok(found) => found,
        Err(BlobError::NotFound(_)) if rel.is_none() => {
            let files = penstock_store::object::list_files(uri)
                .await
                .map_err(|e| blob_error(what, e))?;
            if files.is_empty() {
                return Err(ApiError::not_found(format!(
                    "{what}: {uri}: no such object"
                )));
            }
            return Ok(Json(json!({"uri": uri, "files": files})).into_response());
        }
        Err(BlobError::NotFound(_)) => {
            return Err(ApiError::not_found(format!(
                "{what} has no file '{}'",
                rel.map(String::as_str).unwrap_or_default()
            )))
        }
        Err(e) => return Err(blob_error(what, e)),
    };
    match q.get("format").map(String::as_str) {
        None | Some("") | Some("raw") => {}
        Some("html") => {
            if size > MAX_MARKDOWN_BYTES {
                return Err(ApiError::failed_precondition(format!(
                    "{what}: {size} bytes is too large to render (limit {MAX_MARKDOWN_BYTES}); download it raw"
                )));
            }
            use futures_util::TryStreamExt;
            let chunks: Vec<bytes::Bytes> = stream
                .try_collect()
                .await
                .map_err(|e| ApiError::internal(format!("{what}: {e}")))?;
            let text = String::from_utf8(chunks.concat())
                .map_err(|e| ApiError::invalid(format!("{what}: not UTF-8 text: {e}")))?;
            return Ok(render_markdown(&text));
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format: '{other}'; expected raw, or html to render Markdown"
            )))
        }
    }
    let kind = match (rel.is_none(), schema_title) {
        (true, "system.HTML") => "text/html; charset=utf-8",
        (true, "system.Markdown") => "text/markdown; charset=utf-8",
        _ => content_type(std::path::Path::new(&target)),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, ARTIFACT_CSP),
        ],
        [(header::CONTENT_LENGTH, size.to_string())],
        Body::from_stream(stream),
    )
        .into_response())
}

/// What artifact contents are served with: a sandbox (a unique origin, no scripts, no forms),
/// whether shown in the UI's frame or opened directly.
const ARTIFACT_CSP: &str = "sandbox; script-src 'none'; frame-ancestors 'self'";

/// The largest Markdown artifact rendered to HTML.
const MAX_MARKDOWN_BYTES: u64 = 4 * 1024 * 1024;

/// A Markdown artifact rendered to HTML (pulldown-cmark), for the UI's sandboxed viewer.
async fn markdown_as_html(what: &str, path: &std::path::Path) -> ApiResult<Response> {
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| blob_error(what, BlobError::Io(path.display().to_string(), e)))?
        .len();
    if size > MAX_MARKDOWN_BYTES {
        return Err(ApiError::failed_precondition(format!(
            "{what}: {size} bytes is too large to render (limit {MAX_MARKDOWN_BYTES}); download it raw"
        )));
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| ApiError::invalid(format!("{what}: not UTF-8 text: {e}")))?;
    Ok(render_markdown(&text))
}

/// Markdown as a sandboxed HTML page.
fn render_markdown(text: &str) -> Response {
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><body style=\"font-family:system-ui,sans-serif\">",
    );
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(text));
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Shown in a sandboxed frame; sandboxed if opened directly too.
            (header::CONTENT_SECURITY_POLICY, ARTIFACT_CSP),
        ],
        html,
    )
        .into_response()
}

fn collect_files(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.display().to_string());
        }
    }
}

/// A run's task details a page at a time (`page_size` 1–1000, default 500; `page_token` from
/// the previous answer), in the order `GET /apis/v2beta1/runs/{run_id}` lists them: for runs
/// with more tasks than one `GET` carries.
#[utoipa::path(get, path = "/apis/penstock/v1/runs/{run_id}/tasks",
    params(("run_id" = String, Path), ("page_size" = Option<u32>, Query),
        ("page_token" = Option<String>, Query)),
    responses((status = 200, description = "{\"task_details\": [...], \"total_size\", \"next_page_token\"}"),
        (status = 400), (status = 404)))]
pub async fn run_tasks(
    State(s): State<ApiState>,
    who: Principal,
    Path(run_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    if let Some(unknown) = q
        .keys()
        .find(|k| !["page_size", "page_token"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "unknown query parameter '{unknown}'; expected page_size or page_token"
        )));
    }
    let page_size = bounded(&q, "page_size", 500, 1..=1000)? as usize;
    let (run, meta) = visible_run(&s, &who, &run_id).await?;
    let tasks = s.store.list_tasks(&run_id).await?;
    let start = match q.get("page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= tasks.len())
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "page_token '{t}' is not a token this server issued for this run"
                ))
            })?,
    };
    let end = (start + page_size).min(tasks.len());
    let message = crate::wire::run_message(&run, &meta, Some(&tasks[start..end]));
    let details = serde_json::to_value(&message).map_err(|e| ApiError::internal(e.to_string()))?
        ["run_details"]["task_details"]
        .take();
    let mut answer = json!({
        "task_details": if details.is_null() { json!([]) } else { details },
        "total_size": tasks.len(),
    });
    if end < tasks.len() {
        answer["next_page_token"] = json!(end.to_string());
    }
    Ok(Json(answer))
}

/// A run's config, summary scalars and logged curves (live while it runs).
#[utoipa::path(get, path = "/apis/penstock/v1/runs/{run_id}/metrics",
    params(("run_id" = String, Path)),
    responses((status = 200, body = crate::tracking::RunMetrics), (status = 404)))]
pub async fn run_metrics(
    State(s): State<ApiState>,
    who: Principal,
    Path(run_id): Path<String>,
) -> ApiResult<Json<crate::tracking::RunMetrics>> {
    let (run, _) = visible_run(&s, &who, &run_id).await?;
    let tasks = s.store.list_tasks(&run_id).await?;
    Ok(Json(crate::tracking::run_metrics(&s.home, &run, &tasks)))
}

/// `POST /apis/penstock/v1/schedule-preview` request.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePreviewRequest {
    /// The trigger to preview.
    pub trigger: crate::wire::Trigger,
}

/// A trigger in words and its next fire times.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SchedulePreview {
    /// E.g. `every 3600 s` or `cron "0 0 9 * * 1-5" (Europe/Berlin)`.
    pub description: String,
    /// The next five fire times (RFC 3339, UTC).
    pub next: Vec<String>,
    /// The last tick fired, for a stored recurring run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tick: Option<String>,
}

/// Validates a trigger and shows when it would fire (for the create-run form).
#[utoipa::path(post, path = "/apis/penstock/v1/schedule-preview", request_body = SchedulePreviewRequest,
    responses((status = 200, body = SchedulePreview), (status = 400)))]
pub async fn schedule_preview(body: axum::body::Bytes) -> ApiResult<Json<SchedulePreview>> {
    let req: SchedulePreviewRequest = crate::wire::parse_body("request", &body)?;
    let now = jiff::Timestamp::now();
    let schedule = crate::trigger::validate_trigger(Some(&req.trigger), now)?;
    Ok(Json(SchedulePreview {
        description: schedule.describe(),
        next: crate::scheduler::upcoming(&schedule, None, now, 5)
            .iter()
            .map(ToString::to_string)
            .collect(),
        last_tick: None,
    }))
}

/// A stored recurring run's trigger in words and next fire times (none while disabled).
#[utoipa::path(get, path = "/apis/penstock/v1/recurringruns/{recurring_run_id}/schedule",
    responses((status = 200, body = SchedulePreview), (status = 404)))]
pub async fn recurring_schedule(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SchedulePreview>> {
    let row = visible_recurring_run(&s.store, &who, &id).await?;
    let schedule = crate::scheduler::stored_schedule(&row)?;
    let next = if row.enabled {
        crate::scheduler::upcoming(&schedule, row.last_tick, jiff::Timestamp::now(), 5)
    } else {
        Vec::new()
    };
    Ok(Json(SchedulePreview {
        description: schedule.describe(),
        next: next.iter().map(ToString::to_string).collect(),
        last_tick: row.last_tick.map(|t| t.to_string()),
    }))
}

/// Artifacts, newest first, a page at a time: `page_size` (1–200, default 50), `page_token` (the
/// previous answer's `next_page_token`), `type` (a schema title such as `system.Model`) and `name`
/// (a substring of the output name).
#[utoipa::path(get, path = "/apis/penstock/v1/artifacts",
    params(("page_size" = Option<u32>, Query), ("page_token" = Option<String>, Query),
        ("type" = Option<String>, Query), ("name" = Option<String>, Query)),
    responses((status = 200, description = "{\"artifacts\": [...], \"next_page_token\": \"...\"}"), (status = 400)))]
pub async fn artifacts(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    if let Some(unknown) = q
        .keys()
        .find(|k| !["page_size", "page_token", "type", "name"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "unknown query parameter '{unknown}'; expected page_size, page_token, type or name"
        )));
    }
    let page_size = bounded(&q, "page_size", 50, 1..=200)?;
    let before = match q.get("page_token").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            ApiError::invalid(format!(
                "page_token '{t}' is not a token this server issued; use the next_page_token of a previous answer"
            ))
        })?),
    };
    let nonempty = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let filter = ArtifactFilter {
        schema_title: nonempty("type"),
        name_contains: nonempty("name"),
        namespaces: who.list_scope(None)?,
    };
    let mut list = s
        .store
        .list_artifacts(&filter, before, page_size + 1)
        .await?;
    let next = if list.len() > page_size as usize {
        list.truncate(page_size as usize);
        list.last().map(|a| a.artifact_id.to_string())
    } else {
        None
    };
    let mut answer = json!({ "artifacts": list });
    if let Some(next) = next {
        answer["next_page_token"] = json!(next);
    }
    Ok(Json(answer))
}

/// An artifact with its lineage (the tasks that produced and consumed it).
#[utoipa::path(get, path = "/apis/penstock/v1/artifacts/{artifact_id}",
    responses((status = 200, description = "{\"artifact\": {...}, \"events\": [...]}"), (status = 404)))]
pub async fn artifact(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let not_found = || ApiError::not_found(format!("artifact '{id}' not found"));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    let (artifact, events) = s.store.get_artifact(number).await?;
    if who.list_scope(None)?.is_some() {
        // Limited callers see an artifact only through a run they can see.
        let run_id = artifact.run_id.clone().ok_or_else(not_found)?;
        visible_run(&s, &who, &run_id)
            .await
            .map_err(|_| not_found())?;
    }
    Ok(Json(json!({ "artifact": artifact, "events": events })))
}

/// The scalars of several runs at once (`run_ids=a,b,c`, at most 200): one request for a whole
/// runs-list page of metric columns.
#[utoipa::path(get, path = "/apis/penstock/v1/scalars",
    params(("run_ids" = String, Query, description = "comma-separated run ids")),
    responses((status = 200, description = "{\"scalars\": [{run_id, task, name, value}]}"), (status = 400)))]
pub async fn scalars(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    let ids = visible_runs(&s, &who, id_list(&q, "run_ids", 0..=200)?).await?;
    let rows = s.store.run_scalars(&ids).await?;
    let scalars: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(run_id, task, name, value)| {
            json!({"run_id": run_id, "task": task, "name": name, "value": value})
        })
        .collect();
    Ok(Json(json!({ "scalars": scalars })))
}

/// What the compare page shows for 2–10 runs (`run_ids=a,b`), in one request: each run with its
/// task details (as `GET /apis/v2beta1/runs/{id}`) and its config, scalars and curves (as
/// `…/runs/{id}/metrics`), in the order asked.
#[utoipa::path(get, path = "/apis/penstock/v1/compare",
    params(("run_ids" = String, Query, description = "2 to 10 comma-separated run ids")),
    responses((status = 200, description = "{\"runs\": [{\"run\": Run, \"metrics\": RunMetrics}]}"), (status = 400), (status = 404)))]
pub async fn compare(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    let ids = id_list(&q, "run_ids", 2..=10)?;
    let mut runs = Vec::with_capacity(ids.len());
    for id in &ids {
        let (run, meta) = visible_run(&s, &who, id).await?;
        let tasks = s.store.list_tasks(id).await?;
        let metrics = crate::tracking::run_metrics(&s.home, &run, &tasks);
        let shown = &tasks[..tasks.len().min(super::runs::MAX_TASK_DETAILS)];
        runs.push(json!({
            "run": crate::wire::run_message(&run, &meta, Some(shown)),
            "metrics": metrics,
        }));
    }
    Ok(Json(json!({ "runs": runs })))
}

/// The newest runs of several experiments at once (`experiment_ids=a,b`, at most 200;
/// `per_experiment` 1–20, default 5; archived runs left out): the experiments list's "recent
/// runs" column for a whole page in one request.
#[utoipa::path(get, path = "/apis/penstock/v1/recent-runs",
    params(("experiment_ids" = String, Query, description = "comma-separated experiment ids"),
        ("per_experiment" = Option<u32>, Query)),
    responses((status = 200, description = "{\"experiments\": [{\"experiment_id\", \"runs\": [{run_id, display_name, state}]}]}"), (status = 400)))]
pub async fn recent_runs(
    State(s): State<ApiState>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    let ids = id_list(&q, "experiment_ids", 0..=200)?;
    let per = bounded(&q, "per_experiment", 5, 1..=20)?;
    // Experiments outside the caller's namespaces answer with no runs, like unknown ones.
    let mut visible = Vec::with_capacity(ids.len());
    for id in &ids {
        if super::experiments::visible_experiment(&s.store, &who, id)
            .await
            .is_ok()
        {
            visible.push(id.clone());
        }
    }
    let rows = s.store.recent_runs_by_experiment(&visible, per).await?;
    let experiments: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            let runs: Vec<serde_json::Value> = rows
                .iter()
                .filter(|(e, ..)| e == id)
                .map(|(_, run_id, name, state)| {
                    json!({"run_id": run_id, "display_name": name, "state": state})
                })
                .collect();
            json!({"experiment_id": id, "runs": runs})
        })
        .collect();
    Ok(Json(json!({ "experiments": experiments })))
}

/// Every scalar name runs have produced (the metric columns one can choose).
#[utoipa::path(get, path = "/apis/penstock/v1/scalar-names",
    responses((status = 200, description = "{\"names\": [...]}")))]
pub async fn scalar_names(
    State(s): State<ApiState>,
    who: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    let names = match who.list_scope(None)? {
        None => s.store.scalar_names().await?,
        Some(namespaces) => s.store.scalar_names_in(&namespaces).await?,
    };
    Ok(Json(json!({ "names": names })))
}

/// The ids among `ids` whose runs the caller can see (the others are left out, as unknown
/// ids are).
async fn visible_runs(s: &ApiState, who: &Principal, ids: Vec<String>) -> ApiResult<Vec<String>> {
    if who.list_scope(None)?.is_none() {
        return Ok(ids);
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if visible_run(s, who, &id).await.is_ok() {
            out.push(id);
        }
    }
    Ok(out)
}

/// A comma-separated list of ids in query parameter `key` (absent = none), whose length must lie
/// in `count`.
fn id_list(
    q: &HashMap<String, String>,
    key: &str,
    count: std::ops::RangeInclusive<usize>,
) -> ApiResult<Vec<String>> {
    let ids: Vec<String> = q
        .get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !count.contains(&ids.len()) {
        return Err(ApiError::invalid(format!(
            "{key}: {} id(s); expected {} to {}, comma-separated",
            ids.len(),
            count.start(),
            count.end()
        )));
    }
    Ok(ids)
}

/// A whole number in query parameter `key`, `default` when absent, which must lie in `allowed`.
fn bounded(
    q: &HashMap<String, String>,
    key: &str,
    default: u32,
    allowed: std::ops::RangeInclusive<u32>,
) -> ApiResult<u32> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| allowed.contains(n))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "{key}: '{v}' must be a whole number from {} to {}",
                    allowed.start(),
                    allowed.end()
                ))
            }),
    }
}
