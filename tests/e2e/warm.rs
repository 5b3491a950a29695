//! Warm interpreters: lightweight components forked from a warm Python behave exactly as
//! fresh processes do (`--no-warm`), and a warm interpreter killed from outside only makes
//! tasks start cold.

use crate::util::{output_param, state, task, Home};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::semantics::compile_source as compile;

const BEHAVIOURS: &str = r#"
@dsl.component
def inspect(tag: str) -> str:
    import os, subprocess, sys, tempfile
    import kfp
    # Module state, of the component's module and of one the warm interpreter imported.
    globals()["COUNT"] = globals().get("COUNT", 0) + 1
    kfp.warm_test_count = getattr(kfp, "warm_test_count", 0) + 1
    with open("written.txt", "w") as f:
        f.write(tag)
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(tag)
    child = subprocess.run([sys.executable, "-c", "import os; print('child says', os.environ['WARM_TEST'])"],
                           capture_output=True, text=True).stdout.strip()
    # Whole lines in one write each: stdout and stderr are two pipes read side by side, and
    # print() writes a line's text and its newline separately, so lines could interleave.
    sys.stdout.write(f"to stdout {tag}\n")
    sys.stderr.write(f"to stderr {tag}\n")
    return "|".join([
        str(globals()["COUNT"] + kfp.warm_test_count),
        os.environ.get("WARM_TEST", "-"),
        str(os.path.basename(os.getcwd()) == "work" and os.path.exists("written.txt")),
        str(f.name.startswith(os.environ["TMPDIR"])),
        str("PENSTOCK_METRICS_FILE" in os.environ and "PENSTOCK_RUN_ID" in os.environ),
        str(sys.stdin.read() == ""),
        str(sys.argv[0].endswith("executor_main.py")),
        __name__,
        str(sys.modules["__main__"].__file__.endswith("executor_main.py")),
        child,
    ])

@dsl.component
def exit_with(code: int):
    import sys
    print("leaving with", code)
    sys.exit(code)

@dsl.component
def fail_with(message: str):
    import sys
    sys.stdout.write("about to raise\n")
    raise ValueError(message)

@dsl.component
def exit_with_text():
    raise SystemExit("a message instead of a code")

@dsl.pipeline(name="warm-behaviours")
def main():
    a = inspect(tag="a").set_env_variable("WARM_TEST", "one").set_caching_options(False)
    b = inspect(tag="b").set_env_variable("WARM_TEST", "two").set_caching_options(False)
    exit_with(code=3).set_caching_options(False)
    fail_with(message="boom").set_caching_options(False)
    exit_with_text().set_caching_options(False)
"#;

/// The log without Penstock's and the executor's own lines, timestamps and traceback frames,
/// which name paths that differ from run to run; sorted, as stdout and stderr are two pipes
/// whose lines interleave differently from run to run.
fn user_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            !(l.starts_with("[penstock]")
                || l.starts_with("[KFP Executor")
                || l.starts_with(' ')
                || l.starts_with('{')
                || l.starts_with('}'))
        })
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn log_of(home: &Home, run: &Value, path: &str) -> String {
    let id = run["run_id"].as_str().expect("run id");
    std::fs::read_to_string(home.path().join(format!("runs/{id}/logs/{path}.log")))
        .unwrap_or_else(|e| panic!("log of {path}: {e}"))
}

#[test]
fn warm_tasks_behave_exactly_as_fresh_processes() {
    let home = Home::new();
    let file = compile(home.path(), "behaviours", BEHAVIOURS);
    let (code, warm, err) = home.run(&file, &["--parallelism", "8"]);
    assert_eq!(code, 1, "{err}");
    let (code, cold, err) = home.run(&file, &["--parallelism", "8", "--no-warm"]);
    assert_eq!(code, 1, "{err}");
    for run in [&warm, &cold] {
        assert_eq!(run["state"], "FAILED", "{run}");
        for (path, tag) in [("inspect", "one"), ("inspect-2", "two")] {
            assert_eq!(state(run, path), "SUCCEEDED", "{path}: {run}");
            assert_eq!(
                output_param(run, path, "Output"),
                &Value::String(format!(
                    "2|{tag}|True|True|True|True|True|ephemeral_component|True|child says {tag}"
                )),
                "{path}"
            );
        }
        for path in ["exit-with", "fail-with", "exit-with-text"] {
            assert_eq!(state(run, path), "FAILED", "{path}: {run}");
        }
    }
    for path in [
        "inspect",
        "inspect-2",
        "exit-with",
        "fail-with",
        "exit-with-text",
    ] {
        let (w, c) = (task(&warm, path), task(&cold, path));
        assert_eq!(w["penstock"]["error"], c["penstock"]["error"], "{path}");
        assert_eq!(
            w["penstock"]["exit_code"], c["penstock"]["exit_code"],
            "{path}"
        );
        let (wl, cl) = (log_of(&home, &warm, path), log_of(&home, &cold, path));
        assert_eq!(user_lines(&wl), user_lines(&cl), "{path}:\n{wl}\n---\n{cl}");
        assert!(wl.contains("[penstock] warm start"), "{wl}");
        assert!(cl.contains("[penstock] cold start"), "{cl}");
    }
    let exit = log_of(&home, &warm, "exit-with");
    assert!(exit.contains("leaving with 3"), "{exit}");
    let raised = log_of(&home, &warm, "fail-with");
    assert!(raised.contains("ValueError: boom"), "{raised}");
    let text = log_of(&home, &warm, "exit-with-text");
    assert!(text.contains("a message instead of a code"), "{text}");
    let inspect = log_of(&home, &warm, "inspect");
    assert!(
        inspect.contains("to stdout a") && inspect.contains("to stderr a"),
        "{inspect}"
    );
    let message = task(&warm, "exit-with")["error"]["message"].to_string();
    assert!(message.contains("code 3"), "{message}");
}

const KILLED: &str = r#"
@dsl.component
def kill_server(n: int) -> int:
    import os, signal
    parent = os.getppid()
    with open(f"/proc/{parent}/cmdline", "rb") as f:
        if b"penstock-warm" in f.read():
            os.kill(parent, signal.SIGKILL)
    return n + 1

@dsl.component
def step(n: int) -> int:
    return n + 1

@dsl.pipeline(name="warm-killed")
def main():
    a = kill_server(n=0).set_caching_options(False)
    b = step(n=a.output).set_caching_options(False)
    c = step(n=b.output).set_caching_options(False)
"#;

#[test]
fn a_warm_interpreter_killed_from_outside_only_makes_tasks_start_cold() {
    let home = Home::new();
    let file = compile(home.path(), "killed", KILLED);
    let (code, run, err) = home.run(&file, &[]);
    assert_eq!(code, 0, "{err}\n{run}");
    assert_eq!(output_param(&run, "step-2", "Output"), 3);
    let killer = log_of(&home, &run, "kill-server");
    assert!(killer.contains("[penstock] warm start"), "{killer}");
    let next = log_of(&home, &run, "step");
    assert!(
        next.contains("[penstock] cold start: the warm interpreter is unavailable"),
        "{next}"
    );
    let last = log_of(&home, &run, "step-2");
    assert!(last.contains("[penstock] warm start"), "{last}");
}

const SLEEPER: &str = r#"
@dsl.component
def sleeper(marker: str):
    import os, subprocess, time
    subprocess.Popen(["sleep", "1000"])
    with open(marker + ".tmp", "w") as f:
        f.write(str(os.getpgid(0)))
    os.rename(marker + ".tmp", marker)
    while True:
        time.sleep(1)

@dsl.pipeline(name="warm-sleeper")
def main(marker: str):
    sleeper(marker=marker).set_caching_options(False)
"#;

/// Live (non-zombie) processes in the process group `group`.
fn group_alive(group: &str) -> bool {
    let out = Command::new("ps")
        .args(["-eo", "pgid=,stat="])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        let mut cols = l.split_whitespace();
        cols.next() == Some(group) && !cols.next().unwrap_or("Z").starts_with('Z')
    })
}

#[test]
fn cancelling_a_warm_task_kills_exactly_its_group() {
    let home = Home::new();
    let file = compile(home.path(), "sleeper", SLEEPER);
    for (i, extra) in [None, Some("--no-warm")].into_iter().enumerate() {
        let marker = home.path().join(format!("marker-{i}"));
        let param = format!("marker={}", marker.display());
        let mut args = vec!["run", file.to_str().expect("utf-8"), "-p", &param];
        args.extend(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_penstock"))
            .args(&args)
            .env("PENSTOCK_HOME", home.path())
            .env(
                "PENSTOCK_VENVS",
                crate::util::repo_root().join("target/penstock-test-venvs"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run penstock");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "the task never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        let group = std::fs::read_to_string(&marker).expect("marker");
        assert!(group_alive(&group));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("signal penstock");
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(130), "{extra:?}");
        assert!(!group_alive(&group), "{extra:?}: the task's group survived");
    }
}
