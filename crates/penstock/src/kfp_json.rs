//! Converts recorded runs to KFP's v2beta1 `Run` JSON (snake_case keys, enum names, RFC 3339
//! times) and to the text summary the CLI prints.

use penstock_engine::{RunRecord, TaskRecord};
use penstock_server::wire::{run_message, task_display_name};
use penstock_store::RunMeta;
use serde_json::{json, Value};

/// A run as a v2beta1 `Run` (the server's wire format), with `run_details.task_details` and
/// the pipeline's output values under `outputs`.
pub fn run_json(run: &RunRecord, tasks: &[TaskRecord]) -> Value {
    let meta = RunMeta::in_experiment(String::new(), run);
    let message = run_message(run, &meta, (!tasks.is_empty()).then_some(tasks));
    let mut out = serde_json::to_value(message).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut out {
        map.insert("outputs".into(), json!(run.outputs));
    }
    out
}

fn duration(start: Option<jiff::Timestamp>, end: Option<jiff::Timestamp>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{:.2}s", e.duration_since(s).as_secs_f64()),
        _ => "-".into(),
    }
}

/// How the CLI names a task: its display name (`set_display_name`) followed by its path when
/// they differ, else its path.
pub fn task_label(run: &RunRecord, task: &TaskRecord) -> String {
    let display = task_display_name(&run.pipeline_spec, task);
    let plain = match task.iteration {
        Some(i) => format!("{}-{i}", task.name),
        None => task.name.clone(),
    };
    if display == plain {
        task.path.clone()
    } else {
        format!("{display} ({})", task.path)
    }
}

/// The tasks of a run that `query` names, for `penstock logs RUN TASK`: the task with that
/// path or id; else the tasks with logs whose display name (`set_display_name`) or key is
/// `query` (several when it is ambiguous).
pub fn find_tasks<'a>(
    run: &RunRecord,
    tasks: &'a [TaskRecord],
    query: &str,
) -> Vec<&'a TaskRecord> {
    let exact: Vec<&TaskRecord> = tasks
        .iter()
        .filter(|t| t.path == query || t.task_id == query)
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    let with_logs = || tasks.iter().filter(|t| t.log_uri.is_some());
    let by_display: Vec<&TaskRecord> = with_logs()
        .filter(|t| task_display_name(&run.pipeline_spec, t) == query)
        .collect();
    if !by_display.is_empty() {
        return by_display;
    }
    with_logs().filter(|t| t.name == query).collect()
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
            task_label(run, t)
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
