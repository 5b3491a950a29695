//! `penstock server`: opens the store, binds the address and serves until SIGINT or SIGTERM,
//! then stops accepting requests, cancels active runs and waits until they are recorded.

use crate::cli::ServerFlags;
use crate::Outcome;
use penstock_launcher::python_env::KfpRuntime;
use penstock_server::{Server, ServerConfig};
use std::path::PathBuf;

/// Runs `penstock server`.
pub async fn serve(home: PathBuf, flags: ServerFlags) -> Outcome {
    if flags.parallelism == Some(0) {
        eprintln!("penstock: --parallelism must be at least 1");
        return Outcome::InvalidInput;
    }
    let task_slots = flags.parallelism.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let config = ServerConfig {
        home: home.clone(),
        task_slots,
        kfp_runtime: match flags.kfp_runtime.as_str() {
            "pinned" => KfpRuntime::Pinned,
            v => KfpRuntime::Version(v.to_string()),
        },
        venvs_dir: flags.venvs.map(crate::cli::absolute),
        register_examples: !flags.no_examples,
    };
    use tokio::signal::unix::{signal, SignalKind};
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("penstock: cannot listen for signals: {e}");
            return Outcome::Failure;
        }
    };
    let server = match Server::open(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let address = format!("{}:{}", flags.host, flags.port);
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("penstock: cannot listen on {address}: {e}");
            return Outcome::Failure;
        }
    };
    let shown = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(address);
    // Not println!: a closed stdout must not stop the server.
    use std::io::Write;
    let _ = writeln!(
        std::io::stdout(),
        "Penstock server on http://{shown} (home {})\n  kfp.Client(host=\"http://{shown}\")\n  API description: http://{shown}{}",
        home.display(),
        penstock_server::api::OPENAPI_PATH
    );
    let shutdown = async move {
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
        tracing::warn!("shutting down: cancelling active runs");
    };
    match server.serve(listener, shutdown).await {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("penstock: server failed: {e}");
            Outcome::Failure
        }
    }
}
