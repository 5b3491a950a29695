//! KFP v1 pipelines: Argo Workflows compiled by the real `kfp==1.8.22` SDK
//! (`PENSTOCK_TEST_PYTHON_V1`, see `scripts/kfp1-venv`) and the v1 corpus
//! (`../shared/conformance-v1`), run by `penstock run` on the same engine as v2 pipelines.

use crate::server::ServerProcess;
use crate::util::{output_param, python, python_v1, shared_dir, state, task, Home};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles `source` (Python defining the pipeline function `main` with the v1 DSL) into
/// `dir/<file>`; the extension picks the package (`.yaml`, `.tar.gz`, `.zip`) as in kfp 1.8.
fn compile_v1(dir: &Path, file: &str, source: &str) -> PathBuf {
    let stem = file.split('.').next().unwrap_or(file);
    let py = dir.join(format!("{stem}.py"));
    let out = dir.join(file);
    let program = format!(
        "import sys\nimport kfp\nfrom kfp import dsl, compiler\n\
         from kfp.components import create_component_from_func, func_to_container_op\n\
         {source}\ncompiler.Compiler().compile(main, sys.argv[1])\n"
    );
    std::fs::write(&py, program).expect("write the pipeline source");
    let compiled = Command::new(python_v1())
        .arg(&py)
        .arg(&out)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run the kfp 1.8 compiler");
    assert!(
        compiled.status.success(),
        "compiling {file} with kfp 1.8.22: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let text = std::fs::read(&out).expect("compiled file");
    if file.ends_with(".yaml") {
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.contains("argoproj.io/v1alpha1") && text.contains("kind: Workflow"),
            "the v1 compiler wrote an Argo Workflow"
        );
    }
    out
}

/// Every task path of a run with its Penstock state, for failure messages.
fn states(run: &Value) -> String {
    run["run_details"]["task_details"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}={}",
                t["penstock"]["path"].as_str().unwrap_or_default(),
                t["penstock"]["state"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The content of a task's output artifact (a file), as the run JSON locates it.
fn artifact_text(run: &Value, path: &str, name: &str) -> String {
    let uri = task(run, path)["penstock"]["outputs"]["artifacts"][name][0]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has no artifact {name}: {}", task(run, path)))
        .to_string();
    std::fs::read_to_string(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
}

/// Task paths of a run that match `pred`.
fn paths(run: &Value, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = run["run_details"]["task_details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["penstock"]["path"].as_str())
        .filter(|p| pred(p))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

const EVERYTHING: &str = r#"
def produce(n: int) -> str:
    import json
    return json.dumps([{"a": i, "b": i * 10} for i in range(n)])

produce_op = create_component_from_func(produce, base_image="python:3.9")

@func_to_container_op
def add(a: int, b: int) -> int:
    return a + b

def flip() -> str:
    return "heads"

flip_op = create_component_from_func(flip)

def echo_op(msg):
    return dsl.ContainerOp(
        name="echo", image="alpine",
        command=["sh", "-c", 'echo "$0" | tee "$1"', msg, "/tmp/out.txt"],
        file_outputs={"out": "/tmp/out.txt"},
    )

upper_op = kfp.components.load_component_from_text("""
name: Upper
inputs: [{name: text, type: String}]
outputs: [{name: upper, type: String}]
implementation:
  container:
    image: alpine
    command: [sh, -c, 'mkdir -p "$(dirname "$1")"; printf %s "$0" | tr a-z A-Z > "$1"', {inputValue: text}, {outputPath: upper}]
""")

from kfp.components import InputPath, OutputPath

def write_lines(n: int, lines_path: OutputPath(str)):
    with open(lines_path, "w") as f:
        f.write("".join("line %d\n" % i for i in range(n)))

def count_lines(lines_path: InputPath(str)) -> int:
    return len(open(lines_path).read().splitlines())

write_lines_op = create_component_from_func(write_lines)
count_lines_op = create_component_from_func(count_lines)

@dsl.pipeline(name="v1 everything", description="every v1 construct")
def main(n: int = 3, greeting: str = "hello"):
    goodbye = dsl.ContainerOp(
        name="goodbye", image="alpine",
        command=["sh", "-c", 'echo "$0" | tee "$1"', "{{workflow.status}}", "/tmp/status.txt"],
        file_outputs={"status": "/tmp/status.txt"},
    )
    with dsl.ExitHandler(goodbye):
        hello = echo_op(greeting)
        hello.execution_options.caching_strategy.max_cache_staleness = "P0D"
        dsl.ContainerOp(name="show", image="alpine", command=["echo", hello.outputs["out"]])
        counted = count_lines_op(write_lines_op(n).outputs["lines"])
        constant = count_lines_op("x\ny\n")
        dsl.ContainerOp(name="show-constant", image="alpine", command=["echo", constant.output])
        dsl.ContainerOp(name="show-count", image="alpine", command=["echo", counted.output])
        upper = upper_op(hello.outputs["out"]).set_display_name("shout it")
        dsl.ContainerOp(name="show-upper", image="alpine", command=["echo", upper.output])
        items = produce_op(n)
        with dsl.ParallelFor(items.output, parallelism=2) as item:
            add(item.a, item.b)
            # Every iteration writes the same absolute path: each must get its own.
            w = dsl.ContainerOp(
                name="write", image="alpine",
                command=["sh", "-c", 'echo "$0" > "$1"; sleep 0.3; cat "$1"', item.a, "/tmp/outputs/x/data"],
                file_outputs={"x": "/tmp/outputs/x/data"},
            )
            dsl.ContainerOp(name="read", image="alpine", command=["echo", w.outputs["x"]])
        f = flip_op()
        with dsl.Condition(f.output == "heads"):
            echo_op("was heads")
        with dsl.Condition(f.output == "tails"):
            echo_op("was tails")
        with dsl.ParallelFor([1, 2]) as x:
            add(x, 1)
"#;

#[test]
fn v1_pipeline_runs_with_outputs_conditions_loops_exit_handler_and_cache() {
    let home = Home::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = compile_v1(dir.path(), "everything.yaml", EVERYTHING);
    let (code, run, err) = home.run(&file, &["-p", "greeting=hi there"]);
    assert_eq!(code, 0, "{err}\n{}", states(&run));
    assert_eq!(run["state"], "SUCCEEDED");
    let all = states(&run);
    // ContainerOp with file_outputs: the parameter (one trailing newline trimmed, as Argo does).
    let echo = paths(&run, |p| p.ends_with("/echo"));
    assert_eq!(echo.len(), 1, "{all}");
    assert_eq!(
        output_param(&run, &echo[0], "echo-out"),
        "hi there",
        "{all}"
    );
    // An artifact passed from an OutputPath to an InputPath.
    let count = paths(&run, |p| p.ends_with("/count-lines"));
    assert_eq!(
        output_param(&run, &count[0], "count-lines-Output"),
        "3",
        "{all}"
    );
    // A constant given to an InputPath (`raw` artifact data).
    let constant = paths(&run, |p| p.ends_with("/count-lines-2"));
    assert_eq!(
        output_param(&run, &constant[0], "count-lines-2-Output"),
        "2",
        "{all}"
    );
    // A v1 component.yaml (inputValue / outputPath) loaded with the v1 SDK.
    let upper = paths(&run, |p| p.ends_with("/upper"));
    assert_eq!(
        output_param(&run, &upper[0], "upper-upper"),
        "HI THERE",
        "{all}"
    );
    assert_eq!(task(&run, &upper[0])["display_name"], "shout it");
    // Loop fan-out over a lightweight component's output, with {{item.a}} / {{item.b}}.
    let adds = paths(&run, |p| p.ends_with("/add"));
    assert_eq!(adds.len(), 3, "three iterations of add: {all}");
    let writes = paths(&run, |p| p.ends_with("/write"));
    assert_eq!(writes.len(), 3, "{all}");
    let mut written: Vec<String> = writes
        .iter()
        .map(|w| {
            output_param(&run, w, "write-x")
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["0", "1", "2"],
        "each iteration kept its own /tmp/outputs/x/data"
    );
    // The static loop ran twice.
    let add2 = paths(&run, |p| p.ends_with("/add-2"));
    assert_eq!(add2.len(), 2, "{all}");
    // Conditions: heads ran, tails was skipped.
    let heads = paths(&run, |p| p.ends_with("/echo-2"));
    let tails = paths(&run, |p| p.ends_with("/echo-3"));
    assert_eq!(heads.len(), 1, "{all}");
    assert_eq!(state(&run, &heads[0]), "SUCCEEDED", "{all}");
    assert_eq!(artifact_text(&run, &heads[0], "echo-2-out"), "was heads\n");
    assert!(
        tails.is_empty() || state(&run, &tails[0]) == "SKIPPED",
        "{all}"
    );
    let tails_group = paths(&run, |p| {
        p.ends_with("condition-3") || p.ends_with("condition-4")
    });
    assert!(
        tails_group.iter().any(|p| state(&run, p) == "SKIPPED"),
        "the tails branch is skipped: {all}"
    );
    // The exit handler ran.
    assert_eq!(state(&run, "goodbye"), "SUCCEEDED", "{all}");
    assert_eq!(
        artifact_text(&run, "goodbye", "goodbye-status"),
        "Succeeded\n"
    );

    // A second run reuses cached steps, except the one marked max_cache_staleness=P0D.
    let (code, again, err) = home.run(&file, &["-p", "greeting=hi there"]);
    assert_eq!(code, 0, "{err}");
    let produce = paths(&again, |p| p.ends_with("/produce"));
    assert_eq!(state(&again, &produce[0]), "CACHED", "{}", states(&again));
    assert_eq!(
        state(&again, &echo[0]),
        "SUCCEEDED",
        "P0D: never reused: {}",
        states(&again)
    );
}

const STALENESS: &str = r#"
@dsl.pipeline(name="v1 staleness")
def main():
    fresh = dsl.ContainerOp(name="fresh", image="alpine", command=["echo", "fresh"])
    fresh.execution_options.caching_strategy.max_cache_staleness = "P1D"
    stale = dsl.ContainerOp(name="stale", image="alpine", command=["echo", "stale"])
    stale.execution_options.caching_strategy.max_cache_staleness = "PT1S"
"#;

#[test]
fn v1_max_cache_staleness_bounds_how_old_a_reused_execution_may_be() {
    let home = Home::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = compile_v1(dir.path(), "staleness.yaml", STALENESS);
    let (code, _, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (code, again, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(state(&again, "fresh"), "CACHED", "{}", states(&again));
    assert_eq!(state(&again, "stale"), "SUCCEEDED", "{}", states(&again));
    let stale = crate::util::task(&again, "stale").to_string();
    assert!(
        stale.contains("older than the maximum cache age of 1s"),
        "{stale}"
    );
}

const FAILING: &str = r#"
@dsl.pipeline(name="v1 failing")
def main():
    bye = dsl.ContainerOp(
        name="bye", image="alpine",
        command=["sh", "-c", 'echo "$0" | tee "$1"', "{{workflow.status}}", "/tmp/status.txt"],
        file_outputs={"status": "/tmp/status.txt"},
    )
    with dsl.ExitHandler(bye):
        boom = dsl.ContainerOp(name="boom", image="alpine", command=["sh", "-c", "echo boom >&2; exit 3"])
        boom.set_retry(1)
        after = dsl.ContainerOp(name="after", image="alpine", command=["sh", "-c", "echo never"])
        after.after(boom)
        slow = dsl.ContainerOp(name="slow", image="alpine", command=["sh", "-c", "sleep 30"])
        slow.set_timeout(1)
"#;

#[test]
fn v1_failures_retry_time_out_and_still_run_the_exit_handler() {
    let home = Home::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = compile_v1(dir.path(), "failing.yaml", FAILING);
    let (code, run, err) = home.run(&file, &[]);
    let all = states(&run);
    assert_eq!(code, 1, "{err}\n{all}");
    assert_eq!(run["state"], "FAILED");
    let boom = paths(&run, |p| p.ends_with("/boom"));
    assert_eq!(state(&run, &boom[0]), "FAILED", "{all}");
    assert_eq!(
        task(&run, &boom[0])["penstock"]["attempts"],
        2,
        "set_retry(1): one retry"
    );
    let after = paths(&run, |p| p.ends_with("/after"));
    assert_ne!(state(&run, &after[0]), "SUCCEEDED", "{all}");
    let slow = paths(&run, |p| p.ends_with("/slow"));
    assert_eq!(
        state(&run, &slow[0]),
        "FAILED",
        "set_timeout(1) stops it: {all}"
    );
    assert_eq!(
        state(&run, "bye"),
        "SUCCEEDED",
        "the exit handler ran: {all}"
    );
    assert_eq!(
        artifact_text(&run, "bye", "bye-status"),
        "Failed\n",
        "{{workflow.status}}"
    );
}

const SIMPLE: &str = r#"
def hello(name: str) -> str:
    return "hello " + name

hello_op = create_component_from_func(hello)

@dsl.pipeline(name="v1 package")
def main(name: str = "world"):
    hello_op(name)
"#;

#[test]
fn v1_packages_tar_gz_and_zip_run() {
    let home = Home::new();
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["simple.tar.gz", "simple.zip"] {
        let package = compile_v1(dir.path(), file, SIMPLE);
        let (code, run, err) = home.run(&package, &["-p", "name=v1"]);
        assert_eq!(code, 0, "{file}: {err}");
        assert_eq!(
            artifact_text(&run, "hello", "hello-Output"),
            "hello v1",
            "{file}"
        );
    }
}

const PRIVATE_TMP: &str = r##"
@dsl.pipeline(name="v1 private tmp")
def main():
    with dsl.ParallelFor(["a", "b", "c", "d"]) as item:
        # The program has its paths built in (never named whole in the command), as a v1 image's
        # program does; every iteration writes the same ones at the same time.
        dsl.ContainerOp(
            name="write", image="alpine",
            command=["sh", "-c",
                     'o=/tmp/outputs; m=/tmp/mlpipeline; mkdir -p $o/penstock_e2e_x; '
                     'echo "$0" > $o/penstock_e2e_x/data; '
                     'printf \'{"metrics": [{"name": "item-%s", "numberValue": 1}]}\' "$0" > $m-metrics.json; '
                     'sleep 1; cat $o/penstock_e2e_x/data > $o/penstock_e2e_back/data', item],
            file_outputs={"x": "/tmp/outputs/penstock_e2e_x/data", "back": "/tmp/outputs/penstock_e2e_back/data"},
            output_artifact_paths={"mlpipeline-metrics": "/tmp/mlpipeline-metrics.json"},
        )
"##;

/// Parallel loop iterations that write the same fixed paths under /tmp each get a private
/// /tmp under the local launcher (a mount namespace): each reads back its own value, each
/// one's `mlpipeline-metrics` is its own output, and nothing reaches the host's /tmp.
#[test]
fn v1_parallel_steps_get_private_fixed_paths_under_the_local_launcher() {
    let host_metrics = std::fs::read("/tmp/mlpipeline-metrics.json").ok();
    let home = Home::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = compile_v1(dir.path(), "private.yaml", PRIVATE_TMP);
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}\n{}", states(&run));
    let writes = paths(&run, |p| p.ends_with("/write"));
    assert_eq!(writes.len(), 4, "{}", states(&run));
    let mut seen = Vec::new();
    for w in &writes {
        // file_outputs that no step consumes are output artifacts (kfp 1.8).
        let x = artifact_text(&run, w, "write-x").trim().to_string();
        let back = artifact_text(&run, w, "write-back").trim().to_string();
        assert_eq!(
            x, back,
            "{w} read back its own /tmp/outputs/penstock_e2e_x/data"
        );
        let metrics = artifact_text(&run, w, "mlpipeline-metrics");
        assert!(
            metrics.contains(&format!("\"item-{x}\"")),
            "{w}: its own mlpipeline-metrics: {metrics}"
        );
        seen.push(x);
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c", "d"]);
    assert!(!Path::new("/tmp/outputs/penstock_e2e_x").exists());
    assert!(!Path::new("/tmp/outputs/penstock_e2e_back").exists());
    assert_eq!(
        std::fs::read("/tmp/mlpipeline-metrics.json").ok(),
        host_metrics,
        "the host's /tmp/mlpipeline-metrics.json is untouched"
    );
}

const FIXED_TMP_STEP: &str = r#"
@dsl.pipeline(name="v1 fixed path")
def main():
    dsl.ContainerOp(
        name="write", image="alpine",
        command=["sh", "-c", 'o=/tmp/outputs; mkdir -p $o/penstock_e2e_unpriv; echo x > $o/penstock_e2e_unpriv/data'],
        file_outputs={"x": "/tmp/outputs/penstock_e2e_unpriv/data"},
    )
"#;

/// Without the privilege a mount namespace needs (run here as `nobody` with every capability
/// dropped, when the tests run as root), a step with a fixed path fails naming the path, what
/// is needed and `--launcher docker`, and writes nothing to the host's /tmp.
#[test]
fn v1_fixed_paths_without_mount_privileges_fail_naming_what_is_needed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = compile_v1(dir.path(), "unpriv.yaml", FIXED_TMP_STEP);
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    for (path, mode) in [
        (dir.path(), 0o755),
        (home.as_path(), 0o777),
        (file.as_path(), 0o644),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let bin = env!("CARGO_BIN_EXE_penstock");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            bin,
        ]);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd
        .arg("run")
        .arg(&file)
        .args(["-o", "json"])
        .env("PENSTOCK_HOME", &home)
        .env("HOME", &home)
        .output()
        .expect("run penstock (as nobody through util-linux's setpriv when root)");
    let run: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let message = task(&run, "write")["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("/tmp/outputs/penstock_e2e_unpriv/data")
            && message.contains("CAP_SYS_ADMIN")
            && message.contains("--launcher docker"),
        "{message}"
    );
    assert!(!Path::new("/tmp/outputs/penstock_e2e_unpriv").exists());
}

const UNNAMED_PATH: &str = r#"
@dsl.pipeline(name="v1 unnamed path")
def main():
    dsl.ContainerOp(name="metrics", image="trainer", command=["train"],
                    output_artifact_paths={"mlpipeline-metrics": "/mlpipeline-metrics.json"})
"#;

const VOLUME: &str = r#"
@dsl.pipeline(name="v1 volume")
def main():
    vop = dsl.VolumeOp(name="vol", resource_name="data", size="1Gi", modes=dsl.VOLUME_MODE_RWO)
    dsl.ContainerOp(name="use", image="alpine", command=["ls", "/data"], pvolumes={"/data": vop.volume})
"#;

#[test]
fn v1_cluster_features_and_malformed_workflows_are_refused_with_the_field() {
    let home = Home::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = compile_v1(dir.path(), "volume.yaml", VOLUME);
    let (code, _, err) = home.run(&file, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("volume.yaml")
            && (err.contains(".resource") || err.contains(".volumes"))
            && err.contains("cluster"),
        "{err}"
    );
    // A step that writes a fixed path directly under / without naming it: the local launcher
    // gives steps a private /tmp only, so the step fails naming the path and the way out.
    let file = compile_v1(dir.path(), "unnamed.yaml", UNNAMED_PATH);
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 1, "{err}");
    let message = task(&run, "metrics")["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("/mlpipeline-metrics.json") && message.contains("--launcher docker"),
        "{message}"
    );
    assert!(!Path::new("/mlpipeline-metrics.json").exists());
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: b-}\n\
         spec:\n  entrypoint: p\n  templates:\n  - name: p\n    dag:\n      tasks:\n      \
         - {name: a, template: missing}\n",
    )
    .expect("write");
    let (code, _, err) = home.run(&broken, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("spec.templates[p].dag.tasks[a].template") && err.contains("\"missing\""),
        "{err}"
    );
}

/// The server takes a v1 package by upload and a v1 workflow as an inline run spec, through
/// the same parser.
#[test]
fn v1_pipelines_upload_and_run_through_the_server() {
    let home = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let package = compile_v1(dir.path(), "simple.tar.gz", SIMPLE);
    let yaml = compile_v1(dir.path(), "simple.yaml", SIMPLE);
    let server = ServerProcess::start(home.path());
    let script = r#"
import json, sys, time, urllib.request, uuid, yaml
url, package, spec = sys.argv[1:4]
boundary = uuid.uuid4().hex
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"simple.tar.gz\"\r\n"
        "Content-Type: application/gzip\r\n\r\n").encode() + open(package, "rb").read() + f"\r\n--{boundary}--\r\n".encode()
r = urllib.request.Request(url + "/apis/v2beta1/pipelines/upload?name=v1-simple", data=body, method="POST",
    headers={"content-type": f"multipart/form-data; boundary={boundary}"})
uploaded = json.load(urllib.request.urlopen(r))
workflow = yaml.safe_load(open(spec))
run = {"display_name": "v1 inline", "pipeline_spec": workflow, "runtime_config": {"parameters": {"name": "server"}}}
r = urllib.request.Request(url + "/apis/v2beta1/runs", data=json.dumps(run).encode(), method="POST",
    headers={"content-type": "application/json"})
run_id = json.load(urllib.request.urlopen(r))["run_id"]
for _ in range(600):
    got = json.load(urllib.request.urlopen(url + "/apis/v2beta1/runs/" + run_id))
    if got["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
        break
    time.sleep(0.1)
print(json.dumps({"pipeline": uploaded, "run": got}))
"#;
    let out = Command::new(python())
        .args(["-c", script, &server.url])
        .arg(&package)
        .arg(&yaml)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("python");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "server upload/run: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        result["pipeline"]["pipeline_id"].is_string(),
        "{}",
        result["pipeline"]
    );
    assert_eq!(result["run"]["state"], "SUCCEEDED", "{}", result["run"]);
}

/// What a v1 corpus file does on one machine, and why.
enum Expect {
    /// Runs to completion.
    Succeeds,
    /// Runs and FAILS with an error containing this text.
    FailsWith(&'static str),
    /// Refused before running (exit 2) with a message containing this text.
    Refused(&'static str),
}

fn corpus_expectation(file: &str) -> Expect {
    use Expect::*;
    match file {
        // Kubernetes volumes (PVCs, secrets) and resources (VolumeOp, ResourceOp,
        // VolumeSnapshotOp) need a cluster.
        "artifact_passing_using_volume.yaml" => Refused("at spec.volumes:"),
        "param_substitutions.yaml" | "resourceop_basic.yaml" | "volumeop_basic.yaml" => {
            Refused("at spec.templates[cop].volumes:")
        }
        "volume.yaml" => Refused("at spec.templates[download].volumes:"),
        "volume_snapshotop_rokurl.yaml" => {
            Refused("at spec.templates[create-snapshot-1].resource:")
        }
        "volume_snapshotop_sequential.yaml" => {
            Refused("at spec.templates[create-volume].resource:")
        }
        "volumeop_parallel.yaml" => Refused("at spec.templates[create-pvc].resource:"),
        "volumeop_sequential.yaml" => Refused("at spec.templates[mypvc].resource:"),
        // A service container beside the step needs a pod.
        "pipelineparams.yaml" | "sidecar.yaml" => Refused("at spec.templates[download].sidecars:"),
        // kfp's test data for a Kaniko build: a Pod manifest, not a pipeline.
        "kaniko.basic.yaml" => Refused("(apiVersion v1, kind Pod), not a pipeline"),
        // A recursive graph component (a `while` loop through `when`): no v2 equivalent.
        "recursive_while.yaml" => Refused("calls itself"),
        // A fragment without an entrypoint, which Argo refuses too.
        "tolerations.yaml" => Refused("at spec.entrypoint: missing"),
        // The step has only an image ("image") and no command: only its image could run it.
        "param_op_transform.yaml" => FailsWith("has no command"),
        // `save` copies its result with `gsutil cp` (to a local path here): it runs where the
        // Cloud SDK is installed and fails with the shell's "not found" elsewhere.
        "basic.yaml" | "basic_no_decorator.yaml" if !on_path("gsutil") => {
            FailsWith("`sh` exited with code 127")
        }
        // Everything else runs with the host's sh, echo and python.
        _ => Succeeds,
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Run parameters for the files whose pipeline parameters have no defaults.
fn corpus_args(file: &str, home: &Path) -> Vec<String> {
    let pairs: Vec<(&str, String)> = match file {
        "basic.yaml" | "basic_no_decorator.yaml" | "imagepullsecrets.yaml" => vec![
            ("message", "hello world hello".to_string()),
            ("outputpath", home.join("result.txt").display().to_string()),
        ],
        "parallelfor_pipeline_param_in_items_resolving.yaml" => {
            vec![
                ("fname1", "Ada".to_string()),
                ("fname2", "Grace".to_string()),
            ]
        }
        "param_op_transform.yaml" => vec![("param", "x".to_string())],
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter(|(name, _)| file != "imagepullsecrets.yaml" || *name == "message")
        .flat_map(|(n, v)| ["-p".to_string(), format!("{n}={v}")])
        .collect()
}

#[test]
fn v1_corpus_runs_or_is_refused_with_a_reason() {
    let dir = shared_dir().join("conformance-v1/valid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 28, "the v1 corpus has 28 files");
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let home = Home::new();
        let args = corpus_args(&name, home.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, run, err) = home.run(file, &args);
        let errors = format!(
            "{} {}",
            run["error"]["message"].as_str().unwrap_or_default(),
            run["run_details"]["task_details"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["error"]["message"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        let got = run["state"].as_str().unwrap_or("(none)");
        eprintln!("v1 corpus: {name:<55} got {got} (exit {code})");
        let problem = match corpus_expectation(&name) {
            Expect::Succeeds => (!(code == 0 && got == "SUCCEEDED"))
                .then(|| format!("expected SUCCEEDED; got {got}, exit {code}: {errors} {err}")),
            Expect::FailsWith(text) => (!(code == 1 && got == "FAILED" && errors.contains(text)))
                .then(|| format!("expected FAILED mentioning {text:?}; got {got}, exit {code}: {errors} {err}")),
            Expect::Refused(text) => (!(code == 2 && err.contains(text) && err.contains(&name)))
                .then(|| format!("expected a refusal mentioning {text:?}; got exit {code}: {err}")),
        };
        if let Some(p) = problem {
            failures.push(format!("{name}: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} v1 corpus files misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The real `kfp==1.8.22` `kfp.Client` against `penstock server`'s v1beta1 API: run a
/// pipeline function into a named experiment, wait for it, upload a package and run it by
/// pipeline id, list runs, experiments and pipelines, and see a failing step end `Failed`.
#[test]
fn v1_client_runs_uploads_and_lists_through_the_v1beta1_api() {
    let home = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let package = compile_v1(dir.path(), "simple.tar.gz", SIMPLE);
    let server = ServerProcess::start(home.path());
    let script = r#"
import json, sys
import kfp
from kfp import dsl
from kfp.components import create_component_from_func
url, package = sys.argv[1:3]

def hello(name: str) -> str:
    return "hello " + name

def boom(name: str) -> str:
    raise SystemExit("boom " + name)

def nap(seconds: int) -> str:
    import time
    time.sleep(seconds)
    return "woke"

hello_op = create_component_from_func(hello)
boom_op = create_component_from_func(boom)
nap_op = create_component_from_func(nap)

@dsl.pipeline(name="v1 client sleeping")
def sleepy(seconds: int = 120):
    nap_op(seconds)

@dsl.pipeline(name="v1 client")
def good(name: str = "world"):
    hello_op(name)

@dsl.pipeline(name="v1 client failing")
def bad(name: str = "world"):
    boom_op(name)

client = kfp.Client(host=url)
out = {"healthz": client.get_kfp_healthz().to_dict()}
result = client.create_run_from_pipeline_func(good, arguments={"name": "v1client"},
                                              experiment_name="v1-exp", run_name="v1-good")
done = client.wait_for_run_completion(result.run_id, timeout=300)
out["good"] = done.run.status
out["good_get"] = client.get_run(result.run_id).run.status
workflow = json.loads(done.pipeline_runtime.workflow_manifest)
out["good_nodes"] = sorted(n["phase"] for n in workflow["status"]["nodes"].values())
out["good_finished"] = done.run.finished_at is not None
exp = client.get_experiment(experiment_name="v1-exp")
out["experiment_name"] = exp.name
out["experiment_found_by_id"] = client.get_experiment(experiment_id=exp.id).name
bad_run = client.create_run_from_pipeline_func(bad, arguments={}, experiment_name="v1-exp")
out["bad"] = client.wait_for_run_completion(bad_run.run_id, timeout=300).run.status
pipeline = client.upload_pipeline(package, pipeline_name="v1-uploaded")
out["pipeline_name"] = client.get_pipeline(pipeline.id).name
out["pipeline_listed"] = [p.name for p in (client.list_pipelines(page_size=100).pipelines or [])]
by_id = client.run_pipeline(exp.id, "v1-by-id", pipeline_id=pipeline.id, params={"name": "byid"})
out["by_id"] = client.wait_for_run_completion(by_id.id, timeout=300).run.status
runs = client.list_runs(experiment_id=exp.id, page_size=100).runs or []
out["runs"] = sorted(r.name for r in runs)
out["experiments"] = [e.name for e in (client.list_experiments(page_size=100).experiments or [])]
long_run = client.create_run_from_pipeline_func(sleepy, arguments={}, experiment_name="v1-long")
client._run_api.terminate_run(long_run.run_id)
out["terminated"] = client.wait_for_run_completion(long_run.run_id, timeout=120).run.status
import urllib.error, urllib.request
req = urllib.request.Request(url + "/apis/v1beta1/runs", data=b'{"name": "no pipeline"}', method="POST",
                             headers={"content-type": "application/json"})
try:
    urllib.request.urlopen(req)
    out["no_pipeline"] = "accepted"
except urllib.error.HTTPError as e:
    out["no_pipeline"] = [e.code, json.load(e)]
print(json.dumps(out))
"#;
    // A file, not `-c`: the v1 SDK reads component functions' source with `inspect`.
    let program = dir.path().join("client.py");
    std::fs::write(&program, script).expect("write the client script");
    let out = Command::new(python_v1())
        .arg(&program)
        .arg(&server.url)
        .arg(&package)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("python");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "kfp 1.8 client: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(result["good"], "Succeeded", "{result}");
    assert_eq!(result["good_get"], "Succeeded", "{result}");
    assert_eq!(
        result["good_nodes"],
        serde_json::json!(["Succeeded"]),
        "{result}"
    );
    assert_eq!(result["good_finished"], true, "{result}");
    assert_eq!(result["experiment_name"], "v1-exp", "{result}");
    assert_eq!(result["experiment_found_by_id"], "v1-exp", "{result}");
    assert_eq!(result["bad"], "Failed", "{result}");
    assert_eq!(result["pipeline_name"], "v1-uploaded", "{result}");
    assert!(
        result["pipeline_listed"]
            .as_array()
            .is_some_and(|p| p.iter().any(|n| n == "v1-uploaded")),
        "{result}"
    );
    assert_eq!(result["by_id"], "Succeeded", "{result}");
    assert!(
        result["runs"].as_array().is_some_and(|r| r.len() == 3
            && r.iter().any(|n| n == "v1-good")
            && r.iter().any(|n| n == "v1-by-id")),
        "{result}"
    );
    assert!(
        result["experiments"]
            .as_array()
            .is_some_and(|e| e.iter().any(|n| n == "v1-exp")),
        "{result}"
    );
    assert_eq!(result["terminated"], "Failed", "{result}");
    let refusal = &result["no_pipeline"];
    assert_eq!(refusal[0], 400, "{result}");
    assert!(
        refusal[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("run.pipeline_spec")),
        "{result}"
    );
}
