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
    /// How many tasks may execute at once (default: the number of CPU cores).
    #[arg(long)]
    pub parallelism: Option<usize>,
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
    /// The `kfp` version given to lightweight Python components, or `pinned`.
    #[arg(long, env = "PENSTOCK_KFP_RUNTIME", default_value = penstock_launcher::DEFAULT_KFP_RUNTIME)]
    pub kfp_runtime: String,
    /// Where lightweight components' Python environments are kept (default `HOME/venvs`).
    #[arg(long, env = "PENSTOCK_VENVS", value_name = "DIR")]
    pub venvs: Option<PathBuf>,
    /// Do not register the example pipelines in a fresh home.
    #[arg(long, env = "PENSTOCK_NO_EXAMPLES")]
    pub no_examples: bool,
    /// How callers are authenticated: `none` (only allowed on a loopback address unless
    /// --insecure-no-auth), `tokens` (bearer tokens from `penstock tokens create`) or `proxy`
    /// (an authenticating proxy sets the user in --auth-proxy-user-header).
    #[arg(long, env = "PENSTOCK_AUTH", value_enum, default_value = "none")]
    pub auth: AuthFlag,
    /// With `--auth proxy`: the header carrying the authenticated user.
    #[arg(long, env = "PENSTOCK_AUTH_PROXY_USER_HEADER", default_value = "kubeflow-userid")]
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
    #[arg(long = "allowed-host", env = "PENSTOCK_ALLOWED_HOSTS", value_delimiter = ',', value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
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

/// Opens the store under `home`, creating the folder.
pub async fn open_store(home: &Path) -> Result<SqliteStore, String> {
    std::fs::create_dir_all(home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    SqliteStore::open(&home.join("penstock.db"))
        .await
        .map_err(|e| e.to_string())
}

/// Runs a parsed command line.
pub async fn dispatch(cli: Cli) -> Outcome {
    let home = home_dir(cli.home);
    match cli.command {
        Command::Run(flags) => run_pipeline(RunArgs { home, flags }).await,
        Command::Runs(cmd) => runs_command(&home, cmd).await,
        Command::RecurringRuns(cmd) => {
            crate::recurring_command::recurring_command(&home, cmd).await
        }
        Command::Server(flags) => crate::server_command::serve(home, flags).await,
        Command::Logs { run, task } => logs_command(&home, &run, &task).await,
        Command::Tokens(cmd) => crate::tokens_command::tokens_command(&home, cmd).await,
    }
}

async fn runs_command(home: &Path, cmd: RunsCommand) -> Outcome {
    let store = match open_store(home).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    match cmd {
        RunsCommand::List { limit, output } => match store.list_runs(limit).await {
            Ok(runs) => {
                if output == OutputFormat::Json {
                    let list: Vec<_> = runs.iter().map(|r| kfp_json::run_json(r, &[])).collect();
                    println!(
                        "{}",
                        serde_json::json!({"runs": list, "total_size": list.len()})
                    );
                } else {
                    println!("{:<36}  {:<10}  {:<25}  NAME", "RUN ID", "STATE", "CREATED");
                    for r in runs {
                        println!(
                            "{:<36}  {:<10}  {:<25}  {}",
                            r.run_id,
                            r.state,
                            r.created_at.to_string(),
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
    let matching: Vec<_> = tasks
        .iter()
        .filter(|t| t.path == task || t.task_id == task)
        .collect();
    let matching = if matching.is_empty() {
        tasks
            .iter()
            .filter(|t| t.name == task && t.log_uri.is_some())
            .collect()
    } else {
        matching
    };
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
        eprintln!(
            "penstock: task '{}' has no log (it is a {})",
            found.path,
            found.kind.name()
        );
        return Outcome::Failure;
    };
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
