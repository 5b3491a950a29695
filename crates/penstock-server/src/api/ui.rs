//! The web UI: one page and its assets (style sheet, ES modules, the vendored dagre layout
//! library), embedded in the binary (no build step, nothing fetched from the internet). The page is
//! a small single-page app over this server's API; `ui/main.js` is its entry module.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const INDEX: &str = include_str!("../../ui/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file served under `/ui/`: its path there, content type and text.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("main.js", JS, include_str!("../../ui/main.js")),
    ("api.js", JS, include_str!("../../ui/api.js")),
    ("dom.js", JS, include_str!("../../ui/dom.js")),
    ("spec.js", JS, include_str!("../../ui/spec.js")),
    ("charts.js", JS, include_str!("../../ui/charts.js")),
    ("graph.js", JS, include_str!("../../ui/graph.js")),
    ("pages/runs.js", JS, include_str!("../../ui/pages/runs.js")),
    ("pages/run.js", JS, include_str!("../../ui/pages/run.js")),
    (
        "pages/experiments.js",
        JS,
        include_str!("../../ui/pages/experiments.js"),
    ),
    (
        "pages/pipelines.js",
        JS,
        include_str!("../../ui/pages/pipelines.js"),
    ),
    (
        "pages/create-run.js",
        JS,
        include_str!("../../ui/pages/create-run.js"),
    ),
    (
        "pages/recurring.js",
        JS,
        include_str!("../../ui/pages/recurring.js"),
    ),
    (
        "pages/compare.js",
        JS,
        include_str!("../../ui/pages/compare.js"),
    ),
    (
        "pages/artifacts.js",
        JS,
        include_str!("../../ui/pages/artifacts.js"),
    ),
    // dagre 3.1.3 (MIT), see `ui/vendor/README.md`; a classic script (defines the global `dagre`).
    (
        "vendor/dagre.min.js",
        JS,
        include_str!("../../ui/vendor/dagre.min.js"),
    ),
    ("app.css", CSS, include_str!("../../ui/app.css")),
];

/// The asset at `path` (below `/ui/`), if there is one.
pub fn asset(path: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    ASSETS.iter().find(|(p, _, _)| *p == path)
}

/// `/` (and `/pipeline/`).
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// `/ui/{*path}`: a script, module or style sheet of the page.
pub async fn file(Path(path): Path<String>) -> Response {
    match asset(&path) {
        Some((_, kind, text)) => ([(header::CONTENT_TYPE, *kind)], *text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
