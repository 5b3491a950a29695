//! KFP v1 output viewers: the `mlpipeline-ui-metadata` output of a v1 step, read and turned
//! into data the web UI draws with the same renderers as v2 artifacts.
//!
//! A v1 step writes `{"outputs": [{"type": ..., "source": ..., "storage": ..., "format":
//! "csv", "header": [...], "schema": [...], "labels": [...]}]}`. Each entry becomes one
//! viewer: `markdown` (rendered to HTML, shown in a sandboxed frame), `table` (header and
//! rows), `confusion_matrix` (labels and counts), `roc` (false positive rate, true positive
//! rate and threshold points), `web-app` (HTML, shown in a sandboxed frame) and `tensorboard`
//! (the log folder, named: Penstock does not host TensorBoard). A source is inline
//! (`storage: inline`) or a file of Penstock's artifact store; anything else (a `gs://`
//! bucket, a path inside the step's own filesystem) is named in a note instead.
//! Nothing here is trusted: the UI puts text in text nodes and HTML only in sandboxed frames.

use super::runs::visible_run;
use super::ApiState;
use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::Json;
use penstock_store::blob::LocalBlobStore;
use serde_json::{json, Map, Value};

/// The output artifact name KFP v1 gives viewer metadata (as Kubeflow's UI looks it up).
pub const UI_METADATA: &str = "mlpipeline-ui-metadata";

/// The largest metadata file or source read.
const MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Rows of a table (and points of a ROC curve) sent to the UI.
const MAX_ROWS: usize = 2_000;
/// Labels of a confusion matrix.
const MAX_LABELS: usize = 200;

/// The viewers of a task's `mlpipeline-ui-metadata` outputs, in order.
#[utoipa::path(get, path = "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/visualizations",
    params(("run_id" = String, Path), ("task_id" = String, Path, description = "task id or task path")),
    responses((status = 200, description = "{\"visualizations\": [{\"type\": ..., ...}]} from the task's mlpipeline-ui-metadata outputs (empty when it has none)"),
        (status = 404)))]
pub async fn task_visualizations(
    State(s): State<ApiState>,
    who: Principal,
    Path((run_id, task)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    visible_run(&s, &who, &run_id).await?;
    let record = s
        .store
        .list_tasks(&run_id)
        .await?
        .into_iter()
        .find(|t| t.task_id == task || t.path == task)
        .ok_or_else(|| ApiError::not_found(format!("run '{run_id}' has no task '{task}'")))?;
    let blobs = LocalBlobStore::new(&s.home);
    let artifacts = record
        .outputs
        .artifacts
        .get(UI_METADATA)
        .cloned()
        .unwrap_or_default();
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for a in &artifacts {
            match read_text(&blobs, &a.uri) {
                Ok(text) => out.extend(viewers(&text, &|src| read_text(&blobs, src))),
                Err(reason) => out.push(note(&format!("{UI_METADATA}: {reason}"))),
            }
        }
        out
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading {UI_METADATA}: {e}")))?;
    Ok(Json(json!({ "visualizations": out })))
}

/// A file of the artifact store as text; the reason otherwise (never a host path outside it).
fn read_text(blobs: &LocalBlobStore, uri: &str) -> Result<String, String> {
    if uri.contains("://") && !uri.starts_with("file://") {
        return Err(format!(
            "{uri} is not stored by Penstock; Penstock reads inline sources and files in its \
             artifact store"
        ));
    }
    let path = blobs.local_path(uri).map_err(|_| {
        format!(
            "{uri} is not a file of Penstock's artifact store (a path inside the step's own \
             filesystem is gone when it ends; write the data inline or as an output artifact)"
        )
    })?;
    let size = std::fs::metadata(&path)
        .map_err(|_| format!("{uri} cannot be read"))?
        .len();
    if size > MAX_BYTES {
        return Err(format!(
            "{uri}: {size} bytes is too large to show (limit {MAX_BYTES})"
        ));
    }
    std::fs::read_to_string(&path).map_err(|_| format!("{uri} is not UTF-8 text"))
}

/// A viewer that could not be drawn, with the reason.
fn note(message: &str) -> Value {
    json!({"type": "note", "message": message})
}

/// The viewers described by one metadata file; `read` fetches a non-inline source.
fn viewers(text: &str, read: &dyn Fn(&str) -> Result<String, String>) -> Vec<Value> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => return vec![note(&format!("{UI_METADATA}: not JSON: {e}"))],
    };
    let Some(outputs) = doc.get("outputs").and_then(Value::as_array) else {
        return vec![note(&format!(
            "{UI_METADATA}: expected {{\"outputs\": [...]}}"
        ))];
    };
    outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            viewer(o, read).unwrap_or_else(|reason| note(&format!("outputs[{i}]: {reason}")))
        })
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One viewer of one `outputs` entry.
fn viewer(o: &Value, read: &dyn Fn(&str) -> Result<String, String>) -> Result<Value, String> {
    let kind = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or("missing `type`")?;
    let source = o.get("source").and_then(Value::as_str).unwrap_or_default();
    if kind == "tensorboard" {
        return Ok(json!({"type": kind, "source": source}));
    }
    if !matches!(
        kind,
        "markdown" | "web-app" | "table" | "confusion_matrix" | "roc"
    ) {
        return Err(format!("viewer type '{kind}' is not supported"));
    }
    let inline = o.get("storage").and_then(Value::as_str) == Some("inline");
    let data = if inline {
        source.to_string()
    } else if source.is_empty() {
        return Err(format!("{kind}: missing `source`"));
    } else {
        read(source)?
    };
    if !matches!(kind, "markdown" | "web-app") {
        if let Some(f) = o.get("format").and_then(Value::as_str) {
            if f != "csv" {
                return Err(format!("{kind}: format '{f}'; expected csv"));
            }
        }
    }
    let mut v = Map::new();
    v.insert("type".into(), json!(kind));
    match kind {
        "markdown" => {
            let mut html = String::from(
                "<!doctype html><meta charset=\"utf-8\"><body style=\"font-family:system-ui,sans-serif\">",
            );
            pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(&data));
            v.insert("html".into(), json!(html));
        }
        "web-app" => {
            v.insert("html".into(), json!(data));
        }
        "table" => {
            let rows = csv(&data);
            let truncated = rows.len() > MAX_ROWS;
            v.insert("header".into(), json!(strings(o.get("header"))));
            v.insert(
                "rows".into(),
                json!(rows.into_iter().take(MAX_ROWS).collect::<Vec<_>>()),
            );
            v.insert("truncated".into(), json!(truncated));
        }
        "confusion_matrix" => {
            // As Kubeflow's viewer: columns are target, predicted, count, in that order.
            let rows = csv(&data);
            let mut labels = strings(o.get("labels"));
            if labels.is_empty() {
                for r in &rows {
                    for l in r.iter().take(2) {
                        if !labels.contains(l) {
                            labels.push(l.clone());
                        }
                    }
                }
            }
            if labels.len() > MAX_LABELS {
                return Err(format!(
                    "confusion_matrix: {} labels; at most {MAX_LABELS} are shown",
                    labels.len()
                ));
            }
            let mut matrix = vec![vec![0f64; labels.len()]; labels.len()];
            for (n, r) in rows.iter().enumerate() {
                let [target, predicted, count] = [0, 1, 2].map(|i| r.get(i).map(String::as_str));
                let (Some(t), Some(p), Some(c)) = (target, predicted, count) else {
                    return Err(format!(
                        "confusion_matrix: row {} has fewer than 3 columns",
                        n + 1
                    ));
                };
                let at = |l: &str| labels.iter().position(|x| x == l);
                let (Some(ti), Some(pi)) = (at(t), at(p)) else {
                    return Err(format!(
                        "confusion_matrix: row {} names a label that is not in `labels`",
                        n + 1
                    ));
                };
                matrix[ti][pi] += c.trim().parse::<f64>().map_err(|_| {
                    format!(
                        "confusion_matrix: row {}: count '{c}' is not a number",
                        n + 1
                    )
                })?;
            }
            v.insert("labels".into(), json!(labels));
            v.insert("matrix".into(), json!(matrix));
        }
        "roc" => {
            // As Kubeflow's viewer: columns are fpr, tpr, threshold, in that order.
            let mut points = Vec::new();
            for (n, r) in csv(&data).iter().enumerate().take(MAX_ROWS) {
                let num = |i: usize| r.get(i).and_then(|x| x.trim().parse::<f64>().ok());
                let (Some(fpr), Some(tpr)) = (num(0), num(1)) else {
                    return Err(format!(
                        "roc: row {}: expected numbers fpr,tpr,threshold",
                        n + 1
                    ));
                };
                points.push(json!({"fpr": fpr, "tpr": tpr, "threshold": num(2)}));
            }
            v.insert("points".into(), json!(points));
        }
        other => return Err(format!("viewer type '{other}' is not supported")),
    }
    Ok(Value::Object(v))
}

/// Rows of CSV text (RFC 4180 quoting), without empty lines.
fn csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].is_empty()) {
                    rows.push(std::mem::take(&mut row));
                }
                row.clear();
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(src: &str) -> Result<String, String> {
        Err(format!("{src} is not stored by Penstock"))
    }

    #[test]
    fn csv_handles_quotes_commas_and_blank_lines() {
        assert_eq!(
            csv("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\n1,2,3"),
            vec![vec!["a", "b,c", "say \"hi\""], vec!["1", "2", "3"]]
        );
    }

    #[test]
    fn each_kubeflow_viewer_becomes_data_for_the_ui() {
        let meta = json!({"outputs": [
            {"type": "markdown", "storage": "inline", "source": "# Title\n<script>x()</script>"},
            {"type": "table", "storage": "inline", "format": "csv", "header": ["a", "b"], "source": "1,<b>2</b>\n3,4\n"},
            {"type": "confusion_matrix", "storage": "inline", "format": "csv", "labels": ["cat", "dog"],
             "schema": [{"name": "target"}, {"name": "predicted"}, {"name": "count"}],
             "source": "cat,cat,7\ncat,dog,1\ndog,cat,2\ndog,dog,5\n"},
            {"type": "roc", "storage": "inline", "format": "csv", "source": "0,0,1\n0.2,0.8,0.5\n1,1,0\n"},
            {"type": "web-app", "storage": "inline", "source": "<h1>app</h1>"},
            {"type": "tensorboard", "source": "gs://bucket/logs"},
            {"type": "table", "format": "csv", "source": "gs://bucket/t.csv"},
            {"type": "pie"}
        ]});
        let v = viewers(&meta.to_string(), &no_files);
        assert_eq!(v.len(), 8);
        assert!(v[0]["html"].as_str().unwrap().contains("<h1>Title</h1>"));
        assert_eq!(v[1]["rows"], json!([["1", "<b>2</b>"], ["3", "4"]]));
        assert_eq!(v[1]["header"], json!(["a", "b"]));
        assert_eq!(v[2]["matrix"], json!([[7.0, 1.0], [2.0, 5.0]]));
        assert_eq!(
            v[3]["points"][1],
            json!({"fpr": 0.2, "tpr": 0.8, "threshold": 0.5})
        );
        assert_eq!(v[4]["html"], "<h1>app</h1>");
        assert_eq!(
            v[5],
            json!({"type": "tensorboard", "source": "gs://bucket/logs"})
        );
        assert_eq!(v[6]["type"], "note");
        assert!(v[6]["message"]
            .as_str()
            .unwrap()
            .contains("gs://bucket/t.csv"));
        assert!(v[7]["message"].as_str().unwrap().contains("'pie'"));
    }

    #[test]
    fn malformed_metadata_is_a_note() {
        assert_eq!(viewers("nope", &no_files)[0]["type"], "note");
        assert_eq!(viewers("{}", &no_files)[0]["type"], "note");
        let bad = json!({"outputs": [{"type": "confusion_matrix", "storage": "inline", "labels": ["a"], "source": "a,b,1"}]});
        assert!(viewers(&bad.to_string(), &no_files)[0]["message"]
            .as_str()
            .unwrap()
            .contains("not in `labels`"));
    }
}
