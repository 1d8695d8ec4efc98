//! What a firm's owner reads and hands on: the exports of orders, commissions and referral rewards, and the
//! distribution and money reports — all computed from what is already stored, for a period of days on the
//! operator's clock (decisions §B.21).
//!
//! The reports ([`distribution`], [`masters`], [`money`]) are read-only queries over the order history, the
//! offers, the distribution metrics, the engine's event log and the commissions: no counter is kept that
//! could drift from them. [`charts`] draws their per-day series as inline SVG.

pub mod charts;
pub mod distribution;
pub mod exports;
pub mod masters;
pub mod money;
pub mod period;

use crate::db::ms;
use crate::domain::{CityId, StaffRole};
use crate::error::{Error, Result};
use crate::staff::Staff;
use period::Days;

/// Who may read the reports: admins (decisions §B.20); logists have no money and no reports.
const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

/// The cities a report counts: every city for a global admin, a city admin's own (none bound = nothing),
/// narrowed to one city when the caller picks one of his.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    all: bool,
    /// The cities as a JSON array, for `json_each`.
    cities: String,
}

impl Scope {
    /// The scope of `staff`, narrowed to `city`; a logist is refused, a city he does not see is "not found".
    pub fn of(staff: &Staff, city: Option<CityId>) -> Result<Self> {
        staff.require(&ADMINS)?;
        match city {
            Some(city) if !staff.sees(city) => Err(Error::NotFound { what: "city" }),
            Some(city) => Ok(Self { all: false, cities: format!("[{city}]") }),
            None => Ok(Self {
                all: staff.role == StaffRole::GlobalAdmin,
                cities: serde_json::to_string(&staff.cities).unwrap_or_else(|_| "[]".into()),
            }),
        }
    }
}

/// What a caller asked a report for: a quick period or custom dates, and optionally one of his cities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    /// A quick choice (`today`, `last_7_days`, …) or `custom`.
    pub period: Option<String>,
    /// The first day of custom dates.
    pub from: Option<String>,
    /// The last day of custom dates.
    pub to: Option<String>,
    /// One city of the caller's.
    pub city_id: Option<CityId>,
}

impl Asked {
    /// The days and the cities asked for, at `now` on the operator's clock `tz`: a logist is refused first,
    /// then a city outside the caller's, then dates that make no sense.
    pub fn resolve(&self, staff: &Staff, now: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> Result<(Days, Scope)> {
        let scope = Scope::of(staff, self.city_id)?;
        let days = Days::from_query(self.period.as_deref(), self.from.as_deref(), self.to.as_deref(), now, tz)?;
        Ok((days, scope))
    }
}

/// The condition every report query puts on its orders (`o`): `?1` all cities, `?2` the cities; `?3`/`?4`
/// are the period's bounds in milliseconds.
const IN_SCOPE: &str = "(?1 OR o.city_id IN (SELECT value FROM json_each(?2)))";

/// The period as a query sees it: its bounds, and the midnight of each day to put an instant in its day.
struct Window {
    start: i64,
    end: i64,
    /// The midnight starting each day, in order.
    midnights: Vec<i64>,
}

impl Window {
    fn new(days: &Days) -> Self {
        let (start, end) = days.bounds();
        let midnights = days.each().map(|d| ms(crate::queue::local_midnight(days.tz, d))).collect();
        Self { start: ms(start), end: ms(end), midnights }
    }

    /// The parameters `?1`…`?4` of a report query.
    fn params<'a>(&'a self, scope: &'a Scope) -> [&'a dyn rusqlite::ToSql; 4] {
        [&scope.all, &scope.cities, &self.start, &self.end]
    }

    /// The index of the day an instant (ms) falls on, if within the period.
    fn day(&self, at: i64) -> Option<usize> {
        if at < self.start || at >= self.end {
            return None;
        }
        Some(self.midnights.partition_point(|m| *m <= at).saturating_sub(1))
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of `values`, which it sorts; none of nothing.
fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (u64::from(p) * values.len() as u64).div_ceil(100).max(1);
    Some(values[rank as usize - 1])
}

/// `part` of `whole` in percent with one decimal; none of nothing.
fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// A day as `YYYY-MM-DD`, the way the reports name their days.
fn date(day: chrono::NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut v = vec![50, 10, 40, 30, 20, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&mut v, 50), Some(50));
        assert_eq!(percentile(&mut v, 90), Some(90));
        assert_eq!(percentile(&mut [7], 90), Some(7));
        assert_eq!(percentile(&mut [], 50), None);
        assert_eq!(percent(7, 10), Some(70.0));
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(1, 0), None);
    }
}
