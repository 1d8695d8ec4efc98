//! The exports of product.md §4.7 (decisions §B.20, §B.21): orders, commissions and referral rewards of a
//! period of the operator's days, in the caller's cities, as CSV or XLSX, with exactly the columns of the
//! §4.7 table. Rows are read from SQLite in chunks of [`CHUNK`] (by `created_at`, then id) on a pooled
//! connection taken for each chunk only, and written out as they come, so memory stays the same whatever
//! the period: the CSV goes straight to its writer, the XLSX through the writer's constant-memory mode.
//!
//! Formula injection (OWASP "CSV injection"): a text cell that starts with `=`, `+`, `-`, `@`, tab or CR
//! would be taken for a formula by a spreadsheet. In the CSV such a cell gets a leading `'` (the only
//! neutraliser a CSV has); in the XLSX the value is kept exactly and the cell gets Excel's own "quote
//! prefix" flag, which makes it text even when edited. Phones (`+7…`) are typed by users and start with
//! `+`, so they are neutralised too; numbers and instants are ours and never are.

use std::io::{Seek, Write};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, Row, params};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Scope;
use super::period::Days;
use crate::db::{Db, at, ms};
use crate::domain::CityId;
use crate::error::{Error, Result};
use crate::staff::Staff;

/// Rows read per chunk: big enough that the per-query cost vanishes, small enough to be nothing in memory.
pub const CHUNK: usize = 1000;

/// One of the three exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Export {
    /// Orders created in the period.
    Orders,
    /// Commissions created in the period.
    Commissions,
    /// Referral rewards created in the period.
    RefRewards,
}

impl Export {
    /// Every export, in the order the page offers them.
    pub const ALL: [Self; 3] = [Self::Orders, Self::Commissions, Self::RefRewards];

    /// The file name's prefix, the XLSX sheet's name and the name in links (`export.<name>` in the catalogs).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Commissions => "commissions",
            Self::RefRewards => "ref_rewards",
        }
    }

    /// Parses its name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// Its columns, in the order of §4.7.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Orders => &ORDERS,
            Self::Commissions => &COMMISSIONS,
            Self::RefRewards => &REF_REWARDS,
        }
    }
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// UTF-8 with BOM, `;`-separated.
    Csv,
    /// One sheet.
    Xlsx,
}

impl FileFormat {
    /// Both, in the order the page offers them.
    pub const ALL: [Self; 2] = [Self::Csv, Self::Xlsx];

    /// The file name's extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }

    /// Parses its extension.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The `Content-Type` of a file of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// The columns of §4.7, in order.
const ORDERS: [&str; 22] = [
    "order_id", "created_at_utc", "closed_at_utc", "city", "district", "street", "house", "lat", "lon", "category", "status", "type",
    "timeslot_start_utc", "timeslot_end_utc", "late_visit", "company_payment", "total_sum", "user_name", "user_phone", "master_name",
    "master_phone", "cancel_reason",
];
const COMMISSIONS: [&str; 17] = [
    "commission_id", "order_id", "master_id", "master_name", "master_phone", "amount", "rate", "created_at_utc", "deadline_at_utc",
    "paid_reported_at_utc", "paid_approved_at_utc", "paid_amount", "is_paid", "has_checks", "snapshot_methods",
    "snapshot_card_number_last4", "snapshot_sbp_phone_masked",
];
const REF_REWARDS: [&str; 7] = ["reward_id", "master_id", "order_id", "commission_id", "level", "amount", "created_at_utc"];

/// An export checked and ready to run: which, which instants, which cities.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which export.
    pub export: Export,
    /// The operator's days it covers.
    pub days: Days,
    /// The cities it counts (the reports' rule).
    scope: Scope,
}

/// Checks who asks and for which city: admins only; a city outside the caller's is "not found". A city
/// admin without cities gets an empty export, never every city (§4.7 ⚠, decisions §B.21).
pub fn prepare(staff: &Staff, export: Export, days: Days, city: Option<CityId>) -> Result<Job> {
    Ok(Job { export, days, scope: Scope::of(staff, city)? })
}

/// The download's name: `<prefix>_YYYYMMDDTHHMMSSZ.csv|xlsx`, stamped with the time it was made.
pub fn file_name(export: Export, format: FileFormat, now: DateTime<Utc>) -> String {
    format!("{}_{}.{}", export.as_str(), now.format("%Y%m%dT%H%M%SZ"), format.as_str())
}

/// One cell's value, before it is written in either format.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// NULL: empty.
    Empty,
    /// An integer (ids, level, whole roubles).
    Int(i64),
    /// Kopecks, written as roubles with 2 decimals.
    Kopecks(i64),
    /// A fraction with 2 decimals (a rate).
    Fraction(f64),
    /// A coordinate with 6 decimals.
    Coordinate(f64),
    /// `true` / `false`.
    Bool(bool),
    /// An instant, as ISO-8601 UTC text with `Z` and no fractions.
    Instant(DateTime<Utc>),
    /// Text as stored.
    Text(String),
}

impl Cell {
    /// The CSV text of the cell.
    fn csv(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Int(n) => n.to_string(),
            Self::Kopecks(kop) => rubles(*kop),
            Self::Fraction(x) => format!("{x:.2}"),
            Self::Coordinate(x) => format!("{x:.6}"),
            Self::Bool(b) => b.to_string(),
            Self::Instant(t) => iso(*t),
            Self::Text(text) if is_formula_like(text) => format!("'{text}"),
            Self::Text(text) => text.clone(),
        }
    }
}

/// Kopecks as roubles with a dot and 2 decimals (`350050` → `3500.50`).
fn rubles(kop: i64) -> String {
    let sign = if kop < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", kop.unsigned_abs() / 100, kop.unsigned_abs() % 100)
}

/// ISO-8601 UTC with `Z`, whole seconds.
fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether a spreadsheet would read this text as a formula (OWASP's list of leading characters).
pub fn is_formula_like(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// The rows of `job` in order, chunk by chunk: `each` gets every row; the pooled connection is held for
/// one chunk's query only, so a slow download never pins one.
fn for_each_row(db: &Db, job: &Job, mut each: impl FnMut(&[Cell]) -> Result<(), ExportError>) -> Result<(), ExportError> {
    let (start, end) = job.days.bounds();
    let mut after: (i64, i64) = (i64::MIN, i64::MIN);
    loop {
        // The range starts at the last row read, so each chunk seeks in the index instead of rescanning.
        let from = ms(start).max(after.0);
        let chunk = db.read(|conn| read_chunk(conn, job, from, ms(end), after)).map_err(ExportError::Rules)?;
        for (_, cells) in &chunk {
            each(cells)?;
        }
        match chunk.last() {
            Some((key, _)) if chunk.len() == CHUNK => after = *key,
            _ => return Ok(()),
        }
    }
}

/// The scope's `WHERE` on `o` (the order the row belongs to) and the period's on `{t}.created_at`, after the
/// keyset position: `?1` start, `?2` end, `?3`/`?4` the last (created_at, id) read, `?5` every city, `?6` the
/// cities, `?7` the chunk's size.
fn scoped(table: &str) -> String {
    format!(
        "{table}.created_at >= ?1 AND {table}.created_at < ?2 AND ({table}.created_at, {table}.id) > (?3, ?4)
         AND (?5 OR o.city_id IN (SELECT value FROM json_each(?6)))
         ORDER BY {table}.created_at, {table}.id LIMIT ?7"
    )
}

type Keyed = ((i64, i64), Vec<Cell>);

/// Reads one row's cells (after the two keyset columns) on the operator's clock.
type RowReader = fn(&Row<'_>, Tz) -> rusqlite::Result<Vec<Cell>>;

fn read_chunk(conn: &Connection, job: &Job, start: i64, end: i64, after: (i64, i64)) -> Result<Vec<Keyed>> {
    let (sql, row): (String, RowReader) = match job.export {
        Export::Orders => (format!("{ORDERS_SQL} WHERE {}", scoped("o")), order_row),
        Export::Commissions => (format!("{COMMISSIONS_SQL} WHERE {}", scoped("c")), commission_row),
        Export::RefRewards => (format!("{REF_REWARDS_SQL} WHERE {}", scoped("rr")), reward_row),
    };
    let tz = job.days.tz;
    let args = params![start, end, after.0, after.1, job.scope.all, job.scope.cities, CHUNK as i64];
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(args, |r| Ok(((r.get(0)?, r.get(1)?), row(r, tz)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Orders; columns 0–1 are the keyset (created_at, id), then what [`order_row`] reads.
const ORDERS_SQL: &str = "SELECT o.created_at, o.id,
        (SELECT MAX(h.created_at) FROM order_status_history h WHERE h.order_id = o.id AND h.to_status = 'CLOSED'),
        ci.name, d.name, s.name, o.house, o.lat, o.lon, o.category, o.status, o.type, o.timeslot_start, o.timeslot_end,
        o.updated_at, o.company_payment_kop, o.total_sum_kop, o.client_name, o.client_phone, m.full_name, m.phone,
        (SELECT h.reason FROM order_status_history h WHERE h.order_id = o.id AND h.to_status = 'CANCELED'
          ORDER BY h.created_at DESC, h.id DESC LIMIT 1)
     FROM orders o
     JOIN cities ci ON ci.id = o.city_id
     LEFT JOIN districts d ON d.id = o.district_id
     LEFT JOIN streets s ON s.id = o.street_id
     LEFT JOIN masters m ON m.id = o.assigned_master_id";

fn order_row(r: &Row<'_>, tz: Tz) -> rusqlite::Result<Vec<Cell>> {
    let (created, closed): (i64, Option<i64>) = (r.get(0)?, r.get(2)?);
    let slot = match (r.get::<_, Option<i64>>(12)?, r.get::<_, Option<i64>>(13)?) {
        (Some(start), Some(end)) => (at(start), at(end)),
        _ => default_slot(at(closed.unwrap_or(r.get(14)?)), tz),
    };
    let company: i64 = r.get(15)?;
    Ok(vec![
        Cell::Int(r.get(1)?),
        Cell::Instant(at(created)),
        closed.map_or(Cell::Empty, |t| Cell::Instant(at(t))),
        text(r, 3)?,
        text(r, 4)?,
        text(r, 5)?,
        text(r, 6)?,
        r.get::<_, Option<f64>>(7)?.map_or(Cell::Empty, Cell::Coordinate),
        r.get::<_, Option<f64>>(8)?.map_or(Cell::Empty, Cell::Coordinate),
        text(r, 9)?,
        text(r, 10)?,
        text(r, 11)?,
        Cell::Instant(slot.0),
        Cell::Instant(slot.1),
        // Never set upstream and not carried over (decisions §B.27); kept so the file has §4.7's layout.
        Cell::Bool(false),
        // "Integer; empty when 0": whole roubles, half up.
        if company == 0 { Cell::Empty } else { Cell::Int((company + 50) / 100) },
        Cell::Kopecks(r.get(16)?),
        text(r, 17)?,
        text(r, 18)?,
        text(r, 19)?,
        text(r, 20)?,
        text(r, 21)?,
    ])
}

/// The slot of an order that has none (§4.7): 10:00–13:00 on the operator's clock, on the day of `basis`
/// (its closing, else its last update; `updated_at` is never before `created_at`).
fn default_slot(basis: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = crate::queue::local_midnight(tz, basis.with_timezone(&tz).date_naive());
    (midnight + Duration::hours(10), midnight + Duration::hours(13))
}

/// Commissions; columns 0–1 are the keyset, then what [`commission_row`] reads.
const COMMISSIONS_SQL: &str = "SELECT c.created_at, c.id,
        c.order_id, c.master_id, m.full_name, m.phone, c.amount_kop, c.rate_percent, c.deadline_at, c.paid_reported_at,
        c.paid_approved_at, c.paid_amount_kop, c.is_paid,
        EXISTS (SELECT 1 FROM attachments a WHERE a.entity_type = 'COMMISSION' AND a.entity_id = c.id),
        (SELECT group_concat(value, ',') FROM json_each(c.pay_to_snapshot, '$.methods')),
        json_extract(c.pay_to_snapshot, '$.card_number_last4'), json_extract(c.pay_to_snapshot, '$.sbp_phone_masked')
     FROM commissions c
     JOIN orders o ON o.id = c.order_id
     JOIN masters m ON m.id = c.master_id";

fn commission_row(r: &Row<'_>, _: Tz) -> rusqlite::Result<Vec<Cell>> {
    let instant = |i| r.get::<_, Option<i64>>(i).map(|t| t.map_or(Cell::Empty, |t| Cell::Instant(at(t))));
    Ok(vec![
        Cell::Int(r.get(1)?),
        Cell::Int(r.get(2)?),
        Cell::Int(r.get(3)?),
        text(r, 4)?,
        text(r, 5)?,
        Cell::Kopecks(r.get(6)?),
        Cell::Fraction(r.get::<_, i64>(7)? as f64 / 100.0),
        Cell::Instant(at(r.get(0)?)),
        instant(8)?,
        instant(9)?,
        instant(10)?,
        r.get::<_, Option<i64>>(11)?.map_or(Cell::Empty, Cell::Kopecks),
        Cell::Bool(r.get(12)?),
        Cell::Bool(r.get(13)?),
        text(r, 14)?,
        text(r, 15)?,
        text(r, 16)?,
    ])
}

/// Referral rewards (their order is the commission's); columns 0–1 are the keyset.
const REF_REWARDS_SQL: &str = "SELECT rr.created_at, rr.id, rr.referrer_id, c.order_id, rr.commission_id, rr.level, rr.amount_kop
     FROM referral_rewards rr
     JOIN commissions c ON c.id = rr.commission_id
     JOIN orders o ON o.id = c.order_id";

fn reward_row(r: &Row<'_>, _: Tz) -> rusqlite::Result<Vec<Cell>> {
    Ok(vec![
        Cell::Int(r.get(1)?),
        Cell::Int(r.get(2)?),
        Cell::Int(r.get(3)?),
        Cell::Int(r.get(4)?),
        Cell::Int(r.get(5)?),
        Cell::Kopecks(r.get(6)?),
        Cell::Instant(at(r.get(0)?)),
    ])
}

/// A text column; NULL and '' are both empty.
fn text(r: &Row<'_>, i: usize) -> rusqlite::Result<Cell> {
    Ok(r.get::<_, Option<String>>(i)?.filter(|t| !t.is_empty()).map_or(Cell::Empty, Cell::Text))
}

/// Writes the CSV of `job` to `out`: the UTF-8 BOM, a header row, `;` between fields. Stops with the
/// writer's error when `out` fails (the download was abandoned).
pub fn write_csv(db: &Db, job: &Job, out: impl Write) -> Result<(), ExportError> {
    let mut out = out;
    out.write_all("\u{feff}".as_bytes()).map_err(io_failed)?;
    let mut csv = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
    csv.write_record(job.export.columns()).map_err(csv_failed)?;
    for_each_row(db, job, |cells| csv.write_record(cells.iter().map(Cell::csv)).map_err(csv_failed))?;
    csv.flush().map_err(io_failed)
}

/// Writes the XLSX of `job` to `out` (a file: the ZIP needs to seek): one sheet named after the export,
/// the header row, numbers as numbers with their formats, instants as ISO text, booleans as booleans, each
/// column `max(len(name) + 2, 12)` wide. Rows go to the writer's temporary file as they come
/// (constant-memory mode), so only the current row is held.
pub fn write_xlsx(db: &Db, job: &Job, out: &mut (impl Write + Seek + Send)) -> Result<(), ExportError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(xlsx_failed)?;
    sheet.set_name(job.export.as_str()).map_err(xlsx_failed)?;
    let formats = Formats::new();
    for (col, name) in job.export.columns().iter().enumerate() {
        let col = col as u16;
        sheet.set_column_width(col, (name.len() + 2).max(12) as f64).map_err(xlsx_failed)?;
        sheet.write_string(0, col, *name).map_err(xlsx_failed)?;
    }
    let mut row = 0u32;
    for_each_row(db, job, |cells| {
        row += 1;
        for (col, cell) in cells.iter().enumerate() {
            let col = col as u16;
            let written = match cell {
                Cell::Empty => Ok(&mut *sheet),
                Cell::Int(n) => sheet.write_number_with_format(row, col, *n as f64, &formats.int),
                Cell::Kopecks(kop) => sheet.write_number_with_format(row, col, *kop as f64 / 100.0, &formats.money),
                Cell::Fraction(x) => sheet.write_number_with_format(row, col, *x, &formats.money),
                Cell::Coordinate(x) => sheet.write_number_with_format(row, col, *x, &formats.coordinate),
                Cell::Bool(b) => sheet.write_boolean(row, col, *b),
                Cell::Instant(t) => sheet.write_string(row, col, iso(*t)),
                Cell::Text(text) if is_formula_like(text) => sheet.write_string_with_format(row, col, text, &formats.quoted),
                Cell::Text(text) => sheet.write_string(row, col, text),
            };
            written.map_err(xlsx_failed)?;
        }
        Ok(())
    })?;
    workbook.save_to_writer(out).map_err(xlsx_failed)
}

/// The cell formats of §4.7.
struct Formats {
    int: Format,
    money: Format,
    coordinate: Format,
    quoted: Format,
}

impl Formats {
    fn new() -> Self {
        Self {
            int: Format::new().set_num_format("0"),
            money: Format::new().set_num_format("0.00"),
            coordinate: Format::new().set_num_format("0.000000"),
            quoted: Format::new().set_quote_prefix(),
        }
    }
}

/// Why an export stopped once it had started.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the rows failed.
    #[error(transparent)]
    Rules(#[from] Error),
    /// Writing the file failed, or the download was abandoned (its reader went away).
    #[error("writing the export failed: {0}")]
    Write(String),
}

fn io_failed(error: std::io::Error) -> ExportError {
    ExportError::Write(error.to_string())
}

fn csv_failed(error: csv::Error) -> ExportError {
    ExportError::Write(error.to_string())
}

fn xlsx_failed(error: XlsxError) -> ExportError {
    ExportError::Write(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cells_are_written_as_section_4_7_says() {
        assert_eq!(Cell::Kopecks(350050).csv(), "3500.50");
        assert_eq!(Cell::Kopecks(5).csv(), "0.05");
        assert_eq!(Cell::Fraction(0.5).csv(), "0.50");
        assert_eq!(Cell::Coordinate(55.123456).csv(), "55.123456");
        assert_eq!(Cell::Coordinate(-73.9).csv(), "-73.900000");
        assert_eq!(Cell::Bool(true).csv(), "true");
        assert_eq!(Cell::Empty.csv(), "");
        assert_eq!(Cell::Instant(Utc.with_ymd_and_hms(2025, 9, 15, 11, 0, 0).unwrap() + Duration::milliseconds(789)).csv(), "2025-09-15T11:00:00Z");
    }

    #[test]
    fn text_that_a_spreadsheet_would_run_is_neutralised() {
        for text in ["=HYPERLINK(\"x\")", "+79991234567", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(Cell::Text(text.into()).csv(), format!("'{text}"));
        }
        assert_eq!(Cell::Text("Иванов".into()).csv(), "Иванов");
    }

    #[test]
    fn the_default_slot_is_ten_to_one_on_the_operators_day() {
        // 22:30 UTC on 14 Sep is already 15 Sep in Moscow.
        let (start, end) = default_slot(Utc.with_ymd_and_hms(2025, 9, 14, 22, 30, 0).unwrap(), Tz::Europe__Moscow);
        assert_eq!((iso(start), iso(end)), ("2025-09-15T07:00:00Z".to_string(), "2025-09-15T10:00:00Z".to_string()));
    }

    #[test]
    fn file_names_carry_the_moment_in_utc() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 9, 5, 7).unwrap();
        assert_eq!(file_name(Export::RefRewards, FileFormat::Xlsx, now), "ref_rewards_20260310T090507Z.xlsx");
    }
}
