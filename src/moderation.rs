//! Staff work on masters (product.md §3.3, decisions §B.20, §B.23): the city-scoped lists and search, the
//! master card, and the moderation actions — approve, reject, block, unblock, limit, rating, delete — each
//! with an audit row and, where §3.3 says so, one notification to the master.
//!
//! Everyone on staff may read (a logist read-only); only global admins and admins of the master's city act.
//! A master outside the caller's cities is "not found", so ids cannot be probed.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::db::{at, ms};
use crate::domain::{Category, CityId, DistrictId, MasterId, ModerationStatus, PayoutMethod, ShiftStatus, StaffRole};
use crate::error::{Error, Result, invalid};
use crate::masters::ShiftState;
use crate::notifications;
use crate::settings::Settings;
use crate::staff::Staff;

/// Roles that may change a master.
const MODERATORS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];
/// Reasons (reject, block) are 1–200 characters (decisions §B.15).
pub const REASON_LEN: (usize, usize) = (1, 200);
/// The personal limit an admin may set (decisions D-6).
pub const LIMIT_RANGE: (i64, i64) = (1, 20);
/// The documents a master's questionnaire should carry (`attachments.document_type` with entity MASTER).
pub const REQUIRED_DOCUMENTS: [&str; 2] = ["passport", "selfie"];

/// Writes one row of the admin audit log.
pub fn audit(conn: &Connection, now: DateTime<Utc>, staff: &Staff, master: Option<MasterId>, action: &str, payload: &Value) -> Result<()> {
    conn.prepare_cached("INSERT INTO admin_audit_log (staff_id, master_id, action, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![staff.id, master, action, payload.to_string(), ms(now)])?;
    Ok(())
}

/// Whether `staff` may see a master of `city`; a master without a city only for a global admin.
pub(crate) fn visible(staff: &Staff, city: Option<CityId>) -> bool {
    staff.role == StaffRole::GlobalAdmin || city.is_some_and(|c| staff.sees(c))
}

/// The flags an action looks at.
struct Subject {
    id: MasterId,
    full_name: String,
    phone: String,
    verified: bool,
    is_blocked: bool,
    is_deleted: bool,
}

/// The master, if the staff member may see him.
fn subject(conn: &Connection, staff: &Staff, id: MasterId) -> Result<Subject> {
    let row = conn
        .query_row("SELECT city_id, full_name, phone, verified, is_blocked, is_deleted FROM masters WHERE id = ?1", [id], |r| {
            Ok((r.get::<_, Option<CityId>>(0)?, Subject { id, full_name: r.get(1)?, phone: r.get(2)?, verified: r.get(3)?, is_blocked: r.get(4)?, is_deleted: r.get(5)? }))
        })
        .optional()?;
    match row {
        Some((city, subject)) if visible(staff, city) => Ok(subject),
        _ => Err(Error::NotFound { what: "master" }),
    }
}

/// Refuses, as "not found", a master outside the staff member's cities.
pub fn ensure_visible(conn: &Connection, staff: &Staff, id: MasterId) -> Result<()> {
    subject(conn, staff, id).map(|_| ())
}

/// A master a moderator may change: role first (403), then scope (404), then not deleted (409).
fn for_action(conn: &Connection, staff: &Staff, id: MasterId) -> Result<Subject> {
    staff.require(&MODERATORS)?;
    let subject = subject(conn, staff, id)?;
    if subject.is_deleted {
        return Err(Error::StateConflict { why: "master_deleted" });
    }
    Ok(subject)
}

fn reason(raw: &str) -> Result<&str> {
    let reason = raw.trim();
    let (min, max) = REASON_LEN;
    crate::error::check_length("reason", reason, min, max).map(|()| reason)
}

/// Approves the questionnaire: verified, active (unless blocked), APPROVED; the master is told.
pub fn approve(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: MasterId) -> Result<()> {
    let master = for_action(conn, staff, id)?;
    if master.verified {
        return Err(Error::StateConflict { why: "already_approved" });
    }
    conn.execute(
        "UPDATE masters SET verified = 1, verified_at = ?2, verified_by_staff_id = ?3, moderation_status = 'APPROVED',
             moderation_reason = NULL, is_active = 1 - is_blocked, updated_at = ?2
         WHERE id = ?1",
        params![id, ms(now), staff.id],
    )?;
    audit(conn, now, staff, Some(id), "approve_master", &json!({}))?;
    notifications::push(conn, now, id, "moderation_approved", &json!({}))?;
    Ok(())
}

/// Rejects the questionnaire with a reason (1–200): unverified, inactive, off shift, REJECTED; the master
/// is told why.
pub fn reject(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: MasterId, why: &str) -> Result<()> {
    for_action(conn, staff, id)?;
    let why = reason(why)?;
    conn.execute(
        "UPDATE masters SET verified = 0, is_active = 0, moderation_status = 'REJECTED', moderation_reason = ?2,
             shift_status = 'SHIFT_OFF', is_on_shift = 0, break_until = NULL, updated_at = ?3
         WHERE id = ?1",
        params![id, why, ms(now)],
    )?;
    audit(conn, now, staff, Some(id), "reject_master", &json!({"reason": why}))?;
    notifications::push(conn, now, id, "moderation_rejected", &json!({"reason": why}))?;
    Ok(())
}

/// Blocks a master with a reason (1–200): inactive and off shift until unblocked; the master is told why.
pub fn block(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: MasterId, why: &str) -> Result<()> {
    let master = for_action(conn, staff, id)?;
    if master.is_blocked {
        return Err(Error::StateConflict { why: "already_blocked" });
    }
    let why = reason(why)?;
    conn.execute(
        "UPDATE masters SET is_blocked = 1, is_active = 0, blocked_at = ?2, blocked_reason = ?3,
             shift_status = 'SHIFT_OFF', is_on_shift = 0, break_until = NULL, updated_at = ?2
         WHERE id = ?1",
        params![id, ms(now), why],
    )?;
    audit(conn, now, staff, Some(id), "block_master", &json!({"reason": why}))?;
    notifications::push(conn, now, id, "account_blocked", &json!({"reason": why}))?;
    Ok(())
}

/// Lifts a block; the master is active again if his questionnaire is approved, and is told.
pub fn unblock(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: MasterId) -> Result<()> {
    let master = for_action(conn, staff, id)?;
    if !master.is_blocked {
        return Err(Error::StateConflict { why: "not_blocked" });
    }
    conn.execute(
        "UPDATE masters SET is_blocked = 0, blocked_at = NULL, blocked_reason = NULL,
             is_active = (verified = 1 AND moderation_status = 'APPROVED'), updated_at = ?2
         WHERE id = ?1",
        params![id, ms(now)],
    )?;
    audit(conn, now, staff, Some(id), "unblock_master", &json!({}))?;
    notifications::push(conn, now, id, "account_unblocked", &json!({}))?;
    Ok(())
}

/// Sets the master's personal active-order limit (1..20), or clears it with `None` (the global setting
/// applies again, decisions D-6). Returns the limit now in force; the master is told.
pub fn set_limit(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: MasterId, limit: Option<i64>) -> Result<i64> {
    for_action(conn, staff, id)?;
    let (min, max) = LIMIT_RANGE;
    if limit.is_some_and(|l| !(min..=max).contains(&l)) {
        return Err(invalid("limit", format!("range:{min}:{max}")));
    }
    conn.execute("UPDATE masters SET max_active_orders_override = ?2, updated_at = ?3 WHERE id = ?1", params![id, limit, ms(now)])?;
    let in_force = limit.unwrap_or(Settings::load(conn)?.max_active_orders);
    audit(conn, now, staff, Some(id), "set_limit", &json!({"limit": limit}))?;
    notifications::push(conn, now, id, "limit_changed", &json!({"limit": in_force}))?;
    Ok(in_force)
}

/// Sets the rating (0.0..5.0, kept to two decimals; decisions §B.27). Not notified.
pub fn set_rating(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: MasterId, rating: f64) -> Result<f64> {
    for_action(conn, staff, id)?;
    if !(0.0..=5.0).contains(&rating) {
        return Err(invalid("rating", "range:0:5"));
    }
    let rating = (rating * 100.0).round() / 100.0;
    conn.execute("UPDATE masters SET rating = ?2, updated_at = ?3 WHERE id = ?1", params![id, rating, ms(now)])?;
    audit(conn, now, staff, Some(id), "set_rating", &json!({"rating": rating}))?;
    Ok(rating)
}

/// How a master was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Deletion {
    /// Kept for the history of his orders, offers or commissions; `is_deleted`, inactive, phone freed.
    Soft,
    /// Gone with his districts, skills and documents.
    Hard,
}

/// A deleted master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Deleted {
    /// Soft or hard.
    pub deletion: Deletion,
    /// Storage keys of his documents, whose files the caller removes once the deletion is committed.
    #[serde(skip)]
    pub files: Vec<String>,
}

/// Deletes a master: softly when any order, offer or commission refers to him (so no order loses its
/// history), else for good with his districts, skills and documents. The audit row is written first; no
/// notification.
pub fn delete(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: MasterId) -> Result<Deleted> {
    let master = for_action(conn, staff, id)?;
    let referred: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE assigned_master_id = ?1 OR preferred_master_id = ?1)
             OR EXISTS (SELECT 1 FROM offers WHERE master_id = ?1)
             OR EXISTS (SELECT 1 FROM commissions WHERE master_id = ?1)",
        [id],
        |r| r.get(0),
    )?;
    let how = if referred { Deletion::Soft } else { Deletion::Hard };
    let action = if referred { "soft_delete_master" } else { "hard_delete_master" };
    audit(conn, now, staff, Some(id), action, &json!({"master_id": id, "full_name": master.full_name, "phone": master.phone}))?;
    let mut files = Vec::new();
    match how {
        Deletion::Soft => {
            conn.execute(
                "UPDATE masters SET is_deleted = 1, is_active = 0, shift_status = 'SHIFT_OFF', is_on_shift = 0,
                     break_until = NULL, updated_at = ?2
                 WHERE id = ?1",
                params![master.id, ms(now)],
            )?;
        }
        Deletion::Hard => {
            // Attachments point at their owner by (entity_type, entity_id), not by a foreign key.
            files = conn
                .prepare("SELECT storage_key FROM attachments WHERE entity_type = 'MASTER' AND entity_id = ?1")?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            conn.execute("DELETE FROM attachments WHERE entity_type = 'MASTER' AND entity_id = ?1", [id])?;
            conn.execute("DELETE FROM masters WHERE id = ?1", [id])?;
        }
    }
    Ok(Deleted { deletion: how, files })
}

// --- lists and search ---------------------------------------------------------------------------------------

/// The master groups of the staff lists (product.md §3.3); together they cover every living master once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MasterGroup {
    /// Verified, active, not blocked: can work.
    Approved,
    /// Not verified and not blocked: pending or rejected questionnaires.
    Moderation,
    /// Blocked (or verified but deactivated).
    Blocked,
}

impl MasterGroup {
    fn as_str(self) -> &'static str {
        match self {
            MasterGroup::Approved => "approved",
            MasterGroup::Moderation => "moderation",
            MasterGroup::Blocked => "blocked",
        }
    }
}

/// What to list (query parameters of the staff master list).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MasterFilter {
    /// One group; all living masters when absent.
    // Inline: the enum is not a component of the document, so a `$ref` to it would dangle.
    #[param(inline)]
    pub group: Option<MasterGroup>,
    /// Only masters with this skill.
    pub category: Option<Category>,
    /// Only this city (a city outside the caller's scope yields an empty list).
    pub city_id: Option<CityId>,
    /// Full-name fragment, phone digits or id (decisions §B.23).
    pub q: Option<String>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// Rows per page, 1 to 100 (default 10).
    pub per_page: Option<i64>,
}

/// A master in a staff list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MasterListItem {
    /// Id.
    pub id: MasterId,
    /// "Фамилия Имя [Отчество]".
    pub full_name: String,
    /// `+7XXXXXXXXXX`.
    pub phone: String,
    /// Home city.
    pub city_id: Option<CityId>,
    /// City name.
    pub city_name: Option<String>,
    /// Categories.
    pub skills: Vec<Category>,
    /// Rating 0..5.
    pub rating: f64,
    /// Has a car.
    pub has_vehicle: bool,
    /// Shift state.
    pub shift: ShiftStatus,
    /// Passed moderation.
    pub verified: bool,
    /// May work.
    pub is_active: bool,
    /// Blocked.
    pub is_blocked: bool,
    /// Questionnaire state.
    pub moderation_status: ModerationStatus,
    /// Orders in ASSIGNED, EN_ROUTE, WORKING, PAYMENT.
    pub active_orders: i64,
    /// Active-order limit in force.
    pub limit: i64,
    /// Mean total of his WORKING/PAYMENT/CLOSED orders, kopecks.
    pub avg_check_kop: i64,
}

/// One page of a master list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MasterPage {
    /// The masters of this page, by full name.
    pub items: Vec<MasterListItem>,
    /// Matches over all pages.
    pub total: i64,
    /// This page, from 1.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

/// Whether a master matches a search (decisions §B.23): a fragment of the full name (any case), a
/// fragment of the phone's digits (a leading 8 read as 7), or the id (`123` or `#123`).
pub fn matches(q: &str, id: MasterId, full_name: &str, phone: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return true;
    }
    if full_name.to_lowercase().contains(&q.to_lowercase()) {
        return true;
    }
    let numeric = q.chars().all(|c| c.is_ascii_digit() || " +-()#".contains(c));
    let wanted: String = q.chars().filter(char::is_ascii_digit).collect();
    if !numeric || wanted.is_empty() {
        return false;
    }
    if wanted.parse::<i64>().ok() == Some(id) {
        return true;
    }
    let have: String = phone.chars().filter(char::is_ascii_digit).collect();
    have.contains(&wanted) || wanted.strip_prefix('8').is_some_and(|rest| have.starts_with(&format!("7{rest}")))
}

/// Columns of a list item; `?2` = the global active-order limit (the item is chosen by `?1`).
const ITEM_SELECT: &str = concat!(
    "SELECT m.id, m.full_name, m.phone, m.city_id, c.name, m.rating, m.has_vehicle, m.shift_status, m.verified,
           m.is_active, m.is_blocked, m.moderation_status, ",
    crate::engine::candidates::load_and_limit_sql!(),
    ", (SELECT CAST(ROUND(COALESCE(AVG(o.total_sum_kop), 0)) AS INTEGER) FROM orders o
             WHERE o.assigned_master_id = m.id AND o.status IN ('WORKING', 'PAYMENT', 'CLOSED')),
           (SELECT group_concat(category) FROM master_skills s WHERE s.master_id = m.id)
    FROM masters m LEFT JOIN cities c ON c.id = m.city_id"
);

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MasterListItem> {
    let skills: Option<String> = r.get(15)?;
    let mut skills: Vec<Category> = skills.unwrap_or_default().split(',').filter_map(Category::parse).collect();
    skills.sort_by_key(|c| c.as_str());
    Ok(MasterListItem {
        id: r.get(0)?,
        full_name: r.get(1)?,
        phone: r.get(2)?,
        city_id: r.get(3)?,
        city_name: r.get(4)?,
        rating: r.get(5)?,
        has_vehicle: r.get(6)?,
        shift: r.get(7)?,
        verified: r.get(8)?,
        is_active: r.get(9)?,
        is_blocked: r.get(10)?,
        moderation_status: r.get(11)?,
        active_orders: r.get(12)?,
        limit: r.get(13)?,
        avg_check_kop: r.get(14)?,
        skills,
    })
}

/// The living masters of the staff member's cities matching `filter`, by full name, one page.
pub fn list(conn: &Connection, staff: &Staff, filter: &MasterFilter) -> Result<MasterPage> {
    let (page, per_page) = crate::queue::PageRequest { page: filter.page, per_page: filter.per_page }.resolve()?;
    let all = staff.role == StaffRole::GlobalAdmin;
    let cities = serde_json::to_string(&staff.cities).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.full_name, m.phone FROM masters m
         WHERE m.is_deleted = 0
           AND (?1 OR m.city_id IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR m.city_id = ?3)
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM master_skills s WHERE s.master_id = m.id AND s.category = ?4))
           AND (?5 IS NULL
                OR (?5 = 'approved' AND m.verified = 1 AND m.is_active = 1 AND m.is_blocked = 0)
                OR (?5 = 'moderation' AND m.verified = 0 AND m.is_blocked = 0)
                OR (?5 = 'blocked' AND (m.is_blocked = 1 OR (m.verified = 1 AND m.is_active = 0))))
         ORDER BY m.full_name, m.id",
    )?;
    let q = filter.q.as_deref().unwrap_or_default();
    let ids: Vec<MasterId> = stmt
        .query_map(params![all, cities, filter.city_id, filter.category, filter.group.map(MasterGroup::as_str)], |r| {
            Ok((r.get::<_, MasterId>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?
        .filter_map(|row| match row {
            Ok((id, name, phone)) if !matches(q, id, &name, &phone) => None,
            other => Some(other.map(|(id, _, _)| id)),
        })
        .collect::<rusqlite::Result<_>>()?;
    let limit = Settings::load(conn)?.max_active_orders;
    let mut item = conn.prepare_cached(&format!("{ITEM_SELECT} WHERE m.id = ?1"))?;
    let items = ids
        .iter()
        .skip(usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or_default())
        .map(|id| item.query_row(params![id, limit], item_row))
        .collect::<rusqlite::Result<_>>()?;
    Ok(MasterPage { items, total: ids.len() as i64, page, per_page })
}

// --- the card -----------------------------------------------------------------------------------------------

/// A district a master serves.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServedDistrict {
    /// Id.
    pub id: DistrictId,
    /// Name.
    pub name: String,
}

/// A document of the master's questionnaire (an attachment with entity MASTER).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MasterDocument {
    /// Attachment id (download through the attachment route).
    pub id: i64,
    /// `passport`, `selfie`, …
    pub document_type: Option<String>,
    /// Original file name.
    pub file_name: String,
    /// MIME type.
    pub mime_type: String,
    /// Bytes.
    pub size: i64,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
}

/// The master card for staff (product.md §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MasterCard {
    /// The list fields: name, phone, city, skills, rating, flags, load, limit, average check.
    #[serde(flatten)]
    pub master: MasterListItem,
    /// Shift state with the end of a break.
    pub shift_state: ShiftState,
    /// Personal limit, if set (else the global setting applies).
    pub limit_override: Option<i64>,
    /// Soft-deleted.
    pub is_deleted: bool,
    /// Why the questionnaire was rejected.
    pub moderation_reason: Option<String>,
    /// When blocked.
    pub blocked_at: Option<DateTime<Utc>>,
    /// Why blocked.
    pub blocked_reason: Option<String>,
    /// When approved.
    pub verified_at: Option<DateTime<Utc>>,
    /// Who approved.
    pub verified_by_staff_id: Option<i64>,
    /// His referral code, once generated.
    pub referral_code: Option<String>,
    /// Who invited him.
    pub referred_by_master_id: Option<MasterId>,
    /// Masters he invited.
    pub referrals_count: i64,
    /// Referral rewards accrued to him, kopecks.
    pub referral_rewards_kop: i64,
    /// Number of those rewards.
    pub referral_rewards_count: i64,
    /// How he is paid.
    pub payout_method: Option<PayoutMethod>,
    /// Requisites masked to the last four characters, e.g. `*3456`.
    pub payout_masked: Option<String>,
    /// Consent to personal-data processing.
    pub pdn_accepted_at: Option<DateTime<Utc>>,
    /// Districts served, by name.
    pub districts: Vec<ServedDistrict>,
    /// Questionnaire documents.
    pub documents: Vec<MasterDocument>,
    /// Required documents not uploaded yet (`passport`, `selfie`).
    pub documents_missing: Vec<String>,
    /// Signed up.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

fn masked(payout: Option<&str>) -> Option<String> {
    let value: Value = serde_json::from_str(payout?).ok()?;
    let text = value.as_object()?.values().find_map(Value::as_str)?;
    let tail: String = text.chars().rev().filter(|c| !c.is_whitespace()).take(4).collect::<Vec<_>>().into_iter().rev().collect();
    Some(format!("*{tail}"))
}

/// The master card; any staff member of the master's city may read it (also a soft-deleted master's).
pub fn card(conn: &Connection, staff: &Staff, id: MasterId) -> Result<MasterCard> {
    subject(conn, staff, id)?;
    let limit = Settings::load(conn)?.max_active_orders;
    let master = conn.prepare_cached(&format!("{ITEM_SELECT} WHERE m.id = ?1"))?.query_row(params![id, limit], item_row)?;
    let mut card = conn.query_row(
        "SELECT m.break_until, m.max_active_orders_override, m.is_deleted, m.moderation_reason, m.blocked_at, m.blocked_reason,
                m.verified_at, m.verified_by_staff_id, m.referral_code, m.referred_by_master_id,
                (SELECT COUNT(*) FROM masters r WHERE r.referred_by_master_id = m.id),
                (SELECT COALESCE(SUM(amount_kop), 0) FROM referral_rewards w WHERE w.referrer_id = m.id AND w.status <> 'CANCELED'),
                (SELECT COUNT(*) FROM referral_rewards w WHERE w.referrer_id = m.id AND w.status <> 'CANCELED'),
                m.payout_method, m.payout_data, m.pdn_accepted_at, m.created_at, m.updated_at
         FROM masters m WHERE m.id = ?1",
        [id],
        |r| {
            let payout: Option<String> = r.get(14)?;
            Ok(MasterCard {
                shift_state: ShiftState { status: master.shift, break_until: r.get::<_, Option<i64>>(0)?.map(at) },
                limit_override: r.get(1)?,
                is_deleted: r.get(2)?,
                moderation_reason: r.get(3)?,
                blocked_at: r.get::<_, Option<i64>>(4)?.map(at),
                blocked_reason: r.get(5)?,
                verified_at: r.get::<_, Option<i64>>(6)?.map(at),
                verified_by_staff_id: r.get(7)?,
                referral_code: r.get(8)?,
                referred_by_master_id: r.get(9)?,
                referrals_count: r.get(10)?,
                referral_rewards_kop: r.get(11)?,
                referral_rewards_count: r.get(12)?,
                payout_method: r.get(13)?,
                payout_masked: masked(payout.as_deref()),
                pdn_accepted_at: r.get::<_, Option<i64>>(15)?.map(at),
                created_at: at(r.get(16)?),
                updated_at: at(r.get(17)?),
                districts: Vec::new(),
                documents: Vec::new(),
                documents_missing: Vec::new(),
                master: master.clone(),
            })
        },
    )?;
    card.districts = conn
        .prepare_cached(
            "SELECT d.id, d.name FROM master_districts md JOIN districts d ON d.id = md.district_id
             WHERE md.master_id = ?1 ORDER BY d.name, d.id",
        )?
        .query_map([id], |r| Ok(ServedDistrict { id: r.get(0)?, name: r.get(1)? }))?
        .collect::<rusqlite::Result<_>>()?;
    card.documents = documents(conn, id)?;
    card.documents_missing = REQUIRED_DOCUMENTS
        .iter()
        .filter(|kind| !card.documents.iter().any(|d| d.document_type.as_deref() == Some(**kind)))
        .map(|kind| kind.to_string())
        .collect();
    Ok(card)
}

/// The questionnaire documents of a master (attachments with entity MASTER), oldest first.
pub fn documents(conn: &Connection, master: MasterId) -> rusqlite::Result<Vec<MasterDocument>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, document_type, file_name, mime_type, size, created_at FROM attachments
         WHERE entity_type = 'MASTER' AND entity_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([master], |r| {
        Ok(MasterDocument {
            id: r.get(0)?,
            document_type: r.get(1)?,
            file_name: r.get(2)?,
            mime_type: r.get(3)?,
            size: r.get(4)?,
            created_at: at(r.get(5)?),
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_matches_name_fragment_phone_digits_and_id() {
        let m = |q| matches(q, 42, "Иванов Пётр Сергеевич", "+79991234567");
        assert!(!m("петр") && m("пётр") && m("ИВАНОВ") && m("ов П"));
        assert!(m("4567") && m("8 999 123") && m("+7 (999) 12") && m("42") && m("#42"));
        assert!(!m("43") && !m("5555") && !m("Сидоров") && !m("abc"));
        assert!(m("  "));
    }

    #[test]
    fn payout_is_masked_to_the_last_four() {
        assert_eq!(masked(Some(r#"{"card_number":"1234 5678 9012 3456"}"#)).as_deref(), Some("*3456"));
        assert_eq!(masked(Some(r#"{"sbp_phone":"+79991234567"}"#)).as_deref(), Some("*4567"));
        assert_eq!(masked(None), None);
    }
}
