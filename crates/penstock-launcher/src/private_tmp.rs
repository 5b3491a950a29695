//! A private `/tmp` for a local task that reads or writes fixed absolute paths.
//!
//! KFP v1 programs write their outputs to paths built into them (`/tmp/outputs/<name>/data`),
//! which in Kubernetes are the pod's own. The Argo reader lists such paths in
//! [`penstock_spec::argo::FIXED_PATHS_ENV`]; for those tasks the local launcher starts the
//! process in a private mount namespace (`unshare(CLONE_NEWNS)`, all mounts made private) with
//! an empty tmpfs over `/tmp`. The folders under the host's `/tmp` that the task needs (its
//! work, temporary and output folders under `PENSTOCK_HOME`, its artifacts, the Python
//! environments, `PATH` entries) are bind-mounted back at the same places, so that the
//! executor input stays true. Parallel tasks each get their own tmpfs, so they never collide,
//! and nothing they write under `/tmp` reaches the host; the tmpfs goes away with the task.
//!
//! Only paths under `/tmp` are made private: a path directly under `/` (such as
//! `/mlpipeline-metrics.json`) would need its mount point created on the host's `/` first, and
//! hiding another host folder (`/home`, `/data`) behind an empty one would take the task's own
//! files with it; such tasks are refused with a message that names the path and points to the
//! Docker launcher. Creating a mount namespace needs root or `CAP_SYS_ADMIN` on Linux; without
//! it the task fails with a message saying so, and never writes to the host's paths instead.
//! See `docs/launchers.md`.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The folder made private.
const TMP: &str = "/tmp";
const TMP_C: &CStr = c"/tmp";
const ROOT_C: &CStr = c"/";
const TMPFS_C: &CStr = c"tmpfs";
/// The private `/tmp`'s options: anyone may create files (as in `/tmp`), and at most 1 GiB,
/// so that a step filling its `/tmp` runs out of space instead of out of the machine's memory
/// (a tmpfs lives in memory; its own default is half of it). See `docs/launchers.md`.
const TMPFS_OPTIONS_C: &CStr = c"mode=1777,size=1g";

/// The fixed paths a task's environment lists (`PENSTOCK_V1_FIXED_PATHS`), if any.
pub fn fixed_paths(env: &[(String, String)]) -> Vec<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == penstock_spec::argo::FIXED_PATHS_ENV)
        .map(|(_, v)| {
            v.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `path` is absolute, normalised and strictly below `/tmp`.
fn under_tmp(path: &Path) -> bool {
    path.is_absolute()
        && path.starts_with(TMP)
        && path != Path::new(TMP)
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// Why a fixed path outside `/tmp` cannot be made private by the local launcher.
fn refusal(path: &str) -> String {
    format!(
        "the step writes or reads {path} at a fixed path (built into its program); the local \
         launcher gives a step a private /tmp, but {path} is outside /tmp: making it private \
         would mean creating it on this machine's own filesystem. Run the pipeline with \
         `--launcher docker`, where each step has its own filesystem, or have the step use a \
         path under /tmp (e.g. /tmp/outputs/<name>/data)"
    )
}

/// Why the namespace could not be set up: names the paths and what is needed.
pub fn setup_error(fixed: &[String], e: &std::io::Error) -> String {
    let needs = if e.raw_os_error() == Some(libc::EPERM) {
        "this needs root or CAP_SYS_ADMIN (Linux mount namespaces)"
    } else {
        "the private mount namespace could not be set up"
    };
    format!(
        "the step writes or reads {} at a fixed path; the local launcher runs such a step with a \
         private /tmp so that parallel steps never share it and nothing reaches this machine's \
         /tmp, but {needs}: {e}. Run Penstock as root, or use `--launcher docker`",
        fixed.join(", ")
    )
}

fn cstring(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: a path with a NUL byte", path.display()))
}

/// A host folder under `/tmp` shown again inside the private `/tmp`.
#[derive(Debug)]
struct Keep {
    /// The folder's path, opened (in the new namespace) before `/tmp` is covered and mounted
    /// again at the same place.
    target: CString,
    /// Its ancestors below `/tmp`, outermost first, created in the tmpfs.
    parents: Vec<CString>,
}

/// `/proc/self/fd/<fd>` as a NUL-terminated string in `buf`, without allocating.
fn fd_path(fd: i32, buf: &mut [u8; 32]) -> *const libc::c_char {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 || len == digits.len() {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    buf.as_ptr().cast()
}

/// Everything the child needs to make `/tmp` private, prepared before `fork` so that the
/// `pre_exec` hook only makes system calls (no allocation after `fork`).
#[derive(Debug)]
pub struct PrivateTmp {
    keep: Vec<Keep>,
    cwd: CString,
    /// The fixed paths, for messages.
    pub fixed: Vec<String>,
    /// A pipe (read end, write end; both close-on-exec and non-blocking) through which the
    /// child tells that [`PrivateTmp::enter`] failed, so that a failed start is explained as
    /// the namespace's only when it was (`exec` failing, a missing program, is not).
    marker: (OwnedFd, OwnedFd),
}

/// A close-on-exec, non-blocking pipe.
#[cfg(target_os = "linux")]
fn marker_pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into the array, which are then owned here.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) != 0 {
            return Err(format!(
                "cannot create a pipe: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

#[cfg(not(target_os = "linux"))]
fn marker_pipe() -> Result<(OwnedFd, OwnedFd), String> {
    Err("mount namespaces are Linux's".to_string())
}

impl PrivateTmp {
    /// Plans a private `/tmp` for a task with these fixed paths that needs the folders in
    /// `keep` (those under `/tmp` are bound back) and starts in `cwd`. Refuses fixed paths
    /// outside `/tmp`.
    pub fn plan(fixed: Vec<String>, keep: &[PathBuf], cwd: &Path) -> Result<PrivateTmp, String> {
        if !cfg!(target_os = "linux") {
            return Err(format!(
                "the step writes or reads {} at a fixed path; the local launcher makes such \
                 paths private with a Linux mount namespace, which this system does not have: \
                 use `--launcher docker`",
                fixed.join(", ")
            ));
        }
        if let Some(outside) = fixed.iter().find(|p| !under_tmp(Path::new(p))) {
            return Err(refusal(outside));
        }
        // The real folders (a link under /tmp to elsewhere needs nothing), outermost first,
        // without those inside another kept one.
        let mut dirs: Vec<PathBuf> = keep
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .filter(|p| p.is_dir() && under_tmp(p))
            .collect();
        dirs.sort();
        dirs.dedup();
        let mut outer: Vec<PathBuf> = Vec::new();
        for d in dirs {
            if !outer.iter().any(|o| d.starts_with(o)) {
                outer.push(d);
            }
        }
        let mut kept = Vec::new();
        for target in outer {
            let mut parents = Vec::new();
            let mut at = PathBuf::from(TMP);
            for c in target.strip_prefix(TMP).unwrap_or(&target).components() {
                at.push(c);
                parents.push(cstring(&at)?);
            }
            kept.push(Keep {
                target: cstring(&target)?,
                parents,
            });
        }
        Ok(PrivateTmp {
            keep: kept,
            cwd: cstring(cwd)?,
            fixed,
            marker: marker_pipe()?,
        })
    }

    /// How many folders are bound back: the length of the buffer [`PrivateTmp::enter`] takes.
    pub fn kept(&self) -> usize {
        self.keep.len()
    }

    /// Whether the last failed start failed in [`PrivateTmp::enter`] (rather than in `exec`).
    /// Reading consumes the child's mark.
    pub fn setup_failed(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a one-byte read into a local from a descriptor owned by self (non-blocking).
        let n = unsafe { libc::read(self.marker.0.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        n == 1
    }

    /// Runs in the child between `fork` and `exec`: a private mount namespace with a tmpfs
    /// over `/tmp` and the kept folders bound back. Only system calls; `fds` (one per kept
    /// folder, see [`PrivateTmp::kept`]) is allocated by the caller before `fork`. A failure
    /// is marked for [`PrivateTmp::setup_failed`].
    #[cfg(target_os = "linux")]
    pub fn enter(&self, fds: &mut [i32]) -> std::io::Result<()> {
        let result = self.set_up(fds);
        if result.is_err() {
            // SAFETY: a one-byte write from a static to a descriptor owned by self.
            unsafe {
                libc::write(self.marker.1.as_raw_fd(), b"x".as_ptr().cast(), 1);
            }
        }
        result
    }

    #[cfg(target_os = "linux")]
    fn set_up(&self, fds: &mut [i32]) -> std::io::Result<()> {
        use std::io::Error;
        use std::ptr::null;
        // SAFETY: plain system calls on NUL-terminated strings prepared before fork; nothing
        // here allocates or takes a lock.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(Error::last_os_error());
            }
            // Nothing mounted from here on propagates back to the host.
            if libc::mount(
                null(),
                ROOT_C.as_ptr(),
                null(),
                libc::MS_REC | libc::MS_PRIVATE,
                null(),
            ) != 0
            {
                return Err(Error::last_os_error());
            }
            // Each kept folder, opened in this namespace (a mount of another namespace cannot
            // be bound here) while /tmp is still the host's.
            for (k, fd) in self.keep.iter().zip(fds.iter_mut()) {
                *fd = libc::open(
                    k.target.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                );
                if *fd < 0 {
                    return Err(Error::last_os_error());
                }
            }
            if libc::mount(
                TMPFS_C.as_ptr(),
                TMP_C.as_ptr(),
                TMPFS_C.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                TMPFS_OPTIONS_C.as_ptr().cast(),
            ) != 0
            {
                return Err(Error::last_os_error());
            }
            let mut source = [0u8; 32];
            for (k, fd) in self.keep.iter().zip(fds.iter()) {
                for p in &k.parents {
                    if libc::mkdir(p.as_ptr(), 0o755) != 0
                        && Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
                    {
                        return Err(Error::last_os_error());
                    }
                }
                if libc::mount(
                    fd_path(*fd, &mut source),
                    k.target.as_ptr(),
                    null(),
                    libc::MS_BIND | libc::MS_REC,
                    null(),
                ) != 0
                {
                    return Err(Error::last_os_error());
                }
                libc::close(*fd);
            }
            // The working folder was entered before /tmp was covered: enter it again.
            if libc::chdir(self.cwd.as_ptr()) != 0 {
                return Err(Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Mount namespaces are Linux's: elsewhere [`PrivateTmp::plan`] refuses first.
    #[cfg(not(target_os = "linux"))]
    pub fn enter(&self, _fds: &mut [i32]) -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_paths_are_read_from_the_environment() {
        let env = vec![
            ("A".to_string(), "b".to_string()),
            (
                penstock_spec::argo::FIXED_PATHS_ENV.to_string(),
                "/tmp/outputs/x/data\n/tmp/y".to_string(),
            ),
        ];
        assert_eq!(fixed_paths(&env), vec!["/tmp/outputs/x/data", "/tmp/y"]);
        assert!(fixed_paths(&env[..1]).is_empty());
    }

    #[test]
    fn paths_outside_tmp_are_refused_naming_the_path_and_docker() {
        for path in [
            "/mlpipeline-metrics.json",
            "/data/out",
            "/tmp",
            "/tmp/../etc/x",
        ] {
            let err = PrivateTmp::plan(vec![path.to_string()], &[], Path::new("/")).unwrap_err();
            assert!(
                err.contains(path) && err.contains("--launcher docker"),
                "{err}"
            );
        }
    }

    #[test]
    fn only_outermost_folders_under_tmp_are_kept() {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let inner = dir.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        let plan = PrivateTmp::plan(
            vec!["/tmp/outputs/x/data".to_string()],
            &[inner, dir.path().to_path_buf(), PathBuf::from("/usr")],
            dir.path(),
        )
        .unwrap();
        assert_eq!(plan.keep.len(), 1);
        let target = dir.path().canonicalize().unwrap();
        assert_eq!(
            plan.keep[0].target.as_bytes(),
            target.as_os_str().as_bytes()
        );
        assert_eq!(
            plan.keep[0].parents.last().map(|p| p.as_bytes().to_vec()),
            Some(target.as_os_str().as_bytes().to_vec())
        );
    }

    #[test]
    fn fd_paths_are_written_without_allocating() {
        let mut buf = [0u8; 32];
        for (fd, want) in [
            (0, "/proc/self/fd/0"),
            (7, "/proc/self/fd/7"),
            (1234, "/proc/self/fd/1234"),
        ] {
            let p = fd_path(fd, &mut buf);
            // SAFETY: fd_path wrote a NUL-terminated string into buf.
            let got = unsafe { CStr::from_ptr(p) };
            assert_eq!(got.to_str().unwrap(), want);
        }
    }

    #[test]
    fn the_tmpfs_has_a_size_limit() {
        let options = TMPFS_OPTIONS_C.to_str().unwrap();
        assert!(options.split(',').any(|o| o == "size=1g"), "{options}");
    }

    /// Starts `program` with `plan`'s private /tmp; the start's error.
    #[cfg(target_os = "linux")]
    fn start(plan: &std::sync::Arc<PrivateTmp>, program: &str) -> std::io::Error {
        use std::os::unix::process::CommandExt;
        let p = plan.clone();
        let mut fds = vec![-1; p.kept()];
        let mut cmd = std::process::Command::new(program);
        // SAFETY: `enter` only makes system calls on data prepared before fork.
        unsafe {
            cmd.pre_exec(move || p.enter(&mut fds));
        }
        cmd.spawn().map(|_| ()).unwrap_err()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_setup_is_told_apart_from_a_failed_exec() {
        let fixed = || vec!["/tmp/outputs/x/data".to_string()];
        // A working folder that does not exist: entering it fails inside `enter` (as does the
        // namespace itself for a user without CAP_SYS_ADMIN).
        let gone = std::sync::Arc::new(
            PrivateTmp::plan(fixed(), &[], Path::new("/nonexistent/penstock-cwd")).unwrap(),
        );
        start(&gone, "/bin/true");
        assert!(gone.setup_failed());
        assert!(!gone.setup_failed(), "the mark is consumed");
        // A missing program: with the namespace set up, exec fails (ENOENT) and nothing is
        // marked; without the privilege, the setup fails first and is marked.
        let plan = std::sync::Arc::new(PrivateTmp::plan(fixed(), &[], Path::new("/")).unwrap());
        let e = start(&plan, "/nonexistent/program");
        if e.raw_os_error() == Some(libc::ENOENT) {
            assert!(!plan.setup_failed(), "{e}");
        } else {
            assert!(plan.setup_failed(), "{e}");
        }
    }

    #[test]
    fn a_missing_capability_is_explained() {
        let e = std::io::Error::from_raw_os_error(libc::EPERM);
        let msg = setup_error(&["/tmp/outputs/x/data".to_string()], &e);
        assert!(
            msg.contains("/tmp/outputs/x/data")
                && msg.contains("CAP_SYS_ADMIN")
                && msg.contains("--launcher docker"),
            "{msg}"
        );
    }
}
