//! The web UI: one page and its assets (style sheet, scripts, the vendored dagre layout
//! library), embedded in the binary (no build step, nothing fetched from the internet). The page is a small single-page app over this server's API.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const INDEX: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const GRAPH_JS: &str = include_str!("../../ui/graph.js");
/// dagre 3.1.3 (MIT), see `ui/vendor/README.md`.
const DAGRE_JS: &str = include_str!("../../ui/vendor/dagre.min.js");
const APP_CSS: &str = include_str!("../../ui/app.css");

/// `/` (and `/pipeline/`).
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// The script.
pub async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
}

/// The graph code (layout, drawing, collapsing, zoom).
pub async fn graph_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        GRAPH_JS,
    )
}

/// The layered-graph layout library the graph code uses.
pub async fn dagre_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        DAGRE_JS,
    )
}

/// The style sheet.
pub async fn app_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS)
}
