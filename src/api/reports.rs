//! The reports as JSON (issue 13): distribution, masters and money for a period and a city, the same figures
//! as the `/reports` page. Admins only, within their cities; logists are refused.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ErrorBody, QueryParams, StaffCaller, read};
use crate::app::AppState;
use crate::domain::CityId;
use crate::reports::distribution::{self, Distribution};
use crate::reports::masters::{self, Masters, SortKey};
use crate::reports::money::{self, Money};
use crate::reports::Asked;

/// The period and the city of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `today` (default), `yesterday`, `last_7_days`, `this_month`, `previous_month`, or `custom` with `from` and `to`.
    pub period: Option<String>,
    /// The first day of custom dates: `YYYY-MM-DD` or `DD.MM.YYYY`, on the operator's clock.
    pub from: Option<String>,
    /// The last day of custom dates, included; at most 366 days after `from`.
    pub to: Option<String>,
    /// Only this city (one of the caller's; another is "not found").
    pub city_id: Option<CityId>,
}

impl ReportQuery {
    fn asked(self) -> Asked {
        Asked { period: self.period, from: self.from, to: self.to, city_id: self.city_id }
    }
}

/// The masters table's period, city and order.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MastersQuery {
    /// As for every report.
    pub period: Option<String>,
    /// As for every report.
    pub from: Option<String>,
    /// As for every report.
    pub to: Option<String>,
    /// As for every report.
    pub city_id: Option<CityId>,
    /// The column to sort by (default `revenue`).
    #[param(inline)]
    pub sort: Option<SortKey>,
    /// `desc` or `asc` (default: `asc` for `name`, else `desc`).
    pub dir: Option<String>,
}

/// Orders created, who assigned them, time to accept, acceptance rate, rounds, escalations, deferred orders,
/// cancellations and guarantee revisits of a period.
#[utoipa::path(get, path = "/api/v1/reports/distribution", tag = "reports", operation_id = "get_report_distribution", params(ReportQuery),
    responses((status = 200, body = Distribution), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_distribution(State(state): State<AppState>, caller: StaffCaller, QueryParams(query): QueryParams<ReportQuery>) -> Result<Json<Distribution>, ApiError> {
    let (staff, tz, asked) = (caller.staff, state.config.timezone, query.asked());
    read(&state, caller.lang, move |c, now| {
        let (days, scope) = asked.resolve(&staff, now, tz)?;
        distribution::report(c, &days, &scope)
    })
    .await
    .map(Json)
}

/// One row per master: offers and answers, response time, jobs closed, revenue, commissions, revisits.
#[utoipa::path(get, path = "/api/v1/reports/masters", tag = "reports", operation_id = "get_report_masters", params(MastersQuery),
    responses((status = 200, body = Masters), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_masters(State(state): State<AppState>, caller: StaffCaller, QueryParams(query): QueryParams<MastersQuery>) -> Result<Json<Masters>, ApiError> {
    let (staff, tz) = (caller.staff, state.config.timezone);
    let asked = Asked { period: query.period, from: query.from, to: query.to, city_id: query.city_id };
    let descending = query.dir.as_deref().map(|d| d != "asc");
    read(&state, caller.lang, move |c, now| {
        let (days, scope) = asked.resolve(&staff, now, tz)?;
        masters::report(c, &days, &scope, query.sort, descending)
    })
    .await
    .map(Json)
}

/// Revenue, commissions accrued / approved / outstanding / overdue by day and by city, and referral rewards.
#[utoipa::path(get, path = "/api/v1/reports/money", tag = "reports", operation_id = "get_report_money", params(ReportQuery),
    responses((status = 200, body = Money), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_money(State(state): State<AppState>, caller: StaffCaller, QueryParams(query): QueryParams<ReportQuery>) -> Result<Json<Money>, ApiError> {
    let (staff, tz, asked) = (caller.staff, state.config.timezone, query.asked());
    read(&state, caller.lang, move |c, now| {
        let (days, scope) = asked.resolve(&staff, now, tz)?;
        money::report(c, &days, &scope)
    })
    .await
    .map(Json)
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_distribution)).routes(routes!(get_masters)).routes(routes!(get_money))
}
