//! Referral routes (product.md §3.8): the master's own referral screen (his code is made on the first
//! call) and the referral part of a master card for staff who may see that master.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ErrorBody, MasterCaller, PathParam, StaffCaller, read, write};
use crate::app::AppState;
use crate::domain::MasterId;
use crate::money::referrals::{self, Referral};

/// His code and invitation link, the masters he invited, his rewards by level and month, the total and
/// the newest rewards. The first call makes his code; it never changes afterwards.
#[utoipa::path(get, path = "/api/v1/me/referral", tag = "master",
    responses((status = 200, body = Referral), (status = 401, body = ErrorBody)))]
async fn get_my_referral(State(state): State<AppState>, caller: MasterCaller, headers: HeaderMap) -> Result<Json<Referral>, ApiError> {
    let (master, origin, fallback) = (caller.id, super::origin(&headers), state.config.timezone);
    write(&state, caller.lang, move |tx, now| referrals::for_master(tx, now, master, &origin, fallback)).await.map(Json)
}

/// A master's referrer, invitees and rewards (any staff member of his city; none made when he has no code).
#[utoipa::path(get, path = "/api/v1/masters/{id}/referral", tag = "masters", params(("id" = i64, Path, description = "Master id")),
    responses((status = 200, body = Referral), (status = 404, body = ErrorBody)))]
async fn get_master_referral(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>, headers: HeaderMap) -> Result<Json<Referral>, ApiError> {
    let (staff, origin, fallback) = (caller.staff, super::origin(&headers), state.config.timezone);
    read(&state, caller.lang, move |c, _| referrals::for_staff(c, &staff, id, &origin, fallback)).await.map(Json)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_my_referral)).routes(routes!(get_master_referral))
}
