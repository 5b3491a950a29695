//! Finding and stopping task processes that outlived the Penstock process that supervised them.
//!
//! Every task process Penstock starts carries `PENSTOCK_RUN_ID`, `PENSTOCK_TASK_ID` and
//! `PENSTOCK_SUPERVISOR` (the supervising process's id) in its environment, and its children
//! inherit them. The markers are set before the process starts, so there is no window in which a
//! started task cannot be found, and a recycled process id never matches: a process is only ever
//! stopped because its own environment names the run (or the supervisor) in question.
//!
//! - [`stop_run_processes`]: before an interrupted run is resumed, every process of that run is
//!   killed and waited for, so a task never has two live executions.
//! - [`watch_supervisor`]: the loop of `penstock reap`, a small watchdog started beside
//!   `penstock server` and `penstock run`; when the supervisor dies (`kill -9`), it kills the
//!   supervisor's task processes as soon as it ends (a pidfd; every [`REAP_POLL`] on kernels
//!   without pidfds).

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// The environment variable naming the process that supervises a task.
pub const SUPERVISOR_ENV: &str = "PENSTOCK_SUPERVISOR";
/// The environment variable naming a task's run.
pub const RUN_ENV: &str = "PENSTOCK_RUN_ID";
/// How often the watchdog checks that its supervisor is alive where the kernel has no pidfds
/// (there, the longest a task outlives a killed supervisor, plus the time to kill it).
pub const REAP_POLL: Duration = Duration::from_millis(250);

/// Whether a process with this id exists (signal 0 probes without sending anything).
pub fn process_alive(pid: i64) -> bool {
    i32::try_from(pid).is_ok_and(|p| p > 0 && kill(Pid::from_raw(p), None).is_ok())
}

/// The processes (other than this one) whose environment holds `key=value`.
pub fn marked_processes(key: &str, value: &str) -> Vec<i32> {
    let needle = format!("{key}={value}");
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Unreadable (another user's, or gone meanwhile): not ours.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

/// Kills every process marked `key=value`, and their process groups, and waits (up to 5 s)
/// until none is left. Returns how many were found at first.
pub fn stop_marked(key: &str, value: &str) -> usize {
    let first = marked_processes(key, value);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = first.clone();
    while !left.is_empty() {
        for pid in &left {
            let p = Pid::from_raw(*pid);
            // The group first (a task and all it started), then the process itself in case it
            // left its group.
            if let Ok(group) = nix::unistd::getpgid(Some(p)) {
                if group.as_raw() > 1 && group.as_raw() != nix::unistd::getpgrp().as_raw() {
                    let _ = killpg(group, Signal::SIGKILL);
                }
            }
            let _ = kill(p, Signal::SIGKILL);
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        // Killed processes linger as zombies until reaped by their parent: only living ones
        // count.
        left = marked_processes(key, value)
            .into_iter()
            .filter(|pid| !is_zombie(*pid))
            .collect();
    }
    first.len()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Stops every process of run `run_id` (before it is resumed).
pub fn stop_run_processes(run_id: &str) -> usize {
    stop_marked(RUN_ENV, run_id)
}

/// Waits until process `supervisor` is gone, then stops every task process it supervised.
/// Returns how many it stopped.
pub fn watch_supervisor(supervisor: u32) -> usize {
    let Ok(raw) = i32::try_from(supervisor) else {
        return 0;
    };
    // A pidfd becomes readable the moment the process ends, so the watchdog acts (and exits,
    // letting go of the standard error it shares with its supervisor) at once. Polling every
    // REAP_POLL remains for kernels without pidfds.
    match pidfd_of(raw) {
        Some(pidfd) => wait_readable(&pidfd, raw),
        None => {
            while kill(Pid::from_raw(raw), None).is_ok() && !is_zombie(raw) {
                std::thread::sleep(REAP_POLL);
            }
        }
    }
    stop_marked(SUPERVISOR_ENV, &supervisor.to_string())
}

/// A pidfd for `pid`, when the kernel has them and the process exists.
fn pidfd_of(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; nothing is
    // borrowed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Blocks until the process behind `pidfd` has ended (a zombie has: it only waits to be
/// reaped). Wakes every REAP_POLL as well, to re-check in case a poll is interrupted.
fn wait_readable(pidfd: &std::os::fd::OwnedFd, pid: i32) {
    use std::os::fd::AsRawFd;
    loop {
        let mut entry = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let ready = unsafe { libc::poll(&mut entry, 1, REAP_POLL.as_millis() as i32) };
        if ready > 0 || kill(Pid::from_raw(pid), None).is_err() || is_zombie(pid) {
            return;
        }
    }
}

/// Starts `penstock reap --supervisor <this process>` (`program` is the `penstock` binary) in
/// its own process group, so a terminal's Ctrl-C or a `kill -9` of this process leaves it
/// running to clean up; with `containers` it also removes the Docker containers this process
/// started. Returns the child, or why it could not start.
pub fn spawn_watchdog(
    program: &std::path::Path,
    containers: bool,
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let mut args = vec![
        "reap".to_string(),
        "--supervisor".to_string(),
        std::process::id().to_string(),
    ];
    if containers {
        args.push("--containers".into());
    }
    std::process::Command::new(program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_processes_are_found_and_stopped_with_their_children() {
        let marker = format!("test-{}", uuid_like());
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30; wait"])
            .env(RUN_ENV, &marker)
            .process_group(0)
            .spawn()
            .expect("sh");
        let deadline = Instant::now() + Duration::from_secs(5);
        while marked_processes(RUN_ENV, &marker).len() < 3 {
            assert!(Instant::now() < deadline, "children never appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(marked_processes(RUN_ENV, "someone-else").is_empty());
        assert_eq!(stop_run_processes(&marker), 3);
        let _ = child.wait();
        let living: Vec<i32> = marked_processes(RUN_ENV, &marker)
            .into_iter()
            .filter(|p| !is_zombie(*p))
            .collect();
        assert!(living.is_empty(), "{living:?}");
    }

    fn uuid_like() -> String {
        format!("{}-{:?}", std::process::id(), Instant::now())
    }

    use std::os::unix::process::CommandExt;
}
