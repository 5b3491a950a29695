//! Who may use a server, and what a hostile caller cannot do: authentication, namespaces,
//! cross-site requests, hosts (`kfp_client/test_security.py` with the real `kfp.Client`), the
//! start-up refusal of unauthenticated non-loopback servers, hostile specs, and schemathesis
//! driving every operation of the served OpenAPI document.

use crate::server::{create_token, ServerProcess};
use crate::util::{python, repo_root};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn tokens_namespaces_hosts_and_cross_site_requests_through_kfp_client() {
    let home = tempfile::tempdir().expect("temp dir");
    let admin = create_token(home.path(), "admin", &[]);
    let alice = create_token(home.path(), "alice", &["team-a"]);
    let bob = create_token(home.path(), "bob", &["team-b"]);
    let server = ServerProcess::start_with(home.path(), &["--auth", "tokens"]);
    let status = Command::new(python())
        .args(["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"])
        .arg(repo_root().join("tests/e2e/kfp_client/test_security.py"))
        .env("PENSTOCK_URL", &server.url)
        .env("ADMIN_TOKEN", &admin)
        .env("ALICE_TOKEN", &alice)
        .env("BOB_TOKEN", &bob)
        .env("PENSTOCK_BIN", env!("CARGO_BIN_EXE_penstock"))
        .env("PENSTOCK_HOME", home.path())
        .env("PYTHONWARNINGS", "ignore")
        .status()
        .expect("run pytest");
    assert!(status.success(), "the security tests failed (output above)");
}

#[test]
fn a_server_on_the_network_refuses_to_start_without_authentication() {
    let home = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args([
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--no-examples",
        ])
        .env("PENSTOCK_HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .expect("run penstock server");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("without authentication")
            && stderr.contains("--auth tokens")
            && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Explicitly insecure: it starts, and says so.
    let mut child = Command::new(env!("CARGO_BIN_EXE_penstock"))
        .args([
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--no-examples",
            "--insecure-no-auth",
        ])
        .env("PENSTOCK_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start penstock server");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("first line");
    assert!(
        first.contains("Penstock server on http://0.0.0.0:"),
        "{first}"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARNING") && stderr.contains("without authentication"),
        "{stderr}"
    );
}

/// schemathesis (its own venv, `.venv-schemathesis`) generates requests for every operation of
/// the served OpenAPI document; no answer may be a server error or break the document's schema
/// of statuses.
#[test]
fn schemathesis_finds_no_server_error() {
    let st = std::env::var_os("PENSTOCK_TEST_SCHEMATHESIS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-schemathesis/bin/schemathesis"));
    assert!(
        st.exists(),
        "{} is missing: scripts/test installs schemathesis==4.32.5 into .venv-schemathesis",
        st.display()
    );
    let home = tempfile::tempdir().expect("temp dir");
    let token = create_token(home.path(), "schemathesis", &[]);
    let server = ServerProcess::start_with(home.path(), &["--auth", "tokens"]);
    let schema = format!("{}{}", server.url, "/apis/penstock/v1/openapi.json");
    let doc: Value = {
        let out = Command::new(python())
            .args([
                "-c",
                "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
                &schema,
            ])
            .output()
            .expect("python");
        serde_json::from_slice(&out.stdout).expect("the OpenAPI document is JSON")
    };
    let operations: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|m| m.as_object().map_or(0, |o| o.len()))
                .sum()
        })
        .unwrap_or(0);
    assert!(operations >= 40, "{operations} operations");
    let out = Command::new(&st)
        .args([
            "run",
            &schema,
            "--url",
            &server.url,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "8",
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        // It keeps a cache folder in the working directory.
        .current_dir(home.path())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found failures (above)");
    assert!(
        stdout.contains("passed") && !stdout.contains(" 0 generated"),
        "schemathesis ran no test cases: {stdout}"
    );
}
