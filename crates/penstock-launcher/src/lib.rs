//! # penstock-launcher
//!
//! Runs one attempt of one container task on the local machine: builds the executor input
//! (`{{$}}`), substitutes every placeholder, starts the command in its own process group with
//! its own working and temporary folders under `PENSTOCK_HOME`, captures stdout and stderr to a
//! size-capped log, reads the outputs back (output parameter files and `executor_output.json`)
//! and kills the whole process group on cancellation.
//!
//! [`container::TaskContainer`] is the one description of what a task runs (image, command,
//! env, mounts, resources, labels); [`LocalLauncher`] renders it as a process on the host (the
//! image is not used) and, with the `docker` feature, `docker::DockerLauncher` as a container
//! from the task's image. Locally, lightweight Python components get a Penstock-managed virtual
//! environment in place of the SDK's `pip install` preamble ([`python_env`]), so the user's own
//! Python is never modified.
//!
//! ```no_run
//! use penstock_launcher::{LocalLauncher, LauncherConfig};
//! let launcher = LocalLauncher::new(LauncherConfig::new("/tmp/penstock-home".into()));
//! ```
#![deny(missing_docs)]

pub mod container;
#[cfg(feature = "docker")]
pub mod docker;
pub mod metrics;
pub mod private_tmp;
pub mod python_env;
pub mod reaper;
pub mod render;
pub mod staging;
mod v1_metrics;
pub mod warm;

use async_trait::async_trait;
use container::TaskContainer;
use penstock_engine::params::{coerce_value, parse_output_file};
use penstock_engine::{
    ArtifactMap, LaunchOutcome, LaunchRequest, ParameterMap, ReadySignal, RuntimeArtifact,
    TaskLauncher,
};
use python_env::{detect_preamble, KfpRuntime, PythonEnvs};
use render::TaskPaths;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Settings of the local launcher.
#[derive(Debug, Clone)]
pub struct LauncherConfig {
    /// `PENSTOCK_HOME`: runs, artifacts, logs and Python environments live under it.
    pub home: PathBuf,
    /// The interpreter used to create virtual environments.
    pub python: String,
    /// Which `kfp` package lightweight components get.
    pub kfp_runtime: KfpRuntime,
    /// Bytes of output kept per task log; the rest is counted and dropped.
    pub log_cap_bytes: u64,
    /// Where Python environments are kept (default `PENSTOCK_HOME/venvs`); several homes may
    /// share one folder.
    pub venvs_dir: Option<PathBuf>,
    /// Start lightweight Python components from warm interpreters ([`warm`]); off with
    /// `--no-warm`.
    pub warm: bool,
}

/// Which launcher runs container tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LauncherKind {
    /// Processes on this machine (the default).
    #[default]
    Local,
    /// A container per task from the task's image (the `docker` module).
    Docker,
}

impl LauncherKind {
    /// The name `--launcher` takes.
    pub fn name(self) -> &'static str {
        match self {
            LauncherKind::Local => "local",
            LauncherKind::Docker => "docker",
        }
    }
}

/// Settings of the Docker launcher beyond [`LauncherConfig`].
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    /// The network containers join (`--docker-network`); the daemon's default when `None`.
    pub network: Option<String>,
    /// Also print image pull progress on standard error (the CLI; a server keeps it in the
    /// task's log only).
    pub pull_progress_on_stderr: bool,
}

/// Builds the launcher of `kind`, wrapped in [`staging::StagingLauncher`] so that artifacts in
/// an object store are fetched and uploaded around its tasks. The Docker launcher connects to
/// its daemon here, so a missing daemon is reported before any run starts.
pub async fn open_launcher(
    kind: LauncherKind,
    config: LauncherConfig,
    docker: DockerConfig,
) -> Result<Arc<dyn TaskLauncher>, String> {
    let home = config.home.clone();
    let inner: Arc<dyn TaskLauncher> = match kind {
        LauncherKind::Local => Arc::new(LocalLauncher::new(config)),
        #[cfg(feature = "docker")]
        LauncherKind::Docker => Arc::new(docker::DockerLauncher::connect(config, docker).await?),
        #[cfg(not(feature = "docker"))]
        LauncherKind::Docker => {
            let _ = (config, docker);
            return Err(
                "this penstock was built without the Docker launcher (cargo feature `docker`)"
                    .into(),
            );
        }
    };
    // Object-store artifacts are staged around whichever launcher runs the task.
    Ok(Arc::new(staging::StagingLauncher::new(inner, home)))
}

/// The `kfp` version Penstock is tested against, used for lightweight components by default.
pub const DEFAULT_KFP_RUNTIME: &str = "2.16.1";

impl LauncherConfig {
    /// Defaults: `python3`, `kfp==2.16.1` for lightweight components, 64 MiB logs.
    pub fn new(home: PathBuf) -> Self {
        LauncherConfig {
            home,
            python: "python3".into(),
            kfp_runtime: KfpRuntime::Version(DEFAULT_KFP_RUNTIME.into()),
            log_cap_bytes: 64 << 20,
            venvs_dir: None,
            warm: true,
        }
    }
}

/// Runs container tasks as local processes.
#[derive(Debug, Clone)]
pub struct LocalLauncher {
    config: LauncherConfig,
    envs: PythonEnvs,
    warm: warm::WarmPool,
}

/// Replaces characters that are unsafe in file names; keeps the DAG path's `/` as folders.
fn safe_path(task_path: &str) -> String {
    task_path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.[]/".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .replace("..", "__")
}

impl LocalLauncher {
    /// A launcher with `config`.
    pub fn new(config: LauncherConfig) -> Self {
        let venvs = config
            .venvs_dir
            .clone()
            .unwrap_or_else(|| config.home.join("venvs"));
        let envs = PythonEnvs::new(venvs, config.python.clone());
        LocalLauncher {
            config,
            envs,
            warm: warm::WarmPool::default(),
        }
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.config.home.join("runs").join(run_id)
    }

    /// The log file of a task.
    pub fn log_path(&self, run_id: &str, task_path: &str) -> PathBuf {
        self.run_dir(run_id)
            .join("logs")
            .join(format!("{}.log", safe_path(task_path)))
    }

    /// An attempt's folder: `tasks/<path>@attempt-N`, one level rather than `<path>/attempt-N`
    /// (each new folder costs an inode; `@` never occurs in a [`safe_path`], so no task's
    /// folder can be another's attempt).
    fn paths(&self, request: &LaunchRequest) -> TaskPaths {
        let dir = self.run_dir(&request.run_id).join("tasks").join(format!(
            "{}@attempt-{}",
            safe_path(&request.task_path),
            request.attempt
        ));
        TaskPaths {
            work_dir: dir.join("work"),
            tmp_dir: dir.join("tmp"),
            parameters_dir: dir.join("outputs").join("parameters"),
            executor_output: dir.join("outputs").join("executor_output.json"),
            workspace: self.run_dir(&request.run_id).join("workspace"),
        }
    }
}

/// Checks the task's Kubernetes platform configuration: scheduling hints are ignored locally;
/// required secrets, config maps, volumes and field paths cannot be provided and fail the task.
fn check_platform(config: &Value) -> Result<(), String> {
    let Some(map) = config.as_object() else {
        return Ok(());
    };
    for (key, value) in map {
        let what = match key.as_str() {
            "secretAsEnv" | "secretAsVolume" => "Kubernetes secret",
            "configMapAsEnv" | "configMapAsVolume" => "Kubernetes config map",
            "pvcMount" => "Kubernetes persistent volume claim",
            "fieldPathAsEnv" => "Kubernetes pod field path",
            // Scheduling hints, pod metadata and ephemeral volumes have no local meaning.
            _ => continue,
        };
        let entries = value.as_array().cloned().unwrap_or_default();
        for entry in entries {
            if entry.get("optional").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = entry
                .get("secretName")
                .or_else(|| entry.get("configMapName"))
                .or_else(|| entry.get("constant"))
                .or_else(|| entry.get("fieldPath"))
                .or_else(|| entry.get("taskOutputParameter"))
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(from a parameter)".into());
            return Err(format!(
                "the task needs {what} {name} ({key}); the local launcher cannot provide Kubernetes resources — run it on Kubernetes, or mark it optional"
            ));
        }
    }
    Ok(())
}

pub(crate) struct CappedLog {
    file: Mutex<std::fs::File>,
    written: AtomicU64,
    cap: u64,
}

impl CappedLog {
    fn write(&self, bytes: &[u8]) {
        let before = self.written.fetch_add(bytes.len() as u64, Ordering::SeqCst);
        if before >= self.cap {
            return;
        }
        let keep = ((self.cap - before) as usize).min(bytes.len());
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(&bytes[..keep]);
            if keep < bytes.len() {
                let _ = writeln!(
                    f,
                    "\n[penstock] log truncated: more than {} bytes",
                    self.cap
                );
            }
        }
    }
}

/// Reads the task's metric lines every 250 ms until `stop`, then once more, reporting bad
/// lines in the task's log.
async fn follow_metrics(
    mut tail: metrics::MetricsTail,
    log: Arc<CappedLog>,
    stop: CancellationToken,
) {
    loop {
        let stopped = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(Duration::from_millis(250)) => false,
        };
        let now = jiff::Timestamp::now().to_string();
        for problem in tail.poll(&now, stopped) {
            log.write(format!("[penstock] {problem}\n").as_bytes());
        }
        if stopped {
            return;
        }
    }
}

/// Copies one output stream of a task into its log, whole lines at a time, so that lines of
/// stdout and stderr (two pipes read side by side) never mix inside one line. A line longer than
/// the buffer, or a partial line the task leaves unfinished for 200 ms (a progress counter, a
/// prompt), is written as it is, so the log stays live.
async fn pump(mut reader: impl tokio::io::AsyncRead + Unpin, log: Arc<CappedLog>) {
    const MAX_PENDING: usize = 64 * 1024;
    const PARTIAL_LINE_WAIT: Duration = Duration::from_millis(200);
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let read = if pending.is_empty() {
            reader.read(&mut buf).await
        } else {
            match tokio::time::timeout(PARTIAL_LINE_WAIT, reader.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => {
                    log.write(&pending);
                    pending.clear();
                    continue;
                }
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                match pending.iter().rposition(|b| *b == b'\n') {
                    Some(end) => {
                        log.write(&pending[..=end]);
                        pending.drain(..=end);
                    }
                    None if pending.len() >= MAX_PENDING => {
                        log.write(&pending);
                        pending.clear();
                    }
                    None => {}
                }
            }
        }
    }
    if !pending.is_empty() {
        log.write(&pending);
    }
}

fn kill_group(pid: Option<u32>, signal: nix::sys::signal::Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    }
}

pub(crate) fn failed(message: String) -> LaunchOutcome {
    LaunchOutcome::Failed {
        message,
        exit_code: None,
    }
}

/// How a task's process ended.
pub(crate) enum ExitKind {
    Code(i32),
    Signal(i32),
}

/// What running a task's process came to.
pub(crate) enum Ended {
    Exited(ExitKind),
    Canceled,
    Failed(String),
}

/// Waits until the warm child has ended (or its report is lost).
async fn warm_end(child: &mut warm::WarmChild) -> Option<ExitKind> {
    loop {
        match child.next().await {
            warm::Event::Pid(_) => continue,
            warm::Event::Exit(c) => return Some(ExitKind::Code(c)),
            warm::Event::Signal(s) => return Some(ExitKind::Signal(s)),
            warm::Event::Error(_) | warm::Event::Lost => return None,
        }
    }
}

fn process_alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .is_some_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
}

impl LocalLauncher {
    /// Starts `argv` as a new process in its own group and waits for it; with `private`, in a
    /// private mount namespace with its own `/tmp`.
    #[allow(clippy::too_many_arguments)]
    async fn run_cold(
        &self,
        program: &str,
        argv: &[String],
        overrides: &[(String, String)],
        paths: &TaskPaths,
        log: &Arc<CappedLog>,
        cancel: &CancellationToken,
        private: Option<Arc<private_tmp::PrivateTmp>>,
    ) -> Ended {
        let mut cmd = Command::new(program);
        cmd.args(&argv[1..])
            .current_dir(&paths.work_dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in overrides {
            cmd.env(k, v);
        }
        if let Some(private) = &private {
            let private = private.clone();
            let mut fds = vec![-1; private.kept()];
            // SAFETY: `enter` only makes system calls on data prepared before fork.
            unsafe {
                cmd.pre_exec(move || private.enter(&mut fds));
            }
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            // The namespace's explanation only when its setup failed (not exec: a missing
            // program is told as such).
            Err(e) => match &private {
                Some(p) if p.setup_failed() => {
                    return Ended::Failed(private_tmp::setup_error(&p.fixed, &e))
                }
                _ => return Ended::Failed(format!("cannot start `{program}`: {e}")),
            },
        };
        let pid = child.id();
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(out, log.clone())));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(err, log.clone())));
        }
        let status = tokio::select! {
            status = child.wait() => Some(status),
            _ = cancel.cancelled() => None,
        };
        let Some(status) = status else {
            kill_group(pid, nix::sys::signal::Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_millis(800), child.wait())
                .await
                .is_err()
            {
                kill_group(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait().await;
            }
            kill_group(pid, nix::sys::signal::Signal::SIGKILL);
            for p in pumps {
                p.abort();
            }
            return Ended::Canceled;
        };
        // Leftover background processes of the task die with it.
        kill_group(pid, nix::sys::signal::Signal::SIGKILL);
        for p in pumps {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
        match status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                Ended::Exited(match s.code() {
                    Some(code) => ExitKind::Code(code),
                    None => ExitKind::Signal(s.signal().unwrap_or(0)),
                })
            }
            Err(e) => Ended::Failed(format!("waiting for `{program}`: {e}")),
        }
    }

    /// Starts a lightweight component from the warm interpreter of `venv` and waits for it.
    /// An error says why it could not start (nothing of the task ran: run it cold).
    async fn run_warm(
        &self,
        venv: &Path,
        lightweight: &warm::Lightweight,
        overrides: &[(String, String)],
        paths: &TaskPaths,
        log: &Arc<CappedLog>,
        cancel: &CancellationToken,
    ) -> Result<Ended, String> {
        let mut env = std::collections::HashMap::new();
        for (k, v) in std::env::vars_os() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
                return Err("Penstock's environment has a variable that is not UTF-8".into());
            };
            env.insert(k.to_string(), v.to_string());
        }
        for (k, v) in overrides {
            env.insert(k.clone(), v.clone());
        }
        let base_env: Vec<(String, String)> = overrides
            .iter()
            .filter(|(k, _)| matches!(k.as_str(), "PATH" | "VIRTUAL_ENV" | "PYTHONUNBUFFERED"))
            .cloned()
            .collect();
        let io = |e: std::io::Error| format!("cannot set up the task's output: {e}");
        let stdin: std::os::fd::OwnedFd = std::fs::File::open("/dev/null").map_err(io)?.into();
        let (out_r, out_w) = warm::pipe().map_err(io)?;
        let (err_r, err_w) = warm::pipe().map_err(io)?;
        let out_r = warm::pipe_reader(out_r).map_err(io)?;
        let err_r = warm::pipe_reader(err_r).map_err(io)?;
        let task = warm::WarmTask {
            cwd: &paths.work_dir,
            env,
            source: &lightweight.source,
            args: &lightweight.args,
        };
        let mut child = self
            .warm
            .start(venv, &base_env, &task, [stdin, out_w, err_w])
            .await?;
        log.write(
            format!(
                "[penstock] warm start: forked by the warm interpreter (pid {}) of {}\n",
                child.server_pid,
                venv.display()
            )
            .as_bytes(),
        );
        let pumps = [
            tokio::spawn(pump(out_r, log.clone())),
            tokio::spawn(pump(err_r, log.clone())),
        ];
        let mut pid: Option<u32> = None;
        let status = loop {
            let event = tokio::select! {
                event = child.next() => event,
                _ = cancel.cancelled() => break None,
            };
            match event {
                warm::Event::Pid(p) => pid = Some(p),
                warm::Event::Exit(c) => break Some(Some(ExitKind::Code(c))),
                warm::Event::Signal(s) => break Some(Some(ExitKind::Signal(s))),
                warm::Event::Error(e) => {
                    kill_group(pid, nix::sys::signal::Signal::SIGKILL);
                    for p in pumps {
                        p.abort();
                    }
                    return Err(format!("it could not start the task: {e}"));
                }
                warm::Event::Lost if pid.is_none() => {
                    for p in pumps {
                        p.abort();
                    }
                    return Err("it closed the connection before starting the task".into());
                }
                warm::Event::Lost => break Some(None),
            }
        };
        let Some(status) = status else {
            // Cancelled: make sure the pid is known, then kill the group as for a cold task.
            if pid.is_none() {
                let wait_pid = async {
                    match child.next().await {
                        warm::Event::Pid(p) => Some(p),
                        _ => None,
                    }
                };
                pid = tokio::time::timeout(Duration::from_secs(2), wait_pid)
                    .await
                    .ok()
                    .flatten();
            }
            kill_group(pid, nix::sys::signal::Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_millis(800), warm_end(&mut child))
                .await
                .is_err()
            {
                kill_group(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = tokio::time::timeout(Duration::from_secs(2), warm_end(&mut child)).await;
            }
            kill_group(pid, nix::sys::signal::Signal::SIGKILL);
            for p in pumps {
                p.abort();
            }
            return Ok(Ended::Canceled);
        };
        let status = match status {
            Some(s) => s,
            None => {
                // The warm interpreter died and the task did not report: wait for it to end.
                while pid.is_some_and(process_alive) {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = cancel.cancelled() => {
                            kill_group(pid, nix::sys::signal::Signal::SIGKILL);
                            for p in pumps {
                                p.abort();
                            }
                            return Ok(Ended::Canceled);
                        }
                    }
                }
                kill_group(pid, nix::sys::signal::Signal::SIGKILL);
                for p in pumps {
                    let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
                }
                return Ok(Ended::Failed(format!(
                    "the task's process ({}) ended, but its exit status was lost with its warm interpreter",
                    pid.unwrap_or(0)
                )));
            }
        };
        // Leftover background processes of the task die with it.
        kill_group(pid, nix::sys::signal::Signal::SIGKILL);
        for p in pumps {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
        Ok(Ended::Exited(status))
    }
}

/// What every launcher sets up before it starts an attempt: the attempt's folders, its log,
/// the container to run and the metrics file follower.
pub(crate) struct AttemptSetup {
    paths: TaskPaths,
    log_path: PathBuf,
    log: Arc<CappedLog>,
    metrics_file: PathBuf,
    container: TaskContainer,
    stop_tail: CancellationToken,
    tailing: tokio::task::JoinHandle<()>,
}

impl AttemptSetup {
    /// Stops following the metrics file (after reading it one last time).
    async fn stop_metrics(&mut self) {
        self.stop_tail.cancel();
        let _ = (&mut self.tailing).await;
    }
}

impl LocalLauncher {
    /// Creates the attempt's folders and log, builds its container and starts following its
    /// metrics file. `in_container`: the metrics file exists from the start (it is mounted),
    /// else the task creates it if it logs a metric.
    pub(crate) fn setup(
        &self,
        request: &LaunchRequest,
        in_container: bool,
    ) -> Result<AttemptSetup, String> {
        let paths = self.paths(request);
        let log_path = self.log_path(&request.run_id, &request.task_path);
        // The parameters' folder only where the component has output parameters: most tasks
        // have none, and every new folder costs an inode.
        let parameters = !request.component.output_definitions.parameters.is_empty();
        // The executor output's folder where something may be written to it: a component
        // with outputs, a command or environment with placeholders (`{{$.outputs.output_file}}`,
        // or `{{$}}` whose `outputFile` a program may write without creating its folder), and
        // every container (the folder is mounted). A plain command such as `true` gets none.
        let placeholders = request
            .container
            .command
            .iter()
            .chain(&request.container.args)
            .any(|item| match item {
                penstock_spec::CommandLineItem::Text(text) => text.contains("{{$"),
                penstock_spec::CommandLineItem::Other(_) => true,
            })
            || request
                .container
                .env
                .iter()
                .any(|var| var.value.contains("{{$"));
        let outputs = (in_container
            || parameters
            || placeholders
            || !request.component.output_definitions.artifacts.is_empty())
        .then(|| paths.executor_output.parent())
        .flatten();
        for dir in [
            Some(paths.work_dir.as_path()),
            Some(paths.tmp_dir.as_path()),
            outputs,
            parameters.then_some(paths.parameters_dir.as_path()),
            Some(paths.workspace.as_path()),
        ]
        .into_iter()
        .flatten()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        for a in request.output_artifacts.values() {
            if let Some(parent) = Path::new(&a.uri).parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
        }
        if let Some(config) = &request.platform_config {
            check_platform(config)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        // One write: an unbuffered `writeln!` makes one system call per piece.
        let header = format!(
            "[penstock] attempt {} of task {}\n",
            request.attempt, request.task_path
        );
        let _ = file.write_all(header.as_bytes());
        let log = Arc::new(CappedLog {
            file: Mutex::new(file),
            written: AtomicU64::new(0),
            cap: self.config.log_cap_bytes,
        });
        let metrics_raw =
            metrics::metrics_file(&self.config.home, &request.run_id, &request.task_path);
        let tail = metrics::MetricsTail::start(
            metrics_raw.clone(),
            metrics::points_file(&self.config.home, &request.run_id, &request.task_path),
            in_container,
        )
        .map_err(|e| format!("{}: {e}", metrics_raw.display()))?;
        let container = TaskContainer::build(request, &paths, &metrics_raw)?;
        let stop_tail = CancellationToken::new();
        let tailing = tokio::spawn(follow_metrics(tail, log.clone(), stop_tail.clone()));
        Ok(AttemptSetup {
            paths,
            log_path,
            log,
            metrics_file: metrics_raw,
            container,
            stop_tail,
            tailing,
        })
    }

    /// One attempt; with `ready`, prepared while the engine records it (and waits for a task
    /// slot), and started once it may.
    async fn attempt(
        &self,
        request: &LaunchRequest,
        cancel: CancellationToken,
        ready: Option<ReadySignal>,
    ) -> LaunchOutcome {
        if ready.is_some() {
            // The engine's record was just handed to the store's writer, woken on this
            // thread: let it send its first statement before the folders are made here.
            tokio::task::yield_now().await;
        }
        let mut setup = match self.setup(request, false) {
            Ok(s) => s,
            Err(message) => return failed(message),
        };
        if let Some(ready) = ready {
            if !ready.await {
                setup.stop_metrics().await;
                return LaunchOutcome::Canceled;
            }
        }
        let ended = self.run_local(request, &setup, &cancel).await;
        setup.stop_metrics().await;
        let (ended, program) = match ended {
            Ok(done) => done,
            Err(message) => return failed(message),
        };
        let resolver = CustomPaths::relative_to(&setup.paths.work_dir);
        conclude(request, &setup, ended, &program, resolver).await
    }

    /// Runs the attempt's container as a process on the host: the pip preamble of lightweight
    /// components becomes a managed virtual environment, and those start from a warm
    /// interpreter when they can. Returns how it ended and the program's name.
    async fn run_local(
        &self,
        request: &LaunchRequest,
        setup: &AttemptSetup,
        cancel: &CancellationToken,
    ) -> Result<(Ended, String), String> {
        let (paths, log, container) = (&setup.paths, &setup.log, &setup.container);
        let log_path = &setup.log_path;
        let mut argv = container.argv();
        let mut venv: Option<PathBuf> = None;
        if let Some((preamble, start)) = detect_preamble(&argv) {
            venv = Some(
                self.envs
                    .ensure(&preamble.resolved(&self.config.kfp_runtime), log_path)
                    .await?,
            );
            argv.drain(..start);
        }
        let Some(program) = argv.first().cloned() else {
            return Err(format!(
                "the container has no command: image '{}' is a platform step that only Kubernetes can run",
                container.image
            ));
        };
        let env = &container.env;
        // The task's environment on top of Penstock's, in order (later entries win).
        let mut overrides: Vec<(String, String)> = vec![
            ("TMPDIR".into(), paths.tmp_dir.display().to_string()),
            ("PYTHONUNBUFFERED".into(), "1".into()),
            ("PENSTOCK_RUN_ID".into(), request.run_id.clone()),
            ("PENSTOCK_TASK_ID".into(), request.task_id.clone()),
            // Finds this task's processes if this process dies (see `reaper`).
            (
                reaper::SUPERVISOR_ENV.into(),
                std::process::id().to_string(),
            ),
        ];
        if let Some(dir) = &venv {
            let path = std::env::var("PATH").unwrap_or_default();
            overrides.push((
                "PATH".into(),
                format!("{}:{path}", dir.join("bin").display()),
            ));
            overrides.push(("VIRTUAL_ENV".into(), dir.display().to_string()));
        }
        overrides.extend(env.iter().cloned());
        overrides.push((
            "PENSTOCK_METRICS_FILE".into(),
            setup.metrics_file.display().to_string(),
        ));
        let private = self.private_tmp(container, venv.as_deref(), paths)?;
        if let (Some(dir), Some(lightweight)) = (&venv, warm::detect_lightweight(&argv)) {
            let interfering = env
                .iter()
                .map(|(k, _)| k.as_str())
                .find(|k| warm::affects_interpreter(k));
            if !self.config.warm {
                log.write(b"[penstock] cold start: warm interpreters are off (--no-warm)\n");
            } else if private.is_some() {
                log.write(b"[penstock] cold start: the task needs a private /tmp (fixed paths)\n");
            } else if let Some(name) = interfering {
                log.write(
                    format!("[penstock] cold start: the task sets {name}, which changes how Python starts\n")
                        .as_bytes(),
                );
            } else {
                match self
                    .run_warm(dir, &lightweight, &overrides, paths, log, cancel)
                    .await
                {
                    Ok(e) => return Ok((e, program)),
                    Err(reason) => log.write(
                        format!("[penstock] cold start: the warm interpreter is unavailable: {reason}\n")
                            .as_bytes(),
                    ),
                }
            }
        }
        let ended = self
            .run_cold(&program, &argv, &overrides, paths, log, cancel, private)
            .await;
        Ok((ended, program))
    }

    /// The private `/tmp` of a task whose environment lists fixed paths ([`private_tmp`]):
    /// the folders under the host's `/tmp` it needs (its mounts, `PENSTOCK_HOME`, the Python
    /// environments, `PATH`) are shown in it again.
    fn private_tmp(
        &self,
        container: &TaskContainer,
        venv: Option<&Path>,
        paths: &TaskPaths,
    ) -> Result<Option<Arc<private_tmp::PrivateTmp>>, String> {
        let fixed = private_tmp::fixed_paths(&container.env);
        if fixed.is_empty() {
            return Ok(None);
        }
        let mut keep: Vec<PathBuf> = container.mounts.iter().map(|m| m.host.clone()).collect();
        keep.push(self.config.home.clone());
        keep.extend(self.config.venvs_dir.clone());
        keep.extend(venv.map(Path::to_path_buf));
        keep.extend(
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths),
        );
        keep.extend([paths.work_dir.clone(), paths.tmp_dir.clone()]);
        private_tmp::PrivateTmp::plan(fixed, &keep, &paths.work_dir).map(|p| Some(Arc::new(p)))
    }
}

/// Turns how the task's process ended into the attempt's outcome, reading its outputs when it
/// succeeded. `program` names it in messages.
pub(crate) async fn conclude(
    request: &LaunchRequest,
    setup: &AttemptSetup,
    ended: Ended,
    program: &str,
    custom_paths: CustomPaths,
) -> LaunchOutcome {
    let log = &setup.log;
    let status = match ended {
        Ended::Canceled => {
            log.write(b"[penstock] cancelled: process group killed\n");
            return LaunchOutcome::Canceled;
        }
        Ended::Failed(message) => return failed(message),
        Ended::Exited(status) => status,
    };
    match status {
        ExitKind::Code(0) => {}
        ExitKind::Code(code) => {
            return LaunchOutcome::Failed {
                message: format!("`{program}` exited with code {code}"),
                exit_code: Some(code),
            }
        }
        ExitKind::Signal(signal) => {
            return failed(format!("`{program}` was killed by signal {signal}"))
        }
    }
    // Reading output artifacts may copy large files (custom paths): off the async threads.
    // A few small output files are read here (a hand-over to a blocking thread costs more than
    // reading them).
    let read = if outputs_are_small(request, &setup.paths) {
        Ok(read_outputs(request, &setup.paths, &custom_paths))
    } else {
        let (owned_request, owned_paths) = (request.clone(), setup.paths.clone());
        tokio::task::spawn_blocking(move || {
            read_outputs(&owned_request, &owned_paths, &custom_paths)
        })
        .await
    };
    match read {
        Ok(Ok(outputs)) => {
            for note in &outputs.notes {
                log.write(format!("[penstock] {note}\n").as_bytes());
            }
            LaunchOutcome::Succeeded {
                parameters: outputs.parameters,
                artifacts: outputs.artifacts,
            }
        }
        Ok(Err(message)) => failed(message),
        Err(e) => failed(format!("reading the task's outputs: {e}")),
    }
}

/// The most bytes of an output file read on an async thread.
const SMALL_OUTPUT: u64 = 64 * 1024;

/// Whether a task's outputs may be read on an async thread: it has no output artifacts (whose
/// reading may copy large files), and its output parameter files and executor output, where
/// they exist, are regular files of at most [`SMALL_OUTPUT`] bytes (a task could leave a FIFO
/// there, whose reading would block the thread).
fn outputs_are_small(request: &LaunchRequest, paths: &TaskPaths) -> bool {
    let small = |path: &Path| match std::fs::metadata(path) {
        Ok(meta) => meta.is_file() && meta.len() <= SMALL_OUTPUT,
        Err(_) => true,
    };
    request.output_artifacts.is_empty()
        && small(&paths.executor_output)
        && request
            .component
            .output_definitions
            .parameters
            .keys()
            .all(|name| small(&paths.parameter_file(name)))
}

/// Where the paths a component gives to `set_path` are found on this machine.
#[derive(Debug, Clone, Default)]
pub(crate) struct CustomPaths {
    /// Relative paths are relative to this folder.
    base: PathBuf,
    /// Paths fetched from elsewhere (a container), by the path the component gave.
    fetched: std::collections::BTreeMap<String, PathBuf>,
}

impl CustomPaths {
    /// Paths as a process on this machine sees them, relative ones from `work_dir`.
    pub(crate) fn relative_to(work_dir: &Path) -> Self {
        CustomPaths {
            base: work_dir.to_path_buf(),
            fetched: Default::default(),
        }
    }

    /// Where `path` is on this machine.
    fn resolve(&self, path: &str) -> PathBuf {
        match self.fetched.get(path) {
            Some(local) => local.clone(),
            None => self.base.join(path),
        }
    }
}

/// What a finished task produced.
struct TaskOutputs {
    parameters: ParameterMap,
    artifacts: ArtifactMap,
    /// What the launcher did with them, for the task's log.
    notes: Vec<String>,
}

/// Copies `from` (a file, or a folder with everything in it) to `to`, replacing whatever is
/// at `to`. Symbolic links inside a folder are recreated as links, not followed.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(to) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(to)?,
        Ok(_) => std::fs::remove_file(to)?,
        Err(_) => {}
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::metadata(from)?.is_dir() {
        copy_dir(from, to)
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// KFP ≥ 2.15: a component that calls `artifact.set_path(p)` writes the artifact at `p`, and
/// the executor reports `custom_path` next to the artifact's (unchanged) URI. As Kubeflow's
/// launcher uploads from the custom path, the content is copied to the artifact's location in
/// the local artifact store, where consumers, the cache and the API look for it. Returns a
/// note for the task's log.
fn collect_custom_path(
    name: &str,
    artifact: &mut RuntimeArtifact,
    destination: &str,
    source: &Path,
) -> Result<String, String> {
    let source = source.to_path_buf();
    let Ok(real_source) = source.canonicalize() else {
        return Err(format!(
            "output artifact '{name}': the component set its path to {} (set_path), which does \
             not exist",
            source.display()
        ));
    };
    let target = PathBuf::from(destination);
    // The destination may not exist yet: compare through its folder.
    let real_target = match (target.parent(), target.file_name()) {
        (Some(parent), Some(file)) => {
            if let Err(e) = std::fs::create_dir_all(parent) {
                return Err(format!("cannot create {}: {e}", parent.display()));
            }
            parent
                .canonicalize()
                .map(|p| p.join(file))
                .unwrap_or_else(|_| target.clone())
        }
        _ => target.clone(),
    };
    if real_source != real_target {
        if real_target.starts_with(&real_source) || real_source.starts_with(&real_target) {
            return Err(format!(
                "output artifact '{name}': the component set its path to {} (set_path), which \
                 contains or is inside the artifact's location {destination}",
                source.display()
            ));
        }
        copy_tree(&real_source, &target).map_err(|e| {
            format!(
                "output artifact '{name}': copying {} (set_path) to {}: {e}",
                source.display(),
                target.display()
            )
        })?;
    }
    artifact.uri = destination.to_string();
    Ok(format!(
        "output artifact '{name}': copied {} (set_path) to {destination}",
        source.display()
    ))
}

/// Reads the task's outputs: `executor_output.json` (if written) and the output parameter
/// files, which take precedence as in KFP.
fn read_outputs(
    request: &LaunchRequest,
    paths: &TaskPaths,
    custom_paths: &CustomPaths,
) -> Result<TaskOutputs, String> {
    let defs = &request.component.output_definitions;
    let mut executor_output = serde_json::Map::new();
    if paths.executor_output.exists() {
        let path = paths.executor_output.display().to_string();
        let text =
            std::fs::read_to_string(&paths.executor_output).map_err(|e| format!("{path}: {e}"))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => executor_output = map,
            Ok(_) => {
                return Err(format!(
                    "malformed executor output {path}: expected a JSON object"
                ))
            }
            Err(e) => return Err(format!("malformed executor output {path}: {e}")),
        }
    }
    let empty = serde_json::Map::new();
    let written_params = match executor_output.get("parameterValues") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(format!(
                "malformed executor output {}: parameterValues must be an object",
                paths.executor_output.display()
            ))
        }
    };
    let mut parameters = ParameterMap::new();
    for (name, def) in &defs.parameters {
        let ty = def.parameter_type.effective(def.legacy_type.as_deref());
        let file = paths.parameter_file(name);
        let value = if file.exists() {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            parse_output_file(ty, &text)
                .map_err(|e| format!("output parameter '{name}' in {}: {e}", file.display()))?
        } else if let Some(v) = written_params.get(name) {
            coerce_value(name, ty, v.clone())
                .map_err(|e| format!("{}: {e}", paths.executor_output.display()))?
        } else {
            return Err(format!(
                "the task did not write its output parameter '{name}' (expected in {} or {})",
                file.display(),
                paths.executor_output.display()
            ));
        };
        parameters.insert(name.clone(), value);
    }
    let written_artifacts = executor_output.get("artifacts").and_then(Value::as_object);
    let mut artifacts = ArtifactMap::new();
    let mut notes = Vec::new();
    for (name, planned) in &request.output_artifacts {
        let reported = written_artifacts
            .and_then(|m| m.get(name))
            .and_then(|v| v.get("artifacts"))
            .and_then(Value::as_array);
        let list: Vec<RuntimeArtifact> = match reported {
            Some(items) if !items.is_empty() => {
                let mut list = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let mut a = planned.clone();
                    if let Some(uri) = item
                        .get("uri")
                        .and_then(Value::as_str)
                        .filter(|u| !u.is_empty())
                    {
                        a.uri = uri.to_string();
                    }
                    if let Some(meta) = item.get("metadata").and_then(Value::as_object) {
                        a.metadata = meta.clone();
                    }
                    if let Some(custom) = item
                        .get("custom_path")
                        .and_then(Value::as_str)
                        .filter(|p| !p.is_empty())
                    {
                        let destination = if index == 0 {
                            planned.uri.clone()
                        } else {
                            format!("{}-{index}", planned.uri)
                        };
                        notes.push(collect_custom_path(
                            name,
                            &mut a,
                            &destination,
                            &custom_paths.resolve(custom),
                        )?);
                    }
                    list.push(a);
                }
                list
            }
            _ => vec![planned.clone()],
        };
        let mut list = list;
        for a in &mut list {
            notes.extend(v1_metrics::read_into(name, a));
        }
        artifacts.insert(name.clone(), list);
    }
    Ok(TaskOutputs {
        parameters,
        artifacts,
        notes,
    })
}

#[async_trait]
impl TaskLauncher for LocalLauncher {
    async fn launch(&self, request: LaunchRequest, cancel: CancellationToken) -> LaunchOutcome {
        self.attempt(&request, cancel, None).await
    }

    async fn launch_when_ready(
        &self,
        request: LaunchRequest,
        cancel: CancellationToken,
        ready: ReadySignal,
    ) -> LaunchOutcome {
        self.attempt(&request, cancel, Some(ready)).await
    }

    fn output_artifact_uri(&self, run_id: &str, task_path: &str, output_name: &str) -> String {
        self.run_dir(run_id)
            .join("artifacts")
            .join(safe_path(task_path))
            .join(safe_path(output_name))
            .display()
            .to_string()
    }

    fn log_uri(&self, run_id: &str, task_path: &str) -> Option<String> {
        Some(self.log_path(run_id, task_path).display().to_string())
    }

    async fn artifact_exists(&self, uri: &str) -> bool {
        if uri.contains("://") {
            return true;
        }
        Path::new(uri).exists()
    }

    async fn stop_leftovers(&self, run_id: &str) -> usize {
        let run_id = run_id.to_string();
        tokio::task::spawn_blocking(move || reaper::stop_run_processes(&run_id))
            .await
            .unwrap_or(0)
    }

    async fn log_tail(&self, run_id: &str, task_path: &str, lines: usize) -> Vec<String> {
        let Ok(text) = std::fs::read(self.log_path(run_id, task_path)) else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn safe_paths_stay_inside() {
        assert_eq!(safe_path("for-loop-2[3]/train"), "for-loop-2[3]/train");
        assert_eq!(safe_path("../x y"), "__/x_y");
    }

    fn artifact(uri: &str) -> RuntimeArtifact {
        RuntimeArtifact {
            name: "out".into(),
            schema_title: "system.Dataset".into(),
            schema_version: "0.0.1".into(),
            uri: uri.into(),
            metadata: Default::default(),
        }
    }

    #[test]
    fn custom_paths_are_copied_to_the_artifact_location() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let store = dir.path().join("artifacts/task/out");
        let uri = store.display().to_string();

        // A file, given relative to the working folder; an older copy is replaced.
        std::fs::write(work.join("custom.txt"), "hello").unwrap();
        std::fs::create_dir_all(&store).unwrap();
        let mut a = artifact(&uri);
        let note = collect_custom_path("out", &mut a, &uri, &work.join("custom.txt")).unwrap();
        assert!(note.contains("custom.txt"), "{note}");
        assert_eq!(std::fs::read_to_string(&store).unwrap(), "hello");
        assert_eq!(a.uri, uri);

        // A folder with a nested file and a link.
        let model = dir.path().join("model");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("sub/weights"), "w").unwrap();
        std::os::unix::fs::symlink("sub/weights", model.join("link")).unwrap();
        let model_path = model.display().to_string();
        collect_custom_path("out", &mut a, &uri, &work.join(&model_path)).unwrap();
        assert_eq!(
            std::fs::read_to_string(store.join("sub/weights")).unwrap(),
            "w"
        );
        assert_eq!(
            std::fs::read_link(store.join("link")).unwrap(),
            Path::new("sub/weights")
        );
        assert!(model.join("sub/weights").exists(), "the source is kept");

        // Missing, or overlapping the destination: refused.
        let err =
            collect_custom_path("out", &mut a, &uri, Path::new("/no/such/place")).unwrap_err();
        assert!(
            err.contains("output artifact 'out'")
                && err.contains("/no/such/place")
                && err.contains("does not exist"),
            "{err}"
        );
        let parent = dir.path().join("artifacts").display().to_string();
        let err = collect_custom_path("out", &mut a, &uri, &work.join(&parent)).unwrap_err();
        assert!(err.contains("contains or is inside"), "{err}");

        // The artifact's own location: nothing to copy.
        collect_custom_path("out", &mut a, &uri, &work.join(&uri)).unwrap();
        assert!(store.join("sub/weights").exists());
    }

    #[test]
    fn required_secrets_are_refused_optional_ones_ignored() {
        let optional =
            json!({"secretAsEnv": [{"secretName": "s", "optional": true}], "nodeSelector": {}});
        assert!(check_platform(&optional).is_ok());
        let required = json!({"secretAsEnv": [{"secretName": "db-password"}]});
        let err = check_platform(&required).unwrap_err();
        assert!(err.contains("Kubernetes secret \"db-password\""), "{err}");
    }
}
