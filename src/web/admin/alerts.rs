//! The staff member's alert feed (escalations, the unassigned backlog, overdue commissions, errors;
//! distribution.md §5.7.4, product.md §4.5) and the live event log of the engine and people across his cities
//! (product.md §6.7).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::local_time;
use crate::alerts::{self, AlertView};
use crate::app::AppState;
use crate::domain::{CityId, StaffRole};
use crate::events::{self, CityEvent, RECENT_MAX, SOURCES};
use crate::i18n::catalog;
use crate::reference::{self, City, Viewer};
use crate::web::words::{Names, Told};
use crate::web::{Chrome, CsrfForm, StaffPage, WebError, act, done, page, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(get_alerts))
        .route("/alerts/read-all", post(post_read_all))
        .route("/alerts/{id}/read", post(post_read))
        .route("/events", get(get_events))
        .route("/events/clear", post(post_clear))
}

/// The cities a staff member sees, by id: their names and zones.
fn city_map(cities: Vec<City>) -> HashMap<CityId, City> {
    cities.into_iter().map(|c| (c.id, c)).collect()
}

/// Name and zone of `city`, else the installation's zone.
fn place(cities: &HashMap<CityId, City>, city: Option<CityId>, fallback: &str) -> (String, String) {
    city.and_then(|id| cities.get(&id)).map_or_else(|| (String::new(), fallback.to_string()), |c| (c.name.clone(), c.timezone.clone()))
}

// --- alerts ---------------------------------------------------------------------------------------------------

/// An alert with its texts.
struct AlertRow {
    alert: AlertView,
    city: String,
    time: String,
    details: String,
    commission: Option<i64>,
}

#[derive(Template)]
#[template(path = "web/admin/alerts.html")]
struct AlertsPage {
    c: Chrome,
    rows: Vec<AlertRow>,
    unread_only: bool,
}

#[derive(Debug, Default, Deserialize)]
struct FeedQuery {
    unread: Option<String>,
}

/// What an alert says beyond its kind: the escalation reason, the number of waiting orders.
fn details(tr: crate::web::Tr, alert: &AlertView) -> String {
    let mut parts = Vec::new();
    if let Some(reason) = alert.payload.get("reason").and_then(|r| r.as_str()) {
        let key = format!("alerts_page.reason_{reason}");
        parts.push(catalog(tr.0).get(&key).cloned().unwrap_or_else(|| reason.to_string()));
    }
    if let Some(count) = alert.payload.get("count").and_then(serde_json::Value::as_i64) {
        parts.push(tr.t("alerts_page.waiting").replace("{count}", &count.to_string()));
    }
    if let Some(category) = alert.payload.get("category").and_then(|c| c.as_str()) {
        parts.push(tr.of("category.", category));
    }
    if let Some(district) = alert.payload.get("district").and_then(|d| d.as_str()) {
        parts.push(district.to_string());
    }
    if let Some(commission) = commission_of(alert) {
        let money = |key: &str| alert.payload.get(key).and_then(serde_json::Value::as_i64);
        parts.push(format!("{} #{commission}", tr.t("money.commission")));
        if let (Some(name), Some(master)) = (alert.payload.get("master_name").and_then(|n| n.as_str()), money("master_id")) {
            parts.push(format!("{} {name} (#{master})", tr.t("money.master")));
        }
        parts.extend(money("amount_kop").map(|kop| tr.money(kop)));
    }
    parts.join(" · ")
}

/// The commission an alert is about (an overdue one), for the link to its card.
fn commission_of(alert: &AlertView) -> Option<i64> {
    alert.payload.get("commission_id").and_then(serde_json::Value::as_i64)
}

async fn get_alerts(State(state): State<AppState>, who: StaffPage, Query(query): Query<FeedQuery>) -> Result<Response, WebError> {
    let unread_only = query.unread.is_some_and(|u| !u.is_empty() && u != "0");
    let (c, (feed, cities)) = page(&state, &who, "alerts", move |conn, staff, _| {
        Ok((alerts::feed(conn, staff.id, unread_only, alerts::MAX_FEED)?, city_map(reference::search_cities(conn, Viewer::Staff(staff), "")?)))
    })
    .await?;
    let fallback = state.config.timezone.name();
    let rows = feed
        .into_iter()
        .map(|alert| {
            let (city, zone) = place(&cities, alert.city_id, fallback);
            AlertRow { city, time: local_time(c.tr, alert.created_at, &zone), details: details(c.tr, &alert), commission: commission_of(&alert), alert }
        })
        .collect();
    Ok(render(&AlertsPage { c, rows, unread_only }))
}

#[derive(Debug, Deserialize)]
struct Empty {}

async fn post_read(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>, CsrfForm(_): CsrfForm<Empty>) -> Result<Response, WebError> {
    act(&state, &who, move |tx, staff, now| alerts::mark_read(tx, now, staff.id, id)).await.map_err(|e| who.refused(e))?;
    Ok(done("/alerts", "alert_read"))
}

async fn post_read_all(State(state): State<AppState>, who: StaffPage, CsrfForm(_): CsrfForm<Empty>) -> Result<Response, WebError> {
    act(&state, &who, move |tx, staff, now| alerts::mark_all_read(tx, now, staff.id)).await.map_err(|e| who.refused(e))?;
    Ok(done("/alerts", "alerts_all_read"))
}

// --- the live event log ---------------------------------------------------------------------------------------

/// An event told in words.
struct EventRow {
    entry: CityEvent,
    city: String,
    /// The city's time zone, named once in the row's hint.
    zone: String,
    time: String,
    actor: String,
    sentence: String,
}

#[derive(Template)]
#[template(path = "web/admin/events.html")]
struct EventsPage {
    c: Chrome,
    rows: Vec<EventRow>,
    source: String,
    sources: [&'static str; 4],
    can_clear: bool,
}

#[derive(Debug, Default, Deserialize)]
struct LogQuery {
    source: Option<String>,
}

async fn get_events(State(state): State<AppState>, who: StaffPage, Query(query): Query<LogQuery>) -> Result<Response, WebError> {
    // An unknown source is ignored (the whole log), as a filter left empty.
    let source = query.source.filter(|s| SOURCES.contains(&s.as_str()));
    let wanted = source.clone();
    let (c, (log, cities, names)) = page(&state, &who, "events", move |conn, staff, _| {
        let log = events::recent(conn, staff, wanted.as_deref(), RECENT_MAX)?;
        let names = Names::of_events(conn, log.iter().map(|e| &e.event.detail))?;
        Ok((log, city_map(reference::search_cities(conn, Viewer::Staff(staff), "")?), names))
    })
    .await?;
    let fallback = state.config.timezone.name();
    let tr = c.tr;
    let rows = log
        .into_iter()
        .map(|entry| {
            let (city, zone) = place(&cities, entry.city_id, fallback);
            let told = Told { source: &entry.event.source, kind: &entry.event.kind, detail: &entry.event.detail };
            let (actor, sentence) = (told.actor(tr, &names), told.sentence(tr, &names, &zone));
            EventRow { city, time: tr.date_time(entry.event.at, &zone), zone, actor, sentence, entry }
        })
        .collect();
    let can_clear = who.staff.role == StaffRole::GlobalAdmin;
    Ok(render(&EventsPage { c, rows, source: source.unwrap_or_default(), sources: SOURCES, can_clear }))
}

async fn post_clear(State(state): State<AppState>, who: StaffPage, CsrfForm(_): CsrfForm<Empty>) -> Result<Response, WebError> {
    act(&state, &who, move |tx, staff, now| events::clear(tx, now, staff)).await.map_err(|e| who.refused(e))?;
    Ok(done("/events", "events_cleared"))
}
