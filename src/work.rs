//! The master's work on his order: en route → on site → close with the amount and the act
//! (distribution.md S9–S12, product.md §2.7). Closing a normal order creates the commission.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::json;

use crate::db::ms;
use crate::domain::{MasterId, OrderId, OrderStatus};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::money::{self, commissions};
use crate::orders::{self, Actor, Order};

/// Largest accepted file, bytes (decisions §B.15).
pub const MAX_FILE_BYTES: i64 = 10 * 1024 * 1024;
/// Accepted file types (decisions §B.15), detected by content by the upload layer.
pub const FILE_TYPES: [&str; 5] = ["image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"];

/// An uploaded file already stored under the data directory.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct StoredFile {
    /// Random storage key.
    pub storage_key: String,
    /// Original name.
    pub file_name: String,
    /// Detected type, one of [`FILE_TYPES`].
    pub mime_type: String,
    /// Size in bytes.
    pub size: i64,
}

fn his_order(conn: &Connection, master: MasterId, id: OrderId) -> Result<Order> {
    orders::load(conn, id)?.filter(|o| o.assigned_master_id == Some(master)).ok_or(Error::NotFound { what: "order" })
}

fn step(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: OrderId, from: OrderStatus, to: OrderStatus, reason: &str) -> Result<()> {
    let order = his_order(conn, master, id)?;
    if order.status != from {
        return Err(Error::WrongStatus { status: order.status });
    }
    orders::transition(conn, now, &order, to, reason, Actor::Master(master), &json!({"master_id": master}))
}

/// ASSIGNED → EN_ROUTE.
pub fn en_route(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: OrderId) -> Result<()> {
    step(conn, now, master, id, OrderStatus::Assigned, OrderStatus::EnRoute, "master_en_route")
}

/// EN_ROUTE → WORKING.
pub fn on_site(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: OrderId) -> Result<()> {
    step(conn, now, master, id, OrderStatus::EnRoute, OrderStatus::Working, "master_working")
}

/// What closing did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Closed {
    /// PAYMENT (normal order: the commission waits) or CLOSED (guarantee order).
    pub status: OrderStatus,
    /// The commission created for a normal order.
    pub commission_id: Option<i64>,
}

/// Closes a WORKING order: a normal one with the amount and the act → PAYMENT with a commission; a
/// guarantee one with the act only → CLOSED, total 0, no commission.
pub fn close(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: OrderId, amount: Option<&str>, act: &StoredFile) -> Result<Closed> {
    let order = his_order(conn, master, id)?;
    if order.status != OrderStatus::Working {
        return Err(Error::WrongStatus { status: order.status });
    }
    if !FILE_TYPES.contains(&act.mime_type.as_str()) {
        return Err(invalid("act", "file_type"));
    }
    if !(1..=MAX_FILE_BYTES).contains(&act.size) {
        return Err(invalid("act", "file_size"));
    }
    // A normal order's amount is D-22 money above zero.
    let total = if order.is_guarantee() { 0 } else { money::parse_amount("amount", amount.unwrap_or_default())? };
    if !order.is_guarantee() && total == 0 {
        return Err(invalid("amount", "amount_positive"));
    }
    let file_type = if act.mime_type == "application/pdf" { "DOCUMENT" } else { "PHOTO" };
    conn.execute(
        "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type,
             uploaded_by_master_id, created_at)
         VALUES ('ORDER', ?1, ?2, ?3, ?4, ?5, ?6, 'act', ?7, ?8)",
        params![id, file_type, act.storage_key, act.file_name, act.mime_type, act.size, master, ms(now)],
    )?;
    let (to, reason) = if order.is_guarantee() {
        (OrderStatus::Closed, "guarantee_completed")
    } else {
        (OrderStatus::Payment, "master_uploaded_act")
    };
    orders::transition(conn, now, &order, to, reason, Actor::Master(master), &json!({"master_id": master, "total_sum_kop": total}))?;
    conn.execute(
        "UPDATE orders SET total_sum_kop = ?2, closed_at = CASE WHEN ?3 THEN ?4 ELSE closed_at END WHERE id = ?1",
        params![id, total, to == OrderStatus::Closed, ms(now)],
    )?;
    let commission_id = commissions::create(conn, now, id)?;
    events::record(conn, now, Some(id), "master", "closed", json!({"master_id": master, "to": to, "total_sum_kop": total, "commission_id": commission_id}))?;
    Ok(Closed { status: to, commission_id })
}
