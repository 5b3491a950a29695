//! `penstock runs resume RUN_ID`: continues a run whose `penstock run` was killed (`kill -9`,
//! a crash, a reboot) exactly as a restarted server resumes its runs: leftover task processes
//! are stopped for certain, finished tasks keep their outcome, interrupted ones start again as
//! a new attempt.

use crate::cli::{open_store, LauncherFlags, OutputFormat};
use crate::run_command::Foreground;
use crate::Outcome;
use penstock_engine::{RunEngine, RunOptions, RunState, SystemClock};
use penstock_launcher::LauncherConfig;
use std::path::Path;
use std::sync::Arc;

/// Runs `penstock runs resume`.
pub async fn resume_run(
    home: &Path,
    id: &str,
    output: OutputFormat,
    launcher_flags: &LauncherFlags,
) -> Outcome {
    let launcher = match penstock_launcher::open_launcher(
        launcher_flags.kind(),
        LauncherConfig::new(home.to_path_buf()),
        launcher_flags.docker(true),
    )
    .await
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("penstock: --launcher {}: {e}", launcher_flags.kind().name());
            return Outcome::Failure;
        }
    };
    let store = match open_store(home).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let run = match store.find_run(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!("penstock: no run with id '{id}' in {}", home.display());
            return Outcome::InvalidInput;
        }
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    if !matches!(run.state, RunState::Pending | RunState::Running) {
        eprintln!(
            "penstock: run {} is {}; only an interrupted (PENDING or RUNNING) run can be resumed{}",
            run.run_id,
            run.state,
            if run.state == RunState::Failed {
                " (a FAILED run is retried through the API or the UI)"
            } else {
                ""
            }
        );
        return Outcome::InvalidInput;
    }
    match store
        .claim_run(&run.run_id, penstock_launcher::reaper::process_alive)
        .await
    {
        Ok(None) => {}
        Ok(Some(owner)) => {
            eprintln!(
                "penstock: run {} is still being executed by {owner}",
                run.run_id
            );
            return Outcome::Failure;
        }
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    }
    let stopped = launcher.stop_leftovers(&run.run_id).await;
    let pipeline = match penstock_server::supervisor::stored_pipeline(&run) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            let why = format!(
                "{}: {}",
                penstock_server::supervisor::UNRESUMABLE,
                e.message
            );
            let _ = store
                .fail_run(&run.run_id, &why, jiff::Timestamp::now())
                .await;
            eprintln!("penstock: {why}");
            return Outcome::Failure;
        }
    };
    let (tasks, meta) = match (
        store.list_tasks(&run.run_id).await,
        store.get_run(&run.run_id).await,
    ) {
        (Ok(t), Ok((_, m))) => (t, m),
        (Err(e), _) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
        (_, Err(e)) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    if let Some(missing) = penstock_server::supervisor::missing_kept_artifact(&tasks).await {
        let why = format!("{}: {missing}", penstock_server::supervisor::UNRESUMABLE);
        let _ = store
            .fail_run(&run.run_id, &why, jiff::Timestamp::now())
            .await;
        eprintln!("penstock: {why}");
        return Outcome::Failure;
    }
    let json = output == OutputFormat::Json;
    if !json {
        println!(
            "Resuming run {} of {} (home {}){}",
            run.run_id,
            pipeline.name(),
            home.display(),
            if stopped > 0 {
                format!("; stopped {stopped} leftover process(es)")
            } else {
                String::new()
            }
        );
    }
    let options = RunOptions {
        pipeline_root: penstock_launcher::staging::pipeline_root_for(
            meta.pipeline_root.as_deref(),
            &run.pipeline_spec,
            home,
            &run.run_id,
        ),
        earlier_tasks: tasks.into_iter().map(|t| (t.path.clone(), t)).collect(),
        ..Default::default()
    };
    let engine = RunEngine::new(store.clone(), launcher.clone(), Arc::new(SystemClock))
        .with_observer(Arc::new(crate::progress::ProgressPrinter::new(json)));
    Foreground {
        engine: &engine,
        store: store.as_ref(),
        launcher: launcher.as_ref(),
        json,
        containers: launcher_flags.kind() == penstock_launcher::LauncherKind::Docker,
    }
    .execute(run, pipeline, options, true)
    .await
}
