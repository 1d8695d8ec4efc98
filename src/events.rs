//! The structured event log of each order: what the engine and people decided, and why.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use crate::db::{at, ms};
use crate::domain::{CityId, OrderId, StaffRole};
use crate::error::{Result, invalid};
use crate::staff::Staff;

/// The sources an event may have.
pub const SOURCES: [&str; 4] = ["engine", "staff", "master", "system"];
/// The live log shows at most this many events (product.md §6.7).
pub const RECENT_MAX: i64 = 200;

/// One logged event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// The order it concerns (none for tick-wide events).
    pub order_id: Option<OrderId>,
    /// `engine`, `staff`, `master` or `system`.
    pub source: &'static str,
    /// What happened: `offer_sent`, `candidates_found`, `no_candidates`, `escalation_logist`, …
    pub kind: &'static str,
    /// The particulars, e.g. the ranked candidates with their keys.
    pub detail: Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// Appends an event to the log and returns it.
pub fn record(
    conn: &Connection,
    now: DateTime<Utc>,
    order_id: Option<OrderId>,
    source: &'static str,
    kind: &'static str,
    detail: Value,
) -> rusqlite::Result<Event> {
    conn.prepare_cached(
        "INSERT INTO order_events (order_id, source, kind, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![order_id, source, kind, detail.to_string(), ms(now)])?;
    Ok(Event { order_id, source, kind, detail, at: now })
}

/// A stored event, as read back for the order card and the live log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredEvent {
    /// Row id (increasing).
    pub id: i64,
    /// The order, if any.
    pub order_id: Option<OrderId>,
    /// Source.
    pub source: String,
    /// Kind.
    pub kind: String,
    /// Particulars.
    #[schema(value_type = Object)]
    pub detail: Value,
    /// When.
    pub at: DateTime<Utc>,
}

fn stored(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let detail: String = row.get(4)?;
    Ok(StoredEvent {
        id: row.get(0)?,
        order_id: row.get(1)?,
        source: row.get(2)?,
        kind: row.get(3)?,
        detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        at: at(row.get(5)?),
    })
}

/// The events of one order, oldest first.
pub fn for_order(conn: &Connection, order_id: OrderId) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, source, kind, detail, created_at FROM order_events WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([order_id], stored)?;
    rows.collect()
}

/// An event of the live log with the city of its order.
#[derive(Debug, Clone, Serialize)]
pub struct CityEvent {
    /// The event.
    pub event: StoredEvent,
    /// Its order's city (none for tick-wide events).
    pub city_id: Option<CityId>,
}

/// The live log: the newest `limit` (1..=[`RECENT_MAX`]) events of orders in the staff member's cities,
/// newest first, optionally of one source. Tick-wide events (no order) belong to no city: global admins only.
pub fn recent(conn: &Connection, staff: &Staff, source: Option<&str>, limit: i64) -> Result<Vec<CityEvent>> {
    if source.is_some_and(|s| !SOURCES.contains(&s)) {
        return Err(invalid("source", "unknown"));
    }
    if !(1..=RECENT_MAX).contains(&limit) {
        return Err(invalid("limit", format!("range:1:{RECENT_MAX}")));
    }
    let all = staff.role == StaffRole::GlobalAdmin;
    let cities = serde_json::to_string(&staff.cities).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.order_id, e.source, e.kind, e.detail, e.created_at, o.city_id
         FROM order_events e LEFT JOIN orders o ON o.id = e.order_id
         WHERE (?1 OR o.city_id IN (SELECT value FROM json_each(?2))) AND (?3 IS NULL OR e.source = ?3) AND e.id > ?5
         ORDER BY e.id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![all, cities, source, limit, cleared_through(conn)?], |row| Ok(CityEvent { event: stored(row)?, city_id: row.get(6)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The live log starts after this event id once cleared (a `settings` row, ignored by `Settings::load`).
const CLEARED_THROUGH: &str = "event_log_cleared_through";

/// Clears the live event log (global admins only), leaving one audit row; returns how many events it
/// hid. The events themselves stay: each order card still explains its own distribution.
pub fn clear(conn: &Connection, now: DateTime<Utc>, staff: &Staff) -> Result<usize> {
    staff.require(&[StaffRole::GlobalAdmin])?;
    let through: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM order_events", [], |r| r.get(0))?;
    let hidden = conn.query_row("SELECT COUNT(*) FROM order_events WHERE id > ?1", [cleared_through(conn)?], |r| r.get::<_, i64>(0))?;
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![CLEARED_THROUGH, through.to_string(), ms(now)],
    )?;
    crate::moderation::audit(conn, now, staff, None, "clear_event_log", &serde_json::json!({"hidden": hidden, "through_id": through}))?;
    Ok(hidden as usize)
}

fn cleared_through(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(CAST(value AS INTEGER)), 0) FROM settings WHERE key = ?1", [CLEARED_THROUGH], |r| r.get(0))
}
