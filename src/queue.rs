//! The staff order queue: the list with the filters of product.md §2.9 and the search by order id, client
//! phone or master. Always within the staff member's cities (an empty scope sees nothing). The SQL is put
//! together from fixed fragments; every value is a bound parameter.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use crate::cities;
use crate::db::{at, ms};
use crate::domain::{Category, CityId, MasterId, OrderId, OrderStatus, OrderType, StaffRole};
use crate::error::{Result, invalid};
use crate::staff::Staff;

/// The statuses of the queue when no status filter is given (product.md §2.9).
pub const QUEUE_STATUSES: [OrderStatus; 7] = [
    OrderStatus::Searching,
    OrderStatus::Assigned,
    OrderStatus::EnRoute,
    OrderStatus::Working,
    OrderStatus::Payment,
    OrderStatus::Guarantee,
    OrderStatus::Deferred,
];
/// Rows per page unless asked otherwise.
pub const DEFAULT_PER_PAGE: i64 = 10;
/// The largest page.
pub const MAX_PER_PAGE: i64 = 100;
/// Orders a search returns at most.
pub const SEARCH_ORDERS: usize = 20;
/// Masters a search returns at most.
pub const SEARCH_MASTERS: usize = 10;

/// A page request: `page` from 1, `per_page` 1..=100.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageRequest {
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Rows per page, 1 to 100 (default 10).
    pub per_page: Option<i64>,
}

impl PageRequest {
    /// The checked page and page size.
    pub fn resolve(&self) -> Result<(i64, i64)> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=1_000_000).contains(&page) {
            return Err(invalid("page", "range:1:1000000"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(invalid("per_page", format!("range:1:{MAX_PER_PAGE}")));
        }
        Ok((page, per_page))
    }
}

/// The queue filters (product.md §2.9, decisions §B.25).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueFilter {
    /// Only this city (a city outside the caller's scope yields an empty list).
    pub city_id: Option<CityId>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only this status; by default the queue statuses (SEARCHING, ASSIGNED, EN_ROUTE, WORKING, PAYMENT,
    /// GUARANTEE, DEFERRED).
    pub status: Option<OrderStatus>,
    /// Only orders of this master.
    pub master_id: Option<MasterId>,
    /// Only orders whose visit window starts on this city-local date (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    pub date: Option<NaiveDate>,
    /// Only this order.
    pub id: Option<OrderId>,
    /// The order of the rows. The queue: `created` (newest first, the default), `created_asc`, `slot`
    /// (visit window start, soonest first, orders without a slot last), `slot_desc`, `id`, `id_desc`,
    /// `status` (in the order of the queue statuses). The closed lists: `closed` (last closed first, the
    /// default), `closed_asc`, `amount` (largest first), `amount_asc`, `id`, `id_desc`.
    pub sort: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Rows per page, 1 to 100 (default 10).
    pub per_page: Option<i64>,
}

/// The queue's sort keys and their ORDER BY clauses, the default first. Only these fixed texts reach the
/// SQL, never the caller's.
const QUEUE_SORTS: [(&str, &str); 7] = [
    ("created", "o.created_at DESC, o.id DESC"),
    ("created_asc", "o.created_at, o.id"),
    ("slot", "o.timeslot_start IS NULL, o.timeslot_start, o.id"),
    ("slot_desc", "o.timeslot_start IS NULL, o.timeslot_start DESC, o.id DESC"),
    ("id", "o.id"),
    ("id_desc", "o.id DESC"),
    (
        "status",
        "CASE o.status WHEN 'SEARCHING' THEN 0 WHEN 'ASSIGNED' THEN 1 WHEN 'EN_ROUTE' THEN 2 WHEN 'WORKING' THEN 3
            WHEN 'PAYMENT' THEN 4 WHEN 'GUARANTEE' THEN 5 WHEN 'DEFERRED' THEN 6 ELSE 7 END, o.created_at DESC, o.id DESC",
    ),
];

/// The closed lists' sort keys and their ORDER BY clauses, the default first.
const CLOSED_SORTS: [(&str, &str); 6] = [
    ("closed", "o.closed_at DESC, o.id DESC"),
    ("closed_asc", "o.closed_at IS NULL, o.closed_at, o.id"),
    ("amount", "o.total_sum_kop DESC, o.id DESC"),
    ("amount_asc", "o.total_sum_kop, o.id"),
    ("id", "o.id"),
    ("id_desc", "o.id DESC"),
];

/// The queue's sort keys, the default first.
pub fn queue_sorts() -> impl Iterator<Item = &'static str> {
    QUEUE_SORTS.iter().map(|(key, _)| *key)
}

/// The closed lists' sort keys, the default first.
pub fn closed_sorts() -> impl Iterator<Item = &'static str> {
    CLOSED_SORTS.iter().map(|(key, _)| *key)
}

/// The ORDER BY clause of `sort` among `sorts`: the first one when none is asked, an unknown key refused.
fn order_by(sorts: &[(&str, &'static str)], sort: Option<&str>) -> Result<&'static str> {
    match sort {
        None => Ok(sorts[0].1),
        Some(key) => sorts.iter().find(|(k, _)| *k == key).map(|(_, clause)| *clause).ok_or_else(|| invalid("sort", "unknown")),
    }
}

/// One line of the queue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueRow {
    /// Order id.
    pub id: OrderId,
    /// City.
    pub city_id: CityId,
    /// City name.
    pub city: String,
    /// The city's time zone (for showing the slot).
    pub timezone: String,
    /// District name.
    pub district: Option<String>,
    /// Street name.
    pub street: Option<String>,
    /// House.
    pub house: Option<String>,
    /// Category.
    pub category: Category,
    /// Status.
    pub status: OrderStatus,
    /// NORMAL or GUARANTEE.
    pub order_type: OrderType,
    /// Visit window start.
    pub timeslot_start: Option<DateTime<Utc>>,
    /// Visit window end.
    pub timeslot_end: Option<DateTime<Utc>>,
    /// The assigned master.
    pub master_id: Option<MasterId>,
    /// His name.
    pub master_name: Option<String>,
    /// Client name.
    pub client_name: String,
    /// Client phone.
    pub client_phone: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Amount the master entered at closing, kopecks (0 until then).
    pub total_sum_kop: i64,
}

/// A page of the queue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct QueuePage {
    /// The rows in the order asked (newest created first by default).
    pub items: Vec<QueueRow>,
    /// This page, from 1.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// Rows matching the filters.
    pub total: i64,
}

const ROW_SELECT: &str = "SELECT o.id, o.city_id, c.name, c.timezone, d.name, s.name, o.house, o.category, o.status, o.type,
        o.timeslot_start, o.timeslot_end, o.assigned_master_id, m.full_name, o.client_name, o.client_phone, o.created_at,
        o.total_sum_kop
    FROM orders o JOIN cities c ON c.id = o.city_id
    LEFT JOIN districts d ON d.id = o.district_id
    LEFT JOIN streets s ON s.id = o.street_id
    LEFT JOIN masters m ON m.id = o.assigned_master_id";

fn queue_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueRow> {
    let time = |i: usize| r.get::<_, Option<i64>>(i).map(|v| v.map(at));
    Ok(QueueRow {
        id: r.get(0)?,
        city_id: r.get(1)?,
        city: r.get(2)?,
        timezone: r.get(3)?,
        district: r.get(4)?,
        street: r.get(5)?,
        house: r.get(6)?,
        category: r.get(7)?,
        status: r.get(8)?,
        order_type: r.get(9)?,
        timeslot_start: time(10)?,
        timeslot_end: time(11)?,
        master_id: r.get(12)?,
        master_name: r.get(13)?,
        client_name: r.get(14)?,
        client_phone: r.get(15)?,
        created_at: at(r.get(16)?),
        total_sum_kop: r.get(17)?,
    })
}

/// A WHERE clause built from fixed fragments, with its bound values.
#[derive(Default)]
struct Where {
    clauses: Vec<&'static str>,
    values: Vec<SqlValue>,
}

impl Where {
    fn add(&mut self, clause: &'static str, values: impl IntoIterator<Item = SqlValue>) {
        self.clauses.push(clause);
        self.values.extend(values);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

/// The staff member's cities as a JSON array for `json_each`, or `None` for a global admin (all cities).
fn scope(staff: &Staff) -> Option<String> {
    (staff.role != StaffRole::GlobalAdmin).then(|| serde_json::to_string(&staff.cities).unwrap_or_else(|_| "[]".into()))
}

/// The first instant of `date` on the local clock of `tz` (a midnight skipped by DST: the first valid one after).
pub(crate) fn local_midnight(tz: chrono_tz::Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut naive = date.and_time(NaiveTime::MIN);
    loop {
        if let Some(local) = tz.from_local_datetime(&naive).earliest() {
            return local.with_timezone(&Utc);
        }
        naive += Duration::minutes(15);
    }
}

/// For every time zone in use, the UTC bounds of the local `date`: `[[zone, from, to], …]` as JSON.
fn date_bounds(conn: &Connection, date: NaiveDate) -> Result<String> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT timezone FROM cities")?;
    let zones: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    let next = date.succ_opt().unwrap_or(date);
    let bounds: Vec<serde_json::Value> = zones
        .into_iter()
        .map(|zone| {
            let tz = cities::parse_zone(&zone);
            serde_json::json!([zone, ms(local_midnight(tz, date)), ms(local_midnight(tz, next))])
        })
        .collect();
    Ok(serde_json::Value::Array(bounds).to_string())
}

/// The queue's statuses, when its filter names none.
const QUEUE_STATUSES_SQL: &str = "o.status IN ('SEARCHING', 'ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT', 'GUARANTEE', 'DEFERRED')";

fn filter_clauses(conn: &Connection, staff: &Staff, filter: &QueueFilter) -> Result<Where> {
    filter_clauses_in(conn, staff, filter, QUEUE_STATUSES_SQL)
}

/// The filter's clauses; `statuses` is the clause that applies when the filter names no status.
fn filter_clauses_in(conn: &Connection, staff: &Staff, filter: &QueueFilter, statuses: &'static str) -> Result<Where> {
    let mut w = Where::default();
    if let Some(cities) = scope(staff) {
        w.add("o.city_id IN (SELECT value FROM json_each(?))", [SqlValue::Text(cities)]);
    }
    if let Some(city) = filter.city_id {
        w.add("o.city_id = ?", [SqlValue::Integer(city)]);
    }
    if let Some(category) = filter.category {
        w.add("o.category = ?", [SqlValue::Text(category.as_str().into())]);
    }
    match filter.status {
        Some(status) => w.add("o.status = ?", [SqlValue::Text(status.as_str().into())]),
        None => w.add(statuses, []),
    }
    if let Some(master) = filter.master_id {
        w.add("o.assigned_master_id = ?", [SqlValue::Integer(master)]);
    }
    if let Some(id) = filter.id {
        w.add("o.id = ?", [SqlValue::Integer(id)]);
    }
    match filter.date {
        // No visit window lies that far off, and such a date could overflow the time-zone arithmetic.
        Some(date) if !(1970..=9999).contains(&date.year()) => w.add("0", []),
        Some(date) => w.add(
            "EXISTS (SELECT 1 FROM json_each(?) j WHERE json_extract(j.value, '$[0]') = c.timezone
                 AND o.timeslot_start >= json_extract(j.value, '$[1]') AND o.timeslot_start < json_extract(j.value, '$[2]'))",
            [SqlValue::Text(date_bounds(conn, date)?)],
        ),
        None => {}
    }
    Ok(w)
}

/// One page of the queue for `staff` in the order of `filter.sort` (newest created first by default).
pub fn list(conn: &Connection, staff: &Staff, filter: &QueueFilter) -> Result<QueuePage> {
    let (page, per_page) = PageRequest { page: filter.page, per_page: filter.per_page }.resolve()?;
    let order = order_by(&QUEUE_SORTS, filter.sort.as_deref())?;
    let w = filter_clauses(conn, staff, filter)?;
    let count_sql = format!("SELECT COUNT(*) FROM orders o JOIN cities c ON c.id = o.city_id{}", w.sql());
    let total: i64 = conn.prepare_cached(&count_sql)?.query_row(rusqlite::params_from_iter(&w.values), |r| r.get(0))?;
    // The page's ids first, then the joins for those rows only: joining every match before the sort
    // made the list's cost grow with the whole queue.
    let sql = format!(
        "{ROW_SELECT} WHERE o.id IN (SELECT o.id FROM orders o JOIN cities c ON c.id = o.city_id{}
             ORDER BY {order} LIMIT ? OFFSET ?)
         ORDER BY {order}",
        w.sql()
    );
    let mut values = w.values;
    values.push(SqlValue::Integer(per_page));
    values.push(SqlValue::Integer((page - 1) * per_page));
    let items = conn.prepare_cached(&sql)?.query_map(rusqlite::params_from_iter(&values), queue_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(QueuePage { items, page, per_page, total })
}

/// What a search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchBy {
    /// An order id.
    Id,
    /// A client phone (at least 10 digits).
    Phone,
    /// A master: id, name fragment or phone.
    Master,
}

/// A search request.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Order id, client phone (≥ 10 digits), master id, name or phone.
    pub q: String,
    /// Restrict to one kind; by default digits are an order or master id, 10+ digits a phone, text a master name.
    // Inline: the enum is not a component of the document, so a `$ref` to it would dangle.
    #[param(inline)]
    pub by: Option<SearchBy>,
}

/// A master found by a search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MasterHit {
    /// Id.
    pub id: MasterId,
    /// Full name.
    pub full_name: String,
    /// Phone.
    pub phone: String,
    /// City.
    pub city_id: Option<CityId>,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    /// Orders, newest first (at most 20): by id, by client phone, or of the one master found.
    pub orders: Vec<QueueRow>,
    /// Masters (at most 10).
    pub masters: Vec<MasterHit>,
}

/// Searches the caller's cities (product.md §2.9, decisions §B.23): an order by id, orders by client phone
/// (≥ 10 digits, substring on the digits), masters by id, name fragment or phone; one master found brings
/// his orders.
pub fn search(conn: &Connection, staff: &Staff, query: &SearchQuery) -> Result<SearchResult> {
    let q = query.q.trim();
    if q.is_empty() || q.chars().count() > 100 {
        return Err(invalid("q", "length:1:100"));
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let numeric = q.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) && !digits.is_empty();
    let plain_number = q.chars().all(|c| c.is_ascii_digit());
    let id = || digits.parse::<i64>().map_err(|_| invalid("q", "unknown"));
    let mut found = SearchResult::default();
    match query.by {
        Some(SearchBy::Id) => {
            if !plain_number {
                return Err(invalid("q", "unknown"));
            }
            found.orders = orders_where(conn, staff, "o.id = ?", vec![SqlValue::Integer(id()?)])?;
        }
        Some(SearchBy::Phone) => {
            if !numeric || digits.len() < 10 {
                return Err(invalid("q", "phone_digits"));
            }
            found.orders = orders_by_phone(conn, staff, &digits)?;
        }
        Some(SearchBy::Master) => found.masters = masters(conn, staff, q, &digits, numeric, plain_number)?,
        None if numeric && digits.len() >= 10 => {
            found.orders = orders_by_phone(conn, staff, &digits)?;
            found.masters = masters(conn, staff, q, &digits, numeric, plain_number)?;
        }
        None if plain_number => {
            found.orders = orders_where(conn, staff, "o.id = ?", vec![SqlValue::Integer(id()?)])?;
            found.masters = masters(conn, staff, q, &digits, numeric, plain_number)?;
        }
        None if numeric => return Err(invalid("q", "phone_digits")),
        None => found.masters = masters(conn, staff, q, &digits, numeric, plain_number)?,
    }
    if let [master] = found.masters.as_slice() {
        for row in orders_where(conn, staff, "o.assigned_master_id = ?", vec![SqlValue::Integer(master.id)])? {
            if found.orders.len() < SEARCH_ORDERS && !found.orders.iter().any(|o| o.id == row.id) {
                found.orders.push(row);
            }
        }
    }
    Ok(found)
}

/// Orders in scope matching one clause, newest first, at most [`SEARCH_ORDERS`].
fn orders_where(conn: &Connection, staff: &Staff, clause: &'static str, values: Vec<SqlValue>) -> Result<Vec<QueueRow>> {
    let mut w = Where::default();
    if let Some(cities) = scope(staff) {
        w.add("o.city_id IN (SELECT value FROM json_each(?))", [SqlValue::Text(cities)]);
    }
    w.add(clause, values);
    let sql = format!("{ROW_SELECT}{} ORDER BY o.created_at DESC, o.id DESC LIMIT ?", w.sql());
    let mut values = w.values;
    values.push(SqlValue::Integer(SEARCH_ORDERS as i64));
    Ok(conn.prepare(&sql)?.query_map(rusqlite::params_from_iter(&values), queue_row)?.collect::<rusqlite::Result<_>>()?)
}

/// The digits to look for in stored `+7XXXXXXXXXX` numbers: all the digits typed, and their last ten (so that
/// `8 999 …` finds `+7 999 …`).
fn phone_needles(digits: &str) -> (String, String) {
    let last10 = digits[digits.len().saturating_sub(10)..].to_string();
    (digits.to_string(), last10)
}

fn orders_by_phone(conn: &Connection, staff: &Staff, digits: &str) -> Result<Vec<QueueRow>> {
    let (all, last10) = phone_needles(digits);
    orders_where(
        conn,
        staff,
        "(instr(replace(o.client_phone, '+', ''), ?) > 0 OR instr(replace(o.client_phone, '+', ''), ?) > 0)",
        vec![SqlValue::Text(all), SqlValue::Text(last10)],
    )
}

/// Masters in scope (not deleted) by id, phone digits or a name fragment (case-insensitive).
fn masters(conn: &Connection, staff: &Staff, q: &str, digits: &str, numeric: bool, plain_number: bool) -> Result<Vec<MasterHit>> {
    let mut w = Where::default();
    w.add("m.is_deleted = 0", []);
    if let Some(cities) = scope(staff) {
        w.add("m.city_id IN (SELECT value FROM json_each(?))", [SqlValue::Text(cities)]);
    }
    let by_text = !numeric;
    if numeric && digits.len() >= 10 {
        let (all, last10) = phone_needles(digits);
        w.add(
            "(instr(replace(m.phone, '+', ''), ?) > 0 OR instr(replace(m.phone, '+', ''), ?) > 0)",
            [SqlValue::Text(all), SqlValue::Text(last10)],
        );
    } else if plain_number {
        w.add("m.id = ?", [SqlValue::Integer(digits.parse::<i64>().map_err(|_| invalid("q", "unknown"))?)]);
    } else if numeric {
        return Err(invalid("q", "phone_digits"));
    }
    let sql = format!("SELECT m.id, m.full_name, m.phone, m.city_id FROM masters m{} ORDER BY m.full_name, m.id", w.sql());
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(&w.values), |r| {
        Ok(MasterHit { id: r.get(0)?, full_name: r.get(1)?, phone: r.get(2)?, city_id: r.get(3)? })
    })?;
    // SQLite folds case for ASCII only; names are Cyrillic, so the fragment is matched here.
    let needle = q.to_lowercase();
    let mut hits = Vec::new();
    for hit in rows {
        let hit = hit?;
        if !by_text || hit.full_name.to_lowercase().contains(&needle) {
            hits.push(hit);
            if hits.len() == SEARCH_MASTERS {
                break;
            }
        }
    }
    Ok(hits)
}

/// The two lists of closed orders (product.md §2.9, issue 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedList {
    /// Closed normal orders still under warranty: closed less than `warranty_days` ago.
    Warranty,
    /// Every order whose job is done: CLOSED, and PAYMENT — closed by the master, the commission not yet
    /// paid — so a just-closed order is found here at once (it also stays in the queue until paid).
    Closed,
}

/// A closed order in one of the closed lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedRow {
    /// The order, as the queue shows it.
    pub order: QueueRow,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Until when it is under warranty (the warranty list only).
    pub warranty_until: Option<DateTime<Utc>>,
    /// What the client paid, in kopecks.
    pub amount_kop: i64,
}

/// A page of a closed list.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedPage {
    /// The rows in the order asked (last closed first by default).
    pub items: Vec<ClosedRow>,
    /// This page, from 1.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// Rows matching the filters.
    pub total: i64,
}

/// One page of a closed list for `staff` with the queue's filters (its status filter aside), in the order of
/// `filter.sort` (last closed first by default). The warranty window counts from closing, as for guarantee
/// orders (decisions §B.10, §B.12).
pub fn list_closed(conn: &Connection, staff: &Staff, now: DateTime<Utc>, list: ClosedList, filter: &QueueFilter) -> Result<ClosedPage> {
    let (page, per_page) = PageRequest { page: filter.page, per_page: filter.per_page }.resolve()?;
    let order = order_by(&CLOSED_SORTS, filter.sort.as_deref())?;
    let warranty_days = crate::settings::Settings::load(conn)?.warranty_days;
    let since = SqlValue::Integer(ms(now - Duration::days(warranty_days)));
    let status = (list == ClosedList::Warranty).then_some(OrderStatus::Closed);
    let filter = QueueFilter { status, ..filter.clone() };
    let mut w = filter_clauses_in(conn, staff, &filter, "o.status IN ('CLOSED', 'PAYMENT')")?;
    if list == ClosedList::Warranty {
        w.add("o.type = 'NORMAL' AND o.closed_at > ?", [since]);
    }
    let count_sql = format!("SELECT COUNT(*) FROM orders o JOIN cities c ON c.id = o.city_id{}", w.sql());
    let total: i64 = conn.prepare_cached(&count_sql)?.query_row(rusqlite::params_from_iter(&w.values), |r| r.get(0))?;
    let page_sql = format!(
        "SELECT o.id, o.closed_at, o.total_sum_kop FROM orders o JOIN cities c ON c.id = o.city_id{} ORDER BY {order} LIMIT ? OFFSET ?",
        w.sql()
    );
    let mut values = w.values;
    values.push(SqlValue::Integer(per_page));
    values.push(SqlValue::Integer((page - 1) * per_page));
    let closed: Vec<(OrderId, Option<i64>, i64)> = conn
        .prepare_cached(&page_sql)?
        .query_map(rusqlite::params_from_iter(&values), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let ids = serde_json::to_string(&closed.iter().map(|(id, ..)| *id).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
    let mut rows: std::collections::HashMap<OrderId, QueueRow> = conn
        .prepare_cached(&format!("{ROW_SELECT} WHERE o.id IN (SELECT value FROM json_each(?1))"))?
        .query_map([ids], queue_row)?
        .map(|row| row.map(|row| (row.id, row)))
        .collect::<rusqlite::Result<_>>()?;
    let items = closed
        .into_iter()
        .filter_map(|(id, closed_at, amount_kop)| {
            let closed_at = closed_at.map(at);
            let warranty_until = (list == ClosedList::Warranty).then(|| closed_at.map(|t| t + Duration::days(warranty_days))).flatten();
            rows.remove(&id).map(|order| ClosedRow { order, closed_at, warranty_until, amount_kop })
        })
        .collect();
    Ok(ClosedPage { items, page, per_page, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_needles_keep_the_last_ten_digits() {
        assert_eq!(phone_needles("89991234567"), ("89991234567".into(), "9991234567".into()));
        assert_eq!(phone_needles("9991234567"), ("9991234567".into(), "9991234567".into()));
    }

    #[test]
    fn page_bounds() {
        assert_eq!(PageRequest::default().resolve().unwrap(), (1, DEFAULT_PER_PAGE));
        assert_eq!(PageRequest { page: Some(3), per_page: Some(100) }.resolve().unwrap(), (3, 100));
        for (page, per_page) in [(0, 10), (1, 0), (1, 101), (-1, 10)] {
            assert!(PageRequest { page: Some(page), per_page: Some(per_page) }.resolve().is_err(), "{page}/{per_page}");
        }
    }

    #[test]
    fn the_default_status_clause_is_the_queue() {
        let w = filter_clauses(&Connection::open_in_memory().unwrap(), &global(), &QueueFilter::default()).unwrap();
        let clause = w.clauses.iter().find(|c| c.starts_with("o.status IN")).unwrap();
        for status in QUEUE_STATUSES {
            assert!(clause.contains(&format!("'{status}'")), "{status}");
        }
        assert_eq!(clause.matches('\'').count(), QUEUE_STATUSES.len() * 2);
    }

    #[test]
    fn sorts_are_fixed_clauses_and_unknown_keys_are_refused() {
        assert_eq!(order_by(&QUEUE_SORTS, None).unwrap(), "o.created_at DESC, o.id DESC");
        assert_eq!(order_by(&CLOSED_SORTS, None).unwrap(), "o.closed_at DESC, o.id DESC");
        assert_eq!(order_by(&QUEUE_SORTS, Some("id")).unwrap(), "o.id");
        for (sorts, key) in [(&QUEUE_SORTS[..], "closed"), (&CLOSED_SORTS[..], "slot"), (&QUEUE_SORTS[..], "o.id; DROP TABLE orders")] {
            assert!(matches!(order_by(sorts, Some(key)), Err(crate::error::Error::Invalid { field: "sort", .. })), "{key}");
        }
        let status = order_by(&QUEUE_SORTS, Some("status")).unwrap();
        let positions: Vec<usize> = QUEUE_STATUSES.iter().map(|s| status.find(&format!("'{s}'")).unwrap()).collect();
        assert!(positions.is_sorted(), "the status sort follows the queue statuses");
    }

    fn global() -> Staff {
        Staff { id: 1, login: "root".into(), role: StaffRole::GlobalAdmin, cities: vec![] }
    }

    #[test]
    fn local_midnight_follows_the_zone() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(local_midnight(chrono_tz::Europe::Moscow, date), Utc.with_ymd_and_hms(2026, 3, 9, 21, 0, 0).unwrap());
        assert_eq!(local_midnight(chrono_tz::Asia::Vladivostok, date), Utc.with_ymd_and_hms(2026, 3, 9, 14, 0, 0).unwrap());
    }
}

/// How many finished orders the master card lists.
pub const RECENT_ORDERS: i64 = 10;

/// A finished order of a master.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FinishedOrder {
    /// The order, as the queue shows it.
    #[serde(flatten)]
    pub order: QueueRow,
    /// When it was closed, or cancelled.
    pub finished_at: DateTime<Utc>,
}

/// A master's orders as his card shows them (issue 12).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MasterOrders {
    /// His active orders (ASSIGNED, EN_ROUTE, WORKING, PAYMENT), the visit soonest first.
    pub active: Vec<QueueRow>,
    /// His last 10 closed or cancelled orders, the latest first.
    pub recent: Vec<FinishedOrder>,
}

/// The orders of a master the staff member sees, within the staff member's cities.
pub fn of_master(conn: &Connection, staff: &Staff, master: MasterId) -> Result<MasterOrders> {
    crate::moderation::ensure_visible(conn, staff, master)?;
    let cities = scope(staff);
    let active_sql = format!(
        "{ROW_SELECT} WHERE o.assigned_master_id = ?1 AND o.status IN ('ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT')
           AND (?2 IS NULL OR o.city_id IN (SELECT value FROM json_each(?2)))
         ORDER BY o.timeslot_start IS NULL, o.timeslot_start, o.id"
    );
    let active = conn.prepare_cached(&active_sql)?.query_map(rusqlite::params![master, cities], queue_row)?.collect::<rusqlite::Result<_>>()?;
    // The finished time is one more column after the queue row's.
    let select = ROW_SELECT.replacen("\n    FROM orders o", ", COALESCE(o.closed_at, o.updated_at)\n    FROM orders o", 1);
    let recent_sql = format!(
        "{select} WHERE o.assigned_master_id = ?1 AND o.status IN ('CLOSED', 'CANCELED')
           AND (?2 IS NULL OR o.city_id IN (SELECT value FROM json_each(?2)))
         ORDER BY COALESCE(o.closed_at, o.updated_at) DESC, o.id DESC LIMIT ?3"
    );
    let recent = conn
        .prepare_cached(&recent_sql)?
        .query_map(rusqlite::params![master, cities, RECENT_ORDERS], |r| Ok(FinishedOrder { order: queue_row(r)?, finished_at: at(r.get(18)?) }))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(MasterOrders { active, recent })
}
