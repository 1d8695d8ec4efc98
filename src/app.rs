//! The HTTP side: the router and the server — the health check, a status page, the JSON API (`api`) and
//! the staff pages (`web`), all over the same state.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::{Db, DbError, SCHEMA_VERSION, at};

/// What every handler and background loop shares.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: SharedClock,
    /// The configuration.
    pub config: Arc<Config>,
}

/// The security headers of every response: no inline scripts, no framing, no sniffing, no referrer leaks.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

/// The OpenAPI document of the JSON API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    crate::api::router().split_for_parts().1
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = crate::api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    let mut app = Router::new()
        .route("/status", get(get_status))
        .route("/healthz", get(get_healthz))
        .route("/api/openapi.json", get(move || async move { Json(openapi.as_ref().clone()) }))
        .merge(api)
        .merge(crate::web::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::api::guard::enforce))
        .fallback(not_found)
        .with_state(state)
        .layer(tower_http::compression::CompressionLayer::new())
        // One line per request at info: method, path, status, latency — never headers or bodies, so no
        // cookie, token or password reaches the log.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        );
    // Pages and API answers carry names, phones and addresses: no browser or proxy keeps a copy (a shared
    // computer's back button, a corporate cache). The static files set their own revalidation.
    app = app.layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store")));
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::HeaderName::from_static(name),
            header::HeaderValue::from_static(value),
        ));
    }
    app
}

/// Unknown paths: a JSON 404 for the API, a plain one elsewhere.
async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let lang = crate::api::lang_of(&headers, crate::i18n::Lang::default());
    if uri.path().starts_with("/api/") {
        crate::api::ApiError::new(crate::error::Error::NotFound { what: "route" }, lang).into_response()
    } else {
        (StatusCode::NOT_FOUND, crate::i18n::message(lang, "error.page_not_found")).into_response()
    }
}

/// Serves `router(state)` on an already bound listener until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let timeouts = crate::server::Timeouts { header: state.config.header_timeout, idle: state.config.idle_timeout };
    crate::server::run(listener, router(state), timeouts, shutdown).await
}

/// The health of the installation, for monitors.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok`; `degraded` while writes are refused (see `reason`); `error` for a schema this build does
    /// not know.
    pub status: &'static str,
    /// Why it is degraded: `disk_full` or `read_only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Schema version of the file.
    pub schema_version: i64,
    /// When the scheduler last finished a tick.
    pub last_tick_at: Option<DateTime<Utc>>,
    /// Seconds since then.
    pub last_tick_age_seconds: Option<i64>,
    /// Orders waiting for a master (SEARCHING or GUARANTEE, unassigned).
    pub orders_searching: i64,
}

fn health(db: &Db, data_dir: &std::path::Path, now: DateTime<Utc>) -> Result<Health, DbError> {
    let fault = db.fault().or_else(|| crate::db::fault::disk_full(data_dir).then_some(crate::db::Fault::DiskFull));
    // The lease is stamped with the wall clock (see `lease`), so its age is measured by `now` of the same kind.
    db.read(|conn| {
        let schema_version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let last_tick: Option<i64> = conn
            .query_row("SELECT last_tick_at FROM scheduler_lease WHERE name = 'distribution'", [], |r| r.get(0))
            .optional()?
            .flatten();
        let orders_searching: i64 = conn.query_row(
            "SELECT COUNT(*) FROM orders WHERE status IN ('SEARCHING', 'GUARANTEE') AND assigned_master_id IS NULL",
            [],
            |r| r.get(0),
        )?;
        let last_tick_at = last_tick.map(at);
        Ok(Health {
            status: match (schema_version == SCHEMA_VERSION, fault) {
                (false, _) => "error",
                (true, Some(_)) => "degraded",
                (true, None) => "ok",
            },
            reason: fault.map(crate::db::Fault::code),
            schema_version,
            last_tick_at,
            last_tick_age_seconds: last_tick_at.map(|t| (now - t).num_seconds()),
            orders_searching,
        })
    })
}

async fn get_healthz(State(state): State<AppState>) -> Response {
    let (db, data_dir) = (state.db.clone(), state.config.data_dir.clone());
    match tokio::task::spawn_blocking(move || health(&db, &data_dir, Utc::now())).await {
        Ok(Ok(h)) => (if h.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(h)).into_response(),
        Ok(Err(error)) => {
            tracing::error!(%error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "error", "error": "database unreachable"}))).into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    health: Health,
}

async fn get_status(State(state): State<AppState>) -> Response {
    let (db, data_dir) = (state.db.clone(), state.config.data_dir.clone());
    match tokio::task::spawn_blocking(move || health(&db, &data_dir, Utc::now())).await {
        Ok(Ok(health)) => match (StatusPage { health }).render() {
            Ok(html) => Html(html).into_response(),
            Err(error) => {
                tracing::error!(%error, "status page failed to render");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        },
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
