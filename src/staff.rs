//! Staff members and the city scope that every staff action checks (product.md §5.2).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::ms;
use crate::domain::{CityId, StaffId, StaffRole};
use crate::error::{Error, Result, invalid};

/// A staff member as the rules need him.
#[derive(Debug, Clone, PartialEq)]
pub struct Staff {
    /// Id.
    pub id: StaffId,
    /// Login.
    pub login: String,
    /// Role.
    pub role: StaffRole,
    /// Bound cities, sorted.
    pub cities: Vec<CityId>,
}

impl Staff {
    /// Whether this staff member may see and act on objects of `city`; a global admin sees every city,
    /// anyone else only his own (none bound = nothing).
    pub fn sees(&self, city: CityId) -> bool {
        self.role == StaffRole::GlobalAdmin || self.cities.binary_search(&city).is_ok()
    }

    /// Refuses unless the role is one of `roles`.
    pub fn require(&self, roles: &[StaffRole]) -> Result<()> {
        if roles.contains(&self.role) { Ok(()) } else { Err(Error::Forbidden) }
    }
}

/// Loads an active staff member; `None` for an unknown or deactivated one.
pub fn load_active(conn: &Connection, id: StaffId) -> Result<Option<Staff>> {
    let row: Option<(String, StaffRole)> = conn
        .prepare_cached("SELECT login, role FROM staff_users WHERE id = ?1 AND is_active = 1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((login, role)) = row else { return Ok(None) };
    let mut stmt = conn.prepare_cached("SELECT city_id FROM staff_cities WHERE staff_id = ?1 ORDER BY city_id")?;
    let cities = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(Some(Staff { id, login, role, cities }))
}

/// Creates a staff member bound to `cities`.
pub fn create(
    conn: &Connection,
    now: DateTime<Utc>,
    login: &str,
    password_hash: &str,
    role: StaffRole,
    full_name: &str,
    cities: &[CityId],
) -> Result<StaffId> {
    // Stored lower-case: sign-in lower-cases what is typed, and NOCASE folds ASCII only.
    let login = login.trim().to_lowercase();
    let login = login.as_str();
    if !(2..=64).contains(&login.chars().count()) || login.chars().any(char::is_whitespace) {
        return Err(invalid("login", "login"));
    }
    let exists: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM staff_users WHERE login = ?1)", [login], |r| r.get(0))?;
    if exists {
        return Err(invalid("login", "taken"));
    }
    if role != StaffRole::GlobalAdmin && cities.is_empty() {
        return Err(invalid("city_ids", "at_least_one"));
    }
    conn.execute(
        "INSERT INTO staff_users (login, password_hash, full_name, role, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![login, password_hash, full_name, role, ms(now)],
    )?;
    let id = conn.last_insert_rowid();
    let mut bind = conn.prepare_cached("INSERT INTO staff_cities (staff_id, city_id, created_at) VALUES (?1, ?2, ?3)")?;
    for city in cities {
        bind.execute(params![id, city, ms(now)]).map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                invalid("city_ids", "unknown")
            }
            other => other.into(),
        })?;
    }
    Ok(id)
}

/// A staff member as the staff list shows him.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StaffView {
    /// Id.
    pub id: StaffId,
    /// Login.
    pub login: String,
    /// Full name.
    pub full_name: String,
    /// Role.
    pub role: StaffRole,
    /// Bound cities, sorted (none for a global admin = every city).
    pub cities: Vec<CityId>,
    /// False once deactivated: every request of his is refused.
    pub is_active: bool,
    /// Added.
    pub created_at: DateTime<Utc>,
}

/// A staff member to add.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct NewStaff {
    /// Login, 2–64 characters without spaces (stored lower-case).
    pub login: String,
    /// Initial password, 8–128 characters.
    pub password: String,
    /// Role.
    pub role: StaffRole,
    /// Full name, up to 160 characters.
    #[serde(default)]
    pub full_name: String,
    /// Cities; at least one unless the role is GLOBAL_ADMIN.
    #[serde(default)]
    pub city_ids: Vec<CityId>,
}

fn sorted_unique(cities: &[CityId]) -> Vec<CityId> {
    let mut cities = cities.to_vec();
    cities.sort_unstable();
    cities.dedup();
    cities
}

/// Loads one staff member for the list, active or not.
pub fn view(conn: &Connection, id: StaffId) -> Result<Option<StaffView>> {
    let row = conn
        .query_row("SELECT login, full_name, role, is_active, created_at FROM staff_users WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((login, full_name, role, is_active, created_at)) = row else { return Ok(None) };
    let mut stmt = conn.prepare_cached("SELECT city_id FROM staff_cities WHERE staff_id = ?1 ORDER BY city_id")?;
    let cities = stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(Some(StaffView { id, login, full_name, role, cities, is_active, created_at: crate::db::at(created_at) }))
}

fn found(conn: &Connection, id: StaffId) -> Result<StaffView> {
    view(conn, id)?.ok_or(Error::NotFound { what: "staff" })
}

/// Every staff member, newest first, optionally of one role (global admins only).
pub fn list(conn: &Connection, actor: &Staff, role: Option<StaffRole>) -> Result<Vec<StaffView>> {
    actor.require(&[StaffRole::GlobalAdmin])?;
    let mut stmt = conn.prepare_cached("SELECT id FROM staff_users WHERE ?1 IS NULL OR role = ?1 ORDER BY id DESC")?;
    let ids: Vec<StaffId> = stmt.query_map([role], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(|id| found(conn, id)).collect()
}

/// Adds a staff member (global admins only); `password_hash` is the hash of `input.password`, made beforehand
/// so that the write transaction does not wait for it.
pub fn add(conn: &Connection, now: DateTime<Utc>, actor: &Staff, input: &NewStaff, password_hash: &str) -> Result<StaffView> {
    actor.require(&[StaffRole::GlobalAdmin])?;
    crate::password::check(&input.password)?;
    let full_name = input.full_name.trim();
    if full_name.chars().count() > 160 {
        return Err(invalid("full_name", "max_len:160"));
    }
    let id = create(conn, now, &input.login, password_hash, input.role, full_name, &sorted_unique(&input.city_ids))?;
    found(conn, id)
}

/// Deactivates or re-activates a staff member (global admins only; nobody deactivates himself). While
/// inactive every request of his is refused as "access disabled"; on re-activation his old sessions and API
/// tokens stay dead, so he signs in afresh.
pub fn set_active(conn: &Connection, now: DateTime<Utc>, actor: &Staff, id: StaffId, active: bool) -> Result<StaffView> {
    actor.require(&[StaffRole::GlobalAdmin])?;
    let current = found(conn, id)?;
    if !active && id == actor.id {
        return Err(Error::StateConflict { why: "self_deactivation" });
    }
    if current.is_active == active {
        return Ok(current);
    }
    conn.execute("UPDATE staff_users SET is_active = ?2, updated_at = ?3 WHERE id = ?1", params![id, active, ms(now)])?;
    if active {
        conn.execute("DELETE FROM sessions WHERE staff_id = ?1", [id])?;
        conn.execute("UPDATE api_tokens SET revoked_at = ?2 WHERE staff_id = ?1 AND revoked_at IS NULL", params![id, ms(now)])?;
    }
    found(conn, id)
}

/// Replaces a staff member's cities (global admins only); a city admin or logist keeps at least one.
pub fn set_cities(conn: &Connection, now: DateTime<Utc>, actor: &Staff, id: StaffId, cities: &[CityId]) -> Result<StaffView> {
    actor.require(&[StaffRole::GlobalAdmin])?;
    let current = found(conn, id)?;
    let cities = sorted_unique(cities);
    if current.role != StaffRole::GlobalAdmin && cities.is_empty() {
        return Err(invalid("city_ids", "at_least_one"));
    }
    let mut known = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM cities WHERE id = ?1)")?;
    for city in &cities {
        if !known.query_row([city], |r| r.get::<_, bool>(0))? {
            return Err(invalid("city_ids", "unknown"));
        }
    }
    conn.execute("DELETE FROM staff_cities WHERE staff_id = ?1", [id])?;
    let mut bind = conn.prepare_cached("INSERT INTO staff_cities (staff_id, city_id, created_at) VALUES (?1, ?2, ?3)")?;
    for city in &cities {
        bind.execute(params![id, city, ms(now)])?;
    }
    conn.execute("UPDATE staff_users SET updated_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
    found(conn, id)
}

/// Sets a new password for a staff member (global admins only; `password_hash` is made beforehand, outside
/// the write transaction) and ends his sessions and API tokens, so the old password opens nothing.
pub fn reset_password(conn: &Connection, now: DateTime<Utc>, actor: &Staff, id: StaffId, password_hash: &str) -> Result<StaffView> {
    actor.require(&[StaffRole::GlobalAdmin])?;
    found(conn, id)?;
    conn.execute("UPDATE staff_users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1", params![id, password_hash, ms(now)])?;
    conn.execute("DELETE FROM sessions WHERE staff_id = ?1", [id])?;
    conn.execute("UPDATE api_tokens SET revoked_at = ?2 WHERE staff_id = ?1 AND revoked_at IS NULL", params![id, ms(now)])?;
    found(conn, id)
}

/// The roles and names (the login when no name is set) of the given staff members, for naming an actor by
/// role ("Логист: Иванов").
pub fn roles_and_names(conn: &Connection, ids: &[StaffId]) -> rusqlite::Result<std::collections::HashMap<StaffId, (StaffRole, String)>> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT id, role, CASE WHEN full_name = '' THEN login ELSE full_name END FROM staff_users WHERE id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([ids], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
    rows.collect()
}

/// Names of staff members by id (the login when the name is empty), for pages that say who did what.
pub fn names(conn: &Connection, ids: &[StaffId]) -> rusqlite::Result<std::collections::HashMap<StaffId, String>> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT id, CASE WHEN full_name = '' THEN login ELSE full_name END FROM staff_users WHERE id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([ids], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
