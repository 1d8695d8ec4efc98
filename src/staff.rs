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
        .query_row("SELECT login, role FROM staff_users WHERE id = ?1 AND is_active = 1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
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
    let login = login.trim();
    if !(2..=64).contains(&login.chars().count()) || login.chars().any(char::is_whitespace) {
        return Err(invalid("login", "login"));
    }
    let exists: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM staff_users WHERE login = ?1)", [login], |r| r.get(0))?;
    if exists {
        return Err(invalid("login", "taken"));
    }
    if role != StaffRole::GlobalAdmin && cities.is_empty() {
        return Err(invalid("cities", "at_least_one"));
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
                invalid("cities", "unknown")
            }
            other => other.into(),
        })?;
    }
    Ok(id)
}
