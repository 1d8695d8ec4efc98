//! The staff web UI (issue 4): server-rendered pages over the same rules and role checks as the JSON API.
//! A handler is thin: [`StaffPage`] resolves the signed-in staff member (an anonymous visitor is sent to
//! `/login`), [`CsrfForm`] checks the form's CSRF token before anything is parsed, [`page`] runs the rule
//! on a blocking thread together with what the header needs, and a template renders the result. A refused
//! action re-renders its page with the message; a done one redirects (303) with a flash key.

mod admin;
mod exports;
mod assets;
mod board;
mod reports;
mod client_history;
mod lists;
mod login;
mod masters;
mod mobile;
mod order_card;
mod order_edit;
mod order_form;
pub mod words;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::StaffRole;
use crate::error::{Error, invalid};
use crate::i18n::{Lang, catalog, message};
use crate::staff::Staff;

/// The cookie that keeps a visitor's chosen language.
pub const LANG_COOKIE: &str = "fs_lang";
/// The form field that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// Largest urlencoded form accepted (file uploads are multipart and have their own limits).
const FORM_LIMIT: usize = 256 * 1024;

/// The staff pages and the embedded static files.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(assets::routes())
        .merge(login::routes())
        .merge(board::routes())
        .merge(order_card::routes())
        .merge(order_form::routes())
        .merge(order_edit::routes())
        .merge(client_history::routes())
        .merge(lists::routes())
        .merge(masters::routes())
        .merge(admin::routes())
        .merge(exports::routes())
        .merge(reports::routes())
        .merge(mobile::routes())
}

/// Texts in one language, for templates: `{{ tr.t("board.title") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    /// The text for `key`.
    pub fn t(&self, key: &str) -> String {
        message(self.0, key)
    }

    /// The text for `prefix` + `key` (e.g. a status name: `tr.of("status.", order.status)`).
    pub fn of(&self, prefix: &str, key: impl std::fmt::Display) -> String {
        message(self.0, &format!("{prefix}{key}"))
    }

    /// `ru` or `en`, for `<html lang>`.
    pub fn code(&self) -> &'static str {
        match self.0 {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }
}

/// A page's language: the visitor's choice (cookie), else `Accept-Language`, else the installation's.
pub fn lang_of(headers: &HeaderMap, default: Lang) -> Lang {
    crate::api::cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)).unwrap_or_else(|| crate::api::lang_of(headers, default))
}


/// Where to go back to: a path on this site only. Browsers drop tabs and newlines from a `Location` and
/// read `/\\` as `//`, so `/\t/evil.example` would leave for another site: only visible ASCII is accepted
/// (no control character, raw or percent-encoded, which also keeps the header valid), and the path must
/// be `/` or start with `/` and a character other than `/` or `\\` — in its percent-decoded form too.
pub fn local_path(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let decoded = percent_decoded(raw);
    let local = |p: &[u8]| match p {
        [b'/'] => true,
        [b'/', second, ..] => *second != b'/' && *second != b'\\',
        _ => false,
    };
    let clean = raw.bytes().all(|b| b.is_ascii_graphic()) && !String::from_utf8_lossy(&decoded).chars().any(char::is_control);
    (clean && local(raw.as_bytes()) && local(&decoded)).then(|| raw.to_string())
}

/// `raw` with its `%XX` escapes decoded (a malformed escape is kept as it is).
fn percent_decoded(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): to the login form, then back to `next`.
    SignIn { next: String },
    /// A refusal or failure, shown as a page in the visitor's language.
    Refused(Error, Lang),
    /// The same on the master's phone pages (`/m/…`): shown as one of them.
    RefusedMaster(Error, Lang),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn { next } => {
                let query = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
                Redirect::to(&format!("/login?{query}")).into_response()
            }
            WebError::Refused(error, lang) => {
                let status = crate::api::status_of(&error);
                if status.is_server_error() {
                    crate::db::log_failure(&error, "page failed");
                }
                let page = ErrorPage { tr: Tr(lang), status: status.as_u16(), message: error.message(lang) };
                (status, render(&page)).into_response()
            }
            WebError::RefusedMaster(error, lang) => mobile::MobileError::Refused(error, lang).into_response(),
        }
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage {
    tr: Tr,
    status: u16,
    message: String,
}

/// Renders a template; a template that fails to render is a bug, answered with a plain 500.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Renders a template with a status (e.g. 422 for a form shown again with its errors).
pub fn render_with(status: StatusCode, template: &impl Template) -> Response {
    (status, render(template)).into_response()
}

/// After a done action: back to `path` with the flash message `flash.<key>` (see [`Chrome::flash`]).
pub fn done(path: &str, key: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}ok={key}")).into_response()
}

/// The session's CSRF token, left by [`StaffPage`] for [`CsrfForm`].
#[derive(Clone)]
struct SessionCsrf(String);

/// A signed-in staff member opening a page.
pub struct StaffPage {
    /// Who.
    pub staff: Staff,
    /// His session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// His language.
    pub tr: Tr,
    /// The flash message named by `?ok=`, when it is one of ours.
    pub flash: Option<String>,
    /// The path and query of this request (to come back to after switching the language).
    pub here: String,
}

impl FromRequestParts<AppState> for StaffPage {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let lang = lang_of(&parts.headers, state.config.language);
        let here = parts.uri.path_and_query().map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let sign_in = || WebError::SignIn { next: here.clone() };
        let Some(token) = crate::api::session_cookie(&parts.headers) else { return Err(sign_in()) };
        let (principal, csrf) = match crate::api::resolve_session(state, state.clock.now(), token).await {
            Ok(resolved) => resolved,
            Err(Error::Unauthenticated) => return Err(sign_in()),
            Err(error) => return Err(WebError::Refused(error, lang)),
        };
        let Principal::Staff(staff) = principal else { return Err(WebError::Refused(Error::Forbidden, lang)) };
        parts.extensions.insert(SessionCsrf(csrf.clone()));
        let flash = parts.uri.query().and_then(|q| {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
            let key = format!("flash.{}", pairs.into_iter().find(|(k, _)| k == "ok")?.1);
            catalog(lang).get(&key).cloned()
        });
        Ok(Self { staff, csrf, tr: Tr(lang), flash, here })
    }
}

impl StaffPage {
    /// Refuses unless his role is one of `roles`.
    pub fn require(&self, roles: &[StaffRole]) -> Result<(), WebError> {
        self.staff.require(roles).map_err(|e| self.refused(e))
    }

    /// A refusal in his language.
    pub fn refused(&self, error: Error) -> WebError {
        WebError::Refused(error, self.tr.0)
    }

    /// The header of every page, for `section` (the active navigation entry).
    fn chrome(&self, section: &'static str, unread_alerts: i64) -> Chrome {
        Chrome {
            tr: self.tr,
            login: self.staff.login.clone(),
            role: self.staff.role,
            csrf: self.csrf.clone(),
            section,
            unread_alerts,
            flash: self.flash.clone(),
            here: self.here.clone(),
        }
    }
}

/// What the layout (`web/base.html`) shows around every page: who is signed in, the navigation of his
/// role, the unread alerts, the flash message and the language switch.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Texts.
    pub tr: Tr,
    /// The staff member's login.
    pub login: String,
    /// His role.
    pub role: StaffRole,
    /// The CSRF token for the page's forms.
    pub csrf: String,
    /// The active navigation entry.
    pub section: &'static str,
    /// Unread alerts (the header badge).
    pub unread_alerts: i64,
    /// The flash message of a done action.
    pub flash: Option<String>,
    /// The current path and query.
    pub here: String,
}

/// A navigation entry.
pub struct NavItem {
    /// Its section name (matches [`Chrome::section`]).
    pub section: &'static str,
    /// Where it goes.
    pub href: &'static str,
    /// Its text.
    pub label: String,
}

impl Chrome {
    /// The navigation of his role (product.md §6.1): the daily pages, then the administration pages grouped
    /// under one menu when there are several, so that the bar fits one line at 1280 px.
    pub fn nav(&self) -> (Vec<NavItem>, Vec<NavItem>) {
        let admin = matches!(self.role, StaffRole::GlobalAdmin | StaffRole::CityAdmin);
        let global = self.role == StaffRole::GlobalAdmin;
        // (section, href, shown, part of the administration group)
        let entries: [(&'static str, &'static str, bool, bool); 13] = [
            ("board", "/", true, false),
            ("new_order", "/orders/new", true, false),
            ("orders", "/orders", true, false),
            ("masters", "/masters", true, false),
            ("finance", "/finance", admin, false),
            ("alerts", "/alerts", true, false),
            ("invites", "/invites", admin, true),
            ("cities", "/cities", admin, true),
            ("exports", "/exports", admin, true),
            ("reports", "/reports", admin, true),
            ("events", "/events", true, true),
            ("staff", "/staff", global, true),
            ("settings", "/settings", global, true),
        ];
        let shown: Vec<_> = entries.into_iter().filter(|(_, _, shown, _)| *shown).collect();
        let grouped = shown.iter().filter(|e| e.3).count() > 1;
        let item = |(section, href, _, _): (&'static str, &'static str, bool, bool)| NavItem { section, href, label: self.tr.of("nav.", section) };
        let (group, main): (Vec<_>, Vec<_>) = shown.into_iter().partition(|e| grouped && e.3);
        (main.into_iter().map(item).collect(), group.into_iter().map(item).collect())
    }

    /// Whether the page shown is one of the administration group's.
    pub fn in_group(&self, group: &[NavItem]) -> bool {
        group.iter().any(|i| i.section == self.section)
    }

    /// His role's name.
    pub fn role_name(&self) -> String {
        self.tr.of("role.", self.role.as_str())
    }

    /// The language switch's link to the other language, back to this page.
    pub fn other_lang_href(&self) -> String {
        let other = match self.tr.0 {
            Lang::Ru => "en",
            Lang::En => "ru",
        };
        let query = serde_urlencoded::to_string([("back", self.here.as_str())]).unwrap_or_default();
        format!("/lang/{other}?{query}")
    }
}

/// Unread alerts of a staff member, for the header badge.
fn unread_alerts(conn: &Connection, staff: &Staff) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COUNT(*) FROM staff_alert_recipients WHERE staff_id = ?1 AND read_at IS NULL")?.query_row([staff.id], |r| r.get(0))
}

/// Reads a page's data and its header in one blocking task.
pub async fn page<T: Send + 'static>(
    state: &AppState,
    who: &StaffPage,
    section: &'static str,
    f: impl FnOnce(&Connection, &Staff, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
) -> Result<(Chrome, T), WebError> {
    let staff = who.staff.clone();
    let now = state.clock.now();
    let (unread, data) = state
        .db
        .read_blocking(move |c| Ok::<_, Error>((unread_alerts(c, &staff)?, f(c, &staff, now)?)))
        .await
        .map_err(|e| who.refused(e))?;
    Ok((who.chrome(section, unread), data))
}

/// Runs a staff action (a write) on a blocking thread. The error is returned as is, so the handler can
/// show the form again with it.
pub async fn act<T: Send + 'static>(
    state: &AppState,
    who: &StaffPage,
    f: impl FnOnce(&rusqlite::Transaction<'_>, &Staff, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let staff = who.staff.clone();
    let now = state.clock.now();
    state.db.write_blocking(move |tx| f(tx, &staff, now)).await
}

/// A submitted urlencoded form whose CSRF field matched the session's; anything else is refused before
/// the form is parsed. Use it after [`StaffPage`] (or the master's page) in the handler's arguments.
pub struct CsrfForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        let lang = lang_of(req.headers(), Lang::default());
        let master = req.uri().path().starts_with("/m/");
        let refused = |error| if master { WebError::RefusedMaster(error, lang) } else { WebError::Refused(error, lang) };
        let expected = req.extensions().get::<SessionCsrf>().map(|c| c.0.clone());
        let bytes = Bytes::from_request(req, state).await.map_err(|_| refused(invalid("form", "malformed")))?;
        if bytes.len() > FORM_LIMIT {
            return Err(refused(invalid("form", format!("max_len:{FORM_LIMIT}"))));
        }
        check_csrf(&bytes, expected.as_deref()).map_err(refused)?;
        serde_urlencoded::from_bytes(&bytes).map(Self).map_err(|_| refused(invalid("form", "malformed")))
    }
}

fn check_csrf(body: &Bytes, expected: Option<&str>) -> Result<(), Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| Error::CsrfFailed)?;
    let sent = pairs.iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.as_str());
    match (expected, sent) {
        (Some(expected), Some(sent)) if expected == sent => Ok(()),
        _ => Err(Error::CsrfFailed),
    }
}

/// Checks the CSRF field of a multipart form (read by the handler itself).
pub fn check_csrf_value(who: &StaffPage, sent: Option<&str>) -> Result<(), WebError> {
    if sent == Some(who.csrf.as_str()) { Ok(()) } else { Err(who.refused(Error::CsrfFailed)) }
}

/// Roubles from kopecks: "3 500" or "4 999,99".
pub fn rubles(kopecks: i64) -> String {
    crate::money::amount::format_rubles(kopecks)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_a_path_on_this_site_is_a_place_to_go_back_to() {
        for ok in ["/", "/orders", "/?city=1", "/orders/5?tab=a%20b", "/lang/en?back=%2F"] {
            assert_eq!(local_path(Some(ok)).as_deref(), Some(ok), "{ok}");
        }
        let refused = [
            "", "orders", "//evil.example", "/\\evil.example", "\\/evil.example", "/\t/evil.example", "/%09/evil.example",
            "/\n/evil.example", "/x\r\nSet-Cookie: a=b", "/%0d%0aSet-Cookie:a=b", "/%2F/evil.example", "/%5Cevil.example",
            "https://evil.example", "/ orders", "/заказы", "/x\u{7f}", "/%7f", "/%C2%85x",
        ];
        for bad in refused {
            assert_eq!(local_path(Some(bad)), None, "{bad:?}");
        }
    }
}
