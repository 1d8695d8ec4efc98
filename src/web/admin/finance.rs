//! Staff finance (product.md §4.4, decisions §B.6, §B.17–§B.20): the commissions of the staff member's
//! cities by status with counts, filters and search, grouped by period; bulk approval (global admins, with a
//! preview to confirm); the commission card with its money history, approve with the amount paid, reject
//! with a reason and block the master; and the owner's payment requisites editor (§4.6, global admins).
//! Logists have no finance access.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Refusal, field, fields, local_time, refuses_the_page};
use crate::app::AppState;
use crate::domain::StaffRole;
use crate::events::StoredEvent;
use crate::error::Error;
use crate::moderation;
use crate::money::commissions::{self, Commission, CommissionCard, CommissionStatus};
use crate::money::finance::{self, BULK_DAYS, BulkApproval, Choice, Period, SegmentCount, StaffFilter};
use crate::money::watchdogs::OVERDUE_REASON;
use crate::money::requisites::{self, METHODS, Requisites};
use crate::money::{format_rubles, parse_amount};
use crate::web::{Chrome, CsrfForm, StaffPage, WebError, act, done, page, render, render_with};

const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/finance", get(get_list))
        .route("/finance/bulk-approve", get(get_bulk).post(post_bulk))
        .route("/finance/{id}", get(get_card))
        .route("/finance/{id}/approve", post(post_approve))
        .route("/finance/{id}/reject", post(post_reject))
        .route("/finance/{id}/block", post(post_block))
        .route("/settings/requisites", get(get_requisites).post(post_requisites))
}

/// One period's run of the list.
struct Section {
    period: Period,
    items: Vec<Commission>,
}

#[derive(Template)]
#[template(path = "web/finance_list.html")]
struct ListPage {
    c: Chrome,
    status: CommissionStatus,
    counts: Vec<SegmentCount>,
    sections: Vec<Section>,
    cities: Vec<Choice>,
    masters: Vec<Choice>,
    typed: ListQuery,
    zone: String,
    refusal: Refusal,
}

impl ListPage {
    fn rubles(&self, kop: &i64) -> String {
        self.c.tr.money(*kop)
    }

    fn time(&self, at: &DateTime<Utc>) -> String {
        local_time(self.c.tr, *at, &self.zone)
    }

    /// The list's address for `status` with the filters kept.
    fn href(&self, status: &CommissionStatus) -> String {
        let t = &self.typed;
        let pairs = [("status", status.as_str()), ("city_id", &t.city_id), ("master_id", &t.master_id), ("period", &t.period), ("q", &t.q)];
        let kept: Vec<(&str, &str)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        format!("/finance?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
    }

    fn filtered(&self) -> bool {
        let t = &self.typed;
        [&t.city_id, &t.master_id, &t.period, &t.q].iter().any(|v| !v.is_empty())
    }

    fn periods(&self) -> [Period; 5] {
        Period::ALL
    }

    fn bulk_days(&self) -> [i64; 3] {
        BULK_DAYS
    }
}

/// The list's query as typed: anything unknown is ignored (the whole list), except a search that is not an id.
#[derive(Debug, Clone, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    city_id: String,
    #[serde(default)]
    master_id: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    q: String,
}

impl ListQuery {
    fn filter(&self) -> StaffFilter {
        StaffFilter {
            status: CommissionStatus::parse(&self.status),
            city_id: self.city_id.trim().parse().ok(),
            master_id: self.master_id.trim().parse().ok(),
            period: Period::parse(&self.period),
            q: Some(self.q.clone()).filter(|q| !q.trim().is_empty()),
        }
    }
}

async fn get_list(State(state): State<AppState>, who: StaffPage, Query(typed): Query<ListQuery>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let (filter, tz) = (typed.filter(), state.config.timezone);
    let (c, (list, (cities, masters))) = page(&state, &who, "finance", move |conn, staff, now| {
        let list = match finance::list(conn, now, tz, staff, &filter) {
            Err(error @ Error::Invalid { .. }) => Ok(Err(error)),
            other => other.map(Ok),
        };
        Ok((list?, finance::choices(conn, staff)?))
    })
    .await?;
    let zone = tz.name().to_string();
    let (status, counts, sections, refusal, code) = match list {
        Ok(list) => {
            let mut items = list.items.into_iter();
            let sections = list.groups.iter().map(|g| Section { period: g.period, items: items.by_ref().take(g.count).collect() }).collect();
            (list.status, list.counts, sections, Refusal::default(), StatusCode::OK)
        }
        Err(error) => {
            let status = filter_status(&typed);
            (status, Vec::new(), Vec::new(), Refusal::of("filter", &error, who.tr.0), crate::api::status_of(&error))
        }
    };
    Ok(render_with(code, &ListPage { c, status, counts, sections, cities, masters, typed, zone, refusal }))
}

/// The segment asked for (REPORTED by default).
fn filter_status(typed: &ListQuery) -> CommissionStatus {
    CommissionStatus::parse(&typed.status).unwrap_or(CommissionStatus::Reported)
}

// --- bulk approval --------------------------------------------------------------------------------------------

/// The bulk approval's choices as typed: the days and the ticked statuses.
fn bulk_request(pairs: &[(String, String)]) -> BulkApproval {
    let days = field(pairs, "days").trim().parse().unwrap_or_default();
    let statuses = fields(pairs, "statuses").iter().filter_map(|s| CommissionStatus::parse(s)).collect();
    BulkApproval { days, statuses }
}

/// A commission bulk approval refused: its id, its order and why, readable.
type Failure = (i64, i64, String);

#[derive(Template)]
#[template(path = "web/finance_bulk.html")]
struct BulkPage {
    c: Chrome,
    request: BulkApproval,
    /// Before: what would be approved.
    candidates: Vec<Commission>,
    /// After: what was approved and what failed, with why.
    outcome: Option<(Vec<Commission>, Vec<Failure>)>,
    zone: String,
}

impl BulkPage {
    fn rubles(&self, kop: &i64) -> String {
        self.c.tr.money(*kop)
    }

    fn time(&self, at: &DateTime<Utc>) -> String {
        local_time(self.c.tr, *at, &self.zone)
    }

    fn total(&self) -> String {
        self.c.tr.money(self.candidates.iter().map(|c| c.amount_kop).sum())
    }

    fn statuses_text(&self) -> String {
        self.request.statuses.iter().map(|s| self.c.tr.of("commission_status.", s)).collect::<Vec<_>>().join(", ")
    }

    fn summary(&self) -> String {
        let (approved, failed) = self.outcome.as_ref().map_or((0, 0), |(a, f)| (a.len(), f.len()));
        self.c.tr.t("finance_staff.bulk_result").replace("{n}", &approved.to_string()).replace("{m}", &failed.to_string())
    }
}

/// The preview: what the chosen period and statuses would approve, with the button that does it.
async fn get_bulk(State(state): State<AppState>, who: StaffPage, Query(pairs): Query<Vec<(String, String)>>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let (request, tz) = (bulk_request(&pairs), state.config.timezone);
    let asked = request.clone();
    let (c, candidates) = page(&state, &who, "finance", move |conn, staff, now| finance::bulk_candidates(conn, now, tz, staff, &asked)).await?;
    Ok(render(&BulkPage { c, request, candidates, outcome: None, zone: tz.name().to_string() }))
}

/// Approves them, each on its own, and shows "approved n, failed m" with the failures named.
async fn post_bulk(State(state): State<AppState>, who: StaffPage, CsrfForm(pairs): CsrfForm<Vec<(String, String)>>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let (request, tz, lang) = (bulk_request(&pairs), state.config.timezone, who.tr.0);
    let (db, now, staff, asked) = (state.db.clone(), state.clock.now(), who.staff.clone(), request.clone());
    let bulk = tokio::task::spawn_blocking(move || finance::bulk_approve(&db, now, tz, &staff, &asked)).await.expect("database task panicked").map_err(|e| who.refused(e))?;
    let failed = bulk.failed.into_iter().map(|(id, order, error)| (id, order, error.message(lang))).collect();
    let (c, ()) = page(&state, &who, "finance", |_, _, _| Ok(())).await?;
    Ok(render(&BulkPage { c, request, candidates: Vec::new(), outcome: Some((bulk.approved, failed)), zone: tz.name().to_string() }))
}

#[derive(Template)]
#[template(path = "web/finance_card.html")]
struct CardPage {
    c: Chrome,
    card: CommissionCard,
    zone: String,
    /// What was typed into the approval's amount.
    paid_amount: String,
    /// What was typed as the rejection's reason.
    reason: String,
    /// What was typed as the block's reason.
    block_reason: String,
    refusal: Refusal,
}

impl CardPage {
    fn cm(&self) -> &Commission {
        &self.card.commission
    }

    fn rubles(&self, kop: &i64) -> String {
        self.c.tr.money(*kop)
    }

    fn time(&self, at: &DateTime<Utc>) -> String {
        local_time(self.c.tr, *at, &self.zone)
    }

    /// Approve is offered until approved; reject only for WAIT_PAY and REPORTED (product.md §4.4).
    fn may_approve(&self) -> bool {
        self.cm().status != CommissionStatus::Approved
    }

    fn may_reject(&self) -> bool {
        matches!(self.cm().status, CommissionStatus::WaitPay | CommissionStatus::Reported)
    }

    /// Why the master is blocked, readable (the watchdog's reason is a code).
    fn block_reason(&self) -> String {
        match self.card.master_block.reason.as_deref() {
            Some(OVERDUE_REASON) => self.c.tr.t("finance_staff.reason_commission_overdue"),
            Some(reason) => reason.to_string(),
            None => String::new(),
        }
    }

    /// An event's line: who (staff login or "master"), old → new status, and the amounts or reason.
    fn event_line(&self, e: &StoredEvent) -> String {
        let text = |key: &str| e.detail.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let kop = |key: &str| e.detail.get(key).and_then(serde_json::Value::as_i64).map(|k| self.c.tr.money(k));
        let tr = self.c.tr;
        let who = text("staff").unwrap_or_else(|| tr.of("event_source.", &e.source));
        let from = text("from").map(|f| tr.of("commission_status.", f));
        let to = text("to").map(|t| tr.of("commission_status.", t));
        let change = match (from, to) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (None, Some(to)) => to,
            _ => String::new(),
        };
        let extra = [kop("amount_kop"), kop("paid_kop").map(|p| format!("{}: {p}", tr.t("field.paid_amount"))), text("reason"), text("file_name")];
        let extra: Vec<String> = extra.into_iter().flatten().collect();
        format!("{} · {who} · {change}{}", tr.of("money.event.", &e.kind), if extra.is_empty() { String::new() } else { format!(" · {}", extra.join(" · ")) })
    }
}

/// What the card's forms had typed when one was refused.
#[derive(Default)]
struct Typed {
    paid_amount: String,
    reason: String,
    block_reason: String,
}

async fn card(state: &AppState, who: &StaffPage, id: i64, typed: Typed, refusal: Refusal, status: StatusCode) -> Result<Response, WebError> {
    let (c, card) = page(state, who, "finance", move |conn, staff, _| commissions::card_for_staff(conn, staff, id)).await?;
    let Typed { paid_amount, reason, block_reason } = typed;
    let paid_amount = if paid_amount.is_empty() && refusal.is_for("approve") { paid_amount } else if paid_amount.is_empty() { format_rubles(card.commission.amount_kop) } else { paid_amount };
    Ok(render_with(status, &CardPage { c, card, zone: state.config.timezone.name().to_string(), paid_amount, reason, block_reason, refusal }))
}

async fn get_card(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    card(&state, &who, id, Typed::default(), Refusal::default(), StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct ApproveForm {
    #[serde(default)]
    paid_amount: String,
}

/// Approves with the typed amount (empty = the commission's). A lower amount is approved and the card
/// says so (decisions §B.19).
async fn post_approve(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>, CsrfForm(form): CsrfForm<ApproveForm>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let typed = form.paid_amount.clone();
    let outcome = act(&state, &who, move |tx, staff, now| {
        let paid = if typed.trim().is_empty() { None } else { Some(parse_amount("paid_amount", &typed)?) };
        commissions::approve(tx, now, staff, id, paid)
    })
    .await;
    match outcome {
        Ok(c) if c.paid_less() => Ok(done(&format!("/finance/{id}"), "commission_approved_less")),
        Ok(_) => Ok(done(&format!("/finance/{id}"), "commission_approved")),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let refusal = Refusal::of("approve", &error, who.tr.0);
            card(&state, &who, id, Typed { paid_amount: form.paid_amount, ..Typed::default() }, refusal, crate::api::status_of(&error)).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct RejectForm {
    #[serde(default)]
    reason: String,
}

async fn post_reject(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>, CsrfForm(form): CsrfForm<RejectForm>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let reason = form.reason.clone();
    match act(&state, &who, move |tx, staff, now| commissions::reject(tx, now, staff, id, &reason)).await {
        Ok(_) => Ok(done(&format!("/finance/{id}"), "commission_rejected")),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let refusal = Refusal::of("reject", &error, who.tr.0);
            card(&state, &who, id, Typed { reason: form.reason, ..Typed::default() }, refusal, crate::api::status_of(&error)).await
        }
    }
}

/// Blocks the commission's master with a reason, by the master-block rule of the staff master card.
async fn post_block(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>, CsrfForm(form): CsrfForm<RejectForm>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let reason = form.reason.clone();
    let outcome = act(&state, &who, move |tx, staff, now| {
        let master = commissions::for_staff(tx, staff, id)?.master_id;
        moderation::block(tx, now, staff, master, &reason)
    })
    .await;
    match outcome {
        Ok(()) => Ok(done(&format!("/finance/{id}"), "master_block")),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let refusal = Refusal::of("block", &error, who.tr.0);
            card(&state, &who, id, Typed { block_reason: form.reason, ..Typed::default() }, refusal, crate::api::status_of(&error)).await
        }
    }
}

#[derive(Template)]
#[template(path = "web/admin/requisites.html")]
struct RequisitesPage {
    c: Chrome,
    r: Requisites,
    refusal: Refusal,
}

impl RequisitesPage {
    fn methods(&self) -> [&'static str; 4] {
        METHODS
    }

    fn text_fields(&self) -> [(&'static str, &str); 7] {
        let r = &self.r;
        [
            ("card_number", &r.card_number),
            ("card_holder", &r.card_holder),
            ("card_bank", &r.card_bank),
            ("sbp_phone", &r.sbp_phone),
            ("sbp_bank", &r.sbp_bank),
            ("other_text", &r.other_text),
            ("comment_template", &r.comment_template),
        ]
    }

    fn chosen(&self, method: &str) -> bool {
        self.r.methods.iter().any(|m| m == method)
    }
}

async fn get_requisites(State(state): State<AppState>, who: StaffPage) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    requisites_page(&state, &who, Refusal::default(), StatusCode::OK).await
}

/// The requisites editor as saved, with `refusal` beside its form (the QR upload's, from `receipts`).
pub(super) async fn requisites_page(state: &AppState, who: &StaffPage, refusal: Refusal, status: StatusCode) -> Result<Response, WebError> {
    let (c, r) = page(state, who, "finance", |conn, _, _| requisites::load(conn)).await?;
    Ok(render_with(status, &RequisitesPage { c, r, refusal }))
}

async fn post_requisites(State(state): State<AppState>, who: StaffPage, CsrfForm(pairs): CsrfForm<Vec<(String, String)>>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let input = Requisites {
        methods: fields(&pairs, "methods"),
        card_number: field(&pairs, "card_number"),
        card_holder: field(&pairs, "card_holder"),
        card_bank: field(&pairs, "card_bank"),
        sbp_phone: field(&pairs, "sbp_phone"),
        sbp_bank: field(&pairs, "sbp_bank"),
        other_text: field(&pairs, "other_text"),
        comment_template: field(&pairs, "comment_template"),
        sbp_qr: false,
    };
    let typed = input.clone();
    match act(&state, &who, move |tx, _, now| requisites::update(tx, now, &input)).await {
        Ok(_) => Ok(done("/settings/requisites", "requisites_saved")),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let refusal = Refusal::of("requisites", &error, who.tr.0);
            let (c, ()) = page(&state, &who, "finance", |_, _, _| Ok(())).await?;
            Ok(render_with(crate::api::status_of(&error), &RequisitesPage { c, r: typed, refusal }))
        }
    }
}
