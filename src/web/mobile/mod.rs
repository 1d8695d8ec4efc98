//! The master's mobile page under `/m/` (issue 5): a phone-first, server-rendered page over the same rules
//! as the JSON API's `/me/…` routes. [`MasterPage`] resolves the signed-in master (anonymous → the login
//! form at `/m`; a staff session is refused; a blocked or deleted master sees why instead of an error),
//! [`page`] reads a screen's data together with the state bar, and every form is CSRF-checked.

mod account;
mod finance;
mod offers;
mod orders;
mod pwa;
mod receipts;
mod referral;
mod signup;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rusqlite::Connection;
use serde::Deserialize;

use super::{CsrfForm, SessionCsrf, Tr, lang_of, render, render_with};
use crate::api::auth::{ClientIp, session_cookie_header};
use crate::app::AppState;
use crate::auth::{self as accounts, MasterAccount, Owner, Principal};
use crate::domain::{MasterId, ModerationStatus, ShiftStatus};
use crate::error::Error;
use crate::i18n::{Lang, catalog};
use crate::master_views::{self, Profile};
use crate::masters::REMINDER_LEAD;
use crate::money::commissions::{self, Owed};
use crate::settings::Settings;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m", get(get_home))
        .route("/m/", get(get_home))
        .route("/m/login", post(post_login))
        .route("/m/logout", post(post_logout))
        .merge(account::routes())
        .merge(finance::routes())
        .merge(offers::routes())
        .merge(orders::routes())
        .merge(pwa::routes())
        .merge(receipts::routes())
        .merge(referral::routes())
        .merge(signup::routes())
}

/// Why a master's screen could not be shown.
pub enum MobileError {
    /// Not signed in (or the session ended): to the login form.
    SignIn,
    /// The account is blocked (with the reason) or deleted (`None`): that screen, with the support contacts.
    Closed { tr: Tr, blocked: Option<String>, support: Support },
    /// A refusal or failure, shown as a page.
    Refused(Error, Lang),
}

impl IntoResponse for MobileError {
    fn into_response(self) -> Response {
        match self {
            MobileError::SignIn => Redirect::to("/m").into_response(),
            MobileError::Closed { tr, blocked, support } => render_with(StatusCode::FORBIDDEN, &ClosedPage { tr, blocked, support }),
            MobileError::Refused(error, lang) => {
                let status = crate::api::status_of(&error);
                if status.is_server_error() {
                    crate::db::log_failure(&error, "master page failed");
                }
                let staff = matches!(error, Error::Forbidden);
                render_with(status, &ErrorPage { tr: Tr(lang), message: error.message(lang), staff })
            }
        }
    }
}

#[derive(Template)]
#[template(path = "m/error.html")]
struct ErrorPage {
    tr: Tr,
    message: String,
    /// A staff member opened a master's page: point him to the staff pages.
    staff: bool,
}

#[derive(Template)]
#[template(path = "m/closed.html")]
struct ClosedPage {
    tr: Tr,
    /// The block reason; `None` for a deleted account.
    blocked: Option<String>,
    support: Support,
}

/// How masters reach support (settings `support_contact`, `support_faq_url`; product.md §7).
#[derive(Debug, Clone)]
pub struct Support {
    /// Whom to call or write; empty when not set.
    pub contact: String,
    /// The FAQ link, when there is one.
    pub faq_url: Option<String>,
}

impl Support {
    fn of(settings: &Settings) -> Self {
        let faq = settings.support_faq_url.trim();
        let faq_url = (!faq.is_empty() && faq != "-").then(|| faq.to_string());
        Self { contact: settings.support_contact.trim().to_string(), faq_url }
    }

    async fn load(state: &AppState) -> Self {
        state.db.read_blocking(|c| Settings::load(c).map(|s| Self::of(&s))).await.unwrap_or(Self { contact: String::new(), faq_url: None })
    }
}

/// A signed-in master opening a screen.
pub struct MasterPage {
    /// Who.
    pub master: MasterAccount,
    /// His session's CSRF token, for the forms.
    pub csrf: String,
    /// His language.
    pub tr: Tr,
    /// The flash message named by `?ok=`, when it is one of ours.
    pub flash: Option<String>,
}

impl FromRequestParts<AppState> for MasterPage {
    type Rejection = MobileError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, MobileError> {
        let lang = lang_of(&parts.headers, state.config.language);
        let Some(token) = crate::api::session_cookie(&parts.headers) else { return Err(MobileError::SignIn) };
        let (principal, csrf) = match crate::api::resolve_session(state, state.clock.now(), token).await {
            Ok(resolved) => resolved,
            Err(Error::Unauthenticated) => return Err(MobileError::SignIn),
            Err(error) => return Err(closed_or_refused(state, error, lang).await),
        };
        let Principal::Master(master) = principal else { return Err(MobileError::Refused(Error::Forbidden, lang)) };
        parts.extensions.insert(SessionCsrf(csrf.clone()));
        let flash = parts.uri.query().and_then(|q| {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
            let key = format!("flash.{}", pairs.into_iter().find(|(k, _)| k == "ok")?.1);
            catalog(lang).get(&key).cloned()
        });
        Ok(Self { master, csrf, tr: Tr(lang), flash })
    }
}

/// A blocked or deleted account gets its own screen; any other refusal the error page.
async fn closed_or_refused(state: &AppState, error: Error, lang: Lang) -> MobileError {
    let blocked = match error {
        Error::MasterBlocked { reason } => Some(reason),
        Error::MasterInactive => None,
        other => return MobileError::Refused(other, lang),
    };
    MobileError::Closed { tr: Tr(lang), blocked, support: Support::load(state).await }
}

impl MasterPage {
    /// A refusal in his language.
    pub fn refused(&self, error: Error) -> MobileError {
        MobileError::Refused(error, self.tr.0)
    }
}

/// The state bar of every screen: shift (with the break's end and the 10-minute reminder), unread
/// notifications, the flash message and the CSRF token of the page's forms.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Texts.
    pub tr: Tr,
    /// The CSRF token.
    pub csrf: String,
    /// The flash message of a done action.
    pub flash: Option<String>,
    /// His account.
    pub profile: Profile,
    /// His city's time zone (the installation's when he has no city).
    pub tz: Tz,
    /// When the screen was read.
    pub now: DateTime<Utc>,
    /// His live offers, counted on the "New orders" tab (the page's script keeps it current).
    pub offers: usize,
}

impl Bar {
    /// Approved by moderation: the main menu and the shift are his.
    pub fn approved(&self) -> bool {
        self.profile.moderation == ModerationStatus::Approved
    }

    /// `SHIFT_ON`, `SHIFT_OFF` or `BREAK`, for the pill's class and text.
    pub fn shift(&self) -> &'static str {
        self.profile.shift.status.as_str()
    }

    /// On a break.
    pub fn on_break(&self) -> bool {
        self.profile.shift.status == ShiftStatus::Break
    }

    /// On shift (not on a break).
    pub fn on_shift(&self) -> bool {
        self.profile.shift.status == ShiftStatus::On
    }

    /// Seconds left of the break.
    pub fn break_left(&self) -> i64 {
        self.profile.shift.break_until.map_or(0, |until| (until - self.now).num_seconds().max(0))
    }

    /// The break's end, local time.
    pub fn break_until(&self) -> String {
        self.profile.shift.break_until.map(|t| t.with_timezone(&self.tz).format("%H:%M").to_string()).unwrap_or_default()
    }

    /// The break ends within 10 minutes (decisions §B.13): the reminder with "back to shift" / "extend".
    pub fn reminder(&self) -> bool {
        self.on_break() && self.profile.shift.break_until.is_some_and(|until| until - self.now <= REMINDER_LEAD)
    }

    /// The reminder's text: minutes left of the break, rounded up.
    pub fn reminder_text(&self) -> String {
        self.tr.t("m.reminder").replace("{n}", &((self.break_left() + 59) / 60).to_string())
    }

    /// The break's countdown as m:ss (h:mm:ss from an hour), before the page's script ticks it.
    pub fn break_clock(&self) -> String {
        clock(self.break_left())
    }

    /// The language switch's link (back to the home screen).
    pub fn other_lang_href(&self) -> &'static str {
        match self.tr.0 {
            Lang::Ru => "/lang/en?back=%2Fm",
            Lang::En => "/lang/ru?back=%2Fm",
        }
    }
}

/// Seconds as m:ss, or h:mm:ss from an hour (the countdowns' text before the script ticks them).
pub fn clock(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// The time zone named `name`, else the installation's.
fn zone(name: Option<&str>, fallback: Tz) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(fallback)
}

/// Reads a screen's data and the state bar in one blocking task.
pub async fn page<T: Send + 'static>(
    state: &AppState,
    who: &MasterPage,
    f: impl FnOnce(&Connection, MasterId, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
) -> Result<(Bar, T), MobileError> {
    let master = who.master.id;
    let now = state.clock.now();
    let (profile, offers, data) = state
        .db
        .read_blocking(move |c| Ok::<_, Error>((master_views::profile(c, master)?, master_views::live_offers(c, now, master)?.len(), f(c, master, now)?)))
        .await
        .map_err(|e| who.refused(e))?;
    let tz = zone(profile.timezone.as_deref(), state.config.timezone);
    Ok((Bar { tr: who.tr, csrf: who.csrf.clone(), flash: who.flash.clone(), profile, tz, now, offers }, data))
}

/// Runs the master's action (a write) on a blocking thread; the error is returned as is, so the handler
/// can show the screen again with it.
pub async fn act<T: Send + 'static>(
    state: &AppState,
    who: &MasterPage,
    f: impl FnOnce(&rusqlite::Transaction<'_>, MasterId, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let master = who.master.id;
    let now = state.clock.now();
    state.db.write_blocking(move |tx| f(tx, master, now)).await
}

/// An instant as the master reads it: day and time in `tz`, in the short form of his language ([`Tr::short`]).
pub fn local(tr: Tr, at: DateTime<Utc>, tz: Tz) -> String {
    tr.short(&at, tz.name())
}

/// A visit window in the order's city: "12.03 14:00–16:00".
pub fn slot(tr: Tr, start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>, tz: Tz) -> Option<String> {
    Some(tr.short_window(&start?, &end, tz.name()))
}

/// An address line from its parts, skipping the missing ones.
pub fn address(parts: &[Option<&str>]) -> String {
    parts.iter().flatten().filter(|p| !p.trim().is_empty()).copied().collect::<Vec<_>>().join(", ")
}


#[derive(Template)]
#[template(path = "m/login.html")]
struct LoginPage {
    tr: Tr,
    phone: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "m/home.html")]
struct HomePage {
    tr: Tr,
    c: Bar,
    support: Support,
    /// What he owes: the "what I owe" block while anything is unpaid.
    owed: Owed,
    /// A refused shift action, shown above the controls.
    error: Option<String>,
    /// His live offers: the first is the banner's, the page's script keeps them current.
    offers: Vec<offers::OfferView>,
    /// The "turn on notifications" step (templates/m/push_enable.html).
    push: crate::push::EnableStep,
}

impl HomePage {
    fn owed_total(&self) -> String {
        self.c.tr.money(self.owed.total_kop)
    }

    fn owed_by(&self) -> Option<String> {
        self.owed.next_deadline_at.map(|at| local(self.c.tr, at, self.c.tz))
    }
}

/// The home screen by the account's state; an anonymous visitor gets the login form.
async fn get_home(State(state): State<AppState>, headers: HeaderMap, who: Result<MasterPage, MobileError>) -> Result<Response, MobileError> {
    let who = match who {
        Ok(who) => who,
        Err(MobileError::SignIn) => {
            let tr = Tr(lang_of(&headers, state.config.language));
            return Ok(render(&LoginPage { tr, phone: String::new(), error: None }));
        }
        Err(other) => return Err(other),
    };
    home(&state, &who, None).await
}

/// The home screen, with a refused shift action's message when there is one.
async fn home(state: &AppState, who: &MasterPage, error: Option<&Error>) -> Result<Response, MobileError> {
    let push_on = state.config.push_contact.is_some();
    let (c, (support, owed, cards, push)) = page(state, who, move |conn, master, now| {
        Ok((
            Support::of(&Settings::load(conn)?),
            commissions::owed(conn, master)?,
            master_views::live_offers(conn, now, master)?,
            crate::push::enable_step(conn, push_on, master)?,
        ))
    })
    .await?;
    let offers = cards.iter().map(|card| offers::OfferView::of(c.tr, card, c.now, c.tz)).collect();
    let status = error.map_or(StatusCode::OK, crate::api::status_of);
    Ok(render_with(status, &HomePage { tr: who.tr, c, support, owed, error: error.map(|e| e.message(who.tr.0)), offers, push }))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: String,
}

/// Signs a master in by phone and password (throttled like the staff login). Like the staff form it
/// carries no CSRF token: there is no session yet, and it changes nothing but the visitor's own session.
async fn post_login(State(state): State<AppState>, headers: HeaderMap, ip: ClientIp, axum::Form(form): axum::Form<LoginForm>) -> Response {
    let tr = Tr(lang_of(&headers, state.config.language));
    let tz = state.config.timezone;
    let credentials = (form.phone.clone(), form.password, ip.0);
    let outcome =
        accounts::sign_in_master(&state.db, state.clock.now(), credentials, tz, |tx, now, master| accounts::start_session(tx, now, Owner::Master(master.id))).await;
    match outcome {
        Ok(session) => {
            let cookie = session_cookie_header(&headers, &session.token, accounts::MASTER_SESSION_IDLE.num_seconds());
            ([(header::SET_COOKIE, cookie)], Redirect::to("/m")).into_response()
        }
        Err(error @ (Error::MasterBlocked { .. } | Error::MasterInactive)) => closed_or_refused(&state, error, tr.0).await.into_response(),
        Err(error) => render_with(crate::api::status_of(&error), &LoginPage { tr, phone: form.phone, error: Some(error.message(tr.0)) }),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoFields {}

async fn post_logout(State(state): State<AppState>, who: MasterPage, headers: HeaderMap, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    let token = crate::api::session_cookie(&headers).unwrap_or_default();
    state.db.write_blocking(move |tx| accounts::end_session(tx, &token)).await.map_err(|e| who.refused(e))?;
    Ok(([(header::SET_COOKIE, session_cookie_header(&headers, "", 0))], Redirect::to("/m")).into_response())
}
