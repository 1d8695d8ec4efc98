//! Staff finance (product.md §4.4, decisions §B.17–§B.20): the commissions of the staff member's cities by
//! status with counts, the commission card with its money history, approve with the amount paid and
//! reject with a reason; and the owner's payment requisites editor (§4.6, global admins). Logists have
//! no finance access.

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
use crate::money::commissions::{self, Commission, CommissionCard, CommissionStatus, StaffList};
use crate::money::requisites::{self, METHODS, Requisites};
use crate::money::{format_rubles, parse_amount};
use crate::web::{Chrome, CsrfForm, StaffPage, WebError, act, done, page, render, render_with};

const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/finance", get(get_list))
        .route("/finance/{id}", get(get_card))
        .route("/finance/{id}/approve", post(post_approve))
        .route("/finance/{id}/reject", post(post_reject))
        .route("/settings/requisites", get(get_requisites).post(post_requisites))
}

#[derive(Template)]
#[template(path = "web/finance_list.html")]
struct ListPage {
    c: Chrome,
    list: StaffList,
    zone: String,
}

impl ListPage {
    fn rubles(&self, kop: &i64) -> String {
        format_rubles(*kop)
    }

    fn time(&self, at: &DateTime<Utc>) -> String {
        local_time(*at, &self.zone)
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn get_list(State(state): State<AppState>, who: StaffPage, Query(query): Query<ListQuery>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let status = query.status.as_deref().and_then(CommissionStatus::parse).unwrap_or(CommissionStatus::Reported);
    let (c, list) = page(&state, &who, "finance", move |conn, staff, _| commissions::list_for_staff(conn, staff, status)).await?;
    Ok(render(&ListPage { c, list, zone: state.config.timezone.name().to_string() }))
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
    refusal: Refusal,
}

impl CardPage {
    fn cm(&self) -> &Commission {
        &self.card.commission
    }

    fn rubles(&self, kop: &i64) -> String {
        format_rubles(*kop)
    }

    fn time(&self, at: &DateTime<Utc>) -> String {
        local_time(*at, &self.zone)
    }

    /// Approve is offered until approved; reject only for WAIT_PAY and REPORTED (product.md §4.4).
    fn may_approve(&self) -> bool {
        self.cm().status != CommissionStatus::Approved
    }

    fn may_reject(&self) -> bool {
        matches!(self.cm().status, CommissionStatus::WaitPay | CommissionStatus::Reported)
    }

    /// An event's line: who (staff login or "master"), old → new status, and the amounts or reason.
    fn event_line(&self, e: &StoredEvent) -> String {
        let text = |key: &str| e.detail.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let kop = |key: &str| e.detail.get(key).and_then(serde_json::Value::as_i64).map(|k| format!("{} ₽", format_rubles(k)));
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

async fn card(state: &AppState, who: &StaffPage, id: i64, typed: (String, String), refusal: Refusal, status: StatusCode) -> Result<Response, WebError> {
    let (c, card) = page(state, who, "finance", move |conn, staff, _| commissions::card_for_staff(conn, staff, id)).await?;
    let (paid_amount, reason) = typed;
    let paid_amount = if paid_amount.is_empty() && refusal.is_for("approve") { paid_amount } else if paid_amount.is_empty() { format_rubles(card.commission.amount_kop) } else { paid_amount };
    Ok(render_with(status, &CardPage { c, card, zone: state.config.timezone.name().to_string(), paid_amount, reason, refusal }))
}

async fn get_card(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    card(&state, &who, id, (String::new(), String::new()), Refusal::default(), StatusCode::OK).await
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
            card(&state, &who, id, (form.paid_amount, String::new()), refusal, crate::api::status_of(&error)).await
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
            card(&state, &who, id, (String::new(), form.reason), refusal, crate::api::status_of(&error)).await
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
