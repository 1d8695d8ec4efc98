//! The order lists of product.md §2.9: the queue, the orders under warranty and the closed ones, with the
//! filters and the search, one page at a time, every time on the order's city clock.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::{Chrome, StaffPage, Tr, WebError, page, render_with};
use crate::app::AppState;
use crate::domain::{Category, OrderStatus, OrderType};
use crate::error::{Error, invalid};
use crate::queue::{self, ClosedList, QueueFilter, QueueRow, SearchBy, SearchQuery};
use crate::reference::{self, Viewer};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders", get(get_queue))
        .route("/orders/warranty", get(get_warranty))
        .route("/orders/closed", get(get_closed))
}

/// Which list a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Queue,
    Warranty,
    Closed,
}

impl View {
    fn path(self) -> &'static str {
        match self {
            View::Queue => "/orders",
            View::Warranty => "/orders/warranty",
            View::Closed => "/orders/closed",
        }
    }

    fn key(self) -> &'static str {
        match self {
            View::Queue => "queue",
            View::Warranty => "warranty",
            View::Closed => "closed",
        }
    }

    /// The sort keys of this list, the default first.
    fn sorts(self) -> Vec<&'static str> {
        match self {
            View::Queue => queue::queue_sorts().collect(),
            View::Warranty | View::Closed => queue::closed_sorts().collect(),
        }
    }
}

/// The sorts a column header offers: (column, sort key, the `aria-sort` of the column in that order). A
/// click on a column picks its first key of the list's sorts, a click on the sorted column the next one.
const HEADER_SORTS: [(&str, &str, &str); 9] = [
    ("id", "id", "ascending"),
    ("id", "id_desc", "descending"),
    ("status", "status", "ascending"),
    ("when", "slot", "ascending"),
    ("when", "slot_desc", "descending"),
    // Last closed first is also the most warranty left first.
    ("when", "closed", "descending"),
    ("when", "closed_asc", "ascending"),
    ("amount", "amount", "descending"),
    ("amount", "amount_asc", "ascending"),
];

/// The filter and search forms as submitted (GET): text, so that a bad value is a message beside its field.
#[derive(Debug, Clone, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    city_id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    master_id: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    per_page: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    by: String,
}

/// Rows per page on the lists unless chosen (issue 12: a dispatcher scans a day's orders at once).
const DEFAULT_PAGE_SIZE: i64 = 50;
/// The page sizes offered.
const PAGE_SIZES: [i64; 3] = [20, 50, 100];

/// An optional value of a filter field: empty is "any", anything unparsable is refused naming the field.
fn parsed<T>(field: &'static str, raw: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, Error> {
    let raw = raw.trim();
    if raw.is_empty() { Ok(None) } else { parse(raw).map(Some).ok_or_else(|| invalid(field, "malformed")) }
}

impl ListQuery {
    fn filter(&self, view: View) -> Result<QueueFilter, Error> {
        Ok(QueueFilter {
            city_id: parsed("city_id", &self.city_id, |v| v.parse().ok())?,
            category: parsed("category", &self.category, Category::parse)?,
            status: if view == View::Queue { parsed("status", &self.status, OrderStatus::parse)? } else { None },
            master_id: parsed("master_id", &self.master_id, |v| v.parse().ok())?,
            date: parsed("date", &self.date, |v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())?,
            id: parsed("id", &self.id, |v| v.trim_start_matches('#').parse().ok())?,
            sort: parsed("sort", &self.sort, |v| Some(v.to_string()))?,
            page: parsed("page", &self.page, |v| v.parse().ok())?,
            per_page: parsed("per_page", &self.per_page, |v| v.parse().ok())?.or(Some(DEFAULT_PAGE_SIZE)),
        })
    }

    fn search(&self) -> Result<Option<SearchQuery>, Error> {
        if self.q.trim().is_empty() {
            return Ok(None);
        }
        let by = parsed("by", &self.by, |v| match v {
            "id" => Some(SearchBy::Id),
            "phone" => Some(SearchBy::Phone),
            "master" => Some(SearchBy::Master),
            _ => None,
        })?;
        Ok(Some(SearchQuery { q: self.q.clone(), by }))
    }

    /// This query's filters and sort with another page number, for the pagination links.
    fn with_page(&self, view: View, page: i64) -> String {
        self.link(view, &self.sort, &page.to_string())
    }

    /// This query's filters in another order, from the first page, for the column headers.
    fn with_sort(&self, view: View, sort: &str) -> String {
        self.link(view, sort, "")
    }

    fn link(&self, view: View, sort: &str, page: &str) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("city_id", self.city_id.as_str()),
            ("category", &self.category),
            ("status", &self.status),
            ("master_id", &self.master_id),
            ("date", &self.date),
            ("id", &self.id),
            ("per_page", &self.per_page),
            ("sort", sort),
            ("page", page),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
        format!("{}?{}", view.path(), serde_urlencoded::to_string(pairs).unwrap_or_default())
    }
}

/// An `<option>` of a picker.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn of(value: impl ToString, label: String, chosen: &str) -> Self {
        let value = value.to_string();
        let selected = value == chosen.trim();
        Self { value, label, selected }
    }
}


/// One line of a list.
pub struct Row {
    pub id: i64,
    pub city: String,
    pub address: String,
    pub category: String,
    pub status: String,
    /// The status's pill class.
    pub pill: String,
    pub guarantee: bool,
    /// The slot (queue), the warranty left or the closing time, on the city clock.
    pub when: String,
    /// The city's time zone, named beside the time only when it is not the one the header names.
    pub zone: Option<String>,
    pub master: String,
    pub master_id: Option<i64>,
    pub client_name: String,
    pub client_phone: String,
    /// What the client paid, once the master closed the order.
    pub amount: String,
}

fn row(tr: Tr, order: &QueueRow, when: String) -> Row {
    let address = [order.district.as_deref(), order.street.as_deref(), order.house.as_deref()]
        .into_iter()
        .flatten()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    Row {
        id: order.id,
        city: order.city.clone(),
        address: if address.is_empty() { tr.t("lists.no_address") } else { address },
        category: tr.of("category.", order.category),
        status: tr.of("status.", order.status),
        pill: order.status.as_str().to_lowercase(),
        guarantee: order.order_type == OrderType::Guarantee,
        when,
        zone: Some(order.timezone.clone()),
        master: order.master_name.clone().unwrap_or_else(|| tr.t("lists.no_master")),
        master_id: order.master_id,
        client_name: order.client_name.clone(),
        client_phone: order.client_phone.clone(),
        amount: if order.total_sum_kop > 0 { tr.money(order.total_sum_kop) } else { tr.t("web.none") },
    }
}

/// A column header: sortable ones link to the list in their order and say how the rows are sorted.
pub struct Header {
    pub label: String,
    pub href: Option<String>,
    pub aria_sort: Option<&'static str>,
}

/// The one time zone of the rows, named once in the header; rows of another city name theirs.
fn common_zone(rows: &mut [Row]) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for zone in rows.iter().filter_map(|r| r.zone.clone()) {
        match counts.iter_mut().find(|(z, _)| *z == zone) {
            Some((_, n)) => *n += 1,
            None => counts.push((zone, 1)),
        }
    }
    let (zone, _) = counts.into_iter().max_by_key(|(_, n)| *n)?;
    rows.iter_mut().filter(|r| r.zone.as_deref() == Some(zone.as_str())).for_each(|r| r.zone = None);
    Some(zone)
}

/// The table's headers; a search's results keep their own order, so its headers are plain. `zone` is the
/// time zone the times are in.
fn headers(tr: Tr, view: View, query: &ListQuery, searching: bool, zone: Option<&str>) -> Vec<Header> {
    let sorts = view.sorts();
    let current = if query.sort.trim().is_empty() { sorts[0] } else { query.sort.trim() };
    let zoned = |key: &str| match zone {
        Some(zone) => tr.t(key).replace("{zone}", zone),
        None => tr.t(key).replace(" ({zone})", "").replace("{zone}", ""),
    };
    let when = match (view, searching) {
        (View::Warranty, false) => tr.t("lists.warranty_left"),
        (View::Closed, false) => zoned("cards.closed_in"),
        _ => zoned("cards.slot_in"),
    };
    let columns = vec![
        ("id", "№".to_string()),
        ("where", tr.t("lists.where")),
        ("category", tr.t("field.category")),
        ("status", tr.t("lists.status")),
        ("when", when),
        ("client", tr.t("cards.client")),
        ("master", tr.t("lists.master")),
        ("amount", tr.t("lists.amount")),
    ];
    columns
        .into_iter()
        .map(|(column, label)| {
            let offered: Vec<(&str, &'static str)> =
                HEADER_SORTS.iter().filter(|(c, key, _)| *c == column && sorts.contains(key)).map(|(_, key, aria)| (*key, *aria)).collect();
            if searching || offered.is_empty() {
                return Header { label, href: None, aria_sort: None };
            }
            let active = offered.iter().position(|(key, _)| *key == current);
            let next = active.map_or(offered[0].0, |i| offered[(i + 1) % offered.len()].0);
            Header { label, href: Some(query.with_sort(view, next)), aria_sort: active.map(|i| offered[i].1) }
        })
        .collect()
}

fn slot_text(tr: Tr, order: &QueueRow) -> String {
    match (order.timeslot_start, order.timeslot_end) {
        (Some(start), Some(end)) => {
            tr.window(start, end, &order.timezone)
        }
        _ => tr.t("web.none"),
    }
}

/// A master found by the search.
pub struct MasterLine {
    pub id: i64,
    pub name: String,
    pub phone: String,
}

/// What the page shows below the forms.
enum Found {
    /// One page of the list.
    List { rows: Vec<Row>, page: i64, pages: i64, total: i64 },
    /// The search's orders and masters.
    Search { rows: Vec<Row>, masters: Vec<MasterLine> },
}

#[derive(Template)]
#[template(path = "web/lists.html")]
struct ListPage {
    c: Chrome,
    view: &'static str,
    query: ListQuery,
    cities: Vec<Choice>,
    categories: Vec<Choice>,
    statuses: Vec<Choice>,
    sizes: Vec<Choice>,
    sorts: Vec<Choice>,
    searches: Vec<Choice>,
    /// The input a refusal is about, and its message.
    error: Option<(&'static str, String)>,
    headers: Vec<Header>,
    rows: Vec<Row>,
    masters: Vec<MasterLine>,
    searching: bool,
    /// The warranty period, days, which the warranty list explains.
    warranty_days: i64,
    page: i64,
    pages: i64,
    total: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
}

impl ListPage {
    fn error_of(&self, input: &str) -> Option<&str> {
        self.error.as_ref().filter(|(field, _)| *field == input).map(|(_, message)| message.as_str())
    }

    /// `aria-invalid` and the link to the message of an input the refusal is about.
    fn aria(&self, input: &str) -> String {
        if self.error_of(input).is_some() { format!(" aria-invalid=\"true\" aria-describedby=\"{input}-error\"") } else { String::new() }
    }
}

async fn get_queue(state: State<AppState>, who: StaffPage, query: Query<ListQuery>) -> Result<Response, WebError> {
    show(state, who, query, View::Queue).await
}

async fn get_warranty(state: State<AppState>, who: StaffPage, query: Query<ListQuery>) -> Result<Response, WebError> {
    show(state, who, query, View::Warranty).await
}

async fn get_closed(state: State<AppState>, who: StaffPage, query: Query<ListQuery>) -> Result<Response, WebError> {
    show(state, who, query, View::Closed).await
}

/// The input of a refusal: the search text for a search, else the filter it names.
fn input_of(error: &Error) -> &'static str {
    match error {
        Error::Invalid { field: "page" | "per_page", .. } => "per_page",
        Error::Invalid { field, .. } => field,
        _ => "q",
    }
}

/// A refusal's text; the list's own filters are named by their labels.
fn message_of(tr: Tr, error: &Error) -> String {
    let label = match error {
        Error::Invalid { field: "status", .. } => "lists.status",
        Error::Invalid { field: "master_id", .. } => "lists.master_id",
        Error::Invalid { field: "date", .. } => "lists.date",
        Error::Invalid { field: "id", .. } => "lists.order_id",
        Error::Invalid { field: "by", .. } => "lists.search_by",
        _ => return error.message(tr.0),
    };
    format!("{}: {}", tr.t(label), tr.t("rule.malformed"))
}

async fn show(State(state): State<AppState>, who: StaffPage, Query(query): Query<ListQuery>, view: View) -> Result<Response, WebError> {
    let tr = who.tr;
    let asked = query.filter(view).and_then(|filter| Ok((filter, query.search()?)));
    let (c, (cities, found, warranty_days)) = page(&state, &who, "orders", move |conn, staff, now| {
        let cities = reference::search_cities(conn, Viewer::Staff(staff), "")?;
        let warranty_days = crate::settings::Settings::load(conn)?.warranty_days;
        let found = asked.and_then(|(filter, search)| match search {
            Some(search) => {
                let result = queue::search(conn, staff, &search)?;
                let rows = result.orders.iter().map(|o| row(tr, o, slot_text(tr, o))).collect();
                let masters = result.masters.into_iter().map(|m| MasterLine { id: m.id, name: m.full_name, phone: m.phone }).collect();
                Ok(Found::Search { rows, masters })
            }
            None => list(conn, staff, now, tr, view, &filter),
        });
        Ok((cities, found, warranty_days))
    })
    .await?;
    let (error, found) = match found {
        Ok(found) => (None, found),
        Err(error @ Error::Invalid { .. }) => (Some(error), Found::List { rows: Vec::new(), page: 1, pages: 1, total: 0 }),
        Err(error) => return Err(who.refused(error)),
    };
    let status = error.as_ref().map_or(axum::http::StatusCode::OK, crate::api::status_of);
    let mut out = ListPage {
        view: view.key(),
        cities: cities.into_iter().map(|city| Choice::of(city.id, city.name, &query.city_id)).collect(),
        categories: Category::ALL.iter().map(|cat| Choice::of(cat, tr.of("category.", cat), &query.category)).collect(),
        statuses: OrderStatus::ALL.iter().map(|s| Choice::of(s, tr.of("status.", s), &query.status)).collect(),
        sizes: {
            let chosen = if query.per_page.trim().is_empty() { DEFAULT_PAGE_SIZE.to_string() } else { query.per_page.clone() };
            PAGE_SIZES.into_iter().map(|n| Choice::of(n, n.to_string(), &chosen)).collect()
        },
        sorts: view.sorts().into_iter().map(|key| Choice::of(key, tr.t(&format!("lists.sort_{key}")), &query.sort)).collect(),
        searches: [("id", "lists.by_id"), ("phone", "lists.by_phone"), ("master", "lists.by_master")]
            .into_iter()
            .map(|(by, key)| Choice::of(by, tr.t(key), &query.by))
            .collect(),
        error: error.map(|e| (input_of(&e), message_of(tr, &e))),
        headers: Vec::new(),
        rows: Vec::new(),
        masters: Vec::new(),
        searching: false,
        warranty_days,
        page: 1,
        pages: 1,
        total: 0,
        prev_href: None,
        next_href: None,
        query,
        c,
    };
    match found {
        Found::List { rows, page: number, pages, total } => {
            out.prev_href = (number > 1).then(|| out.query.with_page(view, number - 1));
            out.next_href = (number < pages).then(|| out.query.with_page(view, number + 1));
            (out.rows, out.page, out.pages, out.total) = (rows, number, pages, total);
        }
        Found::Search { rows, masters } => {
            (out.rows, out.masters, out.searching) = (rows, masters, true);
        }
    }
    let zone = common_zone(&mut out.rows);
    out.headers = headers(tr, view, &out.query, out.searching, zone.as_deref());
    Ok(render_with(status, &out))
}

/// One page of the list `view`.
fn list(conn: &rusqlite::Connection, staff: &crate::staff::Staff, now: DateTime<Utc>, tr: Tr, view: View, filter: &QueueFilter) -> Result<Found, Error> {
    let pages = |total: i64, per_page: i64| ((total + per_page - 1) / per_page).max(1);
    match view {
        View::Queue => {
            let found = queue::list(conn, staff, filter)?;
            let rows = found.items.iter().map(|o| row(tr, o, slot_text(tr, o))).collect();
            Ok(Found::List { rows, page: found.page, pages: pages(found.total, found.per_page), total: found.total })
        }
        View::Warranty | View::Closed => {
            let list = if view == View::Warranty { ClosedList::Warranty } else { ClosedList::Closed };
            let found = queue::list_closed(conn, staff, now, list, filter)?;
            let rows = found
                .items
                .iter()
                .map(|closed| {
                    let zone = &closed.order.timezone;
                    let when = match (closed.warranty_until, closed.closed_at) {
                        (Some(until), _) => tr.t("lists.warranty_days").replace("{days}", &(until - now).num_days().max(0).to_string()),
                        // The header says "Closed (zone)": the row gives the date and time only.
                        (None, Some(at)) => tr.date_time(at, zone),
                        (None, None) => tr.t("web.none"),
                    };
                    Row { amount: tr.money(closed.amount_kop), ..row(tr, &closed.order, when) }
                })
                .collect();
            Ok(Found::List { rows, page: found.page, pages: pages(found.total, found.per_page), total: found.total })
        }
    }
}
