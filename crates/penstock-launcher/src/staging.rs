//! Staging: the one place that moves artifacts between an object store and the machine that
//! runs a task, whatever the launcher.
//!
//! [`StagingLauncher`] wraps a launcher (local or Docker). When a run's pipeline root is an
//! object-store URI (`s3://bucket/prefix`, `gs://…`, `az://…`), output artifacts get URIs under
//! it (`<root>/<run id>/<task path>/attempt-<n>/<output>`, each attempt its own) and the
//! task's log `<root>/<run id>/logs/<task path>.log`. Before a task starts, every input
//! artifact held in an object store (an upstream output, or an importer's
//! `s3://`/`gs://`/`https://` URI) is fetched to the attempt's own
//! `PENSTOCK_HOME/runs/<run id>/inputs/<task id>/attempt-<n>/<item>/<scheme>/<bucket>/<key>`
//! (removed when the attempt ends), and output artifacts are written to
//! `PENSTOCK_HOME/objects/<scheme>/<bucket>/<key>`; the task sees those local paths. After it
//! succeeds its outputs are uploaded (streaming, multipart; symbolic links are refused, never
//! followed), and the recorded URIs are the object-store ones. The log is
//! uploaded after every attempt, so it outlives the machine. A transfer that fails after the
//! store client's retries fails the task with the URI and the reason; nothing half-written is
//! left (see `penstock_store::object`).

use async_trait::async_trait;
use penstock_engine::{LaunchOutcome, LaunchRequest, ReadySignal, TaskLauncher};
use penstock_store::blob::{remove_any, ObjectUri};
use penstock_store::object;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A launcher that stages object-store artifacts around another launcher's tasks.
pub struct StagingLauncher {
    inner: Arc<dyn TaskLauncher>,
    home: PathBuf,
}

impl StagingLauncher {
    /// Wraps `inner`; staged copies live under `home/objects`.
    pub fn new(inner: Arc<dyn TaskLauncher>, home: PathBuf) -> Self {
        StagingLauncher { inner, home }
    }

    /// Where an output artifact at `uri` is written before it is uploaded:
    /// `home/objects/<scheme>/<bucket>/<key>` (the key holds the attempt, so it is this
    /// attempt's own).
    fn staged(&self, uri: &str) -> Option<(ObjectUri, PathBuf)> {
        let o = ObjectUri::parse(uri)?;
        let path = o.local_path(&objects_dir(&self.home))?;
        Some((o, path))
    }

    /// Where this attempt's copies of its object-store inputs are kept:
    /// `home/runs/<run id>/inputs/<task id>/attempt-<n>`. Its own, so parallel consumers of
    /// one artifact (a ParallelFor over an upstream output) never share or replace a copy.
    fn inputs_dir(&self, request: &LaunchRequest) -> PathBuf {
        self.home
            .join("runs")
            .join(crate::safe_path(&request.run_id).replace('/', "_"))
            .join("inputs")
            .join(crate::safe_path(&request.task_id).replace('/', "_"))
            .join(format!("attempt-{}", request.attempt))
    }
}

/// The object key of an output artifact of one attempt:
/// `<root>/<run id>/<task path>/attempt-<n>/<output>`. Every attempt writes its own keys, so a
/// retry's folder never mixes with an earlier attempt's objects, and an owner fenced out of a
/// run cannot overwrite the outputs of the one that took over (it runs another attempt).
fn attempt_output_uri(
    root: &ObjectUri,
    run_id: &str,
    task_path: &str,
    attempt: u32,
    output_name: &str,
) -> String {
    root.join(run_id)
        .join(&crate::safe_path(task_path))
        .join(&format!("attempt-{attempt}"))
        .join(&crate::safe_path(output_name))
        .to_string()
}

/// Where copies of object-store artifacts are kept on this machine: `home/objects`.
pub fn objects_dir(home: &Path) -> PathBuf {
    home.join("objects")
}

/// The local file a task's log is written to while it runs (whatever its recorded URI).
pub fn local_log_path(home: &Path, run_id: &str, task_path: &str) -> PathBuf {
    home.join("runs")
        .join(run_id)
        .join("logs")
        .join(format!("{}.log", crate::safe_path(task_path)))
}

static DEFAULT_ROOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Checks a pipeline root given by a user: a local folder (absolute path or `file://`) or an
/// `s3://`, `minio://`, `gs://` or `az://` URI with a bucket.
pub fn validate_pipeline_root(root: &str) -> Result<(), String> {
    if let Some(o) = ObjectUri::parse(root) {
        if o.scheme.starts_with("http") {
            return Err(format!(
                "pipeline root '{root}': http(s) URIs are read-only; use s3://, gs://, az:// or a folder"
            ));
        }
        return Ok(());
    }
    if root.contains("://") && !root.starts_with("file://") {
        return Err(format!(
            "pipeline root '{root}': unknown scheme; expected s3://BUCKET/PREFIX, minio://, gs://, az://CONTAINER/PREFIX or a folder"
        ));
    }
    if !Path::new(root.strip_prefix("file://").unwrap_or(root)).is_absolute() {
        return Err(format!(
            "pipeline root '{root}': a folder must be an absolute path"
        ));
    }
    Ok(())
}

/// Sets this process's pipeline root (`--pipeline-root` / `PENSTOCK_PIPELINE_ROOT`), used by
/// runs that name none themselves; checked first. Only the first call counts.
pub fn set_default_pipeline_root(root: Option<String>) -> Result<(), String> {
    let root = root.filter(|r| !r.trim().is_empty());
    if let Some(r) = &root {
        validate_pipeline_root(r)?;
    }
    let _ = DEFAULT_ROOT.set(root);
    Ok(())
}

/// This process's pipeline root, if one was configured.
pub fn default_pipeline_root() -> Option<String> {
    DEFAULT_ROOT.get().cloned().flatten()
}

/// The pipeline root a run uses, as in Kubeflow: the run's own (`runtime_config.pipeline_root`),
/// else the spec's `defaultPipelineRoot`, else the configured one, else the run's folder
/// `home/runs/<run id>/artifacts`.
pub fn pipeline_root_for(
    run_root: Option<&str>,
    pipeline_spec: &serde_json::Value,
    home: &Path,
    run_id: &str,
) -> String {
    run_root
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .or_else(|| {
            pipeline_spec
                .get("defaultPipelineRoot")
                .and_then(serde_json::Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
        })
        .or_else(default_pipeline_root)
        .unwrap_or_else(|| {
            home.join("runs")
                .join(run_id)
                .join("artifacts")
                .display()
                .to_string()
        })
}

/// The object-store root of a run, when its pipeline root is one.
fn object_root(pipeline_root: &str) -> Option<ObjectUri> {
    ObjectUri::parse(pipeline_root).filter(|o| !o.scheme.starts_with("http"))
}

fn cancelled() -> LaunchOutcome {
    LaunchOutcome::Canceled
}

fn failed(message: String) -> LaunchOutcome {
    LaunchOutcome::Failed {
        message,
        exit_code: None,
    }
}

impl StagingLauncher {
    /// Fetches object-store inputs; rewrites their URIs to the local copies.
    async fn fetch_inputs(&self, request: &mut LaunchRequest) -> Result<(), String> {
        let base = self.inputs_dir(request);
        for (name, list) in request.artifacts.iter_mut() {
            for (index, a) in list.iter_mut().enumerate() {
                // An artifact list may hold one URI twice: each item its own copy.
                let local = ObjectUri::parse(&a.uri)
                    .and_then(|o| o.local_path(&base.join(index.to_string())));
                let Some(local) = local else {
                    if penstock_store::blob::is_object_uri(&a.uri) {
                        return Err(format!(
                            "input artifact '{name}': {} cannot be stored under {}",
                            a.uri,
                            self.home.display()
                        ));
                    }
                    continue;
                };
                let started = std::time::Instant::now();
                let bytes = object::download(&a.uri, &local)
                    .await
                    .map_err(|e| format!("input artifact '{name}': fetching {e}"))?;
                tracing::info!(
                    uri = a.uri,
                    bytes,
                    ms = started.elapsed().as_millis() as u64,
                    "fetched input artifact"
                );
                a.uri = local.display().to_string();
            }
        }
        Ok(())
    }

    /// Points object-store outputs at fresh local paths; returns local path → URI.
    async fn plan_outputs(
        &self,
        request: &mut LaunchRequest,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut planned = BTreeMap::new();
        let root = object_root(&request.pipeline_root);
        for (name, a) in request.output_artifacts.iter_mut() {
            // The engine picks one URI for every attempt; this attempt writes its own keys.
            if let Some(root) = &root {
                let chosen = self.output_artifact_uri_under(
                    &request.pipeline_root,
                    &request.run_id,
                    &request.task_path,
                    name,
                );
                if a.uri == chosen {
                    a.uri = attempt_output_uri(
                        root,
                        &request.run_id,
                        &request.task_path,
                        request.attempt,
                        name,
                    );
                }
            }
            let Some((_, local)) = self.staged(&a.uri) else {
                continue;
            };
            // A fresh location: nothing an earlier attempt left is uploaded again.
            remove_any(&local)
                .await
                .map_err(|e| format!("output artifact '{name}': {}: {e}", local.display()))?;
            if let Some(parent) = local.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| format!("output artifact '{name}': {}: {e}", parent.display()))?;
            }
            let local = local.display().to_string();
            planned.insert(local.clone(), a.uri.clone());
            a.uri = local;
        }
        Ok(planned)
    }

    /// Uploads outputs written to planned local paths; the outcome gets the object URIs.
    async fn upload_outputs(
        &self,
        outcome: &mut LaunchOutcome,
        planned: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let LaunchOutcome::Succeeded { artifacts, .. } = outcome else {
            return Ok(());
        };
        for (name, list) in artifacts.iter_mut() {
            for a in list.iter_mut() {
                // `<planned>` or, for further items of an artifact list, `<planned>-<n>`.
                let Some((local, uri)) = planned.iter().find(|(local, _)| {
                    a.uri == **local
                        || a.uri.strip_prefix(local.as_str()).is_some_and(|rest| {
                            rest.strip_prefix('-')
                                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
                        })
                }) else {
                    continue;
                };
                let target = format!("{uri}{}", &a.uri[local.len()..]);
                let source = PathBuf::from(&a.uri);
                if tokio::fs::symlink_metadata(&source).await.is_ok() {
                    let started = std::time::Instant::now();
                    let bytes = object::upload(&source, &target)
                        .await
                        .map_err(|e| match e {
                            e @ penstock_store::blob::BlobError::Io(..) => {
                                format!("output artifact '{name}': not uploaded to {target}: {e}")
                            }
                            e => format!("output artifact '{name}': uploading to {e}"),
                        })?;
                    tracing::info!(
                        uri = target,
                        bytes,
                        ms = started.elapsed().as_millis() as u64,
                        "uploaded output artifact"
                    );
                }
                a.uri = target;
            }
        }
        Ok(())
    }

    /// Removes an attempt's copies of its inputs (they are fetched again for another attempt).
    async fn remove_inputs(&self, dir: &Path) {
        if let Err(e) = remove_any(dir).await {
            tracing::warn!("cannot remove the input copies in {}: {e}", dir.display());
        }
    }

    async fn upload_log(&self, request: &LaunchRequest) {
        let Some(uri) =
            self.log_uri_under(&request.pipeline_root, &request.run_id, &request.task_path)
        else {
            return;
        };
        if ObjectUri::parse(&uri).is_none() {
            return;
        }
        let local = local_log_path(&self.home, &request.run_id, &request.task_path);
        if let Err(e) = object::upload(&local, &uri).await {
            tracing::warn!("task {} log kept only locally: {e}", request.task_path);
        }
    }
}

impl StagingLauncher {
    /// Whether `request` reads or writes anything in an object store (else the inner launcher
    /// runs it as it is).
    fn stages(request: &LaunchRequest) -> bool {
        request
            .artifacts
            .values()
            .flatten()
            .any(|a| penstock_store::blob::is_object_uri(&a.uri))
            || request
                .output_artifacts
                .values()
                .any(|a| penstock_store::blob::is_object_uri(&a.uri))
            || object_root(&request.pipeline_root).is_some()
    }
}

#[async_trait]
impl TaskLauncher for StagingLauncher {
    async fn launch_when_ready(
        &self,
        request: LaunchRequest,
        cancel: CancellationToken,
        ready: ReadySignal,
    ) -> LaunchOutcome {
        if !Self::stages(&request) {
            return self.inner.launch_when_ready(request, cancel, ready).await;
        }
        if !ready.await {
            return cancelled();
        }
        self.launch(request, cancel).await
    }

    async fn launch(&self, mut request: LaunchRequest, cancel: CancellationToken) -> LaunchOutcome {
        if !Self::stages(&request) {
            return self.inner.launch(request, cancel).await;
        }
        let original = request.clone();
        let inputs = self.inputs_dir(&request);
        let prepared = tokio::select! {
            _ = cancel.cancelled() => Err(None),
            r = async {
                self.fetch_inputs(&mut request).await?;
                self.plan_outputs(&mut request).await
            } => r.map_err(Some),
        };
        let planned = match prepared {
            Ok(p) => p,
            Err(why) => {
                self.remove_inputs(&inputs).await;
                return match why {
                    None => cancelled(),
                    Some(message) => failed(message),
                };
            }
        };
        let mut outcome = self.inner.launch(request, cancel.clone()).await;
        self.remove_inputs(&inputs).await;
        let uploaded = tokio::select! {
            _ = cancel.cancelled() => Err(None),
            r = self.upload_outputs(&mut outcome, &planned) => r.map_err(Some),
        };
        self.upload_log(&original).await;
        match uploaded {
            Ok(()) => outcome,
            Err(None) => cancelled(),
            Err(Some(message)) => failed(message),
        }
    }

    fn output_artifact_uri(&self, run_id: &str, task_path: &str, output_name: &str) -> String {
        self.inner
            .output_artifact_uri(run_id, task_path, output_name)
    }

    fn output_artifact_uri_under(
        &self,
        pipeline_root: &str,
        run_id: &str,
        task_path: &str,
        output_name: &str,
    ) -> String {
        match object_root(pipeline_root) {
            Some(root) => root
                .join(run_id)
                .join(&crate::safe_path(task_path))
                .join(&crate::safe_path(output_name))
                .to_string(),
            None => {
                self.inner
                    .output_artifact_uri_under(pipeline_root, run_id, task_path, output_name)
            }
        }
    }

    fn log_uri(&self, run_id: &str, task_path: &str) -> Option<String> {
        self.inner.log_uri(run_id, task_path)
    }

    fn log_uri_under(&self, pipeline_root: &str, run_id: &str, task_path: &str) -> Option<String> {
        match object_root(pipeline_root) {
            Some(root) => Some(
                root.join(run_id)
                    .join("logs")
                    .join(&format!("{}.log", crate::safe_path(task_path)))
                    .to_string(),
            ),
            None => self.inner.log_uri_under(pipeline_root, run_id, task_path),
        }
    }

    async fn artifact_exists(&self, uri: &str) -> bool {
        if !penstock_store::blob::is_object_uri(uri) {
            return self.inner.artifact_exists(uri).await;
        }
        match object::exists(uri).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("cannot tell whether {uri} exists, so it is not reused: {e}");
                false
            }
        }
    }

    async fn log_tail(&self, run_id: &str, task_path: &str, lines: usize) -> Vec<String> {
        self.inner.log_tail(run_id, task_path, lines).await
    }

    async fn stop_leftovers(&self, run_id: &str) -> usize {
        self.inner.stop_leftovers(run_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LauncherConfig, LocalLauncher};

    #[test]
    fn live_log_path_is_the_local_launchers() {
        let home = PathBuf::from("/h");
        let local = LocalLauncher::new(LauncherConfig::new(home.clone()));
        assert_eq!(
            local_log_path(&home, "r1", "a/b c"),
            local.log_path("r1", "a/b c")
        );
    }

    #[test]
    fn object_roots_give_object_uris() {
        let home = PathBuf::from("/h");
        let inner = Arc::new(LocalLauncher::new(LauncherConfig::new(home.clone())));
        let s = StagingLauncher::new(inner, home);
        assert_eq!(
            s.output_artifact_uri_under("s3://b/pre/", "r1", "loop/t[0]", "out"),
            "s3://b/pre/r1/loop/t[0]/out"
        );
        assert_eq!(
            s.log_uri_under("s3://b/pre", "r1", "t").as_deref(),
            Some("s3://b/pre/r1/logs/t.log")
        );
        assert_eq!(
            s.output_artifact_uri_under("/local/root", "r1", "t", "out"),
            "/h/runs/r1/artifacts/t/out"
        );
        let (_, local) = s.staged("s3://b/pre/r1/t/out").unwrap();
        assert_eq!(local, Path::new("/h/objects/s3/b/pre/r1/t/out"));
        let root = ObjectUri::parse("s3://b/pre/").unwrap();
        assert_eq!(
            attempt_output_uri(&root, "r1", "loop/t[0]", 2, "out"),
            "s3://b/pre/r1/loop/t[0]/attempt-2/out"
        );
    }
}
