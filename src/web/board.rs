//! The live dispatch board, the home page of the staff UI: a normal page that also keeps itself current.
//! `GET /board/events` is a server-sent event stream that says "refresh" when the staff member's board
//! changed; `static/board.js` then fetches `GET /board/fragment` (just the columns) and swaps it in.

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Chrome, StaffPage, Tr, WebError, page, render};
use crate::app::AppState;
use crate::board::{self, Board};
use crate::domain::CityId;
use crate::error::Error;
use crate::staff::Staff;

/// Commits arriving this close together are answered with one look at the board.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The board is looked at this often even without a commit: deferred orders come due with time alone.
const IDLE_LOOK: Duration = Duration::from_secs(60);

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(get_board)).route("/board/fragment", get(get_fragment)).route("/board/events", get(get_events))
}

/// `?city=ID` (empty or absent = all his cities); `since` = the signature of the board the page shows.
#[derive(Debug, Default, Deserialize)]
struct BoardQuery {
    city: Option<String>,
    since: Option<String>,
}

impl BoardQuery {
    /// The chosen city; anything but a number is a city that does not exist.
    fn city(&self) -> Result<Option<CityId>, Error> {
        match self.city.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| Error::NotFound { what: "city" }),
        }
    }
}

/// The query string that keeps the city filter, for the fragment and the event stream.
fn city_query(city: Option<CityId>) -> String {
    city.map(|c| format!("?city={c}")).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "web/board.html")]
struct BoardPage {
    c: Chrome,
    tr: Tr,
    board: Board,
    fragment_url: String,
    events_url: String,
}

#[derive(Template)]
#[template(path = "web/board_columns.html")]
struct BoardColumns {
    tr: Tr,
    board: Board,
}

async fn get_board(State(state): State<AppState>, who: StaffPage, Query(query): Query<BoardQuery>) -> Result<Response, WebError> {
    let city = query.city().map_err(|e| who.refused(e))?;
    let (c, board) = page(&state, &who, "board", move |conn, staff, now| board::read(conn, staff, now, city)).await?;
    let sep = if city.is_some() { '&' } else { '?' };
    let events_url = format!("/board/events{}{sep}since={}", city_query(city), board.signature());
    Ok(render(&BoardPage { c, tr: who.tr, board, fragment_url: format!("/board/fragment{}", city_query(city)), events_url }))
}

/// A refusal answered to a script (the page's fetch or its event stream): a script cannot follow the login
/// redirect, so an anonymous caller gets a bare 401 (and the page reloads itself into the login form).
struct ForScript(WebError);

impl IntoResponse for ForScript {
    fn into_response(self) -> Response {
        match self.0 {
            WebError::SignIn { .. } => StatusCode::UNAUTHORIZED.into_response(),
            refused => refused.into_response(),
        }
    }
}

async fn read_board(state: &AppState, staff: Staff, city: Option<CityId>) -> Result<Board, Error> {
    let now = state.clock.now();
    state.db.read_blocking(move |conn| board::read(conn, &staff, now, city)).await
}

async fn get_fragment(State(state): State<AppState>, who: Result<StaffPage, WebError>, Query(query): Query<BoardQuery>) -> Result<Response, ForScript> {
    let who = who.map_err(ForScript)?;
    let city = query.city().map_err(|e| ForScript(who.refused(e)))?;
    let board = read_board(&state, who.staff.clone(), city).await.map_err(|e| ForScript(who.refused(e)))?;
    Ok(render(&BoardColumns { tr: who.tr, board }))
}

/// What the event stream remembers between looks.
struct Watch {
    state: AppState,
    staff: Staff,
    city: Option<CityId>,
    commits: tokio::sync::watch::Receiver<u64>,
    /// The signature of the board the page shows.
    shown: u64,
}

impl Watch {
    /// Waits until the board differs from what the page shows; `None` when the server is stopping.
    async fn next_change(&mut self) -> Option<u64> {
        loop {
            tokio::select! {
                changed = self.commits.changed() => {
                    changed.ok()?;
                    tokio::time::sleep(DEBOUNCE).await;
                    self.commits.borrow_and_update();
                }
                () = tokio::time::sleep(IDLE_LOOK) => {}
            }
            match read_board(&self.state, self.staff.clone(), self.city).await {
                Ok(board) if board.signature() != self.shown => return Some(board.signature()),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "board stream could not read the board");
                    return None;
                }
            }
        }
    }
}

async fn get_events(State(state): State<AppState>, who: Result<StaffPage, WebError>, Query(query): Query<BoardQuery>) -> Result<Response, ForScript> {
    let who = who.map_err(ForScript)?;
    let city = query.city().map_err(|e| ForScript(who.refused(e)))?;
    // Subscribe before reading, so no commit falls between the read and the wait.
    let commits = state.db.commits();
    let current = read_board(&state, who.staff.clone(), city).await.map_err(|e| ForScript(who.refused(e)))?.signature();
    // A page older than the stream (or a reconnect after a drop) is told at once to catch up.
    let behind = query.since.as_deref().is_some_and(|since| since != current.to_string());
    let watch = Watch { state, staff: who.staff, city, commits, shown: current };
    let stream = futures_util::stream::unfold((watch, behind), |(mut watch, behind)| async move {
        if !behind {
            watch.shown = watch.next_change().await?;
        }
        let event = Event::default().event("refresh").data(watch.shown.to_string());
        Some((Ok::<_, std::convert::Infallible>(event), (watch, false)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}
