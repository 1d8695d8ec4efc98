//! The order card (`GET /orders/{id}`): every field, the contacts, the status history with its actors, the
//! offers, the engine's event log, the files, the manual candidate list and the staff actions. Each action
//! is a POST form; a done one comes back to the card with a flash, a refused one shows the card again with
//! the message (and, when the rule asks for it, a button to confirm).

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use super::words::{Names, Told, skip_text};
use super::{Chrome, CsrfForm, StaffPage, Tr, WebError, act, done, page, render_with};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::{MasterId, OfferState, OrderId, OrderStatus, OrderType, StaffId};
use crate::engine::{self, AutoOutcome, ManualCandidate};
use crate::error::Error;
use crate::i18n::catalog;
use crate::offers;
use crate::orders::{self, OrderCard};
use crate::settings::Settings;
use crate::staff::Staff;
use crate::uploads::{self, Attachment};
use crate::clients::ClientHistory;
use crate::order_notes::{self, Note};
use crate::{clients, order_edit};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders/{id}", get(get_card))
        .route("/orders/{id}/candidates", get(get_candidates))
        .route("/orders/{id}/auto", post(post_auto))
        .route("/orders/{id}/offer", post(post_offer))
        .route("/orders/{id}/assign", post(post_assign))
        .route("/orders/{id}/return", post(post_return))
        .route("/orders/{id}/cancel", post(post_cancel))
        .route("/orders/{id}/activate", post(post_activate))
        .route("/orders/{id}/guarantee", post(post_guarantee))
        .route("/orders/{id}/notes", post(post_note))
}

/// What the card shows, read in one go.
struct CardData {
    card: OrderCard,
    closed_at: Option<DateTime<Utc>>,
    attachments: Vec<Attachment>,
    /// The note the master left when closing.
    close_note: Option<String>,
    /// The manual candidate list, when the order may be assigned.
    candidates: Vec<ManualCandidate>,
    /// The candidates push cannot reach (while push is on): an offer reaches them only with the app open.
    no_push: BTreeSet<MasterId>,
    masters: HashMap<MasterId, (String, String)>,
    /// The masters and staff members the history and the log name, with the staff's roles.
    names: Names,
    warranty_days: i64,
    now: DateTime<Utc>,
    /// The order's commission, for admins (logists have no finance access, decisions §B.20).
    commission: Option<crate::money::commissions::Commission>,
    /// The staff's internal notes, oldest first.
    notes: Vec<Note>,
    /// The client's orders in the caller's cities (this one included).
    client: ClientHistory,
    /// The viewer's language, for money and times (set once the page knows it).
    tr: Tr,
}

fn read_card(conn: &Connection, staff: &Staff, now: DateTime<Utc>, id: OrderId, push_on: bool) -> Result<CardData, Error> {
    let card = orders::card(conn, staff, id)?;
    let closed_at = orders::load(conn, id)?.and_then(|o| o.closed_at);
    let attachments = uploads::list_for(conn, &Principal::Staff(staff.clone()), id)?;
    let close_note = crate::work::close_note(conn, id)?;
    let assignable = card.order.assigned_master_id.is_none() && may_assign(card.order.status);
    let candidates = if assignable { engine::manual_candidates(conn, now, staff, id)? } else { Vec::new() };
    let mut no_push = BTreeSet::new();
    for m in candidates.iter().filter(|_| push_on) {
        if !crate::push::reachable(conn, m.master_id)? {
            no_push.insert(m.master_id);
        }
    }
    let mut master_ids = BTreeSet::new();
    master_ids.extend(card.order.assigned_master_id);
    master_ids.extend(card.order.preferred_master_id);
    master_ids.extend(card.offers.iter().map(|o| o.master_id));
    master_ids.extend(card.history.iter().filter_map(|h| h.master_id));
    let mut names = Names::of_events(conn, card.events.iter().map(|e| &e.detail))?;
    let staff_ids: BTreeSet<StaffId> = card.history.iter().filter_map(|h| h.staff_id).filter(|id| !names.staff.contains_key(id)).collect();
    names.staff.extend(crate::staff::roles_and_names(conn, &staff_ids.into_iter().collect::<Vec<_>>())?);
    master_ids.extend(names.masters.keys().copied());
    let masters = crate::masters::contacts(conn, &master_ids.into_iter().collect::<Vec<_>>())?;
    names.masters.extend(masters.iter().map(|(id, (name, _))| (*id, name.clone())));
    let warranty_days = Settings::load(conn)?.warranty_days;
    let admin = matches!(staff.role, crate::domain::StaffRole::GlobalAdmin | crate::domain::StaffRole::CityAdmin);
    let commission = if admin { crate::money::commissions::of_order(conn, id)? } else { None };
    let notes = order_notes::list(conn, staff, id)?;
    let client = clients::history(conn, staff, &card.order.client_phone)?;
    Ok(CardData { card, closed_at, attachments, close_note, candidates, no_push, masters, names, warranty_days, now, commission, notes, client, tr: Tr(crate::i18n::Lang::Ru) })
}

/// "Assign" (auto, offer, direct) is offered only for these statuses (decisions §B.28).
fn may_assign(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Searching | OrderStatus::Guarantee | OrderStatus::Deferred)
}

/// A refused action, shown above the card's actions.
struct Problem {
    message: String,
    /// The reasons the rule wants confirmed, readable.
    reasons: Vec<String>,
    /// The same action once more, confirmed.
    confirm: Option<Confirm>,
}

/// A form that re-posts an action with its confirmation field set.
struct Confirm {
    action: String,
    master_id: Option<MasterId>,
    /// `force` or `confirm_deferred`.
    field: &'static str,
    label: String,
}

/// The cancel form as typed, with its error.
#[derive(Default)]
struct CancelField {
    reason: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "web/order_card.html")]
struct CardPage {
    c: Chrome,
    v: CardData,
    problem: Option<Problem>,
    cancel: CancelField,
    /// The note form as typed, with its error.
    note: CancelField,
}

/// One status-history line, ready to show.
struct HistoryRow {
    at: String,
    /// The status change (`Searching → Assigned`) or, when the status stays, what happened.
    change: String,
    actor: String,
    reason: String,
    /// The fields an edit changed.
    changes: Vec<ChangeRow>,
}

/// One offer, ready to show.
struct OfferRow {
    round: i64,
    cycle: i64,
    master: String,
    sent: String,
    state: OfferState,
    answered: Option<String>,
    /// Seconds left of a live offer.
    left: Option<i64>,
}

impl OfferRow {
    /// The time left of a live offer, `m:ss`.
    fn left_text(&self) -> String {
        crate::board::minutes_seconds(self.left.unwrap_or_default())
    }
}

/// One event, ready to show.
struct EventRow {
    at: String,
    actor: String,
    sentence: String,
}

/// One changed field of an edit, ready to show.
struct ChangeRow {
    field: String,
    old: String,
    new: String,
}

/// The text of `key` when the catalog has it.
fn known(tr: Tr, key: &str) -> Option<String> {
    catalog(tr.0).get(key).cloned()
}

impl CardData {
    fn tz(&self) -> &str {
        &self.card.order.timezone
    }

    /// A time on the order's city clock, in the one format of the viewer's language.
    fn time(&self, at: &DateTime<Utc>) -> String {
        self.tr.date_time(*at, self.tz())
    }

    /// A time on the order's city clock with the zone named.
    fn time_zoned(&self, at: &DateTime<Utc>) -> String {
        format!("{} ({})", self.time(at), self.tz())
    }

    /// The visit window with the zone named.
    fn slot(&self) -> Option<String> {
        let order = &self.card.order;
        let start = order.timeslot_start?;
        let window = order.timeslot_end.map_or_else(|| self.time(&start), |end| self.tr.window(start, end, self.tz()));
        Some(format!("{window} ({})", self.tz()))
    }

    fn master_name(&self, id: &MasterId) -> String {
        self.masters.get(id).map_or_else(|| format!("#{id}"), |(name, _)| format!("{name} (#{id})"))
    }

    fn master_phone(&self, id: &MasterId) -> Option<String> {
        self.masters.get(id).map(|(_, phone)| phone.clone())
    }

    /// Street, house, apartment: what a master needs to find the door.
    fn address(&self, tr: &Tr) -> String {
        let o = &self.card.order;
        let mut parts: Vec<String> = [o.street.clone(), o.house.clone()].into_iter().flatten().collect();
        if let Some(apartment) = &o.apartment {
            parts.push(format!("{} {apartment}", tr.t("card.apartment_short")));
        }
        parts.join(", ")
    }

    fn money(&self, kop: &i64) -> String {
        self.tr.money(*kop)
    }

    fn can_assign(&self) -> bool {
        self.card.order.assigned_master_id.is_none() && may_assign(self.card.order.status)
    }

    /// "Auto-distribute now": an order that may be assigned, has a district (or a city without districts)
    /// and no live offer — otherwise the engine would only refuse.
    fn can_auto(&self) -> bool {
        self.can_assign() && !self.card.order.no_district && !self.card.offers.iter().any(|o| o.is_live(self.now))
    }

    /// "Return to search" takes the order off its master: only an order a master is working on. A
    /// searching or deferred order has nobody to take it off.
    fn can_return(&self) -> bool {
        self.card.order.assigned_master_id.is_some()
            && matches!(self.card.order.status, OrderStatus::Assigned | OrderStatus::EnRoute | OrderStatus::Working)
    }

    fn can_cancel(&self) -> bool {
        !matches!(self.card.order.status, OrderStatus::Payment | OrderStatus::Closed | OrderStatus::Canceled)
    }

    fn can_activate(&self) -> bool {
        self.card.order.status == OrderStatus::Deferred
    }

    /// A closed normal order with a master, inside the warranty window (decisions §B.10).
    fn can_guarantee(&self) -> bool {
        let o = &self.card.order;
        let closed = self.closed_at.unwrap_or(o.created_at);
        o.status == OrderStatus::Closed
            && o.order_type == OrderType::Normal
            && o.assigned_master_id.is_some()
            && self.now <= closed + chrono::Duration::days(self.warranty_days)
    }

    fn unavailable(&self, tr: &Tr, candidate: &ManualCandidate) -> Vec<String> {
        candidate.unavailable.iter().map(|code| skip_text(*tr, code, self.tz())).collect()
    }

    fn history(&self, tr: &Tr) -> Vec<HistoryRow> {
        use crate::domain::ActorType;
        self.card
            .history
            .iter()
            .rev()
            .map(|h| {
                let actor = match (h.actor_type, h.staff_id, h.master_id) {
                    (_, Some(staff), _) => self.names.staff_actor(*tr, staff),
                    (_, _, Some(master)) => self.names.master_actor(*tr, master),
                    (ActorType::AutoDistribution, _, _) => tr.t("actor.auto"),
                    _ => tr.t("actor.system"),
                };
                let mut reason = known(*tr, &format!("card.reason.{}", h.reason)).unwrap_or_else(|| tr.t("event.unknown"));
                let changes: Vec<ChangeRow> = h.context.get("changes").and_then(Value::as_array).map(|all| all.iter().map(|c| self.change(*tr, c)).collect()).unwrap_or_default();
                // A row that keeps the status (an escalation, an edit) is its own line, not "Searching → Searching".
                let change = if h.from_status == Some(h.to_status) {
                    let line = known(*tr, &format!("history.{}", h.reason)).unwrap_or_else(|| reason.clone());
                    reason = h.context.get("reason").and_then(Value::as_str).map(|code| tr.of("board.reason.", code)).unwrap_or_default();
                    line
                } else {
                    match h.from_status {
                        Some(from) => format!("{} → {}", tr.of("status.", from), tr.of("status.", h.to_status)),
                        None => tr.of("status.", h.to_status),
                    }
                };
                HistoryRow { at: self.time(&h.at), change, actor, reason, changes }
            })
            .collect()
    }

    /// One change of an edit: the field's name and its values in words.
    fn change(&self, tr: Tr, change: &Value) -> ChangeRow {
        let field = change.get("field").and_then(Value::as_str).unwrap_or_default();
        let text = |value: Option<&Value>| match (field, value) {
            (_, None | Some(Value::Null)) => tr.t("web.none"),
            ("category", Some(Value::String(code))) => tr.of("category.", code),
            ("slot", Some(slot)) => {
                let time = |key: &str| slot.get(key).and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
                match (time("start"), time("end")) {
                    (Some(start), Some(end)) => self.tr.window(start, end, self.tz()),
                    _ => tr.t("web.none"),
                }
            }
            ("files", Some(Value::Array(names))) if names.is_empty() => tr.t("web.none"),
            (_, Some(Value::Array(names))) => names.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            (_, Some(Value::String(text))) if text.is_empty() => tr.t("web.none"),
            (_, Some(Value::String(text))) => text.clone(),
            (_, Some(other)) => other.to_string(),
        };
        ChangeRow { field: tr.of("edit.field.", field), old: text(change.get("old")), new: text(change.get("new")) }
    }

    /// The order may be edited in its status (decisions D-24).
    fn can_edit(&self) -> bool {
        !order_edit::editable(self.card.order.status).is_empty()
    }

    /// The client's other orders, ready to show.
    fn client_rows(&self, tr: &Tr) -> Vec<super::client_history::ClientRow> {
        super::client_history::rows(*tr, &self.client, Some(self.card.order.id))
    }

    fn offers(&self) -> Vec<OfferRow> {
        self.card
            .offers
            .iter()
            .rev()
            .map(|o| OfferRow {
                round: o.round_number,
                cycle: o.dist_cycle,
                master: self.master_name(&o.master_id),
                sent: self.time(&o.sent_at),
                state: o.state,
                answered: o.responded_at.map(|t| self.time(&t)),
                left: o.is_live(self.now).then(|| (o.expires_at - self.now).num_seconds()),
            })
            .collect()
    }

    fn events(&self, tr: &Tr) -> Vec<EventRow> {
        self.card
            .events
            .iter()
            .rev()
            .map(|e| {
                let told = Told { source: &e.source, kind: &e.kind, detail: &e.detail };
                EventRow { at: self.time(&e.at), actor: told.actor(*tr, &self.names), sentence: told.sentence(*tr, &self.names, self.tz()) }
            })
            .collect()
    }
}

/// The order id of the path; anything but a number is an order that does not exist.
fn order_id(who: &StaffPage, raw: &str) -> Result<OrderId, WebError> {
    raw.parse().map_err(|_| who.refused(Error::NotFound { what: "order" }))
}

/// Shows the card, with a refused action's message when there is one.
async fn show(state: &AppState, who: &StaffPage, id: OrderId, status: StatusCode, problem: Option<Problem>, cancel: CancelField) -> Result<Response, WebError> {
    show_with_note(state, who, id, status, problem, cancel, CancelField::default()).await
}

async fn show_with_note(state: &AppState, who: &StaffPage, id: OrderId, status: StatusCode, problem: Option<Problem>, cancel: CancelField, note: CancelField) -> Result<Response, WebError> {
    let push_on = state.config.push_contact.is_some();
    let (c, mut v) = page(state, who, "orders", move |conn, staff, now| read_card(conn, staff, now, id, push_on)).await?;
    v.tr = c.tr;
    Ok(render_with(status, &CardPage { c, v, problem, cancel, note }))
}

/// A refused action: a foreign or missing order is a 404 page; anything else is told on the card.
async fn refused(state: &AppState, who: &StaffPage, id: OrderId, error: Error, confirm: Option<Confirm>) -> Result<Response, WebError> {
    if matches!(error, Error::NotFound { what: "order" }) {
        return Err(who.refused(error));
    }
    let status = crate::api::status_of(&error);
    let tz = state.db.read_blocking(move |c| orders::view(c, id)).await.map(|o| o.timezone).unwrap_or_default();
    let reasons = match &error {
        Error::NeedsConfirmation { reasons } | Error::MasterNotEligible { reasons } => reasons.iter().map(|r| skip_text(who.tr, r, &tz)).collect(),
        _ => Vec::new(),
    };
    let message = match &error {
        Error::NeedsConfirmation { .. } => who.tr.t("card.needs_confirmation"),
        Error::MasterNotEligible { .. } => who.tr.t("card.not_eligible"),
        _ => error.message(who.tr.0),
    };
    let confirm = confirm.filter(|_| matches!(error, Error::NeedsConfirmation { .. } | Error::DeferredNeedsConfirmation));
    show(state, who, id, status, Some(Problem { message, reasons, confirm }), CancelField::default()).await
}

async fn get_card(State(state): State<AppState>, who: StaffPage, Path(raw): Path<String>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    show(&state, &who, id, StatusCode::OK, None, CancelField::default()).await
}

/// The candidate list is a section of the card.
async fn get_candidates(who: StaffPage, Path(raw): Path<String>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    Ok(Redirect::to(&format!("/orders/{id}#candidates")).into_response())
}

#[derive(Debug, Deserialize)]
struct NoFields {}

#[derive(Debug, Deserialize)]
struct AutoForm {
    confirm_deferred: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PickForm {
    master_id: Option<String>,
    force: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CancelForm {
    reason: Option<String>,
}

fn checked(value: &Option<String>) -> bool {
    matches!(value.as_deref(), Some("1" | "true" | "on"))
}

async fn post_auto(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(form): CsrfForm<AutoForm>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    let confirmed = checked(&form.confirm_deferred);
    let seed = rand::random();
    let outcome = act(&state, &who, move |tx, staff, now| engine::auto_distribute_now(tx, now, staff, id, confirmed, seed)).await;
    let error = match outcome {
        Ok(AutoOutcome::OfferSent(_)) => return Ok(done(&format!("/orders/{id}"), "order_auto_offer_sent")),
        Ok(other) => other.error().unwrap_or(Error::NoCandidates),
        Err(error) => error,
    };
    let confirm = Confirm { action: format!("/orders/{id}/auto"), master_id: None, field: "confirm_deferred", label: who.tr.t("card.auto_anyway") };
    refused(&state, &who, id, error, Some(confirm)).await
}

/// The picked master of a form; anything but a number is a master that does not exist.
fn picked(form: &PickForm) -> Option<MasterId> {
    form.master_id.as_deref().and_then(|m| m.trim().parse().ok())
}

async fn post_offer(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(form): CsrfForm<PickForm>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    let force = checked(&form.force);
    let master = picked(&form);
    let result = match master {
        Some(master) => act(&state, &who, move |tx, staff, now| offers::manual_offer(tx, now, staff, id, master, force)).await.map(|_| ()),
        None => Err(Error::NotFound { what: "master" }),
    };
    match result {
        Ok(()) => Ok(done(&format!("/orders/{id}"), "order_offer_sent")),
        Err(error) => {
            let confirm = Confirm { action: format!("/orders/{id}/offer"), master_id: master, field: "force", label: who.tr.t("card.send_anyway") };
            refused(&state, &who, id, error, Some(confirm)).await
        }
    }
}

async fn post_assign(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(form): CsrfForm<PickForm>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    let force = checked(&form.force);
    let master = picked(&form);
    let result = match master {
        Some(master) => act(&state, &who, move |tx, staff, now| orders::assign_directly(tx, now, staff, id, master, force)).await,
        None => Err(Error::NotFound { what: "master" }),
    };
    match result {
        Ok(()) => Ok(done(&format!("/orders/{id}"), "order_assigned")),
        Err(error) => {
            let confirm = Confirm { action: format!("/orders/{id}/assign"), master_id: master, field: "force", label: who.tr.t("card.assign_anyway") };
            refused(&state, &who, id, error, Some(confirm)).await
        }
    }
}

async fn post_return(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    match act(&state, &who, move |tx, staff, now| orders::return_to_search(tx, now, staff, id)).await {
        Ok(_) => Ok(done(&format!("/orders/{id}"), "order_returned_to_search")),
        Err(error) => refused(&state, &who, id, error, None).await,
    }
}

async fn post_cancel(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(form): CsrfForm<CancelForm>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    let reason = form.reason.unwrap_or_default();
    let typed = reason.clone();
    match act(&state, &who, move |tx, staff, now| orders::cancel(tx, now, staff, id, &reason)).await {
        Ok(()) => Ok(done(&format!("/orders/{id}"), "order_canceled")),
        Err(error @ Error::Invalid { .. }) => {
            let cancel = CancelField { reason: typed, error: Some(error.message(who.tr.0)) };
            show(&state, &who, id, crate::api::status_of(&error), None, cancel).await
        }
        Err(error) => refused(&state, &who, id, error, None).await,
    }
}

async fn post_activate(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    match act(&state, &who, move |tx, staff, now| orders::activate_deferred(tx, now, staff, id)).await {
        Ok(_) => Ok(done(&format!("/orders/{id}"), "order_activated")),
        Err(error) => refused(&state, &who, id, error, None).await,
    }
}

async fn post_guarantee(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    match act(&state, &who, move |tx, staff, now| orders::create_guarantee(tx, now, staff, id)).await {
        Ok(created) => Ok(done(&format!("/orders/{}", created.id), "order_guarantee_created")),
        Err(error) => refused(&state, &who, id, error, None).await,
    }
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    text: Option<String>,
}

async fn post_note(State(state): State<AppState>, Path(raw): Path<String>, who: StaffPage, CsrfForm(form): CsrfForm<NoteForm>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    let text = form.text.unwrap_or_default();
    let typed = text.clone();
    match act(&state, &who, move |tx, staff, now| order_notes::add(tx, now, staff, id, &text)).await {
        Ok(_) => Ok(done(&format!("/orders/{id}"), "order_note_added")),
        Err(error @ Error::Invalid { .. }) => {
            let note = CancelField { reason: typed, error: Some(error.message(who.tr.0)) };
            show_with_note(&state, &who, id, crate::api::status_of(&error), None, CancelField::default(), note).await
        }
        Err(error) => refused(&state, &who, id, error, None).await,
    }
}
