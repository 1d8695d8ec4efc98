//! Staff management, business settings and the staff alert feed.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Body, ErrorBody, PathParam, QueryParams, StaffCaller, read, write};
use crate::alerts::{self, AlertView};
use crate::app::AppState;
use crate::domain::{CityId, StaffId, StaffRole};
use crate::password;
use crate::settings::Settings;
use crate::staff::{self, NewStaff, StaffView};

/// The staff list filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffFilter {
    /// Only this role.
    pub role: Option<StaffRole>,
}

/// A staff member's new set of cities.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffCities {
    /// Cities; at least one unless he is a global admin.
    pub city_ids: Vec<CityId>,
}

/// Adds a staff member with an initial password (global admins only).
#[utoipa::path(post, path = "/api/v1/staff", tag = "staff", request_body = NewStaff,
    responses((status = 201, body = StaffView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_staff(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<NewStaff>) -> Result<(StatusCode, Json<StaffView>), ApiError> {
    // Refused before the (deliberately slow) hash, which runs outside the write transaction.
    caller.require(&[StaffRole::GlobalAdmin])?;
    crate::password::check(&input.password).map_err(|e| ApiError::new(e, caller.lang))?;
    let hash = password::hash_off_thread(input.password.clone()).await;
    let actor = caller.staff;
    let view = write(&state, caller.lang, move |tx, now| staff::add(tx, now, &actor, &input, &hash)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every staff member with role, cities and whether active, newest first (global admins only).
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(StaffFilter),
    responses((status = 200, body = Vec<StaffView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_staff(State(state): State<AppState>, caller: StaffCaller, QueryParams(filter): QueryParams<StaffFilter>) -> Result<Json<Vec<StaffView>>, ApiError> {
    let actor = caller.staff;
    read(&state, caller.lang, move |c, _| staff::list(c, &actor, filter.role)).await.map(Json)
}

/// Deactivates a staff member: every request of his is refused from now on. Nobody deactivates himself.
#[utoipa::path(post, path = "/api/v1/staff/{id}/deactivate", tag = "staff", params(("id" = i64, Path, description = "Staff id")),
    responses((status = 200, body = StaffView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_deactivate(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<StaffId>) -> Result<Json<StaffView>, ApiError> {
    let actor = caller.staff;
    write(&state, caller.lang, move |tx, now| staff::set_active(tx, now, &actor, id, false)).await.map(Json)
}

/// Re-activates a staff member; he signs in afresh (his old sessions and tokens stay dead).
// Named: the handler shares its name with the order one, and operation ids must be unique.
#[utoipa::path(post, path = "/api/v1/staff/{id}/activate", tag = "staff", operation_id = "post_staff_activate", params(("id" = i64, Path, description = "Staff id")),
    responses((status = 200, body = StaffView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_activate(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<StaffId>) -> Result<Json<StaffView>, ApiError> {
    let actor = caller.staff;
    write(&state, caller.lang, move |tx, now| staff::set_active(tx, now, &actor, id, true)).await.map(Json)
}

/// Replaces a staff member's cities.
#[utoipa::path(put, path = "/api/v1/staff/{id}/cities", tag = "staff", params(("id" = i64, Path, description = "Staff id")),
    request_body = StaffCities,
    responses((status = 200, body = StaffView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_staff_cities(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<StaffId>, Body(input): Body<StaffCities>) -> Result<Json<StaffView>, ApiError> {
    let actor = caller.staff;
    write(&state, caller.lang, move |tx, now| staff::set_cities(tx, now, &actor, id, &input.city_ids)).await.map(Json)
}

/// The business settings (global admins only).
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings",
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_settings(State(state): State<AppState>, caller: StaffCaller) -> Result<Json<Settings>, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    read(&state, caller.lang, |c, _| Settings::load(c)).await.map(Json)
}

/// One new setting value: text as typed in the settings form; numbers and booleans are taken as their text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// Text, e.g. `"120"`, `"09:30"`, `"true"`.
    Text(String),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON boolean.
    Flag(bool),
}

impl SettingValue {
    fn into_text(self) -> String {
        match self {
            SettingValue::Text(text) => text,
            SettingValue::Number(number) => number.to_string(),
            SettingValue::Flag(flag) => flag.to_string(),
        }
    }
}

/// A settings change as the document describes it: any of the editable keys (the rules' own list, so the
/// document cannot miss one), each as text, a number or a boolean.
struct SettingsChange;

impl utoipa::PartialSchema for SettingsChange {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
        let value = || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Boolean]));
        crate::settings::keys()
            .fold(ObjectBuilder::new(), |object, key| object.property(key, value()))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some("Setting key → new value, e.g. {\"distribution_sla_seconds\": \"180\"}"))
            .into()
    }
}

impl ToSchema for SettingsChange {}

/// Changes settings, all or nothing: one invalid value refuses the whole change, naming the field and its range.
#[utoipa::path(put, path = "/api/v1/settings", tag = "settings",
    request_body = SettingsChange,
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_settings(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<BTreeMap<String, SettingValue>>) -> Result<Json<Settings>, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    let changes: Vec<(String, String)> = input.into_iter().map(|(key, value)| (key, value.into_text())).collect();
    write(&state, caller.lang, move |tx, now| {
        Settings::update(tx, now, &changes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>())
    })
    .await
    .map(Json)
}

/// The alert feed filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedFilter {
    /// Only alerts not yet read.
    #[serde(default)]
    pub unread: bool,
    /// At most this many, 1–200 (default 50).
    pub limit: Option<i64>,
}

/// The alerts delivered to the caller, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(FeedFilter),
    responses((status = 200, body = Vec<AlertView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_alerts(State(state): State<AppState>, caller: StaffCaller, QueryParams(filter): QueryParams<FeedFilter>) -> Result<Json<Vec<AlertView>>, ApiError> {
    let id = caller.staff.id;
    read(&state, caller.lang, move |c, _| alerts::feed(c, id, filter.unread, filter.limit.unwrap_or(50))).await.map(Json)
}

/// Marks one of the caller's alerts read.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/read", tag = "alerts", params(("id" = i64, Path, description = "Alert id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_alert_read(State(state): State<AppState>, caller: StaffCaller, PathParam(alert): PathParam<i64>) -> Result<StatusCode, ApiError> {
    let id = caller.staff.id;
    write(&state, caller.lang, move |tx, now| alerts::mark_read(tx, now, id, alert)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_staff, post_staff))
        .routes(routes!(post_deactivate))
        .routes(routes!(post_activate))
        .routes(routes!(put_staff_cities))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(get_alerts))
        .routes(routes!(post_alert_read))
}
