//! `penstock server` driven by the real `kfp==2.16.1` `kfp.Client` (the pytest file in
//! `kfp_client/`), plus restart safety after `kill -9`.

use crate::util::{python, repo_root, start_postgres};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `penstock server` child process on a free port.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
}

impl ServerProcess {
    pub fn start(home: &Path) -> ServerProcess {
        ServerProcess::start_with(home, &[])
    }

    /// A server with extra flags (e.g. `--auth tokens`).
    pub fn start_with(home: &Path, flags: &[&str]) -> ServerProcess {
        ServerProcess::start_with_env(home, flags, &[])
    }

    /// A server with extra flags and environment variables.
    pub fn start_with_env(home: &Path, flags: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_penstock"))
            .args(["server", "--port", "0", "--home"])
            .arg(home)
            .args(flags)
            .env(
                "PENSTOCK_VENVS",
                repo_root().join("target/penstock-test-venvs"),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start penstock server");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        reader
            .read_line(&mut first)
            .expect("read the server's first line");
        // Keep draining, so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_string();
        ServerProcess { child, url }
    }

    /// `kill -9`.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

pub(crate) fn get(url: &str) -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
            url,
        ])
        .output()
        .expect("python");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("GET {url}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// `GET url` as text; fails the test on an HTTP error.
pub(crate) fn get_text(url: &str) -> String {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
            url,
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "GET {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub(crate) fn post(url: &str, body: &Value) -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, urllib.request; r = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), \
             method='POST', headers={'content-type': 'application/json'}); \
             print(urllib.request.urlopen(r).read().decode())",
            url,
            &body.to_string(),
        ])
        .output()
        .expect("python");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("POST {url}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// `penstock tokens create --name NAME [--namespace NS]...` in `home`; the printed token.
pub fn create_token(home: &Path, name: &str, namespaces: &[&str]) -> String {
    let mut args = vec!["tokens", "create", "--name", name];
    for n in namespaces {
        args.extend(["--namespace", n]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args(&args)
        .env("PENSTOCK_HOME", home)
        .output()
        .expect("run penstock tokens create");
    assert!(
        out.status.success(),
        "tokens create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the kfp.Client pytest file against `server` with `token`.
pub(crate) fn kfp_client_suite(server: &ServerProcess, token: &str) -> std::process::ExitStatus {
    let scratch = tempfile::tempdir().expect("temp dir");
    Command::new(python())
        .args(["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"])
        .arg(repo_root().join("tests/e2e/kfp_client/test_server.py"))
        .env("PENSTOCK_TOKEN", token)
        .env("PENSTOCK_URL", &server.url)
        .env("PENSTOCK_TEST_TMP", scratch.path())
        .env("PYTHONWARNINGS", "ignore")
        .status()
        .expect("run pytest (is it installed in the test venv?)")
}

/// The whole kfp.Client suite, against a server that requires tokens (`existing_token=`).
#[test]
fn kfp_client_drives_the_whole_api() {
    let home = tempfile::tempdir().expect("temp dir");
    let token = create_token(home.path(), "suite", &[]);
    let server = ServerProcess::start_with(home.path(), &["--auth", "tokens"]);
    let status = kfp_client_suite(&server, &token);
    assert!(
        status.success(),
        "the kfp.Client tests failed (output above)"
    );
}

/// `penstock tokens create --name suite` against the database at `database`; the token.
pub(crate) fn create_token_in_database(home: &Path, database: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args(["tokens", "create", "--name", "suite"])
        .env("PENSTOCK_HOME", home)
        .env("PENSTOCK_DATABASE", database)
        .output()
        .expect("run penstock tokens create");
    assert!(
        out.status.success(),
        "tokens create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The same kfp.Client suite against a server whose store is PostgreSQL (`--database`),
/// started by the test; the token is created through the same database.
#[test]
fn kfp_client_drives_the_whole_api_on_postgres() {
    let postgres = start_postgres();
    let database = postgres.url("postgres");
    let home = tempfile::tempdir().expect("temp dir");
    let token = create_token_in_database(home.path(), &database);
    let server =
        ServerProcess::start_with(home.path(), &["--auth", "tokens", "--database", &database]);
    let health = get(&format!("{}/apis/v2beta1/healthz", server.url));
    assert_eq!(health["database"], "postgresql", "{health}");
    let status = kfp_client_suite(&server, &token);
    assert!(
        status.success(),
        "the kfp.Client tests failed on PostgreSQL (output above; server log: {})",
        postgres.root().join("server.log").display()
    );
    // Nothing was written to a SQLite file in the home.
    assert!(!home.path().join("penstock.db").exists());
    drop(server);
}

/// The runs a recurring run fired, oldest tick first.
pub(crate) fn scheduled_runs(url: &str, recurring_run_id: &str) -> Vec<Value> {
    let filter = format!(
        "%7B%22predicates%22%3A%5B%7B%22key%22%3A%22recurring_run_id%22%2C%22operation%22%3A%22EQUALS%22%2C%22string_value%22%3A%22{recurring_run_id}%22%7D%5D%7D"
    );
    let list = get(&format!(
        "{url}/apis/v2beta1/runs?page_size=200&sort_by=scheduled_at&filter={filter}"
    ));
    list["runs"].as_array().cloned().unwrap_or_default()
}

/// The second of the tick a scheduled run was fired for.
pub(crate) fn tick_second(run: &Value) -> i64 {
    run["scheduled_at"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .expect("scheduled_at")
}

pub(crate) fn sleeper_spec() -> Value {
    serde_json::json!({
        "pipelineInfo": {"name": "sleeper"},
        "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-nap": {"container": {
            "image": "alpine", "command": ["sleep", "30.0623"]}}}},
        "components": {"comp-nap": {"executorLabel": "exec-nap"}},
        "root": {"dag": {"tasks": {"nap": {
            "componentRef": {"name": "comp-nap"}, "taskInfo": {"name": "nap"}}}}}
    })
}

#[test]
fn a_hard_killed_server_restarts_with_everything_and_resumes_its_run() {
    let home = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(home.path());
    let exp = post(
        &format!("{}/apis/v2beta1/experiments", server.url),
        &serde_json::json!({"display_name": "survives"}),
    );
    let spec = sleeper_spec();
    let run = post(
        &format!("{}/apis/v2beta1/runs", server.url),
        &serde_json::json!({"display_name": "interrupted", "experiment_id": exp["experiment_id"],
                            "pipeline_spec": spec}),
    );
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
        if got["state"] == "RUNNING" {
            break;
        }
        assert!(Instant::now() < deadline, "the run never started: {got}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill_hard();

    let server = ServerProcess::start(home.path());
    let got = get(&format!(
        "{}/apis/v2beta1/experiments/{}",
        server.url,
        exp["experiment_id"].as_str().unwrap_or_default()
    ));
    assert_eq!(got["display_name"], "survives");
    // The run is resumed: its interrupted task starts again as attempt 2, and exactly one
    // `sleep` of it is alive (the killed server's was stopped by its watchdog).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
        let nap = run["run_details"]["task_details"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["penstock"]["path"] == "nap").cloned())
            .unwrap_or_default();
        if run["state"] == "RUNNING"
            && nap["penstock"]["attempts"] == 2
            && nap["penstock"]["state"] == "RUNNING"
        {
            break;
        }
        assert!(Instant::now() < deadline, "the run was not resumed: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let sleeping = || {
        penstock_launcher::reaper::marked_processes(penstock_launcher::reaper::RUN_ENV, &run_id)
            .len()
    };
    assert_eq!(sleeping(), 1, "one live execution of the task");
    post(
        &format!("{}/apis/v2beta1/runs/{run_id}:terminate", server.url),
        &serde_json::json!({}),
    );
    let run = get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
    assert_eq!(run["state"], "CANCELED", "{run}");
    assert_eq!(sleeping(), 0);
}

#[test]
fn a_hard_killed_server_neither_repeats_nor_loses_ticks() {
    let home = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(home.path());
    let mut spec = sleeper_spec();
    spec["deploymentSpec"]["executors"]["exec-nap"]["container"]["command"] =
        serde_json::json!(["true"]);
    let rr = post(
        &format!("{}/apis/v2beta1/recurringruns", server.url),
        &serde_json::json!({"display_name": "every-second", "pipeline_spec": spec, "max_concurrency": 10,
                            "trigger": {"periodic_schedule": {"interval_second": 1}}}),
    );
    let id = rr["recurring_run_id"].as_str().expect("id").to_string();
    let ticks =
        |url: &str| -> Vec<i64> { scheduled_runs(url, &id).iter().map(tick_second).collect() };
    let deadline = Instant::now() + Duration::from_secs(20);
    while ticks(&server.url).len() < 2 {
        assert!(Instant::now() < deadline, "the schedule never fired");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill_hard();
    std::thread::sleep(Duration::from_secs(3));
    let server = ServerProcess::start(home.path());
    std::thread::sleep(Duration::from_millis(1500));
    post(
        &format!("{}/apis/v2beta1/recurringruns/{id}:disable", server.url),
        &serde_json::json!({}),
    );
    let seconds = ticks(&server.url);
    assert!(
        seconds.len() >= 6,
        "ticks missed while down are caught up: {seconds:?}"
    );
    let steps: Vec<i64> = seconds.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        steps.iter().all(|s| *s == 1),
        "one run per tick, none twice, none lost: {seconds:?}"
    );
}

#[test]
fn recurring_runs_created_with_the_cli_are_fired_by_the_server() {
    let home = crate::util::Home::new();
    let file = home.path().join("tick.json");
    let mut spec = sleeper_spec();
    spec["deploymentSpec"]["executors"]["exec-nap"]["container"]["command"] =
        serde_json::json!(["true"]);
    std::fs::write(&file, spec.to_string()).expect("write spec");
    let file = file.to_str().expect("utf-8");

    let bad = home.penstock(&[
        "recurring-runs",
        "create",
        file,
        "--name",
        "bad",
        "--cron",
        "0 99 * * * *",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cron"));
    let out = home.penstock(&[
        "recurring-runs",
        "create",
        file,
        "--name",
        "every-second",
        "--every",
        "1s",
        "--max-concurrency",
        "10",
        "--experiment",
        "cli-exp",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let id = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Created recurring run "))
        .expect("id")
        .trim()
        .to_string();
    assert!(
        stdout.contains("every 1 s") && stdout.contains("Next fire times"),
        "{stdout}"
    );
    let listed = home.penstock(&["recurring-runs", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.contains(&id) && !listed.contains("bad"), "{listed}");

    let server = ServerProcess::start(home.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rr = get(&format!("{}/apis/v2beta1/recurringruns/{id}", server.url));
        let runs = get(&format!(
            "{}/apis/v2beta1/runs?experiment_id={}",
            server.url,
            rr["experiment_id"].as_str().unwrap_or_default()
        ));
        if runs["total_size"].as_i64().unwrap_or(0) >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never fired the CLI's schedule"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let disabled = home.penstock(&["recurring-runs", "disable", &id]);
    assert!(disabled.status.success());
    let shown = home.penstock(&["recurring-runs", "get", &id]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("DISABLED"));
    let deleted = home.penstock(&["recurring-runs", "delete", &id]);
    assert!(deleted.status.success());
    assert_eq!(
        home.penstock(&["recurring-runs", "get", &id]).status.code(),
        Some(2)
    );
}
