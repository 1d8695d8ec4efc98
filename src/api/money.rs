//! Money routes: the staff's commissions (list with filters, card, approve, reject; global and city admins
//! within their cities; bulk approval for global admins), the owner's payment requisites (global admins), and the master's own commissions with
//! "I paid". Another master's commission, or one outside a city admin's cities, is "not found".

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Body, ErrorBody, MasterCaller, PathParam, QueryParams, StaffCaller, read, write};
use crate::app::AppState;
use crate::domain::StaffRole;
use crate::error::Error;
use crate::domain::{CityId, MasterId};
use crate::money::commissions::{self, Commission, CommissionCard, CommissionStatus, MasterTab, Owed};
use crate::money::finance::{self, BulkApproval, Period, StaffFilter, StaffList};
use crate::money::requisites::{self, Requisites};
use crate::money::parse_amount;

/// The staff list's segment and filters; every one optional.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `REPORTED` (default: what admins act on, decisions §B.17), `WAIT_PAY`, `OVERDUE` or `APPROVED`.
    #[param(inline)]
    pub status: Option<CommissionStatus>,
    /// Only this city (one of the caller's; another is "not found").
    pub city_id: Option<CityId>,
    /// Only this master.
    pub master_id: Option<MasterId>,
    /// Only those created `today`, `yesterday`, in the last 7 days (`week`), 30 days (`month`) or before (`older`),
    /// on the operator's clock.
    #[param(inline)]
    pub period: Option<Period>,
    /// A commission id or an order id (`42` or `#42`).
    pub q: Option<String>,
}

/// The commissions of one status in the caller's cities under the filters, newest first (at most 200), grouped
/// by period, with every status's count under the same filters.
#[utoipa::path(get, path = "/api/v1/commissions", tag = "finance", params(ListQuery),
    responses((status = 200, body = StaffList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_commissions(State(state): State<AppState>, caller: StaffCaller, QueryParams(query): QueryParams<ListQuery>) -> Result<Json<StaffList>, ApiError> {
    let (staff, tz) = (caller.staff, state.config.timezone);
    let filter = StaffFilter { status: query.status, city_id: query.city_id, master_id: query.master_id, period: query.period, q: query.q };
    read(&state, caller.lang, move |c, now| finance::list(c, now, tz, &staff, &filter)).await.map(Json)
}

/// What bulk approval did: "approved n, failed m" with the failures named.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkOutcome {
    /// The commissions approved.
    pub approved: Vec<i64>,
    /// The commissions refused, each with why.
    pub failed: Vec<BulkFailure>,
}

/// One commission bulk approval could not approve.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkFailure {
    /// The commission.
    pub commission_id: i64,
    /// Its order.
    pub order_id: i64,
    /// The error's code, as in the error body.
    pub code: String,
    /// Why, in the caller's language.
    pub message: String,
}

/// Approves, for global admins, every commission of the chosen statuses (REPORTED by default, WAIT_PAY
/// optional) created in the last 1, 3 or 7 days, each as the single approval does and in its own transaction:
/// one failure keeps the others (decisions §B.6).
#[utoipa::path(post, path = "/api/v1/commissions/bulk-approve", tag = "finance", request_body = BulkApproval,
    responses((status = 200, body = BulkOutcome), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_bulk_approve(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<BulkApproval>) -> Result<Json<BulkOutcome>, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    let (db, now, tz, lang, staff) = (state.db.clone(), state.clock.now(), state.config.timezone, caller.lang, caller.staff);
    let bulk = tokio::task::spawn_blocking(move || finance::bulk_approve(&db, now, tz, &staff, &input))
        .await
        .expect("database task panicked")
        .map_err(|e| ApiError::new(e, lang))?;
    let failed = bulk
        .failed
        .into_iter()
        .map(|(commission_id, order_id, error)| BulkFailure { commission_id, order_id, code: error.code().to_string(), message: error.message(lang) })
        .collect();
    Ok(Json(BulkOutcome { approved: bulk.approved.iter().map(|c| c.id).collect(), failed }))
}

/// One commission with its order's money history (who did what, when, from which status to which).
#[utoipa::path(get, path = "/api/v1/commissions/{id}", tag = "finance", params(("id" = i64, Path, description = "Commission id")),
    responses((status = 200, body = CommissionCard), (status = 404, body = ErrorBody)))]
async fn get_commission(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>) -> Result<Json<CommissionCard>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| commissions::card_for_staff(c, &staff, id)).await.map(Json)
}

/// The approval: the amount paid, as typed (`"4 500,50"`) or in kopecks; neither = the commission's amount.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The amount paid in roubles as people type it (decisions D-22).
    pub paid_amount: Option<String>,
    /// The amount paid in kopecks (0 … 999 999 999); not together with `paid_amount`.
    pub paid_amount_kop: Option<i64>,
}

impl Approval {
    fn kopecks(&self) -> Result<Option<i64>, Error> {
        match (&self.paid_amount, self.paid_amount_kop) {
            (Some(_), Some(_)) => Err(crate::error::invalid("paid_amount", "amount")),
            (Some(text), None) => parse_amount("paid_amount", text).map(Some),
            (None, Some(kop)) if (0..=crate::money::amount::MAX_KOP).contains(&kop) => Ok(Some(kop)),
            (None, Some(_)) => Err(crate::error::invalid("paid_amount_kop", "amount")),
            (None, None) => Ok(None),
        }
    }
}

/// Approves a commission (WAIT_PAY, REPORTED or OVERDUE) with the amount paid: APPROVED, the order
/// CLOSED. A lower amount is accepted and kept beside the commission's. Approving again changes nothing.
// Named: the handler shares its name with the moderation one, and operation ids must be unique.
#[utoipa::path(post, path = "/api/v1/commissions/{id}/approve", tag = "finance", operation_id = "post_commission_approve", params(("id" = i64, Path, description = "Commission id")),
    request_body = Approval,
    responses((status = 200, body = Commission), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_approve(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>, Body(input): Body<Approval>) -> Result<Json<Commission>, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| commissions::approve(tx, now, &staff, id, input.kopecks()?)).await.map(Json)
}

/// The rejection's reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why, 3–200 characters; the master is told.
    pub reason: String,
}

/// Rejects a WAIT_PAY or REPORTED commission's payment: WAIT_PAY again, the master notified with the reason.
#[utoipa::path(post, path = "/api/v1/commissions/{id}/reject", tag = "finance", operation_id = "post_commission_reject", params(("id" = i64, Path, description = "Commission id")),
    request_body = Rejection,
    responses((status = 200, body = Commission), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_reject(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>, Body(input): Body<Rejection>) -> Result<Json<Commission>, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| commissions::reject(tx, now, &staff, id, &input.reason)).await.map(Json)
}

/// The owner's payment requisites (global admins only).
#[utoipa::path(get, path = "/api/v1/settings/requisites", tag = "finance",
    responses((status = 200, body = Requisites), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_requisites(State(state): State<AppState>, caller: StaffCaller) -> Result<Json<Requisites>, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    read(&state, caller.lang, |c, _| requisites::load(c)).await.map(Json)
}

/// Replaces the owner's payment requisites as a whole; new commissions copy them, existing ones keep theirs.
#[utoipa::path(put, path = "/api/v1/settings/requisites", tag = "finance", request_body = Requisites,
    responses((status = 200, body = Requisites), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_requisites(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<Requisites>) -> Result<Json<Requisites>, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    write(&state, caller.lang, move |tx, now| requisites::update(tx, now, &input)).await.map(Json)
}

/// The master's tab.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TabQuery {
    /// `awaiting` (WAIT_PAY and REPORTED; default), `paid` or `overdue`.
    #[param(inline)]
    pub tab: Option<MasterTab>,
}

/// His commissions of one tab, nearest deadline first.
#[utoipa::path(get, path = "/api/v1/me/commissions", tag = "master", params(TabQuery),
    responses((status = 200, body = Vec<Commission>), (status = 401, body = ErrorBody)))]
async fn get_my_commissions(State(state): State<AppState>, caller: MasterCaller, QueryParams(query): QueryParams<TabQuery>) -> Result<Json<Vec<Commission>>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| commissions::list_for_master(c, master, query.tab.unwrap_or_default())).await.map(Json)
}

/// One of his commissions: the amount, whom to pay (the snapshot), the comment and the deadline.
#[utoipa::path(get, path = "/api/v1/me/commissions/{id}", tag = "master", params(("id" = i64, Path, description = "Commission id")),
    responses((status = 200, body = Commission), (status = 404, body = ErrorBody)))]
async fn get_my_commission(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<i64>) -> Result<Json<Commission>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| commissions::for_master(c, master, id)).await.map(Json)
}

/// "I paid": WAIT_PAY → REPORTED (an OVERDUE one stays OVERDUE with the report's time).
#[utoipa::path(post, path = "/api/v1/me/commissions/{id}/paid", tag = "master", params(("id" = i64, Path, description = "Commission id")),
    responses((status = 200, body = Commission), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_paid(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<i64>) -> Result<Json<Commission>, ApiError> {
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| commissions::report_paid(tx, now, master, id)).await.map(Json)
}

/// What he owes now: unpaid count, sum and the nearest deadline.
#[utoipa::path(get, path = "/api/v1/me/owed", tag = "master", responses((status = 200, body = Owed), (status = 401, body = ErrorBody)))]
async fn get_owed(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<Owed>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| commissions::owed(c, master)).await.map(Json)
}

/// The owner's current requisites in full — where to send commissions now (each commission keeps its own
/// snapshot); `sbp_qr` says whether `GET /api/v1/me/requisites/qr` has an image.
#[utoipa::path(get, path = "/api/v1/me/requisites", tag = "master", responses((status = 200, body = Requisites), (status = 401, body = ErrorBody)))]
async fn get_my_requisites(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<Requisites>, ApiError> {
    read(&state, caller.lang, |c, _| requisites::load(c)).await.map(Json)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_commissions))
        .routes(routes!(post_bulk_approve))
        .routes(routes!(get_commission))
        .routes(routes!(post_approve))
        .routes(routes!(post_reject))
        .routes(routes!(get_requisites, put_requisites))
        .routes(routes!(get_my_commissions))
        .routes(routes!(get_my_commission))
        .routes(routes!(post_paid))
        .routes(routes!(get_owed))
        .routes(routes!(get_my_requisites))
}
