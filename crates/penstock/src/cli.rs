//! Command-line interface: flags mirror one to one into [`Cli`]; [`dispatch`] turns them into
//! configured objects and runs the command.

use crate::kfp_json;
use crate::run_command::{run_pipeline, RunArgs};
use crate::Outcome;
use clap::{Args, Parser, Subcommand, ValueEnum};
use penstock_engine::{RunRecord, TaskRecord};
use penstock_server::tracking::run_metrics;
use penstock_store::SqliteStore;
use std::path::{Path, PathBuf};

/// Penstock: run Kubeflow Pipelines locally from one binary.
#[derive(Debug, Parser)]
#[command(name = "penstock", version, about)]
pub struct Cli {
    /// Where the database, artifacts, logs and Python environments live.
    #[arg(long, global = true, env = "PENSTOCK_HOME")]
    pub home: Option<PathBuf>,
    /// The database: a PostgreSQL URL (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`) shared
    /// by several servers, or `sqlite://PATH`. Default: the SQLite file `penstock.db` in the home.
    #[arg(long, global = true, env = "PENSTOCK_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Where runs that name no pipeline root of their own keep artifacts and logs:
    /// `s3://BUCKET/PREFIX` (also `minio://`, `gs://`, `az://`; credentials and endpoint from
    /// the standard AWS_*, GOOGLE_*, AZURE_* variables) or a folder. Default: the run's folder
    /// in the home.
    #[arg(
        long,
        global = true,
        env = "PENSTOCK_PIPELINE_ROOT",
        value_name = "URL"
    )]
    pub pipeline_root: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable lines.
    Text,
    /// KFP v2beta1 JSON.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a compiled pipeline (YAML or JSON) to completion.
    Run(RunFlags),
    /// Inspect recorded runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Serve the Kubeflow Pipelines REST API (for `kfp.Client`), execute runs and fire
    /// recurring runs.
    Server(ServerFlags),
    /// Manage recurring runs (they fire while `penstock server` runs with the same home).
    #[command(subcommand, name = "recurring-runs")]
    RecurringRuns(RecurringCommand),
    /// The watchdog `penstock run` and `penstock server` start beside themselves: when the
    /// supervising process dies, it stops that process's task processes.
    #[command(hide = true)]
    Reap {
        /// The process to watch.
        #[arg(long)]
        supervisor: u32,
        /// Also remove the Docker containers it started.
        #[arg(long)]
        containers: bool,
    },
    /// Manage the API tokens `penstock server --auth tokens` accepts.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Print a task's log.
    Logs {
        /// The run id (or a unique prefix).
        run: String,
        /// The task name or path (e.g. `train` or `for-loop-2[0]/train`).
        task: String,
    },
}

impl Command {
    /// Whether the command only reads and prints (no runs executed, nothing to clean up).
    pub fn only_prints(&self) -> bool {
        match self {
            Command::Runs(RunsCommand::Resume { .. }) => false,
            Command::Runs(_) | Command::Logs { .. } => true,
            Command::Tokens(t) => matches!(t, TokensCommand::List),
            Command::RecurringRuns(r) => {
                matches!(r, RecurringCommand::List | RecurringCommand::Get { .. })
            }
            Command::Run(_) | Command::Server(_) | Command::Reap { .. } => false,
        }
    }
}

/// Restores the default action of SIGPIPE (the Rust runtime ignores it), so writing to a closed
/// pipe ends the process silently.
pub fn exit_quietly_on_closed_pipe() {
    // SAFETY: installing the default disposition is async-signal-safe and happens before any
    // other thread exists.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
}

/// Flags of `penstock run`.
#[derive(Debug, Args)]
pub struct RunFlags {
    /// The compiled pipeline file.
    pub file: PathBuf,
    /// A pipeline parameter, `NAME=VALUE`; the value is parsed by the declared type.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Do not reuse cached outputs in this run.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not reuse cached outputs older than this (e.g. `30s`, `2h`, `P7D`).
    #[arg(long, value_name = "DURATION")]
    pub cache_max_age: Option<String>,
    /// The run FAILS when it has been running longer than this (e.g. `30m`, `2h`); counted
    /// from its start, across `penstock runs resume` too.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Output format of the final report.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// A display name for the run.
    #[arg(long)]
    pub name: Option<String>,
    /// The `kfp` version given to lightweight Python components, or `pinned` to honour each
    /// component's own pin.
    #[arg(long, env = "PENSTOCK_KFP_RUNTIME", default_value = penstock_launcher::DEFAULT_KFP_RUNTIME)]
    pub kfp_runtime: String,
    /// Where lightweight components' Python environments are kept (default `HOME/venvs`).
    #[arg(long, env = "PENSTOCK_VENVS", value_name = "DIR")]
    pub venvs: Option<PathBuf>,
    /// Start every lightweight Python component as a fresh process instead of forking it from
    /// a warm interpreter that has already imported `kfp`.
    #[arg(long, env = "PENSTOCK_NO_WARM")]
    pub no_warm: bool,
    /// How many tasks may execute at once (default: the number of CPU cores).
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// The launcher.
    #[command(flatten)]
    pub launcher: LauncherFlags,
    /// Limits on the spec and on what the run may expand to.
    #[command(flatten)]
    pub limits: LimitFlags,
}

/// Limits on what a pipeline may make Penstock parse and execute (`docs/security.md`); each
/// refusal names the limit.
#[derive(Debug, Clone, Args)]
pub struct LimitFlags {
    /// Deepest nesting of DAGs (sub-pipelines, conditions, loops) in a spec (`max_dag_depth`).
    #[arg(long, env = "PENSTOCK_MAX_DAG_DEPTH", value_name = "N",
          default_value_t = penstock_spec::Limits::DEFAULT_MAX_DAG_DEPTH)]
    pub max_dag_depth: usize,
    /// Most tasks in a spec, counting every use of a sub-DAG (`max_tasks`), and most task
    /// records one run creates, loop iterations included (`max_tasks_per_run`).
    #[arg(long, env = "PENSTOCK_MAX_TASKS_PER_RUN", value_name = "N",
          default_value_t = penstock_engine::RunLimits::DEFAULT_MAX_TASKS_PER_RUN)]
    pub max_tasks_per_run: usize,
    /// Most items one loop iterates over, static (`max_loop_items`) or computed
    /// (`max_loop_iterations`).
    #[arg(long, env = "PENSTOCK_MAX_LOOP_ITERATIONS", value_name = "N",
          default_value_t = penstock_engine::RunLimits::DEFAULT_MAX_LOOP_ITERATIONS)]
    pub max_loop_iterations: usize,
    /// Largest spec file in bytes (`max_spec_bytes`).
    #[arg(long, env = "PENSTOCK_MAX_SPEC_BYTES", value_name = "BYTES",
          default_value_t = penstock_spec::Limits::DEFAULT_MAX_SPEC_BYTES)]
    pub max_spec_bytes: usize,
    /// Longest name of a component, task, parameter or artifact (`max_name_length`).
    #[arg(long, env = "PENSTOCK_MAX_NAME_LENGTH", value_name = "CHARS",
          default_value_t = penstock_spec::Limits::DEFAULT_MAX_NAME_LENGTH)]
    pub max_name_length: usize,
}

impl LimitFlags {
    /// The limits these flags set, or the flag that is 0.
    pub fn limits(&self) -> Result<penstock_server::Limits, String> {
        for (flag, value) in [
            ("--max-dag-depth", self.max_dag_depth),
            ("--max-tasks-per-run", self.max_tasks_per_run),
            ("--max-loop-iterations", self.max_loop_iterations),
            ("--max-spec-bytes", self.max_spec_bytes),
            ("--max-name-length", self.max_name_length),
        ] {
            if value == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        Ok(penstock_server::Limits {
            spec: penstock_spec::Limits {
                max_dag_depth: self.max_dag_depth,
                max_tasks: self.max_tasks_per_run,
                max_loop_items: self.max_loop_iterations,
                max_name_length: self.max_name_length,
                max_spec_bytes: self.max_spec_bytes,
            },
            run: penstock_engine::RunLimits {
                max_tasks_per_run: self.max_tasks_per_run,
                max_loop_iterations: self.max_loop_iterations,
            },
        })
    }
}

/// Flags of `penstock server`.
#[derive(Debug, Args)]
pub struct ServerFlags {
    /// The address to listen on.
    #[arg(long, env = "PENSTOCK_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// The port to listen on (KFP's API server uses 8888).
    #[arg(long, env = "PENSTOCK_PORT", default_value_t = 8888)]
    pub port: u16,
    /// How many tasks may execute at once across all runs (default: the number of CPU cores).
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// The launcher.
    #[command(flatten)]
    pub launcher: LauncherFlags,
    /// The `kfp` version given to lightweight Python components, or `pinned`.
    #[arg(long, env = "PENSTOCK_KFP_RUNTIME", default_value = penstock_launcher::DEFAULT_KFP_RUNTIME)]
    pub kfp_runtime: String,
    /// Where lightweight components' Python environments are kept (default `HOME/venvs`).
    #[arg(long, env = "PENSTOCK_VENVS", value_name = "DIR")]
    pub venvs: Option<PathBuf>,
    /// Start every lightweight Python component as a fresh process instead of forking it from
    /// a warm interpreter that has already imported `kfp`.
    #[arg(long, env = "PENSTOCK_NO_WARM")]
    pub no_warm: bool,
    /// Do not register the example pipelines in a fresh home.
    #[arg(long, env = "PENSTOCK_NO_EXAMPLES")]
    pub no_examples: bool,
    /// Every run created by this server FAILS when it has been running longer than this (e.g.
    /// `12h`); counted from its start, across restarts too.
    #[arg(long, env = "PENSTOCK_RUN_TIMEOUT", value_name = "DURATION")]
    pub run_timeout: Option<String>,
    /// How callers are authenticated: `none` (only allowed on a loopback address unless
    /// --insecure-no-auth), `tokens` (bearer tokens from `penstock tokens create`) or `proxy`
    /// (an authenticating proxy sets the user in --auth-proxy-user-header).
    #[arg(long, env = "PENSTOCK_AUTH", value_enum, default_value = "none")]
    pub auth: AuthFlag,
    /// With `--auth proxy`: the header carrying the authenticated user.
    #[arg(
        long,
        env = "PENSTOCK_AUTH_PROXY_USER_HEADER",
        default_value = "kubeflow-userid"
    )]
    pub auth_proxy_user_header: String,
    /// With `--auth proxy`: a header carrying the comma-separated namespaces the user may use
    /// (without it every user may use every namespace).
    #[arg(long, env = "PENSTOCK_AUTH_PROXY_NAMESPACES_HEADER")]
    pub auth_proxy_namespaces_header: Option<String>,
    /// Serve a non-loopback address without authentication (anyone who can reach it can run
    /// commands on this machine). Logs a warning at every start.
    #[arg(long, env = "PENSTOCK_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// A host name clients use to reach the server (repeatable; comma-separated in the
    /// environment). IP addresses and `localhost` are always accepted; any other `Host` header
    /// is refused, which stops DNS-rebinding attacks.
    #[arg(
        long = "allowed-host",
        env = "PENSTOCK_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub allowed_hosts: Vec<String>,
    /// Limits on specs and runs.
    #[command(flatten)]
    pub limits: LimitFlags,
}

/// `--launcher`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LauncherFlag {
    /// Each task is a process on this machine; the image is not used.
    Local,
    /// Each task runs in its own container from its image (Docker or Podman's Docker API).
    Docker,
}

/// Which launcher runs the tasks, and its settings.
#[derive(Debug, Clone, Args)]
pub struct LauncherFlags {
    /// Where tasks run: `local` processes, or a `docker` container per task from its image
    /// (the daemon is found through DOCKER_HOST, else the default socket).
    #[arg(long, env = "PENSTOCK_LAUNCHER", value_enum, default_value = "local")]
    pub launcher: LauncherFlag,
    /// With `--launcher docker`: the network task containers join (e.g. `host` to reach
    /// package registries); the daemon's default bridge otherwise.
    #[arg(long, env = "PENSTOCK_DOCKER_NETWORK", value_name = "NAME")]
    pub docker_network: Option<String>,
}

impl LauncherFlags {
    /// The launcher these flags choose.
    pub fn kind(&self) -> penstock_launcher::LauncherKind {
        match self.launcher {
            LauncherFlag::Local => penstock_launcher::LauncherKind::Local,
            LauncherFlag::Docker => penstock_launcher::LauncherKind::Docker,
        }
    }

    /// The Docker launcher's settings; `pull_progress_on_stderr` for commands run in a
    /// terminal (`run`, `runs resume`).
    pub fn docker(&self, pull_progress_on_stderr: bool) -> penstock_launcher::DockerConfig {
        penstock_launcher::DockerConfig {
            network: self.docker_network.clone(),
            pull_progress_on_stderr,
        }
    }
}

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthFlag {
    /// No authentication.
    None,
    /// Bearer tokens.
    Tokens,
    /// A trusted user header from an authenticating proxy.
    Proxy,
}

/// `penstock tokens ...`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (it is shown once; only its hash is kept).
    Create {
        /// A unique name for the token (who or what uses it).
        #[arg(long)]
        name: String,
        /// A namespace the token may use (repeatable). Without any, the token may use every
        /// namespace.
        #[arg(long = "namespace", value_name = "NS")]
        namespaces: Vec<String>,
    },
    /// List tokens (names, namespaces, state; never the tokens).
    List,
    /// Revoke a token by name or id; requests with it are refused from then on.
    Revoke {
        /// The token's name or id.
        name: String,
    },
}

/// `penstock recurring-runs ...`.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
pub enum RecurringCommand {
    /// Create a recurring run of a compiled pipeline.
    Create(RecurringCreate),
    /// List recurring runs with their next fire time.
    List,
    /// Show one recurring run with its next fire times.
    Get {
        /// The recurring run id.
        id: String,
    },
    /// Start firing again (missed ticks are caught up unless created with --no-catchup).
    Enable {
        /// The recurring run id.
        id: String,
    },
    /// Stop firing.
    Disable {
        /// The recurring run id.
        id: String,
    },
    /// Delete a recurring run (its runs stay).
    Delete {
        /// The recurring run id.
        id: String,
    },
}

/// Flags of `penstock recurring-runs create`.
#[derive(Debug, Args)]
pub struct RecurringCreate {
    /// The compiled pipeline file.
    pub file: PathBuf,
    /// The recurring run's name.
    #[arg(long)]
    pub name: String,
    /// A cron expression: 6 fields with seconds first (`0 0 9 * * 1-5`) or 5 fields.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// The IANA time zone the cron fields are read in (default UTC).
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// A fixed interval instead of cron (`30s`, `2h`, `P1D`).
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// No tick before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// No tick after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// At most this many of its runs active at once (1–10).
    #[arg(long, default_value_t = 1)]
    pub max_concurrency: i64,
    /// After downtime start only the most recent missed tick, not every one.
    #[arg(long)]
    pub no_catchup: bool,
    /// Create it disabled.
    #[arg(long)]
    pub disabled: bool,
    /// The experiment its runs go to (created if missing; default `Default`).
    #[arg(long)]
    pub experiment: Option<String>,
    /// A pipeline parameter, `NAME=VALUE`; strings may hold `[[Index]]`, `[[ScheduledTime]]`, ….
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

/// `penstock runs ...`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List recorded runs, newest first.
    List {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u32,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Compare runs: config differences and summaries side by side.
    Compare {
        /// Two or more run ids (or unique prefixes).
        #[arg(required = true, num_args = 2..)]
        runs: Vec<String>,
    },
    /// Continue a run whose `penstock run` was killed: finished tasks keep their outcome,
    /// interrupted ones start again as a new attempt.
    Resume {
        /// The run id (or a unique prefix).
        run: String,
        /// Output format of the final report.
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: OutputFormat,
        /// The launcher (use the one the run started with).
        #[command(flatten)]
        launcher: LauncherFlags,
    },
    /// Show one run with its tasks and its summary (scalars and logged curves).
    Get {
        /// The run id (or a unique prefix).
        run: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
}

/// `PENSTOCK_HOME`, `--home`, or `~/.penstock`, made absolute (tasks run in their own
/// working folders, where a relative path would mean something else).
pub fn home_dir(flag: Option<PathBuf>) -> PathBuf {
    absolute(flag.unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".penstock")
    }))
}

/// `path` relative to the current folder made absolute (unchanged if that fails).
pub fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// `--database` / `PENSTOCK_DATABASE` as given to this process (set once by [`dispatch`]).
static DATABASE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The database URL this command uses; `None`: the SQLite file in the home.
pub fn database_url() -> Option<String> {
    DATABASE.get().cloned().flatten()
}

/// Opens the store: `--database` when given, else `penstock.db` under `home` (creating the
/// folder, which also holds artifacts and logs).
pub async fn open_store(home: &Path) -> Result<SqliteStore, String> {
    std::fs::create_dir_all(home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    SqliteStore::open_configured(database_url().as_deref(), home)
        .await
        .map_err(|e| e.to_string())
}

/// Removes the Docker containers the dead Penstock process `supervisor` started.
#[cfg(feature = "docker")]
async fn remove_supervised_containers(supervisor: u32) {
    use penstock_launcher::docker;
    match docker::connect().await {
        Ok(client) => match docker::remove_supervised_containers(&client, supervisor).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!("process {supervisor} stopped; removed {n} of its containers"),
            Err(e) => tracing::warn!("cannot remove the containers of process {supervisor}: {e}"),
        },
        Err(e) => tracing::warn!("cannot remove the containers of process {supervisor}: {e}"),
    }
}

/// Without the Docker launcher there are no containers to remove.
#[cfg(not(feature = "docker"))]
async fn remove_supervised_containers(_supervisor: u32) {}

/// Runs a parsed command line.
pub async fn dispatch(cli: Cli) -> Outcome {
    let home = home_dir(cli.home);
    let _ = DATABASE.set(cli.database);
    if let Err(e) = penstock_launcher::staging::set_default_pipeline_root(cli.pipeline_root) {
        eprintln!("penstock: {e}");
        return Outcome::InvalidInput;
    }
    match cli.command {
        Command::Run(flags) => run_pipeline(RunArgs { home, flags }).await,
        Command::Runs(cmd) => runs_command(&home, cmd).await,
        Command::RecurringRuns(cmd) => {
            crate::recurring_command::recurring_command(&home, cmd).await
        }
        Command::Server(flags) => crate::server_command::serve(home, flags).await,
        Command::Logs { run, task } => logs_command(&home, &run, &task).await,
        Command::Tokens(cmd) => crate::tokens_command::tokens_command(&home, cmd).await,
        Command::Reap {
            supervisor,
            containers,
        } => {
            let stopped = tokio::task::spawn_blocking(move || {
                penstock_launcher::reaper::watch_supervisor(supervisor)
            })
            .await
            .unwrap_or(0);
            if stopped > 0 {
                tracing::warn!(
                    "process {supervisor} stopped; stopped {stopped} of its task processes"
                );
            }
            if containers {
                remove_supervised_containers(supervisor).await;
            }
            Outcome::Success
        }
    }
}

async fn runs_command(home: &Path, cmd: RunsCommand) -> Outcome {
    if let RunsCommand::Resume {
        run,
        output,
        launcher,
    } = &cmd
    {
        return crate::resume_command::resume_run(home, run, *output, launcher).await;
    }
    let store = match open_store(home).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    match cmd {
        RunsCommand::Resume { .. } => Outcome::Failure,
        RunsCommand::List { limit, output } => match store.list_runs(limit).await {
            Ok(runs) => {
                if output == OutputFormat::Json {
                    // A summary per run; `runs get` has the detail (spec, tasks).
                    let list: Vec<_> = runs.iter().map(run_summary_json).collect();
                    println!(
                        "{}",
                        serde_json::json!({"runs": list, "total_size": list.len()})
                    );
                } else {
                    println!("{:<36}  {:<10}  {:<20}  NAME", "RUN ID", "STATE", "CREATED");
                    for r in runs {
                        println!(
                            "{:<36}  {:<10}  {:<20}  {}",
                            r.run_id,
                            r.state.to_string(),
                            list_time(r.created_at),
                            r.display_name
                        );
                    }
                }
                Outcome::Success
            }
            Err(e) => {
                eprintln!("penstock: {e}");
                Outcome::Failure
            }
        },
        RunsCommand::Get { run, output } => {
            let (record, tasks) = match load_run(&store, home, &run).await {
                Ok(found) => found,
                Err(e) => {
                    eprintln!("penstock: {e}");
                    return Outcome::Failure;
                }
            };
            if output == OutputFormat::Json {
                println!("{}", kfp_json::run_json(&record, &tasks));
            } else {
                print!("{}", kfp_json::run_text(&record, &tasks));
                let metrics = run_metrics(home, &record, &tasks);
                print!("{}", crate::compare::summary_text(&metrics));
            }
            Outcome::Success
        }
        RunsCommand::Compare { runs } => {
            if runs.len() < 2 {
                eprintln!("penstock: give at least two runs to compare");
                return Outcome::InvalidInput;
            }
            let mut loaded = Vec::new();
            for id in &runs {
                match load_run(&store, home, id).await {
                    Ok((record, tasks)) => {
                        let metrics = run_metrics(home, &record, &tasks);
                        loaded.push((record, metrics));
                    }
                    Err(e) => {
                        eprintln!("penstock: {e}");
                        return Outcome::InvalidInput;
                    }
                }
            }
            print!("{}", crate::compare::compare_text(&loaded));
            Outcome::Success
        }
    }
}

/// Why a task has no log, in words: skipped, cached, not started, or not a task that executes.
pub fn no_log_reason(t: &TaskRecord) -> String {
    use penstock_engine::TaskState;
    let why = match (t.state, &t.cache) {
        (TaskState::Skipped, _) => format!(
            "was skipped{}, so it never ran",
            t.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
        (TaskState::Cached, Some(c)) => format!(
            "was cached: its outputs were reused ({}), so it did not run",
            c.reason
        ),
        (TaskState::Cached, None) => "was cached, so it did not run".to_string(),
        (TaskState::Pending, _) => "has not started yet".to_string(),
        _ => format!(
            "is a {}, which runs no command of its own; see the tasks inside it",
            t.kind.name()
        ),
    };
    format!("task '{}' {why} and has no log", t.path)
}

/// A time in lists: UTC to the second, always 20 characters, so columns line up.
pub fn list_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What `runs list -o json` shows of a run: KFP's run fields without the spec and task details.
pub fn run_summary_json(r: &RunRecord) -> serde_json::Value {
    let mut v = serde_json::json!({
        "run_id": r.run_id,
        "display_name": r.display_name,
        "pipeline_name": r.pipeline_name,
        "state": r.state.to_string(),
        "created_at": r.created_at.to_string(),
    });
    if let Some(t) = r.finished_at {
        v["finished_at"] = serde_json::json!(t.to_string());
    }
    if let Some(e) = &r.error {
        v["error"] = serde_json::json!({"message": e});
    }
    v
}

/// A run (by id or unique prefix) with its tasks.
async fn load_run(
    store: &SqliteStore,
    home: &Path,
    id: &str,
) -> Result<(RunRecord, Vec<TaskRecord>), String> {
    let record = store
        .find_run(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no run with id '{id}' in {}", home.display()))?;
    let tasks = store
        .list_tasks(&record.run_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok((record, tasks))
}

/// Copies a stream to standard output.
async fn stream_to_stdout(
    mut stream: futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
) -> std::io::Result<()> {
    use futures_util::StreamExt;
    use std::io::Write;
    while let Some(chunk) = stream.next().await {
        std::io::stdout().lock().write_all(&chunk?)?;
    }
    std::io::stdout().lock().flush()
}

/// A log kept in the pipeline root: the live local copy while the task runs (or when the
/// upload did not happen), else the object.
async fn object_log(
    home: &Path,
    run_id: &str,
    task: &penstock_engine::TaskRecord,
    uri: &str,
) -> Outcome {
    let local = penstock_launcher::staging::local_log_path(home, run_id, &task.path);
    let remote = if task.state.is_terminal() || !local.exists() {
        penstock_store::object::open(uri).await
    } else {
        Err(penstock_store::blob::BlobError::NotFound(uri.to_string()))
    };
    let result = match remote {
        Ok((_, stream)) => stream_to_stdout(stream).await,
        Err(e) => match std::fs::File::open(&local) {
            Ok(mut file) => std::io::copy(&mut file, &mut std::io::stdout().lock()).map(|_| ()),
            Err(_) => {
                eprintln!("penstock: task '{}' has no log yet ({e})", task.path);
                return Outcome::Failure;
            }
        },
    };
    match result {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("penstock: log of task '{}': {e}", task.path);
            Outcome::Failure
        }
    }
}

async fn logs_command(home: &Path, run: &str, task: &str) -> Outcome {
    let store = match open_store(home).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let (record, tasks) = match load_run(&store, home, run).await {
        Ok(found) => found,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let matching = kfp_json::find_tasks(&record, &tasks, task);
    let Some(found) = matching.first() else {
        let names: Vec<&str> = tasks
            .iter()
            .filter(|t| t.log_uri.is_some())
            .map(|t| t.path.as_str())
            .collect();
        eprintln!(
            "penstock: run {} has no task '{task}'; tasks with logs: {}",
            record.run_id,
            names.join(", ")
        );
        return Outcome::Failure;
    };
    if matching.len() > 1 {
        let names: Vec<&str> = matching.iter().map(|t| t.path.as_str()).collect();
        eprintln!(
            "penstock: '{task}' matches several tasks ({}); give the full path",
            names.join(", ")
        );
        return Outcome::Failure;
    }
    let Some(uri) = &found.log_uri else {
        eprintln!("penstock: {}", no_log_reason(found));
        return Outcome::Failure;
    };
    if penstock_store::blob::is_object_uri(uri) {
        return object_log(home, &record.run_id, found, uri).await;
    }
    let blobs = penstock_store::blob::LocalBlobStore::new(home);
    use penstock_store::blob::BlobStore;
    match blobs.read(uri) {
        Ok(bytes) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&bytes);
            Outcome::Success
        }
        Err(e) => {
            eprintln!("penstock: task '{}' has no log yet ({e})", found.path);
            Outcome::Failure
        }
    }
}
