//! The HTTP API in-process (real router, real SQLite store, real processes): wire-format
//! details and every error path.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use penstock_launcher::python_env::KfpRuntime;
use penstock_server::{Server, ServerConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    _home: tempfile::TempDir,
}

async fn api() -> Api {
    api_with(Default::default()).await
}

async fn api_with(security: penstock_server::access::SecurityConfig) -> Api {
    let home = tempfile::tempdir().unwrap();
    let server = Server::open(ServerConfig {
        home: home.path().to_path_buf(),
        task_slots: 2,
        kfp_runtime: KfpRuntime::Pinned,
        venvs_dir: None,
        warm: true,
        register_examples: false,
        security,
        limits: Default::default(),
        run_timeout: None,
        database: None,
        launcher: Default::default(),
        docker: Default::default(),
    })
    .await
    .unwrap();
    Api {
        router: server.router(),
        _home: home,
    }
}

impl Api {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    async fn multipart(&self, uri: &str, file_name: &str, content: &str) -> (StatusCode, Value) {
        let boundary = "XBOUNDARYX";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n{content}\r\n--{boundary}--\r\n"
        );
        let req = Request::builder()
            .method("POST")
            .uri(uri)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn wait_run(&self, run_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, run) = self
                .call("GET", &format!("/apis/v2beta1/runs/{run_id}"), None)
                .await;
            if ["SUCCEEDED", "FAILED", "CANCELED"].contains(&run["state"].as_str().unwrap_or("")) {
                return run;
            }
            assert!(Instant::now() < deadline, "run did not finish: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn spec(command: Value, outputs: Value) -> Value {
    json!({
        "pipelineInfo": {"name": "p"},
        "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-t": {"container": {"image": "alpine", "command": command}}}},
        "components": {"comp-t": {"executorLabel": "exec-t", "outputDefinitions": outputs}},
        "root": {
            "inputDefinitions": {"parameters": {"n": {"parameterType": "NUMBER_INTEGER", "defaultValue": 1}}},
            "dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "t"}}}}
        }
    })
}

fn trivial() -> Value {
    spec(json!(["true"]), json!({}))
}

fn assert_status(body: &Value, code: i64, needle: &str) {
    assert_eq!(body["code"], json!(code), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
    assert!(
        body.get("details").is_some(),
        "google.rpc.Status has details: {body}"
    );
}

#[tokio::test]
async fn errors_are_google_rpc_status_with_the_right_http_code() {
    let api = api().await;
    let (s, b) = api.call("GET", "/apis/v2beta1/runs/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_status(&b, 5, "run 'nope' not found");
    let (s, b) = api
        .call(
            "POST",
            "/apis/v2beta1/experiments",
            Some(json!({"display_name": "x", "colour": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "colour");
    let (s, b) = api
        .call("POST", "/apis/v2beta1/experiments", Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "display_name");
    for (uri, needle) in [
        ("/apis/v2beta1/runs?page_size=201", "page_size"),
        ("/apis/v2beta1/runs?page_size=-3", "page_size"),
        ("/apis/v2beta1/runs?sort_by=colour", "colour"),
        ("/apis/v2beta1/runs?page_token=%21%21", "page_token"),
        ("/apis/v2beta1/experiments?filter=%7Bnope", "filter"),
    ] {
        let (s, b) = api.call("GET", uri, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert_status(&b, 3, needle);
    }
    let (s, b) = api.call("POST", "/apis/v2beta1/runs/nope:fly", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_status(&b, 5, ":fly");
    let (s, _) = api.call("GET", "/apis/v2beta1/nothing-here", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_runs_name_the_problem_and_create_nothing() {
    let api = api().await;
    let mut broken = trivial();
    broken["root"]["dag"]["tasks"]["t"]["componentRef"]["name"] = json!("comp-missing");
    let cases = [
        (
            json!({"display_name": "r", "pipeline_spec": broken}),
            "comp-missing",
        ),
        (
            json!({"display_name": "r", "pipeline_spec": trivial(),
                "runtime_config": {"parameters": {"n": "many"}}}),
            "n",
        ),
        (
            json!({"display_name": "r", "pipeline_spec": trivial(),
                "runtime_config": {"parameters": {"m": 1}}}),
            "m",
        ),
        (
            json!({"display_name": "r"}),
            "pipeline_spec or pipeline_version_reference",
        ),
        (json!({"pipeline_spec": trivial()}), "display_name"),
        (
            json!({"display_name": "r", "pipeline_spec": trivial(), "experiment_id": "nope"}),
            "nope",
        ),
    ];
    for (body, needle) in cases {
        let (s, b) = api
            .call("POST", "/apis/v2beta1/runs", Some(body.clone()))
            .await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{body}: {s}"
        );
        assert!(
            b["message"].as_str().unwrap_or_default().contains(needle),
            "{needle}: {b}"
        );
    }
    let (_, list) = api.call("GET", "/apis/v2beta1/runs", None).await;
    assert_eq!(
        list,
        json!({}),
        "nothing was created, and empty lists are {{}}"
    );
}

#[tokio::test]
async fn inline_specs_are_accepted_in_both_sdk_shapes() {
    let api = api().await;
    let platform = json!({"platforms": {"kubernetes": {"deploymentSpec": {"executors": {}}}}});
    let (s, bare) = api
        .call(
            "POST",
            "/apis/v2beta1/runs",
            Some(json!({"displayName": "bare", "pipelineSpec": trivial()})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{bare}");
    let (s, wrapped) = api
        .call(
            "POST",
            "/apis/v2beta1/runs",
            Some(json!({"display_name": "wrapped",
                        "pipeline_spec": {"pipeline_spec": trivial(), "platform_spec": platform}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{wrapped}");
    let done = api.wait_run(wrapped["run_id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "SUCCEEDED");
    assert_eq!(done["pipeline_spec"]["platform_spec"], platform);
    assert_eq!(done["storage_state"], "AVAILABLE");
    assert!(done["created_at"].as_str().unwrap().ends_with('Z'));
    let done = api.wait_run(bare["run_id"].as_str().unwrap()).await;
    assert_eq!(done["pipeline_spec"]["pipelineInfo"]["name"], "p");
    assert_eq!(done["runtime_config"]["parameters"]["n"], json!(1));
    let tasks = done["run_details"]["task_details"].as_array().unwrap();
    assert_eq!(tasks[0]["display_name"], "t");
}

#[tokio::test]
async fn page_tokens_stay_correct_while_rows_are_inserted() {
    let api = api().await;
    for i in 0..5 {
        api.call(
            "POST",
            "/apis/v2beta1/experiments",
            Some(json!({"display_name": format!("e{i}")})),
        )
        .await;
    }
    let (_, first) = api
        .call(
            "GET",
            "/apis/v2beta1/experiments?page_size=2&sort_by=name%20desc",
            None,
        )
        .await;
    assert_eq!(first["total_size"], json!(6)); // with Default
    let names = |v: &Value| -> Vec<String> {
        v["experiments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["display_name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&first), ["e4", "e3"]);
    // A row that sorts before the cursor and one after it.
    for name in ["e9", "e0a"] {
        api.call(
            "POST",
            "/apis/v2beta1/experiments",
            Some(json!({"display_name": name})),
        )
        .await;
    }
    let token = first["next_page_token"].as_str().unwrap();
    let (_, second) = api
        .call(
            "GET",
            &format!("/apis/v2beta1/experiments?page_size=2&page_token={token}"),
            None,
        )
        .await;
    assert_eq!(names(&second), ["e2", "e1"]);
    let token = second["next_page_token"].as_str().unwrap();
    let (_, third) = api
        .call(
            "GET",
            &format!("/apis/v2beta1/experiments?page_size=3&page_token={token}"),
            None,
        )
        .await;
    assert_eq!(names(&third), ["e0a", "e0", "Default"]);
    assert!(third.get("next_page_token").is_none(), "{third}");
    // The token is bound to its sort order.
    let (s, b) = api
        .call(
            "GET",
            &format!("/apis/v2beta1/experiments?page_token={token}&sort_by=created_at"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "sort_by");
}

#[tokio::test]
async fn pipelines_upload_errors_use_the_upload_shape_and_cascade_deletes() {
    let api = api().await;
    let (s, b) = api
        .multipart(
            "/apis/v2beta1/pipelines/upload?name=p1",
            "p1.yaml",
            "pipelineInfo: [unclosed",
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["error_message"].as_str().unwrap().contains("p1.yaml"),
        "{b}"
    );
    let yaml = serde_json::to_string(&trivial()).unwrap();
    let (s, p) = api
        .multipart("/apis/v2beta1/pipelines/upload?name=p1", "p1.json", &yaml)
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let pid = p["pipeline_id"].as_str().unwrap();
    let (s, v) = api
        .multipart(
            &format!("/apis/v2beta1/pipelines/upload_version?pipelineid={pid}&name=v2"),
            "x.json",
            &yaml,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, b) = api
        .multipart(
            "/apis/v2beta1/pipelines/upload_version?name=v3",
            "x.json",
            &yaml,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["error_message"].as_str().unwrap().contains("pipelineid"));
    let (s, b) = api
        .call("DELETE", &format!("/apis/v2beta1/pipelines/{pid}"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 9, "version");
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/apis/v2beta1/pipelines/{pid}?cascade=true"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .call(
            "GET",
            &format!(
                "/apis/v2beta1/pipelines/{pid}/versions/{}",
                v["pipeline_version_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn recurring_runs_use_int64_strings_and_the_camel_case_list_key() {
    let api = api().await;
    let (s, rr) = api
        .call(
            "POST",
            "/pipeline/apis/v2beta1/recurringruns",
            Some(json!({"display_name": "every5", "pipeline_spec": trivial(), "max_concurrency": 3,
                        "trigger": {"periodicSchedule": {"intervalSecond": "5"}}, "mode": "DISABLE"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rr}");
    assert_eq!(rr["max_concurrency"], json!("3"));
    assert_eq!(
        rr["trigger"]["periodic_schedule"]["interval_second"],
        json!("5")
    );
    assert_eq!(rr["status"], "DISABLED");
    let (_, list) = api.call("GET", "/apis/v2beta1/recurringruns", None).await;
    assert_eq!(
        list["recurringRuns"][0]["recurring_run_id"],
        rr["recurring_run_id"]
    );
    assert!(list.get("recurring_runs").is_none());
}

#[tokio::test]
async fn artifact_files_are_served_and_paths_cannot_escape() {
    let api = api().await;
    let command = json!([
        "sh",
        "-c",
        "mkdir -p \"$0\" && echo a > \"$0/a.txt\"",
        "{{$.outputs.artifacts['data'].path}}"
    ]);
    let outputs = json!({"artifacts": {"data": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}}});
    let (_, run) = api
        .call(
            "POST",
            "/apis/v2beta1/runs",
            Some(json!({"display_name": "a", "pipeline_spec": spec(command, outputs)})),
        )
        .await;
    let run_id = run["run_id"].as_str().unwrap();
    let done = api.wait_run(run_id).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    let base = format!("/apis/penstock/v1/runs/{run_id}/tasks/t/artifacts/data");
    let (s, listing) = api.call("GET", &base, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listing["files"], json!(["a.txt"]));
    let (_, content) = api.call("GET", &format!("{base}?file=a.txt"), None).await;
    assert_eq!(content, json!("a\n"));
    let (s, b) = api
        .call(
            "GET",
            &format!("{base}?file=../../../../../penstock.db"),
            None,
        )
        .await;
    // No oracle: outside the artifact is "no such file", whether the file exists or not, and
    // no answer names a host path.
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_status(&b, 5, "has no file");
    let home = api._home.path().display().to_string();
    let mut answers = Vec::new();
    for probe in [
        "/etc/passwd",
        "/etc/no-such-file-here",
        "../../../../../penstock.db",
        "../../../../../no-such-file.db",
    ] {
        let (s, b) = api.call("GET", &format!("{base}?file={probe}"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{probe}: {b}");
        let message = b["message"].as_str().unwrap_or_default();
        assert!(!message.contains(&home), "{message}");
        answers.push(message.replace(probe, "PROBE"));
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let (s, log) = api
        .call(
            "GET",
            &format!("/apis/penstock/v1/runs/{run_id}/tasks/t/logs"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(log.as_str().unwrap().contains("attempt 1"), "{log}");
}

#[tokio::test]
async fn artifacts_list_pages_newest_first_and_filters_by_type_and_name() {
    let api = api().await;
    let command = json!([
        "sh",
        "-c",
        "mkdir -p \"$(dirname \"$0\")\" \"$(dirname \"$1\")\" && echo d > \"$0\" && echo m > \"$1\"",
        "{{$.outputs.artifacts['data'].path}}",
        "{{$.outputs.artifacts['model_1'].path}}"
    ]);
    let outputs = json!({"artifacts": {
        "data": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}},
        "model_1": {"artifactType": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"}}
    }});
    for i in 0..3 {
        let (_, run) = api
            .call(
                "POST",
                "/apis/v2beta1/runs",
                Some(json!({"display_name": format!("a{i}"), "pipeline_spec": spec(command.clone(), outputs.clone())})),
            )
            .await;
        let done = api.wait_run(run["run_id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "SUCCEEDED", "{done}");
    }
    let walk = |query: &'static str| {
        let api = &api;
        async move {
            let mut seen: Vec<(i64, String, String)> = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                let url =
                    format!("/apis/penstock/v1/artifacts?page_size=2{query}&page_token={token}");
                let (s, page) = api.call("GET", &url, None).await;
                assert_eq!(s, StatusCode::OK, "{url}: {page}");
                pages += 1;
                for a in page["artifacts"].as_array().unwrap() {
                    seen.push((
                        a["artifact_id"].as_i64().unwrap(),
                        a["name"].as_str().unwrap().to_string(),
                        a["schema_title"].as_str().unwrap().to_string(),
                    ));
                }
                match page["next_page_token"].as_str() {
                    Some(t) => token = t.to_string(),
                    None => break,
                }
            }
            (seen, pages)
        }
    };
    let (all, pages) = walk("").await;
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(pages, 3);
    assert!(
        all.windows(2).all(|w| w[0].0 > w[1].0),
        "newest first, no repeats: {all:?}"
    );
    let (models, _) = walk("&type=system.Model").await;
    assert_eq!(models.len(), 3, "{models:?}");
    assert!(models
        .iter()
        .all(|(_, n, t)| n == "model_1" && t == "system.Model"));
    let (by_name, _) = walk("&name=MOD").await;
    assert_eq!(
        by_name, models,
        "name filter is a case-insensitive substring"
    );
    let (literal, _) = walk("&name=l_").await;
    assert_eq!(literal, models, "'_' is matched literally");
    let (none, pages) = walk("&type=system.HTML").await;
    assert!(none.is_empty() && pages == 1);
    for (query, needle) in [
        ("page_size=0", "page_size"),
        ("page_size=201", "page_size"),
        ("page_token=abc", "page_token"),
        ("limit=5", "'limit'"),
    ] {
        let (s, b) = api
            .call("GET", &format!("/apis/penstock/v1/artifacts?{query}"), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert_status(&b, 3, needle);
    }
}

#[tokio::test]
async fn compare_answers_runs_with_details_and_metrics_in_one_request() {
    let api = api().await;
    let mut ids = Vec::new();
    for n in [3, 7] {
        let (_, run) = api
            .call(
                "POST",
                "/apis/v2beta1/runs",
                Some(
                    json!({"display_name": format!("c{n}"), "pipeline_spec": trivial(),
                    "runtime_config": {"parameters": {"n": n}}}),
                ),
            )
            .await;
        let id = run["run_id"].as_str().unwrap().to_string();
        assert_eq!(api.wait_run(&id).await["state"], "SUCCEEDED");
        ids.push(id);
    }
    // Asked in reverse creation order: answered in the order asked.
    let (s, b) = api
        .call(
            "GET",
            &format!("/apis/penstock/v1/compare?run_ids={},{}", ids[1], ids[0]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let runs = b["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run"]["display_name"], "c7");
    assert_eq!(runs[1]["run"]["display_name"], "c3");
    assert_eq!(runs[0]["metrics"]["config"]["n"], json!(7), "{b}");
    assert_eq!(runs[1]["metrics"]["config"]["n"], json!(3), "{b}");
    let tasks = runs[0]["run"]["run_details"]["task_details"]
        .as_array()
        .unwrap();
    assert!(
        tasks.iter().any(|t| t["display_name"] == "t"),
        "task details included: {b}"
    );
    let eleven = [ids[0].as_str(); 11].join(",");
    for (query, status, needle) in [
        (ids[0].clone(), StatusCode::BAD_REQUEST, "expected 2 to 10"),
        (eleven, StatusCode::BAD_REQUEST, "expected 2 to 10"),
        (format!("{},nope", ids[0]), StatusCode::NOT_FOUND, "nope"),
    ] {
        let (s, b) = api
            .call(
                "GET",
                &format!("/apis/penstock/v1/compare?run_ids={query}"),
                None,
            )
            .await;
        assert_eq!(s, status, "{query}: {b}");
        let message = b["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle:?} not in {b}");
    }
}

#[tokio::test]
async fn recent_runs_come_per_experiment_newest_first_without_archived() {
    let api = api().await;
    let mut experiments = Vec::new();
    for name in ["busy", "quiet"] {
        let (_, e) = api
            .call(
                "POST",
                "/apis/v2beta1/experiments",
                Some(json!({"display_name": name})),
            )
            .await;
        experiments.push(e["experiment_id"].as_str().unwrap().to_string());
    }
    let mut runs: Vec<(String, String)> = Vec::new();
    for (name, exp) in [("b1", 0), ("q1", 1), ("b2", 0), ("q2", 1), ("b3", 0)] {
        let (_, run) = api
            .call(
                "POST",
                "/apis/v2beta1/runs",
                Some(json!({"display_name": name, "experiment_id": experiments[exp], "pipeline_spec": trivial()})),
            )
            .await;
        let id = run["run_id"].as_str().unwrap().to_string();
        api.wait_run(&id).await;
        runs.push((name.to_string(), id));
    }
    let (s, _) = api
        .call(
            "POST",
            &format!("/apis/v2beta1/runs/{}:archive", runs[3].1),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let url = format!(
        "/apis/penstock/v1/recent-runs?per_experiment=2&experiment_ids={},{},unknown",
        experiments[1], experiments[0]
    );
    let (s, b) = api.call("GET", &url, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let got: Vec<(String, Vec<String>)> = b["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["experiment_id"].as_str().unwrap().to_string(),
                e["runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["display_name"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (experiments[1].clone(), vec!["q1".to_string()]),
            (
                experiments[0].clone(),
                vec!["b3".to_string(), "b2".to_string()]
            ),
            ("unknown".to_string(), vec![]),
        ]
    );
    for query in ["per_experiment=0", "per_experiment=21", "per_experiment=x"] {
        let (s, b) = api
            .call(
                "GET",
                &format!("/apis/penstock/v1/recent-runs?experiment_ids=a&{query}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert_status(&b, 3, "per_experiment");
    }
}

#[tokio::test]
async fn a_fresh_home_gets_the_examples_once() {
    let home = tempfile::tempdir().unwrap();
    let open = || async {
        Server::open(ServerConfig {
            home: home.path().to_path_buf(),
            task_slots: 1,
            kfp_runtime: KfpRuntime::Pinned,
            venvs_dir: None,
            warm: true,
            register_examples: true,
            security: Default::default(),
            limits: Default::default(),
            run_timeout: None,
            database: None,
            launcher: Default::default(),
            docker: Default::default(),
        })
        .await
        .unwrap()
    };
    let server = open().await;
    let api = Api {
        router: server.router(),
        _home: tempfile::tempdir().unwrap(),
    };
    let (_, list) = api
        .call("GET", "/apis/v2beta1/pipelines?sort_by=name", None)
        .await;
    let names: Vec<&str> = list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["control-flow", "data-passing", "titanic", "tracking"]
    );
    let titanic = list["pipelines"][2]["pipeline_id"]
        .as_str()
        .unwrap()
        .to_string();
    api.call(
        "DELETE",
        &format!("/apis/v2beta1/pipelines/{titanic}?cascade=true"),
        None,
    )
    .await;
    drop(api);
    drop(server);
    let again = open().await;
    let (_, list) = Api {
        router: again.router(),
        _home: tempfile::tempdir().unwrap(),
    }
    .call("GET", "/apis/v2beta1/pipelines", None)
    .await;
    assert_eq!(
        list["total_size"],
        json!(3),
        "a deleted example stays deleted"
    );
}

#[tokio::test]
async fn runs_sort_by_a_metric_across_pages() {
    let api = api().await;
    let mut ids = Vec::new();
    for value in ["0.5", "2", "1"] {
        let command = json!([
            "sh",
            "-c",
            "mkdir -p \"$(dirname \"$1\")\" && printf %s \"$0\" > \"$1\"",
            value,
            "{{$.outputs.parameters['score'].output_file}}"
        ]);
        let outputs = json!({"parameters": {"score": {"parameterType": "NUMBER_DOUBLE"}}});
        let (_, run) = api
            .call("POST", "/apis/v2beta1/runs", Some(json!({"display_name": format!("score-{value}"), "pipeline_spec": spec(command, outputs)})))
            .await;
        let run_id = run["run_id"].as_str().unwrap().to_string();
        assert_eq!(api.wait_run(&run_id).await["state"], "SUCCEEDED");
        ids.push(run_id);
    }
    // Two runs without the metric (b created after a, each waited for); they come after the
    // scored runs in both directions, newest first.
    for name in ["no-score-a", "no-score-b"] {
        let (_, run) = api
            .call(
                "POST",
                "/apis/v2beta1/runs",
                Some(json!({"display_name": name, "pipeline_spec": trivial()})),
            )
            .await;
        api.wait_run(run["run_id"].as_str().unwrap()).await;
    }
    let unscored_names = || -> Vec<String> { vec!["no-score-b".into(), "no-score-a".into()] };
    let names = |v: &Value| -> Vec<String> {
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["display_name"].as_str().unwrap().to_string())
            .collect()
    };
    // Every page of two, following the tokens; each page checked for its total.
    let walk = |sort: &'static str, filter: Option<&'static str>| {
        let api = &api;
        async move {
            let mut pages = Vec::new();
            let mut token = String::new();
            loop {
                let mut url = format!("/apis/v2beta1/runs?page_size=2&sort_by={sort}");
                if let Some(f) = filter {
                    url.push_str(&format!("&filter={}", enc(f)));
                }
                if !token.is_empty() {
                    url.push_str(&format!("&page_token={token}"));
                }
                let (s, page) = api.call("GET", &url, None).await;
                assert_eq!(s, StatusCode::OK, "{url}: {page}");
                pages.push((names(&page), page["total_size"].clone()));
                match page["next_page_token"].as_str() {
                    Some(t) => token = t.to_string(),
                    None => break,
                }
            }
            pages
        }
    };
    let pages = walk("metric:score%20desc", None).await;
    let mut want: Vec<String> = vec!["score-2".into(), "score-1".into(), "score-0.5".into()];
    want.extend(unscored_names());
    let got: Vec<String> = pages.iter().flat_map(|(n, _)| n.clone()).collect();
    assert_eq!(got, want, "highest first, then the runs without the metric");
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages.iter().all(|(_, total)| *total == json!(5)),
        "{pages:?}"
    );

    let pages = walk("metric:score", None).await;
    let mut want: Vec<String> = vec!["score-0.5".into(), "score-1".into(), "score-2".into()];
    want.extend(unscored_names());
    let got: Vec<String> = pages.iter().flat_map(|(n, _)| n.clone()).collect();
    assert_eq!(
        got, want,
        "lowest first, the runs without the metric still last"
    );
    assert_eq!(
        pages[1].0,
        vec!["score-2".to_string(), unscored_names()[0].clone()],
        "a page spans both segments"
    );

    // Filters apply to both segments.
    let filter =
        r#"{"predicates":[{"key":"name","operation":"NOT_EQUALS","string_value":"score-1"}]}"#;
    let pages = walk("metric:score%20desc", Some(filter)).await;
    let mut want: Vec<String> = vec!["score-2".into(), "score-0.5".into()];
    want.extend(unscored_names());
    let got: Vec<String> = pages.iter().flat_map(|(n, _)| n.clone()).collect();
    assert_eq!(got, want);
    assert!(
        pages.iter().all(|(_, total)| *total == json!(4)),
        "{pages:?}"
    );

    // The copies of experiment and storage state kept beside each metric follow the run: an
    // archived scored run is found in the archived view, and an experiment's scope finds its
    // scored runs.
    let (s, b) = api
        .call(
            "POST",
            &format!("/apis/v2beta1/runs/{}:archive", ids[2]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let archived = r#"{"predicates":[{"key":"storage_state","operation":"EQUALS","string_value":"ARCHIVED"}]}"#;
    let pages = walk("metric:score%20desc", Some(archived)).await;
    assert_eq!(pages, vec![(vec!["score-1".to_string()], json!(1))]);
    let (_, run) = api
        .call("GET", &format!("/apis/v2beta1/runs/{}", ids[0]), None)
        .await;
    let experiment = run["experiment_id"].as_str().unwrap();
    let (_, page) = api
        .call(
            "GET",
            &format!(
                "/apis/v2beta1/runs?page_size=10&sort_by=metric:score%20desc&experiment_id={experiment}&filter={}",
                enc(r#"{"predicates":[{"key":"storage_state","operation":"EQUALS","string_value":"AVAILABLE"}]}"#)
            ),
            None,
        )
        .await;
    assert_eq!(
        names(&page),
        ["score-2", "score-0.5", "no-score-b", "no-score-a"]
    );

    let (_, scalars) = api
        .call(
            "GET",
            &format!("/apis/penstock/v1/scalars?run_ids={},{}", ids[0], ids[1]),
            None,
        )
        .await;
    let got: Vec<(String, f64)> = scalars["scalars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&("score".into(), 0.5)) && got.contains(&("score".into(), 2.0)));
    let (_, names) = api
        .call("GET", "/apis/penstock/v1/scalar-names", None)
        .await;
    assert_eq!(names["names"], json!(["score"]));
    let (s, b) = api
        .call(
            "GET",
            "/apis/v2beta1/experiments?sort_by=metric:score",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "only runs");
}

#[tokio::test]
async fn markdown_artifacts_render_to_html() {
    let api = api().await;
    let command = json!([
        "sh",
        "-c",
        "mkdir -p \"$(dirname \"$0\")\" && printf '# Title\\n\\nsome *words*\\n' > \"$0\"",
        "{{$.outputs.artifacts['report'].path}}"
    ]);
    let outputs = json!({"artifacts": {"report": {"artifactType": {"schemaTitle": "system.Markdown", "schemaVersion": "0.0.1"}}}});
    let (_, run) = api
        .call(
            "POST",
            "/apis/v2beta1/runs",
            Some(json!({"display_name": "md", "pipeline_spec": spec(command, outputs)})),
        )
        .await;
    let run_id = run["run_id"].as_str().unwrap();
    assert_eq!(api.wait_run(run_id).await["state"], "SUCCEEDED");
    let base = format!("/apis/penstock/v1/runs/{run_id}/tasks/t/artifacts/report");
    let (s, html) = api.call("GET", &format!("{base}?format=html"), None).await;
    assert_eq!(s, StatusCode::OK);
    let html = html.as_str().unwrap();
    assert!(
        html.contains("<h1>Title</h1>") && html.contains("<em>words</em>"),
        "{html}"
    );
    let (_, raw) = api.call("GET", &base, None).await;
    assert_eq!(raw, json!("# Title\n\nsome *words*\n"));
    let (s, b) = api.call("GET", &format!("{base}?format=pdf"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "format");
}

#[tokio::test]
async fn name_substring_filters_use_the_search_index_and_follow_deletes() {
    let api = api().await;
    let mut ids = Vec::new();
    for name in ["alpha-one", "Beta-two", "gamma 50%_off"] {
        let (_, run) = api
            .call(
                "POST",
                "/apis/v2beta1/runs",
                Some(json!({"display_name": name, "pipeline_spec": trivial()})),
            )
            .await;
        ids.push(run["run_id"].as_str().unwrap().to_string());
    }
    let find = |needle: &str| {
        let filter = json!({"predicates": [{"key": "name", "operation": "IS_SUBSTRING", "string_value": needle}]});
        format!(
            "/apis/v2beta1/runs?sort_by=name&filter={}",
            enc(&filter.to_string())
        )
    };
    let names = |v: &Value| -> Vec<String> {
        v["runs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| r["display_name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Indexed (3+ plain characters, case-insensitive), short, and wildcard-bearing needles.
    assert_eq!(
        names(&api.call("GET", &find("ETA"), None).await.1),
        ["Beta-two"]
    );
    assert_eq!(
        names(&api.call("GET", &find("a-"), None).await.1),
        ["Beta-two", "alpha-one"] // names sort by bytes: upper case first
    );
    assert_eq!(
        names(&api.call("GET", &find("50%_"), None).await.1),
        ["gamma 50%_off"]
    );
    assert_eq!(
        names(&api.call("GET", &find("%"), None).await.1),
        ["gamma 50%_off"]
    );
    for id in &ids {
        api.wait_run(id).await;
    }
    api.call("DELETE", &format!("/apis/v2beta1/runs/{}", ids[1]), None)
        .await;
    assert!(names(&api.call("GET", &find("two"), None).await.1).is_empty());
}

/// Percent-encodes everything but ASCII letters and digits (a query parameter value).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn send(api: &Api, req: Request<Body>) -> (StatusCode, Value) {
    let resp = api.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn bodies_must_be_one_json_value_and_names_are_bounded() {
    let api = api().await;
    let req = Request::post("/apis/v2beta1/experiments")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"display_name": "x"}{"more": 1}"#))
        .unwrap();
    let (s, b) = send(&api, req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "after the JSON body");
    let (s, b) = api
        .call(
            "POST",
            "/apis/v2beta1/experiments",
            Some(json!({"display_name": "n".repeat(300)})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "max_name_chars");
    let (s, b) = api
        .call(
            "POST",
            "/apis/v2beta1/runs",
            Some(json!({"display_name": "r".repeat(300), "pipeline_spec": trivial()})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_status(&b, 3, "run.display_name");
    let (_, runs) = api.call("GET", "/apis/v2beta1/runs", None).await;
    assert_eq!(runs, json!({}), "nothing was created");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let api = api().await;
    // Declared too large: refused before it is read.
    let req = Request::post("/apis/v2beta1/runs")
        .header("content-type", "application/json")
        .header("content-length", "99999999")
        .body(Body::from("{}"))
        .unwrap();
    let (s, b) = send(&api, req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(
        b["message"].as_str().unwrap_or_default().contains("limit"),
        "{b}"
    );
    // Streamed without a length: the upload stops at the limit, with a size error.
    let big = "a".repeat(40 * 1024 * 1024);
    let (s, b) = api
        .multipart("/apis/v2beta1/pipelines/upload?name=big", "big.yaml", &big)
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    let message = b["error_message"].as_str().unwrap_or_default();
    assert!(message.contains("larger than the limit"), "{b}");
}

#[tokio::test]
async fn cross_site_and_foreign_host_requests_are_refused() {
    let api = api().await;
    let body = json!({"display_name": "csrf", "pipeline_spec": trivial()}).to_string();
    let attempt = |headers: &[(&str, &str)]| {
        let mut req = Request::post("/apis/v2beta1/runs")
            .header("host", "127.0.0.1:8888")
            .header("content-length", body.len().to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Body::from(body.clone())).unwrap()
    };
    let (s, b) = send(&api, attempt(&[("content-type", "text/plain")])).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
    let (s, b) = send(
        &api,
        attempt(&[
            ("content-type", "application/json"),
            ("origin", "http://127.0.0.1:9999"),
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_status(&b, 7, "cross-origin");
    let (_, runs) = api.call("GET", "/apis/v2beta1/runs", None).await;
    assert_eq!(runs, json!({}), "no run was created");
    let req = Request::get("/apis/v2beta1/healthz")
        .header("host", "rebound.example:8888")
        .body(Body::empty())
        .unwrap();
    let (s, b) = send(&api, req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_status(&b, 7, "--allowed-host rebound.example");
    // The server's own page may write.
    let (s, b) = send(
        &api,
        attempt(&[
            ("content-type", "application/json"),
            ("origin", "http://127.0.0.1:8888"),
        ]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn a_token_server_refuses_anonymous_callers_but_serves_its_shell() {
    let api = api_with(penstock_server::access::SecurityConfig {
        auth: penstock_server::access::AuthMode::Tokens,
        allowed_hosts: Default::default(),
    })
    .await;
    let (s, b) = api.call("GET", "/apis/v2beta1/experiments", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_status(&b, 16, "existing_token");
    for open in [
        "/",
        "/ui/main.js",
        "/ui/pages/run.js",
        "/pipeline/ui/graph.js",
        "/ui/vendor/dagre.min.js",
        "/apis/v2beta1/healthz",
        "/apis/penstock/v1/openapi.json",
    ] {
        let req = Request::get(open).body(Body::empty()).unwrap();
        let resp = api.router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{open}");
    }
    let (_, health) = api.call("GET", "/apis/v2beta1/healthz", None).await;
    assert_eq!(health["multi_user"], json!(true));
    assert_eq!(health["database"], json!("sqlite"));
}

#[tokio::test]
async fn the_openapi_document_declares_every_path_parameter_and_unique_operation_ids() {
    let api = api().await;
    let (s, doc) = api
        .call("GET", "/apis/penstock/v1/openapi.json", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut ids = std::collections::BTreeSet::new();
    let mut operations = 0;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/apis/v2beta1/runs/{run_id}:terminate"));
    assert!(
        !paths.keys().any(|p| p.contains("_action}")),
        "{:?}",
        paths.keys()
    );
    for (path, item) in paths {
        let names: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|r| r.split('}').next())
            .collect();
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let id = op["operationId"].as_str().unwrap().to_string();
            assert!(ids.insert(id.clone()), "operationId {id} repeated");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in &names {
                assert!(
                    params
                        .iter()
                        .any(|p| p["in"] == "path" && p["name"] == *name),
                    "{method} {path} does not declare path parameter {name}"
                );
            }
        }
    }
    assert!(operations >= 40, "{operations}");
}

/// A component `comp-{i}` whose DAG holds one task using `comp-{i+1}`; the last is a container.
fn nested_spec(depth: usize) -> Value {
    let mut components = serde_json::Map::new();
    for i in 0..depth {
        components.insert(
            format!("comp-{i}"),
            json!({"dag": {"tasks": {"inner": {"componentRef": {"name": format!("comp-{}", i + 1)},
                                               "taskInfo": {"name": "inner"}}}}}),
        );
    }
    components.insert(format!("comp-{depth}"), json!({"executorLabel": "exec-t"}));
    json!({
        "pipelineInfo": {"name": "deep"}, "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-t": {"container": {"image": "alpine", "command": ["true"]}}}},
        "components": components,
        "root": {"dag": {"tasks": {"top": {"componentRef": {"name": "comp-0"}, "taskInfo": {"name": "top"}}}}}
    })
}

#[tokio::test]
async fn hostile_specs_are_refused_fast_with_the_limit_named() {
    let api = api().await;
    let create = |spec: Value| json!({"display_name": "hostile", "pipeline_spec": spec});
    // A component that contains itself, directly and through another.
    let mut selfish = nested_spec(1);
    selfish["components"]["comp-0"]["dag"]["tasks"]["inner"]["componentRef"]["name"] =
        json!("comp-0");
    let mut mutual = nested_spec(2);
    mutual["components"]["comp-1"]["dag"]["tasks"]["inner"]["componentRef"]["name"] =
        json!("comp-0");
    for (spec, needle) in [
        (selfish, "comp-0 -> comp-0"),
        (mutual, "comp-0 -> comp-1 -> comp-0"),
        // 5,000 levels: under the task limit, far over the depth limit.
        (nested_spec(5_000), "max_dag_depth"),
    ] {
        let started = Instant::now();
        let (s, b) = api
            .call("POST", "/apis/v2beta1/runs", Some(create(spec)))
            .await;
        println!("refused in {:?}", started.elapsed());
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_status(&b, 3, needle);
    }
    // A 10,000-task chain is within the default limits: validated and stored, not refused.
    let mut tasks = serde_json::Map::new();
    for i in 0..10_000 {
        let mut t =
            json!({"componentRef": {"name": "comp-t"}, "taskInfo": {"name": format!("t{i}")}});
        if i > 0 {
            t["dependentTasks"] = json!([format!("t{}", i - 1)]);
        }
        tasks.insert(format!("t{i}"), t);
    }
    let mut chain = trivial();
    chain["root"]["dag"]["tasks"] = Value::Object(tasks.clone());
    let started = Instant::now();
    let (s, b) = api
        .call(
            "POST",
            "/apis/v2beta1/pipelines/create",
            Some(json!({"pipeline": {"name": "chain"}, "pipeline_version": {"name": "v1", "pipeline_spec": chain}})),
        )
        .await;
    println!(
        "10,000-task chain validated and stored in {:?}",
        started.elapsed()
    );
    assert_eq!(s, StatusCode::OK, "{b}");
    // One more task is over the limit.
    tasks.insert(
        "extra".into(),
        json!({"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "extra"}}),
    );
    let mut over = trivial();
    over["root"]["dag"]["tasks"] = Value::Object(tasks);
    let (s, b) = api
        .call("POST", "/apis/v2beta1/runs", Some(create(over)))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_status(&b, 3, "max_tasks");
    let (_, runs) = api.call("GET", "/apis/v2beta1/runs", None).await;
    assert_eq!(runs, json!({}), "no run was created");
}

#[tokio::test]
async fn a_run_with_more_tasks_than_one_answer_carries_is_paged() {
    let api = api().await;
    // The loop, 1,001 iterations and their tasks: 2,003 records, over the 2,000 one GET carries.
    let items: Vec<i64> = (0..1_001).collect();
    let mut spec = trivial();
    spec["components"]["comp-loop"] = json!({"dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "t"}}}},
        "inputDefinitions": {"parameters": {"pipelinechannel--loop-item-param-1": {"parameterType": "NUMBER_INTEGER"}}}});
    spec["root"]["dag"]["tasks"] = json!({"for-loop-1": {
        "componentRef": {"name": "comp-loop"}, "taskInfo": {"name": "for-loop-1"},
        "parameterIterator": {"itemInput": "pipelinechannel--loop-item-param-1",
                              "items": {"raw": serde_json::to_string(&items).unwrap()}}}});
    let (s, run) = api
        .call(
            "POST",
            "/apis/v2beta1/runs",
            Some(json!({"display_name": "wide", "pipeline_spec": spec})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let (_, got) = api
            .call("GET", &format!("/apis/v2beta1/runs/{run_id}"), None)
            .await;
        if ["SUCCEEDED", "FAILED"].contains(&got["state"].as_str().unwrap_or("")) {
            break got;
        }
        assert!(Instant::now() < deadline, "the run did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["state"], "SUCCEEDED");
    let shown = done["run_details"]["task_details"]
        .as_array()
        .unwrap()
        .len();
    let truncated = &done["run_details"]["penstock_truncated"];
    let total = truncated["total"].as_u64().unwrap() as usize;
    assert_eq!(shown, 2_000);
    assert_eq!(total, 2_003, "loop, iterations and their tasks");
    assert_eq!(truncated["shown"], json!(2_000));
    // The rest, a page at a time, every task once.
    let mut seen = std::collections::BTreeSet::new();
    let mut token = String::new();
    loop {
        let (s, page) = api
            .call(
                "GET",
                &format!("/apis/penstock/v1/runs/{run_id}/tasks?page_size=1000&page_token={token}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for t in page["task_details"].as_array().unwrap() {
            assert!(seen.insert(t["task_id"].as_str().unwrap().to_string()));
        }
        match page["next_page_token"].as_str() {
            Some(next) => token = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    let (s, b) = api
        .call(
            "GET",
            &format!("/apis/penstock/v1/runs/{run_id}/tasks?page_token=x"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}
