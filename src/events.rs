//! The structured event log of each order: what the engine and people decided, and why.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use crate::db::{at, ms};
use crate::domain::OrderId;

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

/// The events of one order, oldest first.
pub fn for_order(conn: &Connection, order_id: OrderId) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, source, kind, detail, created_at FROM order_events WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([order_id], |row| {
        let detail: String = row.get(4)?;
        Ok(StoredEvent {
            id: row.get(0)?,
            order_id: row.get(1)?,
            source: row.get(2)?,
            kind: row.get(3)?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
            at: at(row.get(5)?),
        })
    })?;
    rows.collect()
}
