//! Internal notes on an order: a thread of staff notes (author, time, text of at most 2,000 characters),
//! for staff of the order's city only — never shown to masters (issue 12).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::json;

use crate::db::{at, ms};
use crate::domain::{OrderId, StaffId};
use crate::error::{Result, check_length};
use crate::events;
use crate::orders;
use crate::staff::Staff;

/// The longest note.
pub const MAX_NOTE_CHARS: usize = 2000;

/// One note.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    /// The author; none when his account was deleted.
    pub staff_id: Option<StaffId>,
    /// The author's name (his login when he has none).
    pub author: Option<String>,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// A new note.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct NewNote {
    /// 1–2000 characters.
    pub text: String,
}

/// The notes of an order the staff member sees, oldest first.
pub fn list(conn: &Connection, staff: &Staff, order: OrderId) -> Result<Vec<Note>> {
    orders::load_for_staff(conn, staff, order)?;
    let mut stmt = conn.prepare_cached(
        "SELECT n.id, n.staff_id, CASE WHEN s.full_name = '' THEN s.login ELSE s.full_name END, n.body, n.created_at
         FROM order_notes n LEFT JOIN staff_users s ON s.id = n.staff_id WHERE n.order_id = ?1 ORDER BY n.id",
    )?;
    let rows = stmt.query_map([order], |r| {
        Ok(Note { id: r.get(0)?, staff_id: r.get(1)?, author: r.get(2)?, text: r.get(3)?, created_at: at(r.get(4)?) })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a note to an order the staff member sees, in any status (a closed order's notes still help).
pub fn add(conn: &Connection, now: DateTime<Utc>, staff: &Staff, order: OrderId, text: &str) -> Result<Note> {
    orders::load_for_staff(conn, staff, order)?;
    let text = text.trim();
    check_length("text", text, 1, MAX_NOTE_CHARS)?;
    conn.prepare_cached("INSERT INTO order_notes (order_id, staff_id, body, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![order, staff.id, text, ms(now)])?;
    let id = conn.last_insert_rowid();
    events::record(conn, now, Some(order), "staff", "note_added", json!({"staff_id": staff.id, "note_id": id}))?;
    let author = crate::staff::names(conn, &[staff.id])?.remove(&staff.id);
    Ok(Note { id, staff_id: Some(staff.id), author, text: text.to_string(), created_at: now })
}
