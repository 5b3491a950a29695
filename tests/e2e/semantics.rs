//! Kubeflow semantics that the SDK's own pipelines rely on: exit handlers that are pipelines,
//! artifacts written at a custom path (`set_path`), and task display names.

use crate::server::ServerProcess;
use crate::util::{output_param, python, state, task, Home};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles the pipeline `source` (a Python file defining `main`) into `dir/<name>.yaml`.
pub(crate) fn compile_source(dir: &Path, name: &str, source: &str) -> PathBuf {
    let py = dir.join(format!("{name}.py"));
    let out = dir.join(format!("{name}.yaml"));
    let program = format!(
        "import sys\nfrom kfp import dsl, compiler\n{source}\ncompiler.Compiler().compile(main, sys.argv[1])\n"
    );
    std::fs::write(&py, program).expect("write the pipeline source");
    let compiled = Command::new(python())
        .arg(&py)
        .arg(&out)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run the SDK compiler");
    assert!(
        compiled.status.success(),
        "compiling {name}: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    out
}

fn tasks(run: &Value) -> Vec<Value> {
    run["run_details"]["task_details"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The task detail whose display name is `name`.
fn task_named<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["run_details"]["task_details"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["display_name"] == name))
        .unwrap_or_else(|| panic!("no task displayed as {name:?} in {}", run["run_details"]))
}

const EXIT_PIPELINE: &str = r#"
@dsl.component(base_image="python:3.11")
def work(fail: bool) -> str:
    if fail:
        raise SystemExit("work failed on purpose")
    return "ok"

@dsl.component(base_image="python:3.11")
def report(status: dict) -> str:
    return status["state"]

@dsl.component(base_image="python:3.11")
def notify(msg: str) -> str:
    print(msg)
    return msg

@dsl.pipeline
def notification(status: dsl.PipelineTaskFinalStatus):
    r = report(status=status)
    with dsl.If(r.output == "FAILED"):
        notify(msg="the run failed")
    with dsl.If(r.output != "FAILED"):
        notify(msg="the run is fine")

@dsl.pipeline(name="exit-pipeline")
def main(fail: bool = True):
    exit_task = notification()
    with dsl.ExitHandler(exit_task):
        work(fail=fail)
"#;

#[test]
fn an_exit_handler_that_is_a_pipeline_runs_completely_whatever_the_run_did() {
    let home = Home::new();
    let file = compile_source(home.path(), "exit_pipeline", EXIT_PIPELINE);

    // The main task fails: the run fails, and the exit pipeline still runs all of it.
    let (code, run, err) = home.run(&file, &["--no-cache"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(run["state"], "FAILED", "{run}");
    assert_eq!(state(&run, "exit-handler-1/work"), "FAILED");
    assert_eq!(state(&run, "notification"), "SUCCEEDED");
    assert_eq!(state(&run, "notification/report"), "SUCCEEDED");
    assert_eq!(
        output_param(&run, "notification/report", "Output"),
        "FAILED"
    );
    assert_eq!(state(&run, "notification/condition-1"), "SUCCEEDED");
    assert_eq!(state(&run, "notification/condition-1/notify"), "SUCCEEDED");
    assert_eq!(
        output_param(&run, "notification/condition-1/notify", "Output"),
        "the run failed"
    );
    assert_eq!(state(&run, "notification/condition-2"), "SKIPPED");

    // The main task succeeds: the other branch runs.
    let (code, run, err) = home.run(&file, &["--no-cache", "-p", "fail=false"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    assert_eq!(
        output_param(&run, "notification/report", "Output"),
        "COMPLETE"
    );
    assert_eq!(state(&run, "notification/condition-1"), "SKIPPED");
    assert_eq!(
        state(&run, "notification/condition-2/notify-2"),
        "SUCCEEDED"
    );
}

#[test]
fn a_sub_pipeline_that_ignores_upstream_failure_runs_completely() {
    let home = Home::new();
    let file = compile_source(
        home.path(),
        "cleanup_pipeline",
        r#"
@dsl.component(base_image="python:3.11")
def work() -> str:
    raise SystemExit("work failed on purpose")

@dsl.component(base_image="python:3.11")
def step(msg: str) -> str:
    return msg + "!"

@dsl.pipeline
def cleanup(msg: str = "clean"):
    first = step(msg=msg)
    step(msg=first.output)

@dsl.pipeline(name="cleanup-after-failure")
def main():
    w = work()
    cleanup(msg="clean").after(w).ignore_upstream_failure()
"#,
    );
    let (code, run, err) = home.run(&file, &["--no-cache"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(run["state"], "FAILED");
    assert_eq!(state(&run, "work"), "FAILED");
    assert_eq!(state(&run, "cleanup"), "SUCCEEDED");
    assert_eq!(output_param(&run, "cleanup/step-2", "Output"), "clean!!");
}

#[test]
fn an_artifact_written_at_a_custom_path_reaches_its_consumer() {
    let home = Home::new();
    let file = compile_source(
        home.path(),
        "custom_path",
        r#"
@dsl.component(base_image="python:3.11")
def produce(out: dsl.Output[dsl.Dataset]):
    import os, tempfile
    out.set_path(os.path.join(tempfile.gettempdir(), "custom.txt"))
    with open(out.path, "w") as f:
        f.write("written at a custom path")
    out.metadata["rows"] = 1

@dsl.component(base_image="python:3.11")
def produce_folder(model: dsl.Output[dsl.Model]):
    import os, tempfile
    folder = os.path.join(tempfile.gettempdir(), "saved-model")
    os.makedirs(os.path.join(folder, "weights"))
    with open(os.path.join(folder, "weights", "layer0"), "w") as f:
        f.write("0.5")
    model.set_path(folder)

@dsl.component(base_image="python:3.11")
def consume(data: dsl.Input[dsl.Dataset], model: dsl.Input[dsl.Model]) -> str:
    import os
    with open(data.path) as f:
        text = f.read()
    with open(os.path.join(model.path, "weights", "layer0")) as f:
        return text + "|" + f.read()

@dsl.pipeline(name="custom-path")
def main():
    p = produce()
    m = produce_folder()
    consume(data=p.outputs["out"], model=m.outputs["model"])
"#,
    );
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        output_param(&run, "consume", "Output"),
        "written at a custom path|0.5"
    );
    let dataset = &task(&run, "produce")["penstock"]["outputs"]["artifacts"]["out"][0];
    assert_eq!(dataset["metadata"]["rows"], 1);
    let uri = dataset["uri"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with(home.path().to_str().unwrap_or_default()),
        "the artifact lives in the artifact store: {uri}"
    );
    assert_eq!(
        std::fs::read_to_string(uri).unwrap_or_default(),
        "written at a custom path"
    );

    // A custom path with nothing at it fails the task, naming the path.
    let file = compile_source(
        home.path(),
        "missing_custom_path",
        r#"
@dsl.component(base_image="python:3.11")
def produce(out: dsl.Output[dsl.Dataset]):
    out.set_path("/nonexistent/penstock/never-written.txt")

@dsl.pipeline(name="missing-custom-path")
def main():
    produce()
"#,
    );
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(state(&run, "produce"), "FAILED");
    let error = task(&run, "produce")["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("/nonexistent/penstock/never-written.txt")
            && error.contains("set_path")
            && error.contains("does not exist"),
        "{error}"
    );
}

const NAMED_PIPELINE: &str = r#"
@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b

@dsl.pipeline(name="display-names")
def main():
    first = add(a=1, b=2).set_display_name("add the numbers")
    with dsl.ParallelFor([10, 20]) as item:
        add(a=item, b=first.output).set_display_name("add in a loop")
    add(a=3, b=4)
"#;

#[test]
fn task_display_names_are_shown_and_paths_kept() {
    let home = Home::new();
    let file = compile_source(home.path(), "display_names", NAMED_PIPELINE);
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}");

    // JSON (the API's wire format): the display name, with the path and key kept.
    let named = task_named(&run, "add the numbers");
    assert_eq!(named["penstock"]["path"], "add");
    assert_eq!(named["penstock"]["name"], "add");
    let in_loop: Vec<&Value> = run["run_details"]["task_details"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|t| t["display_name"] == "add in a loop")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(in_loop.len(), 2, "{}", run["run_details"]);
    assert!(in_loop
        .iter()
        .all(|t| t["penstock"]["name"] == "add-2" && t["penstock"]["path"] != "add-2"));
    // Without set_display_name the SDK names a task by its key.
    assert_eq!(task(&run, "add-3")["display_name"], "add-3");
    assert_eq!(task(&run, "for-loop-2[1]")["display_name"], "for-loop-2-1");

    // Text: the display name with the path.
    let run_id = run["run_id"].as_str().unwrap_or_default().to_string();
    let text = home.penstock(&["runs", "get", &run_id]);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("add the numbers (add)"), "{text}");
    assert!(
        text.contains("add in a loop (for-loop-2[0]/add-2)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("  add-3") && !l.contains("add-3 (")),
        "{text}"
    );

    // `penstock logs` finds a task by its display name too.
    let logs = home.penstock(&["logs", &run_id, "add the numbers"]);
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );

    // The server's API.
    let server = ServerProcess::start(home.path());
    let got = crate::server::get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
    let named = task_named(&got, "add the numbers");
    assert_eq!(named["penstock"]["path"], "add");
    assert_eq!(named["state"], "SUCCEEDED");
}

/// Every run [`Home::run`] finished is checked with this: no task of a finished run is still
/// PENDING or RUNNING.
pub fn assert_no_unfinished_tasks(run: &Value) {
    let open: Vec<String> = tasks(run)
        .iter()
        .filter(|t| matches!(t["penstock"]["state"].as_str(), Some("PENDING" | "RUNNING")))
        .map(|t| {
            format!(
                "{} {}",
                t["penstock"]["path"].as_str().unwrap_or_default(),
                t["penstock"]["state"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        open.is_empty(),
        "run {} is {} but has unfinished tasks: {open:?}",
        run["run_id"],
        run["state"]
    );
}
