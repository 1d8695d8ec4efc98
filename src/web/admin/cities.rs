//! Cities and their districts and streets (product.md §1.2; admins): the staff member's cities with their
//! time zones, and per city adding and renaming districts and adding streets.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Refusal, refuses_the_page};
use crate::app::AppState;
use crate::domain::{CityId, DistrictId, StaffRole};
use crate::error::{Error, invalid};
use crate::reference::{self, City, CityEntry, District, NewCity, NewDistrict, NewStreet, Street, Viewer};
use crate::web::{Chrome, CsrfForm, StaffPage, WebError, act, done, page, render, render_with};

const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cities", get(get_cities).post(post_city))
        .route("/cities/{id}/active", post(post_active))
        .route("/cities/{id}", get(get_city))
        .route("/cities/{id}/districts", post(post_district))
        .route("/cities/{id}/districts/{district}", post(post_rename))
        .route("/cities/{id}/streets", post(post_street))
}

/// A city with its clock now.
struct CityRow {
    city: CityEntry,
    now: String,
}

#[derive(Template)]
#[template(path = "web/admin/cities.html")]
struct CitiesPage {
    c: Chrome,
    rows: Vec<CityRow>,
    /// A global admin adds, deactivates and reactivates cities.
    manages: bool,
    /// The add form as typed, when refused.
    typed: CityForm,
    refusal: Refusal,
}

impl CitiesPage {
    fn zones(&self) -> impl Iterator<Item = &'static str> {
        reference::zone_names()
    }
}

/// The add-a-city form.
#[derive(Debug, Default, Clone, Deserialize)]
struct CityForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    aliases: String,
}

async fn cities_page(state: &AppState, who: &StaffPage, typed: CityForm, refusal: Refusal) -> Result<CitiesPage, WebError> {
    who.require(&ADMINS)?;
    let manages = who.staff.role == StaffRole::GlobalAdmin;
    let (c, (cities, now)) = page(state, who, "cities", move |conn, staff, now| {
        let cities = if manages {
            reference::all_cities(conn, staff)?
        } else {
            let visible = reference::search_cities(conn, Viewer::Staff(staff), "")?;
            visible.into_iter().map(|c| CityEntry { id: c.id, name: c.name, timezone: c.timezone, aliases: Vec::new(), is_active: true }).collect()
        };
        Ok((cities, now))
    })
    .await?;
    let rows = cities.into_iter().map(|city| CityRow { now: c.tr.date_time(now, &city.timezone), city }).collect();
    Ok(CitiesPage { c, rows, manages, typed, refusal })
}

async fn get_cities(State(state): State<AppState>, who: StaffPage) -> Result<Response, WebError> {
    Ok(render(&cities_page(&state, &who, CityForm::default(), Refusal::default()).await?))
}

async fn post_city(State(state): State<AppState>, who: StaffPage, CsrfForm(form): CsrfForm<CityForm>) -> Result<Response, WebError> {
    let input = NewCity { name: form.name.clone(), timezone: form.timezone.clone(), aliases: vec![form.aliases.clone()] };
    match act(&state, &who, move |tx, staff, now| reference::create_city(tx, now, staff, &input)).await {
        Ok(_) => Ok(done("/cities", "city_added")),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let page = cities_page(&state, &who, form, Refusal::of("city", &error, who.tr.0)).await?;
            Ok(render_with(crate::api::status_of(&error), &page))
        }
    }
}

/// The deactivate / reactivate button.
#[derive(Debug, Deserialize)]
struct ActiveForm {
    is_active: bool,
}

async fn post_active(State(state): State<AppState>, who: StaffPage, Path(id): Path<CityId>, CsrfForm(form): CsrfForm<ActiveForm>) -> Result<Response, WebError> {
    let active = form.is_active;
    act(&state, &who, move |tx, staff, now| reference::set_city_active(tx, now, staff, id, Some(active))).await.map_err(|e| who.refused(e))?;
    Ok(done("/cities", if active { "city_reactivated" } else { "city_deactivated" }))
}

/// What the city page's forms carry.
#[derive(Debug, Default, Clone, Deserialize)]
struct PlaceForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    district_id: String,
}

#[derive(Template)]
#[template(path = "web/admin/city.html")]
struct CityPage {
    c: Chrome,
    city: City,
    districts: Vec<District>,
    streets: Vec<Street>,
    typed: PlaceForm,
    refusal: Refusal,
}

impl CityPage {
    fn district_name(&self, id: &Option<DistrictId>) -> String {
        id.and_then(|id| self.districts.iter().find(|d| d.id == id)).map(|d| d.name.clone()).unwrap_or_default()
    }

    /// What was typed into `form` when it was refused.
    fn typed_name(&self, form: &str) -> String {
        if self.refusal.is_for(form) { self.typed.name.clone() } else { String::new() }
    }

    /// The rename form's value: the typed name when that form was refused, else the district's name.
    fn rename_value(&self, district: &District) -> String {
        if self.refusal.is_for(&format!("rename-{}", district.id)) { self.typed.name.clone() } else { district.name.clone() }
    }

    fn rename_refusal(&self, district: &District) -> Option<String> {
        self.refusal.at(&format!("rename-{}", district.id), "name")
    }
}

async fn city_page(state: &AppState, who: &StaffPage, id: CityId, typed: PlaceForm, refusal: Refusal) -> Result<CityPage, WebError> {
    who.require(&ADMINS)?;
    let (c, (city, districts, streets)) = page(state, who, "cities", move |conn, staff, _| {
        let districts = reference::districts(conn, Viewer::Staff(staff), id)?;
        let city = reference::search_cities(conn, Viewer::Staff(staff), "")?.into_iter().find(|c| c.id == id).ok_or(Error::NotFound { what: "city" })?;
        Ok((city, districts, reference::streets(conn, staff, id)?))
    })
    .await?;
    Ok(CityPage { c, city, districts, streets, typed, refusal })
}

async fn get_city(State(state): State<AppState>, who: StaffPage, Path(id): Path<CityId>) -> Result<Response, WebError> {
    Ok(render(&city_page(&state, &who, id, PlaceForm::default(), Refusal::default()).await?))
}

/// Answers a city form: back to the city with a flash, or the page again with the message.
async fn answer<T>(state: &AppState, who: &StaffPage, id: CityId, form: &str, typed: PlaceForm, outcome: Result<T, Error>, flash: &str) -> Result<Response, WebError> {
    match outcome {
        Ok(_) => Ok(done(&format!("/cities/{id}"), flash)),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let page = city_page(state, who, id, typed, Refusal::of(form, &error, who.tr.0)).await?;
            Ok(render_with(crate::api::status_of(&error), &page))
        }
    }
}

async fn post_district(State(state): State<AppState>, who: StaffPage, Path(id): Path<CityId>, CsrfForm(form): CsrfForm<PlaceForm>) -> Result<Response, WebError> {
    let input = NewDistrict { name: form.name.clone() };
    let outcome = act(&state, &who, move |tx, staff, now| reference::create_district(tx, now, staff, id, &input)).await;
    answer(&state, &who, id, "district", form, outcome, "district_added").await
}

async fn post_rename(State(state): State<AppState>, who: StaffPage, Path((id, district)): Path<(CityId, DistrictId)>, CsrfForm(form): CsrfForm<PlaceForm>) -> Result<Response, WebError> {
    let input = NewDistrict { name: form.name.clone() };
    let outcome = act(&state, &who, move |tx, staff, _| {
        let renamed = reference::rename_district(tx, staff, district, &input)?;
        // The district must be of the city in the address, else it is "not found" here.
        if renamed.city_id == id { Ok(renamed) } else { Err(Error::NotFound { what: "district" }) }
    })
    .await;
    answer(&state, &who, id, &format!("rename-{district}"), form, outcome, "district_renamed").await
}

async fn post_street(State(state): State<AppState>, who: StaffPage, Path(id): Path<CityId>, CsrfForm(form): CsrfForm<PlaceForm>) -> Result<Response, WebError> {
    let typed = form.clone();
    let outcome = act(&state, &who, move |tx, staff, now| {
        let district_id = match form.district_id.trim() {
            "" => None,
            raw => Some(raw.parse().map_err(|_| invalid("district_id", "unknown"))?),
        };
        reference::create_street(tx, now, staff, id, &NewStreet { name: form.name, district_id })
    })
    .await;
    answer(&state, &who, id, "street", typed, outcome, "street_added").await
}
