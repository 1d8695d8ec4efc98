//! Payment receipts (product.md §4.3 "upload a receipt"): a master attaches photos or PDFs of his transfer
//! to his own commission while it is unpaid (WAIT_PAY, REPORTED, OVERDUE) and may delete one again until
//! it is approved; staff with finance access see them on the commission card. Stored as attachments
//! (entity COMMISSION, document type `check`); `commissions.has_checks` says whether any is left. Each
//! upload and deletion is a money event in the commission's history.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::commissions::{self, Commission, CommissionStatus, record};
use crate::db::{at, ms};
use crate::domain::MasterId;
use crate::error::{Error, Result, invalid};
use crate::staff::Staff;
use crate::work::{FILE_TYPES, MAX_FILE_BYTES, StoredFile};

/// Receipts one commission may carry: several transfers or pages, not an archive.
pub const MAX_RECEIPTS: usize = 10;

/// One payment receipt.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Receipt {
    /// Id.
    pub id: i64,
    /// The commission it belongs to.
    pub commission_id: i64,
    /// The original file name.
    pub file_name: String,
    /// The type detected at upload: a photo (`image/jpeg`, `image/png`, `image/webp`, `image/heic`) or
    /// `application/pdf`.
    pub mime_type: String,
    /// Size in bytes.
    pub size: i64,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
    /// Storage key (never shown).
    #[serde(skip)]
    pub storage_key: String,
}

impl Receipt {
    /// A photo a browser shows inline (HEIC is offered as a download only).
    pub fn is_picture(&self) -> bool {
        matches!(self.mime_type.as_str(), "image/jpeg" | "image/png" | "image/webp")
    }
}

const COLUMNS: &str = "id, entity_id, file_name, mime_type, size, created_at, storage_key";

fn row(r: &Row<'_>) -> rusqlite::Result<Receipt> {
    Ok(Receipt {
        id: r.get(0)?,
        commission_id: r.get(1)?,
        file_name: r.get(2)?,
        mime_type: r.get(3)?,
        size: r.get(4)?,
        created_at: at(r.get(5)?),
        storage_key: r.get(6)?,
    })
}

/// The receipts of a commission, oldest first (no access check: callers load the commission first).
pub fn of_commission(conn: &Connection, commission: i64) -> Result<Vec<Receipt>> {
    let sql = format!("SELECT {COLUMNS} FROM attachments WHERE entity_type = 'COMMISSION' AND entity_id = ?1 AND document_type = 'check' ORDER BY id");
    Ok(conn.prepare_cached(&sql)?.query_map([commission], row)?.collect::<rusqlite::Result<_>>()?)
}

fn find(conn: &Connection, commission: i64, receipt: i64) -> Result<Receipt> {
    let sql = format!("SELECT {COLUMNS} FROM attachments WHERE id = ?1 AND entity_type = 'COMMISSION' AND entity_id = ?2 AND document_type = 'check'");
    conn.prepare_cached(&sql)?.query_row(params![receipt, commission], row).optional()?.ok_or(Error::NotFound { what: "attachment" })
}

fn still_unpaid(c: &Commission) -> Result<()> {
    if c.status == CommissionStatus::Approved { Err(Error::StateConflict { why: "commission_approved" }) } else { Ok(()) }
}

/// Attaches already stored files to the master's own unpaid commission, all or none: each a photo or a
/// PDF by content of 1 byte to 10 MiB, at most [`MAX_RECEIPTS`] in all (refusals name the field
/// `receipt`). Sets `has_checks` and records one money event per receipt.
pub fn attach(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: i64, files: &[StoredFile]) -> Result<Vec<Receipt>> {
    let c = commissions::for_master(conn, master, id)?;
    still_unpaid(&c)?;
    if files.is_empty() {
        return Err(invalid("receipt", "required"));
    }
    if of_commission(conn, id)?.len() + files.len() > MAX_RECEIPTS {
        return Err(invalid("receipt", format!("max_files:{MAX_RECEIPTS}")));
    }
    let mut added = Vec::with_capacity(files.len());
    for file in files {
        if !FILE_TYPES.contains(&file.mime_type.as_str()) {
            return Err(invalid("receipt", "file_type"));
        }
        if !(1..=MAX_FILE_BYTES).contains(&file.size) {
            return Err(invalid("receipt", "file_size"));
        }
        let file_type = if file.mime_type == "application/pdf" { "DOCUMENT" } else { "PHOTO" };
        conn.prepare_cached(
            "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type,
                 uploaded_by_master_id, created_at)
             VALUES ('COMMISSION', ?1, ?2, ?3, ?4, ?5, ?6, 'check', ?7, ?8)",
        )?
        .execute(params![id, file_type, file.storage_key, file.file_name, file.mime_type, file.size, master, ms(now)])?;
        let receipt = find(conn, id, conn.last_insert_rowid())?;
        record(conn, now, &c, "master", "commission_receipt_added", json!({"master_id": master, "receipt_id": receipt.id, "file_name": receipt.file_name}))?;
        added.push(receipt);
    }
    conn.execute("UPDATE commissions SET has_checks = 1, updated_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
    Ok(added)
}

/// Deletes one of his receipts while the commission is not approved; `has_checks` follows what is left.
/// Returns the storage key, for the caller to remove the file once committed.
pub fn remove(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: i64, receipt: i64) -> Result<String> {
    let c = commissions::for_master(conn, master, id)?;
    let found = find(conn, id, receipt)?;
    still_unpaid(&c)?;
    conn.execute("DELETE FROM attachments WHERE id = ?1", [receipt])?;
    conn.execute(
        "UPDATE commissions SET has_checks = EXISTS (SELECT 1 FROM attachments WHERE entity_type = 'COMMISSION' AND entity_id = ?1 AND document_type = 'check'),
             updated_at = ?2 WHERE id = ?1",
        params![id, ms(now)],
    )?;
    record(conn, now, &c, "master", "commission_receipt_removed", json!({"master_id": master, "receipt_id": receipt, "file_name": found.file_name}))?;
    Ok(found.storage_key)
}

/// The receipts of one of the master's commissions; another master's is "not found".
pub fn for_master(conn: &Connection, master: MasterId, id: i64) -> Result<Vec<Receipt>> {
    commissions::for_master(conn, master, id)?;
    of_commission(conn, id)
}

/// One receipt of one of the master's commissions.
pub fn find_for_master(conn: &Connection, master: MasterId, id: i64, receipt: i64) -> Result<Receipt> {
    commissions::for_master(conn, master, id)?;
    find(conn, id, receipt)
}

/// The receipts of a commission the staff member has finance access to.
pub fn for_staff(conn: &Connection, staff: &Staff, id: i64) -> Result<Vec<Receipt>> {
    commissions::for_staff(conn, staff, id)?;
    of_commission(conn, id)
}

/// One receipt of a commission the staff member has finance access to.
pub fn find_for_staff(conn: &Connection, staff: &Staff, id: i64, receipt: i64) -> Result<Receipt> {
    commissions::for_staff(conn, staff, id)?;
    find(conn, id, receipt)
}
