//! Warm interpreters for lightweight Python components.
//!
//! Starting Python and importing `kfp` costs most of a lightweight step. For each managed
//! virtual environment the launcher keeps one fork server (`fork_server.py`): a Python process
//! that has imported the executor machinery once and listens on a Unix socket in a folder only
//! this user can enter. Per task it forks a child that becomes what the SDK's command would
//! have started: its own process group, the task's complete environment, working folder,
//! `TMPDIR`, stdin/stdout/stderr (passed with `SCM_RIGHTS`), the component's source written
//! to a fresh `mktemp -d` folder and `kfp.dsl.executor_main` run as `__main__`. The server
//! reports the child's pid right after the fork and its exit status after `waitpid`; the child
//! reports its own exit code too, so a task survives its server being killed.
//!
//! Servers start on first use, are replaced when idle for [`IDLE`], when their environment was
//! recreated or when they died (that task starts cold, with a line in its log), and die with
//! Penstock (their stdin closes). Anything unexpected before the component's code starts makes
//! the launcher run the task cold instead.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;

/// The fork server's source, run with `python -c`.
pub const FORK_SERVER: &str = include_str!("fork_server.py");

/// How long an unused warm interpreter lives.
pub const IDLE: Duration = Duration::from_secs(300);

/// After a warm interpreter failed to start, how long its environment runs tasks cold.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// What `sh -ec` runs in the SDK's lightweight-component command, whitespace normalised.
const SDK_SCRIPT: &str = "program_path=$(mktemp -d) printf \"%s\" \"$0\" > \"$program_path/ephemeral_component.py\" _KFP_RUNTIME=true python3 -m kfp.dsl.executor_main --component_module_path \"$program_path/ephemeral_component.py\" \"$@\"";

/// A lightweight component's command, taken apart: `sh -ec SCRIPT SOURCE ARGS...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lightweight {
    /// The component's Python source (`$0` of the script).
    pub source: String,
    /// The executor's arguments (`$@`).
    pub args: Vec<String>,
}

/// Recognises the SDK's lightweight-component command (after the `pip install` preamble);
/// anything else runs cold.
pub fn detect_lightweight(argv: &[String]) -> Option<Lightweight> {
    if argv.len() < 4 || argv[0] != "sh" || argv[1] != "-ec" {
        return None;
    }
    let script = argv[2].split_whitespace().collect::<Vec<_>>().join(" ");
    if script != SDK_SCRIPT {
        return None;
    }
    Some(Lightweight {
        source: argv[3].clone(),
        args: argv[4..].to_vec(),
    })
}

/// Environment variables that change how the interpreter starts: a task setting one runs cold.
pub fn affects_interpreter(name: &str) -> bool {
    name.starts_with("PYTHON")
        || name.starts_with("LD_")
        || matches!(
            name,
            "PATH" | "VIRTUAL_ENV" | "_KFP_RUNTIME" | "HOME" | "LANG"
        )
        || name.starts_with("LC_")
}

/// One task for a warm interpreter.
#[derive(Debug, serde::Serialize)]
pub struct WarmTask<'a> {
    /// The working folder.
    pub cwd: &'a Path,
    /// The task's complete environment (replaces the interpreter's).
    pub env: HashMap<String, String>,
    /// The component's source.
    pub source: &'a str,
    /// The executor's arguments.
    pub args: &'a [String],
}

/// What a warm interpreter said about a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Forked: the task's pid, also its process group.
    Pid(u32),
    /// Ended with this exit code.
    Exit(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Could not start (before the component's code ran).
    Error(String),
    /// The connection closed without an exit status.
    Lost,
}

fn parse_event(line: &str) -> Event {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "pid" => rest.trim().parse().map(Event::Pid).unwrap_or(Event::Lost),
        "exit" => rest.trim().parse().map(Event::Exit).unwrap_or(Event::Lost),
        "signal" => rest
            .trim()
            .parse()
            .map(Event::Signal)
            .unwrap_or(Event::Lost),
        "error" => Event::Error(rest.to_string()),
        _ => Event::Lost,
    }
}

struct Server {
    child: Child,
    _stdin: ChildStdin,
    pid: u32,
    socket: PathBuf,
    dir: PathBuf,
    env_stamp: Option<SystemTime>,
    last_used: Instant,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum Slot {
    Running(Arc<std::sync::Mutex<Server>>),
    Failed { until: Instant, reason: String },
}

/// The warm interpreters of one launcher, one per virtual environment.
#[derive(Clone, Default)]
pub struct WarmPool {
    servers: Arc<Mutex<HashMap<PathBuf, Slot>>>,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WarmPool")
    }
}

/// A task started by a warm interpreter.
pub struct WarmChild {
    lines: tokio::io::Lines<BufReader<tokio::net::UnixStream>>,
    /// The warm interpreter's pid.
    pub server_pid: u32,
}

impl WarmChild {
    /// The next report; [`Event::Lost`] once the connection is closed.
    pub async fn next(&mut self) -> Event {
        match self.lines.next_line().await {
            Ok(Some(line)) => parse_event(&line),
            _ => Event::Lost,
        }
    }
}

fn env_stamp(venv: &Path) -> Option<SystemTime> {
    std::fs::metadata(venv.join(".penstock-ready"))
        .and_then(|m| m.modified())
        .ok()
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

async fn start_server(venv: &Path, base_env: &[(String, String)]) -> Result<Server, String> {
    let dir = std::env::temp_dir().join(format!(
        "penstock-warm-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let socket = dir.join("s");
    if socket.as_os_str().len() > 100 {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("socket path {} is too long", socket.display()));
    }
    let stderr_path = dir.join("server.log");
    let stderr = std::fs::File::create(&stderr_path)
        .map_err(|e| format!("{}: {e}", stderr_path.display()))?;
    let mut cmd = Command::new(venv.join("bin").join("python"));
    cmd.arg("-c")
        .arg(FORK_SERVER)
        .arg(&socket)
        .arg(IDLE.as_secs().to_string())
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .env("_KFP_RUNTIME", "true");
    for (k, v) in base_env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("cannot start {}: {e}", venv.display()));
        }
    };
    let pid = child.id().unwrap_or(0);
    let fail = |what: String| {
        let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let _ = std::fs::remove_dir_all(&dir);
        format!("{what} {}", tail.join(" | "))
    };
    let mut ready = String::new();
    if let Some(out) = child.stdout.take() {
        let mut out = BufReader::new(out);
        let read = tokio::time::timeout(Duration::from_secs(60), out.read_line(&mut ready)).await;
        if !matches!(read, Ok(Ok(_))) {
            ready.clear();
        }
    }
    if ready.trim() != "ready" {
        let _ = child.start_kill();
        return Err(fail("the warm interpreter did not start:".into()));
    }
    let Some(stdin) = child.stdin.take() else {
        return Err(fail("the warm interpreter has no stdin".into()));
    };
    Ok(Server {
        child,
        _stdin: stdin,
        pid,
        socket,
        dir,
        env_stamp: env_stamp(venv),
        last_used: Instant::now(),
    })
}

/// Sends `data` with `fds` attached (`SCM_RIGHTS`), then the rest of `data` if the first
/// message took only part of it.
fn send_with_fds(stream: &mut UnixStream, data: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_* are pure size computations.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer holds CMSG_SPACE(fd_bytes) aligned bytes, so the first
    // header and its data fit.
    let sent = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(std::io::Error::other("no room for the file descriptors"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), fd_bytes);
        libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    stream.write_all(&data[sent as usize..])
}

impl WarmPool {
    /// The warm interpreter of `venv`, started if needed. `base_env` is what the interpreter
    /// starts with (as a cold task's interpreter would). An error says why this task runs cold.
    async fn server(
        &self,
        venv: &Path,
        base_env: &[(String, String)],
    ) -> Result<Arc<std::sync::Mutex<Server>>, String> {
        let mut servers = self.servers.lock().await;
        let mut gone = None;
        match servers.get(venv) {
            Some(Slot::Running(server)) => {
                let mut s = server.lock().map_err(|_| "poisoned".to_string())?;
                if let Ok(Some(status)) = s.child.try_wait() {
                    gone = Some(format!(
                        "the warm interpreter (pid {}) of {} ended ({status})",
                        s.pid,
                        venv.display()
                    ));
                } else if s.last_used.elapsed() + Duration::from_secs(10) < IDLE
                    && s.env_stamp == env_stamp(venv)
                {
                    s.last_used = Instant::now();
                    return Ok(server.clone());
                }
            }
            Some(Slot::Failed { until, reason }) if Instant::now() < *until => {
                return Err(reason.clone());
            }
            _ => {}
        }
        servers.remove(venv);
        if let Some(reason) = gone {
            // This task runs cold; the next one starts a new warm interpreter.
            return Err(reason);
        }
        match start_server(venv, base_env).await {
            Ok(server) => {
                let server = Arc::new(std::sync::Mutex::new(server));
                servers.insert(venv.to_path_buf(), Slot::Running(server.clone()));
                Ok(server)
            }
            Err(reason) => {
                servers.insert(
                    venv.to_path_buf(),
                    Slot::Failed {
                        until: Instant::now() + RETRY_AFTER,
                        reason: reason.clone(),
                    },
                );
                Err(reason)
            }
        }
    }

    /// Starts `task` from the warm interpreter of `venv` with the given stdio. An error says
    /// why it could not (the task has not started: run it cold).
    pub async fn start(
        &self,
        venv: &Path,
        base_env: &[(String, String)],
        task: &WarmTask<'_>,
        stdio: [OwnedFd; 3],
    ) -> Result<WarmChild, String> {
        let server = self.server(venv, base_env).await?;
        let (socket, server_pid) = {
            let s = server.lock().map_err(|_| "poisoned".to_string())?;
            (s.socket.clone(), s.pid)
        };
        let body = serde_json::to_vec(task).map_err(|e| e.to_string())?;
        let stream = tokio::task::spawn_blocking(move || -> std::io::Result<UnixStream> {
            let mut stream = UnixStream::connect(&socket)?;
            let mut data = format!("{:016}", body.len()).into_bytes();
            data.extend_from_slice(&body);
            let fds: Vec<RawFd> = stdio.iter().map(|f| f.as_raw_fd()).collect();
            send_with_fds(&mut stream, &data, &fds)?;
            drop(stdio);
            stream.set_nonblocking(true)?;
            Ok(stream)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot reach the warm interpreter (pid {server_pid}): {e}"))?;
        let stream = tokio::net::UnixStream::from_std(stream).map_err(|e| e.to_string())?;
        Ok(WarmChild {
            lines: BufReader::new(stream).lines(),
            server_pid,
        })
    }

    /// Stops every warm interpreter.
    pub async fn stop_all(&self) {
        self.servers.lock().await.clear();
    }
}

/// Reads a pipe's read end as an async stream.
pub fn pipe_reader(fd: OwnedFd) -> std::io::Result<impl tokio::io::AsyncRead + Unpin> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
}

/// A pipe whose ends are closed on exec.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recognises_the_sdk_lightweight_command() {
        let script = "program_path=$(mktemp -d)\n\n\nprintf \"%s\" \"$0\" > \"$program_path/ephemeral_component.py\"\n\n_KFP_RUNTIME=true python3 -m kfp.dsl.executor_main                         --component_module_path                         \"$program_path/ephemeral_component.py\"                         \"$@\"\n\n";
        let argv = words(&[
            "sh",
            "-ec",
            script,
            "def f(): pass",
            "--executor_input",
            "{}",
            "--function_to_execute",
            "f",
        ]);
        let lw = detect_lightweight(&argv).unwrap();
        assert_eq!(lw.source, "def f(): pass");
        assert_eq!(lw.args[3], "f");
        let mut other = argv.clone();
        other[2] = script.replace("python3", "python3 -X dev");
        assert!(detect_lightweight(&other).is_none());
        assert!(detect_lightweight(&words(&["sh", "-c", "true"])).is_none());
    }

    #[test]
    fn parses_reports() {
        assert_eq!(parse_event("pid 12"), Event::Pid(12));
        assert_eq!(parse_event("exit 3"), Event::Exit(3));
        assert_eq!(parse_event("signal 9"), Event::Signal(9));
        assert_eq!(parse_event("error x y"), Event::Error("x y".into()));
        assert_eq!(parse_event("exit x"), Event::Lost);
    }
}
