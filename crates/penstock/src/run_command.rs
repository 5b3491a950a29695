//! `penstock run`: validate, record, execute, report.

use crate::cli::{open_store, OutputFormat, RunFlags};
use crate::kfp_json;
use crate::progress::ProgressPrinter;
use crate::Outcome;
use penstock_engine::params::{
    check_no_required_input_artifacts, parse_text_value, resolve_run_parameters,
};
use penstock_engine::policy::parse_duration;
use penstock_engine::{
    ParameterMap, RunEngine, RunOptions, RunRecord, RunState, SystemClock, TaskLauncher, TaskState,
};
use penstock_launcher::python_env::KfpRuntime;
use penstock_launcher::LauncherConfig;
use penstock_spec::Pipeline;
use penstock_store::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything `penstock run` needs.
#[derive(Debug)]
pub struct RunArgs {
    /// `PENSTOCK_HOME`.
    pub home: PathBuf,
    /// The flags.
    pub flags: RunFlags,
}

fn invalid(message: String) -> Outcome {
    eprintln!("penstock: {message}");
    Outcome::InvalidInput
}

/// Parses `-p NAME=VALUE` items by the pipeline's declared input types.
pub fn parse_params(
    file: &str,
    root: &penstock_spec::ComponentSpec,
    items: &[String],
) -> Result<ParameterMap, String> {
    let mut out = ParameterMap::new();
    for item in items {
        let Some((name, text)) = item.split_once('=') else {
            return Err(format!("{file}: parameter {item:?} must be NAME=VALUE"));
        };
        let Some(def) = root.input_definitions.parameters.get(name) else {
            let known: Vec<&str> = root
                .input_definitions
                .parameters
                .keys()
                .map(String::as_str)
                .collect();
            return Err(format!(
                "{file}: unknown parameter '{name}'; the pipeline's inputs are: {}",
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        let ty = def.parameter_type.effective(def.legacy_type.as_deref());
        let value = parse_text_value(name, ty, text).map_err(|e| format!("{file}: {e}"))?;
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// Runs `penstock run`.
pub async fn run_pipeline(args: RunArgs) -> Outcome {
    let flags = args.flags;
    let file = flags.file.display().to_string();
    let bytes = match std::fs::read(&flags.file) {
        Ok(b) => b,
        Err(e) => return invalid(format!("cannot read {file}: {e}")),
    };
    let limits = match flags.limits.limits() {
        Ok(l) => l,
        Err(e) => return invalid(e),
    };
    let pipeline = match penstock_spec::parse_pipeline_with_limits(&file, &bytes, &limits.spec) {
        Ok(p) => Arc::new(p),
        Err(e) => return invalid(e.to_string()),
    };
    let given = match parse_params(&file, &pipeline.spec.root, &flags.params) {
        Ok(p) => p,
        Err(e) => return invalid(e),
    };
    let parameters = match resolve_run_parameters(&pipeline.spec.root, given) {
        Ok(p) => p,
        Err(e) => return invalid(format!("{file}: {e}")),
    };
    if let Err(e) = check_no_required_input_artifacts(&pipeline.spec.root) {
        return invalid(format!("{file}: {e}"));
    }
    let cache_max_age = match flags
        .cache_max_age
        .as_deref()
        .map(parse_duration)
        .transpose()
    {
        Ok(d) => d,
        Err(e) => return invalid(format!("--cache-max-age: {e}")),
    };
    let timeout = match flags.timeout.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => return invalid(format!("--timeout: {e}")),
    };
    if flags.parallelism == Some(0) {
        return invalid("--parallelism must be at least 1".into());
    }
    let store = match open_store(&args.home).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let mut config = LauncherConfig::new(args.home.clone());
    config.kfp_runtime = match flags.kfp_runtime.as_str() {
        "pinned" => KfpRuntime::Pinned,
        v => KfpRuntime::Version(v.to_string()),
    };
    config.venvs_dir = flags.venvs.clone().map(crate::cli::absolute);
    config.warm = !flags.no_warm;
    let launcher = match penstock_launcher::open_launcher(
        flags.launcher.kind(),
        config,
        flags.launcher.docker(true),
    )
    .await
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("penstock: --launcher {}: {e}", flags.launcher.kind().name());
            return Outcome::Failure;
        }
    };
    let json = flags.output == OutputFormat::Json;
    let slots = flags.parallelism.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let engine = RunEngine::new(store.clone(), launcher.clone(), Arc::new(SystemClock))
        .with_observer(Arc::new(ProgressPrinter::new(json)))
        .with_task_slots(slots)
        .with_limits(limits.run)
        .with_run_timeout(timeout);
    let run_id = uuid::Uuid::now_v7().to_string();
    let display_name = flags.name.clone().unwrap_or_else(|| {
        format!(
            "{} {}",
            pipeline.name(),
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S")
        )
    });
    let run = match engine
        .create_run(run_id, display_name, &pipeline, parameters)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    if !json {
        println!(
            "Run {} of {} (home {})",
            run.run_id,
            pipeline.name(),
            args.home.display()
        );
    }
    let options = RunOptions {
        disable_cache: flags.no_cache,
        cache_max_age,
        pipeline_root: penstock_launcher::staging::pipeline_root_for(
            None,
            &run.pipeline_spec,
            &args.home,
            &run.run_id,
        ),
        ..Default::default()
    };
    let foreground = Foreground {
        engine: &engine,
        store: store.as_ref(),
        launcher: launcher.as_ref(),
        json,
        containers: flags.launcher.kind() == penstock_launcher::LauncherKind::Docker,
    };
    foreground.execute(run, pipeline, options, false).await
}

/// A run executed by this process in the foreground: Ctrl-C cancels it, the summary (or the
/// run JSON) is printed at the end, and the outcome becomes the exit code.
pub struct Foreground<'a> {
    /// The engine executing it.
    pub engine: &'a RunEngine,
    /// Where it is recorded.
    pub store: &'a SqliteStore,
    /// The launcher (for the failed task's log tail).
    pub launcher: &'a dyn TaskLauncher,
    /// Print the run as JSON instead of the summary.
    pub json: bool,
    /// Tasks run in Docker containers (the watchdog removes them if this process dies).
    pub containers: bool,
}

impl Foreground<'_> {
    /// Executes `run` (or resumes it, `resume`) to its end.
    pub async fn execute(
        &self,
        run: RunRecord,
        pipeline: Arc<Pipeline>,
        options: RunOptions,
        resume: bool,
    ) -> Outcome {
        // A watchdog stops this run's task processes if this process is killed (`kill -9`)
        // before it could; `penstock runs resume` continues the run afterwards.
        if let Ok(exe) = std::env::current_exe() {
            if let Err(e) = penstock_launcher::reaper::spawn_watchdog(&exe, self.containers) {
                tracing::warn!("cannot start the task watchdog: {e}");
            }
        }
        let cancel = CancellationToken::new();
        let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut sigint), Ok(mut sigterm)) => {
                let cancel = cancel.clone();
                let interrupted = interrupted.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = sigint.recv() => {}
                        _ = sigterm.recv() => {}
                    }
                    interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                    eprintln!("penstock: interrupted, cancelling the run…");
                    cancel.cancel();
                });
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("penstock: cannot listen for Ctrl-C: {e}");
                return Outcome::Failure;
            }
        }
        // The lease tells servers sharing the database that this process executes the run.
        let stop_lease = CancellationToken::new();
        let lease = tokio::spawn(penstock_server::supervisor::keep_foreground_lease(
            self.store.clone(),
            run.run_id.clone(),
            cancel.clone(),
            stop_lease.clone(),
        ));
        let result = if resume {
            self.engine.resume(run, pipeline, options, cancel).await
        } else {
            self.engine.execute(run, pipeline, options, cancel).await
        };
        stop_lease.cancel();
        let _ = lease.await;
        let finished = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("penstock: {e}");
                return Outcome::Failure;
            }
        };
        let tasks = self
            .store
            .list_tasks(&finished.run_id)
            .await
            .unwrap_or_default();
        if self.json {
            println!("{}", kfp_json::run_json(&finished, &tasks));
        } else {
            print_summary(&finished, &tasks, self.launcher).await;
        }
        match finished.state {
            RunState::Succeeded => Outcome::Success,
            RunState::Canceled if interrupted.load(std::sync::atomic::Ordering::SeqCst) => {
                Outcome::Interrupted
            }
            _ => Outcome::Failure,
        }
    }
}

async fn print_summary(
    run: &penstock_engine::RunRecord,
    tasks: &[penstock_engine::TaskRecord],
    launcher: &dyn TaskLauncher,
) {
    let mut counts: Vec<(TaskState, usize)> = Vec::new();
    for state in [
        TaskState::Succeeded,
        TaskState::Cached,
        TaskState::Skipped,
        TaskState::Failed,
        TaskState::Canceled,
    ] {
        let n = tasks
            .iter()
            .filter(|t| {
                t.state == state
                    && matches!(
                        t.kind,
                        penstock_engine::TaskKind::Container | penstock_engine::TaskKind::Importer
                    )
            })
            .count();
        if n > 0 {
            counts.push((state, n));
        }
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.name().to_lowercase()))
        .collect();
    let took = match (run.started_at, run.finished_at) {
        (Some(s), Some(e)) => format!("{:.2}s", e.duration_since(s).as_secs_f64()),
        _ => "-".into(),
    };
    println!();
    println!(
        "Run {} {} in {took} — steps: {}",
        run.run_id,
        run.state,
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        }
    );
    if run.state == RunState::Failed {
        if let Some(failed) = tasks.iter().find(|t| {
            t.state == TaskState::Failed
                && matches!(
                    t.kind,
                    penstock_engine::TaskKind::Container | penstock_engine::TaskKind::Importer
                )
        }) {
            println!("Failed task: {}", failed.path);
            if let Some(e) = &failed.error {
                println!("Error: {e}");
            }
            let tail = launcher.log_tail(&run.run_id, &failed.path, 20).await;
            if !tail.is_empty() {
                println!("Last {} lines of its log:", tail.len());
                for line in tail {
                    println!("  | {line}");
                }
            }
        } else if let Some(e) = &run.error {
            println!("Error: {e}");
        }
    }
    print!("{}", kfp_json::outputs_text(run));
}
