//! Who is calling: staff and master logins with throttling, server-side sessions with a CSRF token, and
//! API bearer tokens (decisions §C). Only hashes of session ids and tokens are stored.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use crate::db::{Db, at, ms};
use crate::domain::{CityId, MasterId, StaffId};
use crate::error::{Error, Result, invalid};
use crate::password;
use crate::phone;
use crate::staff::{self, Staff};

/// Failed logins allowed per account and per address within [`THROTTLE_WINDOW`].
pub const MAX_FAILURES: i64 = 5;
/// The throttling window.
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);
/// A staff session ends after this long without a request.
pub const STAFF_SESSION_IDLE: Duration = Duration::hours(12);
/// A master stays signed in on his phone this long without a request.
pub const MASTER_SESSION_IDLE: Duration = Duration::days(30);
/// A session's last-seen time is written at most this often.
const TOUCH_EVERY: Duration = Duration::minutes(5);

/// A signed-in master, as the rules need him.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterAccount {
    /// Id.
    pub id: MasterId,
    /// Full name.
    pub full_name: String,
    /// Home city.
    pub city_id: Option<CityId>,
}

/// The caller behind a session or token.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A staff member.
    Staff(Staff),
    /// A master.
    Master(MasterAccount),
}

/// Whose session or token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A staff member.
    Staff(StaffId),
    /// A master.
    Master(MasterId),
}

impl Owner {
    fn columns(self) -> (Option<StaffId>, Option<MasterId>) {
        match self {
            Owner::Staff(id) => (Some(id), None),
            Owner::Master(id) => (None, Some(id)),
        }
    }

    fn idle(self) -> Duration {
        match self {
            Owner::Staff(_) => STAFF_SESSION_IDLE,
            Owner::Master(_) => MASTER_SESSION_IDLE,
        }
    }
}

/// A random secret: 32 bytes as hex.
fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is stored for a secret.
pub fn hash_secret(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Every bearer request hashes its token: hex by table, not one `format!` per byte.
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(secret.as_bytes()) {
        out.push(HEX[usize::from(b >> 4)].into());
        out.push(HEX[usize::from(b & 0xf)].into());
    }
    out
}

/// Refuses a login from an address with [`MAX_FAILURES`] failures in the window, and a login into an
/// account with as many — unless the address has no failure at all in the window: whoever knows a login
/// could otherwise keep its owner locked out all day. Names the local time (in `tz`) of the next try.
fn check_throttle(conn: &Connection, now: DateTime<Utc>, login: &str, ip: &str, tz: Tz) -> Result<()> {
    let since = ms(now - THROTTLE_WINDOW);
    let failures = |column: &str, value: &str| -> Result<(i64, Option<i64>)> {
        let sql = format!(
            "SELECT COUNT(*), MIN(created_at) FROM (SELECT created_at FROM login_attempts
             WHERE {column} = ?1 AND succeeded = 0 AND created_at > ?2 ORDER BY created_at DESC LIMIT ?3)"
        );
        Ok(conn.prepare_cached(&sql)?.query_row(params![value, since, MAX_FAILURES], |r| Ok((r.get(0)?, r.get(1)?)))?)
    };
    let (from_address, oldest_from_address) = failures("ip", ip)?;
    let oldest = if from_address >= MAX_FAILURES {
        oldest_from_address
    } else if from_address > 0 {
        match failures("login", login)? {
            (into_account, oldest) if into_account >= MAX_FAILURES => oldest,
            _ => None,
        }
    } else {
        None
    };
    match oldest {
        Some(oldest) => {
            let next = at(oldest + THROTTLE_WINDOW.num_milliseconds());
            Err(Error::Throttled { until: next.with_timezone(&tz).format("%H:%M").to_string() })
        }
        None => Ok(()),
    }
}

fn record_attempt(conn: &Connection, now: DateTime<Utc>, login: &str, ip: &str, succeeded: bool) -> Result<()> {
    conn.prepare_cached("INSERT INTO login_attempts (login, ip, succeeded, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![login, ip, succeeded, ms(now)])?;
    Ok(())
}

/// A login in progress: what was read before the password is checked.
#[derive(Debug, Clone)]
struct Attempt<A> {
    /// The login as recorded for throttling (a staff login in lower case, a master's normalised phone).
    login: String,
    ip: String,
    /// The account the login leads to, if any.
    account: Option<A>,
    /// Its password hash, if it has one.
    hash: Option<String>,
}

/// The first step of a staff login, on a read connection: the throttle and the account.
fn begin_staff(conn: &Connection, now: DateTime<Utc>, login: &str, ip: &str, tz: Tz) -> Result<Attempt<(StaffId, bool)>> {
    let login = login.trim().to_lowercase();
    check_throttle(conn, now, &login, ip, tz)?;
    let row: Option<(StaffId, String, bool)> = conn
        .query_row("SELECT id, password_hash, is_active FROM staff_users WHERE login = ?1", [&login], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (account, hash) = row.map_or((None, None), |(id, hash, active)| (Some((id, active)), Some(hash)));
    Ok(Attempt { login, ip: ip.to_string(), account, hash })
}

/// The last step of a staff login, in the write transaction: records the try (commit it also when this
/// refuses) and answers. A wrong password and an unknown login answer alike; a deactivated account is
/// named only to whoever knows its password.
fn finish_staff(conn: &Connection, now: DateTime<Utc>, attempt: &Attempt<(StaffId, bool)>, verified: bool, tz: Tz) -> Result<Staff> {
    // Checked again in the writer: tries that ran side by side were each let through by `begin_staff`.
    check_throttle(conn, now, &attempt.login, &attempt.ip, tz)?;
    record_attempt(conn, now, &attempt.login, &attempt.ip, verified)?;
    match attempt.account {
        Some((id, true)) if verified => staff::load_active(conn, id)?.ok_or(Error::AccountDisabled),
        Some((_, false)) if verified => Err(Error::AccountDisabled),
        _ => Err(Error::BadCredentials),
    }
}

/// The first step of a master login by phone (any common spelling), on a read connection.
fn begin_master(conn: &Connection, now: DateTime<Utc>, phone_raw: &str, ip: &str, tz: Tz) -> Result<Attempt<MasterId>> {
    let phone = phone::normalize(phone_raw).ok_or_else(|| invalid("phone", "phone"))?;
    check_throttle(conn, now, &phone, ip, tz)?;
    let row: Option<(MasterId, Option<String>)> = conn
        .query_row("SELECT id, password_hash FROM masters WHERE phone = ?1 AND is_deleted = 0", [&phone], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (account, hash) = row.map_or((None, None), |(id, hash)| (Some(id), hash));
    Ok(Attempt { login: phone, ip: ip.to_string(), account, hash })
}

/// The last step of a master login, like [`finish_staff`]; refuses a blocked or deleted master with the
/// reason.
fn finish_master(conn: &Connection, now: DateTime<Utc>, attempt: &Attempt<MasterId>, verified: bool, tz: Tz) -> Result<MasterAccount> {
    check_throttle(conn, now, &attempt.login, &attempt.ip, tz)?;
    record_attempt(conn, now, &attempt.login, &attempt.ip, verified)?;
    match attempt.account {
        Some(id) if verified => master_account(conn, id),
        _ => Err(Error::BadCredentials),
    }
}

/// A staff login from start to end, then `then` (start a session) in the same write. The password is
/// checked outside any transaction — it takes a while on purpose, and the writer is shared by everyone.
pub async fn sign_in_staff<T: Send + 'static>(
    db: &Db,
    now: DateTime<Utc>,
    (login, password, ip): (String, String, String),
    tz: Tz,
    then: impl FnOnce(&Transaction<'_>, DateTime<Utc>, Staff) -> Result<T> + Send + 'static,
) -> Result<T> {
    let attempt = db.read_blocking(move |c| begin_staff(c, now, &login, &ip, tz)).await?;
    let verified = password::verify_off_thread(password, attempt.hash.clone()).await;
    db.write_blocking(move |tx| Ok::<_, Error>(finish_staff(tx, now, &attempt, verified, tz).and_then(|staff| then(tx, now, staff)))).await?
}

/// A master login from start to end, like [`sign_in_staff`].
pub async fn sign_in_master<T: Send + 'static>(
    db: &Db,
    now: DateTime<Utc>,
    (phone, password, ip): (String, String, String),
    tz: Tz,
    then: impl FnOnce(&Transaction<'_>, DateTime<Utc>, MasterAccount) -> Result<T> + Send + 'static,
) -> Result<T> {
    let attempt = db.read_blocking(move |c| begin_master(c, now, &phone, &ip, tz)).await?;
    let verified = password::verify_off_thread(password, attempt.hash.clone()).await;
    db.write_blocking(move |tx| Ok::<_, Error>(finish_master(tx, now, &attempt, verified, tz).and_then(|master| then(tx, now, master)))).await?
}

/// A master allowed to use the system now; blocked and deleted accounts are refused with the reason.
pub fn master_account(conn: &Connection, id: MasterId) -> Result<MasterAccount> {
    let row = conn
        .prepare_cached("SELECT full_name, city_id, is_blocked, blocked_reason, is_deleted FROM masters WHERE id = ?1")?
        .query_row([id], |r| {
            let account = MasterAccount { id, full_name: r.get(0)?, city_id: r.get(1)? };
            Ok((account, r.get::<_, bool>(2)?, r.get::<_, Option<String>>(3)?, r.get::<_, bool>(4)?))
        })
        .optional()?;
    match row {
        None | Some((_, _, _, true)) => Err(Error::MasterInactive),
        Some((_, true, reason, _)) => Err(Error::MasterBlocked { reason: reason.unwrap_or_default() }),
        Some((account, false, _, false)) => Ok(account),
    }
}

fn principal(conn: &Connection, owner: Owner) -> Result<Principal> {
    match owner {
        Owner::Staff(id) => staff::load_active(conn, id)?.map(Principal::Staff).ok_or(Error::AccountDisabled),
        Owner::Master(id) => master_account(conn, id).map(Principal::Master),
    }
}

/// A new session: the cookie value and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session id for the cookie (only its hash is stored).
    pub token: String,
    /// The CSRF token for forms and `X-CSRF-Token`.
    pub csrf: String,
}

/// Starts a session for `owner`.
pub fn start_session(conn: &Connection, now: DateTime<Utc>, owner: Owner) -> Result<NewSession> {
    let (token, csrf) = (secret(), secret());
    let (staff, master) = owner.columns();
    conn.execute(
        "INSERT INTO sessions (id_hash, staff_id, master_id, csrf_token, created_at, last_seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![hash_secret(&token), staff, master, csrf, ms(now), ms(now + owner.idle())],
    )?;
    Ok(NewSession { token, csrf })
}

/// The caller behind a session cookie and the session's CSRF token; `Unauthenticated` for an unknown or
/// expired session. Keeps an active session alive (sliding expiry).
pub fn resolve_session(conn: &Connection, now: DateTime<Utc>, token: &str) -> Result<(Principal, String)> {
    let id_hash = hash_secret(token);
    let row = conn
        .prepare_cached("SELECT staff_id, master_id, csrf_token, last_seen_at, expires_at FROM sessions WHERE id_hash = ?1")?
        .query_row([&id_hash], |r| {
            let owner: (Option<StaffId>, Option<MasterId>) = (r.get(0)?, r.get(1)?);
            Ok((owner, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?))
        })
        .optional()?;
    let Some(((staff, master), csrf, last_seen, expires)) = row else { return Err(Error::Unauthenticated) };
    if ms(now) >= expires {
        conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [&id_hash])?;
        return Err(Error::Unauthenticated);
    }
    let owner = match (staff, master) {
        (Some(id), _) => Owner::Staff(id),
        (_, Some(id)) => Owner::Master(id),
        (None, None) => return Err(Error::Unauthenticated),
    };
    if now - at(last_seen) >= TOUCH_EVERY {
        conn.execute(
            "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id_hash = ?1",
            params![id_hash, ms(now), ms(now + owner.idle())],
        )?;
    }
    Ok((principal(conn, owner)?, csrf))
}

/// Whether resolving this session would write (an expired session is deleted, an active one touched);
/// lets callers use a read connection for the common case.
pub fn session_needs_write(conn: &Connection, now: DateTime<Utc>, token: &str) -> Result<bool> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT last_seen_at, expires_at FROM sessions WHERE id_hash = ?1")?
        .query_row([hash_secret(token)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.is_some_and(|(seen, expires)| ms(now) >= expires || now - at(seen) >= TOUCH_EVERY))
}

/// Ends a session (logout).
pub fn end_session(conn: &Connection, token: &str) -> Result<()> {
    conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [hash_secret(token)])?;
    Ok(())
}

/// An API token as listed to its owner (the secret itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Id, for revoking.
    pub id: i64,
    /// The owner's label.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Creates an API token for `owner`; returns its id and the secret (shown once).
pub fn create_token(conn: &Connection, now: DateTime<Utc>, owner: Owner, name: &str) -> Result<(i64, String)> {
    let name = name.trim();
    if name.chars().count() > 100 {
        return Err(invalid("name", "max_len:100"));
    }
    let token = secret();
    let (staff, master) = owner.columns();
    conn.execute(
        "INSERT INTO api_tokens (token_hash, name, staff_id, master_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![hash_secret(&token), name, staff, master, ms(now)],
    )?;
    Ok((conn.last_insert_rowid(), token))
}

/// The live tokens of a staff member.
pub fn list_tokens(conn: &Connection, staff: StaffId) -> Result<Vec<TokenInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE staff_id = ?1 AND revoked_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([staff], |r| {
        Ok(TokenInfo { id: r.get(0)?, name: r.get(1)?, created_at: at(r.get(2)?), last_used_at: r.get::<_, Option<i64>>(3)?.map(at) })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Revokes one of the staff member's own tokens; another's is "not found".
pub fn revoke_token(conn: &Connection, now: DateTime<Utc>, staff: StaffId, id: i64) -> Result<()> {
    let changed = conn.execute(
        "UPDATE api_tokens SET revoked_at = ?3 WHERE id = ?1 AND staff_id = ?2 AND revoked_at IS NULL",
        params![id, staff, ms(now)],
    )?;
    if changed == 0 { Err(Error::NotFound { what: "token" }) } else { Ok(()) }
}

/// The caller behind a bearer token; `Unauthenticated` for an unknown or revoked one.
pub fn resolve_token(conn: &Connection, token: &str) -> Result<Principal> {
    let row: Option<(Option<StaffId>, Option<MasterId>)> = conn
        .prepare_cached("SELECT staff_id, master_id FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL")?
        .query_row([hash_secret(token)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some((Some(id), _)) => principal(conn, Owner::Staff(id)),
        Some((_, Some(id))) => principal(conn, Owner::Master(id)),
        _ => Err(Error::Unauthenticated),
    }
}
