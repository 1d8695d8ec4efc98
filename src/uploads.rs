//! Uploaded files (decisions §B.15, §C "Files"): the type is read from the content, never from the name;
//! files live under `<data_dir>/files/` named by a random key; a download is served only to who may see
//! the owning order — staff of its city, or its assigned master — or, for a master's questionnaire
//! documents (product.md §3.2 steps 11–12, §3.3), to staff of his city and to the master himself.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::auth::Principal;
use crate::db::{at, ms};
use crate::domain::{CityId, MasterId, OrderId};
use crate::error::{Error, Result, invalid};
use crate::moderation::{self, MasterDocument};
use crate::orders;
use crate::staff::Staff;
use crate::work::{FILE_TYPES, MAX_FILE_BYTES, StoredFile};

/// The directory under the data directory that holds the files.
pub const FILES_DIR: &str = "files";
/// Longest kept original file name, characters.
const MAX_NAME_CHARS: usize = 200;

/// The accepted type of `bytes` judged by their content (JPEG, PNG, WebP, HEIC or PDF), or `None`.
pub fn detect(bytes: &[u8]) -> Option<&'static str> {
    let kind = infer::get(bytes)?;
    let mime = match kind.mime_type() {
        // `infer` names HEIC files by their container format.
        "image/heif" => "image/heic",
        other => other,
    };
    FILE_TYPES.iter().copied().find(|t| *t == mime)
}

/// The original name as kept: its last path component, without control characters, at most 200 characters.
pub fn clean_name(original: &str) -> String {
    let base = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = base.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." { "file".into() } else { name.to_string() }
}

fn random_key() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Where the file with `key` lives; `None` for a key that is not one of ours.
pub fn path_of(data_dir: &Path, key: &str) -> Option<PathBuf> {
    valid_key(key).then(|| data_dir.join(FILES_DIR).join(key))
}

/// Bytes of the start of a file kept to judge its type (the signatures `infer` reads are all within it).
pub const HEAD_BYTES: usize = 8 * 1024;

/// An upload written to a temporary file under the data directory as it arrived, not yet checked: the
/// request's memory does not grow with its files. The file is deleted when the last clone is dropped,
/// unless [`keep`] has moved it into place.
#[derive(Debug, Clone)]
pub struct Received(std::sync::Arc<Incoming>);

#[derive(Debug)]
struct Incoming {
    path: PathBuf,
    size: u64,
    head: Vec<u8>,
    name: String,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %self.path.display(), "could not remove an unused upload");
        }
    }
}

impl Received {
    /// The name it had on the sender's disk.
    pub fn name(&self) -> &str {
        &self.0.name
    }
}

/// Where an upload is written while it arrives: beside the stored files (so keeping it is a rename),
/// under a name no storage key can have.
pub fn incoming_path(data_dir: &Path) -> Result<PathBuf> {
    let dir = data_dir.join(FILES_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    Ok(dir.join(format!("{}.incoming", random_key())))
}

/// Deletes uploads left half-received by a server that stopped while they arrived. Run at start-up.
pub fn remove_incoming(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join(FILES_DIR)) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".incoming") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A file written to [`incoming_path`]: `size` bytes, starting with `head`.
pub fn received(path: PathBuf, size: u64, head: Vec<u8>, original_name: &str) -> Received {
    Received(std::sync::Arc::new(Incoming { path, size, head, name: original_name.to_string() }))
}

/// Checks and keeps an upload: 1 byte to 10 MiB, an image (JPEG/PNG/WebP/HEIC) or a PDF by content, moved
/// into place under a new key. Refusals name the field `file`. Blocking file I/O.
pub fn keep(received: &Received) -> Result<StoredFile> {
    let incoming = &received.0;
    let size = i64::try_from(incoming.size).unwrap_or(i64::MAX);
    if !(1..=MAX_FILE_BYTES).contains(&size) {
        return Err(invalid("file", "file_size"));
    }
    let mime_type = detect(&incoming.head).ok_or_else(|| invalid("file", "file_type"))?;
    let storage_key = random_key();
    let target = incoming.path.with_file_name(&storage_key);
    std::fs::File::open(&incoming.path)
        .and_then(|file| file.sync_all())
        .and_then(|()| std::fs::rename(&incoming.path, &target))
        .map_err(|e| io_error(&target, e))?;
    Ok(StoredFile { storage_key, file_name: clean_name(&incoming.name), mime_type: mime_type.into(), size })
}

/// Checks and stores an upload held in memory, like [`keep`]. Blocking file I/O.
pub fn store(data_dir: &Path, bytes: &[u8], original_name: &str) -> Result<StoredFile> {
    let path = incoming_path(data_dir)?;
    std::fs::File::create_new(&path).and_then(|mut file| file.write_all(bytes)).map_err(|e| io_error(&path, e))?;
    let head = bytes[..bytes.len().min(HEAD_BYTES)].to_vec();
    keep(&received(path, bytes.len() as u64, head, original_name))
}

/// Deletes a stored file (an upload whose transaction was refused); a missing file is fine.
pub fn remove(data_dir: &Path, key: &str) {
    if let Some(path) = path_of(data_dir, key)
        && let Err(error) = std::fs::remove_file(&path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, key, "could not remove an unused upload");
    }
}

/// The bytes of a stored file; "not found" when it is missing on disk (logged: the data directory and the
/// database disagree).
pub fn read(data_dir: &Path, key: &str) -> Result<Vec<u8>> {
    let path = path_of(data_dir, key).ok_or(Error::NotFound { what: "attachment" })?;
    std::fs::read(&path).map_err(|error| {
        tracing::error!(%error, key, "stored file missing");
        Error::NotFound { what: "attachment" }
    })
}

/// A file that could not be written: a storage failure (500, cause logged), never the caller's fault.
fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Db(crate::db::DbError::Create { path: path.to_path_buf(), source })
}

/// An attachment of an order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Attachment {
    /// Id.
    pub id: i64,
    /// The order it belongs to.
    pub order_id: OrderId,
    /// PHOTO or DOCUMENT.
    pub file_type: String,
    /// The original name.
    pub file_name: String,
    /// The type detected at upload.
    pub mime_type: String,
    /// Size in bytes.
    pub size: i64,
    /// `act`, `check`, `order_file` …
    pub document_type: Option<String>,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
    /// Storage key (never shown).
    #[serde(skip)]
    pub storage_key: String,
}

const ATTACHMENT_COLUMNS: &str =
    "id, entity_id, file_type, file_name, mime_type, size, document_type, created_at, storage_key";

fn attachment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attachment> {
    Ok(Attachment {
        id: r.get(0)?,
        order_id: r.get(1)?,
        file_type: r.get(2)?,
        file_name: r.get(3)?,
        mime_type: r.get(4)?,
        size: r.get(5)?,
        document_type: r.get(6)?,
        created_at: at(r.get(7)?),
        storage_key: r.get(8)?,
    })
}

/// The attachments of an order, oldest first (no access check: callers check the order first).
pub fn of_order(conn: &Connection, order: OrderId) -> Result<Vec<Attachment>> {
    let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE entity_type = 'ORDER' AND entity_id = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([order], attachment_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Refuses, as "not found", a caller who may not see the order: staff outside its city, a master it is not
/// assigned to.
pub fn check_order_access(conn: &Connection, caller: &Principal, order: OrderId) -> Result<()> {
    match caller {
        Principal::Staff(staff) => orders::load_for_staff(conn, staff, order).map(|_| ()),
        Principal::Master(master) => orders::load(conn, order)?
            .filter(|o| o.assigned_master_id == Some(master.id))
            .map(|_| ())
            .ok_or(Error::NotFound { what: "order" }),
    }
}

/// The attachments of an order the caller may see.
pub fn list_for(conn: &Connection, caller: &Principal, order: OrderId) -> Result<Vec<Attachment>> {
    check_order_access(conn, caller, order)?;
    of_order(conn, order)
}

/// One attachment of an order the caller may see.
pub fn find_for(conn: &Connection, caller: &Principal, order: OrderId, attachment: i64) -> Result<Attachment> {
    check_order_access(conn, caller, order)?;
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?1 AND entity_type = 'ORDER' AND entity_id = ?2"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![attachment, order], attachment_row)
        .optional()?
        .ok_or(Error::NotFound { what: "attachment" })
}

/// Files staff may attach to a new order (decisions §B.15).
pub const MAX_ORDER_FILES: usize = 10;

/// Attaches already stored files to an order the staff member sees (`order_file`), at most
/// [`MAX_ORDER_FILES`] in all; refusals name the field `file`.
pub fn attach_order_files(conn: &Connection, now: DateTime<Utc>, staff: &Staff, order: OrderId, files: &[StoredFile]) -> Result<()> {
    orders::load_for_staff(conn, staff, order)?;
    let held: i64 = conn.query_row(
        "SELECT COUNT(*) FROM attachments WHERE entity_type = 'ORDER' AND entity_id = ?1 AND document_type = 'order_file'",
        [order],
        |r| r.get(0),
    )?;
    if usize::try_from(held).unwrap_or(usize::MAX).saturating_add(files.len()) > MAX_ORDER_FILES {
        return Err(invalid("file", format!("max_files:{MAX_ORDER_FILES}")));
    }
    for file in files {
        if !FILE_TYPES.contains(&file.mime_type.as_str()) {
            return Err(invalid("file", "file_type"));
        }
        if !(1..=MAX_FILE_BYTES).contains(&file.size) {
            return Err(invalid("file", "file_size"));
        }
        let file_type = if file.mime_type == "application/pdf" { "DOCUMENT" } else { "PHOTO" };
        conn.prepare_cached(
            "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type,
                 uploaded_by_staff_id, created_at)
             VALUES ('ORDER', ?1, ?2, ?3, ?4, ?5, ?6, 'order_file', ?7, ?8)",
        )?
        .execute(params![order, file_type, file.storage_key, file.file_name, file.mime_type, file.size, staff.id, ms(now)])?;
    }
    Ok(())
}

// --- a master's questionnaire documents ---------------------------------------------------------------------

/// The kind of a master's document (`attachments.document_type` with entity MASTER).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    /// The passport: a photo or a PDF (product.md §3.2 step 11).
    Passport,
    /// A selfie with the passport: a photo only (step 12).
    Selfie,
}

impl DocumentKind {
    /// Parses `passport` or `selfie`; anything else is refused on the field `kind`.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim() {
            "passport" => Ok(Self::Passport),
            "selfie" => Ok(Self::Selfie),
            "" => Err(invalid("kind", "required")),
            _ => Err(invalid("kind", "document_kind")),
        }
    }

    /// The stored `document_type`, also the field a refusal names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passport => "passport",
            Self::Selfie => "selfie",
        }
    }
}

/// A stored master document and the files it replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedDocument {
    /// The new document.
    pub document: MasterDocument,
    /// Storage keys of the documents of the same kind it replaced, whose files the caller removes once the
    /// transaction is committed.
    pub replaced: Vec<String>,
}

/// Attaches an already stored file as the master's passport (photo or PDF) or selfie (photo only),
/// replacing an earlier one of the same kind. Any moderation state may upload (a PENDING master after
/// sign-up, a REJECTED one fixing his documents); a deleted master is refused.
pub fn attach_master_document(conn: &Connection, now: DateTime<Utc>, master: MasterId, kind: DocumentKind, file: &StoredFile) -> Result<AttachedDocument> {
    let deleted: Option<bool> =
        conn.query_row("SELECT is_deleted FROM masters WHERE id = ?1", [master], |r| r.get(0)).optional()?;
    match deleted {
        None => return Err(Error::NotFound { what: "master" }),
        Some(true) => return Err(Error::StateConflict { why: "master_deleted" }),
        Some(false) => {}
    }
    let field = kind.as_str();
    if !FILE_TYPES.contains(&file.mime_type.as_str()) {
        return Err(invalid(field, "file_type"));
    }
    let pdf = file.mime_type == "application/pdf";
    if kind == DocumentKind::Selfie && pdf {
        return Err(invalid(field, "photo_type"));
    }
    if !(1..=MAX_FILE_BYTES).contains(&file.size) {
        return Err(invalid(field, "file_size"));
    }
    let replaced: Vec<String> = conn
        .prepare_cached("SELECT storage_key FROM attachments WHERE entity_type = 'MASTER' AND entity_id = ?1 AND document_type = ?2")?
        .query_map(params![master, field], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute("DELETE FROM attachments WHERE entity_type = 'MASTER' AND entity_id = ?1 AND document_type = ?2", params![master, field])?;
    conn.execute(
        "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type,
             uploaded_by_master_id, created_at)
         VALUES ('MASTER', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?1, ?8)",
        params![master, if pdf { "DOCUMENT" } else { "PHOTO" }, file.storage_key, file.file_name, file.mime_type, file.size, field, ms(now)],
    )?;
    let document = MasterDocument {
        id: conn.last_insert_rowid(),
        document_type: Some(field.to_string()),
        file_name: file.file_name.clone(),
        mime_type: file.mime_type.clone(),
        size: file.size,
        created_at: at(ms(now)),
    };
    Ok(AttachedDocument { document, replaced })
}

/// A master document found for a download.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentFile {
    /// The original name.
    pub file_name: String,
    /// The type detected at upload.
    pub mime_type: String,
    /// Where it is stored.
    pub storage_key: String,
}

/// One document of a master (no access check: the master's own route passes his id).
pub fn master_document(conn: &Connection, master: MasterId, attachment: i64) -> Result<DocumentFile> {
    conn.prepare_cached(
        "SELECT file_name, mime_type, storage_key FROM attachments WHERE id = ?1 AND entity_type = 'MASTER' AND entity_id = ?2",
    )?
    .query_row(params![attachment, master], |r| Ok(DocumentFile { file_name: r.get(0)?, mime_type: r.get(1)?, storage_key: r.get(2)? }))
    .optional()?
    .ok_or(Error::NotFound { what: "attachment" })
}

/// One document of a master, for staff of his city (any role: a logist views them too); a master outside
/// the caller's cities is "not found".
pub fn master_document_for_staff(conn: &Connection, staff: &Staff, master: MasterId, attachment: i64) -> Result<DocumentFile> {
    let city: Option<Option<CityId>> = conn.query_row("SELECT city_id FROM masters WHERE id = ?1", [master], |r| r.get(0)).optional()?;
    if !city.is_some_and(|city| moderation::visible(staff, city)) {
        return Err(Error::NotFound { what: "master" });
    }
    master_document(conn, master, attachment)
}

/// `Content-Disposition` for a download: always `attachment`, an ASCII fallback name and the real one as
/// RFC 5987 `filename*=UTF-8''…`.
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(file_name.len() * 3);
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89,
    ];

    #[test]
    fn the_type_comes_from_the_content() {
        assert_eq!(detect(PNG), Some("image/png"));
        assert_eq!(detect(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0]), Some("image/jpeg"));
        assert_eq!(detect(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"), Some("application/pdf"));
        assert_eq!(detect(b"RIFF\x1a\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(detect(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), Some("image/heic"));
        assert_eq!(detect(b"just text, named act.jpg"), None);
        assert_eq!(detect(b"GIF89a\x01\0\x01\0"), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn store_checks_size_and_type_and_keeps_a_clean_name() {
        let dir = tempfile::tempdir().unwrap();
        let stored = store(dir.path(), PNG, "../../etc/акт 1.png").unwrap();
        assert_eq!(stored.mime_type, "image/png");
        assert_eq!(stored.file_name, "акт 1.png");
        assert_eq!(stored.size, PNG.len() as i64);
        assert_eq!(read(dir.path(), &stored.storage_key).unwrap(), PNG);
        remove(dir.path(), &stored.storage_key);
        assert_eq!(read(dir.path(), &stored.storage_key).unwrap_err().code(), "not_found");

        let text = store(dir.path(), b"hello", "act.jpg").unwrap_err();
        assert!(matches!(text, Error::Invalid { field: "file", ref rule } if rule == "file_type"));
        let empty = store(dir.path(), b"", "act.png").unwrap_err();
        assert!(matches!(empty, Error::Invalid { field: "file", ref rule } if rule == "file_size"));
        let mut big = PNG.to_vec();
        big.resize(MAX_FILE_BYTES as usize + 1, 0);
        let big = store(dir.path(), &big, "big.png").unwrap_err();
        assert!(matches!(big, Error::Invalid { field: "file", ref rule } if rule == "file_size"));
        assert!(read(dir.path(), "../fieldservice.db").is_err());
    }

    #[test]
    fn document_kinds_parse_from_their_names() {
        assert_eq!(DocumentKind::parse(" passport ").unwrap(), DocumentKind::Passport);
        assert_eq!(DocumentKind::parse("selfie").unwrap().as_str(), "selfie");
        assert!(matches!(DocumentKind::parse("act"), Err(Error::Invalid { field: "kind", ref rule }) if rule == "document_kind"));
        assert!(matches!(DocumentKind::parse(""), Err(Error::Invalid { field: "kind", ref rule }) if rule == "required"));
    }

    #[test]
    fn a_document_replaces_the_earlier_one_of_its_kind_and_a_selfie_is_a_photo() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("fs.db"), crate::db::Durability::Normal).unwrap();
        let now = Utc::now();
        let file = |key: &str, mime: &str| StoredFile { storage_key: key.into(), file_name: "p.png".into(), mime_type: mime.into(), size: 10 };
        let attached = db
            .write(|tx| -> Result<_> {
                tx.execute("INSERT INTO masters (phone, created_at, updated_at) VALUES ('+79990000001', 0, 0)", [])?;
                let master = tx.last_insert_rowid();
                let first = attach_master_document(tx, now, master, DocumentKind::Passport, &file("a", "application/pdf"))?;
                assert!(first.replaced.is_empty());
                let second = attach_master_document(tx, now, master, DocumentKind::Passport, &file("b", "image/png"))?;
                let pdf_selfie = attach_master_document(tx, now, master, DocumentKind::Selfie, &file("c", "application/pdf")).unwrap_err();
                assert!(matches!(pdf_selfie, Error::Invalid { field: "selfie", ref rule } if rule == "photo_type"));
                assert_eq!(moderation::documents(tx, master)?, vec![second.document.clone()]);
                tx.execute("UPDATE masters SET is_deleted = 1 WHERE id = ?1", [master])?;
                let gone = attach_master_document(tx, now, master, DocumentKind::Selfie, &file("d", "image/png")).unwrap_err();
                assert!(matches!(gone, Error::StateConflict { why: "master_deleted" }));
                Ok(second)
            })
            .unwrap();
        assert_eq!(attached.replaced, vec!["a".to_string()]);
        assert_eq!(attached.document.mime_type, "image/png");
    }

    #[test]
    fn disposition_is_an_attachment_with_an_encoded_name() {
        assert_eq!(
            content_disposition("акт 1.pdf"),
            "attachment; filename=\"___ 1.pdf\"; filename*=UTF-8''%D0%B0%D0%BA%D1%82%201.pdf"
        );
        assert_eq!(content_disposition("a\"b.png"), "attachment; filename=\"a_b.png\"; filename*=UTF-8''a%22b.png");
    }
}

// --- files held for a refused form --------------------------------------------------------------------------

/// Who holds a kept file: the close form of one order by its master, or one visitor's sign-up form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The close form of `order` (issue 11 §2): the act chosen before a refusal.
    Close { order: OrderId, master: MasterId },
    /// A sign-up form, by the visitor's secret form token (issue 11 §3): passport and selfie.
    SignUp { form_token: String },
}

impl Holder {
    fn key(&self) -> String {
        match self {
            Self::Close { order, master } => format!("close:{order}:{master}"),
            Self::SignUp { form_token } => format!("signup:{form_token}"),
        }
    }
}

/// Keeps `file` for `holder`'s next try under `slot` (`act`, `passport`, `selfie`), in place of one held
/// before; returns the replaced file's storage key, whose file the caller removes.
pub fn hold(conn: &Connection, now: DateTime<Utc>, holder: &Holder, slot: &str, file: &StoredFile) -> Result<Option<String>> {
    let key = holder.key();
    let replaced = held(conn, holder, slot)?.map(|f| f.storage_key);
    conn.execute("DELETE FROM held_files WHERE holder = ?1 AND slot = ?2", params![key, slot])?;
    conn.execute(
        "INSERT INTO held_files (holder, slot, storage_key, file_name, mime_type, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![key, slot, file.storage_key, file.file_name, file.mime_type, file.size, ms(now)],
    )?;
    Ok(replaced)
}

/// The file `holder` keeps under `slot`, if any.
pub fn held(conn: &Connection, holder: &Holder, slot: &str) -> Result<Option<StoredFile>> {
    Ok(conn
        .prepare_cached("SELECT storage_key, file_name, mime_type, size FROM held_files WHERE holder = ?1 AND slot = ?2")?
        .query_row(params![holder.key(), slot], |r| Ok(StoredFile { storage_key: r.get(0)?, file_name: r.get(1)?, mime_type: r.get(2)?, size: r.get(3)? }))
        .optional()?)
}

/// How long a file is kept for a form nobody came back to.
pub const HELD_FOR: chrono::Duration = chrono::Duration::hours(24);

/// Forgets the files kept longer than [`HELD_FOR`] (a sign-up abandoned after a refusal, a close that
/// never came); returns their storage keys, whose files the caller removes.
pub fn forget_held(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<String>> {
    let cutoff = ms(now - HELD_FOR);
    let keys = conn
        .prepare_cached("SELECT storage_key FROM held_files WHERE created_at < ?1")?
        .query_map([cutoff], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    conn.execute("DELETE FROM held_files WHERE created_at < ?1", [cutoff])?;
    Ok(keys)
}

/// Forgets what `holder` keeps: its form went through and the files now belong to the rows it wrote.
pub fn release(conn: &Connection, holder: &Holder) -> Result<()> {
    conn.execute("DELETE FROM held_files WHERE holder = ?1", [holder.key()])?;
    Ok(())
}
