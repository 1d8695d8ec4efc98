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
use crate::api::files::{self, Parts, ReadError};
use crate::api::master_side::{CLOSE_BODY_LIMIT, CLOSE_FILES, CloseUpload};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::{OrderId, OrderStatus, OrderType};
use crate::error::{Error, invalid};
use crate::master_views::{self, MyOrder};
use crate::uploads::{self, Holder};
use crate::web::{CsrfForm, Tr, done, render, render_with};
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
    /// Staff's note for him.
    master_note: Option<String>,
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
            master_note: order.master_note.clone(),
            slot: slot(bar.tr, order.timeslot_start, order.timeslot_end, tz).map(|s| format!("{s} ({})", order.city)),
            total: (order.total_sum_kop > 0).then(|| bar.tr.money(order.total_sum_kop)),
            cancel_reason: order.cancel_reason.clone(),
            files: order.attachments.iter().map(|a| (a.id, format!("{} · {}", a.file_name, local(bar.tr, a.created_at, tz)))).collect(),
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
    note: String,
    /// The act kept from a refused try: its file name (he need not choose it again).
    kept_act: Option<String>,
    amount_error: Option<String>,
    act_error: Option<String>,
    note_error: Option<String>,
    photos_error: Option<String>,
    /// A refusal that is not about a field (the order is no longer on site …).
    message: Option<String>,
}

impl ClosePage {
    fn max_note(&self) -> usize {
        work::MAX_NOTE_CHARS
    }
}

/// What was typed into the close form, shown again after a refusal.
#[derive(Default)]
struct Typed {
    amount: String,
    note: String,
}

/// The closing form, with what was typed, the act kept from a refused try and the refusal beside its field.
async fn close_form(state: &AppState, who: &MasterPage, id: OrderId, typed: Typed, error: Option<Error>) -> Result<Response, MobileError> {
    let (c, (order, kept)) = page(state, who, move |conn, master, _| {
        Ok((master_views::my_order(conn, master, id)?, uploads::held(conn, &Holder::Close { order: id, master }, "act")?))
    })
    .await?;
    let order = OrderView::of(&order, &c);
    let status = error.as_ref().map_or(StatusCode::OK, crate::api::status_of);
    let lang = who.tr.0;
    let (mut amount_error, mut act_error, mut note_error, mut photos_error, mut message) = (None, None, None, None, None);
    match &error {
        Some(e @ Error::Invalid { field: "amount", .. }) => amount_error = Some(e.message(lang)),
        Some(e @ Error::Invalid { field: "act", .. }) => act_error = Some(e.message(lang)),
        Some(e @ Error::Invalid { field: "note", .. }) => note_error = Some(e.message(lang)),
        Some(e @ Error::Invalid { field: "photos", .. }) => photos_error = Some(e.message(lang)),
        Some(e) => message = Some(e.message(lang)),
        None => {}
    }
    let kept_act = kept.map(|f| f.file_name);
    let Typed { amount, note } = typed;
    Ok(render_with(status, &ClosePage { tr: who.tr, c, order, amount, note, kept_act, amount_error, act_error, note_error, photos_error, message }))
}

async fn get_close(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>) -> Result<Response, MobileError> {
    close_form(&state, &who, id, Typed::default(), None).await
}

/// Closes a WORKING order: a normal one with the amount and the act (→ PAYMENT), a guarantee one with
/// the act only (→ CLOSED), with the optional note and before/after photos. The CSRF field is checked
/// before anything is stored. A chosen act is kept against the order first, so a refused close (a
/// mistyped amount) keeps it for the next try; the photos are removed again and chosen anew.
async fn post_close(State(state): State<AppState>, who: MasterPage, Path(id): Path<OrderId>, form: Result<Multipart, MultipartRejection>) -> Result<Response, MobileError> {
    let malformed = || who.refused(invalid("form", "malformed"));
    let Ok(mut form) = form else { return Err(malformed()) };
    let parts = match Parts::read(&mut form, &state.config.data_dir, |name| name == "act" || name == "photos", CLOSE_FILES).await {
        Ok(parts) => parts,
        Err(ReadError::TooLarge) => return close_form(&state, &who, id, Typed::default(), Some(invalid("act", "file_size"))).await,
        Err(error @ (ReadError::Storage(_) | ReadError::TextTooLong)) => return Err(who.refused(error.into_error("act"))),
        Err(ReadError::Malformed(_)) => return Err(malformed()),
    };
    if parts.field(crate::web::CSRF_FIELD) != Some(who.csrf.as_str()) {
        return Err(who.refused(Error::CsrfFailed));
    }
    let typed = Typed { amount: parts.field("amount").unwrap_or_default().to_string(), note: parts.field("note").unwrap_or_default().to_string() };
    let upload = match CloseUpload::keep(&state, parts).await {
        Ok(upload) => upload,
        Err(error) => return close_form(&state, &who, id, typed, Some(error)).await,
    };
    let CloseUpload { amount, act: chosen, extras } = upload;
    let photos: Vec<String> = extras.photos.iter().map(|f| f.storage_key.clone()).collect();
    if let Some(chosen) = chosen {
        let key = chosen.storage_key.clone();
        match act(&state, &who, move |tx, master, now| work::hold_act(tx, now, master, id, &chosen)).await {
            Ok(replaced) => files::remove(&state, replaced.into_iter().collect()).await,
            Err(error) => {
                files::remove(&state, photos.into_iter().chain([key]).collect()).await;
                return close_form(&state, &who, id, typed, Some(error)).await;
            }
        }
    }
    match act(&state, &who, move |tx, master, now| work::close_with_kept_act(tx, now, master, id, Some(&amount), &extras)).await {
        // A normal order goes on to what he now owes; a guarantee one back to its card.
        Ok(closed) => match closed.commission_id {
            Some(commission) => Ok(done(&format!("/m/finance/{commission}"), "m_closed")),
            None => Ok(done(&format!("/m/orders/{id}"), "m_closed_guarantee")),
        },
        Err(error) => {
            files::remove(&state, photos).await;
            close_form(&state, &who, id, typed, Some(error)).await
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
