//! Master sign-up (product.md §3.2, decisions §B.14): invites issued by staff for one city — a one-time link
//! token and a short code — and the questionnaire that turns an invite into a PENDING master.
//!
//! Registration runs in two steps so that the slow password hash stays outside the write transaction:
//! [`prepare`] checks everything that needs no database and hashes the password, [`register_prepared`]
//! checks the invite, districts, phone and referral code and writes. [`register`] does both.
//!
//! Passport and selfie are attachments with entity `MASTER` and `document_type` `passport` / `selfie`,
//! uploaded through the upload endpoint after sign-up; registration does not wait for them (see
//! [`crate::moderation::REQUIRED_DOCUMENTS`], which the master card reports as missing).

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::hash_secret;
use crate::db::{at, ms};
use crate::domain::{Category, CityId, DistrictId, MasterId, ModerationStatus, PayoutMethod, StaffRole};
use crate::error::{Error, Result, invalid};
use crate::moderation::audit;
use crate::notifications;
use crate::password;
use crate::phone;
use crate::settings::Settings;
use crate::staff::Staff;

/// Length of an invite code.
pub const CODE_LEN: usize = 8;
/// Hours an invite lives when staff do not say.
pub const DEFAULT_INVITE_TTL_HOURS: i64 = 72;
/// The longest an invite may live, hours (30 days).
pub const MAX_INVITE_TTL_HOURS: i64 = 720;
/// Name length bounds, characters.
pub const NAME_LEN: (usize, usize) = (2, 30);

const CODE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const INVITE_ISSUERS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

// --- invites ------------------------------------------------------------------------------------------------

/// A freshly issued invite: the only time its link token is shown.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Invite {
    /// Id.
    pub id: i64,
    /// Short code to type in: 8 characters A–Z, 0–9.
    pub code: String,
    /// Secret for the one-time link (only its hash is stored).
    pub token: String,
    /// The city the master will belong to.
    pub city_id: CityId,
    /// Unusable from then on.
    pub expires_at: DateTime<Utc>,
}

/// Where an invite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InviteState {
    /// Can still be used.
    Active,
    /// A master signed up with it.
    Used,
    /// Withdrawn by staff.
    Revoked,
    /// Ran out of time unused.
    Expired,
}

/// An invite as listed to staff (the link token is never shown again).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InviteInfo {
    /// Id.
    pub id: i64,
    /// Short code.
    pub code: String,
    /// City.
    pub city_id: CityId,
    /// City name.
    pub city_name: String,
    /// Staff note.
    pub comment: Option<String>,
    /// Who issued it.
    pub issued_by_staff_id: Option<i64>,
    /// Where it stands now.
    pub state: InviteState,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Used.
    pub used_at: Option<DateTime<Utc>>,
    /// The master who signed up with it.
    pub used_by_master_id: Option<MasterId>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

fn random_code() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An active city the staff member may act in; anything else is "not found".
fn staff_city(conn: &Connection, staff: &Staff, city: CityId) -> Result<()> {
    let active: Option<bool> = conn.query_row("SELECT is_active FROM cities WHERE id = ?1", [city], |r| r.get(0)).optional()?;
    if active == Some(true) && staff.sees(city) { Ok(()) } else { Err(Error::NotFound { what: "city" }) }
}

/// Issues an invite for `city` living `ttl_hours` (1..720). Global admins and admins of that city only.
pub fn create_invite(
    conn: &Connection,
    now: DateTime<Utc>,
    staff: &Staff,
    city_id: CityId,
    ttl_hours: i64,
    comment: Option<&str>,
) -> Result<Invite> {
    staff.require(&INVITE_ISSUERS)?;
    staff_city(conn, staff, city_id)?;
    if !(1..=MAX_INVITE_TTL_HOURS).contains(&ttl_hours) {
        return Err(invalid("ttl_hours", format!("range:1:{MAX_INVITE_TTL_HOURS}")));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 255) {
        return Err(invalid("comment", "max_len:255"));
    }
    let code = loop {
        let code = random_code();
        let taken: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM master_invites WHERE code = ?1)", [&code], |r| r.get(0))?;
        if !taken {
            break code;
        }
    };
    let token = random_token();
    let expires_at = now + Duration::hours(ttl_hours);
    conn.execute(
        "INSERT INTO master_invites (code, token_hash, city_id, issued_by_staff_id, comment, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![code, hash_secret(&token), city_id, staff.id, comment, ms(expires_at), ms(now)],
    )?;
    let id = conn.last_insert_rowid();
    audit(conn, now, staff, None, "create_invite", &json!({"invite_id": id, "city_id": city_id, "ttl_hours": ttl_hours}))?;
    Ok(Invite { id, code, token, city_id, expires_at })
}

fn invite_state(now: DateTime<Utc>, expires_at: i64, used_at: Option<i64>, revoked_at: Option<i64>) -> InviteState {
    if used_at.is_some() {
        InviteState::Used
    } else if revoked_at.is_some() {
        InviteState::Revoked
    } else if expires_at <= ms(now) {
        InviteState::Expired
    } else {
        InviteState::Active
    }
}

/// The invites of the staff member's cities, newest first (at most 500). Not for logists: the codes are
/// live credentials.
pub fn list_invites(conn: &Connection, now: DateTime<Utc>, staff: &Staff) -> Result<Vec<InviteInfo>> {
    staff.require(&INVITE_ISSUERS)?;
    let mut stmt = conn.prepare_cached(
        "SELECT i.id, i.code, i.city_id, c.name, i.comment, i.issued_by_staff_id, i.created_at, i.expires_at,
                i.used_at, i.used_by_master_id, i.revoked_at
         FROM master_invites i JOIN cities c ON c.id = i.city_id
         WHERE ?1 OR i.city_id IN (SELECT value FROM json_each(?2))
         ORDER BY i.id DESC LIMIT 500",
    )?;
    let all = staff.role == StaffRole::GlobalAdmin;
    let cities = serde_json::to_string(&staff.cities).unwrap_or_else(|_| "[]".into());
    let rows = stmt.query_map(params![all, cities], |r| {
        let (expires_at, used_at, revoked_at): (i64, Option<i64>, Option<i64>) = (r.get(7)?, r.get(8)?, r.get(10)?);
        Ok(InviteInfo {
            id: r.get(0)?,
            code: r.get(1)?,
            city_id: r.get(2)?,
            city_name: r.get(3)?,
            comment: r.get(4)?,
            issued_by_staff_id: r.get(5)?,
            state: invite_state(now, expires_at, used_at, revoked_at),
            created_at: at(r.get(6)?),
            expires_at: at(expires_at),
            used_at: used_at.map(at),
            used_by_master_id: r.get(9)?,
            revoked_at: revoked_at.map(at),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Withdraws an unused, unexpired invite. Another city's invite is "not found".
pub fn revoke_invite(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: i64) -> Result<()> {
    staff.require(&INVITE_ISSUERS)?;
    let row: Option<(CityId, i64, Option<i64>, Option<i64>)> = conn
        .query_row("SELECT city_id, expires_at, used_at, revoked_at FROM master_invites WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((city_id, expires_at, used_at, revoked_at)) = row.filter(|r| staff.sees(r.0)) else {
        return Err(Error::NotFound { what: "invite" });
    };
    match invite_state(now, expires_at, used_at, revoked_at) {
        InviteState::Active => {}
        InviteState::Used => return Err(Error::StateConflict { why: "invite_used" }),
        InviteState::Revoked => return Err(Error::StateConflict { why: "invite_revoked" }),
        InviteState::Expired => return Err(Error::StateConflict { why: "invite_expired" }),
    }
    conn.execute("UPDATE master_invites SET revoked_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
    audit(conn, now, staff, None, "revoke_invite", &json!({"invite_id": id, "city_id": city_id}))?;
    Ok(())
}

/// A usable invite: its id and city.
struct Usable {
    id: i64,
    city_id: CityId,
    expires_at: DateTime<Utc>,
}

/// Finds an invite by its code (8 characters, any case) or its link token; a used, revoked, expired or
/// unknown one is refused on the field `invite`.
fn usable_invite(conn: &Connection, now: DateTime<Utc>, raw: &str) -> Result<Usable> {
    let raw = raw.trim();
    let is_code = raw.len() == CODE_LEN && raw.chars().all(|c| c.is_ascii_alphanumeric());
    let (sql, key) = if is_code {
        ("SELECT id, city_id, expires_at, used_at, revoked_at FROM master_invites WHERE code = ?1", raw.to_ascii_uppercase())
    } else {
        ("SELECT id, city_id, expires_at, used_at, revoked_at FROM master_invites WHERE token_hash = ?1", hash_secret(raw))
    };
    let row = conn
        .query_row(sql, [key], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, CityId>(1)?, r.get::<_, i64>(2)?, invite_state(now, r.get(2)?, r.get(3)?, r.get(4)?)))
        })
        .optional()?;
    let Some((id, city_id, expires_at, state)) = row else { return Err(invalid("invite", "unknown")) };
    match state {
        InviteState::Active => Ok(Usable { id, city_id, expires_at: at(expires_at) }),
        InviteState::Used => Err(invalid("invite", "invite_used")),
        InviteState::Revoked => Err(invalid("invite", "invite_revoked")),
        InviteState::Expired => Err(invalid("invite", "invite_expired")),
    }
}

/// A district to choose at sign-up.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DistrictChoice {
    /// Id.
    pub id: DistrictId,
    /// Name.
    pub name: String,
}

/// What a sign-up form needs to know of an invite: the city and its districts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InviteCity {
    /// City.
    pub city_id: CityId,
    /// City name.
    pub city_name: String,
    /// The city's districts (may be empty: then none are asked for).
    pub districts: Vec<DistrictChoice>,
    /// When the invite stops working.
    pub expires_at: DateTime<Utc>,
}

fn districts_of(conn: &Connection, city: CityId) -> rusqlite::Result<Vec<DistrictChoice>> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM districts WHERE city_id = ?1 ORDER BY name, id")?;
    let rows = stmt.query_map([city], |r| Ok(DistrictChoice { id: r.get(0)?, name: r.get(1)? }))?;
    rows.collect()
}

/// Checks an invite (code or link token) for the sign-up form and names its city and districts.
pub fn inspect_invite(conn: &Connection, now: DateTime<Utc>, raw: &str) -> Result<InviteCity> {
    let invite = usable_invite(conn, now, raw)?;
    let city_name: String = conn.query_row("SELECT name FROM cities WHERE id = ?1", [invite.city_id], |r| r.get(0))?;
    Ok(InviteCity { city_id: invite.city_id, city_name, districts: districts_of(conn, invite.city_id)?, expires_at: invite.expires_at })
}

// --- registration -------------------------------------------------------------------------------------------

/// The sign-up questionnaire as sent. Every field may be missing in the JSON; the rules name what is wrong.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct Registration {
    /// Invite code (8 characters) or link token. Required while the setting `master_signup_requires_invite` is on.
    pub invite: Option<String>,
    /// Home city, only for a sign-up without an invite; with an invite the city is the invite's.
    pub city_id: Option<CityId>,
    /// Last name: 2–30 Cyrillic letters or hyphens.
    pub last_name: String,
    /// First name, same rule.
    pub first_name: String,
    /// Middle name, same rule; empty or "-" for none.
    pub middle_name: Option<String>,
    /// Phone, any common Russian spelling; the login.
    pub phone: String,
    /// Password, 8–128 characters.
    pub password: String,
    /// Districts served, of the city; required when the city has districts.
    pub district_ids: Vec<DistrictId>,
    /// Has a car.
    pub has_vehicle: bool,
    /// Categories worked in, at least one.
    pub skills: Vec<Category>,
    /// How the master wants to be paid.
    pub payout_method: Option<PayoutMethod>,
    /// CARD: 16 digits; SBP: a phone; YOOMONEY: 8–64 characters; BANK_ACCOUNT: 20 digits.
    pub payout_data: String,
    /// Another master's referral code (8 letters or digits), optional.
    pub referral_code: Option<String>,
    /// Consent to the processing of personal data; must be true.
    pub pdn_consent: bool,
}

/// A questionnaire that passed every check needing no database, with the password already hashed.
#[derive(Debug, Clone)]
pub struct SignUp {
    invite: Option<String>,
    city_id: Option<CityId>,
    full_name: String,
    phone: String,
    password_hash: String,
    district_ids: Vec<DistrictId>,
    has_vehicle: bool,
    skills: Vec<Category>,
    payout_method: PayoutMethod,
    payout_data: String,
    referral_code: Option<String>,
}

/// A registered master.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Registered {
    /// The new master's id.
    pub id: MasterId,
    /// Always PENDING: staff moderate the questionnaire.
    pub status: ModerationStatus,
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, 'А'..='я' | 'Ё' | 'ё')
}

/// A name part: 2–30 Cyrillic letters or hyphens, starting with a letter, which is upper-cased.
pub fn person_name(field: &'static str, raw: &str) -> Result<String> {
    let name = raw.trim();
    let len = name.chars().count();
    let mut chars = name.chars();
    let first = chars.next().filter(|c| is_cyrillic(*c));
    match first {
        Some(first) if (NAME_LEN.0..=NAME_LEN.1).contains(&len) && chars.clone().all(|c| is_cyrillic(c) || c == '-') => {
            Ok(first.to_uppercase().chain(chars).collect())
        }
        _ => Err(invalid(field, "cyrillic_name")),
    }
}

fn digits(raw: &str) -> Option<String> {
    raw.chars().all(|c| c.is_ascii_digit() || c == ' ' || c == '-').then(|| raw.chars().filter(char::is_ascii_digit).collect())
}

/// The stored payout requisites (product.md §1.4 `payout_data`) for `method`.
pub fn payout_data(method: PayoutMethod, raw: &str) -> Result<serde_json::Value> {
    let raw = raw.trim();
    match method {
        PayoutMethod::Card => match digits(raw).filter(|d| d.len() == 16) {
            Some(d) => Ok(json!({"card_number": format!("{} {} {} {}", &d[..4], &d[4..8], &d[8..12], &d[12..])})),
            None => Err(invalid("payout_data", "card")),
        },
        PayoutMethod::Sbp => phone::normalize(raw).map(|p| json!({"sbp_phone": p})).ok_or_else(|| invalid("payout_data", "phone")),
        PayoutMethod::YooMoney => {
            if (8..=64).contains(&raw.chars().count()) { Ok(json!({"account": raw})) } else { Err(invalid("payout_data", "length:8:64")) }
        }
        PayoutMethod::BankAccount => match digits(raw).filter(|d| d.len() == 20) {
            Some(d) => Ok(json!({"account_number": d})),
            None => Err(invalid("payout_data", "bank_account")),
        },
    }
}

/// Consent and the name parts: the full name "Фамилия Имя [Отчество]".
fn consented_name(pdn_consent: bool, last_name: &str, first_name: &str, middle_name: Option<&str>) -> Result<String> {
    if !pdn_consent {
        return Err(invalid("pdn_consent", "consent"));
    }
    let last = person_name("last_name", last_name)?;
    let first = person_name("first_name", first_name)?;
    let middle = match middle_name.map(str::trim) {
        None | Some("" | "-") => None,
        Some(raw) => Some(person_name("middle_name", raw)?),
    };
    Ok([Some(last), Some(first), middle].into_iter().flatten().collect::<Vec<_>>().join(" "))
}

/// The skills (at least one, each once) and the payout method with its requisites as stored.
fn skills_and_payout(skills: &[Category], method: Option<PayoutMethod>, raw: &str) -> Result<(Vec<Category>, PayoutMethod, String)> {
    let mut skills = skills.to_vec();
    skills.sort_by_key(|c| c.as_str());
    skills.dedup();
    if skills.is_empty() {
        return Err(invalid("skills", "at_least_one"));
    }
    let method = method.ok_or_else(|| invalid("payout_method", "required"))?;
    Ok((skills, method, payout_data(method, raw)?.to_string()))
}

fn distinct(ids: &[DistrictId]) -> Vec<DistrictId> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A typed referral code: none, or 8 letters and digits (upper-cased).
fn referral_code(raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim) {
        None | Some("" | "-") => Ok(None),
        Some(code) if code.len() == 8 && code.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(Some(code.to_ascii_uppercase())),
        Some(_) => Err(invalid("referral_code", "referral_code")),
    }
}

/// Checks the answers of one step of the questionnaire by the rules sign-up applies to them (issue 11 §3),
/// so the wizard refuses a wrong answer at its own step: each field sent is checked, one not sent is not.
/// Required-ness and what needs the database (a taken phone, an unknown referral code) wait for the sending.
pub fn check_answers(fields: &[(String, String)]) -> Vec<Error> {
    let sent = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let checks = [
        sent("last_name").and_then(|v| person_name("last_name", v).err()),
        sent("first_name").and_then(|v| person_name("first_name", v).err()),
        sent("middle_name").map(str::trim).filter(|v| !v.is_empty() && *v != "-").and_then(|v| person_name("middle_name", v).err()),
        sent("phone").and_then(|v| phone::normalize(v).is_none().then(|| invalid("phone", "phone"))),
        sent("password").and_then(|v| password::check(v).err()),
        sent("referral_code").and_then(|v| referral_code(Some(v)).err()),
        sent("payout_data").and_then(|data| match sent("payout_method").map(str::trim).unwrap_or_default() {
            "" => Some(invalid("payout_method", "required")),
            method => match PayoutMethod::parse(method) {
                Some(method) => payout_data(method, data).err(),
                None => Some(invalid("payout_method", "unknown")),
            },
        }),
        sent("home_location").and_then(|v| home_location(v).err()),
    ];
    checks.into_iter().flatten().collect()
}

/// Checks everything that needs no database and hashes the password (slow: keep it out of a write
/// transaction).
pub fn prepare(form: &Registration) -> Result<SignUp> {
    let full_name = consented_name(form.pdn_consent, &form.last_name, &form.first_name, form.middle_name.as_deref())?;
    let phone = phone::normalize(&form.phone).ok_or_else(|| invalid("phone", "phone"))?;
    crate::password::check(&form.password)?;
    let (skills, payout_method, payout_data) = skills_and_payout(&form.skills, form.payout_method, &form.payout_data)?;
    let referral_code = referral_code(form.referral_code.as_deref())?;
    Ok(SignUp {
        invite: form.invite.as_deref().map(str::trim).filter(|i| !i.is_empty()).map(str::to_string),
        city_id: form.city_id,
        full_name,
        phone,
        password_hash: password::hash(&form.password),
        district_ids: distinct(&form.district_ids),
        has_vehicle: form.has_vehicle,
        skills,
        payout_method,
        payout_data,
        referral_code,
    })
}

/// The city of a sign-up: the invite's, or — only when the installation allows sign-up without an
/// invite — the one the form names. Returns the invite used, if any.
fn sign_up_city(conn: &Connection, now: DateTime<Utc>, form: &SignUp) -> Result<(CityId, Option<i64>)> {
    if let Some(raw) = &form.invite {
        let invite = usable_invite(conn, now, raw)?;
        return Ok((invite.city_id, Some(invite.id)));
    }
    if Settings::load(conn)?.master_signup_requires_invite {
        return Err(invalid("invite", "required"));
    }
    let city = form.city_id.ok_or_else(|| invalid("city_id", "required"))?;
    let active: Option<bool> = conn.query_row("SELECT is_active FROM cities WHERE id = ?1", [city], |r| r.get(0)).optional()?;
    if active != Some(true) {
        return Err(invalid("city_id", "unknown"));
    }
    Ok((city, None))
}

/// Districts of `city`, at least one when the city has some.
fn city_districts(conn: &Connection, city: CityId, chosen: &[DistrictId]) -> Result<()> {
    let known: Vec<DistrictId> = districts_of(conn, city)?.into_iter().map(|d| d.id).collect();
    if !known.is_empty() && chosen.is_empty() {
        return Err(invalid("district_ids", "at_least_one"));
    }
    if chosen.iter().any(|d| !known.contains(d)) {
        return Err(invalid("district_ids", "unknown"));
    }
    Ok(())
}

/// Creates the PENDING, unverified, inactive master of a prepared questionnaire and uses up the invite.
/// Refused: an unusable invite, districts of another city (or none when the city has some), a phone of a
/// living master, an unknown referral code.
pub fn register_prepared(conn: &Connection, now: DateTime<Utc>, form: &SignUp) -> Result<Registered> {
    let (city, invite) = sign_up_city(conn, now, form)?;
    city_districts(conn, city, &form.district_ids)?;
    let taken: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM masters WHERE phone = ?1 AND is_deleted = 0)", [&form.phone], |r| r.get(0))?;
    if taken {
        return Err(invalid("phone", "taken"));
    }
    let referrer: Option<MasterId> = match &form.referral_code {
        None => None,
        Some(code) => Some(
            conn.query_row("SELECT id FROM masters WHERE referral_code = ?1 AND is_deleted = 0", [code], |r| r.get(0))
                .optional()?
                .ok_or_else(|| invalid("referral_code", "referral_unknown"))?,
        ),
    };
    conn.execute(
        "INSERT INTO masters (full_name, phone, password_hash, city_id, is_active, verified, moderation_status, has_vehicle,
             pdn_accepted_at, payout_method, payout_data, referred_by_master_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 0, 0, 'PENDING', ?5, ?6, ?7, ?8, ?9, ?6, ?6)",
        params![
            form.full_name,
            form.phone,
            form.password_hash,
            city,
            form.has_vehicle,
            ms(now),
            form.payout_method,
            form.payout_data,
            referrer
        ],
    )?;
    let id = conn.last_insert_rowid();
    let mut skill = conn.prepare_cached("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, ?2, ?3)")?;
    for category in &form.skills {
        skill.execute(params![id, category, ms(now)])?;
    }
    let mut district = conn.prepare_cached("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, ?3)")?;
    for d in &form.district_ids {
        district.execute(params![id, d, ms(now)])?;
    }
    if let Some(invite) = invite {
        conn.execute("UPDATE master_invites SET used_at = ?2, used_by_master_id = ?3 WHERE id = ?1", params![invite, ms(now), id])?;
    }
    if let Some(referrer) = referrer {
        conn.execute("INSERT INTO referrals (master_id, referrer_id, created_at) VALUES (?1, ?2, ?3)", params![id, referrer, ms(now)])?;
        notifications::push(conn, now, referrer, "referral_registered", &json!({"referred_master_id": id, "referred_name": form.full_name}))?;
    }
    Ok(Registered { id, status: ModerationStatus::Pending })
}

/// The optional home base of a questionnaire (product.md §3.2 step 15): "lat, lon" in degrees (a decimal
/// comma is fine when the two are separated by a space); empty or "-" for none.
pub fn home_location(raw: &str) -> Result<Option<(f64, f64)>> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "-" {
        return Ok(None);
    }
    let bad = || invalid("home_location", "lat_lon");
    let parts: Vec<&str> = match raw.split(',').collect::<Vec<_>>() {
        two if two.len() == 2 => two,
        _ => raw.split([' ', ';']).filter(|p| !p.is_empty() && *p != ",").collect(),
    };
    let [lat, lon] = parts.as_slice() else { return Err(bad()) };
    let degrees = |p: &str| p.trim().trim_end_matches(',').replace(',', ".").parse::<f64>().map_err(|_| bad());
    let (lat, lon) = (degrees(lat)?, degrees(lon)?);
    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) { Ok(Some((lat, lon))) } else { Err(bad()) }
}

/// Sets a master's home base, `(lat, lon)`.
pub fn set_home(conn: &Connection, master: MasterId, (lat, lon): (f64, f64)) -> Result<()> {
    conn.execute("UPDATE masters SET home_lat = ?2, home_lon = ?3 WHERE id = ?1", params![master, lat, lon])?;
    Ok(())
}

/// [`prepare`] and [`register_prepared`] in one call (tests, CLI).
pub fn register(conn: &Connection, now: DateTime<Utc>, form: &Registration) -> Result<Registered> {
    register_prepared(conn, now, &prepare(form)?)
}

// --- re-submission after rejection --------------------------------------------------------------------------

/// A rejected master's questionnaire as it stands, to correct it: the answers he may change and, fixed,
/// his phone and city.
#[derive(Debug, Clone, PartialEq)]
pub struct OnFile {
    /// Where moderation stands.
    pub moderation: ModerationStatus,
    /// Name parts, split off the stored full name ("Фамилия Имя [Отчество]").
    pub last_name: String,
    /// First name.
    pub first_name: String,
    /// Middle name, empty for none.
    pub middle_name: String,
    /// The login; stays.
    pub phone: String,
    /// His city's name; stays.
    pub city_name: String,
    /// His city's districts to choose from.
    pub districts: Vec<DistrictChoice>,
    /// The districts he serves.
    pub district_ids: Vec<DistrictId>,
    /// Has a car.
    pub has_vehicle: bool,
    /// His categories.
    pub skills: Vec<Category>,
    /// Payout method.
    pub payout_method: Option<PayoutMethod>,
    /// The requisites as typed (the one value of the stored object).
    pub payout_data: String,
    /// Home base, "lat, lon", empty for none.
    pub home_location: String,
}

/// The master's questionnaire as it stands.
pub fn on_file(conn: &Connection, master: MasterId) -> Result<OnFile> {
    let row = conn
        .query_row(
            "SELECT m.moderation_status, m.full_name, m.phone, m.city_id, c.name, m.has_vehicle, m.payout_method, m.payout_data,
                    m.home_lat, m.home_lon
             FROM masters m LEFT JOIN cities c ON c.id = m.city_id WHERE m.id = ?1 AND m.is_deleted = 0",
            [master],
            |r| {
                Ok((
                    (r.get::<_, ModerationStatus>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                    (r.get::<_, Option<CityId>>(3)?, r.get::<_, Option<String>>(4)?, r.get::<_, bool>(5)?),
                    (r.get::<_, Option<PayoutMethod>>(6)?, r.get::<_, Option<String>>(7)?),
                    (r.get::<_, Option<f64>>(8)?, r.get::<_, Option<f64>>(9)?),
                ))
            },
        )
        .optional()?;
    let Some(((moderation, full_name, phone), (city, city_name, has_vehicle), (payout_method, payout), home)) = row else {
        return Err(Error::NotFound { what: "master" });
    };
    let mut names = full_name.split_whitespace().map(str::to_string);
    let (last_name, first_name) = (names.next().unwrap_or_default(), names.next().unwrap_or_default());
    let middle_name = names.collect::<Vec<_>>().join(" ");
    let payout_data = payout
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
        .and_then(|v| v.as_object().and_then(|o| o.values().next()).and_then(|v| v.as_str()).map(str::to_string))
        .unwrap_or_default();
    let district_ids = conn
        .prepare_cached("SELECT district_id FROM master_districts WHERE master_id = ?1 ORDER BY district_id")?
        .query_map([master], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let skills = conn
        .prepare_cached("SELECT category FROM master_skills WHERE master_id = ?1 ORDER BY category")?
        .query_map([master], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(OnFile {
        moderation,
        last_name,
        first_name,
        middle_name,
        phone,
        city_name: city_name.unwrap_or_default(),
        districts: match city {
            Some(city) => districts_of(conn, city)?,
            None => Vec::new(),
        },
        district_ids,
        has_vehicle,
        skills,
        payout_method,
        payout_data,
        home_location: match home {
            (Some(lat), Some(lon)) => format!("{lat}, {lon}"),
            _ => String::new(),
        },
    })
}

/// A rejected master's corrected questionnaire: the sign-up's answers without the account (phone,
/// password, city, invite and referral stay as they are).
#[derive(Debug, Clone, Default)]
pub struct Correction {
    /// Consent to the processing of personal data, given again; must be true.
    pub pdn_consent: bool,
    /// Last name: 2–30 Cyrillic letters or hyphens.
    pub last_name: String,
    /// First name, same rule.
    pub first_name: String,
    /// Middle name, same rule; empty or "-" for none.
    pub middle_name: Option<String>,
    /// Districts served, of his city; required when the city has districts.
    pub district_ids: Vec<DistrictId>,
    /// Has a car.
    pub has_vehicle: bool,
    /// Categories worked in, at least one.
    pub skills: Vec<Category>,
    /// How the master wants to be paid.
    pub payout_method: Option<PayoutMethod>,
    /// The requisites, as at sign-up.
    pub payout_data: String,
    /// Home base "lat, lon"; empty or "-" for none.
    pub home_location: String,
}

/// Sends a REJECTED master's corrected questionnaire back to moderation (product.md §3.2: "re-submission
/// after rejection follows the same path"): the answers are checked as at sign-up and replace his name,
/// districts, skills, vehicle, payout and home base; consent is renewed; moderation is PENDING again with
/// the rejection reason cleared. Any other state is refused (`not_rejected`), a deleted master too.
pub fn resubmit(conn: &Connection, now: DateTime<Utc>, master: MasterId, form: &Correction) -> Result<()> {
    let row: Option<(ModerationStatus, Option<CityId>, bool)> = conn
        .query_row("SELECT moderation_status, city_id, is_deleted FROM masters WHERE id = ?1", [master], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((status, city, deleted)) = row else { return Err(Error::NotFound { what: "master" }) };
    if deleted {
        return Err(Error::StateConflict { why: "master_deleted" });
    }
    if status != ModerationStatus::Rejected {
        return Err(Error::StateConflict { why: "not_rejected" });
    }
    let full_name = consented_name(form.pdn_consent, &form.last_name, &form.first_name, form.middle_name.as_deref())?;
    let (skills, payout_method, payout_data) = skills_and_payout(&form.skills, form.payout_method, &form.payout_data)?;
    let district_ids = distinct(&form.district_ids);
    match city {
        Some(city) => city_districts(conn, city, &district_ids)?,
        None if !district_ids.is_empty() => return Err(invalid("district_ids", "unknown")),
        None => {}
    }
    let home = home_location(&form.home_location)?;
    conn.execute(
        "UPDATE masters SET full_name = ?2, has_vehicle = ?3, payout_method = ?4, payout_data = ?5, home_lat = ?6, home_lon = ?7,
             pdn_accepted_at = ?8, verified = 0, moderation_status = 'PENDING', moderation_reason = NULL, updated_at = ?8
         WHERE id = ?1",
        params![master, full_name, form.has_vehicle, payout_method, payout_data, home.map(|h| h.0), home.map(|h| h.1), ms(now)],
    )?;
    conn.execute("DELETE FROM master_skills WHERE master_id = ?1", [master])?;
    let mut skill = conn.prepare_cached("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, ?2, ?3)")?;
    for category in &skills {
        skill.execute(params![master, category, ms(now)])?;
    }
    conn.execute("DELETE FROM master_districts WHERE master_id = ?1", [master])?;
    let mut district = conn.prepare_cached("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, ?3)")?;
    for d in &district_ids {
        district.execute(params![master, d, ms(now)])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cyrillic_and_capitalised() {
        assert_eq!(person_name("last_name", " иванов-петров ").unwrap(), "Иванов-петров");
        assert_eq!(person_name("first_name", "ёжик").unwrap(), "Ёжик");
        for bad in ["И", "Ivanov", "-Иван", "Иван1", "Иван Иванович", &"а".repeat(31)] {
            assert!(person_name("first_name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn payout_requisites_are_checked_and_normalised() {
        assert_eq!(payout_data(PayoutMethod::Card, "1234-5678 9012 3456").unwrap()["card_number"], "1234 5678 9012 3456");
        assert!(payout_data(PayoutMethod::Card, "1234 5678 9012 345").is_err());
        assert_eq!(payout_data(PayoutMethod::Sbp, "8 999 123-45-67").unwrap()["sbp_phone"], "+79991234567");
        assert!(payout_data(PayoutMethod::YooMoney, "4100123").is_err());
        assert!(payout_data(PayoutMethod::YooMoney, "41001234").is_ok());
        assert!(payout_data(PayoutMethod::BankAccount, "4081781000000000000").is_err());
        assert_eq!(payout_data(PayoutMethod::BankAccount, "40817810000000000001").unwrap()["account_number"], "40817810000000000001");
    }

    #[test]
    fn a_home_base_is_two_coordinates_in_range() {
        assert_eq!(home_location(" ").unwrap(), None);
        assert_eq!(home_location("55.7558, 37.6173").unwrap(), Some((55.7558, 37.6173)));
        assert_eq!(home_location("55,7558 37,6173").unwrap(), Some((55.7558, 37.6173)));
        for bad in ["55.7", "91, 37", "55, 181", "north, south", "1, 2, 3", "NaN, 1"] {
            assert!(home_location(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_use_the_short_alphabet() {
        let code = random_code();
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
    }
}
