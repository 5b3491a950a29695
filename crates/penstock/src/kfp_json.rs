//! Converts recorded runs to KFP's v2beta1 `Run` JSON (snake_case keys, enum names, RFC 3339
//! times) and to the text summary the CLI prints.

use penstock_engine::{RunRecord, TaskRecord, TaskState};
use serde_json::{json, Map, Value};

fn kfp_task_state(state: TaskState) -> &'static str {
    match state {
        // v2beta1 has no CACHED runtime state: a cached task is complete with outputs.
        TaskState::Cached => "SUCCEEDED",
        other => other.name(),
    }
}

fn time(t: &Option<jiff::Timestamp>) -> Value {
    t.map(|t| Value::String(t.to_string()))
        .unwrap_or(Value::Null)
}

/// A task as a v2beta1 `PipelineTaskDetail`, plus Penstock's `penstock` extension object
/// (path, kind, attempts, cache decision, log URI and resolved values).
pub fn task_json(task: &TaskRecord, all: &[TaskRecord]) -> Value {
    let children: Vec<Value> = all
        .iter()
        .filter(|t| t.parent_task_id.as_deref() == Some(task.task_id.as_str()))
        .map(|t| json!({"task_id": t.task_id}))
        .collect();
    let display = match task.iteration {
        Some(i) => format!("{}-{i}", task.name),
        None => task.name.clone(),
    };
    let mut detail = json!({
        "run_id": task.run_id,
        "task_id": task.task_id,
        "display_name": display,
        "create_time": task.created_at.to_string(),
        "start_time": time(&task.started_at),
        "end_time": time(&task.finished_at),
        "state": kfp_task_state(task.state),
        "parent_task_id": task.parent_task_id,
        "child_tasks": children,
        "penstock": {
            "path": task.path,
            "kind": task.kind.name(),
            "state": task.state.name(),
            "attempts": task.attempts,
            "cache": task.cache,
            "fingerprint": task.fingerprint,
            "log_uri": task.log_uri,
            "inputs": task.inputs,
            "outputs": task.outputs,
        },
    });
    if let Some(e) = &task.error {
        detail["error"] = json!({"code": 2, "message": e});
    }
    detail
}

/// A run as a v2beta1 `Run`, with `run_details.task_details` and the pipeline's output values.
pub fn run_json(run: &RunRecord, tasks: &[TaskRecord]) -> Value {
    let parameters: Map<String, Value> = run
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut out = json!({
        "run_id": run.run_id,
        "display_name": run.display_name,
        "storage_state": "AVAILABLE",
        "pipeline_spec": run.pipeline_spec,
        "runtime_config": {"parameters": parameters},
        "state": run.state.name(),
        "created_at": run.created_at.to_string(),
        "scheduled_at": time(&run.started_at),
        "finished_at": time(&run.finished_at),
        "outputs": run.outputs,
    });
    if !tasks.is_empty() {
        out["run_details"] = json!({
            "task_details": tasks.iter().map(|t| task_json(t, tasks)).collect::<Vec<_>>(),
        });
    }
    if let Some(e) = &run.error {
        out["error"] = json!({"code": 2, "message": e});
    }
    out
}

fn duration(start: Option<jiff::Timestamp>, end: Option<jiff::Timestamp>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{:.2}s", e.duration_since(s).as_secs_f64()),
        _ => "-".into(),
    }
}

/// The human-readable view of a run and its tasks.
pub fn run_text(run: &RunRecord, tasks: &[TaskRecord]) -> String {
    let mut out = String::new();
    out.push_str(&format!("Run       {}\n", run.run_id));
    out.push_str(&format!("Name      {}\n", run.display_name));
    out.push_str(&format!("Pipeline  {}\n", run.pipeline_name));
    out.push_str(&format!("State     {}\n", run.state));
    out.push_str(&format!("Created   {}\n", run.created_at));
    out.push_str(&format!(
        "Duration  {}\n",
        duration(run.started_at, run.finished_at)
    ));
    if let Some(e) = &run.error {
        out.push_str(&format!("Error     {e}\n"));
    }
    if !run.parameters.is_empty() {
        out.push_str("Parameters\n");
        for (k, v) in &run.parameters {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out.push_str("Tasks\n");
    for t in tasks {
        let cache = t
            .cache
            .as_ref()
            .map(|c| format!("  cache: {}", c.reason))
            .unwrap_or_default();
        let attempts = if t.attempts > 1 {
            format!("  attempts: {}", t.attempts)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:<10} {:>8}  {}{attempts}{cache}\n",
            t.state.name(),
            duration(t.started_at, t.finished_at),
            t.path
        ));
        if let Some(e) = &t.error {
            out.push_str(&format!("             {e}\n"));
        }
    }
    out.push_str(&outputs_text(run));
    out
}

/// The pipeline outputs as text lines.
pub fn outputs_text(run: &RunRecord) -> String {
    let mut out = String::new();
    if !run.outputs.parameters.is_empty() || !run.outputs.artifacts.is_empty() {
        out.push_str("Outputs\n");
        for (k, v) in &run.outputs.parameters {
            out.push_str(&format!("  {k} = {v}\n"));
        }
        for (k, list) in &run.outputs.artifacts {
            for a in list {
                out.push_str(&format!("  {k} = {} ({})\n", a.uri, a.schema_title));
            }
        }
    }
    out
}
