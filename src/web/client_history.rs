//! The client's history as staff see it: on the order card, and as a fragment the new-order form loads
//! once the phone is typed (`GET /orders/new/client?phone=`). Both show the client's orders in the
//! caller's cities, each linked to its card, and mark a repeat client.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{StaffPage, Tr, render};
use crate::app::AppState;
use crate::clients::{self, ClientHistory};
use crate::domain::{OrderId, OrderType};

pub fn routes() -> Router<AppState> {
    Router::new().route("/orders/new/client", get(get_fragment))
}

/// One order of the client, ready to show.
pub struct ClientRow {
    pub id: OrderId,
    pub date: String,
    pub status: String,
    /// The status code, for the pill's colour.
    pub status_class: String,
    pub category: String,
    pub master: String,
    pub amount: String,
    /// "Guarantee order", or the guarantee order made from this one.
    pub guarantee: Option<String>,
    pub guarantee_id: Option<OrderId>,
}

/// The client's orders but `except`, newest first.
pub fn rows(tr: Tr, history: &ClientHistory, except: Option<OrderId>) -> Vec<ClientRow> {
    history
        .orders
        .iter()
        .filter(|o| Some(o.id) != except)
        .map(|o| ClientRow {
            id: o.id,
            date: tr.date(o.created_at, &o.timezone),
            status: tr.of("status.", o.status),
            status_class: o.status.as_str().to_lowercase(),
            category: tr.of("category.", o.category),
            master: o.master_name.clone().unwrap_or_else(|| tr.t("web.none")),
            amount: if o.total_sum_kop > 0 { tr.money(o.total_sum_kop) } else { tr.t("web.none") },
            guarantee: if o.order_type == OrderType::Guarantee { Some(tr.t("client.is_guarantee")) } else { o.guarantee_order_id.map(|_| tr.t("client.has_guarantee")) },
            guarantee_id: o.guarantee_order_id,
        })
        .collect()
}

/// The fragment's texts (the partial reads them as `c.tr`).
pub struct Texts {
    pub tr: Tr,
}

#[derive(Template)]
#[template(path = "web/client_history.html")]
struct Fragment {
    c: Texts,
    client_rows: Vec<ClientRow>,
}

#[derive(Debug, Deserialize)]
struct PhoneQuery {
    phone: Option<String>,
}

/// The client's orders for the new-order form: empty for a new client or a phone not yet complete.
async fn get_fragment(State(state): State<AppState>, who: StaffPage, Query(query): Query<PhoneQuery>) -> Response {
    let (staff, phone) = (who.staff.clone(), query.phone.unwrap_or_default());
    let history = state.db.read_blocking(move |c| clients::history(c, &staff, &phone)).await;
    match history {
        Ok(history) if !history.orders.is_empty() => render(&Fragment { c: Texts { tr: who.tr }, client_rows: rows(who.tr, &history, None) }),
        _ => ().into_response(),
    }
}
