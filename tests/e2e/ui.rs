//! The web UI in a real browser (headless Debian chromium over WebDriver; see
//! `ui/test_ui.py`). Screenshots of the main pages are kept in `target/ui-screenshots/`.

use crate::server::ServerProcess;
use crate::util::{python, python_v1, repo_root};
use std::process::Command;

#[test]
fn web_ui_in_a_real_browser() {
    for needed in ["chromium", "chromedriver"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(needed).is_file()));
        assert!(
            found,
            "{needed} is not on PATH: install Debian's chromium and chromium-driver (.ci/run does)"
        );
    }
    let home = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(home.path());
    // A second server that needs tokens, for the sign-in page.
    let auth_home = tempfile::tempdir().expect("temp dir");
    let token = crate::server::create_token(auth_home.path(), "ui-user", &[]);
    let auth_server = ServerProcess::start_with(auth_home.path(), &["--auth", "tokens"]);
    // A KFP v1 pipeline (kfp 1.8.22) whose step writes mlpipeline-ui-metadata, for the viewers.
    let v1_pipeline = home.path().join("v1_viewers.yaml");
    let compiled = Command::new(python_v1())
        .arg(repo_root().join("tests/e2e/ui/v1_viewers.py"))
        .arg(&v1_pipeline)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run the kfp 1.8 compiler");
    assert!(
        compiled.status.success(),
        "compiling tests/e2e/ui/v1_viewers.py with kfp 1.8.22: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let status = Command::new(python())
        .args(["-m", "pytest", "-q", "-s", "-x", "-p", "no:cacheprovider"])
        .arg(repo_root().join("tests/e2e/ui/test_ui.py"))
        .env("PENSTOCK_URL", &server.url)
        .env("PENSTOCK_AUTH_URL", &auth_server.url)
        .env("PENSTOCK_UI_TOKEN", &token)
        .env("PENSTOCK_UI_V1_PIPELINE", &v1_pipeline)
        .env(
            "PENSTOCK_SCREENSHOTS",
            repo_root().join("target/ui-screenshots"),
        )
        .env("PYTHONWARNINGS", "ignore")
        .status()
        .expect("run pytest");
    assert!(status.success(), "the browser tests failed (output above)");
}
