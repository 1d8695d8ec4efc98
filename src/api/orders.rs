//! Orders for staff: create, the queue and search, the order card, every staff action of the engine
//! (guarantee, auto, candidates, manual offer, direct assignment, return, cancel, activate) and the
//! order's files (read, add, remove).

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::documents::DOCUMENT_BODY_LIMIT;
use super::files::{self, UploadForm};
use super::{ApiError, Body, Caller, ErrorBody, PathParam, QueryParams, StaffCaller, read, write};
use crate::app::AppState;
use crate::clients::{self, ClientHistory};
use crate::order_edit::{self, OrderEdit};
use crate::order_notes::{self, NewNote, Note};
use crate::domain::{MasterId, OrderId};
use crate::engine::{self, AutoOutcome, ManualCandidate, SentOffer};
use crate::error::Error;
use crate::offers::{self, Offer};
use crate::orders::{self, Created, NewOrder, OrderCard, OrderView};
use crate::queue::{self, QueueFilter, QueuePage, SearchQuery, SearchResult};
use crate::uploads::{self, Attachment};

/// Creates an order: SEARCHING inside the city's working hours, DEFERRED until the morning outside them.
/// A late `ASAP` slot is refused with 409 `late_asap` until resent with `confirm_late`.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", request_body = NewOrder,
    responses((status = 201, body = Created), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn post_order(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<NewOrder>) -> Result<(StatusCode, Json<Created>), ApiError> {
    let staff = caller.staff;
    let created = write(&state, caller.lang, move |tx, now| orders::create(tx, now, &staff, &input)).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The order queue of the caller's cities with the filters of the order lists, newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(QueueFilter),
    responses((status = 200, body = QueuePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_orders(State(state): State<AppState>, caller: StaffCaller, QueryParams(filter): QueryParams<QueueFilter>) -> Result<Json<QueuePage>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| queue::list(c, &staff, &filter)).await.map(Json)
}

/// Searches the caller's cities: an order by id, orders by client phone (≥ 10 digits), masters by id, name or phone.
#[utoipa::path(get, path = "/api/v1/orders/search", tag = "orders", params(SearchQuery),
    responses((status = 200, body = SearchResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_search(State(state): State<AppState>, caller: StaffCaller, QueryParams(query): QueryParams<SearchQuery>) -> Result<Json<SearchResult>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| queue::search(c, &staff, &query)).await.map(Json)
}

/// The order card: fields, history, offers and the engine's event log.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = OrderCard), (status = 404, body = ErrorBody)))]
async fn get_order(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>) -> Result<Json<OrderCard>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| orders::card(c, &staff, id)).await.map(Json)
}

/// Creates a guarantee order from a CLOSED normal order within the warranty period.
#[utoipa::path(post, path = "/api/v1/orders/{id}/guarantee", tag = "orders", params(("id" = i64, Path, description = "Source order id")),
    responses((status = 201, body = Created), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_guarantee(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>) -> Result<(StatusCode, Json<Created>), ApiError> {
    let staff = caller.staff;
    let created = write(&state, caller.lang, move |tx, now| orders::create_guarantee(tx, now, &staff, id)).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// "Auto-distribute now" options.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AutoRequest {
    /// Distribute a DEFERRED order now (it starts searching first).
    #[serde(default)]
    pub confirm_deferred: bool,
}

/// One immediate automatic round: an offer to the best candidate. When none can go out the order is
/// escalated to the logists (kept) and the answer is 409 `no_district` or `no_candidates`.
#[utoipa::path(post, path = "/api/v1/orders/{id}/auto", tag = "orders", params(("id" = i64, Path, description = "Order id")), request_body = AutoRequest,
    responses((status = 200, body = SentOffer), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_auto(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>, Body(input): Body<AutoRequest>) -> Result<Json<SentOffer>, ApiError> {
    let (staff, lang) = (caller.staff, caller.lang);
    let seed = rand::random();
    let outcome = write(&state, lang, move |tx, now| engine::auto_distribute_now(tx, now, &staff, id, input.confirm_deferred, seed)).await?;
    match outcome {
        AutoOutcome::OfferSent(sent) => Ok(Json(sent)),
        other => Err(ApiError::new(other.error().unwrap_or(Error::NoCandidates), lang)),
    }
}

/// The masters staff may pick for the order, available ones first, each with why he is unavailable.
#[utoipa::path(get, path = "/api/v1/orders/{id}/candidates", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = Vec<ManualCandidate>), (status = 404, body = ErrorBody)))]
async fn get_candidates(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>) -> Result<Json<Vec<ManualCandidate>>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, now| engine::manual_candidates(c, now, &staff, id)).await.map(Json)
}

/// A master picked by staff.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PickMaster {
    /// The master.
    pub master_id: MasterId,
    /// "Assign anyway": he is off shift, on a break or at his limit.
    #[serde(default)]
    pub force: bool,
}

/// Sends the order to a chosen master as an offer; he must still accept.
#[utoipa::path(post, path = "/api/v1/orders/{id}/offers", tag = "orders", params(("id" = i64, Path, description = "Order id")), request_body = PickMaster,
    responses((status = 201, body = Offer), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_offer(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>, Body(pick): Body<PickMaster>) -> Result<(StatusCode, Json<Offer>), ApiError> {
    let staff = caller.staff;
    let offer = write(&state, caller.lang, move |tx, now| offers::manual_offer(tx, now, &staff, id, pick.master_id, pick.force)).await?;
    Ok((StatusCode::CREATED, Json(offer)))
}

/// Assigns the order to a chosen master directly, without his acceptance.
#[utoipa::path(post, path = "/api/v1/orders/{id}/assign", tag = "orders", params(("id" = i64, Path, description = "Order id")), request_body = PickMaster,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_assign(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>, Body(pick): Body<PickMaster>) -> Result<Json<OrderView>, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| {
        orders::assign_directly(tx, now, &staff, id, pick.master_id, pick.force)?;
        orders::view(tx, id)
    })
    .await
    .map(Json)
}

/// Takes the order off its master and starts a new distribution cycle.
#[utoipa::path(post, path = "/api/v1/orders/{id}/return", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_return(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>) -> Result<Json<OrderView>, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| {
        orders::return_to_search(tx, now, &staff, id)?;
        orders::view(tx, id)
    })
    .await
    .map(Json)
}

/// A cancellation.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CancelRequest {
    /// Why, 3 to 200 characters.
    pub reason: String,
}

/// Cancels the order with a reason; cancelling a cancelled order again changes nothing.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path, description = "Order id")), request_body = CancelRequest,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_cancel(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>, Body(input): Body<CancelRequest>) -> Result<Json<OrderView>, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| {
        orders::cancel(tx, now, &staff, id, &input.reason)?;
        orders::view(tx, id)
    })
    .await
    .map(Json)
}

/// Starts searching for a DEFERRED order now.
#[utoipa::path(post, path = "/api/v1/orders/{id}/activate", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_activate(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>) -> Result<Json<OrderView>, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| {
        orders::activate_deferred(tx, now, &staff, id)?;
        orders::view(tx, id)
    })
    .await
    .map(Json)
}

/// Edits an order (decisions D-24): only the fields sent change, each as the creation rules allow; which
/// fields a status allows is ruled by D-24 (a field it does not allow is 422 `not_editable`; CLOSED and
/// CANCELED orders are 409 `wrong_status`). With `version`, a stale edit is 409 `conflict`. A new category
/// or district while an offer is open cancels it and starts a new distribution cycle; the assigned master
/// is notified of a change to his job.
#[utoipa::path(patch, path = "/api/v1/orders/{id}", tag = "orders", params(("id" = i64, Path, description = "Order id")), request_body = OrderEdit,
    responses((status = 200, body = OrderView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_order(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>, Body(input): Body<OrderEdit>) -> Result<Json<OrderView>, ApiError> {
    let staff = caller.staff;
    let (edited, view) = write(&state, caller.lang, move |tx, now| {
        let edited = order_edit::edit(tx, now, &staff, id, &input, &[])?;
        Ok((edited, orders::view(tx, id)?))
    })
    .await?;
    edited.removed_files.iter().for_each(|key| uploads::remove(&state.config.data_dir, key));
    Ok(Json(view))
}

/// The staff's internal notes on the order, oldest first (never shown to masters).
#[utoipa::path(get, path = "/api/v1/orders/{id}/notes", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = Vec<Note>), (status = 404, body = ErrorBody)))]
async fn get_notes(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>) -> Result<Json<Vec<Note>>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| order_notes::list(c, &staff, id)).await.map(Json)
}

/// Adds an internal note (1–2000 characters) to the order.
#[utoipa::path(post, path = "/api/v1/orders/{id}/notes", tag = "orders", params(("id" = i64, Path, description = "Order id")), request_body = NewNote,
    responses((status = 201, body = Note), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_note(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>, Body(input): Body<NewNote>) -> Result<(StatusCode, Json<Note>), ApiError> {
    let staff = caller.staff;
    let note = write(&state, caller.lang, move |tx, now| order_notes::add(tx, now, &staff, id, &input.text)).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// A client's orders by phone (any common spelling), in the caller's cities, newest first.
#[utoipa::path(get, path = "/api/v1/clients/{phone}/orders", tag = "orders", params(("phone" = String, Path, description = "Client phone")),
    responses((status = 200, body = ClientHistory), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_client_orders(State(state): State<AppState>, caller: StaffCaller, PathParam(phone): PathParam<String>) -> Result<Json<ClientHistory>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| clients::history(c, &staff, &phone)).await.map(Json)
}

/// The files of an order, for staff of its city or its assigned master.
#[utoipa::path(get, path = "/api/v1/orders/{id}/attachments", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = ErrorBody)))]
async fn get_attachments(State(state): State<AppState>, caller: Caller, PathParam(id): PathParam<OrderId>) -> Result<Json<Vec<Attachment>>, ApiError> {
    let principal = caller.principal;
    read(&state, caller.lang, move |c, _| uploads::list_for(c, &principal, id)).await.map(Json)
}

/// Downloads one file of an order, for staff of its city or its assigned master.
#[utoipa::path(get, path = "/api/v1/orders/{id}/attachments/{attachment_id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
async fn get_attachment(State(state): State<AppState>, caller: Caller, PathParam((id, attachment)): PathParam<(OrderId, i64)>) -> Result<Response, ApiError> {
    let (principal, lang) = (caller.principal, caller.lang);
    let found = read(&state, lang, move |c, _| uploads::find_for(c, &principal, id, attachment)).await?;
    files::download(&state, lang, found.storage_key, &found.file_name, &found.mime_type).await
}

/// One file for an order (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the form; the handler reads it part by part
pub struct OrderFileForm {
    /// A photo (JPEG, PNG, WebP, HEIC) or a PDF up to 10 MiB, its type read from the content.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Adds a file to the order (an edit of D-24: one history row, the assigned master notified): 201 with the
/// file. Refused in CLOSED and CANCELED (409 `wrong_status`); a wrong type, an oversized file or one over
/// the order's limit is 422 and nothing is kept.
#[utoipa::path(post, path = "/api/v1/orders/{id}/attachments", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    request_body(content = OrderFileForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Attachment), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_attachment(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<OrderId>, form: Result<Multipart, MultipartRejection>) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let (staff, lang) = (caller.staff, caller.lang);
    let stored = UploadForm::read(&state, form, "file", lang).await?.store().await.map_err(|e| ApiError::new(e, lang))?;
    let key = stored.storage_key.clone();
    let added = write(&state, lang, move |tx, now| {
        order_edit::edit(tx, now, &staff, id, &OrderEdit::default(), &[stored])?;
        uploads::of_order(tx, id)?.into_iter().rfind(|a| a.document_type.as_deref() == Some("order_file")).ok_or(Error::NotFound { what: "attachment" })
    })
    .await;
    if added.is_err() {
        files::remove(&state, vec![key]).await;
    }
    Ok((StatusCode::CREATED, Json(added?)))
}

/// Removes one of the order's own files (an edit of D-24, in its history); the master's act and checks
/// are not the order's files and stay. Refused in CLOSED and CANCELED (409 `wrong_status`).
#[utoipa::path(delete, path = "/api/v1/orders/{id}/attachments/{attachment_id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_attachment(State(state): State<AppState>, caller: StaffCaller, PathParam((id, attachment)): PathParam<(OrderId, i64)>) -> Result<StatusCode, ApiError> {
    let staff = caller.staff;
    let input = OrderEdit { remove_attachments: vec![attachment], ..OrderEdit::default() };
    let edited = write(&state, caller.lang, move |tx, now| order_edit::edit(tx, now, &staff, id, &input, &[])).await?;
    files::remove(&state, edited.removed_files).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_orders, post_order))
        .routes(routes!(get_search))
        .routes(routes!(get_order, patch_order))
        .routes(routes!(get_notes, post_note))
        .routes(routes!(get_client_orders))
        .routes(routes!(post_guarantee))
        .routes(routes!(post_auto))
        .routes(routes!(get_candidates))
        .routes(routes!(post_offer))
        .routes(routes!(post_assign))
        .routes(routes!(post_return))
        .routes(routes!(post_cancel))
        .routes(routes!(post_activate))
        .routes(routes!(get_attachments))
        .routes(routes!(get_attachment, delete_attachment))
        .merge(OpenApiRouter::new().routes(routes!(post_attachment)).layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT)))
}
