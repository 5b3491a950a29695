//! An object-store pipeline root (`--pipeline-root s3://…`) against a real S3-compatible
//! server: moto's, from `.venv-s3` (`scripts/s3-test-venv`; the interpreter in
//! `PENSTOCK_TEST_MOTO`), started by each test on a free loopback port and stopped after.
//! Without it the tests fail, never skip.

use crate::server::{get, get_text, ServerProcess};
use crate::util::{python, repo_root, start_postgres, state, task, Home};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) const BUCKET: &str = "penstock-e2e";

/// The interpreter of the moto venv, checked once.
fn moto_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python = std::env::var_os("PENSTOCK_TEST_MOTO")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    panic!(
                        "PENSTOCK_TEST_MOTO is not set: run scripts/s3-test-venv and export the \
                         line it prints (scripts/test does)"
                    )
                });
            let out = Command::new(&python)
                .args(["-c", "import moto, boto3, flask"])
                .output()
                .unwrap_or_else(|e| panic!("cannot run {} ({e})", python.display()));
            assert!(
                out.status.success(),
                "{} lacks moto[server] or boto3: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            python
        })
        .clone()
}

/// moto's S3 server on a free loopback port, with one bucket; killed when dropped.
pub struct Moto {
    child: Option<Child>,
    pub endpoint: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(moto_python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto's server");
        let moto = Moto {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.boto(&format!("s3.create_bucket(Bucket='{BUCKET}')"));
        moto
    }

    /// The standard AWS variables pointing at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("PENSTOCK_OBJECT_RETRY_SECS", "3".into()),
        ]
    }

    /// Runs Python with boto3's `s3` client bound to this server; returns stdout.
    pub fn boto(&self, code: &str) -> String {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', \
             aws_secret_access_key='testing', region_name='us-east-1')\n{code}\n",
            self.endpoint
        );
        let out = Command::new(moto_python())
            .args(["-c", &script])
            .output()
            .expect("run boto3");
        assert!(
            out.status.success(),
            "boto3 {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Every key in the bucket.
    pub fn keys(&self) -> Vec<String> {
        self.boto(&format!(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}'):\n    \
             [print(o['Key']) for o in page.get('Contents', [])]"
        ))
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// The content of one object.
    pub fn read(&self, key: &str) -> String {
        self.boto(&format!(
            "import sys; sys.stdout.write(s3.get_object(Bucket='{BUCKET}', Key='{key}')['Body'].read().decode())"
        ))
    }

    /// Stops the server (an outage).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

const PIPELINE: &str = r##"
import sys
from kfp import compiler, dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Output


@dsl.component
def produce(text: str, data: Output[Dataset], folder: Output[Artifact], report: Output[Markdown]):
    import os
    with open(data.path, "w") as f:
        f.write(text)
    data.metadata["chars"] = len(text)
    for name in ("a.txt", "sub/b.txt"):
        path = os.path.join(folder.path, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(name.upper())
    with open(report.path, "w") as f:
        f.write("# Report\n\n" + text)


@dsl.component
def consume(data: Input[Dataset], folder: Input[Artifact]) -> str:
    import os
    body = open(data.path).read()
    a = open(os.path.join(folder.path, "a.txt")).read()
    b = open(os.path.join(folder.path, "sub", "b.txt")).read()
    return f"{body}|{a}|{b}|{data.metadata['chars']}"


@dsl.pipeline(name="s3-passing")
def s3_passing(text: str = "hello s3"):
    made = produce(text=text)
    consume(data=made.outputs["data"], folder=made.outputs["folder"])


@dsl.component
def first(out: Output[Dataset]):
    with open(out.path, "w") as f:
        f.write("kept")


@dsl.component
def slow(marker: str, data: Input[Dataset], out: Output[Dataset]):
    import time
    open(marker, "w").write("started")
    time.sleep(4)
    with open(out.path, "w") as f:
        f.write(open(data.path).read() + " and more")


@dsl.pipeline(name="s3-outage")
def s3_outage(marker: str):
    slow(marker=marker, data=first().outputs["out"])


@dsl.component
def read_it(data: Input[Dataset]) -> str:
    return open(data.path).read()


@dsl.component
def read_each(item: str, data: Input[Dataset], folder: Input[Artifact]) -> str:
    import os, time
    first = open(data.path).read()
    time.sleep(1)
    body = open(data.path).read()
    a = open(os.path.join(folder.path, "a.txt")).read()
    b = open(os.path.join(folder.path, "sub", "b.txt")).read()
    return f"{item}:{first}/{body}|{a}|{b}"


@dsl.pipeline(name="s3-fan-out")
def s3_fan_out(text: str = "hello s3"):
    made = produce(text=text)
    with dsl.ParallelFor(["a", "b", "c", "d", "e", "f"]) as item:
        read_each(item=item, data=made.outputs["data"], folder=made.outputs["folder"])


@dsl.pipeline(name="s3-import")
def s3_import(uri: str):
    read_it(data=dsl.importer(artifact_uri=uri, artifact_class=Dataset).output)


if __name__ == "__main__":
    compiler.Compiler().compile(s3_import, sys.argv[1] + "/s3_import.yaml")
    compiler.Compiler().compile(s3_passing, sys.argv[1] + "/s3_passing.yaml")
    compiler.Compiler().compile(s3_outage, sys.argv[1] + "/s3_outage.yaml")
    compiler.Compiler().compile(s3_fan_out, sys.argv[1] + "/s3_fan_out.yaml")
"##;

/// Compiles the two pipelines above into `dir` with the real SDK.
fn compile(dir: &Path) -> (PathBuf, PathBuf) {
    let source = dir.join("s3_pipelines.py");
    std::fs::write(&source, PIPELINE).expect("write the pipeline source");
    let out = Command::new(python())
        .arg(&source)
        .arg(dir)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run the SDK compiler");
    assert!(
        out.status.success(),
        "compiling: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("s3_passing.yaml"), dir.join("s3_outage.yaml"))
}

/// `penstock ARGS` in `home` with the AWS variables of `moto`.
fn penstock(home: &Home, moto: &Moto, args: &[&str]) -> Output {
    penstock_with(home, moto, args, &[])
}

/// `penstock ARGS` in `home` with the AWS variables of `moto` and `envs`.
fn penstock_with(home: &Home, moto: &Moto, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args(args)
        .env("PENSTOCK_HOME", home.path())
        .env(
            "PENSTOCK_VENVS",
            repo_root().join("target/penstock-test-venvs"),
        )
        .envs(moto.env())
        .envs(envs.iter().copied())
        .output()
        .expect("run penstock")
}

fn run_json(home: &Home, moto: &Moto, file: &Path, extra: &[&str]) -> (i32, Value, String) {
    run_json_with(home, moto, file, extra, &[])
}

fn run_json_with(
    home: &Home,
    moto: &Moto,
    file: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> (i32, Value, String) {
    let mut args = vec!["run", file.to_str().expect("utf-8 path"), "-o", "json"];
    args.extend_from_slice(extra);
    let out = penstock_with(home, moto, &args, envs);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The recorded URI of output artifact `name` of task `path`.
fn output_uri(run: &Value, path: &str, name: &str) -> String {
    let outputs = &task(run, path)["penstock"]["outputs"]["artifacts"][name];
    let first = outputs.get(0).unwrap_or(outputs);
    first["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("no uri for {path}.{name} in {outputs}"))
        .to_string()
}

fn key_of(uri: &str) -> &str {
    uri.strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap_or_else(|| panic!("{uri} is not in s3://{BUCKET}/"))
}

/// Artifacts pass between tasks through the bucket under the local launcher; the recorded
/// URIs are `s3://` ones and the objects (files, a folder's files, the logs) are in the
/// bucket; a cache hit re-checks that the objects still exist.
#[test]
fn artifacts_pass_through_s3_and_the_cache_rechecks_them() {
    let moto = Moto::start();
    let home = Home::new();
    let (passing, _) = compile(home.path());
    let root = format!("s3://{BUCKET}/root");
    let (code, run, stderr) = run_json(&home, &moto, &passing, &["--pipeline-root", &root]);
    assert_eq!(code, 0, "{stderr}\n{run}");
    assert_eq!(
        task(&run, "consume")["penstock"]["outputs"]["parameters"]["Output"],
        "hello s3|A.TXT|SUB/B.TXT|8",
        "{run}"
    );
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let data = output_uri(&run, "produce", "data");
    let folder = output_uri(&run, "produce", "folder");
    assert!(data.starts_with(&format!("{root}/{run_id}/")), "{data}");
    let keys = moto.keys();
    for key in [
        key_of(&data).to_string(),
        format!("{}/a.txt", key_of(&folder)),
        format!("{}/sub/b.txt", key_of(&folder)),
        format!("root/{run_id}/logs/produce.log"),
        format!("root/{run_id}/logs/consume.log"),
    ] {
        assert!(keys.contains(&key), "{key} not in the bucket: {keys:?}");
    }
    assert_eq!(moto.read(key_of(&data)), "hello s3");
    // The log is read back from the bucket.
    let logs = penstock(&home, &moto, &["logs", &run_id, "consume"]);
    assert!(
        logs.status.success() && String::from_utf8_lossy(&logs.stdout).contains("attempt 1"),
        "{logs:?}"
    );

    // Same inputs: both tasks are cached, their objects being there.
    let (code, again, stderr) = run_json(&home, &moto, &passing, &["--pipeline-root", &root]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(state(&again, "produce"), "CACHED", "{again}");
    assert_eq!(output_uri(&again, "produce", "data"), data);

    // The cached data is deleted from the bucket: the producer runs again.
    moto.boto(&format!(
        "s3.delete_object(Bucket='{BUCKET}', Key='{}')",
        key_of(&data)
    ));
    let (code, third, stderr) = run_json(&home, &moto, &passing, &["--pipeline-root", &root]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(state(&third, "produce"), "SUCCEEDED", "{third}");
    let reason = task(&third, "produce")["penstock"]["cache"]["reason"].to_string();
    assert!(reason.contains("no longer exists"), "{reason}");
    let fresh = output_uri(&third, "produce", "data");
    assert_ne!(fresh, data);
    assert_eq!(moto.read(key_of(&fresh)), "hello s3");
}

/// A ParallelFor whose iterations all consume one `s3://` file and one folder artifact: each
/// iteration fetches its own copy (none replaces or deletes another's while it reads), and the
/// producer's objects are under its attempt's key.
#[test]
fn parallel_consumers_of_one_s3_artifact_each_read_their_own_copy() {
    let moto = Moto::start();
    let home = Home::new();
    compile(home.path());
    let fan_out = home.path().join("s3_fan_out.yaml");
    let root = format!("s3://{BUCKET}/fan");
    let (code, run, stderr) = run_json(&home, &moto, &fan_out, &["--pipeline-root", &root]);
    assert_eq!(code, 0, "{stderr}\n{run}");
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let data = output_uri(&run, "produce", "data");
    assert_eq!(data, format!("{root}/{run_id}/produce/attempt-1/data"));
    assert_eq!(moto.read(key_of(&data)), "hello s3");
    let tasks = run["run_details"]["task_details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut seen = Vec::new();
    for t in &tasks {
        let path = t["penstock"]["path"].as_str().unwrap_or_default();
        if !path.ends_with("/read-each") {
            continue;
        }
        assert_eq!(t["penstock"]["state"], "SUCCEEDED", "{path}: {t}");
        let out = t["penstock"]["outputs"]["parameters"]["Output"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (item, rest) = out.split_once(':').unwrap_or(("", ""));
        assert_eq!(rest, "hello s3/hello s3|A.TXT|SUB/B.TXT", "{path}: {out}");
        seen.push(item.to_string());
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c", "d", "e", "f"], "{run}");
    // The copies were the attempts' own and are gone with them.
    let inputs = home.path().join("runs").join(&run_id).join("inputs");
    let left: Vec<_> = walk(&inputs);
    assert!(left.is_empty(), "input copies left behind: {left:?}");
}

/// The files under `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Importers of `s3://` and `http://` URIs (the same object, read through moto's S3 and plain
/// HTTP) feed a task with the local default root. moto listens on loopback, which http(s)
/// imports may reach only with `PENSTOCK_ALLOW_PRIVATE_HTTP=1`; without it the import is
/// refused with the URI and the reason.
#[test]
fn importers_fetch_s3_and_http_uris() {
    let moto = Moto::start();
    let home = Home::new();
    compile(home.path());
    let import = home.path().join("s3_import.yaml");
    moto.boto(&format!(
        "s3.put_object(Bucket='{BUCKET}', Key='imported/data.txt', Body=b'imported!', ACL='public-read')"
    ));
    for uri in [
        format!("s3://{BUCKET}/imported/data.txt"),
        format!("{}/{BUCKET}/imported/data.txt", moto.endpoint),
    ] {
        let param = format!("uri={uri}");
        let (code, run, stderr) = run_json_with(
            &home,
            &moto,
            &import,
            &["-p", &param],
            &[("PENSTOCK_ALLOW_PRIVATE_HTTP", "1")],
        );
        assert_eq!(code, 0, "{uri}: {stderr}\n{run}");
        assert_eq!(
            task(&run, "read-it")["penstock"]["outputs"]["parameters"]["Output"],
            "imported!",
            "{run}"
        );
        // The consumer's recorded input is the imported URI, not the local copy.
        let input = &task(&run, "read-it")["penstock"]["inputs"]["artifacts"]["data"];
        assert!(input.to_string().contains(&uri), "{input}");
    }
    // By name (resolved to loopback) and not cached: a URI no earlier run used.
    let uri = format!(
        "{}/{BUCKET}/imported/data.txt",
        moto.endpoint.replace("127.0.0.1", "localhost")
    );
    let param = format!("uri={uri}");
    let (code, run, stderr) = run_json(&home, &moto, &import, &["-p", &param]);
    assert_ne!(code, 0, "{stderr}\n{run}");
    assert_eq!(state(&run, "read-it"), "FAILED", "{run}");
    let error = run.to_string();
    assert!(
        error.contains(&uri)
            && error.contains("loopback")
            && error.contains("PENSTOCK_ALLOW_PRIVATE_HTTP"),
        "{error}"
    );
}

/// The object store goes away while a task runs: that task fails with a message naming the
/// URI, and what was recorded before (the first task and its object) is kept.
#[test]
fn an_outage_mid_task_fails_that_task_and_loses_nothing_recorded() {
    let mut moto = Moto::start();
    let home = Home::new();
    let (_, outage) = compile(home.path());
    let marker = home.path().join("slow-started");
    let root = format!("s3://{BUCKET}/outage");
    let child = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args(["run", outage.to_str().expect("utf-8"), "-o", "json"])
        .args(["--pipeline-root", &root, "-p"])
        .arg(format!("marker={}", marker.display()))
        .env("PENSTOCK_HOME", home.path())
        .env(
            "PENSTOCK_VENVS",
            repo_root().join("target/penstock-test-venvs"),
        )
        .envs(moto.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start penstock run");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the slow task never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    moto.kill();
    let started = Instant::now();
    let out = child.wait_with_output().expect("penstock run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no run JSON; stderr: {stderr}"));
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{run}");
    assert_eq!(run["state"], "FAILED", "{run}");
    assert_eq!(state(&run, "first"), "SUCCEEDED", "{run}");
    let kept = output_uri(&run, "first", "out");
    assert!(kept.starts_with(&format!("{root}/")), "{kept}");
    assert_eq!(state(&run, "slow"), "FAILED", "{run}");
    let error = task(&run, "slow")["error"].to_string();
    let planned = format!(
        "{root}/{}/slow/attempt-1/out",
        run["run_id"].as_str().unwrap_or("")
    );
    assert!(
        error.contains("uploading") && error.contains(&planned),
        "the error names the upload and {planned}: {error}"
    );
    // Bounded: retries for a few seconds (PENSTOCK_OBJECT_RETRY_SECS=3), not forever.
    assert!(started.elapsed() < Duration::from_secs(60));
    // The record in the store says the same after the process is gone.
    let runs = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args([
            "runs",
            "get",
            run["run_id"].as_str().unwrap_or(""),
            "-o",
            "json",
        ])
        .env("PENSTOCK_HOME", home.path())
        .output()
        .expect("runs get");
    let stored: Value = serde_json::from_slice(&runs.stdout).unwrap_or(Value::Null);
    assert_eq!(state(&stored, "first"), "SUCCEEDED", "{stored}");
    assert_eq!(output_uri(&stored, "first", "out"), kept);
    assert_eq!(state(&stored, "slow"), "FAILED", "{stored}");
}

/// A server with `--pipeline-root s3://…`: runs created through the API write to the bucket,
/// and the artifact and log endpoints read them back from it.
fn start_server(home: &Path, moto: &Moto, flags: &[&str]) -> ServerProcess {
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ServerProcess::start_with_env(home, flags, &env)
}

#[test]
fn the_server_serves_artifacts_and_logs_from_the_bucket() {
    let moto = Moto::start();
    let home = Home::new();
    let (passing, _) = compile(home.path());
    let root = format!("s3://{BUCKET}/served");
    let server = start_server(home.path(), &moto, &["--pipeline-root", &root]);
    let spec: Value = spec_json(&passing);
    let run = crate::server::post(
        &format!("{}/apis/v2beta1/runs", server.url),
        &serde_json::json!({"display_name": "s3", "pipeline_spec": spec}),
    );
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let got = get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
        if matches!(got["state"].as_str(), Some("SUCCEEDED" | "FAILED")) {
            break got;
        }
        assert!(Instant::now() < deadline, "the run did not finish: {got}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    let base = format!(
        "{}/apis/penstock/v1/runs/{run_id}/tasks/produce",
        server.url
    );
    assert_eq!(get_text(&format!("{base}/artifacts/data")), "hello s3");
    let listing = get(&format!("{base}/artifacts/folder"));
    assert!(
        listing["uri"].as_str().unwrap_or("").starts_with(&root),
        "{listing}"
    );
    assert_eq!(
        listing["files"],
        serde_json::json!(["a.txt", "sub/b.txt"]),
        "{listing}"
    );
    assert_eq!(
        get_text(&format!("{base}/artifacts/folder?file=sub/b.txt")),
        "SUB/B.TXT"
    );
    let html = get_text(&format!("{base}/artifacts/report?format=html"));
    assert!(html.contains("<h1>Report</h1>"), "{html}");
    let log = get_text(&format!("{base}/logs"));
    assert!(log.contains("attempt 1"), "{log}");
    let keys = moto.keys();
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("served/{run_id}/"))),
        "{keys:?}"
    );
}

/// The pipeline spec of a compiled YAML file, as JSON (through the SDK's Python).
fn spec_json(file: &Path) -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(file)
        .output()
        .expect("python");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The kfp.Client suite against a server on PostgreSQL whose pipeline root is in S3.
#[test]
fn kfp_client_drives_the_whole_api_on_postgres_and_s3() {
    let moto = Moto::start();
    let postgres = start_postgres();
    let database = postgres.url("postgres");
    let home = tempfile::tempdir().expect("temp dir");
    let token = crate::server::create_token_in_database(home.path(), &database);
    let root = format!("s3://{BUCKET}/suite");
    let server = start_server(
        home.path(),
        &moto,
        &[
            "--auth",
            "tokens",
            "--database",
            &database,
            "--pipeline-root",
            &root,
        ],
    );
    let status = crate::server::kfp_client_suite(&server, &token);
    assert!(
        status.success(),
        "the kfp.Client tests failed on PostgreSQL + S3 (output above)"
    );
    let keys = moto.keys();
    assert!(
        keys.iter().any(|k| k.starts_with("suite/")),
        "the suite's runs wrote nothing to the bucket: {keys:?}"
    );
    assert!(!home.path().join("penstock.db").exists());
    drop(server);
}

const DOCKER_PASSING: &str = r#"
@dsl.container_component
def produce(text: str, data: dsl.Output[dsl.Dataset], folder: dsl.Output[dsl.Artifact]):
    return dsl.ContainerSpec(image="penstock-test/busybox:1",
        command=["sh", "-c", 'printf "%s" "$0" > "$1" && mkdir -p "$2/sub" && echo A > "$2/a.txt" && echo B > "$2/sub/b.txt"'],
        args=[text, data.path, folder.path])

@dsl.container_component
def consume(data: dsl.Input[dsl.Dataset], folder: dsl.Input[dsl.Artifact], out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="penstock-test/busybox:1",
        command=["sh", "-c", 'echo "$(cat "$0")+$(cat "$1/a.txt")+$(cat "$1/sub/b.txt")" > "$2"'],
        args=[data.path, folder.path, out])

@dsl.pipeline(name="docker-s3")
def main(text: str = "hello"):
    made = produce(text=text)
    consume(data=made.outputs["data"], folder=made.outputs["folder"])
"#;

/// The same staging around the Docker launcher (`scripts/test-docker-env up`): the containers
/// read and write the staged files, the bucket gets the objects.
#[test]
fn artifacts_pass_through_s3_under_the_docker_launcher() {
    let moto = Moto::start();
    let home = Home::new();
    let file = crate::semantics::compile_source(home.path(), "docker_s3", DOCKER_PASSING);
    let root = format!("s3://{BUCKET}/docker");
    let (code, run, stderr) = run_json(
        &home,
        &moto,
        &file,
        &["--launcher", "docker", "--pipeline-root", &root],
    );
    assert_eq!(code, 0, "{stderr}\n{run}");
    assert_eq!(
        task(&run, "consume")["penstock"]["outputs"]["parameters"]["out"],
        "hello+A+B\n",
        "{run}"
    );
    let data = output_uri(&run, "produce", "data");
    let folder = output_uri(&run, "produce", "folder");
    assert!(data.starts_with(&format!("{root}/")), "{data}");
    assert_eq!(moto.read(key_of(&data)), "hello");
    let keys = moto.keys();
    assert!(
        keys.contains(&format!("{}/sub/b.txt", key_of(&folder))),
        "{keys:?}"
    );
}

/// KFP v1 viewers with an `s3://` pipeline root: the step's `mlpipeline-ui-metadata` is an
/// artifact of the run in the bucket, read back through the object store by the viewer
/// endpoint (it used to be refused as "not stored by Penstock").
#[test]
fn v1_viewers_are_read_from_the_bucket() {
    let moto = Moto::start();
    let home = Home::new();
    let yaml = home.path().join("v1_viewers.yaml");
    let compiled = Command::new(crate::util::python_v1())
        .arg(repo_root().join("tests/e2e/ui/v1_viewers.py"))
        .arg(&yaml)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run the kfp 1.8 compiler");
    assert!(
        compiled.status.success(),
        "compiling v1_viewers.py: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let root = format!("s3://{BUCKET}/viewers");
    let (code, run, stderr) = run_json(&home, &moto, &yaml, &["--pipeline-root", &root]);
    assert_eq!(code, 0, "{stderr}\n{run}");
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let step = run["run_details"]["task_details"]
        .as_array()
        .and_then(|tasks| {
            tasks.iter().find(|t| {
                t["penstock"]["outputs"]["artifacts"]
                    .get("mlpipeline-ui-metadata")
                    .is_some()
            })
        })
        .unwrap_or_else(|| panic!("no task with mlpipeline-ui-metadata in {run}"));
    let uri = step["penstock"]["outputs"]["artifacts"]["mlpipeline-ui-metadata"][0]["uri"]
        .as_str()
        .unwrap_or_default();
    assert!(uri.starts_with(&format!("{root}/")), "{uri}");
    let task_id = step["penstock"]["task_id"]
        .as_str()
        .or_else(|| step["task_id"].as_str())
        .unwrap_or_else(|| panic!("no task id in {step}"));
    let server = start_server(home.path(), &moto, &[]);
    let shown = get(&format!(
        "{}/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/visualizations",
        server.url
    ));
    let kinds: Vec<&str> = shown["visualizations"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x["type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        kinds,
        [
            "markdown",
            "table",
            "confusion_matrix",
            "roc",
            "web-app",
            "tensorboard"
        ],
        "{shown}"
    );
}
