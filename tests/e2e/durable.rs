//! Durable runs: `kill -9` of the server (several times, in a middle step, in a ParallelFor
//! with a parallelism limit inside a nested pipeline, in an exit handler) or of `penstock run`
//! interrupts a run and never loses it; a burst of creates killed midway loses no acknowledged
//! run and leaves a sound database.

use crate::semantics::compile_source;
use crate::server::{get, post, ServerProcess};
use crate::util::{python, Home};
use penstock_launcher::reaper::{marked_processes, RUN_ENV};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every step appends `start <name> <time>` and `end <name> <time>` to the shared log file.
const DURABLE: &str = r#"
@dsl.container_component
def step(name: str, log: str, seconds: str):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'echo "start $0 $(date +%s.%N)" >> "$1"; sleep "$2"; echo "end $0 $(date +%s.%N)" >> "$1"'],
        args=[name, log, seconds],
    )

@dsl.pipeline(name="inner")
def inner(log: str):
    with dsl.ParallelFor(items=["loop-a", "loop-b", "loop-c", "loop-d"], parallelism=2) as item:
        step(name=item, log=log, seconds="1.5")

@dsl.pipeline(name="durable")
def main(log: str, middle_seconds: str = "4", exit_seconds: str = "3"):
    notify = step(name="exit", log=log, seconds=exit_seconds)
    with dsl.ExitHandler(notify):
        first = step(name="first", log=log, seconds="0")
        middle = step(name="middle", log=log, seconds=middle_seconds).after(first)
        nested = inner(log=log).after(middle)
        step(name="last", log=log, seconds="0").after(nested)
"#;

/// `name -> [(start, end)]` from the steps' log (an end of `None`: killed while running).
pub(crate) fn executions(log: &Path) -> BTreeMap<String, Vec<(f64, Option<f64>)>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out: BTreeMap<String, Vec<(f64, Option<f64>)>> = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [what, name, at] = parts[..] else {
            continue;
        };
        let at: f64 = at.parse().unwrap_or(0.0);
        let list = out.entry(name.to_string()).or_default();
        match what {
            "start" => list.push((at, None)),
            _ => {
                if let Some(open) = list.iter_mut().rev().find(|(_, e)| e.is_none()) {
                    open.1 = Some(at);
                }
            }
        }
    }
    out
}

fn started(log: &Path, name: &str) -> bool {
    executions(log).get(name).is_some_and(|e| !e.is_empty())
}

pub(crate) fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The executions of each step never overlap, each finished exactly once, and `once` steps
/// were started exactly once.
fn check_executions(log: &Path, once: &[&str]) {
    let all = executions(log);
    for (name, runs) in &all {
        let ended = runs.iter().filter(|(_, e)| e.is_some()).count();
        assert_eq!(ended, 1, "{name} finished {ended} times: {runs:?}");
        for pair in runs.windows(2) {
            let (_, end) = pair[0];
            let (next_start, _) = pair[1];
            assert!(
                end.is_none_or(|e| e <= next_start),
                "{name} ran twice at once: {runs:?}"
            );
        }
        assert!(runs.len() <= 2, "{name} started {} times", runs.len());
    }
    for name in once {
        assert_eq!(
            all.get(*name).map(Vec::len),
            Some(1),
            "{name} ran more than once: {all:?}"
        );
    }
    for name in [
        "first", "middle", "loop-a", "loop-b", "loop-c", "loop-d", "last", "exit",
    ] {
        assert!(all.contains_key(name), "{name} never ran: {all:?}");
    }
}

/// Starts `penstock run FILE ARGS` in `home`, kills it (`kill -9`) once the middle step runs,
/// and returns the run's id.
fn run_and_kill_in_the_middle(home: &Home, file: &Path, log: &Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .arg("run")
        .arg(file)
        .args(["-p", &format!("log={}", log.display())])
        .args(args)
        .env("PENSTOCK_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("penstock run");
    wait_until("middle runs", Duration::from_secs(60), || {
        started(log, "middle")
    });
    let _ = child.kill();
    let _ = child.wait();
    let list = home.penstock(&["runs", "list", "-o", "json"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("json");
    list["runs"][0]["run_id"].as_str().expect("run").to_string()
}

pub(crate) fn spec_json(yaml: &Path) -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(yaml)
        .output()
        .expect("python");
    serde_json::from_slice(&out.stdout).expect("the compiled spec as JSON")
}

fn living(run_id: &str) -> usize {
    marked_processes(RUN_ENV, run_id)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| !r.trim_start().starts_with('Z'))
                })
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn a_run_survives_hard_kills_of_its_server_in_a_step_a_loop_and_an_exit_handler() {
    let home = Home::new();
    let log = home.path().join("steps.log");
    let spec = spec_json(&compile_source(home.path(), "durable", DURABLE));
    let mut server = ServerProcess::start(home.path());
    let run = post(
        &format!("{}/apis/v2beta1/runs", server.url),
        &json!({"display_name": "durable", "pipeline_spec": spec,
                "runtime_config": {"parameters": {"log": log.display().to_string()}}}),
    );
    let run_id = run["run_id"].as_str().expect("run id").to_string();

    // 1. In the middle step; 2. in the loop of the nested pipeline; 3. in the exit handler.
    for (point, name) in [(1, "middle"), (2, "loop-"), (3, "exit")] {
        wait_until(&format!("{name} runs"), Duration::from_secs(60), || {
            executions(&log)
                .iter()
                .any(|(n, runs)| n.starts_with(name) && runs.iter().any(|(_, e)| e.is_none()))
        });
        server.kill_hard();
        // The watchdog stops the dead server's tasks at once.
        wait_until(
            &format!("the tasks of the killed server stop (kill {point})"),
            Duration::from_secs(5),
            || living(&run_id) == 0,
        );
        let got = home.penstock(&["runs", "get", &run_id, "-o", "json"]);
        let got: Value = serde_json::from_slice(&got.stdout).expect("run json");
        assert_eq!(
            got["state"], "RUNNING",
            "kill {point}: the run stays recorded as RUNNING"
        );
        server = ServerProcess::start(home.path());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let got = get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
        if ["SUCCEEDED", "FAILED", "CANCELED"].contains(&got["state"].as_str().unwrap_or("")) {
            break got;
        }
        assert!(Instant::now() < deadline, "the run never finished: {got}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    check_executions(&log, &["first", "last"]);
    // The interrupted attempt is on record with its reason.
    let middle = done["run_details"]["task_details"]
        .as_array()
        .and_then(|ts| {
            ts.iter()
                .find(|t| t["penstock"]["inputs"]["parameters"]["name"] == "middle")
                .cloned()
        })
        .expect("middle");
    assert_eq!(middle["penstock"]["attempts"], 2, "{middle}");
    assert!(
        living(&run_id) == 0,
        "no task process is left after the run"
    );
}

#[test]
fn a_killed_penstock_run_is_resumed_from_the_cli() {
    let home = Home::new();
    let log = home.path().join("steps.log");
    let file = compile_source(home.path(), "durable", DURABLE);
    let run_id = run_and_kill_in_the_middle(&home, &file, &log, &["-p", "exit_seconds=0"]);
    let list = home.penstock(&["runs", "list", "-o", "json"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(list["runs"][0]["state"], "RUNNING");
    wait_until(
        "the killed run's tasks stop",
        Duration::from_secs(5),
        || living(&run_id) == 0,
    );
    // Not a FAILED run's retry, not someone else's live run: an interrupted one.
    let out = home.penstock(&["runs", "resume", &run_id[..8]]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCEEDED"));
    check_executions(&log, &["first", "last", "exit"]);
    let again = home.penstock(&["runs", "resume", &run_id]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a finished run cannot be resumed"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("SUCCEEDED"));
}

#[test]
fn no_acknowledged_run_is_lost_when_the_server_dies_during_a_burst_of_creates() {
    let home = Home::new();
    let server = ServerProcess::start(home.path());
    let spec = json!({
        "pipelineInfo": {"name": "burst"}, "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"e": {"container": {"image": "alpine", "command": ["true"]}}}},
        "components": {"comp-t": {"executorLabel": "e"}},
        "root": {"dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "t"}}}}}
    });
    let acknowledged = home.path().join("acknowledged.txt");
    // Eight clients create runs as fast as they can; every id the server answered with is kept.
    let script = r#"
import json, sys, threading, urllib.request
url, body, out = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
lock = threading.Lock()
def client():
    while True:
        try:
            r = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
            run_id = json.loads(urllib.request.urlopen(r, timeout=10).read())["run_id"]
        except Exception:
            return
        with lock, open(out, "a") as f:
            f.write(run_id + "\n")
threads = [threading.Thread(target=client) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
"#;
    let mut clients = Command::new(python())
        .args(["-c", script])
        .arg(format!("{}/apis/v2beta1/runs", server.url))
        .arg(json!({"display_name": "burst", "pipeline_spec": spec}).to_string())
        .arg(&acknowledged)
        .spawn()
        .expect("clients");
    wait_until("50 runs acknowledged", Duration::from_secs(60), || {
        std::fs::read_to_string(&acknowledged)
            .map(|t| t.lines().count() >= 50)
            .unwrap_or(false)
    });
    server.kill_hard();
    let _ = clients.wait();
    let ids: Vec<String> = std::fs::read_to_string(&acknowledged)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let integrity = Command::new(python())
        .args([
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
        ])
        .arg(home.path().join("penstock.db"))
        .output()
        .expect("python");
    assert_eq!(String::from_utf8_lossy(&integrity.stdout).trim(), "ok");
    let server = ServerProcess::start(home.path());
    for id in &ids {
        let run = get(&format!("{}/apis/v2beta1/runs/{id}", server.url));
        assert_eq!(run["run_id"], json!(id), "acknowledged run {id} is lost");
    }
    // The interrupted ones were resumed and finish.
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in &ids {
        loop {
            let run = get(&format!("{}/apis/v2beta1/runs/{id}", server.url));
            if run["state"] == "SUCCEEDED" {
                break;
            }
            assert!(Instant::now() < deadline, "run {id} never finished: {run}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!("{} acknowledged runs, all present and finished", ids.len());
}

#[test]
fn a_run_timeout_fails_the_run_and_keeps_counting_across_a_resume() {
    let home = Home::new();
    let log = home.path().join("steps.log");
    let file = compile_source(home.path(), "durable", DURABLE);
    let log_param = format!("log={}", log.display());
    let (code, run, stderr) = home.run(
        &file,
        &[
            "-p",
            &log_param,
            "-p",
            "middle_seconds=60",
            "--timeout",
            "3s",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(run["state"], "FAILED");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("exceeded its timeout of 3 s"), "{run}");
    let run_id = run["run_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(living(&run_id), 0, "the timed-out task was stopped");

    // Across a resume the timeout keeps counting from the run's start: 8 s in all, 4 s of
    // which pass before the resume, so the resumed run fails well before 8 s more.
    let _ = std::fs::remove_file(&log);
    let run_id = run_and_kill_in_the_middle(
        &home,
        &file,
        &log,
        &["-p", "middle_seconds=60", "--timeout", "8s"],
    );
    std::thread::sleep(Duration::from_secs(4));
    let resumed = Instant::now();
    let out = home.penstock(&["runs", "resume", &run_id, "-o", "json"]);
    let took = resumed.elapsed();
    let run: Value = serde_json::from_slice(&out.stdout).expect("run json");
    assert_eq!(run["state"], "FAILED", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("exceeded its timeout of 8 s"),
        "{run}"
    );
    assert!(
        took < Duration::from_secs(7),
        "the resumed run had its whole timeout again ({took:?})"
    );
}

#[test]
fn a_run_whose_kept_artifacts_are_gone_is_failed_with_the_reason_not_resumed() {
    let home = Home::new();
    let source = r#"
@dsl.container_component
def write(data: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'mkdir -p "$(dirname "$0")"; echo rows > "$0"'], args=[data.path])

@dsl.container_component
def nap(data: dsl.Input[dsl.Dataset]):
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'sleep 60; cat "$0"'], args=[data.path])

@dsl.pipeline(name="gone")
def main():
    nap(data=write().outputs["data"])
"#;
    let file = compile_source(home.path(), "gone", source);
    let mut child = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .arg("run")
        .arg(&file)
        .env("PENSTOCK_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("penstock run");
    let artifacts = home.path().join("runs");
    wait_until("the dataset is written", Duration::from_secs(60), || {
        walk(&artifacts).iter().any(|p| p.ends_with("data"))
    });
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let _ = child.wait();
    for p in walk(&artifacts) {
        if p.ends_with("data") {
            let _ = std::fs::remove_file(&p);
        }
    }
    let list = home.penstock(&["runs", "list", "-o", "json"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("json");
    let run_id = list["runs"][0]["run_id"].as_str().expect("run").to_string();
    let out = home.penstock(&["runs", "resume", &run_id]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot be resumed") && stderr.contains("is gone"),
        "{stderr}"
    );
    let got = home.penstock(&["runs", "get", &run_id, "-o", "json"]);
    let got: Value = serde_json::from_slice(&got.stdout).expect("json");
    assert_eq!(got["state"], "FAILED", "never left RUNNING");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
