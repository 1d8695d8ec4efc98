//! Orders for staff: create and the order card.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Body, ErrorBody, PathParam, StaffCaller, read, write};
use crate::app::AppState;
use crate::orders::{self, Created, NewOrder, OrderCard};

/// Creates an order: SEARCHING inside the city's working hours, DEFERRED until the morning outside them.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", request_body = NewOrder,
    responses((status = 201, body = Created), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_order(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<NewOrder>) -> Result<(StatusCode, Json<Created>), ApiError> {
    let staff = caller.staff;
    let created = write(&state, caller.lang, move |tx, now| orders::create(tx, now, &staff, &input)).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The order card: fields, history, offers and the engine's event log.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, body = OrderCard), (status = 404, body = ErrorBody)))]
async fn get_order(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>) -> Result<Json<OrderCard>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| orders::card(c, &staff, id)).await.map(Json)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_order)).routes(routes!(get_order))
}
