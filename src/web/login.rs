//! Signing in and out of the staff pages, and the language switch.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{CsrfForm, LANG_COOKIE, StaffPage, Tr, WebError, lang_of, local_path, render, render_with};
use crate::api::auth::ClientIp;
use crate::api::auth::session_cookie_header;
use crate::app::AppState;
use crate::auth::{self as accounts, Owner};
use crate::i18n::Lang;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(get_login).post(post_login))
        .route("/logout", axum::routing::post(post_logout))
        .route("/lang/{code}", get(get_lang))
}

#[derive(Template)]
#[template(path = "web/login.html")]
struct LoginPage {
    tr: Tr,
    next: String,
    login: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Next {
    next: Option<String>,
}

async fn get_login(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<Next>) -> Response {
    let tr = Tr(lang_of(&headers, state.config.language));
    let next = local_path(query.next.as_deref()).unwrap_or_else(|| "/".into());
    render(&LoginPage { tr, next, login: String::new(), error: None })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// The login form carries no CSRF token (there is no session yet); SameSite=Lax cookies and the
/// throttling keep it safe, and a login changes nothing but the visitor's own session.
async fn post_login(State(state): State<AppState>, headers: HeaderMap, ip: ClientIp, axum::Form(form): axum::Form<LoginForm>) -> Response {
    let tr = Tr(lang_of(&headers, state.config.language));
    let next = local_path(form.next.as_deref()).unwrap_or_else(|| "/".into());
    let tz = state.config.timezone;
    let credentials = (form.login.clone(), form.password, ip.0);
    let outcome =
        accounts::sign_in_staff(&state.db, state.clock.now(), credentials, tz, |tx, now, staff| accounts::start_session(tx, now, Owner::Staff(staff.id))).await;
    match outcome {
        Ok(session) => {
            let cookie = session_cookie_header(&headers, &session.token, accounts::STAFF_SESSION_IDLE.num_seconds());
            ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
        }
        Err(error) => {
            let page = LoginPage { tr, next, login: form.login, error: Some(error.message(tr.0)) };
            render_with(crate::api::status_of(&error), &page)
        }
    }
}

#[derive(Debug, Deserialize)]
struct LogoutForm {}

async fn post_logout(State(state): State<AppState>, who: StaffPage, headers: HeaderMap, CsrfForm(_): CsrfForm<LogoutForm>) -> Result<Response, WebError> {
    let token = crate::api::session_cookie(&headers).unwrap_or_default();
    state.db.write_blocking(move |tx| accounts::end_session(tx, &token)).await.map_err(|e| who.refused(e))?;
    Ok(([(header::SET_COOKIE, session_cookie_header(&headers, "", 0))], Redirect::to("/login")).into_response())
}

#[derive(Debug, Deserialize)]
struct Back {
    back: Option<String>,
}

/// Remembers the visitor's language for a year and goes back to the page he was on.
async fn get_lang(Path(code): Path<String>, Query(query): Query<Back>) -> Response {
    let Some(lang) = Lang::parse(&code) else { return StatusCode::NOT_FOUND.into_response() };
    let code = Tr(lang).code();
    let cookie = HeaderValue::from_str(&format!("{LANG_COOKIE}={code}; Path=/; SameSite=Lax; Max-Age=31536000")).expect("ascii");
    let back = local_path(query.back.as_deref()).unwrap_or_else(|| "/".into());
    ([(header::SET_COOKIE, cookie)], Redirect::to(&back)).into_response()
}
