//! The master's money (product.md §4.3): the commission to pay right after closing (amount, whom to pay,
//! the comment to write, the deadline with a countdown), the tabs awaiting / paid / overdue, and
//! "I paid". Another master's commission is "not found".

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Bar, MasterPage, MobileError, NoFields, act, clock, local, page};
use crate::app::AppState;
use crate::money::commissions::{self, Commission, MasterTab};
use crate::web::{CsrfForm, Tr, done, render, rubles};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/finance", get(get_list))
        .route("/m/finance/{id}", get(get_commission))
        .route("/m/finance/{id}/paid", post(post_paid))
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
            amount: rubles(c.amount_kop),
            deadline: local(c.deadline_at, bar.tz),
            left,
            left_clock: clock(left),
            order_total: rubles(c.order_total_kop),
            paid: c.paid_amount_kop.map(rubles),
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
}

async fn get_commission(State(state): State<AppState>, who: MasterPage, Path(id): Path<i64>) -> Result<Response, MobileError> {
    let (c, commission) = page(&state, &who, move |conn, master, _| commissions::for_master(conn, master, id)).await?;
    let v = CommissionView::of(commission, &c);
    Ok(render(&CommissionPage { tr: who.tr, c, v }))
}

/// "I paid": WAIT_PAY → REPORTED (an overdue one keeps its status, decisions §B.18).
async fn post_paid(State(state): State<AppState>, who: MasterPage, Path(id): Path<i64>, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    act(&state, &who, move |tx, master, now| commissions::report_paid(tx, now, master, id)).await.map_err(|e| who.refused(e))?;
    Ok(done(&format!("/m/finance/{id}"), "m_reported"))
}
