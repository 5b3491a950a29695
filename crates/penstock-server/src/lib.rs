//! # penstock-server
//!
//! `penstock server`: the Kubeflow Pipelines v2beta1 REST API over Penstock's engine and
//! store, so the official `kfp.Client` works unchanged, plus Penstock's own endpoints (task
//! logs, artifact contents, the OpenAPI document).
//!
//! - [`wire`]: KFP's JSON messages and their conventions.
//! - [`listing`]: page sizes, page tokens, sorting and filters.
//! - [`api`]: the routes.
//! - [`supervisor`]: runs execute in the server with the same `RunEngine` as `penstock run`.
//! - [`trigger`]: recurring-run triggers and their tick arithmetic.
//! - [`scheduler`]: fires recurring runs.
//! - [`tracking`]: a run's config, summary scalars and logged curves.
#![deny(missing_docs)]

pub mod access;
pub mod api;
pub mod error;
pub mod examples;
pub mod limits;
pub mod listing;
pub mod scheduler;
pub mod supervisor;
pub mod tracking;
pub mod trigger;
pub mod wire;

use api::ApiState;
use penstock_engine::{RunEngine, SystemClock};
use penstock_launcher::python_env::KfpRuntime;
use penstock_launcher::{DockerConfig, LauncherConfig, LauncherKind};
use penstock_store::SqliteStore;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use supervisor::RunSupervisor;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `PENSTOCK_HOME`: the database, run folders, artifacts and logs.
    pub home: PathBuf,
    /// At most this many container tasks execute at once, across all runs.
    pub task_slots: usize,
    /// Which `kfp` lightweight components get in their environment.
    pub kfp_runtime: KfpRuntime,
    /// Where Python environments are kept (default: under the home).
    pub venvs_dir: Option<PathBuf>,
    /// Start lightweight Python components from warm interpreters (`--no-warm` turns it off).
    pub warm: bool,
    /// Register the example pipelines in a home that never had them.
    pub register_examples: bool,
    /// Authentication and the hosts served.
    pub security: access::SecurityConfig,
    /// Limits on specs and on what one run may expand to.
    pub limits: Limits,
    /// The timeout every run created by this server gets.
    pub run_timeout: Option<std::time::Duration>,
    /// Which launcher runs the tasks.
    pub launcher: LauncherKind,
    /// The Docker launcher's settings.
    pub docker: DockerConfig,
    /// `--database` / `PENSTOCK_DATABASE`: a `postgres://…` URL (or `sqlite://PATH`); `None`
    /// keeps the SQLite file `penstock.db` in the home.
    pub database: Option<String>,
}

/// Limits on what callers may make the server parse and execute (`docs/security.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// On pipeline specs: checked when a spec is uploaded or a run is created.
    pub spec: penstock_spec::Limits,
    /// On one run's expansion: checked by the engine as the run executes.
    pub run: penstock_engine::RunLimits,
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// A ready server: store open, interrupted runs settled.
pub struct Server {
    state: ApiState,
}

impl Server {
    /// Opens the store (`config.database`, else the SQLite file under the home) and settles
    /// runs a previous process left unfinished.
    pub async fn open(config: ServerConfig) -> Result<Server, StartError> {
        std::fs::create_dir_all(&config.home)
            .map_err(|e| StartError(format!("cannot create {}: {e}", config.home.display())))?;
        let store = SqliteStore::open_configured(config.database.as_deref(), &config.home)
            .await
            .map_err(|e| StartError(e.to_string()))?;
        tracing::info!(database = store.backend().name(), "store open");
        let mut launcher_config = LauncherConfig::new(config.home.clone());
        launcher_config.kfp_runtime = config.kfp_runtime.clone();
        launcher_config.venvs_dir = config.venvs_dir.clone();
        launcher_config.warm = config.warm;
        let launcher = penstock_launcher::open_launcher(
            config.launcher,
            launcher_config,
            config.docker.clone(),
        )
        .await
        .map_err(|e| StartError(format!("--launcher {}: {e}", config.launcher.name())))?;
        let engine = RunEngine::new(Arc::new(store.clone()), launcher, Arc::new(SystemClock))
            .with_task_slots(config.task_slots)
            .with_limits(config.limits.run)
            .with_run_timeout(config.run_timeout);
        let supervisor = RunSupervisor::new(engine, store.clone(), config.home.clone());
        if config.register_examples {
            examples::register_examples(&store, &config.home)
                .await
                .map_err(|e| StartError(format!("cannot register the examples: {}", e.message)))?;
        }
        let resumed = supervisor
            .resume_interrupted_runs()
            .await
            .map_err(|e| StartError(format!("cannot resume interrupted runs: {e}")))?;
        if resumed > 0 {
            tracing::warn!("{resumed} interrupted run(s) resumed");
        }
        Ok(Server {
            state: ApiState {
                store,
                supervisor,
                home: config.home,
                recurring_changed: Arc::new(tokio::sync::Notify::new()),
                security: Arc::new(config.security),
                spec_limits: config.limits.spec,
            },
        })
    }

    /// The state the handlers share.
    pub fn state(&self) -> &ApiState {
        &self.state
    }

    /// Every route.
    pub fn router(&self) -> axum::Router {
        api::routes(self.state.clone())
    }

    /// Serves the API and runs the recurring-run scheduler until `shutdown` completes, then
    /// stops the scheduler; active runs are left to resume at the next start (their task
    /// processes are stopped when this process exits, by the `penstock reap` watchdog).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self
            .router()
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let stop_scheduler = tokio_util::sync::CancellationToken::new();
        let scheduler = tokio::spawn(
            scheduler::Scheduler::new(self.state.clone(), Arc::new(SystemClock))
                .run(stop_scheduler.clone()),
        );
        let keeper = tokio::spawn(
            self.state
                .supervisor
                .clone()
                .keep_runs(stop_scheduler.clone()),
        );
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        stop_scheduler.cancel();
        let _ = scheduler.await;
        let _ = keeper.await;
        self.state.supervisor.shutdown();
        served
    }
}
