//! Lightweight Python components: recognises the SDK's `pip install` preamble and provides a
//! Penstock-managed virtual environment with those packages instead, created once per distinct
//! set of requirements and reused by every later task and run.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::process::Command;
use tokio::sync::Mutex;

/// Which `kfp` package the environments get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KfpRuntime {
    /// The version each component pins (`kfp==X` in its preamble).
    Pinned,
    /// This version instead of every pin. The executor protocol is stable across 2.x, and old
    /// pins (< 2.5) cannot address local artifact paths, so this is the default.
    Version(String),
}

/// The SDK's preamble, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipPreamble {
    /// The arguments of each `python3 -m pip install` in the preamble, in order.
    pub installs: Vec<Vec<String>>,
}

/// Recognises `sh -c "<pip install ...> && \"$0\" \"$@\"" <program...>` as the SDK emits it.
/// Returns the preamble and the index in `command` where the real program starts.
pub fn detect_preamble(command: &[String]) -> Option<(PipPreamble, usize)> {
    if command.len() < 4 || command[0] != "sh" || command[1] != "-c" {
        return None;
    }
    let script = &command[2];
    if !script.contains("pip install") || !script.trim_end().ends_with("\"$0\" \"$@\"") {
        return None;
    }
    let mut installs = Vec::new();
    for segment in script.split("&&") {
        let Some(at) = segment.find("pip install") else {
            continue;
        };
        let rest = &segment[at + "pip install".len()..];
        let words = shlex::split(rest)?;
        if !words.is_empty() {
            installs.push(words);
        }
    }
    if installs.is_empty() {
        return None;
    }
    Some((PipPreamble { installs }, 3))
}

impl PipPreamble {
    /// The install arguments with `kfp==X` replaced according to `runtime`.
    pub fn resolved(&self, runtime: &KfpRuntime) -> Vec<Vec<String>> {
        self.installs
            .iter()
            .map(|args| {
                args.iter()
                    .map(|a| match runtime {
                        KfpRuntime::Version(v) if a.starts_with("kfp==") => format!("kfp=={v}"),
                        _ => a.clone(),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Creates and reuses virtual environments under one folder.
#[derive(Debug, Clone)]
pub struct PythonEnvs {
    root: PathBuf,
    python: String,
    locks: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl PythonEnvs {
    /// Environments under `root`, created with the interpreter `python`.
    pub fn new(root: PathBuf, python: String) -> Self {
        PythonEnvs {
            root,
            python,
            locks: Arc::default(),
        }
    }

    /// The environment for `installs`, created on first use. Progress and pip output go to
    /// `log`. Returns the environment's folder.
    pub async fn ensure(&self, installs: &[Vec<String>], log: &Path) -> Result<PathBuf, String> {
        let mut hasher = Sha256::new();
        hasher.update(self.python.as_bytes());
        for args in installs {
            hasher.update(b"\n");
            hasher.update(args.join("\u{1f}").as_bytes());
        }
        let key = hex::encode(&hasher.finalize()[..8]);
        let dir = self.root.join(&key);
        let marker = dir.join(".penstock-ready");
        if marker.exists() {
            return Ok(dir);
        }
        let lock = {
            let mut locks = self.locks.lock().await;
            locks.entry(key.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if marker.exists() {
            return Ok(dir);
        }
        std::fs::create_dir_all(&self.root).map_err(|e| format!("{}: {e}", self.root.display()))?;
        // Serialise creation across processes too.
        let lock_path = self.root.join(format!("{key}.lock"));
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        let flock = tokio::task::spawn_blocking(move || {
            nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|(_, e)| format!("{}: {e}", lock_path.display()))?;
        if marker.exists() {
            drop(flock);
            return Ok(dir);
        }
        let _ = std::fs::remove_dir_all(&dir);
        note(
            log,
            &format!(
                "[penstock] creating Python environment {} for {:?}",
                dir.display(),
                installs
            ),
        );
        run_logged(
            Command::new(&self.python).arg("-m").arg("venv").arg(&dir),
            log,
        )
        .await
        .map_err(|e| {
            format!(
                "cannot create a virtual environment with {}: {e}",
                self.python
            )
        })?;
        for args in installs {
            let mut cmd = Command::new(dir.join("bin").join("python"));
            cmd.args(["-m", "pip", "install", "--disable-pip-version-check"])
                .args(args);
            if let Err(e) = run_logged(&mut cmd, log).await {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "cannot install the component's Python packages ({}): {e}",
                    args.join(" ")
                ));
            }
        }
        std::fs::write(&marker, format!("{installs:?}\n"))
            .map_err(|e| format!("{}: {e}", marker.display()))?;
        drop(flock);
        Ok(dir)
    }
}

fn note(log: &Path, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{line}");
    }
}

async fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .status()
        .await
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("exited with {status} (see the task log)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_sdk_preamble() {
        let script = "\nif ! [ -x \"$(command -v pip)\" ]; then\n    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip\nfi\n\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location 'numpy' && PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location 'kfp==2.14.3' '--no-deps' 'typing-extensions>=3.7.4,<5; python_version<\"3.9\"' && \"$0\" \"$@\"\n";
        let command: Vec<String> = ["sh", "-c", script, "sh", "-ec", "program"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (pre, start) = detect_preamble(&command).unwrap();
        assert_eq!(start, 3);
        assert_eq!(pre.installs.len(), 2);
        assert_eq!(
            pre.installs[0],
            vec!["--quiet", "--no-warn-script-location", "numpy"]
        );
        assert_eq!(pre.installs[1][2], "kfp==2.14.3");
        assert_eq!(
            pre.installs[1][4],
            "typing-extensions>=3.7.4,<5; python_version<\"3.9\""
        );
        let resolved = pre.resolved(&KfpRuntime::Version("2.16.1".into()));
        assert_eq!(resolved[1][2], "kfp==2.16.1");
        assert_eq!(pre.resolved(&KfpRuntime::Pinned)[1][2], "kfp==2.14.3");
        let plain: Vec<String> = ["sh", "-c", "echo hi"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(detect_preamble(&plain).is_none());
    }
}
