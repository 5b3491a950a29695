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
/// path or id; else the tasks whose display name (`set_display_name`) or key is `query`,
/// only those with logs when some have (a name used in several places, as in loop
/// iterations). Several tasks mean the query is ambiguous.
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
    let by_name: Vec<&TaskRecord> = tasks
        .iter()
        .filter(|t| t.name == query || task_display_name(&run.pipeline_spec, t) == query)
        .collect();
    let with_logs: Vec<&TaskRecord> = by_name
        .iter()
        .copied()
        .filter(|t| t.log_uri.is_some())
        .collect();
    if with_logs.is_empty() {
        by_name
    } else {
        with_logs
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

#[cfg(test)]
mod tests {
    use super::*;
    use penstock_engine::{RunState, TaskIo, TaskKind, TaskState};

    fn task(path: &str, name: &str, iteration: Option<i64>) -> TaskRecord {
        TaskRecord {
            task_id: format!("id-{path}"),
            run_id: "r".into(),
            parent_task_id: None,
            path: path.into(),
            name: name.into(),
            kind: TaskKind::Container,
            state: TaskState::Succeeded,
            iteration,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            inputs: TaskIo::default(),
            outputs: TaskIo::default(),
            error: None,
            attempts: 1,
            cache: None,
            fingerprint: None,
            log_uri: Some(format!("/logs/{path}")),
        }
    }

    fn run() -> RunRecord {
        RunRecord {
            timeout_seconds: None,
            run_id: "r".into(),
            display_name: "r".into(),
            pipeline_name: "p".into(),
            pipeline_spec: json!({
                "root": {"dag": {"tasks": {
                    "train": {"taskInfo": {"name": "train the model"}, "componentRef": {"name": "c"}},
                    "for-loop-2": {"taskInfo": {"name": "for-loop-2"}, "componentRef": {"name": "loop"}}
                }}},
                "components": {"loop": {"dag": {"tasks": {
                    "score": {"taskInfo": {"name": "score it"}, "componentRef": {"name": "c"}}
                }}}}
            }),
            platform_spec: None,
            parameters: Default::default(),
            state: RunState::Succeeded,
            error: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            outputs: TaskIo::default(),
        }
    }

    #[test]
    fn tasks_are_found_and_labelled_by_display_name_with_their_path() {
        let run = run();
        let mut iteration = task("for-loop-2[0]", "for-loop-2", Some(0));
        iteration.log_uri = None;
        let tasks = vec![
            task("train", "train", None),
            iteration,
            task("for-loop-2[0]/score", "score", None),
            task("for-loop-2[1]/score", "score", None),
        ];
        let paths = |found: Vec<&TaskRecord>| -> Vec<String> {
            found.iter().map(|t| t.path.clone()).collect()
        };
        assert_eq!(
            paths(find_tasks(&run, &tasks, "train the model")),
            ["train"]
        );
        assert_eq!(paths(find_tasks(&run, &tasks, "train")), ["train"]);
        assert_eq!(
            paths(find_tasks(&run, &tasks, "for-loop-2[1]/score")),
            ["for-loop-2[1]/score"]
        );
        assert_eq!(find_tasks(&run, &tasks, "score it").len(), 2, "ambiguous");
        assert!(find_tasks(&run, &tasks, "nothing").is_empty());

        assert_eq!(task_label(&run, &tasks[0]), "train the model (train)");
        assert_eq!(task_label(&run, &tasks[1]), "for-loop-2[0]");
        assert_eq!(
            task_label(&run, &tasks[2]),
            "score it (for-loop-2[0]/score)"
        );
        let text = run_text(&run, &tasks);
        assert!(text.contains("train the model (train)"), "{text}");
    }
}
