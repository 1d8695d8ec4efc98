//! Installing the page on the phone (a PWA): the web manifest, the service worker (scope `/m/`) and the
//! offline page it shows when the network fails. The worker caches only the shell — never a page, so a
//! cached page with an accept button can never be shown.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;
use crate::web::{Tr, lang_of, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/manifest.webmanifest", get(get_manifest))
        .route("/m/sw.js", get(get_worker))
        .route("/m/offline", get(get_offline))
}

/// The service worker: served from `/m/` so that its scope is the master's page.
const WORKER: &str = include_str!("../../../static/m/sw.js");

async fn get_manifest(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let tr = Tr(lang_of(&headers, state.config.language));
    let icon = |src: &str, sizes: &str, kind: &str| json!({"src": src, "sizes": sizes, "type": kind, "purpose": "any"});
    let manifest = json!({
        "name": tr.t("m.app_name"),
        "short_name": tr.t("m.app_short_name"),
        "lang": tr.code(),
        "start_url": "/m/",
        "scope": "/m/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#1d2733",
        "icons": [
            icon("/static/m/icon.svg", "any", "image/svg+xml"),
            icon("/static/m/icon-192.png", "192x192", "image/png"),
            icon("/static/m/icon-512.png", "512x512", "image/png"),
        ],
    });
    ([(header::CONTENT_TYPE, "application/manifest+json"), (header::CACHE_CONTROL, "no-cache")], manifest.to_string()).into_response()
}

async fn get_worker() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], WORKER).into_response()
}

#[derive(Template)]
#[template(path = "m/offline.html")]
struct OfflinePage {
    tr: Tr,
}

async fn get_offline(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(&OfflinePage { tr: Tr(lang_of(&headers, state.config.language)) })
}
