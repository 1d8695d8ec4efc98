//! The master's active orders (product.md §2.7): the list, the card with the client (tap to call), the
//! address (copy, open in maps) and the one next action — en route, on site, close with the amount and
//! the act (a photo or PDF, checked by content; a refused close keeps what was typed).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Bar, MasterPage, MobileError, act, address, local, page, rubles, slot, zone};
use crate::api::master_side::CLOSE_BODY_LIMIT;
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::{OrderId, OrderStatus, OrderType};
use crate::error::{Error, invalid};
use crate::master_views::{self, MyOrder};
use crate::uploads;
use crate::web::{CsrfForm, Tr, done, render, render_with};
use crate::work::{self, MAX_FILE_BYTES, StoredFile};

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

/// The closing form as sent: its text fields and the first `act` file (at most [`MAX_FILE_BYTES`]; the
/// rest is drained, so an oversized act gets the form back instead of a reset connection).
struct CloseUpload {
    fields: HashMap<String, String>,
    act: Option<(String, Vec<u8>)>,
    files: usize,
    too_big: bool,
}

impl CloseUpload {
    async fn read(mut form: Multipart) -> Result<Self, MultipartError> {
        let mut upload = Self { fields: HashMap::new(), act: None, files: 0, too_big: false };
        while let Some(mut field) = form.next_field().await? {
            let name = field.name().unwrap_or_default().to_string();
            if name != "act" {
                let text = field.text().await?;
                upload.fields.insert(name, text);
                continue;
            }
            let file_name = field.file_name().unwrap_or_default().to_string();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await? {
                if upload.too_big {
                    continue;
                }
                if bytes.len() + chunk.len() > MAX_FILE_BYTES as usize {
                    upload.too_big = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(&chunk);
                }
            }
            // A browser sends an empty part for a file input left empty.
            if file_name.is_empty() && bytes.is_empty() && !upload.too_big {
                continue;
            }
            upload.files += 1;
            if upload.files == 1 {
                upload.act = Some((file_name, bytes));
            }
        }
        Ok(upload)
    }

    /// Stores the one act under the data directory, its type read from the content.
    async fn store(self, state: &AppState) -> Result<StoredFile, Error> {
        if self.too_big {
            return Err(invalid("act", "file_size"));
        }
        if self.files > 1 {
            return Err(invalid("act", "file_type"));
        }
        let (name, bytes) = self.act.ok_or_else(|| invalid("act", "required"))?;
        let dir = state.config.data_dir.clone();
        tokio::task::spawn_blocking(move || uploads::store(&dir, &bytes, &name))
            .await
            .map_err(|_| invalid("act", "file_type"))?
            .map_err(|e| match e {
                Error::Invalid { rule, .. } => Error::Invalid { field: "act", rule },
                other => other,
            })
    }
}

/// Closes a WORKING order: a normal one with the amount and the act (→ PAYMENT), a guarantee one with
/// the act only (→ CLOSED). The CSRF field is checked before anything is stored; a stored act is removed
/// again when the rule refuses.
async fn post_close(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>, form: Result<Multipart, MultipartRejection>) -> Result<Response, MobileError> {
    let malformed = || who.refused(invalid("form", "malformed"));
    let upload = match form {
        Ok(form) => CloseUpload::read(form).await,
        Err(_) => return Err(malformed()),
    };
    let upload = match upload {
        Ok(upload) => upload,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return close_form(&state, &who, id, String::new(), Some(invalid("act", "file_size"))).await,
        Err(_) => return Err(malformed()),
    };
    if upload.fields.get(crate::web::CSRF_FIELD) != Some(&who.csrf) {
        return Err(who.refused(Error::CsrfFailed));
    }
    let amount = upload.fields.get("amount").cloned().unwrap_or_default();
    let stored = match upload.store(&state).await {
        Ok(stored) => stored,
        Err(error) => return close_form(&state, &who, id, amount, Some(error)).await,
    };
    let key = stored.storage_key.clone();
    let typed = amount.clone();
    match act(&state, &who, move |tx, master, now| work::close(tx, now, master, id, Some(&typed), &stored)).await {
        Ok(closed) => {
            let key = if closed.status == OrderStatus::Closed { "m_closed_guarantee" } else { "m_closed" };
            Ok(done(&format!("/m/orders/{id}"), key))
        }
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
