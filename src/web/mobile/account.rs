//! The master's own things: shift and breaks (product.md §3.4), history with earnings (§3.6), statistics
//! (§3.7), the notification feed and the support contacts.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Bar, MasterPage, MobileError, Support, act, address, home, local, page, slot, zone};
use crate::app::AppState;
use crate::error::Error;
use crate::domain::OrderStatus;
use crate::master_views::{self, Earnings, HistoryFilter, Statistics};
use crate::masters::{self, BREAK_MINUTES};
use crate::queue::PageRequest;
use crate::settings::Settings;
use crate::web::{CsrfForm, Tr, done, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/shift/on", post(post_shift_on))
        .route("/m/shift/off", post(post_shift_off))
        .route("/m/break/start", post(post_break_start))
        .route("/m/break/extend", post(post_break_extend))
        .route("/m/break/end", post(post_break_end))
        .route("/m/history", get(get_history))
        .route("/m/stats", get(get_stats))
        .route("/m/notifications", get(get_notifications))
        .route("/m/notifications/{id}/read", post(post_read))
        .route("/m/support", get(get_support))
}

#[derive(Debug, Deserialize)]
struct NoFields {}

#[derive(Debug, Deserialize)]
struct BreakForm {
    #[serde(default)]
    minutes: String,
}

impl BreakForm {
    /// The chosen length; anything else is refused by the rule with the allowed lengths.
    fn minutes(&self) -> i64 {
        self.minutes.trim().parse().unwrap_or(0)
    }
}

/// After a shift action: home with the flash, or home again with the refusal.
async fn shift_done(state: &AppState, who: &MasterPage, outcome: Result<masters::ShiftState, Error>, key: &str) -> Result<Response, MobileError> {
    match outcome {
        Ok(_) => Ok(done("/m", key)),
        Err(error) => home(state, who, Some(&error)).await,
    }
}

async fn post_shift_on(State(state): State<AppState>, who: MasterPage, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    let outcome = act(&state, &who, |tx, master, now| masters::shift_on(tx, now, master)).await;
    shift_done(&state, &who, outcome, "m_shift_on").await
}

async fn post_shift_off(State(state): State<AppState>, who: MasterPage, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    let outcome = act(&state, &who, |tx, master, now| masters::shift_off(tx, now, master)).await;
    shift_done(&state, &who, outcome, "m_shift_off").await
}

async fn post_break_start(State(state): State<AppState>, who: MasterPage, CsrfForm(form): CsrfForm<BreakForm>) -> Result<Response, MobileError> {
    let minutes = form.minutes();
    let outcome = act(&state, &who, move |tx, master, now| masters::start_break(tx, now, master, minutes)).await;
    shift_done(&state, &who, outcome, "m_break_started").await
}

async fn post_break_extend(State(state): State<AppState>, who: MasterPage, CsrfForm(form): CsrfForm<BreakForm>) -> Result<Response, MobileError> {
    let minutes = form.minutes();
    let outcome = act(&state, &who, move |tx, master, now| masters::extend_break(tx, now, master, minutes)).await;
    shift_done(&state, &who, outcome, "m_break_extended").await
}

async fn post_break_end(State(state): State<AppState>, who: MasterPage, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    let outcome = act(&state, &who, |tx, master, now| masters::end_break(tx, now, master)).await;
    shift_done(&state, &who, outcome, "m_break_ended").await
}

/// The break lengths offered on the buttons: minutes and the catalog key of their label.
pub fn break_choices() -> [(i64, &'static str); 3] {
    BREAK_MINUTES.map(|m| (m, if m < 60 { "m.break_15" } else if m == 60 { "m.break_60" } else { "m.break_120" }))
}

/// A line of the history.
struct HistoryRow {
    id: i64,
    status: &'static str,
    place: String,
    category: &'static str,
    slot: Option<String>,
    total: Option<String>,
    /// What a CLOSED order earned him.
    earnings: Option<EarningsText>,
}

/// Earnings as the pages print them (decisions D-23); the company payment only where there is one.
struct EarningsText {
    gross: String,
    commission: String,
    company: Option<String>,
    net: String,
}

impl EarningsText {
    fn of(e: &Earnings, tr: Tr) -> Self {
        Self {
            gross: tr.money(e.gross_kop),
            commission: tr.money(e.commission_kop),
            company: (e.company_payment_kop > 0).then(|| tr.money(e.company_payment_kop)),
            net: tr.money(e.net_kop),
        }
    }
}

#[derive(Template)]
#[template(path = "m/history.html")]
struct HistoryPage {
    tr: Tr,
    c: Bar,
    filter: &'static str,
    rows: Vec<HistoryRow>,
    page: i64,
    pages: i64,
    total: i64,
    completed: i64,
    earnings: EarningsText,
}

impl HistoryPage {
    /// Whether `name` is the filter shown.
    fn current(&self, name: &str) -> bool {
        self.filter == name
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    filter: Option<String>,
    page: Option<String>,
}

async fn get_history(State(state): State<AppState>, who: MasterPage, Query(query): Query<HistoryQuery>) -> Result<Response, MobileError> {
    let (filter, name) = match query.filter.as_deref() {
        Some("closed") => (HistoryFilter::Closed, "closed"),
        Some("canceled") => (HistoryFilter::Canceled, "canceled"),
        _ => (HistoryFilter::All, "all"),
    };
    let request = PageRequest { page: Some(query.page.and_then(|p| p.parse().ok()).unwrap_or(1).max(1)), per_page: Some(10) };
    let (c, history) = page(&state, &who, move |conn, master, _| master_views::history(conn, master, filter, request)).await?;
    let rows = history
        .items
        .iter()
        .map(|o| {
            let tz = zone(Some(&o.timezone), c.tz);
            HistoryRow {
                id: o.id,
                status: o.status.as_str(),
                place: address(&[Some(&o.city), o.district.as_deref()]),
                category: o.category.as_str(),
                slot: slot(c.tr, o.timeslot_start, o.timeslot_end, tz),
                total: (o.total_sum_kop > 0 && o.status != OrderStatus::Closed).then(|| c.tr.money(o.total_sum_kop)),
                earnings: (o.status == OrderStatus::Closed).then(|| EarningsText::of(&o.earnings, c.tr)),
            }
        })
        .collect();
    let pages = ((history.total + history.per_page - 1) / history.per_page).max(1);
    Ok(render(&HistoryPage {
        tr: who.tr,
        c,
        filter: name,
        rows,
        page: history.page,
        pages,
        total: history.total,
        completed: history.completed,
        earnings: EarningsText::of(&history.earnings, who.tr),
    }))
}

#[derive(Template)]
#[template(path = "m/stats.html")]
struct StatsPage {
    tr: Tr,
    c: Bar,
    stats: Statistics,
    response: Option<String>,
    motivation: String,
    month: EarningsText,
    all_time: EarningsText,
}

impl StatsPage {
    fn rating(&self) -> String {
        format!("{:.1}", self.stats.rating)
    }
}

/// "12 мин" below an hour, else hours with one decimal (product.md §3.7).
fn response_time(tr: Tr, seconds: i64) -> String {
    let minutes = seconds as f64 / 60.0;
    if minutes < 60.0 {
        tr.t("m.stats_minutes").replace("{n}", &format!("{}", minutes.round() as i64))
    } else {
        tr.t("m.stats_hours").replace("{n}", &format!("{:.1}", minutes / 60.0))
    }
}

/// The motivation line by completed orders (product.md §3.7).
fn motivation(tr: Tr, completed: i64) -> String {
    match [10, 50, 100].into_iter().find(|goal| completed < *goal) {
        _ if completed == 0 => tr.t("m.stats_start"),
        Some(goal) => tr.t("m.stats_goal").replace("{goal}", &goal.to_string()).replace("{left}", &(goal - completed).to_string()),
        None => tr.t("m.stats_pro"),
    }
}

async fn get_stats(State(state): State<AppState>, who: MasterPage) -> Result<Response, MobileError> {
    let (c, stats) = page(&state, &who, |conn, master, now| master_views::statistics(conn, now, master)).await?;
    let response = stats.average_response_seconds.map(|s| response_time(who.tr, s));
    let (month, all_time) = (EarningsText::of(&stats.month_earnings, c.tr), EarningsText::of(&stats.earnings, c.tr));
    let motivation = motivation(who.tr, stats.completed);
    Ok(render(&StatsPage { tr: who.tr, c, stats, response, motivation, month, all_time }))
}

/// A notification as the feed shows it.
struct FeedItem {
    id: i64,
    title: String,
    detail: Option<String>,
    at: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "m/notifications.html")]
struct FeedPage {
    tr: Tr,
    c: Bar,
    items: Vec<FeedItem>,
    page: i64,
    pages: i64,
}

#[derive(Debug, Deserialize)]
struct FeedQuery {
    page: Option<String>,
}

async fn get_notifications(State(state): State<AppState>, who: MasterPage, Query(query): Query<FeedQuery>) -> Result<Response, MobileError> {
    let request = PageRequest { page: Some(query.page.and_then(|p| p.parse().ok()).unwrap_or(1).max(1)), per_page: Some(20) };
    let (c, feed) = page(&state, &who, move |conn, master, _| master_views::notifications(conn, master, request)).await?;
    let tr = who.tr;
    let items = feed
        .items
        .iter()
        .map(|n| {
            let text = |key: &str| n.payload.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            let detail = match n.event.as_str() {
                "new_offer" => n.payload.get("order_id").map(|id| format!("#{id}")),
                "break_reminder" => text("minutes_left").map(|m| tr.t("m.minutes_left").replace("{n}", &m)),
                "moderation_rejected" | "account_blocked" | "commission_rejected" => text("reason"),
                "commission_approved" | "order_changed" => n.payload.get("order_id").map(|id| format!("#{id}")),
                "commission_reminder" => text("hours").map(|h| tr.t("m.hours_left").replace("{n}", &h)),
                "limit_changed" => text("limit"),
                "referral_registered" => text("referred_name"),
                "referral_reward_accrued" => {
                    let number = |key: &str| n.payload.get(key).and_then(serde_json::Value::as_i64).unwrap_or_default();
                    let amount = tr.money(number("amount_kop"));
                    let detail = tr.t("referral.reward_detail").replace("{amount}", &amount);
                    Some(detail.replace("{level}", &number("level").to_string()).replace("{order}", &number("order_id").to_string()))
                }
                _ => None,
            };
            FeedItem { id: n.id, title: tr.of("m.event.", &n.event), detail, at: local(c.tr, n.created_at, c.tz), unread: n.new }
        })
        .collect();
    let pages = ((feed.total + feed.per_page - 1) / feed.per_page).max(1);
    Ok(render(&FeedPage { tr, c, items, page: feed.page, pages }))
}

async fn post_read(State(state): State<AppState>, who: MasterPage, Path(id): Path<i64>, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    act(&state, &who, move |tx, master, now| master_views::mark_read(tx, now, master, id)).await.map_err(|e| who.refused(e))?;
    Ok(done("/m/notifications", "m_read"))
}

#[derive(Template)]
#[template(path = "m/support.html")]
struct SupportPage {
    tr: Tr,
    c: Bar,
    support: Support,
}

async fn get_support(State(state): State<AppState>, who: MasterPage) -> Result<Response, MobileError> {
    let (c, support) = page(&state, &who, |conn, _, _| Ok(Support::of(&Settings::load(conn)?))).await?;
    Ok(render(&SupportPage { tr: who.tr, c, support }))
}
