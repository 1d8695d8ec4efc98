//! The master's work on his order: en route → on site → close with the amount and the act
//! (distribution.md S9–S12, product.md §2.7). Closing a normal order creates the commission.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::db::ms;
use crate::domain::{MasterId, OrderId, OrderStatus};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::money::{self, commissions};
use crate::orders::{self, Actor, Order};
use crate::uploads::{self, Holder};

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

/// Longest note a master leaves when closing, characters.
pub const MAX_NOTE_CHARS: usize = 1000;
/// Most before/after photos a close carries.
pub const MAX_WORK_PHOTOS: usize = 5;
/// The photo types a before/after photo may have (no PDF: it is a photo of the work).
const PHOTO_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "image/heic"];

/// What a master may add to a close besides the amount and the act (issue 11 §2): a note for the office
/// and before/after photos, both shown on the staff order card.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// The note as typed; blank is none.
    pub note: String,
    /// Up to [`MAX_WORK_PHOTOS`] photos, already stored.
    pub photos: Vec<StoredFile>,
}

impl Extras {
    /// The note trimmed, `None` when blank; refused over [`MAX_NOTE_CHARS`].
    fn note(&self) -> Result<Option<&str>> {
        let note = self.note.trim();
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(invalid("note", format!("max_len:{MAX_NOTE_CHARS}")));
        }
        Ok((!note.is_empty()).then_some(note))
    }

    /// Refuses more than [`MAX_WORK_PHOTOS`] photos, or one that is not a photo of up to 10 MiB.
    fn check_photos(&self) -> Result<()> {
        if self.photos.len() > MAX_WORK_PHOTOS {
            return Err(invalid("photos", format!("max_files:{MAX_WORK_PHOTOS}")));
        }
        for photo in &self.photos {
            if !PHOTO_TYPES.contains(&photo.mime_type.as_str()) {
                return Err(invalid("photos", "photo_type"));
            }
            if !(1..=MAX_FILE_BYTES).contains(&photo.size) {
                return Err(invalid("photos", "file_size"));
            }
        }
        Ok(())
    }
}

/// Closes a WORKING order: a normal one with the amount and the act → PAYMENT with a commission; a
/// guarantee one with the act only → CLOSED, total 0, no commission. The note and the photos of `extras`
/// are kept with the order.
pub fn close(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: OrderId, amount: Option<&str>, act: &StoredFile, extras: &Extras) -> Result<Closed> {
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
    let note = extras.note()?;
    extras.check_photos()?;
    let file_type = if act.mime_type == "application/pdf" { "DOCUMENT" } else { "PHOTO" };
    for photo in &extras.photos {
        conn.execute(
            "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type,
                 uploaded_by_master_id, created_at)
             VALUES ('ORDER', ?1, 'PHOTO', ?2, ?3, ?4, ?5, 'work_photo', ?6, ?7)",
            params![id, photo.storage_key, photo.file_name, photo.mime_type, photo.size, master, ms(now)],
        )?;
    }
    conn.execute(
        "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type,
             uploaded_by_master_id, created_at)
         VALUES ('ORDER', ?1, ?2, ?3, ?4, ?5, ?6, 'act', ?7, ?8)",
        params![id, file_type, act.storage_key, act.file_name, act.mime_type, act.size, master, ms(now)],
    )?;
    record_close(conn, now, &order, master, total, note, extras.photos.len())
}

/// What closing `order` writes once its act is stored: a normal order goes to PAYMENT with its total and a
/// commission, a guarantee visit straight to CLOSED; the master's note and the event. The demo's history
/// closes its orders through here too (it keeps no files).
pub fn record_close(conn: &Connection, now: DateTime<Utc>, order: &Order, master: MasterId, total: i64, note: Option<&str>, photos: usize) -> Result<Closed> {
    let id = order.id;
    let (to, reason) = if order.is_guarantee() {
        (OrderStatus::Closed, "guarantee_completed")
    } else {
        (OrderStatus::Payment, "master_uploaded_act")
    };
    orders::transition(conn, now, order, to, reason, Actor::Master(master), &json!({"master_id": master, "total_sum_kop": total}))?;
    conn.execute(
        "UPDATE orders SET total_sum_kop = ?2, closed_at = CASE WHEN ?3 THEN ?4 ELSE closed_at END WHERE id = ?1",
        params![id, total, to == OrderStatus::Closed, ms(now)],
    )?;
    if let Some(note) = note {
        conn.execute(
            "INSERT INTO order_close_notes (order_id, master_id, note, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (order_id) DO UPDATE SET master_id = excluded.master_id, note = excluded.note, created_at = excluded.created_at",
            params![id, master, note, ms(now)],
        )?;
    }
    let commission_id = commissions::create(conn, now, id)?;
    let details = json!({"master_id": master, "to": to, "total_sum_kop": total, "commission_id": commission_id, "note": note, "photos": photos});
    events::record(conn, now, Some(id), "master", "closed", details)?;
    Ok(Closed { status: to, commission_id })
}

/// Keeps the act he chose for closing `id` (issue 11 §2), so that a refused close (a mistyped amount) does
/// not make him choose it again; returns the storage key of an act kept before, whose file the caller removes.
pub fn hold_act(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: OrderId, act: &StoredFile) -> Result<Option<String>> {
    his_order(conn, master, id)?;
    uploads::hold(conn, now, &Holder::Close { order: id, master }, "act", act)
}

/// Closes `id` like [`close`] with the act kept by [`hold_act`]; without one the act is "required".
pub fn close_with_kept_act(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: OrderId, amount: Option<&str>, extras: &Extras) -> Result<Closed> {
    let holder = Holder::Close { order: id, master };
    let act = uploads::held(conn, &holder, "act")?.ok_or_else(|| invalid("act", "required"))?;
    let closed = close(conn, now, master, id, amount, &act, extras)?;
    uploads::release(conn, &holder)?;
    Ok(closed)
}

/// The note the master left when closing `id`, if any.
pub fn close_note(conn: &Connection, id: OrderId) -> Result<Option<String>> {
    Ok(conn.query_row("SELECT note FROM order_close_notes WHERE order_id = ?1", [id], |r| r.get(0)).optional()?)
}
