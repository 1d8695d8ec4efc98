//! Reference data: cities with time zones, districts and streets.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Body, Caller, ErrorBody, PathParam, QueryParams, StaffCaller, read, write};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::CityId;
use crate::reference::{self, City, CityActivity, CityEntry, District, NewCity, NewDistrict, NewStreet, Street, StreetMatch, Viewer};
use crate::slots::{self, SlotOption};

/// A search text.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// What was typed; empty lists everything (cities) or nothing (streets).
    #[serde(default)]
    pub q: String,
}

fn viewer(principal: &Principal) -> Viewer<'_> {
    match principal {
        Principal::Staff(staff) => Viewer::Staff(staff),
        Principal::Master(_) => Viewer::Master,
    }
}

/// Active cities with their time zones: a whole alias ("Питер") or exact name gives that city alone, otherwise
/// every name containing the text, alphabetical. Staff see their own cities; masters see all.
#[utoipa::path(get, path = "/api/v1/cities", tag = "reference", params(Search),
    responses((status = 200, body = Vec<City>), (status = 401, body = ErrorBody)))]
async fn get_cities(State(state): State<AppState>, caller: Caller, QueryParams(search): QueryParams<Search>) -> Result<Json<Vec<City>>, ApiError> {
    let principal = caller.principal;
    read(&state, caller.lang, move |c, _| reference::search_cities(c, viewer(&principal), &search.q)).await.map(Json)
}

/// The districts of a city, alphabetical.
#[utoipa::path(get, path = "/api/v1/cities/{id}/districts", tag = "reference", params(("id" = i64, Path, description = "City id")),
    responses((status = 200, body = Vec<District>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_districts(State(state): State<AppState>, caller: Caller, PathParam(city): PathParam<CityId>) -> Result<Json<Vec<District>>, ApiError> {
    let principal = caller.principal;
    read(&state, caller.lang, move |c, _| reference::districts(c, viewer(&principal), city)).await.map(Json)
}

/// Adds a district (global admin, or a city admin of that city).
#[utoipa::path(post, path = "/api/v1/cities/{id}/districts", tag = "reference", params(("id" = i64, Path, description = "City id")),
    request_body = NewDistrict,
    responses((status = 201, body = District), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_district(State(state): State<AppState>, caller: StaffCaller, PathParam(city): PathParam<CityId>, Body(input): Body<NewDistrict>) -> Result<(StatusCode, Json<District>), ApiError> {
    let staff = caller.staff;
    let district = write(&state, caller.lang, move |tx, now| reference::create_district(tx, now, &staff, city, &input)).await?;
    Ok((StatusCode::CREATED, Json(district)))
}

/// Streets of a city like the text (fuzzy, score ≥ 60, best first, near-duplicates dropped, at most 10).
#[utoipa::path(get, path = "/api/v1/cities/{id}/streets", tag = "reference", params(("id" = i64, Path, description = "City id"), Search),
    responses((status = 200, body = Vec<StreetMatch>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_streets(State(state): State<AppState>, caller: StaffCaller, PathParam(city): PathParam<CityId>, QueryParams(search): QueryParams<Search>) -> Result<Json<Vec<StreetMatch>>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| reference::search_streets(c, &staff, city, &search.q)).await.map(Json)
}

/// Adds a street (global admin, or a city admin of that city), optionally in one of the city's districts.
#[utoipa::path(post, path = "/api/v1/cities/{id}/streets", tag = "reference", params(("id" = i64, Path, description = "City id")),
    request_body = NewStreet,
    responses((status = 201, body = Street), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_street(State(state): State<AppState>, caller: StaffCaller, PathParam(city): PathParam<CityId>, Body(input): Body<NewStreet>) -> Result<(StatusCode, Json<Street>), ApiError> {
    let staff = caller.staff;
    let street = write(&state, caller.lang, move |tx, now| reference::create_street(tx, now, &staff, city, &input)).await?;
    Ok((StatusCode::CREATED, Json(street)))
}

/// The visit slots of a city now, on its clock: ASAP and today's buckets not yet begun while the workday lasts,
/// always tomorrow's three (product.md §2.5). A code goes back as the new order's `slot`.
#[utoipa::path(get, path = "/api/v1/cities/{id}/slots", tag = "reference", params(("id" = i64, Path, description = "City id")),
    responses((status = 200, body = Vec<SlotOption>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_slots(State(state): State<AppState>, caller: StaffCaller, PathParam(city): PathParam<CityId>) -> Result<Json<Vec<SlotOption>>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, now| slots::for_city(c, &staff, city, now)).await.map(Json)
}

/// Every city, the deactivated ones too, with their aliases (global admins only).
#[utoipa::path(get, path = "/api/v1/cities/all", tag = "reference",
    responses((status = 200, body = Vec<CityEntry>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_all_cities(State(state): State<AppState>, caller: StaffCaller) -> Result<Json<Vec<CityEntry>>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| reference::all_cities(c, &staff)).await.map(Json)
}

/// Adds a city (global admins only): a unique name, an IANA time zone, optional aliases. Audited.
#[utoipa::path(post, path = "/api/v1/cities", tag = "reference", request_body = NewCity,
    responses((status = 201, body = CityEntry), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_city(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<NewCity>) -> Result<(StatusCode, Json<CityEntry>), ApiError> {
    let staff = caller.staff;
    let city = write(&state, caller.lang, move |tx, now| reference::create_city(tx, now, &staff, &input)).await?;
    Ok((StatusCode::CREATED, Json(city)))
}

/// Deactivates or reactivates a city (global admins only). A deactivated city leaves the pickers for new orders
/// and masters; its orders keep it. Audited when it changes.
#[utoipa::path(patch, path = "/api/v1/cities/{id}", tag = "reference", params(("id" = i64, Path, description = "City id")),
    request_body = CityActivity,
    responses((status = 200, body = CityEntry), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_city(State(state): State<AppState>, caller: StaffCaller, PathParam(city): PathParam<CityId>, Body(input): Body<CityActivity>) -> Result<Json<CityEntry>, ApiError> {
    let staff = caller.staff;
    write(&state, caller.lang, move |tx, now| reference::set_city_active(tx, now, &staff, city, input.is_active)).await.map(Json)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cities, post_city))
        .routes(routes!(get_all_cities))
        .routes(routes!(patch_city))
        .routes(routes!(get_districts, post_district))
        .routes(routes!(get_streets, post_street))
        .routes(routes!(get_slots))
}
