//! A throwaway PostgreSQL server for tests and benchmarks, started from the machine's server
//! binaries (`initdb`, `pg_ctl`) in a temporary folder on a free loopback port.
//!
//! The server belongs to the `postgres` user when the tests run as root (`initdb` refuses
//! root), trusts loopback connections, keeps its socket in its own folder, and is stopped
//! (`pg_ctl stop -m fast`) and deleted when the [`TestPostgres`] is dropped — on a failing test
//! too, as the value is dropped while the panic unwinds. A watchdog process stops it as well
//! when the test process ends without dropping it (a `static` server shared by a test binary,
//! or a killed test run), so no server outlives its tests.
//!
//! There is deliberately no "skip when PostgreSQL is missing": [`TestPostgres::start`] returns
//! an error naming what it looked for, and tests `expect` it, so a machine without the
//! binaries fails the suite loudly instead of passing it untested.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the server binaries are looked for, newest major version first, unless
/// `PENSTOCK_PG_BIN` names the folder.
const PG_ROOT: &str = "/usr/lib/postgresql";

/// A running PostgreSQL server owned by a test.
#[derive(Debug)]
pub struct TestPostgres {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres_user: bool,
    watchdog: Option<Child>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The folder holding `initdb` and `pg_ctl`.
fn find_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PENSTOCK_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("pg_ctl").is_file() {
            return Ok(dir);
        }
        return Err(format!(
            "PENSTOCK_PG_BIN={} has no pg_ctl: expected PostgreSQL's server binaries there",
            dir.display()
        ));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(PG_ROOT)
        .map_err(|e| {
            format!(
                "PostgreSQL server binaries not found ({PG_ROOT}: {e}); install postgresql \
                 (initdb, pg_ctl) or set PENSTOCK_PG_BIN to their folder"
            )
        })?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        format!(
            "PostgreSQL server binaries not found: no {PG_ROOT}/<version>/bin/pg_ctl; install \
             postgresql (initdb, pg_ctl) or set PENSTOCK_PG_BIN to their folder"
        )
    })
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("cannot run `id {flag} postgres`: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                format!(
                    "no `postgres` user to run the server as (initdb refuses root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            })
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

impl TestPostgres {
    /// Initialises a database cluster in a new temporary folder and starts a server on a free
    /// loopback port; returns once it accepts connections.
    pub fn start() -> Result<TestPostgres, String> {
        let bin = find_bin()?;
        let as_postgres_user = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let root = std::env::temp_dir().join(format!("penstock-pg-{}", unique()));
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let mut server = TestPostgres {
            root,
            bin,
            port: 0,
            as_postgres_user,
            watchdog: None,
        };
        if as_postgres_user {
            let (uid, gid) = postgres_user()?;
            std::os::unix::fs::chown(&server.root, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to postgres: {e}", server.root.display()))?;
        }
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        server.spawn_watchdog();
        let mut last = String::new();
        for _ in 0..3 {
            server.port = free_port()?;
            // fsync off: a test database need not survive a power cut, and tests run faster.
            let options = format!(
                "-p {} -h 127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200",
                server.port,
                server.root.display()
            );
            match server.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-l",
                    &server.root.join("server.log").to_string_lossy(),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &options,
                    "start",
                ],
            ) {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        let log = std::fs::read_to_string(server.root.join("server.log")).unwrap_or_default();
        Err(format!("PostgreSQL did not start: {last}\n{log}"))
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The command running `tool` from the server binaries, as `postgres` when we are root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.join(tool).display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A process that stops the server and deletes its folder once this process is gone
    /// (in its own process group, so a signal to the test's group does not take it along).
    fn spawn_watchdog(&mut self) {
        let stop = format!(
            "{} -D '{}' stop -m immediate",
            if self.as_postgres_user {
                format!(
                    "runuser -u postgres -- '{}'",
                    self.bin.join("pg_ctl").display()
                )
            } else {
                format!("'{}'", self.bin.join("pg_ctl").display())
            },
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{root}'",
            pid = std::process::id(),
            root = self.root.display()
        );
        use std::os::unix::process::CommandExt;
        self.watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok();
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its folder (data, log, socket).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The URL of `database` as the `postgres` superuser (no password: loopback is trusted).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new, empty database and returns its URL (one per test keeps tests apart on
    /// one server).
    pub async fn fresh_database(&self) -> Result<String, String> {
        use sqlx::{Connection, Executor};
        let name = format!("penstock_{}", unique());
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(|e| format!("cannot connect to the test server: {e}"))?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        let _ = conn.close().await;
        Ok(self.url(&name))
    }

    /// The server's log so far (for failing tests).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data();
            let _ = self.run(
                "pg_ctl",
                &["-D", &data.to_string_lossy(), "stop", "-m", "fast", "-w"],
            );
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
