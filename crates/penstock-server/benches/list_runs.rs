//! `cargo bench -p penstock-server --bench list_runs`: list latency with 100,000 runs (and
//! 200,000 artifacts) in the store (first page, a page deep in the list, one experiment's runs,
//! filters, metric sorts, the artifacts page)
//! over real HTTP on loopback, and create-run throughput. Kubeflow's target for this size is
//! p99 ≤ 20 ms (kubeflow/pipelines#9890 reports time-outs).
//!
//! The same requests run against SQLite and against PostgreSQL (a server the bench starts from
//! the machine's binaries, see `penstock_store::testing`), each seeded with the same data, and a
//! table at the end puts the two side by side.
//!
//! `PENSTOCK_BENCH_RUNS` changes the number of stored runs (default 100000);
//! `PENSTOCK_BENCH_BACKENDS` picks the backends (default `sqlite,postgresql`).

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use penstock_engine::{
    ArtifactMap, ArtifactRole, RunRecord, RunState, RunStore, RuntimeArtifact, TaskIo, TaskKind,
    TaskRecord, TaskState,
};
use penstock_launcher::python_env::KfpRuntime;
use penstock_server::{Server, ServerConfig};
use penstock_store::{ExperimentRow, RunMeta, StorageState, Store};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

type HttpClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes_compat::Bytes>>;

mod bytes_compat {
    pub use axum::body::Bytes;
}

fn spec() -> Value {
    json!({
        "pipelineInfo": {"name": "bench"},
        "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-t": {"container": {"image": "alpine", "command": ["true"]}}}},
        "components": {"comp-t": {"executorLabel": "exec-t"}},
        "root": {"dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "t"}}}}}
    })
}

/// Seeds `runs` runs in 10 experiments, from 8 concurrent writers (PostgreSQL takes them in
/// parallel; SQLite's single writer connection queues them).
async fn seed(store: &Store, runs: usize) -> Vec<String> {
    let mut experiments = Vec::new();
    for i in 0..10 {
        let id = uuid::Uuid::new_v4().to_string();
        store
            .insert_experiment(&ExperimentRow {
                experiment_id: id.clone(),
                display_name: format!("bench-{i}"),
                description: String::new(),
                namespace: String::new(),
                storage_state: StorageState::Available,
                created_at: jiff::Timestamp::now(),
                last_run_created_at: None,
            })
            .await
            .expect("experiment");
        experiments.push(id);
    }
    let base = jiff::Timestamp::now().as_millisecond() - runs as i64 * 1000;
    let writers = 8;
    let mut handles = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let experiments = experiments.clone();
        handles.push(tokio::spawn(async move {
            for i in (w..runs).step_by(writers) {
                seed_run(&store, &experiments, base, i).await;
            }
        }));
    }
    for h in handles {
        h.await.expect("seeding task");
    }
    experiments
}

async fn seed_run(store: &Store, experiments: &[String], base: i64, i: usize) {
    {
        let created = jiff::Timestamp::from_millisecond(base + i as i64 * 1000).expect("time");
        let run = RunRecord {
            timeout_seconds: None,
            run_id: uuid::Uuid::new_v4().to_string(),
            display_name: format!("run-{i:06}"),
            pipeline_name: "bench".into(),
            pipeline_spec: spec(),
            platform_spec: None,
            parameters: Default::default(),
            state: if i.is_multiple_of(7) {
                RunState::Failed
            } else {
                RunState::Succeeded
            },
            error: None,
            created_at: created,
            started_at: Some(created),
            finished_at: Some(created),
            outputs: TaskIo::default(),
        };
        let mut meta = RunMeta::in_experiment(experiments[i % 10].clone(), &run);
        meta.description = "seeded".into();
        store.insert_run_with_meta(&run, &meta).await.expect("run");
        if i.is_multiple_of(10) {
            // One run in ten has a scalar to sort by.
            let mut outputs = TaskIo::default();
            outputs
                .parameters
                .insert("score".into(), json!(i as f64 / 7.0));
            let task = TaskRecord {
                task_id: uuid::Uuid::new_v4().to_string(),
                run_id: run.run_id.clone(),
                parent_task_id: None,
                path: "t".into(),
                name: "t".into(),
                kind: TaskKind::Container,
                state: TaskState::Succeeded,
                iteration: None,
                created_at: created,
                started_at: Some(created),
                finished_at: Some(created),
                inputs: TaskIo::default(),
                outputs,
                error: None,
                attempts: 1,
                cache: None,
                fingerprint: None,
                log_uri: None,
            };
            store.upsert_task(&task, None).await.expect("task");
            // Its task produced 20 artifacts of four kinds (200,000 for 100,000 runs); the
            // oldest run's first one has a name nothing else has.
            let kinds = [
                ("data", "system.Dataset"),
                ("model", "system.Model"),
                ("metrics", "system.Metrics"),
                ("report", "system.HTML"),
            ];
            let artifacts: ArtifactMap = (0..20)
                .map(|k| {
                    let (name, title) = kinds[k % 4];
                    let name = if i == 0 && k == 0 { "needle" } else { name };
                    let artifact = RuntimeArtifact {
                        name: name.into(),
                        schema_title: title.into(),
                        schema_version: "0.0.1".into(),
                        uri: format!("/bench/{}/{k}", run.run_id),
                        metadata: Default::default(),
                    };
                    (format!("{name}-{k}"), vec![artifact])
                })
                .collect();
            store
                .record_artifacts(&task, ArtifactRole::Output, &artifacts)
                .await
                .expect("artifacts");
        }
    }
}

async fn get(client: &HttpClient, url: &str) -> Value {
    let resp = client.get(url.parse().expect("url")).await.expect("GET");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&bytes).expect("json")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Each measured request's label with its p50 and p99 in milliseconds.
type Figures = Vec<(String, f64, f64)>;

async fn measure(client: &HttpClient, label: &str, url: &str, n: usize) -> (String, f64, f64) {
    measure_key(client, label, url, "runs", n).await
}

/// Times `n` GETs of `url` (after one to warm up), checking each answer has `key`.
async fn measure_key(
    client: &HttpClient,
    label: &str,
    url: &str,
    key: &str,
    n: usize,
) -> (String, f64, f64) {
    get(client, url).await; // warm
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let v = get(client, url).await;
        times.push(t.elapsed());
        assert!(v.get(key).is_some(), "{label}: no {key} in {v}");
    }
    times.sort();
    println!(
        "{label:<44} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
    (
        label.to_string(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
    )
}

fn main() {
    let runs: usize = std::env::var("PENSTOCK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let backends = std::env::var("PENSTOCK_BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgresql".to_string());
    let mut results: Vec<(String, Figures)> = Vec::new();
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        println!("== {backend}: {runs} runs");
        let figures = match backend {
            "sqlite" => rt.block_on(bench(None, runs)),
            "postgresql" | "postgres" => {
                let postgres = penstock_store::testing::TestPostgres::start()
                    .unwrap_or_else(|e| panic!("the PostgreSQL bench needs a server: {e}"));
                let url = postgres.url("postgres");
                rt.block_on(bench(Some(url), runs))
            }
            other => panic!(
                "PENSTOCK_BENCH_BACKENDS: unknown backend '{other}' (expected sqlite, postgresql)"
            ),
        };
        results.push((backend.to_string(), figures));
    }
    if results.len() == 2 {
        let (a, fa) = &results[0];
        let (b, fb) = &results[1];
        println!();
        println!("{runs} runs: p50 / p99 in ms, {a} vs {b} (same requests, same data)");
        println!("{:<46} {:>17} {:>17} {:>9}", "request", a, b, "p99 ratio");
        for ((label, a50, a99), (_, b50, b99)) in fa.iter().zip(fb) {
            println!(
                "{label:<46} {a50:>7.2} / {a99:>7.2} {b50:>7.2} / {b99:>7.2} {:>8.2}x",
                b99 / a99
            );
        }
    }
}

/// Seeds a store and times the list requests against a server on it.
async fn bench(database: Option<String>, runs: usize) -> Figures {
    let mut figures = Figures::new();
    {
        let home = tempfile::tempdir().expect("temp dir");
        let server = Server::open(ServerConfig {
            home: home.path().to_path_buf(),
            task_slots: 2,
            kfp_runtime: KfpRuntime::Pinned,
            venvs_dir: None,
            warm: true,
            register_examples: false,
            security: Default::default(),
            limits: Default::default(),
            run_timeout: None,
            database,
            launcher: Default::default(),
            docker: Default::default(),
        })
        .await
        .expect("server");
        let t = Instant::now();
        let experiments = seed(&server.state().store, runs).await;
        // What autovacuum (PostgreSQL) or the next start (SQLite) would do after a bulk load.
        server.state().store.analyze().await.expect("analyze");
        println!("seeded {runs} runs in {:.1} s", t.elapsed().as_secs_f64());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(listener, async move {
            let _ = stop_rx.await;
        }));
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let api = format!("http://{addr}/apis/v2beta1");

        figures.push(
            measure(
                &client,
                "first page (20, created_at desc)",
                &format!("{api}/runs?page_size=20&sort_by=created_at%20desc"),
                300,
            )
            .await,
        );
        figures.push(
            measure(
                &client,
                "first page (SDK: 10, default sort)",
                &format!("{api}/runs?page_size=10"),
                300,
            )
            .await,
        );
        // Walk half way down with big pages, then time the page found there.
        let mut token = String::new();
        for _ in 0..(runs / 2 / 200) {
            let v = get(
                &client,
                &format!("{api}/runs?page_size=200&sort_by=created_at%20desc&page_token={token}"),
            )
            .await;
            token = v["next_page_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        figures.push(
            measure(
                &client,
                &format!("page at row {} (token)", runs / 2),
                &format!("{api}/runs?page_size=20&page_token={token}"),
                300,
            )
            .await,
        );
        figures.push(
            measure(
                &client,
                "one experiment's runs (1 in 10)",
                &format!(
                    "{api}/runs?page_size=20&sort_by=created_at%20desc&experiment_id={}",
                    experiments[3]
                ),
                300,
            )
            .await,
        );
        let filter =
            r#"{"predicates":[{"key":"state","operation":"EQUALS","string_value":"FAILED"}]}"#;
        figures.push(
            measure(
                &client,
                "filter state = FAILED",
                &format!(
                    "{api}/runs?page_size=20&sort_by=created_at%20desc&filter={}",
                    urlencode(filter)
                ),
                300,
            )
            .await,
        );
        // What the web UI asks for: the runs page (not archived, newest first), an experiment's
        // page, and the experiments page's recent-runs request.
        let active = r#"{"predicates":[{"key":"storage_state","operation":"EQUALS","string_value":"AVAILABLE"}]}"#;
        figures.push(
            measure(
                &client,
                "UI runs page (not archived, newest first)",
                &format!(
                    "{api}/runs?page_size=20&sort_by=created_at%20desc&filter={}",
                    urlencode(active)
                ),
                300,
            )
            .await,
        );
        figures.push(
            measure(
                &client,
                "UI experiment page runs",
                &format!(
                    "{api}/runs?page_size=20&sort_by=created_at%20desc&experiment_id={}&filter={}",
                    experiments[3],
                    urlencode(active)
                ),
                300,
            )
            .await,
        );
        // The experiments page: a page of experiments, then the 5 newest runs of each.
        figures.push(
            measure_key(
                &client,
                "UI experiments page (20 experiments)",
                &format!("{api}/experiments?page_size=20&sort_by=created_at%20desc"),
                "experiments",
                300,
            )
            .await,
        );
        figures.push(
            measure_key(
                &client,
                "UI experiments page: recent runs of 10",
                &format!(
                    "http://{addr}/apis/penstock/v1/recent-runs?per_experiment=5&experiment_ids={}",
                    experiments.join(",")
                ),
                "experiments",
                300,
            )
            .await,
        );
        figures.push(
            measure_key(
                &client,
                "UI runs page: metric names",
                &format!("http://{addr}/apis/penstock/v1/scalar-names"),
                "names",
                300,
            )
            .await,
        );
        // Sorting by a metric (the UI's metric columns): one run in ten has `score`, all of them
        // in experiment 0. Pages come from the runs with the metric, then the runs without it.
        let by_score = |dir: &str, extra: &str| {
            format!(
                "{api}/runs?page_size=20&sort_by=metric%3Ascore{dir}&filter={}{extra}",
                urlencode(active)
            )
        };
        figures.push(
            measure(
                &client,
                "UI sorted by metric:score desc",
                &by_score("%20desc", ""),
                300,
            )
            .await,
        );
        figures.push(
            measure(
                &client,
                "UI sorted by metric:score asc",
                &by_score("", ""),
                300,
            )
            .await,
        );
        let mut token = String::new();
        for _ in 0..(runs / 10 / 200) {
            let v = get(
                &client,
                &format!(
                    "{}&page_token={token}",
                    by_score("%20desc", "").replace("page_size=20", "page_size=200")
                ),
            )
            .await;
            token = v["next_page_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        figures.push(
            measure(
                &client,
                "metric:score, page where the scored runs end",
                &format!("{api}/runs?page_size=20&page_token={token}"),
                300,
            )
            .await,
        );
        for _ in 0..(runs / 2 / 200) {
            let v = get(
                &client,
                &format!("{api}/runs?page_size=200&page_token={token}"),
            )
            .await;
            token = v["next_page_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        figures.push(
            measure(
                &client,
                "metric:score, page deep in the unscored runs",
                &format!("{api}/runs?page_size=20&page_token={token}"),
                300,
            )
            .await,
        );
        figures.push(
            measure(
                &client,
                "metric:score, experiment with all runs scored",
                &by_score("%20desc", &format!("&experiment_id={}", experiments[0])),
                300,
            )
            .await,
        );
        figures.push(
            measure(
                &client,
                "metric:score, experiment with none scored",
                &by_score("%20desc", &format!("&experiment_id={}", experiments[3])),
                300,
            )
            .await,
        );
        // The artifacts page: newest first, by type, a page deep in the list, by name.
        let arts = format!("http://{addr}/apis/penstock/v1/artifacts?page_size=50");
        figures.push(
            measure_key(
                &client,
                "artifacts page (newest 50)",
                &arts,
                "artifacts",
                300,
            )
            .await,
        );
        figures.push(
            measure_key(
                &client,
                "artifacts of one type",
                &format!("{arts}&type=system.Model"),
                "artifacts",
                300,
            )
            .await,
        );
        let mut token = String::new();
        for _ in 0..(runs * 2 / 10 / 200) {
            let v = get(
                &client,
                &format!(
                    "http://{addr}/apis/penstock/v1/artifacts?page_size=200&page_token={token}"
                ),
            )
            .await;
            token = v["next_page_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        figures.push(
            measure_key(
                &client,
                &format!(
                    "artifacts page at row {} (token)",
                    runs * 2 / 10 / 200 * 200
                ),
                &format!("{arts}&page_token={token}"),
                "artifacts",
                300,
            )
            .await,
        );
        figures.push(
            measure_key(
                &client,
                "artifacts named like 'model'",
                &format!("{arts}&name=model"),
                "artifacts",
                300,
            )
            .await,
        );
        figures.push(
            measure_key(
                &client,
                "artifacts named like 'needle' (one, oldest)",
                &format!("{arts}&name=needle"),
                "artifacts",
                50,
            )
            .await,
        );
        let filter = r#"{"predicates":[{"key":"name","operation":"IS_SUBSTRING","string_value":"run-00001"}]}"#;
        figures.push(
            measure(
                &client,
                "filter name IS_SUBSTRING (trigram index)",
                &format!("{api}/runs?page_size=20&filter={}", urlencode(filter)),
                50,
            )
            .await,
        );

        // Create-run throughput: sequential POSTs of a one-step pipeline (each run executes).
        let n = 300;
        let body = json!({"display_name": "created", "pipeline_spec": spec()}).to_string();
        let t = Instant::now();
        for _ in 0..n {
            let req = hyper::Request::post(format!("{api}/runs"))
                .header("content-type", "application/json")
                .body(Full::new(axum::body::Bytes::from(body.clone())))
                .expect("request");
            let resp = client.request(req).await.expect("POST");
            assert!(resp.status().is_success());
            let _ = resp.into_body().collect().await;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "create run (POST /runs, sequential)               {:.0} runs/s ({:.2} ms each)",
            n as f64 / secs,
            secs * 1000.0 / n as f64
        );
        let _ = stop_tx.send(());
        let _ = serving.await;
    }
    figures
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
