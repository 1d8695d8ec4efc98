//! The master's active orders (product.md §2.7): the list, the card with the client (tap to call), the
//! address (copy, open in maps) and the one next action — en route, on site, close with the amount and
//! the act (a photo or PDF, checked by content; a refused close keeps what was typed).

use askama::Template;
use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Bar, MasterPage, MobileError, act, address, local, page, slot, zone};
use crate::api::files::{Parts, ReadError, UploadForm};
use crate::api::master_side::CLOSE_BODY_LIMIT;
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::{OrderId, OrderStatus, OrderType};
use crate::error::{Error, invalid};
use crate::master_views::{self, MyOrder};
use crate::uploads;
use crate::web::{CsrfForm, Tr, done, render, render_with, rubles};
use crate::work;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/orders", get(get_orders))
        .route("/m/orders/{id}", get(get_order))
        .route("/m/orders/{id}/en-route", post(post_en_route))
        .route("/m/orders/{id}/on-site", post(post_on_site))
        .route("/m/orders/{id}/close", get(get_close).post(post_close).layer(DefaultBodyLimit::max(CLOSE_BODY_LIMIT)))
        .route("/m/orders/{id}/files/{file}", get(get_file))
}

/// An order as the master's screens show it.
struct OrderView {
    id: OrderId,
    status: &'static str,
    guarantee: bool,
    /// City, district, street, house (what is copied and searched in maps).
    address: String,
    apartment: Option<String>,
    address_comment: Option<String>,
    maps_url: String,
    client_name: String,
    client_phone: String,
    category: &'static str,
    description: String,
    slot: Option<String>,
    total: Option<String>,
    cancel_reason: Option<String>,
    files: Vec<(i64, String)>,
}

impl OrderView {
    fn of(order: &MyOrder, bar: &Bar) -> Self {
        let tz = zone(Some(&order.timezone), bar.tz);
        let address = address(&[Some(&order.city), order.district.as_deref(), order.street.as_deref(), order.house.as_deref()]);
        let maps_url = format!("https://yandex.ru/maps/?{}", serde_urlencoded::to_string([("text", address.as_str())]).unwrap_or_default());
        Self {
            id: order.id,
            status: order.status.as_str(),
            guarantee: order.order_type == OrderType::Guarantee,
            address,
            apartment: order.apartment.clone(),
            address_comment: order.address_comment.clone(),
            maps_url,
            client_name: order.client_name.clone(),
            client_phone: order.client_phone.clone(),
            category: order.category.as_str(),
            description: order.description.clone(),
            slot: slot(order.timeslot_start, order.timeslot_end, tz).map(|s| format!("{s} ({})", order.city)),
            total: (order.total_sum_kop > 0).then(|| rubles(order.total_sum_kop)),
            cancel_reason: order.cancel_reason.clone(),
            files: order.attachments.iter().map(|a| (a.id, format!("{} · {}", a.file_name, local(a.created_at, tz)))).collect(),
        }
    }

    /// The one next action by status: `en-route`, `on-site`, `close`, or none.
    fn next(&self) -> &'static str {
        match OrderStatus::parse(self.status) {
            Some(OrderStatus::Assigned) => "en-route",
            Some(OrderStatus::EnRoute) => "on-site",
            Some(OrderStatus::Working) => "close",
            _ => "",
        }
    }
}

#[derive(Template)]
#[template(path = "m/orders.html")]
struct OrdersPage {
    tr: Tr,
    c: Bar,
    orders: Vec<OrderView>,
}

async fn get_orders(State(state): State<AppState>, who: MasterPage) -> Result<Response, MobileError> {
    let (c, orders) = page(&state, &who, |conn, master, _| master_views::active_orders(conn, master)).await?;
    let orders = orders.iter().map(|o| OrderView::of(o, &c)).collect();
    Ok(render(&OrdersPage { tr: who.tr, c, orders }))
}

#[derive(Template)]
#[template(path = "m/order.html")]
struct OrderPage {
    tr: Tr,
    c: Bar,
    order: OrderView,
    /// A refused step.
    message: Option<String>,
}

/// The card of one of his orders (another master's is "not found").
async fn order_card(state: &AppState, who: &MasterPage, id: OrderId, error: Option<Error>) -> Result<Response, MobileError> {
    let (c, order) = page(state, who, move |conn, master, _| master_views::my_order(conn, master, id)).await?;
    let order = OrderView::of(&order, &c);
    let status = error.as_ref().map_or(StatusCode::OK, crate::api::status_of);
    Ok(render_with(status, &OrderPage { tr: who.tr, c, order, message: error.map(|e| e.message(who.tr.0)) }))
}

async fn get_order(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>) -> Result<Response, MobileError> {
    order_card(&state, &who, id, None).await
}

#[derive(Debug, Deserialize)]
struct NoFields {}

async fn post_en_route(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    match act(&state, &who, move |tx, master, now| work::en_route(tx, now, master, id)).await {
        Ok(()) => Ok(done(&format!("/m/orders/{id}"), "m_en_route")),
        Err(error) => order_card(&state, &who, id, Some(error)).await,
    }
}

async fn post_on_site(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    match act(&state, &who, move |tx, master, now| work::on_site(tx, now, master, id)).await {
        Ok(()) => Ok(done(&format!("/m/orders/{id}"), "m_on_site")),
        Err(error) => order_card(&state, &who, id, Some(error)).await,
    }
}

#[derive(Template)]
#[template(path = "m/close.html")]
struct ClosePage {
    tr: Tr,
    c: Bar,
    order: OrderView,
    amount: String,
    amount_error: Option<String>,
    act_error: Option<String>,
    /// A refusal that is not about a field (the order is no longer on site …).
    message: Option<String>,
}

/// The closing form, with what was typed and the refusal beside its field.
async fn close_form(state: &AppState, who: &MasterPage, id: OrderId, amount: String, error: Option<Error>) -> Result<Response, MobileError> {
    let (c, order) = page(state, who, move |conn, master, _| master_views::my_order(conn, master, id)).await?;
    let order = OrderView::of(&order, &c);
    let status = error.as_ref().map_or(StatusCode::OK, crate::api::status_of);
    let lang = who.tr.0;
    let (mut amount_error, mut act_error, mut message) = (None, None, None);
    match &error {
        Some(e @ Error::Invalid { field: "amount", .. }) => amount_error = Some(e.message(lang)),
        Some(e @ Error::Invalid { field: "act", .. }) => act_error = Some(e.message(lang)),
        Some(e) => message = Some(e.message(lang)),
        None => {}
    }
    Ok(render_with(status, &ClosePage { tr: who.tr, c, order, amount, amount_error, act_error, message }))
}

async fn get_close(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>) -> Result<Response, MobileError> {
    close_form(&state, &who, id, String::new(), None).await
}

/// Closes a WORKING order: a normal one with the amount and the act (→ PAYMENT), a guarantee one with
/// the act only (→ CLOSED). The CSRF field is checked before anything is stored; a stored act is removed
/// again when the rule refuses.
async fn post_close(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>, form: Result<Multipart, MultipartRejection>) -> Result<Response, MobileError> {
    let malformed = || who.refused(invalid("form", "malformed"));
    let Ok(mut form) = form else { return Err(malformed()) };
    let upload = match Parts::read(&mut form, &state.config.data_dir, |name| name == "act", 1).await {
        Ok(parts) => UploadForm::of(parts, "act"),
        Err(ReadError::TooLarge) => return close_form(&state, &who, id, String::new(), Some(invalid("act", "file_size"))).await,
        Err(error @ (ReadError::Storage(_) | ReadError::TextTooLong)) => return Err(who.refused(error.into_error("act"))),
        Err(ReadError::Malformed(_)) => return Err(malformed()),
    };
    if upload.field(crate::web::CSRF_FIELD) != Some(who.csrf.as_str()) {
        return Err(who.refused(Error::CsrfFailed));
    }
    let amount = upload.field("amount").unwrap_or_default().to_string();
    let stored = match upload.store().await {
        Ok(stored) => stored,
        Err(error) => return close_form(&state, &who, id, amount, Some(error)).await,
    };
    let key = stored.storage_key.clone();
    let typed = amount.clone();
    match act(&state, &who, move |tx, master, now| work::close(tx, now, master, id, Some(&typed), &stored)).await {
        // A normal order goes on to what he now owes; a guarantee one back to its card.
        Ok(closed) => match closed.commission_id {
            Some(commission) => Ok(done(&format!("/m/finance/{commission}"), "m_closed")),
            None => Ok(done(&format!("/m/orders/{id}"), "m_closed_guarantee")),
        },
        Err(error) => {
            let dir = state.config.data_dir.clone();
            let _ = tokio::task::spawn_blocking(move || uploads::remove(&dir, &key)).await;
            close_form(&state, &who, id, amount, Some(error)).await
        }
    }
}

/// One file of his order (the act he uploaded); any other is "not found".
async fn get_file(State(state): State<AppState>, who: MasterPage, Path((id, file)): Path<(OrderId, i64)>) -> Result<Response, MobileError> {
    let caller = Principal::Master(who.master.clone());
    let found = state.db.read_blocking(move |c| uploads::find_for(c, &caller, id, file)).await.map_err(|e| who.refused(e))?;
    crate::api::files::download(&state, who.tr.0, found.storage_key, &found.file_name, &found.mime_type)
        .await
        .map_err(|_| who.refused(Error::NotFound { what: "attachment" }))
}
