//! Cities and their time zones: the reference list shipped with the binary, and local-time helpers.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::ms;
use crate::domain::CityId;

/// The 78 cities with IANA zones and aliases (a copy of `shared/data/cities.csv`).
const CITIES_CSV: &str = include_str!("cities.csv");

/// One row of the reference list.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CityRecord {
    /// Canonical Russian name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// `|`-separated search aliases.
    pub aliases: String,
}

/// The reference list, parsed.
pub fn reference() -> Vec<CityRecord> {
    csv::Reader::from_reader(CITIES_CSV.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("the embedded cities.csv is valid")
}

/// Inserts the reference cities that are missing.
pub fn seed(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<usize> {
    let mut insert = conn.prepare(
        "INSERT INTO cities (name, timezone, aliases, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO NOTHING",
    )?;
    let mut added = 0;
    for city in reference() {
        added += insert.execute(params![city.name, city.timezone, city.aliases, ms(now)])?;
    }
    Ok(added)
}

/// The time zone of a city; `None` when the city does not exist.
pub fn timezone(conn: &Connection, city: CityId) -> rusqlite::Result<Option<Tz>> {
    let name: Option<String> =
        conn.query_row("SELECT timezone FROM cities WHERE id = ?1", [city], |row| row.get(0)).optional()?;
    Ok(name.map(|name| parse_zone(&name)))
}

/// Whether the city is divided into districts: only then can an order be "no district" (decisions D-20).
pub fn has_districts(conn: &Connection, city: CityId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM districts WHERE city_id = ?1)")?.query_row([city], |r| r.get(0))
}

/// Parses an IANA zone name; an unknown name falls back to UTC (distribution.md §10.1).
pub fn parse_zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// `at` on the wall clock of the IANA zone `zone`, in `format` (chrono's `strftime` syntax): how the pages
/// show every time of an order, a master or a city.
pub fn local_time(at: DateTime<Utc>, zone: &str, format: &str) -> String {
    at.with_timezone(&parse_zone(zone)).format(format).to_string()
}

/// The instant at which the local wall clock in `tz` shows `time` on the local date of `day`, shifted by
/// `days_later` days. A wall time skipped by a DST jump resolves to the first valid instant after it.
pub fn local_instant(tz: Tz, day: DateTime<Utc>, days_later: i64, time: NaiveTime) -> DateTime<Utc> {
    let date = day.with_timezone(&tz).date_naive() + Duration::days(days_later);
    let mut naive = date.and_time(time);
    loop {
        if let Some(local) = tz.from_local_datetime(&naive).earliest() {
            return local.with_timezone(&Utc);
        }
        naive += Duration::minutes(15);
    }
}

/// The working window of one city, from the settings' hours.
#[derive(Debug, Clone, Copy)]
pub struct WorkingHours {
    /// Workday start, local.
    pub start: NaiveTime,
    /// Workday end, local (exclusive).
    pub end: NaiveTime,
}

impl WorkingHours {
    /// True when `now` falls inside `[start, end)` on the city's local clock (decisions D-13).
    pub fn is_open(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&tz).time();
        local >= self.start && local < self.end
    }

    /// The next workday start at or after `now` on the city's clock: today if it is still ahead, else tomorrow
    /// (decisions D-14).
    pub fn next_start(&self, tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = local_instant(tz, now, 0, self.start);
        if today > now { today } else { local_instant(tz, now, 1, self.start) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> WorkingHours {
        WorkingHours { start: NaiveTime::from_hms_opt(10, 0, 0).unwrap(), end: NaiveTime::from_hms_opt(20, 0, 0).unwrap() }
    }

    #[test]
    fn reference_list_has_78_cities_with_known_zones() {
        let cities = reference();
        assert_eq!(cities.len(), 78);
        for city in &cities {
            assert!(city.timezone.parse::<Tz>().is_ok(), "{} has zone {}", city.name, city.timezone);
        }
    }

    #[test]
    fn vladivostok_evening_waits_for_ten_next_morning() {
        let tz: Tz = "Asia/Vladivostok".parse().unwrap();
        // 20:30 local (UTC+10) on 2026-03-10.
        let evening = Utc.with_ymd_and_hms(2026, 3, 10, 10, 30, 0).unwrap();
        assert!(!hours().is_open(tz, evening));
        assert_eq!(hours().next_start(tz, evening), Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).unwrap());
    }

    #[test]
    fn early_morning_waits_for_today() {
        let tz: Tz = "Europe/Moscow".parse().unwrap();
        let seven = Utc.with_ymd_and_hms(2026, 3, 10, 4, 0, 0).unwrap();
        assert!(!hours().is_open(tz, seven));
        assert_eq!(hours().next_start(tz, seven), Utc.with_ymd_and_hms(2026, 3, 10, 7, 0, 0).unwrap());
    }

    #[test]
    fn window_end_is_exclusive() {
        let tz: Tz = "Europe/Moscow".parse().unwrap();
        assert!(hours().is_open(tz, Utc.with_ymd_and_hms(2026, 3, 10, 16, 59, 59).unwrap()));
        assert!(!hours().is_open(tz, Utc.with_ymd_and_hms(2026, 3, 10, 17, 0, 0).unwrap()));
    }

    #[test]
    fn dst_zone_uses_the_local_offset_of_the_wake_day() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // 21:00 local on Saturday 2026-03-28 (UTC+1); Sunday is already summer time (UTC+2).
        let evening = Utc.with_ymd_and_hms(2026, 3, 28, 20, 0, 0).unwrap();
        assert_eq!(hours().next_start(tz, evening), Utc.with_ymd_and_hms(2026, 3, 29, 8, 0, 0).unwrap());
    }
}
