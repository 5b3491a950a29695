//! The Docker launcher (`--launcher docker`) against a real daemon and locally built images
//! (`scripts/test-docker-env up` starts the daemon, builds `penstock-test/busybox:1`,
//! `penstock-test/python:3.11` and `penstock-test/python-kfp:3.11`, and exports DOCKER_HOST).
//! Each test also checks that no container of its runs is left behind.

use crate::semantics::compile_source as compile;
use crate::util::{output_param, state, task, Home};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BUSYBOX: &str = "penstock-test/busybox:1";

/// The `docker` CLI against the test daemon; fails loudly when there is none (the Docker tests
/// never skip).
fn docker(args: &[&str]) -> String {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let out = Command::new("docker")
            .args(["image", "inspect", BUSYBOX, "--format", "{{.Id}}"])
            .output()
            .unwrap_or_else(|e| panic!("the docker CLI cannot run ({e}): run `eval \"$(scripts/test-docker-env up)\"` first"));
        assert!(
            out.status.success(),
            "no Docker daemon with the test images at DOCKER_HOST={:?}: run `eval \"$(scripts/test-docker-env up)\"` first ({})",
            std::env::var("DOCKER_HOST").unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let out = Command::new("docker").args(args).output().expect("docker");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The containers (running or not) labelled with run `run_id`.
fn containers_of(run_id: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.penstock.run-id={run_id}"),
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn run_id(run: &Value) -> String {
    run["run_id"].as_str().expect("run id").to_string()
}

fn log_of(home: &Home, run: &Value, task: &str) -> String {
    let out = home.penstock(&["logs", &run_id(run), task]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

const CROSSING: &str = r#"
@dsl.container_component
def only_in_image(text: str, out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="penstock-test/busybox:1",
        command=["sh", "-c", 'penstock-only-in-image "$0" > "$1" && echo "cwd=$(pwd) user=$(id -u) greeting=$GREETING"'],
        args=[text, out])

@dsl.component(base_image="penstock-test/python-kfp:3.11")
def in_python(msg: str, data: dsl.Output[dsl.Dataset], model: dsl.Output[dsl.Model]) -> str:
    import os, sys
    with open(data.path, "w") as f:
        f.write(msg.strip().upper())
    # KFP >= 2.15: an artifact written where the component chose, inside its container.
    folder = "/opt/saved-model"
    os.makedirs(os.path.join(folder, "weights"))
    with open(os.path.join(folder, "weights", "w0"), "w") as f:
        f.write("0.25")
    model.set_path(folder)
    return f"python {sys.version_info.major}.{sys.version_info.minor}: {msg.strip()}"

@dsl.container_component
def read_back(data: dsl.Input[dsl.Dataset], model: dsl.Input[dsl.Model], out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="penstock-test/busybox:1",
        command=["sh", "-c", 'echo "$(cat "$0")+$(cat "$1/weights/w0")" > "$2"'],
        args=[data.path, model.path, out])

@dsl.pipeline(name="docker-crossing")
def main(text: str = "hello"):
    a = only_in_image(text=text)
    a.set_env_variable("GREETING", "hi from the spec")
    b = in_python(msg=a.output)
    read_back(data=b.outputs["data"], model=b.outputs["model"])
"#;

#[test]
fn parameters_and_artifacts_cross_containers_of_different_images() {
    let home = Home::new();
    let file = compile(home.path(), "crossing", CROSSING);
    let (code, run, err) = home.run(&file, &["--launcher", "docker"]);
    assert_eq!(code, 0, "{err}\n{run}");
    // A program that exists only in its image ran, with the image's working directory and
    // user and the spec's environment.
    assert_eq!(
        output_param(&run, "only-in-image", "out"),
        "only-in-image: hello\n"
    );
    let log = log_of(&home, &run, "only-in-image");
    assert!(
        log.contains("cwd=/ user=0 greeting=hi from the spec"),
        "{log}"
    );
    assert_eq!(
        output_param(&run, "in-python", "Output"),
        "python 3.11: only-in-image: hello"
    );
    assert_eq!(
        output_param(&run, "read-back", "out"),
        "ONLY-IN-IMAGE: HELLO+0.25\n"
    );
    // The set_path folder was copied out of the container to the artifact's place.
    let model = &task(&run, "in-python")["penstock"]["outputs"]["artifacts"]["model"][0];
    let uri = model["uri"].as_str().unwrap_or_default();
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(uri).join("weights/w0")).unwrap_or_default(),
        "0.25"
    );
    assert!(containers_of(&run_id(&run)).is_empty());

    // The same pipeline on the host (not served from the cache) fails: the program is only in
    // the image.
    let (code, run, _) = home.run(&file, &["--no-cache"]);
    assert_ne!(code, 0);
    assert_eq!(state(&run, "only-in-image"), "FAILED");

    // The second run of the lightweight step reuses the prepared image: no pip install.
    let (code, run, err) = home.run(&file, &["--launcher", "docker", "-p", "text=again"]);
    assert_eq!(code, 0, "{err}");
    let log = log_of(&home, &run, "in-python");
    assert!(log.contains("using penstock-prepared:"), "{log}");
    assert!(!log.contains("preparing penstock-prepared"), "{log}");
}

#[test]
fn parallel_tasks_writing_the_same_absolute_path_each_read_back_their_own() {
    let home = Home::new();
    let marker = format!("/tmp/penstock-docker-test-{}", std::process::id());
    let source = format!(
        r#"
@dsl.container_component
def same_path(item: str, out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="penstock-test/busybox:1",
        command=["sh", "-c", 'echo "$0" > {marker}; echo "$0" > /mlpipeline-metrics.json; sleep 1; echo "$(cat {marker}),$(cat /mlpipeline-metrics.json)" > "$1"'],
        args=[item, out])

@dsl.pipeline(name="same-path")
def main():
    with dsl.ParallelFor(["a", "b", "c", "d"]) as item:
        same_path(item=item)
"#
    );
    let file = compile(home.path(), "same_path", &source);
    let (code, run, err) = home.run(&file, &["--launcher", "docker"]);
    assert_eq!(code, 0, "{err}");
    let tasks = run["run_details"]["task_details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut seen = Vec::new();
    for t in &tasks {
        let path = t["penstock"]["path"].as_str().unwrap_or_default();
        if path.ends_with("/same-path") {
            let out = t["penstock"]["outputs"]["parameters"]["out"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_string();
            let (a, b) = out.split_once(',').unwrap_or_default();
            assert_eq!(a, b, "{path}: {out}");
            seen.push(a.to_string());
        }
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c", "d"]);
    // Nothing the tasks wrote outside their outputs reached the host.
    assert!(!std::path::Path::new(&marker).exists());
    assert!(containers_of(&run_id(&run)).is_empty());
}

#[test]
fn a_missing_image_fails_the_task_with_its_name_and_the_reason() {
    let home = Home::new();
    let file = compile(
        home.path(),
        "missing",
        r#"
@dsl.container_component
def nowhere():
    return dsl.ContainerSpec(image="penstock-test/no-such-image:7", command=["true"])

@dsl.pipeline(name="missing-image")
def main():
    nowhere()
"#,
    );
    let started = Instant::now();
    let (code, run, err) = home.run(&file, &["--launcher", "docker"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "it must not hang"
    );
    let error = task(&run, "nowhere")["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("penstock-test/no-such-image:7") && error.contains("could not be pulled"),
        "{error}"
    );
    // Pull progress shows in the task log and on the CLI.
    assert!(log_of(&home, &run, "nowhere").contains("pulling image penstock-test/no-such-image:7"));
    assert!(
        err.contains("pulling image penstock-test/no-such-image:7"),
        "{err}"
    );
}

#[test]
fn limits_from_the_spec_are_applied_and_impossible_ones_refused() {
    let home = Home::new();
    let file = compile(
        home.path(),
        "limits",
        r#"
@dsl.container_component
def limited(out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="penstock-test/busybox:1",
        command=["sh", "-c", '{ cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; } | tr "\n" " " > "$0"'],
        args=[out])

@dsl.container_component
def greedy():
    return dsl.ContainerSpec(image="penstock-test/busybox:1", command=["true"])

@dsl.pipeline(name="limits")
def main():
    limited().set_cpu_limit("500m").set_memory_limit("64Mi")
    greedy().set_cpu_limit("4096")
"#,
    );
    let (code, run, _) = home.run(&file, &["--launcher", "docker"]);
    assert_ne!(code, 0);
    let out = output_param(&run, "limited", "out")
        .as_str()
        .unwrap_or_default()
        .to_string();
    // cgroup v2 writes "50000 100000", v1 the quota alone; then the memory limit in bytes.
    assert!(out.starts_with("50000"), "{out}");
    assert!(out.contains(&(64u64 << 20).to_string()), "{out}");
    let error = task(&run, "greedy")["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("asks for 4096 CPUs") && error.contains("Docker host has"),
        "{error}"
    );
    assert!(containers_of(&run_id(&run)).is_empty());
}

fn sleeper(home: &Home) -> std::path::PathBuf {
    compile(
        home.path(),
        "sleeper",
        r#"
@dsl.container_component
def sleep_long():
    return dsl.ContainerSpec(image="penstock-test/busybox:1", command=["sleep", "300"])

@dsl.pipeline(name="sleeper")
def main():
    sleep_long()
"#,
    )
}

/// Starts `penstock run FILE --launcher docker` and waits until its container exists; returns
/// the process (the caller waits for it) and the run id.
#[allow(clippy::zombie_processes)]
fn start_sleeper(home: &Home, file: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .arg("run")
        .arg(file)
        .args(["--launcher", "docker"])
        .env("PENSTOCK_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("penstock run");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = home.penstock(&["runs", "list", "-o", "json"]);
        let list: Value = serde_json::from_slice(&list.stdout).unwrap_or(Value::Null);
        if let Some(id) = list["runs"][0]["run_id"].as_str() {
            if !containers_of(id).is_empty() {
                return (child, id.to_string());
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the task's container never started");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_no_containers(run_id: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !containers_of(run_id).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{what}: the container is still there"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ctrl_c_and_a_killed_penstock_leave_no_container() {
    let home = Home::new();
    let file = sleeper(&home);
    // Ctrl-C: the run is cancelled and its container stopped and removed.
    let (mut child, id) = start_sleeper(&home, &file);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    assert!(containers_of(&id).is_empty(), "Ctrl-C left a container");

    // kill -9: the watchdog removes what the dead process started.
    let home = Home::new();
    let file = sleeper(&home);
    let (mut child, id) = start_sleeper(&home, &file);
    child.kill().expect("kill -9");
    let _ = child.wait();
    wait_for_no_containers(&id, "kill -9 of penstock run");
}

fn busybox_sleeper_spec() -> Value {
    serde_json::json!({
        "pipelineInfo": {"name": "docker-sleeper"},
        "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-nap": {"container": {
            "image": BUSYBOX, "command": ["sleep", "300"]}}}},
        "components": {"comp-nap": {"executorLabel": "exec-nap"}},
        "root": {"dag": {"tasks": {"nap": {
            "componentRef": {"name": "comp-nap"}, "taskInfo": {"name": "nap"}}}}}
    })
}

/// Waits until `run_id` has exactly `n` containers, all running.
fn wait_for_running_containers(run_id: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=io.penstock.run-id={run_id}"),
        ]);
        if running.lines().count() == n && containers_of(run_id).len() == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} running container(s) of {run_id}, found {:?}",
            containers_of(run_id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_server_terminates_containers_and_takes_over_those_of_a_killed_server() {
    use crate::server::{get, post, ServerProcess};
    let home = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start_with(home.path(), &["--launcher", "docker"]);
    let create = |url: &str| {
        let run = post(
            &format!("{url}/apis/v2beta1/runs"),
            &serde_json::json!({"display_name": "nap", "pipeline_spec": busybox_sleeper_spec()}),
        );
        run["run_id"].as_str().expect("run id").to_string()
    };
    // Terminate: the container is stopped and removed, the run CANCELED.
    let run_id = create(&server.url);
    wait_for_running_containers(&run_id, 1);
    post(
        &format!("{}/apis/v2beta1/runs/{run_id}:terminate", server.url),
        &serde_json::json!({}),
    );
    let run = get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
    assert_eq!(run["state"], "CANCELED", "{run}");
    wait_for_no_containers(&run_id, "terminate");

    // kill -9 of the server: the next server resumes the run in exactly one new container.
    let run_id = create(&server.url);
    wait_for_running_containers(&run_id, 1);
    let first = containers_of(&run_id);
    server.kill_hard();
    let server = ServerProcess::start_with(home.path(), &["--launcher", "docker"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = containers_of(&run_id);
        if now.len() == 1 && now != first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run was not taken over: containers {now:?} (before: {first:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let run = get(&format!("{}/apis/v2beta1/runs/{run_id}", server.url));
    assert_eq!(task(&run, "nap")["penstock"]["attempts"], 2, "{run}");
    post(
        &format!("{}/apis/v2beta1/runs/{run_id}:terminate", server.url),
        &serde_json::json!({}),
    );
    wait_for_no_containers(&run_id, "terminate after the take-over");
}

/// Corpus files whose outcome depends on their images, run under `--launcher docker` with the
/// images that can be built here (`scripts/test-docker-env` tags local stand-ins for the
/// Python, Red Hat UBI Python, Alpine and busybox images the files name), and what Kubeflow
/// would do with each.
#[test]
fn corpus_files_that_need_their_images_run_in_them() {
    use crate::corpus::{all_errors, manifest, required_args, run_with_timeout};
    let rows = manifest();
    let valid = crate::util::shared_dir().join("conformance/valid");
    // (file, Ok(()) to succeed, or Err(text) the failure must mention, and why).
    let cases: [(&str, Result<(), &str>, &str); 9] = [
        (
            "pipeline_with_concat_placeholder.yaml",
            Ok(()),
            "needs busybox's `[[ ]]` in its sh: fails on the host",
        ),
        (
            "hello_world.yaml",
            Ok(()),
            "a container component in the UBI Python image",
        ),
        (
            "critical/two_step_pipeline_containerized.yaml",
            Ok(()),
            "container components in alpine",
        ),
        (
            "essential/pipeline_with_after.yaml",
            Ok(()),
            "alpine steps ordered by .after",
        ),
        (
            "critical/producer_consumer_param_pipeline.yaml",
            Ok(()),
            "a parameter crossing two containers",
        ),
        (
            "pipeline_with_only_display_name.yaml",
            Ok(()),
            "a lightweight component in public.ecr.aws python:3.12",
        ),
        (
            "container_io.yaml",
            Err("my_program"),
            "`my_program` is in no image, on Kubeflow either",
        ),
        (
            "container_with_artifact_output.yaml",
            Err("gcr.io/my-image"),
            "a private image no registry here serves",
        ),
        (
            "containerized_python_component.yaml",
            Err("kfp-image"),
            "built by `kfp component build`, pushed nowhere",
        ),
    ];
    let mut failures = Vec::new();
    for (file, expected, why) in cases {
        let home = Home::new();
        let row = rows
            .iter()
            .find(|r| r.path == file)
            .unwrap_or_else(|| panic!("{file} is not in the corpus manifest"));
        let mut args = required_args(&row.required);
        args.extend(["--launcher".to_string(), "docker".to_string()]);
        let (code, run, stderr) =
            run_with_timeout(&home, &valid.join(file), &args, Duration::from_secs(300));
        let state = run["state"].as_str().unwrap_or("(none)").to_string();
        let errors = all_errors(&run);
        eprintln!("docker corpus: {file:<55} got {state} (exit {code}) — {why}");
        let ok = match expected {
            Ok(()) => code == 0 && state == "SUCCEEDED",
            Err(text) => code == 1 && state == "FAILED" && errors.contains(text),
        };
        if !ok {
            failures.push(format!(
                "{file}: expected {expected:?}; got {state}, exit {code}: {errors} {stderr}"
            ));
        }
        if let Some(id) = run["run_id"].as_str() {
            if !containers_of(id).is_empty() {
                failures.push(format!("{file}: containers left behind"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn conditions_loops_retries_exit_handlers_and_the_cache_behave_as_with_the_local_launcher() {
    let home = Home::new();
    let file = compile(
        home.path(),
        "semantics",
        r#"
@dsl.container_component
def flaky(out: dsl.OutputPath(str)):
    # Fails on its first attempt (the marker file is in the run's workspace), then succeeds.
    return dsl.ContainerSpec(image="penstock-test/busybox:1", command=["sh", "-c",
        'if [ -e "$0" ]; then echo second > "$1"; else touch "$0"; exit 3; fi'],
        args=[dsl.WORKSPACE_PATH_PLACEHOLDER + "/flaky-marker", out])

@dsl.container_component
def echo(text: str, out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="penstock-test/busybox:1", command=["sh", "-c", 'echo -n "$0" > "$1"'],
        args=[text, out])

@dsl.component(base_image="penstock-test/python-kfp:3.11")
def report(status: dsl.PipelineTaskFinalStatus) -> str:
    return status.state

@dsl.pipeline(name="docker-semantics", pipeline_config=dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size="1Gi")))
def main(flag: str = "yes"):
    exit_task = report()
    with dsl.ExitHandler(exit_task):
        f = flaky().set_retry(num_retries=2, backoff_duration="0s")
        f.set_caching_options(False)
        with dsl.If(flag == "yes"):
            with dsl.ParallelFor(["a", "b"]) as item:
                echo(text=item).after(f)
        with dsl.If(flag == "no"):
            echo(text="never")
"#,
    );
    let args = ["--launcher", "docker"];
    let (code, run, err) = home.run(&file, &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        task(&run, "exit-handler-1/flaky")["penstock"]["attempts"],
        2
    );
    assert_eq!(
        output_param(&run, "exit-handler-1/flaky", "out"),
        "second\n"
    );
    let report = run["run_details"]["task_details"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["penstock"]["name"] == "report")
        .cloned()
        .unwrap_or_default();
    // KFP reports a successful DAG as COMPLETE, as the local launcher does.
    assert_eq!(
        report["penstock"]["outputs"]["parameters"]["Output"],
        "COMPLETE"
    );
    let states: Vec<(String, String)> = run["run_details"]["task_details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["penstock"]["name"] == "echo")
        .map(|t| {
            (
                t["penstock"]["outputs"]["parameters"]["out"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
                t["penstock"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&("a".into(), "SUCCEEDED".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("b".into(), "SUCCEEDED".into())),
        "{states:?}"
    );
    assert!(states.iter().all(|(out, _)| out != "never"), "{states:?}");
    assert!(containers_of(&run_id(&run)).is_empty());
    // A second run reuses the loop's outputs from the cache, as the local launcher does.
    let (code, again, err) = home.run(&file, &args);
    assert_eq!(code, 0, "{err}");
    let cached = again["run_details"]["task_details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["penstock"]["name"] == "echo" && t["penstock"]["state"] == "CACHED")
        .count();
    assert_eq!(cached, 2, "{again}");
}
