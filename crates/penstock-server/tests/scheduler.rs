//! The scheduler on an injected clock against a real store and real runs: exact tick times and
//! run counts across catch-up, concurrency, disable/enable and a restart, without sleeping.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use jiff::Timestamp;
use penstock_engine::Clock;
use penstock_launcher::python_env::KfpRuntime;
use penstock_server::scheduler::Scheduler;
use penstock_server::{Server, ServerConfig};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

struct FakeClock(Mutex<Timestamp>);

#[async_trait]
impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
    async fn sleep(&self, _d: Duration) {}
}

impl FakeClock {
    fn set(&self, t: &str) {
        *self.0.lock().unwrap() = t.parse().unwrap();
    }
}

async fn open(home: &std::path::Path) -> Server {
    Server::open(ServerConfig {
        home: home.to_path_buf(),
        task_slots: 4,
        kfp_runtime: KfpRuntime::Pinned,
        venvs_dir: None,
        warm: true,
        register_examples: false,
        security: Default::default(),
        limits: Default::default(),
        run_timeout: None,
        database: None,
        launcher: Default::default(),
        docker: Default::default(),
    })
    .await
    .unwrap()
}

async fn call(server: &Server, method: &str, uri: &str, body: Option<Value>) -> Value {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = server.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {uri}: {status} {v}");
    v
}

fn spec(command: &[&str]) -> Value {
    json!({
        "pipelineInfo": {"name": "tick"},
        "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-t": {"container": {"image": "alpine", "command": command}}}},
        "components": {"comp-t": {"executorLabel": "exec-t", "inputDefinitions": {"parameters": {
            "stamp": {"parameterType": "STRING"}}}}},
        "root": {
            "inputDefinitions": {"parameters": {"stamp": {"parameterType": "STRING"}}},
            "dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "t"},
                "inputs": {"parameters": {"stamp": {"componentInputParameter": "stamp"}}}}}}
        }
    })
}

async fn create(
    server: &Server,
    command: &[&str],
    max_concurrency: i64,
    no_catchup: bool,
) -> String {
    let rr = call(
        server,
        "POST",
        "/apis/v2beta1/recurringruns",
        Some(json!({
            "display_name": "every10", "pipeline_spec": spec(command), "max_concurrency": max_concurrency,
            "no_catchup": no_catchup, "mode": "ENABLE",
            "runtime_config": {"parameters": {"stamp": "[[Index]]@[[ScheduledTime.15:04:05]]"}},
            "trigger": {"periodic_schedule": {"interval_second": 10, "start_time": "2026-01-01T00:00:00Z"}}
        })),
    )
    .await;
    rr["recurring_run_id"].as_str().unwrap().to_string()
}

/// `(scheduled_at, stamp parameter)` of the recurring run's runs, oldest first.
async fn fired(server: &Server, id: &str) -> Vec<(String, String)> {
    let list = call(
        server,
        "GET",
        &format!(
            "/apis/v2beta1/runs?page_size=200&sort_by=scheduled_at&filter={}",
            urlencode(
                &json!({"predicates": [{"key": "recurring_run_id", "operation": "EQUALS",
                                              "string_value": id}]})
                .to_string()
            )
        ),
        None,
    )
    .await;
    list["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            assert_eq!(r["recurring_run_id"], json!(id));
            (
                r["scheduled_at"].as_str().unwrap().to_string(),
                r["runtime_config"]["parameters"]["stamp"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn running_run_of(server: &Server, id: &str) -> String {
    for _ in 0..400 {
        let running = server
            .state()
            .store
            .list_runs(100)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.state == penstock_engine::RunState::Running && r.pipeline_name == "tick");
        if let Some(run) = running {
            let (_, meta) = server.state().store.get_run(&run.run_id).await.unwrap();
            if meta.recurring_run_id.as_deref() == Some(id) {
                return run.run_id;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no run of {id} is running");
}

async fn until_idle(server: &Server, id: &str) {
    for _ in 0..400 {
        if server.state().store.active_runs_of(id).await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("runs of {id} did not finish");
}

#[tokio::test]
async fn catch_up_restart_disable_and_enable_fire_each_tick_exactly_once() {
    let home = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock(Mutex::new(Timestamp::UNIX_EPOCH)));
    let server = open(home.path()).await;
    let id = create(&server, &["true"], 10, false).await;
    let scheduler = Scheduler::new(server.state().clone(), clock.clone());

    clock.set("2026-01-01T00:00:09Z");
    assert!(scheduler.fire_due().await.unwrap().0.is_empty());
    clock.set("2026-01-01T00:00:35Z");
    let (started, next) = scheduler.fire_due().await.unwrap();
    assert_eq!(started.len(), 3);
    assert_eq!(next, Some("2026-01-01T00:00:40Z".parse().unwrap()));
    assert!(
        scheduler.fire_due().await.unwrap().0.is_empty(),
        "never twice"
    );
    until_idle(&server, &id).await;

    // A restart: a new process over the same home picks up where the store says.
    drop(scheduler);
    drop(server);
    let server = open(home.path()).await;
    let scheduler = Scheduler::new(server.state().clone(), clock.clone());
    clock.set("2026-01-01T00:01:05Z");
    assert_eq!(scheduler.fire_due().await.unwrap().0.len(), 3);
    until_idle(&server, &id).await;

    // Disabled: nothing; enabled again: the missed ticks are caught up (no_catchup = false).
    call(
        &server,
        "POST",
        &format!("/apis/v2beta1/recurringruns/{id}:disable"),
        None,
    )
    .await;
    clock.set("2026-01-01T00:01:35Z");
    assert!(scheduler.fire_due().await.unwrap().0.is_empty());
    call(
        &server,
        "POST",
        &format!("/apis/v2beta1/recurringruns/{id}:enable"),
        None,
    )
    .await;
    assert_eq!(scheduler.fire_due().await.unwrap().0.len(), 3);
    until_idle(&server, &id).await;

    let runs = fired(&server, &id).await;
    let expected: Vec<(String, String)> = (1..=9)
        .map(|i| {
            let at = format!("00:{:02}:{:02}", i * 10 / 60, i * 10 % 60);
            (format!("2026-01-01T{at}Z"), format!("{i}@{at}"))
        })
        .collect();
    assert_eq!(runs, expected);
    let rr = call(
        &server,
        "GET",
        &format!("/apis/v2beta1/recurringruns/{id}"),
        None,
    )
    .await;
    assert!(rr.get("error").is_none(), "{rr}");
}

#[tokio::test]
async fn max_concurrency_delays_ticks_and_no_catchup_fires_only_the_latest() {
    let home = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock(Mutex::new(Timestamp::UNIX_EPOCH)));
    let server = open(home.path()).await;
    let slow = create(&server, &["sleep", "30.0713"], 1, false).await;
    let latest_only = create(&server, &["true"], 5, true).await;
    let scheduler = Scheduler::new(server.state().clone(), clock.clone());

    clock.set("2026-01-01T00:00:45Z");
    let (started, _) = scheduler.fire_due().await.unwrap();
    assert_eq!(started.len(), 2, "one of each");
    assert_eq!(
        fired(&server, &latest_only).await[0].0,
        "2026-01-01T00:00:40Z"
    );
    // The slow schedule is at its limit: its due ticks wait rather than being dropped.
    let running = running_run_of(&server, &slow).await;
    clock.set("2026-01-01T00:00:55Z");
    let (started, _) = scheduler.fire_due().await.unwrap();
    assert_eq!(
        started.len(),
        1,
        "only the latest-only schedule's 00:00:50 tick"
    );
    assert_eq!(
        fired(&server, &latest_only).await[1].0,
        "2026-01-01T00:00:50Z"
    );
    assert_eq!(
        fired(&server, &slow).await,
        vec![("2026-01-01T00:00:10Z".to_string(), "1@00:00:10".to_string())]
    );
    // Free the slot: the oldest waiting tick starts next, late, with its own scheduled time.
    call(
        &server,
        "POST",
        &format!("/apis/v2beta1/runs/{running}:terminate"),
        None,
    )
    .await;
    let _ = scheduler.fire_due().await.unwrap();
    let slow_runs = fired(&server, &slow).await;
    assert_eq!(slow_runs.len(), 2);
    assert_eq!(slow_runs[1].1, "2@00:00:20");
    // Stop the sleeping runs (the latest-only schedule's `true` runs may finish any moment, so
    // only the slow schedule's are terminated).
    for run in server.state().store.list_runs(100).await.unwrap() {
        let (_, meta) = server.state().store.get_run(&run.run_id).await.unwrap();
        if run.state == penstock_engine::RunState::Running
            && meta.recurring_run_id.as_deref() == Some(slow.as_str())
        {
            call(
                &server,
                "POST",
                &format!("/apis/v2beta1/runs/{}:terminate", run.run_id),
                None,
            )
            .await;
        }
    }
}
