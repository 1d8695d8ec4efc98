//! The "Exports" page (product.md §4.7, decisions §B.20, §B.21): pick an export, a format, a city and a period
//! — a quick button or custom dates — and download the file. Admins only; a city admin gets his own cities.
//! A refused choice shows the page again with the reason beside the field, and nothing is downloaded.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::admin::{Refusal, refuses_the_page};
use crate::app::AppState;
use crate::domain::{CityId, StaffRole};
use crate::error::{Error, invalid};
use crate::reference::{self, City, Viewer};
use crate::reports::exports::{self, Export, FileFormat};
use crate::reports::period::{Days, Quick};
use crate::web::{Chrome, StaffPage, WebError, page, render_with};

const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

pub fn routes() -> Router<AppState> {
    Router::new().route("/exports", get(get_page)).route("/exports/download", get(get_download))
}

#[derive(Template)]
#[template(path = "web/exports.html")]
struct ExportsPage {
    c: Chrome,
    cities: Vec<City>,
    typed: ExportForm,
    refusal: Refusal,
    /// The operator's time zone the days are counted in.
    zone: String,
}

impl ExportsPage {
    fn exports(&self) -> [Export; 3] {
        Export::ALL
    }

    fn formats(&self) -> [FileFormat; 2] {
        FileFormat::ALL
    }

    fn quick(&self) -> [Quick; 5] {
        Quick::ALL
    }
}

/// The form as typed; every field a string so that a refused one can be shown again as it was.
#[derive(Debug, Clone, Deserialize)]
struct ExportForm {
    #[serde(default = "orders")]
    export: String,
    #[serde(default = "csv")]
    format: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    city_id: String,
}

fn orders() -> String {
    Export::Orders.as_str().into()
}

fn csv() -> String {
    FileFormat::Csv.as_str().into()
}

impl ExportForm {
    /// What was chosen, or the first field that makes no sense.
    fn parse(&self) -> Result<(Export, FileFormat, Option<CityId>), Error> {
        let export = Export::parse(&self.export).ok_or_else(|| invalid("export", "unknown"))?;
        let format = FileFormat::parse(&self.format).ok_or_else(|| invalid("format", "unknown"))?;
        let city = match self.city_id.trim() {
            "" => None,
            id => Some(id.parse().map_err(|_| invalid("city_id", "malformed"))?),
        };
        Ok((export, format, city))
    }
}

async fn get_page(State(state): State<AppState>, who: StaffPage, Query(typed): Query<ExportForm>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    show(&state, &who, typed, None).await
}

/// The file, or the page again with why not.
async fn get_download(State(state): State<AppState>, who: StaffPage, Query(typed): Query<ExportForm>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let (now, tz) = (state.clock.now(), state.config.timezone);
    let job = typed.parse().and_then(|(export, format, city)| {
        let days = Days::from_query(Some(&typed.period), Some(&typed.from), Some(&typed.to), now, tz)?;
        Ok((exports::prepare(&who.staff, export, days, city)?, format))
    });
    match job {
        Ok((job, format)) => crate::api::exports::download(&state, job, format).await.map_err(|e| who.refused(e)),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => show(&state, &who, typed, Some(error)).await,
    }
}

async fn show(state: &AppState, who: &StaffPage, typed: ExportForm, error: Option<Error>) -> Result<Response, WebError> {
    let (c, cities) = page(state, who, "exports", |conn, staff, _| reference::search_cities(conn, Viewer::Staff(staff), "")).await?;
    let status = error.as_ref().map_or(StatusCode::OK, crate::api::status_of);
    let refusal = error.map(|e| Refusal::of("export", &e, who.tr.0)).unwrap_or_default();
    let zone = state.config.timezone.name().to_string();
    Ok(render_with(status, &ExportsPage { c, cities, typed, refusal, zone }))
}
