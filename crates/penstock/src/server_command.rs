//! `penstock server`: opens the store, binds the address and serves until SIGINT or SIGTERM,
//! then stops accepting requests, cancels active runs and waits until they are recorded.

use crate::cli::{AuthFlag, ServerFlags};
use crate::Outcome;
use penstock_launcher::python_env::KfpRuntime;
use penstock_server::access::{AuthMode, SecurityConfig};
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
    let auth = match flags.auth {
        AuthFlag::None => AuthMode::None,
        AuthFlag::Tokens => AuthMode::Tokens,
        AuthFlag::Proxy => AuthMode::Proxy {
            user_header: flags.auth_proxy_user_header.to_ascii_lowercase(),
            namespaces_header: flags
                .auth_proxy_namespaces_header
                .as_ref()
                .map(|h| h.to_ascii_lowercase()),
        },
    };
    for header in [
        Some(&flags.auth_proxy_user_header),
        flags.auth_proxy_namespaces_header.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if axum_header_name_invalid(header) {
            eprintln!("penstock: '{header}' is not a valid HTTP header name");
            return Outcome::InvalidInput;
        }
    }
    let loopback = is_loopback_host(&flags.host);
    if !loopback && !auth.enabled() {
        if !flags.insecure_no_auth {
            eprintln!(
                "penstock: refusing to serve {} without authentication: anyone who can reach                  it could run commands on this machine. Use --auth tokens (and `penstock tokens                  create`), --auth proxy behind an authenticating proxy, or --insecure-no-auth                  if this network is trusted.",
                flags.host
            );
            return Outcome::InvalidInput;
        }
        tracing::warn!(
            host = flags.host,
            "serving a non-loopback address WITHOUT authentication (--insecure-no-auth):              anyone who can reach it can run commands as this user"
        );
        eprintln!(
            "penstock: WARNING: {} is served without authentication (--insecure-no-auth)",
            flags.host
        );
    }
    let mut allowed_hosts: std::collections::BTreeSet<String> = flags
        .allowed_hosts
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !is_wildcard(&flags.host) {
        allowed_hosts.insert(flags.host.to_ascii_lowercase());
    }
    let limits = match flags.limits.limits() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::InvalidInput;
        }
    };
    let run_timeout = match flags
        .run_timeout
        .as_deref()
        .map(penstock_engine::policy::parse_duration)
        .transpose()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("penstock: --run-timeout: {e}");
            return Outcome::InvalidInput;
        }
    };
    let config = ServerConfig {
        home: home.clone(),
        task_slots,
        kfp_runtime: match flags.kfp_runtime.as_str() {
            "pinned" => KfpRuntime::Pinned,
            v => KfpRuntime::Version(v.to_string()),
        },
        venvs_dir: flags.venvs.map(crate::cli::absolute),
        warm: !flags.no_warm,
        register_examples: !flags.no_examples,
        security: SecurityConfig {
            auth,
            allowed_hosts,
        },
        limits,
        run_timeout,
        launcher: flags.launcher.kind(),
        docker: flags.launcher.docker(false),
        database: crate::cli::database_url(),
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
    // Stops the task processes of this server if it is killed (`kill -9`) or stops; the
    // runs themselves resume at the next start.
    match std::env::current_exe() {
        Ok(exe) => {
            let containers = flags.launcher.kind() == penstock_launcher::LauncherKind::Docker;
            if let Err(e) = penstock_launcher::reaper::spawn_watchdog(&exe, containers) {
                tracing::warn!("cannot start the task watchdog: {e}");
            }
        }
        Err(e) => tracing::warn!("cannot start the task watchdog: {e}"),
    }
    let server = match Server::open(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let address = if flags.host.contains(':') && !flags.host.starts_with('[') {
        format!("[{}]:{}", flags.host, flags.port)
    } else {
        format!("{}:{}", flags.host, flags.port)
    };
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
        tracing::warn!("shutting down: active runs resume at the next start");
    };
    match server.serve(listener, shutdown).await {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("penstock: server failed: {e}");
            Outcome::Failure
        }
    }
}

/// Whether `host` (an address or name to listen on) only accepts connections from this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// `0.0.0.0` and `::`: every interface.
fn is_wildcard(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_unspecified())
        .unwrap_or(false)
}

fn axum_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["0.0.0.0", "::", "10.0.0.1", "example.org"] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(is_wildcard("0.0.0.0") && is_wildcard("[::]") && !is_wildcard("10.0.0.1"));
        assert!(
            axum_header_name_invalid("bad header") && !axum_header_name_invalid("kubeflow-userid")
        );
    }
}
