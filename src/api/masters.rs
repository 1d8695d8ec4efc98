//! Masters: invites, sign-up, the staff lists, card and moderation actions, and the master's own shift and
//! breaks. Rules live in `signup`, `moderation` and `masters`; roles and city scope are checked there.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Body, CallerLang, ErrorBody, MasterCaller, PathParam, QueryParams, StaffCaller, read, write};
use crate::app::AppState;
use crate::domain::{CityId, MasterId};
use crate::masters::{self, ShiftState};
use crate::moderation::{self, Deleted, MasterCard, MasterFilter, MasterPage};
use crate::queue::{self, MasterOrders};
use crate::signup::{self, DEFAULT_INVITE_TTL_HOURS, Invite, InviteCity, InviteInfo, Registered, Registration};

// --- invites ------------------------------------------------------------------------------------------------

/// An invite to issue.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewInvite {
    /// The city the new master will belong to.
    pub city_id: CityId,
    /// Hours it stays usable, 1 to 720 (default 72).
    #[serde(default = "default_ttl")]
    pub ttl_hours: i64,
    /// A note for staff, up to 255 characters.
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_ttl() -> i64 {
    DEFAULT_INVITE_TTL_HOURS
}

/// Issues a master invite for a city: a short code and a one-time link token (shown once). Global admins
/// and admins of that city.
#[utoipa::path(post, path = "/api/v1/invites", tag = "masters", request_body = NewInvite,
    responses((status = 201, body = Invite), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_invite(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<NewInvite>) -> Result<(StatusCode, Json<Invite>), ApiError> {
    let staff = caller.staff;
    let invite = write(&state, caller.lang, move |tx, now| {
        signup::create_invite(tx, now, &staff, input.city_id, input.ttl_hours, input.comment.as_deref())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

/// The invites of the caller's cities with their state, newest first (not for logists: codes are live).
#[utoipa::path(get, path = "/api/v1/invites", tag = "masters",
    responses((status = 200, body = Vec<InviteInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_invites(State(state): State<AppState>, caller: StaffCaller) -> Result<Json<Vec<InviteInfo>>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, now| signup::list_invites(c, now, &staff)).await.map(Json)
}

/// Withdraws an unused invite.
#[utoipa::path(post, path = "/api/v1/invites/{id}/revoke", tag = "masters", params(("id" = i64, Path, description = "Invite id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_invite_revoke(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>) -> Result<StatusCode, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| signup::revoke_invite(tx, now, &staff, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An invite as typed or taken from the link.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteKey {
    /// Code (8 characters) or link token.
    pub invite: String,
}

/// Checks an invite before sign-up and names its city and districts (anonymous).
#[utoipa::path(post, path = "/api/v1/invites/inspect", tag = "masters", request_body = InviteKey,
    responses((status = 200, body = InviteCity), (status = 422, body = ErrorBody)))]
async fn post_invite_inspect(State(state): State<AppState>, CallerLang(lang): CallerLang, Body(input): Body<InviteKey>) -> Result<Json<InviteCity>, ApiError> {
    read(&state, lang, move |c, now| signup::inspect_invite(c, now, &input.invite)).await.map(Json)
}

// --- sign-up ------------------------------------------------------------------------------------------------

/// Signs a master up through an invite (anonymous): a PENDING, inactive account that staff moderate.
/// Passport and selfie are uploaded afterwards as MASTER documents.
#[utoipa::path(post, path = "/api/v1/masters/register", tag = "masters", request_body = Registration,
    responses((status = 201, body = Registered), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_register(State(state): State<AppState>, CallerLang(lang): CallerLang, Body(input): Body<Registration>) -> Result<(StatusCode, Json<Registered>), ApiError> {
    // The password hash is slow: it runs before, not inside, the write transaction.
    let prepared = tokio::task::spawn_blocking(move || signup::prepare(&input)).await.expect("sign-up check panicked");
    let prepared = prepared.map_err(|e| ApiError::new(e, lang))?;
    let registered = write(&state, lang, move |tx, now| signup::register_prepared(tx, now, &prepared)).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

// --- staff: lists, card, moderation -------------------------------------------------------------------------

/// Masters of the caller's cities by group (approved / moderation / blocked), skill and search (full-name
/// fragment, phone digits or id), by name, one page.
#[utoipa::path(get, path = "/api/v1/masters", tag = "masters", params(MasterFilter),
    responses((status = 200, body = MasterPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_masters(State(state): State<AppState>, caller: StaffCaller, QueryParams(filter): QueryParams<MasterFilter>) -> Result<Json<MasterPage>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| moderation::list(c, &staff, &filter)).await.map(Json)
}

/// The master card: fields, districts, skills, load and limit, average check, shift, documents.
#[utoipa::path(get, path = "/api/v1/masters/{id}", tag = "masters", params(("id" = i64, Path, description = "Master id")),
    responses((status = 200, body = MasterCard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_master(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>) -> Result<Json<MasterCard>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| moderation::card(c, &staff, id)).await.map(Json)
}

/// The master's orders for his card: the active ones and his last 10 closed or cancelled, within the
/// caller's cities. His load and shift now are on `GET /api/v1/masters/{id}`.
#[utoipa::path(get, path = "/api/v1/masters/{id}/orders", tag = "masters", params(("id" = i64, Path, description = "Master id")),
    responses((status = 200, body = MasterOrders), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_master_orders(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>) -> Result<Json<MasterOrders>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| queue::of_master(c, &staff, id)).await.map(Json)
}

/// Runs a moderation action and answers with the card as it now stands.
async fn act(
    state: &AppState,
    caller: StaffCaller,
    id: MasterId,
    action: impl FnOnce(&rusqlite::Connection, chrono::DateTime<chrono::Utc>, &crate::staff::Staff) -> crate::error::Result<()> + Send + 'static,
) -> Result<Json<MasterCard>, ApiError> {
    let staff = caller.staff;
    write(state, caller.lang, move |tx, now| {
        action(tx, now, &staff)?;
        moderation::card(tx, &staff, id)
    })
    .await
    .map(Json)
}

/// A reason for a rejection or a block.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Reason {
    /// 1–200 characters.
    pub reason: String,
}

/// A personal active-order limit.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Limit {
    /// 1 to 20, or null to use the global setting again.
    pub limit: Option<i64>,
}

/// A rating.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Rating {
    /// 0.0 to 5.0.
    pub rating: f64,
}

/// Approves a questionnaire: the master may go on shift.
#[utoipa::path(post, path = "/api/v1/masters/{id}/approve", tag = "masters", params(("id" = i64, Path, description = "Master id")),
    responses((status = 200, body = MasterCard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_approve(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>) -> Result<Json<MasterCard>, ApiError> {
    act(&state, caller, id, move |tx, now, staff| moderation::approve(tx, now, staff, id)).await
}

/// Rejects a questionnaire with a reason.
#[utoipa::path(post, path = "/api/v1/masters/{id}/reject", tag = "masters", params(("id" = i64, Path, description = "Master id")), request_body = Reason,
    responses((status = 200, body = MasterCard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_reject(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>, Body(input): Body<Reason>) -> Result<Json<MasterCard>, ApiError> {
    act(&state, caller, id, move |tx, now, staff| moderation::reject(tx, now, staff, id, &input.reason)).await
}

/// Blocks a master with a reason: every request of his is refused until unblocked.
#[utoipa::path(post, path = "/api/v1/masters/{id}/block", tag = "masters", params(("id" = i64, Path, description = "Master id")), request_body = Reason,
    responses((status = 200, body = MasterCard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_block(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>, Body(input): Body<Reason>) -> Result<Json<MasterCard>, ApiError> {
    act(&state, caller, id, move |tx, now, staff| moderation::block(tx, now, staff, id, &input.reason)).await
}

/// Lifts a block.
#[utoipa::path(post, path = "/api/v1/masters/{id}/unblock", tag = "masters", params(("id" = i64, Path, description = "Master id")),
    responses((status = 200, body = MasterCard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_unblock(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>) -> Result<Json<MasterCard>, ApiError> {
    act(&state, caller, id, move |tx, now, staff| moderation::unblock(tx, now, staff, id)).await
}

/// Sets or clears the master's personal active-order limit.
#[utoipa::path(post, path = "/api/v1/masters/{id}/limit", tag = "masters", params(("id" = i64, Path, description = "Master id")), request_body = Limit,
    responses((status = 200, body = MasterCard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_limit(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>, Body(input): Body<Limit>) -> Result<Json<MasterCard>, ApiError> {
    act(&state, caller, id, move |tx, now, staff| moderation::set_limit(tx, now, staff, id, input.limit).map(drop)).await
}

/// Sets the master's rating.
#[utoipa::path(post, path = "/api/v1/masters/{id}/rating", tag = "masters", params(("id" = i64, Path, description = "Master id")), request_body = Rating,
    responses((status = 200, body = MasterCard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_rating(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>, Body(input): Body<Rating>) -> Result<Json<MasterCard>, ApiError> {
    act(&state, caller, id, move |tx, now, staff| moderation::set_rating(tx, now, staff, id, input.rating).map(drop)).await
}

/// Deletes a master: softly when orders, offers or commissions refer to him, else for good.
#[utoipa::path(delete, path = "/api/v1/masters/{id}", tag = "masters", params(("id" = i64, Path, description = "Master id")),
    responses((status = 200, body = Deleted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_master(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>) -> Result<Json<Deleted>, ApiError> {
    let staff = caller.staff;
    let deleted = write(&state, caller.lang, move |tx, now| moderation::delete(tx, now, &staff, id)).await?;
    // Files go only once the rows are gone for good.
    let (dir, files) = (state.config.data_dir.clone(), deleted.files.clone());
    let _ = tokio::task::spawn_blocking(move || files.iter().for_each(|key| crate::uploads::remove(&dir, key))).await;
    Ok(Json(deleted))
}

// --- the master's own shift -----------------------------------------------------------------------------------

/// A break length.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct BreakLength {
    /// 15, 60 or 120 minutes.
    pub minutes: i64,
}

/// The master's shift state.
#[utoipa::path(get, path = "/api/v1/me/shift", tag = "master",
    responses((status = 200, body = ShiftState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_shift(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<ShiftState>, ApiError> {
    let id = caller.id;
    read(&state, caller.lang, move |c, _| masters::shift_state(c, id)).await.map(Json)
}

/// Goes on shift (approved, unblocked masters only).
#[utoipa::path(post, path = "/api/v1/me/shift/on", tag = "master",
    responses((status = 200, body = ShiftState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn post_shift_on(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<ShiftState>, ApiError> {
    let id = caller.id;
    write(&state, caller.lang, move |tx, now| masters::shift_on(tx, now, id)).await.map(Json)
}

/// Goes off shift, from any state.
#[utoipa::path(post, path = "/api/v1/me/shift/off", tag = "master",
    responses((status = 200, body = ShiftState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn post_shift_off(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<ShiftState>, ApiError> {
    let id = caller.id;
    write(&state, caller.lang, move |tx, now| masters::shift_off(tx, now, id)).await.map(Json)
}

/// Starts a break of 15, 60 or 120 minutes (on shift only).
#[utoipa::path(post, path = "/api/v1/me/break/start", tag = "master", request_body = BreakLength,
    responses((status = 200, body = ShiftState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_break_start(State(state): State<AppState>, caller: MasterCaller, Body(input): Body<BreakLength>) -> Result<Json<ShiftState>, ApiError> {
    let id = caller.id;
    write(&state, caller.lang, move |tx, now| masters::start_break(tx, now, id, input.minutes)).await.map(Json)
}

/// Extends the break to 15, 60 or 120 minutes from now (on a break only).
#[utoipa::path(post, path = "/api/v1/me/break/extend", tag = "master", request_body = BreakLength,
    responses((status = 200, body = ShiftState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_break_extend(State(state): State<AppState>, caller: MasterCaller, Body(input): Body<BreakLength>) -> Result<Json<ShiftState>, ApiError> {
    let id = caller.id;
    write(&state, caller.lang, move |tx, now| masters::extend_break(tx, now, id, input.minutes)).await.map(Json)
}

/// Ends the break early: back on shift.
#[utoipa::path(post, path = "/api/v1/me/break/end", tag = "master",
    responses((status = 200, body = ShiftState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_break_end(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<ShiftState>, ApiError> {
    let id = caller.id;
    write(&state, caller.lang, move |tx, now| masters::end_break(tx, now, id)).await.map(Json)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_invite, get_invites))
        .routes(routes!(post_invite_revoke))
        .routes(routes!(post_invite_inspect))
        .routes(routes!(post_register))
        .routes(routes!(get_masters))
        .routes(routes!(get_master, delete_master))
        .routes(routes!(get_master_orders))
        .routes(routes!(post_approve))
        .routes(routes!(post_reject))
        .routes(routes!(post_block))
        .routes(routes!(post_unblock))
        .routes(routes!(post_limit))
        .routes(routes!(post_rating))
        .routes(routes!(get_shift))
        .routes(routes!(post_shift_on))
        .routes(routes!(post_shift_off))
        .routes(routes!(post_break_start))
        .routes(routes!(post_break_extend))
        .routes(routes!(post_break_end))
}
