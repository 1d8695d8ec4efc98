//! The master's money (product.md §4.3): the commission to pay right after closing (amount, whom to pay,
//! the comment to write, the deadline with a countdown), the tabs awaiting / paid / overdue, and
//! "I paid", the SBP QR of the snapshot and his payment receipts (uploaded in `receipts`). Another
//! master's commission is "not found".

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Bar, MasterPage, MobileError, NoFields, act, clock, local, page};
use crate::app::AppState;
use crate::error::Error;
use crate::money::commissions::{self, Commission, MasterTab};
use crate::money::receipts::{self, MAX_RECEIPTS, Receipt};
use crate::money::requisites::{self, Requisites};
use crate::web::{CsrfForm, Tr, done, render, render_with};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/finance", get(get_list))
        .route("/m/finance/{id}", get(get_commission))
        .route("/m/finance/{id}/paid", post(post_paid))
        .route("/m/requisites", get(get_requisites))
        .route("/m/requisites/qr", get(get_requisites_qr))
}

/// The owner's current requisites in full (product.md §4.3, last bullet): whom to pay, beyond one
/// commission's snapshot.
#[derive(Template)]
#[template(path = "m/requisites.html")]
struct RequisitesPage {
    tr: Tr,
    c: Bar,
    r: Requisites,
}

impl RequisitesPage {
    /// The card number in groups of four, as printed on a card.
    fn card_number(&self) -> String {
        let digits: Vec<char> = self.r.card_number.chars().collect();
        digits.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
    }

    fn has(&self, method: &str) -> bool {
        self.r.methods.iter().any(|m| m == method)
    }
}

async fn get_requisites(State(state): State<AppState>, who: MasterPage) -> Result<Response, MobileError> {
    let (c, r) = page(&state, &who, |conn, _, _| requisites::load(conn)).await?;
    Ok(render(&RequisitesPage { tr: who.tr, c, r }))
}

/// The current SBP QR image (the one new commissions copy).
async fn get_requisites_qr(State(state): State<AppState>, who: MasterPage) -> Result<Response, MobileError> {
    let image = state.db.read_blocking(requisites::qr_image).await.map_err(|e| who.refused(e))?;
    crate::api::receipts::qr_image(&state, who.tr.0, image).await.map_err(|_| who.refused(Error::NotFound { what: "attachment" }))
}

/// A commission as his screens show it.
pub struct CommissionView {
    /// The commission.
    pub c: Commission,
    /// Its amount, "1 750".
    pub amount: String,
    /// The deadline, local "dd.mm HH:MM".
    pub deadline: String,
    /// Seconds left to the deadline (0 when passed).
    pub left: i64,
    /// The countdown's text before the script ticks it.
    pub left_clock: String,
    /// The order's total.
    pub order_total: String,
    /// The amount staff confirmed.
    pub paid: Option<String>,
}

impl CommissionView {
    fn of(c: Commission, bar: &Bar) -> Self {
        let left = (c.deadline_at - bar.now).num_seconds().max(0);
        Self {
            amount: bar.tr.money(c.amount_kop),
            deadline: local(bar.tr, c.deadline_at, bar.tz),
            left,
            left_clock: clock(left),
            order_total: bar.tr.money(c.order_total_kop),
            paid: c.paid_amount_kop.map(|kop| bar.tr.money(kop)),
            c,
        }
    }

    /// Still to pay: the requisites and "I paid" are shown.
    pub fn unpaid(&self) -> bool {
        self.c.unpaid()
    }
}

#[derive(Template)]
#[template(path = "m/finance.html")]
struct ListPage {
    tr: Tr,
    c: Bar,
    tab: MasterTab,
    items: Vec<CommissionView>,
}

impl ListPage {
    fn tabs(&self) -> [MasterTab; 3] {
        [MasterTab::Awaiting, MasterTab::Paid, MasterTab::Overdue]
    }
}

#[derive(Debug, Deserialize)]
struct TabQuery {
    tab: Option<String>,
}

async fn get_list(State(state): State<AppState>, who: MasterPage, Query(query): Query<TabQuery>) -> Result<Response, MobileError> {
    let tab = match query.tab.as_deref() {
        Some("paid") => MasterTab::Paid,
        Some("overdue") => MasterTab::Overdue,
        _ => MasterTab::Awaiting,
    };
    let (c, items) = page(&state, &who, move |conn, master, _| commissions::list_for_master(conn, master, tab)).await?;
    let items = items.into_iter().map(|item| CommissionView::of(item, &c)).collect();
    Ok(render(&ListPage { tr: who.tr, c, tab, items }))
}

#[derive(Template)]
#[template(path = "m/commission.html")]
struct CommissionPage {
    tr: Tr,
    c: Bar,
    v: CommissionView,
    /// His receipts, oldest first.
    receipts: Vec<Receipt>,
    /// Why the last upload was refused.
    receipt_error: Option<String>,
}

impl CommissionPage {
    /// Receipts may be added and deleted until staff approve (product.md §4.3).
    fn receipts_open(&self) -> bool {
        self.v.unpaid()
    }

    fn may_add(&self) -> bool {
        self.receipts_open() && self.receipts.len() < MAX_RECEIPTS
    }
}

async fn get_commission(State(state): State<AppState>, who: MasterPage, Path(id): Path<i64>) -> Result<Response, MobileError> {
    commission_page(&state, &who, id, None).await
}

/// His commission's card, with a refused receipt upload beside its form.
pub(super) async fn commission_page(state: &AppState, who: &MasterPage, id: i64, error: Option<Error>) -> Result<Response, MobileError> {
    let (c, (commission, receipts)) =
        page(state, who, move |conn, master, _| Ok((commissions::for_master(conn, master, id)?, receipts::of_commission(conn, id)?))).await?;
    let v = CommissionView::of(commission, &c);
    let status = error.as_ref().map_or(StatusCode::OK, crate::api::status_of);
    let receipt_error = error.map(|e| e.message(who.tr.0));
    Ok(render_with(status, &CommissionPage { tr: who.tr, c, v, receipts, receipt_error }))
}

/// "I paid": WAIT_PAY → REPORTED (an overdue one keeps its status, decisions §B.18).
async fn post_paid(State(state): State<AppState>, who: MasterPage, Path(id): Path<i64>, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    act(&state, &who, move |tx, master, now| commissions::report_paid(tx, now, master, id)).await.map_err(|e| who.refused(e))?;
    Ok(done(&format!("/m/finance/{id}"), "m_reported"))
}
