//! The command line's own manners: closed pipes, list output, messages for tasks without logs
//! and for Python files given instead of compiled pipelines.

use crate::util::{python, Home};
use std::process::Command;

/// Compiles a pipeline whose `dsl.If` is false (one task SKIPPED) and whose other task runs.
fn compile_with_a_skipped_task(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("skipping.yaml");
    let source = r#"
import sys
from kfp import compiler, dsl

@dsl.container_component
def echo(text: str):
    return dsl.ContainerSpec(image="alpine", command=["echo", text])

# A large default makes `runs get -o json` far larger than a pipe's buffer, so a reader that
# stops early really closes the pipe under the writer.
@dsl.pipeline(name="skipping")
def skipping(flag: str = "off", blob: str = "x" * 300000):
    echo(text="always")
    with dsl.If(flag == "on"):
        echo(text="only when on")

compiler.Compiler().compile(skipping, sys.argv[1])
"#;
    let status = Command::new(python())
        .args(["-c", source])
        .arg(&out)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("compile");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

#[test]
fn list_output_closed_pipes_and_tasks_without_logs() {
    let home = Home::new();
    let file = compile_with_a_skipped_task(home.path());
    for name in ["first", "second-run-with-a-longer-name"] {
        let (code, run, stderr) = home.run(&file, &["--name", name]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(run["state"], "SUCCEEDED");
    }

    // JSON lists are summaries: no spec, no task details.
    let out = home.penstock(&["runs", "list", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let runs = list["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert!(
            r.get("pipeline_spec").is_none() && r.get("run_details").is_none(),
            "{r}"
        );
        assert!(r["run_id"].is_string() && r["state"] == "SUCCEEDED", "{r}");
    }

    // Text columns line up: every row's NAME starts where the header's does.
    let out = home.penstock(&["runs", "list"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    let column = lines[0].find("NAME").expect("header");
    for line in &lines[1..] {
        let name = &line[column..];
        assert!(
            name == "first" || name == "second-run-with-a-longer-name",
            "misaligned: {line:?} in\n{text}"
        );
    }

    // A reader that stops early: no panic, nothing on stderr.
    let bin = env!("CARGO_BIN_EXE_penstock");
    for args in ["runs get RUN -o json", "runs get RUN", "runs list -o json"] {
        let run_id = runs[0]["run_id"].as_str().unwrap_or_default();
        let args = args.replace("RUN", run_id);
        let errors = home.path().join("stderr.txt");
        let status = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "'{bin}' {args} 2>'{}' | head -c 10 >/dev/null",
                    errors.display()
                ),
            ])
            .env("PENSTOCK_HOME", home.path())
            .status()
            .expect("bash");
        assert!(status.success());
        let stderr = std::fs::read_to_string(&errors).unwrap_or_default();
        assert!(stderr.is_empty(), "penstock {args} | head: {stderr}");
    }

    // The skipped task exists but has no log: say so, not "no such task".
    let run_id = runs[0]["run_id"].as_str().unwrap_or_default().to_string();
    let tasks = home.penstock(&["runs", "get", &run_id, "-o", "json"]);
    let got: serde_json::Value = serde_json::from_slice(&tasks.stdout).expect("json");
    let skipped = got["run_details"]["task_details"]
        .as_array()
        .and_then(|ts| {
            ts.iter()
                .find(|t| t["penstock"]["state"] == "SKIPPED")
                .cloned()
        })
        .expect("a skipped task");
    let path = skipped["penstock"]["path"].as_str().unwrap_or_default();
    let out = home.penstock(&["logs", &run_id, path]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was skipped") && stderr.contains("has no log"),
        "{stderr}"
    );
}

#[test]
fn a_python_file_is_named_as_such_with_how_to_compile_it() {
    let home = Home::new();
    let file = home.path().join("pipeline.py");
    std::fs::write(
        &file,
        "from kfp import dsl\n\n@dsl.pipeline\ndef p():\n    pass\n",
    )
    .expect("write");
    let (code, _, stderr) = home.run(&file, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Python source") && stderr.contains("compile"),
        "{stderr}"
    );
    assert!(!stderr.contains("malformed YAML"), "{stderr}");
}
