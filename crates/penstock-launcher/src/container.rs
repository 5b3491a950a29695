//! The one place that turns a launch request into the container a task runs in: image,
//! command, arguments, environment, mounts, resources, labels and pull policy.
//!
//! Each launcher only renders a [`TaskContainer`]: the local launcher as a process on the host
//! (its mounts are the host paths themselves), the Docker launcher as a container whose mounts
//! put the same host paths at the same places inside it, and a Kubernetes launcher would render
//! it as a pod. Keeping this in one place means every launcher gives a task the same files,
//! variables and limits.

use crate::render::{Renderer, TaskPaths};
use penstock_engine::LaunchRequest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Label keys put on everything a launcher starts for a task, so that a restarted Penstock can
/// find what an earlier process left behind.
pub mod labels {
    /// The run a container belongs to.
    pub const RUN_ID: &str = "io.penstock.run-id";
    /// The task a container runs.
    pub const TASK_ID: &str = "io.penstock.task-id";
    /// The task's path in the expanded DAG.
    pub const TASK_PATH: &str = "io.penstock.task-path";
    /// The attempt number.
    pub const ATTEMPT: &str = "io.penstock.attempt";
    /// The pid of the Penstock process that started it.
    pub const SUPERVISOR: &str = "io.penstock.supervisor";
    /// Marks a container as Penstock's.
    pub const MANAGED: &str = "io.penstock.managed";
}

/// A host path made visible to the task at `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The path on the machine that runs Penstock.
    pub host: PathBuf,
    /// Where the task sees it (the same path: the executor input names host paths).
    pub target: PathBuf,
    /// Input artifacts are read-only.
    pub read_only: bool,
}

/// GPUs or other accelerators a task asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Accelerator {
    /// The accelerator type as the spec names it (`nvidia.com/gpu`, `NVIDIA_TESLA_T4`…).
    pub kind: String,
    /// How many.
    pub count: u64,
}

/// CPU, memory and accelerator limits from the spec's `resources`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// CPU limit in cores.
    pub cpu_limit: Option<f64>,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// Accelerators.
    pub accelerator: Option<Accelerator>,
}

/// When to pull a task's image, as Kubernetes' `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull before every task.
    Always,
    /// Use a local image if there is one, else pull (the default).
    IfNotPresent,
    /// Never pull: a missing image fails the task.
    Never,
}

/// Everything a launcher needs to start one attempt of a task.
#[derive(Debug, Clone)]
pub struct TaskContainer {
    /// The container image.
    pub image: String,
    /// The rendered command (replaces the image's entry point when not empty).
    pub command: Vec<String>,
    /// The rendered arguments (replace the image's default command).
    pub args: Vec<String>,
    /// The spec's environment variables, rendered, in order.
    pub env: Vec<(String, String)>,
    /// The files the task reads and writes.
    pub mounts: Vec<Mount>,
    /// Limits.
    pub resources: Resources,
    /// Labels identifying the run, task and attempt.
    pub labels: BTreeMap<String, String>,
    /// When to pull the image.
    pub pull_policy: PullPolicy,
}

impl TaskContainer {
    /// Renders `request` for one attempt whose files are at `paths`; `metrics_file` is the
    /// task's `PENSTOCK_METRICS_FILE`.
    pub fn build(
        request: &LaunchRequest,
        paths: &TaskPaths,
        metrics_file: &Path,
    ) -> Result<TaskContainer, String> {
        let renderer = Renderer::new(request, paths);
        let command = renderer
            .items(&request.container.command)
            .map_err(|e| format!("command: {e}"))?;
        let args = renderer
            .items(&request.container.args)
            .map_err(|e| format!("args: {e}"))?;
        let mut env = Vec::new();
        for var in &request.container.env {
            let value = renderer
                .text(&var.value)
                .map_err(|e| format!("env {}: {e}", var.name))?;
            env.push((var.name.clone(), value));
        }
        let resources = match &request.container.resources {
            Some(value) => parse_resources(value)?,
            None => Resources::default(),
        };
        let pull_policy = match &request.platform_config {
            Some(config) => pull_policy(config)?,
            None => PullPolicy::IfNotPresent,
        };
        let mut labels = BTreeMap::new();
        labels.insert(labels::MANAGED.to_string(), "true".to_string());
        labels.insert(labels::RUN_ID.to_string(), request.run_id.clone());
        labels.insert(labels::TASK_ID.to_string(), request.task_id.clone());
        labels.insert(labels::TASK_PATH.to_string(), request.task_path.clone());
        labels.insert(labels::ATTEMPT.to_string(), request.attempt.to_string());
        labels.insert(
            labels::SUPERVISOR.to_string(),
            std::process::id().to_string(),
        );
        Ok(TaskContainer {
            image: request.container.image.clone(),
            command,
            args,
            env,
            mounts: mounts(request, paths, metrics_file),
            resources,
            labels,
            pull_policy,
        })
    }

    /// The command and its arguments as one list, as a process on the host runs them.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.command.clone();
        argv.extend(self.args.iter().cloned());
        argv
    }
}

/// The files a task reads and writes: input artifacts (read-only), the folders its output
/// artifacts go to, its output parameter and executor output folder, the run's workspace and
/// its metrics file. Each is mounted at its own path.
fn mounts(request: &LaunchRequest, paths: &TaskPaths, metrics_file: &Path) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    let mut add = |path: &Path, read_only: bool| {
        if mounts.iter().any(|m| path.starts_with(&m.target)) {
            return;
        }
        mounts.retain(|m| !m.target.starts_with(path));
        mounts.push(Mount {
            host: path.to_path_buf(),
            target: path.to_path_buf(),
            read_only,
        });
    };
    // Outputs first, so that an input inside an output folder is not mounted twice.
    for artifact in request.output_artifacts.values() {
        if let Some(parent) =
            local_path(&artifact.uri).and_then(|p| p.parent().map(Path::to_path_buf))
        {
            add(&parent, false);
        }
    }
    if let Some(outputs) = paths.parameters_dir.parent() {
        add(outputs, false);
    }
    if let Some(parent) = paths.executor_output.parent() {
        add(parent, false);
    }
    add(&paths.workspace, false);
    add(metrics_file, false);
    for list in request.artifacts.values() {
        for artifact in list {
            if let Some(path) = local_path(&artifact.uri).filter(|p| p.exists()) {
                add(&path, true);
            }
        }
    }
    mounts
}

/// The local path of an artifact URI (`/abs/path` or `file:///abs/path`); remote URIs have none.
fn local_path(uri: &str) -> Option<PathBuf> {
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// Reads `imagePullPolicy` from the task's Kubernetes platform configuration.
fn pull_policy(config: &Value) -> Result<PullPolicy, String> {
    match config.get("imagePullPolicy").and_then(Value::as_str) {
        None | Some("") => Ok(PullPolicy::IfNotPresent),
        Some("Always") => Ok(PullPolicy::Always),
        Some("IfNotPresent") => Ok(PullPolicy::IfNotPresent),
        Some("Never") => Ok(PullPolicy::Never),
        Some(other) => Err(format!(
            "imagePullPolicy '{other}' is not one of Always, IfNotPresent, Never"
        )),
    }
}

/// Parses a Kubernetes CPU quantity (`"2"`, `"0.5"`, `"500m"`) into cores.
pub fn parse_cpu(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let cores = match t.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().map(|m| m / 1000.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("CPU limit '{text}' is not a number of cores (e.g. 2, 0.5 or 500m)"))?;
    if !(cores.is_finite() && cores > 0.0) {
        return Err(format!("CPU limit '{text}' must be more than zero"));
    }
    Ok(cores)
}

/// Parses a Kubernetes memory quantity (`"512Mi"`, `"1G"`, `"1.5Gi"`, `"1000"`) into bytes.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim();
    const UNITS: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    let (number, factor) = UNITS
        .iter()
        .find_map(|(suffix, factor)| t.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((t, 1.0));
    let value = number.parse::<f64>().map_err(|_| {
        format!("memory limit '{text}' is not a quantity of bytes (e.g. 512Mi, 2G or 1000000)")
    })?;
    let bytes = value * factor;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("memory limit '{text}' is out of range"));
    }
    Ok(bytes as u64)
}

/// Reads the spec's `resources` (`PipelineContainerSpec.ResourceSpec`): the string limits the
/// SDK writes (`resourceCpuLimit`, `resourceMemoryLimit`), the older numeric ones (`cpuLimit`
/// in cores, `memoryLimit` in GB) and the accelerator (`resourceType`/`resourceCount`, or the
/// older `type`/`count`). Requests are not limits and are ignored.
pub fn parse_resources(value: &Value) -> Result<Resources, String> {
    let mut resources = Resources::default();
    let Some(map) = value.as_object() else {
        return Err(format!("resources: expected an object, found {value}"));
    };
    if let Some(text) = map.get("resourceCpuLimit").and_then(Value::as_str) {
        if !text.is_empty() {
            resources.cpu_limit = Some(parse_cpu(text).map_err(|e| format!("resources: {e}"))?);
        }
    } else if let Some(cores) = map.get("cpuLimit").and_then(Value::as_f64) {
        if cores > 0.0 {
            resources.cpu_limit = Some(cores);
        }
    }
    if let Some(text) = map.get("resourceMemoryLimit").and_then(Value::as_str) {
        if !text.is_empty() {
            resources.memory_limit =
                Some(parse_memory(text).map_err(|e| format!("resources: {e}"))?);
        }
    } else if let Some(gb) = map.get("memoryLimit").and_then(Value::as_f64) {
        if gb > 0.0 {
            resources.memory_limit = Some((gb * 1e9) as u64);
        }
    }
    if let Some(acc) = map.get("accelerator").and_then(Value::as_object) {
        let kind = acc
            .get("resourceType")
            .or_else(|| acc.get("type"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let count = match acc.get("resourceCount").or_else(|| acc.get("count")) {
            None => 0,
            Some(Value::String(s)) if s.is_empty() => 0,
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("resources: accelerator count '{s}' is not a whole number"))?,
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| format!("resources: accelerator count {n} is not a whole number"))?,
            Some(other) => {
                return Err(format!(
                    "resources: accelerator count {other} is not a whole number"
                ))
            }
        };
        if count > 0 {
            resources.accelerator = Some(Accelerator { kind, count });
        }
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        assert_eq!(parse_cpu("500m").unwrap(), 0.5);
        assert_eq!(parse_cpu("2").unwrap(), 2.0);
        assert!(parse_cpu("lots").unwrap_err().contains("'lots'"));
        assert!(parse_cpu("0").is_err());
        assert_eq!(parse_memory("512Mi").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2G").unwrap(), 2_000_000_000);
        assert_eq!(parse_memory("1000").unwrap(), 1000);
        assert!(parse_memory("12XB").unwrap_err().contains("'12XB'"));
    }

    #[test]
    fn resources_read_new_and_old_fields() {
        let r = parse_resources(&json!({
            "resourceCpuLimit": "250m", "resourceMemoryLimit": "64Mi",
            "accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "2"}
        }))
        .unwrap();
        assert_eq!(r.cpu_limit, Some(0.25));
        assert_eq!(r.memory_limit, Some(64 << 20));
        assert_eq!(
            r.accelerator,
            Some(Accelerator {
                kind: "nvidia.com/gpu".into(),
                count: 2
            })
        );
        let old = parse_resources(&json!({"cpuLimit": 1.5, "memoryLimit": 0.5,
            "accelerator": {"type": "NVIDIA_TESLA_T4", "count": 1}}))
        .unwrap();
        assert_eq!(old.cpu_limit, Some(1.5));
        assert_eq!(old.memory_limit, Some(500_000_000));
        assert_eq!(old.accelerator.map(|a| a.count), Some(1));
        let err = parse_resources(&json!({"resourceMemoryLimit": "much"})).unwrap_err();
        assert!(err.contains("memory limit 'much'"), "{err}");
    }

    #[test]
    fn pull_policies_are_named_as_in_kubernetes() {
        assert_eq!(pull_policy(&json!({})).unwrap(), PullPolicy::IfNotPresent);
        assert_eq!(
            pull_policy(&json!({"imagePullPolicy": "Never"})).unwrap(),
            PullPolicy::Never
        );
        let err = pull_policy(&json!({"imagePullPolicy": "Sometimes"})).unwrap_err();
        assert!(err.contains("'Sometimes'"), "{err}");
    }
}
