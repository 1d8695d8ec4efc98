//! The owner's payment requisites (product.md §4.6, decisions §B.4): where masters pay their commissions.
//! They live in the settings table only (keys `owner_pay_*`); every new commission copies them into its
//! `pay_to_snapshot`, masked as §4.1 says, so later edits never change an existing commission. The SBP QR
//! image is a stored file whose key sits in the settings (`owner_pay_sbp_qr`) and is copied into each
//! snapshot: replacing the QR stores a new file and never touches one a snapshot references.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::ms;
use crate::error::{Result, check_length, invalid};
use crate::staff::Staff;
use crate::work::StoredFile;
use crate::{events, phone, uploads};

/// The payment methods masters may use.
pub const METHODS: [&str; 4] = ["card", "sbp", "cash", "other"];

/// The comment template until the owner sets one.
pub const DEFAULT_TEMPLATE: &str = "Комиссия #<order_id> от <master_fio>";

/// The owner's requisites as stored (the card number in full, digits only; the SBP phone normalised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Requisites {
    /// Accepted methods, a subset of `card`, `sbp`, `cash`, `other`.
    pub methods: Vec<String>,
    /// Card number, 16–19 digits (empty when none).
    pub card_number: String,
    /// Card holder.
    pub card_holder: String,
    /// Card bank.
    pub card_bank: String,
    /// SBP phone, `+7XXXXXXXXXX` (empty when none).
    pub sbp_phone: String,
    /// SBP bank.
    pub sbp_bank: String,
    /// Other instructions (cash, …).
    pub other_text: String,
    /// The transfer comment, with `<order_id>` and `<master_fio>` filled in per commission.
    pub comment_template: String,
    /// An SBP QR image is uploaded (read-only here, ignored on save: it is changed through
    /// `PUT`/`DELETE /api/v1/settings/requisites/qr`).
    pub sbp_qr: bool,
}

impl Default for Requisites {
    fn default() -> Self {
        Self {
            methods: Vec::new(),
            card_number: String::new(),
            card_holder: String::new(),
            card_bank: String::new(),
            sbp_phone: String::new(),
            sbp_bank: String::new(),
            other_text: String::new(),
            comment_template: DEFAULT_TEMPLATE.to_string(),
            sbp_qr: false,
        }
    }
}

/// What a commission carries of the requisites at its creation (product.md §4.1): masked, empty as null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PayTo {
    /// Methods.
    pub methods: Vec<String>,
    /// The card's last four digits.
    pub card_number_last4: Option<String>,
    /// Card holder.
    pub card_holder: Option<String>,
    /// Card bank.
    pub card_bank: Option<String>,
    /// SBP phone masked: `+7*** *** ** 67`.
    pub sbp_phone_masked: Option<String>,
    /// SBP bank.
    pub sbp_bank: Option<String>,
    /// Other instructions.
    pub other_text: Option<String>,
    /// The comment to write with the transfer.
    pub comment: Option<String>,
    /// An SBP QR image was current at creation: `GET …/commissions/{id}/qr` serves it.
    pub sbp_qr: bool,
}

/// A stored SBP QR image: its file under the data directory and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrImage {
    /// The storage key of the file (never shown).
    pub key: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub mime_type: String,
}

/// A commission's `pay_to_snapshot` as stored: what is shown, and the QR file it references.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// What the master and staff see.
    #[serde(flatten)]
    pub pay_to: PayTo,
    /// The QR image current at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbp_qr_image: Option<QrImage>,
}

/// The settings key holding the current QR image (`QrImage` as JSON).
pub const QR_KEY: &str = "owner_pay_sbp_qr";

const KEYS: [&str; 8] = [
    "owner_pay_methods_enabled",
    "owner_pay_card_number",
    "owner_pay_card_holder",
    "owner_pay_card_bank",
    "owner_pay_sbp_phone",
    "owner_pay_sbp_bank",
    "owner_pay_other_text",
    "owner_pay_comment_template",
];

/// Reads the requisites; missing keys keep their defaults.
pub fn load(conn: &Connection) -> Result<Requisites> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM settings WHERE key LIKE 'owner_pay_%'")?;
    let stored: HashMap<String, String> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let text = |key: &str| stored.get(key).cloned().unwrap_or_default();
    let mut requisites = Requisites {
        methods: stored.get(KEYS[0]).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default(),
        card_number: text(KEYS[1]),
        card_holder: text(KEYS[2]),
        card_bank: text(KEYS[3]),
        sbp_phone: text(KEYS[4]),
        sbp_bank: text(KEYS[5]),
        other_text: text(KEYS[6]),
        comment_template: text(KEYS[7]),
        sbp_qr: stored.get(QR_KEY).and_then(|v| serde_json::from_str::<QrImage>(v).ok()).is_some(),
    };
    if !stored.contains_key(KEYS[7]) {
        requisites.comment_template = DEFAULT_TEMPLATE.to_string();
    }
    Ok(requisites)
}

/// Validates and saves a whole set of requisites, all or nothing: methods from [`METHODS`]; the card
/// number 16–19 digits (spaces and dashes dropped), required when `card` is chosen; the SBP phone by the
/// phone rule, required when `sbp` is chosen; texts up to 200 characters.
pub fn update(conn: &Connection, now: DateTime<Utc>, input: &Requisites) -> Result<Requisites> {
    let mut methods: Vec<String> = Vec::new();
    for method in &input.methods {
        let method = method.trim().to_lowercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(invalid("methods", "pay_methods"));
        }
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    methods.sort_by_key(|m| METHODS.iter().position(|k| k == m));
    let card_number: String = input.card_number.chars().filter(|c| !matches!(c, ' ' | '-' | '\u{a0}')).collect();
    let card_ok = card_number.chars().all(|c| c.is_ascii_digit()) && (16..=19).contains(&card_number.len());
    if (!card_number.is_empty() || methods.iter().any(|m| m == "card")) && !card_ok {
        return Err(invalid("card_number", "card_number"));
    }
    let sbp_phone = match input.sbp_phone.trim() {
        "" if methods.iter().any(|m| m == "sbp") => return Err(invalid("sbp_phone", "phone")),
        "" => String::new(),
        raw => phone::normalize(raw).ok_or_else(|| invalid("sbp_phone", "phone"))?,
    };
    let text = |field: &'static str, value: &str| check_length(field, value.trim(), 0, 200).map(|()| value.trim().to_string());
    let saved = Requisites {
        methods,
        card_number,
        card_holder: text("card_holder", &input.card_holder)?,
        card_bank: text("card_bank", &input.card_bank)?,
        sbp_phone,
        sbp_bank: text("sbp_bank", &input.sbp_bank)?,
        other_text: text("other_text", &input.other_text)?,
        comment_template: text("comment_template", &input.comment_template)?,
        sbp_qr: qr_image(conn)?.is_some(),
    };
    let values = [
        serde_json::to_string(&saved.methods).unwrap_or_else(|_| "[]".into()),
        saved.card_number.clone(),
        saved.card_holder.clone(),
        saved.card_bank.clone(),
        saved.sbp_phone.clone(),
        saved.sbp_bank.clone(),
        saved.other_text.clone(),
        saved.comment_template.clone(),
    ];
    let mut upsert = conn.prepare_cached(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?;
    for (key, value) in KEYS.iter().zip(values) {
        upsert.execute(params![key, value, ms(now)])?;
    }
    Ok(saved)
}

/// Largest SBP QR image, bytes: a QR is a small picture shown on every pay screen.
pub const MAX_QR_BYTES: i64 = 2 * 1024 * 1024;
/// The QR image's types, judged by content: what every phone's browser shows in an `<img>`.
pub const QR_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// The current SBP QR image, if one is uploaded.
pub fn qr_image(conn: &Connection) -> Result<Option<QrImage>> {
    let value: Option<String> = conn.query_row("SELECT value FROM settings WHERE key = ?1", [QR_KEY], |r| r.get(0)).optional()?;
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}

/// Makes an already stored file the SBP QR image: PNG, JPEG or WebP by content, up to 2 MiB (refusals
/// name the field `sbp_qr`). Audited with the staff member. Returns the key of the replaced file when no
/// commission's snapshot references it, for the caller to remove once committed.
pub fn set_qr(conn: &Connection, now: DateTime<Utc>, staff: &Staff, file: &StoredFile) -> Result<Option<String>> {
    if !QR_TYPES.contains(&file.mime_type.as_str()) {
        return Err(invalid("sbp_qr", "qr_type"));
    }
    if !(1..=MAX_QR_BYTES).contains(&file.size) {
        return Err(invalid("sbp_qr", "qr_size"));
    }
    let old = qr_image(conn)?;
    let image = QrImage { key: file.storage_key.clone(), mime_type: file.mime_type.clone() };
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![QR_KEY, serde_json::to_string(&image).unwrap_or_default(), ms(now)],
    )?;
    audit(conn, now, staff, "requisites_qr_set", old.is_some())?;
    unreferenced(conn, old)
}

/// Removes the SBP QR image (new commissions get none; existing ones keep theirs). Returns the key of the
/// removed file when no snapshot references it. Removing when there is none changes nothing.
pub fn clear_qr(conn: &Connection, now: DateTime<Utc>, staff: &Staff) -> Result<Option<String>> {
    let Some(old) = qr_image(conn)? else { return Ok(None) };
    conn.execute("DELETE FROM settings WHERE key = ?1", [QR_KEY])?;
    audit(conn, now, staff, "requisites_qr_removed", true)?;
    unreferenced(conn, Some(old))
}

fn audit(conn: &Connection, now: DateTime<Utc>, staff: &Staff, kind: &'static str, had_one: bool) -> Result<()> {
    let detail = serde_json::json!({"staff_id": staff.id, "staff": staff.login, "from": if had_one { "set" } else { "none" }, "to": if kind == "requisites_qr_set" { "set" } else { "none" }});
    events::record(conn, now, None, "staff", kind, detail)?;
    Ok(())
}

/// The key of a former QR file that no commission snapshot references (so it may be deleted).
fn unreferenced(conn: &Connection, old: Option<QrImage>) -> Result<Option<String>> {
    let Some(old) = old else { return Ok(None) };
    let referenced: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM commissions WHERE json_extract(pay_to_snapshot, '$.sbp_qr_image.key') = ?1)",
        [&old.key],
        |r| r.get(0),
    )?;
    Ok((!referenced).then_some(old.key))
}

/// The bytes of a QR image: the demo's lives in the binary, any other under the data directory.
/// Blocking file I/O.
pub fn qr_bytes(data_dir: &Path, image: &QrImage) -> Result<Vec<u8>> {
    match crate::demo::file(&image.key) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => uploads::read(data_dir, &image.key),
    }
}

/// "+7*** *** ** 67" for an 11-digit Russian number; otherwise every digit but the last two starred.
pub fn mask_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 11 && digits.starts_with('7') {
        return format!("+7*** *** ** {}", &digits[9..]);
    }
    let keep = digits.len().saturating_sub(2);
    digits.chars().enumerate().map(|(i, c)| if i < keep { '*' } else { c }).collect()
}

/// The snapshot of `requisites` and the current QR image for the commission of `order_id` closed by
/// `master_fio`.
pub fn snapshot(requisites: &Requisites, qr: Option<QrImage>, order_id: i64, master_fio: &str) -> Snapshot {
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let template = requisites.comment_template.trim();
    let comment = if template.is_empty() {
        format!("Commission #{order_id}")
    } else {
        template.replace("<order_id>", &order_id.to_string()).replace("<master_fio>", master_fio)
    };
    let card = &requisites.card_number;
    let pay_to = PayTo {
        methods: requisites.methods.clone(),
        card_number_last4: (card.len() >= 4).then(|| card[card.len() - 4..].to_string()),
        card_holder: some(&requisites.card_holder),
        card_bank: some(&requisites.card_bank),
        sbp_phone_masked: some(&requisites.sbp_phone).map(|p| mask_phone(&p)),
        sbp_bank: some(&requisites.sbp_bank),
        other_text: some(&requisites.other_text),
        comment: Some(comment),
        sbp_qr: qr.is_some(),
    };
    Snapshot { pay_to, sbp_qr_image: qr }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_as_the_spec_shows() {
        assert_eq!(mask_phone("+79991234567"), "+7*** *** ** 67");
        assert_eq!(mask_phone("12345"), "***45");
    }

    #[test]
    fn the_snapshot_fills_the_template_and_masks() {
        let requisites = Requisites {
            methods: vec!["card".into(), "sbp".into()],
            card_number: "2200123456789012".into(),
            sbp_phone: "+79991234567".into(),
            ..Requisites::default()
        };
        let Snapshot { pay_to, sbp_qr_image } = snapshot(&requisites, None, 42, "Иванов Иван Иванович");
        assert!(!pay_to.sbp_qr && sbp_qr_image.is_none());
        assert_eq!(pay_to.comment.as_deref(), Some("Комиссия #42 от Иванов Иван Иванович"));
        assert_eq!(pay_to.card_number_last4.as_deref(), Some("9012"));
        assert_eq!(pay_to.sbp_phone_masked.as_deref(), Some("+7*** *** ** 67"));
        assert_eq!(pay_to.card_holder, None, "empty strings become null");
        let empty = snapshot(&Requisites { comment_template: String::new(), ..Requisites::default() }, None, 7, "X").pay_to;
        assert_eq!(empty.comment.as_deref(), Some("Commission #7"));
    }
}
