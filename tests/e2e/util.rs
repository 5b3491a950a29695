//! Test harness: locating the SDK, compiling examples, running `penstock`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// `../shared` beside the checkout (the conformance corpora); a test that needs it and does
/// not find it fails with one line saying what is missing and where, and the other tests run on
/// (`scripts/test` uses `--no-fail-fast`).
pub fn shared_dir() -> PathBuf {
    let dir = repo_root().join("../shared");
    assert!(
        dir.join("conformance/MANIFEST.tsv").is_file(),
        "the shared conformance corpus is missing: expected {} (the `shared/` folder beside the \
         checkout; see README \"Running the tests\")",
        dir.join("conformance/MANIFEST.tsv").display()
    );
    dir
}

/// A PostgreSQL server of its own for one test, from the machine's server binaries (run as the
/// `postgres` user, on a free loopback port); stopped with `pg_ctl stop -m fast` when dropped,
/// also when the test fails. A machine without PostgreSQL fails the test, never skips it.
pub fn start_postgres() -> penstock_store::testing::TestPostgres {
    penstock_store::testing::TestPostgres::start()
        .unwrap_or_else(|e| panic!("this test needs a PostgreSQL server: {e}"))
}

/// The Python interpreter with `kfp==2.16.1`, checked once.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python = std::env::var_os("PENSTOCK_TEST_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
            let out = Command::new(&python)
                .args(["-c", "import kfp; print(kfp.__version__)"])
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}): run .ci/run, or create .venv with kfp==2.16.1",
                        python.display()
                    )
                });
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(
                version,
                "2.16.1",
                "{} must have kfp==2.16.1 installed (stderr: {})",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            python
        })
        .clone()
}

/// Compiles `examples/<name>.py` into `dir/<name>.yaml` with the real SDK.
pub fn compile_example(name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{name}.yaml"));
    let status = Command::new(python())
        .arg(repo_root().join("examples").join(format!("{name}.py")))
        .arg(&out)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run the SDK compiler");
    assert!(
        status.status.success(),
        "compiling {name}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

/// A fresh `PENSTOCK_HOME` sharing one folder of Python environments across tests.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn penstock(&self, args: &[&str]) -> Output {
        let venvs = repo_root().join("target/penstock-test-venvs");
        Command::new(env!("CARGO_BIN_EXE_penstock"))
            .args(args)
            .env("PENSTOCK_HOME", self.path())
            .env("PENSTOCK_VENVS", venvs)
            .output()
            .expect("run penstock")
    }

    /// `penstock run FILE ARGS -o json`; returns the exit code and the run JSON (Null when
    /// nothing was printed).
    pub fn run(&self, file: &Path, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["run", file.to_str().expect("utf-8 path"), "-o", "json"];
        all.extend_from_slice(args);
        let out = self.penstock(&all);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        if matches!(
            json["state"].as_str(),
            Some("SUCCEEDED" | "FAILED" | "CANCELED")
        ) {
            crate::semantics::assert_no_unfinished_tasks(&json);
        }
        (out.status.code().unwrap_or(-1), json, stderr)
    }
}

/// The task detail whose Penstock path is `path`.
pub fn task<'a>(run: &'a Value, path: &str) -> &'a Value {
    run["run_details"]["task_details"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["penstock"]["path"] == path))
        .unwrap_or_else(|| panic!("no task {path} in {}", run["run_details"]))
}

/// Penstock's own state of a task (SUCCEEDED, CACHED, SKIPPED, …).
pub fn state(run: &Value, path: &str) -> String {
    task(run, path)["penstock"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn output_param<'a>(run: &'a Value, path: &str, name: &str) -> &'a Value {
    &task(run, path)["penstock"]["outputs"]["parameters"][name]
}

/// The Python interpreter with the KFP v1 SDK (`kfp==1.8.22`), from `PENSTOCK_TEST_PYTHON_V1`
/// (`scripts/kfp1-venv` creates `.venv-kfp1` and prints the line to export), checked once.
/// Fails loudly when it is unset or wrong: the v1 tests never skip.
pub fn python_v1() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python = std::env::var_os("PENSTOCK_TEST_PYTHON_V1")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    panic!(
                        "PENSTOCK_TEST_PYTHON_V1 is not set: run scripts/kfp1-venv and export \
                         PENSTOCK_TEST_PYTHON_V1=$PWD/.venv-kfp1/bin/python"
                    )
                });
            let out = Command::new(&python)
                .args(["-c", "import kfp; print(kfp.__version__)"])
                .env("PYTHONWARNINGS", "ignore")
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run PENSTOCK_TEST_PYTHON_V1={} ({e}): run scripts/kfp1-venv",
                        python.display()
                    )
                });
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(
                version,
                "1.8.22",
                "PENSTOCK_TEST_PYTHON_V1={} must have kfp==1.8.22 installed (stderr: {})",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            python
        })
        .clone()
}
