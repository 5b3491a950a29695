//! The web UI: one page and its two assets, embedded in the binary (no build step, nothing
//! fetched from the internet). The page is a small single-page app over this server's API.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const INDEX: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
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

/// The style sheet.
pub async fn app_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS)
}
