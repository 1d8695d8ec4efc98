//! Reference data: cities with their time zones, districts and streets (product.md §1.2), and who may see
//! and change them. A city outside the caller's scope is "not found", so ids cannot be probed.

mod fuzzy;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::ms;
use crate::domain::{CityId, DistrictId, StaffRole};
use crate::error::{Error, Result, invalid};
use crate::staff::Staff;

pub use fuzzy::near_duplicates;

/// Street matches scoring below this are dropped.
pub const MIN_STREET_SCORE: f64 = 60.0;
/// At most this many streets are returned by a search.
pub const MAX_STREET_RESULTS: usize = 10;

/// Who is looking at reference data.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// A staff member: his cities (every city for a global admin).
    Staff(&'a Staff),
    /// A master: every active city (he picks one at sign-up).
    Master,
}

impl Viewer<'_> {
    fn sees(self, city: CityId) -> bool {
        match self {
            Viewer::Staff(staff) => staff.sees(city),
            Viewer::Master => true,
        }
    }
}

/// A city as pickers show it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct City {
    /// Id.
    pub id: CityId,
    /// Canonical Russian name.
    pub name: String,
    /// IANA time zone, e.g. `Europe/Moscow`.
    pub timezone: String,
}

/// A district of a city.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct District {
    /// Id.
    pub id: DistrictId,
    /// City.
    pub city_id: CityId,
    /// Name.
    pub name: String,
}

/// A street of a city.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Street {
    /// Id.
    pub id: i64,
    /// City.
    pub city_id: CityId,
    /// District, if known.
    pub district_id: Option<DistrictId>,
    /// Name.
    pub name: String,
}

/// A street found by a fuzzy search, with how well it matched.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StreetMatch {
    /// The street.
    #[serde(flatten)]
    pub street: Street,
    /// Similarity to the query, 60..100.
    pub score: u8,
}

/// A new district.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewDistrict {
    /// Name, 1–120 characters, unique in the city.
    pub name: String,
}

/// A new street.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewStreet {
    /// Name, 1–200 characters, unique in the city and district.
    pub name: String,
    /// District of the same city, if known.
    #[serde(default)]
    pub district_id: Option<DistrictId>,
}

/// The city search form of a text: lower-case, `ё` → `е`, dashes and parentheses → space, spaces collapsed.
pub fn normalize(text: &str) -> String {
    let spaced: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ё' => 'е',
            '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '(' | ')' => ' ',
            c => c,
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Active cities the viewer may see, for `query` (product.md §1.2): a query that is a whole alias or a city's
/// exact name returns that city alone; otherwise every city whose name contains it; alphabetical.
pub fn search_cities(conn: &Connection, viewer: Viewer<'_>, query: &str) -> Result<Vec<City>> {
    let mut stmt = conn.prepare_cached("SELECT id, name, timezone, aliases FROM cities WHERE is_active = 1 ORDER BY name, id")?;
    let rows = stmt.query_map([], |r| Ok((City { id: r.get(0)?, name: r.get(1)?, timezone: r.get(2)? }, r.get::<_, String>(3)?)))?;
    let mut cities = Vec::new();
    for row in rows {
        let (city, aliases) = row?;
        if viewer.sees(city.id) {
            cities.push((city, aliases));
        }
    }
    let query = normalize(query);
    let exact = cities.iter().find(|(city, aliases)| {
        normalize(&city.name) == query || aliases.split('|').any(|alias| !alias.trim().is_empty() && normalize(alias) == query)
    });
    if let Some((city, _)) = exact {
        return Ok(vec![city.clone()]);
    }
    Ok(cities.into_iter().filter(|(city, _)| normalize(&city.name).contains(&query)).map(|(city, _)| city).collect())
}

/// Refuses a city that does not exist or lies outside the viewer's scope.
fn visible_city(conn: &Connection, viewer: Viewer<'_>, city: CityId) -> Result<()> {
    let exists: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM cities WHERE id = ?1)", [city], |r| r.get(0))?;
    if exists && viewer.sees(city) { Ok(()) } else { Err(Error::NotFound { what: "city" }) }
}

/// Refuses anyone but a global admin or a city admin of `city` (a LOGIST: forbidden; a foreign city: not found).
fn administered_city(conn: &Connection, staff: &Staff, city: CityId) -> Result<()> {
    staff.require(&[StaffRole::GlobalAdmin, StaffRole::CityAdmin])?;
    visible_city(conn, Viewer::Staff(staff), city)
}

/// A trimmed name of `min..=max` characters.
fn name_of(field: &'static str, raw: &str, max: usize) -> Result<String> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > max {
        return Err(invalid(field, format!("length:1:{max}")));
    }
    Ok(name)
}

/// The districts of a city, alphabetical.
pub fn districts(conn: &Connection, viewer: Viewer<'_>, city: CityId) -> Result<Vec<District>> {
    visible_city(conn, viewer, city)?;
    let mut stmt = conn.prepare_cached("SELECT id, name FROM districts WHERE city_id = ?1 ORDER BY name, id")?;
    let rows = stmt.query_map([city], |r| Ok(District { id: r.get(0)?, city_id: city, name: r.get(1)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a district to a city the staff member administers; the name must be new in the city.
pub fn create_district(conn: &Connection, now: DateTime<Utc>, staff: &Staff, city: CityId, input: &NewDistrict) -> Result<District> {
    administered_city(conn, staff, city)?;
    let name = name_of("name", &input.name, 120)?;
    let taken: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM districts WHERE city_id = ?1 AND name = ?2)", params![city, name], |r| r.get(0))?;
    if taken {
        return Err(invalid("name", "taken"));
    }
    conn.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, ?2, ?3)", params![city, name, ms(now)])?;
    Ok(District { id: conn.last_insert_rowid(), city_id: city, name })
}

/// Adds a street to a city the staff member administers, optionally in one of its districts; the name must
/// be new in that city and district.
pub fn create_street(conn: &Connection, now: DateTime<Utc>, staff: &Staff, city: CityId, input: &NewStreet) -> Result<Street> {
    administered_city(conn, staff, city)?;
    let name = name_of("name", &input.name, 200)?;
    if let Some(district) = input.district_id {
        let ours: Option<CityId> =
            conn.query_row("SELECT city_id FROM districts WHERE id = ?1", [district], |r| r.get(0)).optional()?;
        if ours != Some(city) {
            return Err(invalid("district_id", "unknown"));
        }
    }
    // `IS` so that two streets without a district clash too (UNIQUE lets NULLs repeat).
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM streets WHERE city_id = ?1 AND district_id IS ?2 AND name = ?3)",
        params![city, input.district_id, name],
        |r| r.get(0),
    )?;
    if taken {
        return Err(invalid("name", "taken"));
    }
    conn.execute(
        "INSERT INTO streets (city_id, district_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![city, input.district_id, name, ms(now)],
    )?;
    Ok(Street { id: conn.last_insert_rowid(), city_id: city, district_id: input.district_id, name })
}

/// Renames a district of a city the staff member administers; the new name must be free in the city.
pub fn rename_district(conn: &Connection, staff: &Staff, district: DistrictId, input: &NewDistrict) -> Result<District> {
    let city: Option<CityId> = conn.query_row("SELECT city_id FROM districts WHERE id = ?1", [district], |r| r.get(0)).optional()?;
    let Some(city) = city.filter(|c| staff.sees(*c)) else { return Err(Error::NotFound { what: "district" }) };
    administered_city(conn, staff, city)?;
    let name = name_of("name", &input.name, 120)?;
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM districts WHERE city_id = ?1 AND name = ?2 AND id <> ?3)",
        params![city, name, district],
        |r| r.get(0),
    )?;
    if taken {
        return Err(invalid("name", "taken"));
    }
    conn.execute("UPDATE districts SET name = ?2 WHERE id = ?1", params![district, name])?;
    Ok(District { id: district, city_id: city, name })
}

/// Every street of a visible city, by name.
pub fn streets(conn: &Connection, staff: &Staff, city: CityId) -> Result<Vec<Street>> {
    visible_city(conn, Viewer::Staff(staff), city)?;
    let mut stmt = conn.prepare_cached("SELECT id, district_id, name FROM streets WHERE city_id = ?1 ORDER BY name, id")?;
    let rows = stmt.query_map([city], |r| Ok(Street { id: r.get(0)?, city_id: city, district_id: r.get(1)?, name: r.get(2)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Streets of a visible city that look like `query` (product.md §1.2): score ≥ 60, best first then the longer
/// name, near-duplicates ("Baker St." beside "Baker Street") dropped, at most 10. Every street of the city is
/// scored (upstream looked at only 200).
pub fn search_streets(conn: &Connection, staff: &Staff, city: CityId, query: &str) -> Result<Vec<StreetMatch>> {
    visible_city(conn, Viewer::Staff(staff), city)?;
    let query = fuzzy::Query::new(query);
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached("SELECT id, district_id, name FROM streets WHERE city_id = ?1")?;
    let rows = stmt.query_map([city], |r| Ok(Street { id: r.get(0)?, city_id: city, district_id: r.get(1)?, name: r.get(2)? }))?;
    let mut scored = Vec::new();
    for street in rows {
        let street = street?;
        let score = query.score(&street.name);
        if score >= MIN_STREET_SCORE {
            scored.push((score, street));
        }
    }
    scored.sort_by(|(sa, a), (sb, b)| {
        sb.total_cmp(sa).then_with(|| b.name.chars().count().cmp(&a.name.chars().count())).then_with(|| a.name.cmp(&b.name))
    });
    let mut kept: Vec<StreetMatch> = Vec::new();
    for (score, street) in scored {
        if kept.len() == MAX_STREET_RESULTS {
            break;
        }
        if !kept.iter().any(|k| near_duplicates(&k.street.name, &street.name)) {
            kept.push(StreetMatch { street, score: score.round() as u8 });
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_folds_case_yo_dashes_and_brackets() {
        assert_eq!(normalize("  Ростов–на—Дону "), "ростов на дону");
        assert_eq!(normalize("Балашиха (МО)"), "балашиха мо");
        assert_eq!(normalize("ЁЛКИ"), "елки");
    }
}

// --- the cities themselves (global admins; issue 12 §Safe defaults) -----------------------------------------

/// A city as the global admin's list shows it: active or not, with its other names.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CityEntry {
    /// Id.
    pub id: CityId,
    /// Canonical name.
    pub name: String,
    /// IANA time zone, e.g. `Europe/Moscow`.
    pub timezone: String,
    /// Other names the search finds it by ("Питер").
    pub aliases: Vec<String>,
    /// A deactivated city is no longer offered for new orders and masters; its orders keep it.
    pub is_active: bool,
}

/// A new city.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct NewCity {
    /// Name, 1–100 characters, unique.
    #[serde(default)]
    pub name: String,
    /// IANA time zone name from the tz database, e.g. `Asia/Yekaterinburg`.
    #[serde(default)]
    pub timezone: String,
    /// Other names, each 1–100 characters.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Whether a city is offered for new orders and masters.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub struct CityActivity {
    /// `false` deactivates, `true` reactivates (required).
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// Every IANA zone name, for the time zone picker.
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
}

/// Every city, the inactive ones too (global admins only; the pickers use [`search_cities`]).
pub fn all_cities(conn: &Connection, staff: &Staff) -> Result<Vec<CityEntry>> {
    staff.require(&[StaffRole::GlobalAdmin])?;
    let mut stmt = conn.prepare_cached("SELECT id, name, timezone, aliases, is_active FROM cities ORDER BY is_active DESC, name, id")?;
    let rows = stmt.query_map([], city_entry)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn city_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<CityEntry> {
    let aliases: String = r.get(3)?;
    let aliases = aliases.split('|').filter(|a| !a.is_empty()).map(str::to_string).collect();
    Ok(CityEntry { id: r.get(0)?, name: r.get(1)?, timezone: r.get(2)?, aliases, is_active: r.get(4)? })
}

/// Adds a city (global admins only): a new name, a zone of the tz database, optional aliases; one event row.
pub fn create_city(conn: &Connection, now: DateTime<Utc>, staff: &Staff, input: &NewCity) -> Result<CityEntry> {
    staff.require(&[StaffRole::GlobalAdmin])?;
    let name = name_of("name", &input.name, 100)?;
    let timezone = input.timezone.trim();
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(invalid("timezone", "unknown"));
    }
    let mut aliases: Vec<String> = Vec::new();
    for alias in input.aliases.iter().flat_map(|a| a.split([',', '|'])).filter(|a| !a.trim().is_empty()) {
        let alias = name_of("aliases", alias, 100)?;
        if !aliases.contains(&alias) && alias != name {
            aliases.push(alias);
        }
    }
    // SQLite's lower() knows only ASCII: "москва" is compared with "Москва" here, as the search does.
    let wanted = normalize(&name);
    let names: Vec<String> = conn.prepare_cached("SELECT name FROM cities")?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    if names.iter().any(|n| normalize(n) == wanted) {
        return Err(invalid("name", "taken"));
    }
    conn.execute(
        "INSERT INTO cities (name, timezone, aliases, is_active, created_at) VALUES (?1, ?2, ?3, 1, ?4)",
        params![name, timezone, aliases.join("|"), ms(now)],
    )?;
    let city = CityEntry { id: conn.last_insert_rowid(), name, timezone: timezone.to_string(), aliases, is_active: true };
    let detail = serde_json::json!({"staff_id": staff.id, "city_id": city.id, "name": city.name, "timezone": city.timezone,
        "aliases": city.aliases.join(", "), "from": null, "to": "active"});
    crate::events::record(conn, now, None, "staff", "city_created", detail)?;
    Ok(city)
}

/// Deactivates or reactivates a city (global admins only); one event row with old → new when it changes.
pub fn set_city_active(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: CityId, active: Option<bool>) -> Result<CityEntry> {
    staff.require(&[StaffRole::GlobalAdmin])?;
    let active = active.ok_or_else(|| invalid("is_active", "required"))?;
    let city = conn
        .query_row("SELECT id, name, timezone, aliases, is_active FROM cities WHERE id = ?1", [id], city_entry)
        .optional()?
        .ok_or(Error::NotFound { what: "city" })?;
    if city.is_active == active {
        return Ok(city);
    }
    conn.execute("UPDATE cities SET is_active = ?2 WHERE id = ?1", params![id, active])?;
    let kind = if active { "city_reactivated" } else { "city_deactivated" };
    let state = |on: bool| if on { "active" } else { "inactive" };
    let detail = serde_json::json!({"staff_id": staff.id, "city_id": id, "name": city.name, "from": state(city.is_active), "to": state(active)});
    crate::events::record(conn, now, None, "staff", kind, detail)?;
    Ok(CityEntry { is_active: active, ..city })
}
