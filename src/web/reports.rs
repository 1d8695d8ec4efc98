//! The reports page `/reports` (issue 13): distribution, masters and money for a chosen period and city,
//! each chart drawn on the server as SVG with its numbers beside it, and each table as CSV. Admins only,
//! within their cities.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::admin::Refusal;
use crate::app::AppState;
use crate::board::{self, CityChoice};
use crate::domain::StaffRole;
use crate::error::Error;
use crate::money::format_rubles;
use crate::reports::charts::{self, Series};
use crate::reports::distribution::{self, Distribution};
use crate::reports::masters::{self, Masters, SortKey};
use crate::reports::money::{self, Money, MoneyFigures};
use crate::reports::period::Quick;
use crate::reports::Asked;
use crate::web::{Chrome, StaffPage, Tr, WebError, page, render_with};

const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

pub fn routes() -> Router<AppState> {
    Router::new().route("/reports", get(get_page)).route("/reports/csv", get(get_csv))
}

/// The page's query as typed; what does not parse is refused beside its field.
#[derive(Debug, Clone, Default, Deserialize)]
struct Typed {
    #[serde(default)]
    period: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    city_id: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    table: String,
}

impl Typed {
    fn asked(&self) -> Asked {
        let given = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        Asked { period: given(&self.period), from: given(&self.from), to: given(&self.to), city_id: self.city_id.trim().parse().ok() }
    }

    fn sort(&self) -> Option<SortKey> {
        SortKey::parse(&self.sort)
    }

    fn descending(&self) -> Option<bool> {
        match self.dir.as_str() {
            "asc" => Some(false),
            "desc" => Some(true),
            _ => None,
        }
    }

    /// The query of this page with `changes` applied, for links that keep the period and the city.
    fn href(&self, path: &str, changes: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> =
            [("period", self.period.as_str()), ("from", &self.from), ("to", &self.to), ("city_id", &self.city_id), ("sort", &self.sort), ("dir", &self.dir)]
                .into_iter()
                .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
                .collect();
        pairs.extend(changes.iter().copied());
        pairs.retain(|(_, v)| !v.is_empty());
        format!("{path}?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    }
}

/// The three reports of one period and scope.
struct Reports {
    distribution: Distribution,
    masters: Masters,
    money: Money,
}

/// Reads the three reports; an invalid period comes back as the refusal to show beside the form.
fn read(conn: &rusqlite::Connection, now: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz, staff: &crate::staff::Staff, typed: &Typed) -> Result<Result<Reports, Error>, Error> {
    let (days, scope) = match typed.asked().resolve(staff, now, tz) {
        Err(error @ Error::Invalid { .. }) => return Ok(Err(error)),
        other => other?,
    };
    Ok(Ok(Reports {
        distribution: distribution::report(conn, &days, &scope)?,
        masters: masters::report(conn, &days, &scope, typed.sort(), typed.descending())?,
        money: money::report(conn, &days, &scope)?,
    }))
}

#[derive(Template)]
#[template(path = "web/reports.html")]
struct ReportsPage {
    c: Chrome,
    typed: Typed,
    cities: Vec<CityChoice>,
    reports: Option<Reports>,
    refusal: Refusal,
}

async fn get_page(State(state): State<AppState>, who: StaffPage, Query(typed): Query<Typed>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let (tz, asked) = (state.config.timezone, typed.clone());
    let (c, (reports, cities)) = page(&state, &who, "reports", move |conn, staff, now| Ok((read(conn, now, tz, staff, &asked)?, board::cities(conn, staff)?))).await?;
    let (reports, refusal, code) = match reports {
        Ok(reports) => (Some(reports), Refusal::default(), StatusCode::OK),
        Err(error) => (None, Refusal::of("period", &error, who.tr.0), crate::api::status_of(&error)),
    };
    Ok(render_with(code, &ReportsPage { c, typed, cities, reports, refusal }))
}

/// One table of the page as CSV (UTF-8 with BOM, `;`, the headers in the reader's language), named after the
/// table and the period.
async fn get_csv(State(state): State<AppState>, who: StaffPage, Query(typed): Query<Typed>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let table = Table::parse(&typed.table).ok_or_else(|| who.refused(Error::NotFound { what: "report" }))?;
    let (tz, asked) = (state.config.timezone, typed.clone());
    let (_, reports) = page(&state, &who, "reports", move |conn, staff, now| read(conn, now, tz, staff, &asked)?).await?;
    let (head, rows) = table.rows(&reports, who.tr);
    // Into memory: a report table is small (a row per day, reason, master or city), and a Vec cannot fail.
    let mut out = csv::WriterBuilder::new().delimiter(b';').from_writer(b"\xEF\xBB\xBF".to_vec());
    for row in std::iter::once(head).chain(rows) {
        out.write_record(row.iter().map(|cell| inert(cell).into_owned())).expect("writing to memory");
    }
    let bytes = out.into_inner().expect("writing to memory");
    let name = format!("report_{}_{}_{}.csv", table.as_str(), reports.distribution.first, reports.distribution.last);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))],
        bytes,
    )
        .into_response())
}

/// A cell a spreadsheet will not run as a formula (a master's name, say) gets a leading apostrophe, as the
/// exports' cells do. The figures are never negative, so no number is touched.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    if crate::reports::exports::is_formula_like(cell) { format!("'{cell}").into() } else { cell.into() }
}

/// The tables of the page that download as CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Days,
    Escalations,
    Masters,
    MoneyDays,
    MoneyCities,
}

impl Table {
    const ALL: [Self; 5] = [Self::Days, Self::Escalations, Self::Masters, Self::MoneyDays, Self::MoneyCities];

    fn as_str(self) -> &'static str {
        match self {
            Self::Days => "days",
            Self::Escalations => "escalations",
            Self::Masters => "masters",
            Self::MoneyDays => "money_days",
            Self::MoneyCities => "money_cities",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The header and the rows; money in roubles with a dot, durations in seconds, empty for none.
    fn rows(self, r: &Reports, tr: Tr) -> (Vec<String>, Vec<Vec<String>>) {
        let head = |keys: &[&str]| keys.iter().map(|k| tr.of("report.col.", k)).collect::<Vec<_>>();
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let rub = |kop: i64| format!("{}.{:02}", kop / 100, kop % 100);
        let figures = |f: &MoneyFigures| vec![f.closed.to_string(), rub(f.revenue_kop), rub(f.accrued_kop), rub(f.approved_kop), rub(f.outstanding_kop), rub(f.overdue_kop)];
        let money_head = ["closed", "revenue", "accrued", "approved", "outstanding", "overdue"];
        match self {
            Self::Days => (
                head(&["date", "created", "engine", "manual_offer", "direct", "accept_p50", "accept_p90"]),
                r.distribution
                    .days
                    .iter()
                    .map(|d| {
                        vec![d.date.clone(), d.created.to_string(), d.engine.to_string(), d.manual_offer.to_string(), d.direct.to_string(), opt(d.accept_p50_seconds), opt(d.accept_p90_seconds)]
                    })
                    .collect(),
            ),
            Self::Escalations => (
                head(&["reason", "logist", "admin"]),
                r.distribution.escalations.iter().map(|e| vec![tr.of("report.reason.", &e.reason), e.logist.to_string(), e.admin.to_string()]).collect(),
            ),
            Self::Masters => (
                head(&["master_id", "name", "offers", "accepted", "declined", "expired", "acceptance", "response", "closed", "revenue", "owed", "paid", "overdue", "revisits"]),
                r.masters
                    .rows
                    .iter()
                    .map(|m| {
                        vec![
                            m.master_id.to_string(),
                            m.name.clone(),
                            m.offers.to_string(),
                            m.accepted.to_string(),
                            m.declined.to_string(),
                            m.expired.to_string(),
                            m.acceptance_percent.map(|p| p.to_string()).unwrap_or_default(),
                            opt(m.response_p50_seconds),
                            m.closed.to_string(),
                            rub(m.revenue_kop),
                            rub(m.owed_kop),
                            rub(m.paid_kop),
                            rub(m.overdue_kop),
                            m.revisits.to_string(),
                        ]
                    })
                    .collect(),
            ),
            Self::MoneyDays => (
                [head(&["date"]), head(&money_head)].concat(),
                r.money.days.iter().map(|d| [vec![d.date.clone()], figures(&d.figures)].concat()).collect(),
            ),
            Self::MoneyCities => (
                [head(&["city"]), head(&money_head)].concat(),
                r.money.cities.iter().map(|c| [vec![c.city.clone()], figures(&c.figures)].concat()).collect(),
            ),
        }
    }
}

impl ReportsPage {
    fn quick(&self) -> [Quick; 5] {
        Quick::ALL
    }

    /// The quick choice shown as chosen (today when nothing was asked).
    fn chosen(&self, value: &str) -> bool {
        let typed = self.typed.period.trim();
        let custom = typed == "custom" || (typed.is_empty() && !self.typed.from.trim().is_empty());
        match value {
            "custom" => custom,
            v => !custom && (typed == v || (typed.is_empty() && v == "today")),
        }
    }

    fn csv_href(&self, table: &str) -> String {
        self.typed.href("/reports/csv", &[("table", table)])
    }

    /// The masters table's header link for `key`: sorts by it, or flips the direction when it is the sort.
    fn sort_href(&self, key: &SortKey) -> String {
        let current = self.reports.as_ref().map(|r| (r.masters.sort, r.masters.descending));
        let dir = match current {
            Some((sort, true)) if sort == *key => "asc",
            Some((sort, false)) if sort == *key => "desc",
            _ if *key == SortKey::Name => "asc",
            _ => "desc",
        };
        format!("{}#masters", self.typed.href("/reports", &[("sort", key.as_str()), ("dir", dir)]))
    }

    /// `aria-sort` of a masters column.
    fn aria_sort(&self, key: &SortKey) -> &'static str {
        match self.reports.as_ref().map(|r| (r.masters.sort, r.masters.descending)) {
            Some((sort, true)) if sort == *key => "descending",
            Some((sort, false)) if sort == *key => "ascending",
            _ => "none",
        }
    }

    fn columns(&self) -> [SortKey; 13] {
        SortKey::ALL
    }

    fn rub(&self, kop: &i64) -> String {
        format!("{} ₽", format_rubles(*kop))
    }

    fn pct(&self, value: &Option<f64>) -> String {
        value.map_or_else(|| "—".to_string(), |v| format!("{v:.1} %"))
    }

    /// A duration in seconds, readable: `45 с`, `4 мин 10 с`, `2 ч 05 мин`; a dash for none.
    fn dur(&self, seconds: &Option<i64>) -> String {
        let Some(s) = *seconds else { return "—".to_string() };
        let unit = |k: &str| self.c.tr.of("report.unit.", k);
        match s {
            s if s < 60 => format!("{s} {}", unit("s")),
            s if s < 3600 => format!("{} {} {} {}", s / 60, unit("min"), s % 60, unit("s")),
            s => format!("{} {} {:02} {}", s / 3600, unit("h"), s % 3600 / 60, unit("min")),
        }
    }

    fn share(&self, part: &i64) -> String {
        let a = self.reports.as_ref().map(|r| &r.distribution.assigned);
        let total = a.map_or(0, |a| a.engine + a.manual_offer + a.direct);
        self.pct(&((total > 0).then(|| (*part as f64 * 1000.0 / total as f64).round() / 10.0)))
    }

    fn t(&self, key: &str) -> String {
        self.c.tr.t(key)
    }

    fn days(&self) -> Vec<String> {
        self.reports.as_ref().map(|r| r.distribution.days.iter().map(|d| d.date.clone()).collect()).unwrap_or_default()
    }

    fn chart_created(&self) -> String {
        let Some(r) = &self.reports else { return String::new() };
        let values: Vec<Option<i64>> = r.distribution.days.iter().map(|d| Some(d.created)).collect();
        charts::bars(&self.t("report.chart.created"), &self.days(), &[Series { name: self.t("report.col.created"), values: &values }])
    }

    fn chart_shares(&self) -> String {
        let Some(r) = &self.reports else { return String::new() };
        let of = |f: fn(&distribution::DistributionDay) -> i64| r.distribution.days.iter().map(|d| Some(f(d))).collect::<Vec<_>>();
        let (engine, manual, direct) = (of(|d| d.engine), of(|d| d.manual_offer), of(|d| d.direct));
        charts::bars(
            &self.t("report.chart.shares"),
            &self.days(),
            &[
                Series { name: self.t("report.col.engine"), values: &engine },
                Series { name: self.t("report.col.manual_offer"), values: &manual },
                Series { name: self.t("report.col.direct"), values: &direct },
            ],
        )
    }

    fn chart_accept(&self) -> String {
        let Some(r) = &self.reports else { return String::new() };
        let minutes = |v: Option<i64>| v.map(|s| s / 60);
        let p50: Vec<Option<i64>> = r.distribution.days.iter().map(|d| minutes(d.accept_p50_seconds)).collect();
        let p90: Vec<Option<i64>> = r.distribution.days.iter().map(|d| minutes(d.accept_p90_seconds)).collect();
        charts::lines(
            &self.t("report.chart.accept"),
            &self.days(),
            &[Series { name: self.t("report.col.accept_p50"), values: &p50 }, Series { name: self.t("report.col.accept_p90"), values: &p90 }],
        )
    }

    fn chart_money(&self) -> String {
        let Some(r) = &self.reports else { return String::new() };
        let rubles = |f: fn(&MoneyFigures) -> i64| r.money.days.iter().map(|d| Some(f(&d.figures) / 100)).collect::<Vec<_>>();
        let (revenue, accrued) = (rubles(|f| f.revenue_kop), rubles(|f| f.accrued_kop));
        let revenue = charts::bars(&self.t("report.chart.revenue"), &self.days(), &[Series { name: self.t("report.col.revenue"), values: &revenue }]);
        let accrued = charts::bars(&self.t("report.chart.accrued"), &self.days(), &[Series { name: self.t("report.col.accrued"), values: &accrued }]);
        format!("{revenue}{accrued}")
    }

    /// The colour of a chart's series, for its legend.
    fn colour(&self, index: usize) -> &'static str {
        charts::COLOURS[index % charts::COLOURS.len()]
    }
}
