//! KFP v1 output viewers: the `mlpipeline-ui-metadata` output of a v1 step, read and turned
//! into data the web UI draws with the same renderers as v2 artifacts.
//!
//! A v1 step writes `{"outputs": [{"type": ..., "source": ..., "storage": ..., "format":
//! "csv", "header": [...], "schema": [...], "labels": [...]}]}`. Each entry becomes one
//! viewer: `markdown` (rendered to HTML, shown in a sandboxed frame), `table` (header and
//! rows), `confusion_matrix` (labels and counts), `roc` (false positive rate, true positive
//! rate and threshold points), `web-app` (HTML, shown in a sandboxed frame) and `tensorboard`
//! (the log folder, named: Penstock does not host TensorBoard). A source is inline
//! (`storage: inline`), a file inside the run's own folder, or an output artifact of the run
//! (a local file, or an object in the run's `s3://`, `gs://`, `az://` or `minio://` pipeline
//! root); anything else (another run's files, a bucket the run did not write, a path inside
//! the step's own filesystem) is named in a note instead.
//! Nothing here is trusted: the UI puts text in text nodes and HTML only in sandboxed frames.

use super::runs::visible_run;
use super::ApiState;
use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::Json;
use penstock_store::blob::ObjectUri;
use serde_json::{json, Map, Value};
use std::path::{Component, PathBuf};

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
    let tasks = s.store.list_tasks(&run_id).await?;
    let record = tasks
        .iter()
        .find(|t| t.task_id == task || t.path == task)
        .ok_or_else(|| ApiError::not_found(format!("run '{run_id}' has no task '{task}'")))?;
    let artifacts = record
        .outputs
        .artifacts
        .get(UI_METADATA)
        .cloned()
        .unwrap_or_default();
    let sources = Sources::new(
        &s.home,
        &run_id,
        tasks
            .iter()
            .flat_map(|t| t.outputs.artifacts.values().flatten())
            .map(|a| a.uri.as_str()),
        Some(tokio::runtime::Handle::current()),
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for a in &artifacts {
            match sources.read_text(&a.uri) {
                Ok(text) => out.extend(viewers(&text, &|src| sources.read_text(src))),
                Err(reason) => out.push(note(&format!("{UI_METADATA}: {reason}"))),
            }
        }
        out
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading {UI_METADATA}: {e}")))?;
    Ok(Json(json!({ "visualizations": out })))
}

/// What a viewer of one run may read: files inside the run's folder (`home/runs/<run_id>/`)
/// and the artifacts of the run's tasks (a file inside a folder artifact included), local or
/// in an object store. Nothing else: a step's metadata is written by the step, so a source
/// naming another run's files, logs or executor inputs is refused.
struct Sources {
    /// The run's folder and its local artifacts inside the home, canonicalised (symbolic
    /// links resolved).
    roots: Vec<PathBuf>,
    /// The same, as recorded (before symbolic links are resolved), for telling "refused" from
    /// "cannot be read" without saying whether a file outside them exists.
    lexical: Vec<PathBuf>,
    /// The run's object-store artifacts.
    objects: Vec<ObjectUri>,
    /// For reading object-store sources; `None`: they cannot be read (tests).
    runtime: Option<tokio::runtime::Handle>,
}

impl Sources {
    fn new<'a>(
        home: &std::path::Path,
        run_id: &str,
        artifact_uris: impl Iterator<Item = &'a str>,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Sources {
        let mut lexical = Vec::new();
        let mut objects = Vec::new();
        // A run id is one name; anything else has no folder.
        if std::path::Path::new(run_id)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
            && !run_id.is_empty()
        {
            lexical.push(home.join("runs").join(run_id));
        }
        for uri in artifact_uris {
            if let Some(o) = ObjectUri::parse(uri) {
                objects.push(o);
            } else if !uri.contains("://") || uri.starts_with("file://") {
                let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
                if path.is_absolute() && !has_dots(&path) {
                    lexical.push(path);
                }
            }
        }
        let home = home.canonicalize().ok();
        let roots = lexical
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .filter(|p| home.as_ref().is_some_and(|h| p.starts_with(h)))
            .collect();
        Sources {
            roots,
            lexical,
            objects,
            runtime,
        }
    }

    fn refused(uri: &str) -> String {
        format!(
            "{uri} is not a file of this run (a viewer reads files in the run's folder and the \
             run's own output artifacts; a path inside the step's own filesystem is gone when it \
             ends: write the data inline or as an output artifact)"
        )
    }

    /// A source of this run as text; the reason otherwise (never a host path outside it).
    fn read_text(&self, uri: &str) -> Result<String, String> {
        let bytes = if let Some(o) = ObjectUri::parse(uri) {
            self.read_object(uri, &o)?
        } else if uri.contains("://") && !uri.starts_with("file://") {
            return Err(format!(
                "{uri} is not stored by Penstock; Penstock reads inline sources, files of the \
                 run and the run's artifacts"
            ));
        } else {
            self.read_file(uri)?
        };
        String::from_utf8(bytes).map_err(|e| format!("{uri} is not UTF-8 text: {e}"))
    }

    fn inside(&self, path: &std::path::Path) -> bool {
        self.roots.iter().any(|r| path.starts_with(r))
    }

    fn read_file(&self, uri: &str) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let path = std::path::Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        if !path.is_absolute() || has_dots(path) {
            return Err(Self::refused(uri));
        }
        let canonical = match path.canonicalize() {
            Ok(c) => c,
            Err(e) if self.lexical.iter().any(|r| path.starts_with(r)) => {
                return Err(format!("{uri} cannot be read: {e}"))
            }
            Err(_) => return Err(Self::refused(uri)),
        };
        if !self.inside(&canonical) {
            return Err(Self::refused(uri));
        }
        let file = open_no_follow(&canonical).map_err(|e| format!("{uri} cannot be read: {e}"))?;
        // Checked again on the open file: a link swapped in since is not followed out.
        if let Ok(opened) = std::fs::read_link(format!("/proc/self/fd/{}", fd_of(&file))) {
            if !self.inside(&opened) {
                return Err(Self::refused(uri));
            }
        }
        let meta = file
            .metadata()
            .map_err(|e| format!("{uri} cannot be read: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{uri} is not a file"));
        }
        if meta.len() > MAX_BYTES {
            return Err(too_large(uri, meta.len()));
        }
        let mut bytes = Vec::new();
        file.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{uri} cannot be read: {e}"))?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(too_large(uri, bytes.len() as u64));
        }
        Ok(bytes)
    }

    fn read_object(&self, uri: &str, o: &ObjectUri) -> Result<Vec<u8>, String> {
        if !self.objects.iter().any(|a| object_within(o, a)) {
            return Err(format!(
                "{uri} is not an artifact of this run (a viewer reads the run's own output \
                 artifacts from an object store)"
            ));
        }
        let Some(runtime) = &self.runtime else {
            return Err(format!("{uri} cannot be read here"));
        };
        runtime.block_on(async {
            use futures_util::StreamExt;
            let (size, mut stream) = penstock_store::object::open(uri)
                .await
                .map_err(|e| format!("{uri} cannot be read: {e}"))?;
            if size > MAX_BYTES {
                return Err(too_large(uri, size));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("{uri} cannot be read: {e}"))?;
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > MAX_BYTES {
                    return Err(too_large(uri, bytes.len() as u64));
                }
            }
            Ok(bytes)
        })
    }
}

fn too_large(uri: &str, size: u64) -> String {
    format!("{uri}: {size} bytes is too large to show (limit {MAX_BYTES})")
}

/// Whether a path has `.` or `..` parts (refused before anything is resolved).
fn has_dots(path: &std::path::Path) -> bool {
    path.components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
}

/// `o` is the artifact `a` or an object under it (`a/…`, no `.`, `..` or empty parts).
fn object_within(o: &ObjectUri, a: &ObjectUri) -> bool {
    if o.scheme != a.scheme || o.bucket != a.bucket {
        return false;
    }
    if o.key
        .split('/')
        .any(|p| p == "." || p == ".." || p.contains('\\'))
        || (!o.key.is_empty() && o.key.split('/').any(str::is_empty))
    {
        return false;
    }
    o.key == a.key
        || a.key.is_empty()
        || o.key
            .strip_prefix(a.key.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Opens a file without following a symbolic link in its last part.
fn open_no_follow(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

fn fd_of(file: &std::fs::File) -> i32 {
    use std::os::fd::AsRawFd;
    file.as_raw_fd()
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

    /// A home with runs `a` (the run shown) and `b`, each with a table and a log.
    fn two_runs() -> (tempfile::TempDir, Sources) {
        let home = tempfile::tempdir().unwrap();
        for run in ["a", "b"] {
            let dir = home.path().join("runs").join(run);
            std::fs::create_dir_all(dir.join("artifacts/t/out")).unwrap();
            std::fs::create_dir_all(dir.join("logs")).unwrap();
            std::fs::write(dir.join("artifacts/t/out/table.csv"), "1,2\n").unwrap();
            std::fs::write(dir.join("logs/t.log"), "secret of {run}\n").unwrap();
        }
        let artifact = home.path().join("runs/a/artifacts/t/out");
        let sources = Sources::new(
            home.path(),
            "a",
            [
                artifact.to_str().unwrap(),
                "s3://bucket/root/a/t/out",
                "gs://other/x.csv",
            ]
            .into_iter(),
            None,
        );
        (home, sources)
    }

    #[test]
    fn sources_of_this_run_are_read() {
        let (home, sources) = two_runs();
        let run = home.path().join("runs/a");
        for file in ["artifacts/t/out/table.csv", "logs/t.log"] {
            let path = run.join(file);
            assert!(sources.read_text(path.to_str().unwrap()).is_ok(), "{file}");
            let uri = format!("file://{}", path.display());
            assert!(sources.read_text(&uri).is_ok(), "{uri}");
        }
        let missing = run.join("artifacts/t/out/missing.csv");
        let err = sources.read_text(missing.to_str().unwrap()).unwrap_err();
        assert!(
            err.contains("cannot be read") && err.contains("missing.csv"),
            "{err}"
        );
    }

    #[test]
    fn another_runs_files_and_dots_are_refused_naming_the_source() {
        let (home, sources) = two_runs();
        let other = home.path().join("runs/b/logs/t.log");
        let dotted = format!("{}/runs/a/../b/logs/t.log", home.path().display());
        let link = home.path().join("runs/a/artifacts/t/out/link.csv");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        let outside = "/etc/hostname";
        for src in [
            other.to_str().unwrap(),
            dotted.as_str(),
            link.to_str().unwrap(),
            outside,
            "s3://bucket/root/b/t/out",
            "s3://bucket/root/a/t/out/../../b/t/out",
            "s3://bucket/root/a/t/outside",
            "relative/table.csv",
        ] {
            let err = sources.read_text(src).unwrap_err();
            assert!(
                err.contains(src) && err.contains("not") && err.contains("this run"),
                "{src}: {err}"
            );
            let shown = viewers(
                &json!({"outputs": [{"type": "table", "format": "csv", "source": src}]})
                    .to_string(),
                &|s| sources.read_text(s),
            );
            assert_eq!(shown[0]["type"], "note");
            assert!(shown[0]["message"].as_str().unwrap().contains(src));
        }
    }

    #[test]
    fn object_store_artifacts_of_the_run_are_allowed() {
        let a = ObjectUri::parse("s3://bucket/root/a/t/out").unwrap();
        for (uri, ok) in [
            ("s3://bucket/root/a/t/out", true),
            ("s3://bucket/root/a/t/out/", true),
            ("s3://bucket/root/a/t/out/table.csv", true),
            ("s3://bucket/root/a/t/outside", false),
            ("s3://bucket/root/a/t/out/../x", false),
            ("s3://bucket/root/a/t/out//x", false),
            ("gs://bucket/root/a/t/out", false),
            ("s3://other/root/a/t/out", false),
        ] {
            let o = ObjectUri::parse(uri).unwrap();
            assert_eq!(object_within(&o, &a), ok, "{uri}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn io_errors_keep_their_text() {
        use std::os::unix::fs::PermissionsExt;
        if nix::unistd::geteuid().is_root() {
            return; // root reads anything
        }
        let (home, sources) = two_runs();
        let path = home.path().join("runs/a/artifacts/t/out/table.csv");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let err = sources.read_text(path.to_str().unwrap()).unwrap_err();
        assert!(err.to_lowercase().contains("permission denied"), "{err}");
        assert!(!err.contains("UTF-8"), "{err}");
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
