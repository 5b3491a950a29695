//! The project's own example pipelines (`examples/*.py`), compiled by the SDK and run.

use crate::util::{compile_example, output_param, shared_dir, state, task, Home};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn data_passing_defaults_outputs_artifacts_and_after() {
    let home = Home::new();
    let file = compile_example("data_passing", home.path());
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run["state"], "SUCCEEDED");
    assert_eq!(
        run["outputs"]["parameters"]["Output"],
        "4 NUMBERS: TOTAL=3.0 ROWS=4 NOTE=NONE FLAG=TRUE!"
    );
    assert_eq!(output_param(&run, "make-numbers", "total"), &json!(3.0));
    let dataset = &task(&run, "make-numbers")["penstock"]["outputs"]["artifacts"]["out"][0];
    assert_eq!(dataset["metadata"]["rows"], 4);
    let content = std::fs::read_to_string(dataset["uri"].as_str().unwrap()).unwrap();
    assert_eq!(content, "0.0\n0.5\n1.0\n1.5");
    // The consumer saw the same artifact (lineage is recorded from the same URI).
    assert_eq!(
        task(&run, "describe")["penstock"]["inputs"]["artifacts"]["data"][0]["uri"],
        dataset["uri"]
    );

    let (code, run, err) = home.run(&file, &["-p", "count=2", "-p", "note=hey", "-p", "scale=1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        run["outputs"]["parameters"]["Output"],
        "2 NUMBERS: TOTAL=1.0 ROWS=2 NOTE=HEY FLAG=TRUE!"
    );
    assert_eq!(
        run["runtime_config"]["parameters"],
        json!({"count": 2, "scale": 1.0, "note": "hey"})
    );

    let logs = home.penstock(&["logs", run["run_id"].as_str().unwrap(), "describe"]);
    assert!(logs.status.success());
    assert!(String::from_utf8_lossy(&logs.stdout).contains("Wrote executor output file"));
}

#[test]
fn wrongly_typed_and_unknown_parameters_are_invalid_and_record_nothing() {
    let home = Home::new();
    let file = compile_example("data_passing", home.path());
    let (code, _, err) = home.run(&file, &["-p", "count=many"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("data_passing.yaml")
            && err.contains("'count'")
            && err.contains("NUMBER_INTEGER"),
        "{err}"
    );
    let (code, _, err) = home.run(&file, &["-p", "colour=red"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown parameter 'colour'") && err.contains("count, note, scale"),
        "{err}"
    );
    let (code, _, err) = home.run(&file, &["-p", "count"]);
    assert_eq!(code, 2, "{err}");
    let list = home.penstock(&["runs", "list", "-o", "json"]);
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        listed["runs"],
        json!([]),
        "invalid input must not be recorded"
    );
}

#[test]
fn container_placeholders_concat_if_present_and_env() {
    let home = Home::new();
    let file = compile_example("containers", home.path());
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}");
    let uri = task(&run, "write-text")["penstock"]["outputs"]["artifacts"]["out"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(std::fs::read_to_string(&uri).unwrap(), "hello world");
    assert_eq!(output_param(&run, "write-text", "length"), &json!(11));
    assert_eq!(
        output_param(&run, "read-text", "result"),
        &json!(format!("env-ok|hi-there|hello world|{uri}|extra"))
    );
    assert_eq!(
        output_param(&run, "check-optional", "result"),
        &json!("no-word")
    );
}

#[test]
fn conditions_loops_collected_nested_and_importer() {
    let home = Home::new();
    let file = compile_example("control_flow", home.path());
    let data = home.path().join("lines.txt");
    std::fs::write(&data, "a\nb\nc\n").unwrap();
    let (code, run, err) = home.run(&file, &["-p", &format!("data_uri={}", data.display())]);
    assert_eq!(code, 0, "{err}");
    // n = 7: the Elif branch runs, If and Else are skipped.
    assert_eq!(output_param(&run, "classify", "Output"), &json!("medium"));
    let branches: Vec<(String, String)> = run["run_details"]["task_details"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["penstock"]["path"]
                .as_str()
                .unwrap()
                .starts_with("condition-branches-1/condition-")
        })
        .filter(|t| t["penstock"]["kind"] == "dag")
        .map(|t| {
            (
                t["penstock"]["path"].as_str().unwrap().to_string(),
                t["penstock"]["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        branches.iter().filter(|(_, s)| s == "SUCCEEDED").count(),
        1,
        "{branches:?}"
    );
    assert_eq!(
        branches.iter().filter(|(_, s)| s == "SKIPPED").count(),
        2,
        "{branches:?}"
    );
    // Literal loop + Collected: 1 + 4 + 9 = 14; nested pipeline squares it.
    assert_eq!(output_param(&run, "total", "Output"), &json!(14));
    assert_eq!(run["outputs"]["parameters"]["Output"], 196);
    // Parameter loop over a task's list output, artifacts collected.
    assert_eq!(
        output_param(&run, "read-all", "Output"),
        &json!("1,2,3,4,5,6,7")
    );
    // Artifact loop in a sub-pipeline, its outputs collected and summed.
    assert_eq!(output_param(&run, "total-2", "Output"), &json!(28));
    // Importer.
    let imported = &task(&run, "importer")["penstock"]["outputs"]["artifacts"]["artifact"][0];
    assert_eq!(imported["uri"], data.display().to_string());
    assert_eq!(imported["metadata"]["source"], "importer");
    assert_eq!(output_param(&run, "count-lines", "Output"), &json!(3));
    // parallelism=2: never more than two iterations of that loop's step at once.
    let mut spans: Vec<(String, String)> = run["run_details"]["task_details"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["penstock"]["path"].as_str().unwrap().ends_with("/write"))
        .map(|t| {
            (
                t["start_time"].as_str().unwrap().to_string(),
                t["end_time"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(spans.len(), 7);
    spans.sort();
    for (i, (start, _)) in spans.iter().enumerate() {
        let overlapping = spans[..i].iter().filter(|(_, end)| end > start).count();
        assert!(
            overlapping < 2,
            "more than 2 concurrent iterations at {start}: {spans:?}"
        );
    }

    let (code, run, err) = home.run(
        &file,
        &["-p", "n=12", "-p", &format!("data_uri={}", data.display())],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(output_param(&run, "classify", "Output"), &json!("big"));
    assert_eq!(
        output_param(&run, "read-all", "Output"),
        &json!("1,10,11,12,2,3,4,5,6,7,8,9")
    );
}

fn run_exit_example(
    home: &Home,
    file: &std::path::Path,
    tag: &str,
    extra: &[&str],
) -> (i32, Value, String) {
    let marker = format!(
        "marker={}",
        home.path().join(format!("marker-{tag}")).display()
    );
    let stamp = format!("stamp_file={}", home.path().join("stamp").display());
    let status = format!("status_file={}", home.path().join("status").display());
    let mut args = vec!["-p", &marker, "-p", &stamp, "-p", &status];
    args.extend_from_slice(extra);
    home.run(file, &args)
}

#[test]
fn retries_exit_handler_and_caching() {
    let home = Home::new();
    let file = compile_example("exit_retry_cache", home.path());
    let (code, run, err) = run_exit_example(&home, &file, "1", &[]);
    assert_eq!(code, 0, "{err}");
    let flaky = task(&run, "exit-handler-1/flaky");
    assert_eq!(
        flaky["penstock"]["attempts"], 3,
        "two failures then success"
    );
    assert_eq!(flaky["penstock"]["outputs"]["parameters"]["Output"], 3);
    assert_eq!(state(&run, "exit-handler-1/add-one"), "SUCCEEDED");
    assert_eq!(
        std::fs::read_to_string(home.path().join("status")).unwrap(),
        "COMPLETE|exit-handler-1|"
    );

    // Same inputs again: add-one is served from the cache and does not execute.
    let (code, run2, err) = run_exit_example(&home, &file, "2", &[]);
    assert_eq!(code, 0, "{err}");
    let cached = task(&run2, "exit-handler-1/add-one");
    assert_eq!(cached["penstock"]["state"], "CACHED");
    assert_eq!(cached["penstock"]["outputs"]["parameters"]["Output"], 42);
    assert!(cached["penstock"]["cache"]["reason"]
        .as_str()
        .unwrap()
        .contains(run["run_id"].as_str().unwrap()));
    assert_eq!(
        std::fs::read_to_string(home.path().join("stamp")).unwrap(),
        "executed\n"
    );
    // Tasks with caching off say so.
    let reason = task(&run2, "exit-handler-1/flaky")["penstock"]["cache"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("caching is off for this task"), "{reason}");

    // --no-cache executes it again and records why.
    let (code, run3, err) = run_exit_example(&home, &file, "3", &["--no-cache"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(state(&run3, "exit-handler-1/add-one"), "SUCCEEDED");
    assert!(
        task(&run3, "exit-handler-1/add-one")["penstock"]["cache"]["reason"]
            .as_str()
            .unwrap()
            .contains("--no-cache")
    );
    assert_eq!(
        std::fs::read_to_string(home.path().join("stamp")).unwrap(),
        "executed\nexecuted\n"
    );

    // A failing step: the exit handler still runs and sees FAILED; the run fails with exit 1.
    let (code, run4, _) = run_exit_example(&home, &file, "4", &["-p", "should_fail=true"]);
    assert_eq!(code, 1);
    assert_eq!(run4["state"], "FAILED");
    assert_eq!(state(&run4, "exit-handler-1/fail-if"), "FAILED");
    assert_eq!(state(&run4, "report"), "SUCCEEDED");
    let status = std::fs::read_to_string(home.path().join("status")).unwrap();
    assert!(
        status.starts_with("FAILED|exit-handler-1|") && status.contains("fail-if"),
        "{status}"
    );
}

#[test]
fn titanic_preprocess_train_conditional_deploy_exit_handler() {
    let home = Home::new();
    let file = compile_example("titanic", home.path());
    let target = home.path().join("deployed.json");
    let notify = home.path().join("notify.txt");
    let t = format!("deploy_target={}", target.display());
    let n = format!("notify_file={}", notify.display());
    let (code, run, err) = home.run(&file, &["-p", &t, "-p", &n]);
    assert_eq!(code, 0, "{err}");
    let train = task(&run, "exit-handler-1/train-model");
    let accuracy = train["penstock"]["outputs"]["parameters"]["Output"]
        .as_f64()
        .unwrap();
    assert!(accuracy >= 0.9, "{accuracy}");
    let metrics = &train["penstock"]["outputs"]["artifacts"]["metrics"][0];
    assert_eq!(metrics["schema_title"], "system.Metrics");
    assert_eq!(metrics["metadata"]["accuracy"].as_f64(), Some(accuracy));
    assert_eq!(metrics["metadata"]["rows"], 200.0);
    assert_eq!(
        state(&run, "exit-handler-1/condition-2/deploy"),
        "SUCCEEDED"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "{\"fare_threshold\": 40.0}"
    );
    assert_eq!(std::fs::read_to_string(&notify).unwrap(), "COMPLETE");

    let (code, run, err) = home.run(
        &file,
        &[
            "-p",
            &t,
            "-p",
            &n,
            "-p",
            "min_accuracy=1.01",
            "-p",
            "threshold=41",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(state(&run, "exit-handler-1/condition-2"), "SKIPPED");
    assert_eq!(state(&run, "notify"), "SUCCEEDED");
}

#[test]
fn malformed_executor_output_fails_the_task_naming_the_file() {
    let home = Home::new();
    let file = compile_example("bad_output", home.path());
    let (code, run, _) = home.run(&file, &[]);
    assert_eq!(code, 1);
    let error = task(&run, "broken")["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("malformed executor output") && error.contains("executor_output.json"),
        "{error}"
    );
    // Text mode prints the failing task and its error.
    let out = home.penstock(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Failed task: broken") && text.contains("malformed executor output"),
        "{text}"
    );
}

#[test]
fn invalid_files_are_refused_with_exit_2_and_nothing_recorded() {
    let home = Home::new();
    let dir = shared_dir().join("conformance/invalid");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let (code, _, err) = home.run(&path, &[]);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(code, 2, "{name}: {err}");
        assert!(
            err.contains(&name),
            "{name}: message must name the file: {err}"
        );
    }
    let (code, _, err) = home.run(&home.path().join("missing.yaml"), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.yaml"), "{err}");
    let listed: Value =
        serde_json::from_slice(&home.penstock(&["runs", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(listed["runs"], json!([]));
}

#[test]
fn ctrl_c_cancels_kills_the_process_group_and_exits_130() {
    let home = Home::new();
    let file = compile_example("sleepy", home.path());
    let marker = format!("penstock-cancel-{}", std::process::id());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args([
            "run",
            file.to_str().unwrap(),
            "-p",
            &format!("marker={marker}"),
        ])
        .env("PENSTOCK_HOME", home.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The task's shell (its process group leader) has the marker after `echo` in its command line;
    // penstock's own command line has it only after `marker=`.
    let pattern = format!("echo.*{marker}");
    let task_pid = || -> Option<String> {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .map(str::to_string)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let group = loop {
        if let Some(pid) = task_pid() {
            break pid;
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Live (non-zombie) processes in the task's process group.
    let in_group = || {
        let out = std::process::Command::new("ps")
            .args(["-eo", "pgid=,stat="])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().any(|l| {
            let mut cols = l.split_whitespace();
            cols.next() == Some(group.as_str()) && !cols.next().unwrap_or("Z").starts_with('Z')
        })
    };
    assert!(in_group(), "the task's process group should be alive");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cancelling took {:?}",
        started.elapsed()
    );
    assert!(
        !in_group(),
        "processes of the task's group survived the cancellation"
    );
    let listed: Value =
        serde_json::from_slice(&home.penstock(&["runs", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(listed["runs"][0]["state"], "CANCELED");
    let got = home.penstock(&[
        "runs",
        "get",
        listed["runs"][0]["run_id"].as_str().unwrap(),
        "-o",
        "json",
    ]);
    let run: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(state(&run, "sleep-forever"), "CANCELED");
}

#[test]
fn logged_curves_metrics_artifacts_and_runs_compare() {
    let home = Home::new();
    let file = compile_example("tracking", home.path());
    let (code, first, err) = home.run(&file, &["-p", "epochs=3", "-p", "learning_rate=0.5"]);
    assert_eq!(code, 0, "{err}");
    let (code, second, err) = home.run(&file, &["-p", "epochs=2", "-p", "learning_rate=0.5"]);
    assert_eq!(code, 0, "{err}");
    let a = first["run_id"].as_str().expect("run id");
    let b = second["run_id"].as_str().expect("run id");

    // The malformed line is reported in the task's log; the rest is kept.
    let log = home.penstock(&["logs", a, "train"]);
    let log = String::from_utf8_lossy(&log.stdout).to_string();
    assert!(
        log.contains("PENSTOCK_METRICS_FILE line 4 skipped: not JSON"),
        "{log}"
    );

    let shown = home.penstock(&["runs", "get", a]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("train.final_loss = 0.125"), "{shown}");
    assert!(shown.contains("train.Output = 0.1375"), "{shown}");
    assert!(
        shown.contains("train.loss: 3 points, last 0.125"),
        "{shown}"
    );
    assert!(
        shown.contains("train.val_loss: 1 points, last 0.1375"),
        "{shown}"
    );

    let compared = home.penstock(&["runs", "compare", a, b]);
    assert!(compared.status.success());
    let text = String::from_utf8_lossy(&compared.stdout).to_string();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line("* epochs")[2..], ["3", "2"]);
    assert_eq!(
        line("learning_rate")[1..],
        ["0.5", "0.5"],
        "same values are not marked"
    );
    assert_eq!(line("train.final_loss")[1..], ["0.125", "0.25"]);
    assert_eq!(line("train.loss (last)")[2..], ["0.125", "0.25"]);
    let one = home.penstock(&["runs", "compare", a]);
    assert_eq!(one.status.code(), Some(2));
}
