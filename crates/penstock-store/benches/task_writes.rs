//! What the engine's records cost per task on the embedded SQLite store: the writes a task of a
//! chain makes (PENDING, RUNNING, its attempt, SUCCEEDED), one task at a time (a chain) and
//! many at once (a fan-out).
//!
//! `cargo bench -p penstock-store --bench task_writes` (`PENSTOCK_BENCH_TASKS=N`, default 2,000).

use jiff::Timestamp;
use penstock_engine::{
    AttemptRecord, RunRecord, RunState, RunStore, RunWrite, TaskIo, TaskKind, TaskRecord, TaskState,
};
use penstock_store::Store;
use std::sync::Arc;
use std::time::Instant;

fn run_record(id: &str) -> RunRecord {
    RunRecord {
        run_id: id.to_string(),
        display_name: id.to_string(),
        pipeline_name: "bench".into(),
        pipeline_spec: serde_json::json!({"pipelineInfo": {"name": "bench"}}),
        platform_spec: None,
        parameters: Default::default(),
        state: RunState::Running,
        error: None,
        created_at: Timestamp::now(),
        started_at: Some(Timestamp::now()),
        finished_at: None,
        outputs: TaskIo::default(),
        timeout_seconds: None,
    }
}

fn task_record(run_id: &str, i: usize) -> TaskRecord {
    TaskRecord {
        task_id: format!("{run_id}/noop-{i}"),
        run_id: run_id.to_string(),
        parent_task_id: None,
        path: format!("noop-{i}"),
        name: format!("noop-{i}"),
        kind: TaskKind::Container,
        state: TaskState::Pending,
        iteration: None,
        created_at: Timestamp::now(),
        started_at: None,
        finished_at: None,
        inputs: TaskIo::default(),
        outputs: TaskIo::default(),
        error: None,
        attempts: 0,
        cache: None,
        fingerprint: Some(format!("fp-{i}")),
        log_uri: Some(format!("/logs/noop-{i}.log")),
    }
}

/// The writes of one task after it was recorded PENDING, as the engine makes them: RUNNING,
/// then the attempt and SUCCEEDED together.
async fn execute(store: &Store, mut task: TaskRecord) {
    task.state = TaskState::Running;
    task.started_at = Some(Timestamp::now());
    task.attempts = 1;
    store
        .upsert_task(&task, Some("attempt 1"))
        .await
        .expect("running");
    let attempt = AttemptRecord {
        task_id: task.task_id.clone(),
        run_id: task.run_id.clone(),
        attempt: 1,
        started_at: Timestamp::now(),
        finished_at: Timestamp::now(),
        state: TaskState::Succeeded,
        exit_code: Some(0),
        error: None,
    };
    task.state = TaskState::Succeeded;
    task.finished_at = Some(Timestamp::now());
    store
        .write_all(vec![
            RunWrite::Attempt(attempt),
            RunWrite::Task {
                task,
                message: None,
            },
        ])
        .await
        .expect("succeeded");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("PENSTOCK_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        Store::open(&dir.path().join("penstock.db"))
            .await
            .expect("open"),
    );

    for (label, parallel) in [("chain", false), ("fan-out", true)] {
        let run_id = format!("run-{label}");
        store.insert_run(&run_record(&run_id)).await.expect("run");
        let tasks: Vec<TaskRecord> = (0..n).map(|i| task_record(&run_id, i)).collect();
        let start = Instant::now();
        if parallel {
            let pending: Vec<_> = tasks
                .iter()
                .map(|t| {
                    let store = store.clone();
                    let t = t.clone();
                    tokio::spawn(async move { store.upsert_task(&t, Some("created")).await })
                })
                .collect();
            for p in pending {
                p.await.expect("join").expect("pending");
            }
        } else {
            for t in &tasks {
                store
                    .upsert_task(t, Some("created"))
                    .await
                    .expect("pending");
            }
        }
        let pending = start.elapsed();
        // A DAG's tasks are recorded PENDING in one write.
        let start = Instant::now();
        let dag: Vec<RunWrite> = tasks
            .iter()
            .map(|t| RunWrite::Task {
                task: t.clone(),
                message: Some("created again".into()),
            })
            .collect();
        store.write_all(dag).await.expect("pending dag");
        let pending_dag = start.elapsed();
        let start = Instant::now();
        if parallel {
            let handles: Vec<_> = tasks
                .into_iter()
                .map(|t| {
                    let store = store.clone();
                    tokio::spawn(async move { execute(&store, t).await })
                })
                .collect();
            for h in handles {
                h.await.expect("join");
            }
        } else {
            for t in tasks {
                execute(&store, t).await;
            }
        }
        let executed = start.elapsed();
        println!(
            "{label:8} {n} tasks: PENDING {:6.1} µs/task (in one write: {:5.1}), RUNNING then attempt+SUCCEEDED {:6.1} µs/task",
            pending.as_secs_f64() * 1e6 / n as f64,
            pending_dag.as_secs_f64() * 1e6 / n as f64,
            executed.as_secs_f64() * 1e6 / n as f64
        );
    }
}
