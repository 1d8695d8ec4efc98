//! New offers (distribution.md §8.3–§8.5): the live list (server-sent events on every committed write,
//! re-read for this master only), the offer card (opening it marks it VIEWED), accept with every refusal
//! of §8.4, and decline after a confirmation screen. Never the client's name or phone.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use super::{Bar, MasterPage, MobileError, act, address, page, slot, zone};
use crate::app::AppState;
use crate::domain::{MasterId, OfferId};
use crate::error::Error;
use crate::master_views::{self, OfferCard};
use crate::offers;
use crate::web::{CsrfForm, Tr, done, render, render_with};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/offers", get(get_offers))
        .route("/m/offers/events", get(get_events))
        .route("/m/offers/{id}", get(get_offer))
        .route("/m/offers/{id}/accept", post(post_accept))
        .route("/m/offers/{id}/decline", post(post_decline))
}

/// An offer as the list and the card show it.
pub struct OfferView {
    pub(super) offer_id: OfferId,
    pub(super) order_id: i64,
    pub(super) address: String,
    pub(super) slot: Option<String>,
    pub(super) category: &'static str,
    pub(super) description: String,
    /// Staff's note for him.
    pub(super) master_note: Option<String>,
    pub(super) guarantee: bool,
    /// Seconds until it expires, for the countdown.
    pub(super) left: i64,
}

impl OfferView {
    /// The countdown's text.
    pub(super) fn left_clock(&self) -> String {
        super::clock(self.left)
    }

    pub(super) fn of(tr: Tr, card: &OfferCard, now: DateTime<Utc>, fallback: Tz) -> Self {
        let tz = zone(Some(&card.timezone), fallback);
        let slot = slot(tr, card.timeslot_start, card.timeslot_end, tz).map(|s| format!("{s} ({})", card.city));
        Self {
            offer_id: card.offer_id,
            order_id: card.order_id,
            address: address(&[Some(&card.city), card.district.as_deref(), card.street.as_deref(), card.house.as_deref()]),
            slot,
            category: card.category.as_str(),
            description: card.description.clone(),
            master_note: card.master_note.clone(),
            guarantee: card.order_type == crate::domain::OrderType::Guarantee,
            left: (card.expires_at - now).num_seconds().max(0),
        }
    }
}

/// The list itself: the page's `#offers` content and what the event stream sends.
#[derive(Template)]
#[template(path = "m/offer_list.html")]
struct OfferList {
    tr: Tr,
    offers: Vec<OfferView>,
}

#[derive(Template)]
#[template(path = "m/offers.html")]
struct OffersPage {
    tr: Tr,
    c: Bar,
    offers: Vec<OfferView>,
}

async fn get_offers(State(state): State<AppState>, who: MasterPage) -> Result<Response, MobileError> {
    let (c, cards) = page(&state, &who, |conn, master, now| master_views::live_offers(conn, now, master)).await?;
    let offers = cards.iter().map(|card| OfferView::of(c.tr, card, c.now, c.tz)).collect();
    Ok(render(&OffersPage { tr: who.tr, c, offers }))
}

/// What the stream compares: the live offers, read again after every committed write.
async fn live(state: &AppState, master: MasterId) -> Option<(Vec<OfferCard>, DateTime<Utc>)> {
    let now = state.clock.now();
    state.db.read_blocking(move |c| master_views::live_offers(c, now, master)).await.ok().map(|cards| (cards, now))
}

/// The longest wait between looks when nothing is written: an offer's end is noticed by its own timer.
const IDLE_LOOK: Duration = Duration::from_secs(30);
/// After a write, wait this long for the writes that come with it: every open list looks once per burst,
/// so a busy scheduler costs each master's phone at most two reads a second, well inside the 2 s promise.
const SETTLE: Duration = Duration::from_millis(500);

/// The live list as server-sent events: `offers` with the list's HTML, at once and then whenever his live
/// offers change (a new offer, an accept, a decline, an expiry by the scheduler or by time).
async fn get_events(State(state): State<AppState>, who: MasterPage) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    struct Watch {
        state: AppState,
        master: MasterId,
        tr: Tr,
        tz: Tz,
        commits: tokio::sync::watch::Receiver<u64>,
        sent: Option<Vec<OfferCard>>,
    }
    let tz = state.config.timezone;
    let commits = state.db.commits();
    let watch = Watch { master: who.master.id, tr: who.tr, tz, commits, sent: None, state };
    let events = stream::unfold(watch, |mut w| async move {
        loop {
            if let Some((cards, now)) = live(&w.state, w.master).await
                && w.sent.as_ref() != Some(&cards)
            {
                let offers = cards.iter().map(|card| OfferView::of(w.tr, card, now, w.tz)).collect();
                let html = OfferList { tr: w.tr, offers }.render().unwrap_or_default();
                w.sent = Some(cards);
                return Some((Ok(Event::default().event("offers").data(html)), w));
            }
            let next_end = w.sent.iter().flatten().map(|card| card.expires_at).min();
            let wait = next_end
                .and_then(|end| (end - w.state.clock.now()).to_std().ok())
                .map_or(IDLE_LOOK, |left| left.clamp(Duration::from_millis(200), IDLE_LOOK));
            tokio::select! {
                changed = w.commits.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    tokio::time::sleep(SETTLE).await;
                    w.commits.borrow_and_update();
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[derive(Template)]
#[template(path = "m/offer.html")]
struct OfferPage {
    tr: Tr,
    c: Bar,
    /// The card; `None` when the offer can no longer be accepted (then only the message is shown).
    offer: Option<OfferView>,
    /// Why the last action failed.
    message: Option<String>,
    /// The decline confirmation step.
    confirm_decline: bool,
}

/// The card of one of his offers (now VIEWED), or why it is gone (409, no accept button).
async fn card(state: &AppState, who: &MasterPage, id: OfferId, confirm_decline: bool) -> Result<Response, MobileError> {
    let opened = act(state, who, move |tx, master, now| master_views::open_offer(tx, now, master, id)).await;
    let (c, ()) = page(state, who, |_, _, _| Ok(())).await?;
    let lang = who.tr.0;
    let (offer, message) = match opened {
        Err(error @ Error::NotFound { .. }) => return Err(who.refused(error)),
        Err(gone) => (None, Some(gone.message(lang))),
        Ok(card) => (Some(OfferView::of(c.tr, &card, c.now, c.tz)), None),
    };
    let status = if offer.is_some() { StatusCode::OK } else { StatusCode::CONFLICT };
    Ok(render_with(status, &OfferPage { tr: who.tr, c, offer, message, confirm_decline }))
}

async fn get_offer(State(state): State<AppState>, who: MasterPage, Path(id): Path<OfferId>) -> Result<Response, MobileError> {
    card(&state, &who, id, false).await
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// Accepts the offer exactly as the API does (a blocking thread, [`offers::accept_now`]); a refusal is
/// shown on the card without the accept button.
async fn post_accept(State(state): State<AppState>, who: MasterPage, Path(id): Path<OfferId>, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    let (db, now, master) = (state.db.clone(), state.clock.now(), who.master.id);
    let accepted = tokio::task::spawn_blocking(move || offers::accept_now(&db, now, master, id)).await.expect("accept task panicked");
    match accepted {
        Ok(accepted) => Ok(done(&format!("/m/orders/{}", accepted.order_id), "m_accepted")),
        Err(error @ Error::NotFound { .. }) => Err(who.refused(error)),
        Err(error) => refused(&state, &who, error).await,
    }
}

/// A refused accept or decline: the message, and no button that could not work.
async fn refused(state: &AppState, who: &MasterPage, error: Error) -> Result<Response, MobileError> {
    let (c, ()) = page(state, who, |_, _, _| Ok(())).await?;
    let status = crate::api::status_of(&error);
    Ok(render_with(status, &OfferPage { tr: who.tr, c, offer: None, message: Some(error.message(who.tr.0)), confirm_decline: false }))
}

#[derive(Debug, Deserialize)]
struct DeclineForm {
    confirm: Option<String>,
}

/// Declines after the confirmation step (distribution.md §8.5): without `confirm=yes` the card asks first.
async fn post_decline(State(state): State<AppState>, who: MasterPage, Path(id): Path<OfferId>, CsrfForm(form): CsrfForm<DeclineForm>) -> Result<Response, MobileError> {
    if form.confirm.as_deref() != Some("yes") {
        return card(&state, &who, id, true).await;
    }
    match act(&state, &who, move |tx, master, now| offers::decline(tx, now, master, id)).await {
        Ok(()) => Ok(done("/m/offers", "m_declined")),
        Err(error @ Error::NotFound { .. }) => Err(who.refused(error)),
        Err(error) => refused(&state, &who, error).await,
    }
}
