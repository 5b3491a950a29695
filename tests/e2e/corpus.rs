//! The shared conformance corpus (`../shared/conformance`): 90 specs compiled by the KFP SDK,
//! each run with the outcome its MANIFEST expects, and 6 invalid files refused.

use crate::util::{shared_dir, Home};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What we expect of a file whose MANIFEST outcome cannot hold on one machine, and why.
enum Local {
    /// Runs and must end FAILED with an error containing this text.
    FailsWith(&'static str),
    /// Refused before running (exit 2) with a message containing this text.
    Refused(&'static str),
    /// Not executed by this test, for the reason given (printed, never silent).
    NotRun(&'static str),
}

/// Files whose Kubeflow outcome depends on something a single machine does not have.
fn local_expectation(path: &str) -> Option<Local> {
    Some(match path {
        // The program lives only inside the component's container image.
        "container_io.yaml" | "container_with_if_placeholder.yaml" => {
            Local::FailsWith("cannot start `my_program`")
        }
        "container_with_artifact_output.yaml" => Local::FailsWith("`sh` exited with code"),
        "containerized_python_component.yaml" => Local::FailsWith("`python3` exited with code"),
        // Reads a model packaged as an OCI image (KServe modelcar), mounted only on Kubernetes.
        "critical/modelcar.yaml" => Local::FailsWith("exited with code"),
        // Uses `[[ ]]`, which busybox's sh (its image) has and the host's POSIX sh may not.
        "pipeline_with_concat_placeholder.yaml" => Local::FailsWith("`sh` exited with code"),
        // A Vertex AI custom training job (google-cloud-pipeline-components): Google Cloud only.
        "pipeline_with_condition_dynamic_task_output_custom_training_job.yaml" => {
            Local::FailsWith("custom-training-job")
        }
        // Reads its artifact back from Kubeflow's own MinIO object store.
        "upload_download_compiled.yaml" => Local::FailsWith("test-uploaded-artifact"),
        // Fails on purpose so that its exit handler reports the failure.
        "pipeline_with_task_final_status.yaml" => Local::FailsWith("fail-op"),
        // Declare required pipeline-level input artifacts, which no run can supply.
        "component_with_metadata_fields.yaml" => {
            Local::Refused("requires the input artifact 'dataset_a'")
        }
        "pipeline_with_various_io_types.yaml" => {
            Local::Refused("requires the input artifact 'input3'")
        }
        // A task that always fails; its ignore_upstream_failure() consumer must still run.
        "local_execution/local_execution_pipeline_with_ignore_upstream_failure.yaml" => {
            Local::FailsWith("fail-always")
        }
        // Downloads a dataset from Hugging Face at run time: needs the internet.
        "critical/pipeline_with_artifact_upload_download.yaml" => {
            Local::NotRun("downloads a Hugging Face dataset at run time (internet access)")
        }
        // Starts a Ray cluster through codeflare-sdk on Kubernetes.
        "integration/ray_integration_compiled.yaml" => {
            Local::NotRun("needs a Ray cluster on Kubernetes (codeflare-sdk)")
        }
        _ => return None,
    })
}

pub(crate) struct Row {
    pub(crate) path: String,
    expected: String,
    needs: String,
    pub(crate) required: String,
}

pub(crate) fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(shared_dir().join("conformance/MANIFEST.tsv"))
        .expect("MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Row {
                path: cols[0].to_string(),
                expected: cols[1].to_string(),
                needs: cols[2].to_string(),
                required: cols[3].to_string(),
            }
        })
        .collect()
}

/// A value of the declared type for each required parameter.
pub(crate) fn required_args(required: &str) -> Vec<String> {
    if required == "-" {
        return Vec::new();
    }
    let mut args = Vec::new();
    for item in required.split(',') {
        let (name, ty) = item.split_once(':').unwrap_or((item, "STRING"));
        let value = match ty {
            "NUMBER_INTEGER" => "3",
            "NUMBER_DOUBLE" => "0.5",
            "BOOLEAN" => "true",
            "LIST" => "[1, 2]",
            "STRUCT" => "{\"a\": 1}",
            _ => "hello",
        };
        args.push("-p".to_string());
        args.push(format!("{name}={value}"));
    }
    args
}

pub(crate) fn run_with_timeout(
    home: &Home,
    file: &Path,
    args: &[String],
    limit: Duration,
) -> (i32, Value, String) {
    let venvs = crate::util::repo_root().join("target/penstock-test-venvs");
    let stdout = home.path().join("stdout.json");
    let stderr = home.path().join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .arg("run")
        .arg(file)
        .args(["-o", "json"])
        .args(args)
        .env("PENSTOCK_HOME", home.path())
        .env("PENSTOCK_VENVS", venvs)
        .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
        .spawn()
        .expect("run penstock");
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = child.wait();
            break -2;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let json = serde_json::from_str(std::fs::read_to_string(&stdout).unwrap_or_default().trim())
        .unwrap_or(Value::Null);
    if matches!(
        json["state"].as_str(),
        Some("SUCCEEDED" | "FAILED" | "CANCELED")
    ) {
        crate::semantics::assert_no_unfinished_tasks(&json);
    }
    (
        code,
        json,
        std::fs::read_to_string(&stderr).unwrap_or_default(),
    )
}

pub(crate) fn all_errors(run: &Value) -> String {
    let mut text = run["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for t in run["run_details"]["task_details"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(m) = t["error"]["message"].as_str() {
            text.push('\n');
            text.push_str(m);
        }
    }
    text
}

#[test]
fn conformance_corpus_runs_with_the_expected_outcomes() {
    let valid = shared_dir().join("conformance/valid");
    let mut failures = Vec::new();
    let mut ran = 0;
    for row in manifest() {
        let file = valid.join(&row.path);
        let expectation = local_expectation(&row.path);
        if let Some(Local::NotRun(why)) = &expectation {
            eprintln!("corpus: {} not executed here: {why}", row.path);
            continue;
        }
        let home = Home::new();
        let mut args = required_args(&row.required);
        if row.path.starts_with("take_nap") {
            // Sleeps 15 minutes by default; a nap of one second shows the same behaviour.
            args.extend(["-p".to_string(), "naptime_secs=1".to_string()]);
        }
        let (code, run, stderr) = run_with_timeout(&home, &file, &args, Duration::from_secs(300));
        ran += 1;
        let state = run["state"].as_str().unwrap_or("(none)").to_string();
        let errors = all_errors(&run);
        eprintln!(
            "corpus: {:<70} expected {:<11} got {state} (exit {code})",
            row.path, row.expected
        );
        let problem = match expectation {
            Some(Local::FailsWith(text)) => (!(code == 1 && state == "FAILED" && errors.contains(text)))
                .then(|| format!("expected FAILED mentioning {text:?}; got {state}, exit {code}: {errors} {stderr}")),
            Some(Local::Refused(text)) => (!(code == 2 && stderr.contains(text) && stderr.contains(&row.path)))
                .then(|| format!("expected refusal mentioning {text:?}; got exit {code}: {stderr}")),
            Some(Local::NotRun(_)) => None,
            None if row.needs != "-" => {
                // Needs something beyond one machine: it may succeed where the need is optional,
                // otherwise it must fail with an error, never crash or hang.
                (!((code == 0 && state == "SUCCEEDED") || (code == 1 && state == "FAILED" && !errors.is_empty())))
                    .then(|| format!("needs {}: expected a clean SUCCEEDED or FAILED with a message; got {state}, exit {code}: {stderr}", row.needs))
            }
            None => {
                let want = row.expected.trim_end_matches('?');
                let want_code = if want == "SUCCEEDED" { 0 } else { 1 };
                (!(state == want && code == want_code)).then(|| format!("expected {want}; got {state}, exit {code}: {errors} {stderr}"))
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", row.path));
        }
    }
    assert!(ran >= 80, "only {ran} corpus files ran");
    assert!(
        failures.is_empty(),
        "{} corpus files misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ignore_upstream_failure_still_runs_the_consumer() {
    let home = Home::new();
    let file = shared_dir().join("conformance/valid/local_execution/local_execution_pipeline_with_ignore_upstream_failure.yaml");
    let marker = home.path().join("marker.txt");
    let args = vec![
        "-p".to_string(),
        format!("marker_path={}", marker.display()),
    ];
    let (code, run, err) = run_with_timeout(&home, &file, &args, Duration::from_secs(120));
    assert_eq!(code, 1, "{err}");
    assert!(marker.exists(), "the consumer did not write its marker");
    let tasks = run["run_details"]["task_details"].as_array().unwrap();
    let consumer = tasks
        .iter()
        .find(|t| t["penstock"]["path"] == "write-marker")
        .expect("write-marker task");
    assert_eq!(consumer["penstock"]["state"], "SUCCEEDED");
}
