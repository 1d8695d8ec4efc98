//! The master's side: his live offers (view, accept, decline), his orders (en route, on site, close with the
//! act), his history and his notifications. Another master's offer or order is always "not found".

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::files::{self, Parts, ReadError};
use super::{ApiError, ErrorBody, MasterCaller, PathParam, QueryParams, read, write};
use crate::app::AppState;
use crate::domain::{OfferId, OrderId};
use crate::master_views::{self, Feed, History, HistoryFilter, MyOrder, OfferCard, Statistics};
use crate::offers;
use crate::queue::PageRequest;
use crate::error::{Error, invalid};
use crate::work::{self, StoredFile};

/// The largest closing request read in full: six files of up to 10 MiB and the texts. Above the file limit, so that an oversized act is read to the
/// end and refused with a JSON answer instead of a broken connection.
pub const CLOSE_BODY_LIMIT: usize = 80 * 1024 * 1024;

/// The master's live offers ("New"), newest first: where, when and what, never the client.
#[utoipa::path(get, path = "/api/v1/me/offers", tag = "master", responses((status = 200, body = Vec<OfferCard>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_offers(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<Vec<OfferCard>>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, now| master_views::live_offers(c, now, master)).await.map(Json)
}

/// Opens one of his offers (it becomes VIEWED); an offer no longer live answers why (409).
#[utoipa::path(get, path = "/api/v1/me/offers/{id}", tag = "master", params(("id" = i64, Path, description = "Offer id")),
    responses((status = 200, body = OfferCard), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn get_offer(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<OfferId>) -> Result<Json<OfferCard>, ApiError> {
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| master_views::open_offer(tx, now, master, id)).await.map(Json)
}

/// Accepts an offer: the order is his (the card now shows the client). Losers get 409 `offer_taken`; also
/// `offer_expired`, `offer_declined`, `limit_reached`, `master_blocked`.
#[utoipa::path(post, path = "/api/v1/me/offers/{id}/accept", tag = "master", params(("id" = i64, Path, description = "Offer id")),
    responses((status = 200, body = MyOrder), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_accept(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<OfferId>) -> Result<Json<MyOrder>, ApiError> {
    let (master, lang) = (caller.id, caller.lang);
    let (db, now) = (state.db.clone(), state.clock.now());
    // The won order is read inside the accept's own transaction, on the same blocking thread.
    let order = tokio::task::spawn_blocking(move || {
        offers::accept_now_then(&db, now, master, id, move |c, accepted| master_views::my_order(c, master, accepted.order_id))
    })
    .await
    .expect("accept task panicked")
    .map_err(|e| ApiError::new(e, lang))?;
    Ok(Json(order))
}

/// Declines one of his live offers.
#[utoipa::path(post, path = "/api/v1/me/offers/{id}/decline", tag = "master", params(("id" = i64, Path, description = "Offer id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_decline(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<OfferId>) -> Result<StatusCode, ApiError> {
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| offers::decline(tx, now, master, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// His active orders (ASSIGNED, EN_ROUTE, WORKING, PAYMENT) with the client, most recently changed first.
#[utoipa::path(get, path = "/api/v1/me/orders", tag = "master", responses((status = 200, body = Vec<MyOrder>), (status = 401, body = ErrorBody)))]
async fn get_my_orders(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<Vec<MyOrder>>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| master_views::active_orders(c, master)).await.map(Json)
}

/// One of his orders.
#[utoipa::path(get, path = "/api/v1/me/orders/{id}", tag = "master", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = MyOrder), (status = 404, body = ErrorBody)))]
async fn get_my_order(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<OrderId>) -> Result<Json<MyOrder>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| master_views::my_order(c, master, id)).await.map(Json)
}

/// "On my way": ASSIGNED → EN_ROUTE.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/en-route", tag = "master", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = MyOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_en_route(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<OrderId>) -> Result<Json<MyOrder>, ApiError> {
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| {
        work::en_route(tx, now, master, id)?;
        master_views::my_order(tx, master, id)
    })
    .await
    .map(Json)
}

/// "On site": EN_ROUTE → WORKING.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/on-site", tag = "master", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = MyOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_on_site(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<OrderId>) -> Result<Json<MyOrder>, ApiError> {
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| {
        work::on_site(tx, now, master, id)?;
        master_views::my_order(tx, master, id)
    })
    .await
    .map(Json)
}

/// The closing form (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the form; the handler reads the fields one by one
pub struct CloseForm {
    /// The amount as people type it (decisions D-22): `4500`, `4 500`, `4 500,50`, `4500.50`, `4 500 ₽`; above
    /// zero, at most 9 999 999.99 (normal orders; ignored for guarantee orders).
    amount: Option<String>,
    /// The act: one photo (JPEG, PNG, WebP, HEIC) or PDF, up to 10 MiB; the type is read from the content.
    #[schema(value_type = String, format = Binary)]
    act: Vec<u8>,
    /// A note for the office, up to 1000 characters; optional.
    #[schema(max_length = 1000)]
    note: Option<String>,
    /// Before/after photos of the work (JPEG, PNG, WebP, HEIC, up to 10 MiB each): the field repeated, at
    /// most 5 times; optional. Shown on the staff order card.
    #[schema(value_type = Option<Vec<String>>, format = Binary, max_items = 5)]
    photos: Option<Vec<Vec<u8>>>,
}

/// Files a close carries at most: the act and the before/after photos.
pub const CLOSE_FILES: usize = 1 + work::MAX_WORK_PHOTOS;

/// A close form read and its files kept under the data directory: what [`work::close`] takes.
pub struct CloseUpload {
    /// The amount as typed.
    pub amount: String,
    /// The act, when one was chosen.
    pub act: Option<StoredFile>,
    /// The note and the photos.
    pub extras: work::Extras,
}

impl CloseUpload {
    /// Reads the text fields of `parts` and keeps its files (the act, the photos); a refused file removes
    /// those already kept, and the refusal names its field.
    pub async fn keep(state: &AppState, parts: Parts) -> Result<Self, Error> {
        let amount = parts.field("amount").unwrap_or_default().to_string();
        let note = parts.field("note").unwrap_or_default().to_string();
        let mut upload = Self { amount, act: None, extras: work::Extras { note, photos: Vec::new() } };
        // Files beyond the limit were not even read; those that were are removed with `parts`.
        if parts.dropped > 0 {
            return Err(invalid("photos", format!("max_files:{}", work::MAX_WORK_PHOTOS)));
        }
        for part in parts.files {
            let field = if part.field == "act" { "act" } else { "photos" };
            let kept = match part.file {
                _ if field == "act" && upload.act.is_some() => Err(invalid("act", "file_type")),
                Some(received) => files::keep(received).await.map_err(|e| match e {
                    Error::Invalid { rule, .. } => Error::Invalid { field, rule },
                    other => other,
                }),
                None => Err(invalid(field, "file_size")),
            };
            match kept {
                Ok(file) if field == "act" => upload.act = Some(file),
                Ok(file) => upload.extras.photos.push(file),
                Err(error) => {
                    files::remove(state, upload.keys()).await;
                    return Err(error);
                }
            }
        }
        Ok(upload)
    }

    /// The storage keys of the kept files.
    pub fn keys(&self) -> Vec<String> {
        self.act.iter().chain(&self.extras.photos).map(|f| f.storage_key.clone()).collect()
    }
}

/// Closes a WORKING order: a normal one with `amount` and the act (→ PAYMENT, commission created), a
/// guarantee one with the act only (→ CLOSED); the note and the photos are kept with the order.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/close", tag = "master", params(("id" = i64, Path, description = "Order id")),
    request_body(content = CloseForm, content_type = "multipart/form-data"),
    responses((status = 200, body = MyOrder), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_close(
    State(state): State<AppState>,
    caller: MasterCaller,
    PathParam(id): PathParam<OrderId>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<MyOrder>, ApiError> {
    let (master, lang) = (caller.id, caller.lang);
    let mut form = form.map_err(|rejection| ApiError::malformed(lang, rejection.body_text()))?;
    let parts = Parts::read(&mut form, &state.config.data_dir, |name| name == "act" || name == "photos", CLOSE_FILES).await.map_err(|e| match e {
        ReadError::Malformed(detail) => ApiError::malformed(lang, detail),
        other => ApiError::new(other.into_error("act"), lang),
    })?;
    let upload = CloseUpload::keep(&state, parts).await.map_err(|e| ApiError::new(e, lang))?;
    let keys = upload.keys();
    let closed = write(&state, lang, move |tx, now| {
        let act = upload.act.as_ref().ok_or_else(|| invalid("act", "required"))?;
        work::close(tx, now, master, id, Some(&upload.amount), act, &upload.extras)?;
        master_views::my_order(tx, master, id)
    })
    .await;
    if closed.is_err() {
        files::remove(&state, keys).await;
    }
    closed.map(Json)
}

/// The history request.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// `closed`, `canceled` or `all` (default).
    // Inline: the enum is not a component of the document, so a `$ref` to it would dangle.
    #[param(inline)]
    pub filter: Option<HistoryFilter>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Rows per page, 1 to 100 (default 10).
    pub per_page: Option<i64>,
}

/// His finished orders with his earnings: gross, commission, company payment and net per order and for all
/// his CLOSED orders (decisions D-23).
#[utoipa::path(get, path = "/api/v1/me/history", tag = "master", params(HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_history(State(state): State<AppState>, caller: MasterCaller, QueryParams(query): QueryParams<HistoryQuery>) -> Result<Json<History>, ApiError> {
    let master = caller.id;
    let page = PageRequest { page: query.page, per_page: query.per_page };
    read(&state, caller.lang, move |c, _| master_views::history(c, master, query.filter.unwrap_or_default(), page)).await.map(Json)
}

/// His statistics: completed orders, this month's, rating, response time and earnings in total and this month.
#[utoipa::path(get, path = "/api/v1/me/statistics", tag = "master", responses((status = 200, body = Statistics)))]
async fn get_statistics(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<Statistics>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, now| master_views::statistics(c, now, master)).await.map(Json)
}

/// His notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "master", params(PageRequest),
    responses((status = 200, body = Feed), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_notifications(State(state): State<AppState>, caller: MasterCaller, QueryParams(page): QueryParams<PageRequest>) -> Result<Json<Feed>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| master_views::notifications(c, master, page)).await.map(Json)
}

/// Marks one of his notifications read.
#[utoipa::path(post, path = "/api/v1/me/notifications/{id}/read", tag = "master", params(("id" = i64, Path, description = "Notification id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn post_notification_read(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<i64>) -> Result<StatusCode, ApiError> {
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| master_views::mark_read(tx, now, master, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    let close = OpenApiRouter::new().routes(routes!(post_close)).layer(DefaultBodyLimit::max(CLOSE_BODY_LIMIT));
    OpenApiRouter::new()
        .routes(routes!(get_offers))
        .routes(routes!(get_offer))
        .routes(routes!(post_accept))
        .routes(routes!(post_decline))
        .routes(routes!(get_my_orders))
        .routes(routes!(get_my_order))
        .routes(routes!(post_en_route))
        .routes(routes!(post_on_site))
        .routes(routes!(get_history))
        .routes(routes!(get_statistics))
        .routes(routes!(get_notifications))
        .routes(routes!(post_notification_read))
        .merge(close)
}
