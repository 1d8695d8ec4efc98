//! The days a report or an export covers: a quick choice (today, yesterday, the last 7 days, this month, the
//! previous month) or a custom range of dates typed as `YYYY-MM-DD` or `DD.MM.YYYY`. The days are the
//! operator's (config `timezone`, decisions §B.21): a day runs from his midnight to the next.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Result, invalid};

/// The longest custom range, in days (both ends included).
pub const MAX_DAYS: i64 = 366;

/// A quick choice of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Quick {
    Today,
    Yesterday,
    /// Today and the 6 days before it.
    Last7Days,
    /// From the 1st of this month to today.
    ThisMonth,
    /// The whole previous month.
    PreviousMonth,
}

impl Quick {
    /// Every choice, in the order a page offers them.
    pub const ALL: [Self; 5] = [Self::Today, Self::Yesterday, Self::Last7Days, Self::ThisMonth, Self::PreviousMonth];

    /// Its name in links, the API and the catalogs (`period.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Today => "today",
            Self::Yesterday => "yesterday",
            Self::Last7Days => "last_7_days",
            Self::ThisMonth => "this_month",
            Self::PreviousMonth => "previous_month",
        }
    }

    /// Parses its name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == text)
    }

    /// Its first and last day, for `today`.
    pub fn days(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first_of_month = today.with_day(1).expect("every month has a 1st");
        match self {
            Self::Today => (today, today),
            Self::Yesterday => (today - Duration::days(1), today - Duration::days(1)),
            Self::Last7Days => (today - Duration::days(6), today),
            Self::ThisMonth => (first_of_month, today),
            Self::PreviousMonth => {
                let last = first_of_month - Duration::days(1);
                (last.with_day(1).expect("every month has a 1st"), last)
            }
        }
    }
}

/// A run of whole days on the operator's clock, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    /// The first day.
    pub first: NaiveDate,
    /// The last day.
    pub last: NaiveDate,
    /// The operator's time zone the days are counted in.
    pub tz: Tz,
}

impl Days {
    /// The days of a quick choice at `now`.
    pub fn quick(quick: Quick, now: DateTime<Utc>, tz: Tz) -> Self {
        let (first, last) = quick.days(now.with_timezone(&tz).date_naive());
        Self { first, last, tz }
    }

    /// A custom range typed by a user: `from` and `to` as `YYYY-MM-DD` or `DD.MM.YYYY`, `from` ≤ `to`, at most
    /// [`MAX_DAYS`] days.
    pub fn custom(from: &str, to: &str, tz: Tz) -> Result<Self> {
        let (first, last) = (date("from", from)?, date("to", to)?);
        if first > last {
            return Err(invalid("to", "not_before_from"));
        }
        if (last - first).num_days() + 1 > MAX_DAYS {
            return Err(invalid("to", format!("max_days:{MAX_DAYS}")));
        }
        Ok(Self { first, last, tz })
    }

    /// From a request's parameters: `period` (a [`Quick`] name), else `from` and `to`; with none of them, today.
    /// `period=custom` needs its dates: without them it is refused rather than taken for today.
    pub fn from_query(period: Option<&str>, from: Option<&str>, to: Option<&str>, now: DateTime<Utc>, tz: Tz) -> Result<Self> {
        match (given(period), given(from), given(to)) {
            (Some("custom"), None, None) => Err(invalid("from", "required")),
            (Some(name), _, _) if name != "custom" => Quick::parse(name).map(|q| Self::quick(q, now, tz)).ok_or_else(|| invalid("period", "unknown")),
            (_, Some(from), Some(to)) => Self::custom(from, to, tz),
            (_, Some(_), None) => Err(invalid("to", "required")),
            (_, None, Some(_)) => Err(invalid("from", "required")),
            _ => Ok(Self::quick(Quick::Today, now, tz)),
        }
    }

    /// The UTC instants `[start, end)`: the first day's midnight and the midnight after the last day.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (crate::queue::local_midnight(self.tz, self.first), crate::queue::local_midnight(self.tz, self.last + Duration::days(1)))
    }

    /// Every day of the run, in order (for per-day charts).
    pub fn each(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let first = self.first;
        (0..=(self.last - self.first).num_days()).map(move |n| first + Duration::days(n))
    }
}

/// A parameter that was filled in.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A date typed as `YYYY-MM-DD` or `DD.MM.YYYY`.
fn date(field: &'static str, text: &str) -> Result<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(text, "%d.%m.%Y")).map_err(|_| invalid(field, "date"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use chrono::TimeZone;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn quick_choices_count_the_operators_days() {
        // 23:30 UTC on 31 Jan is already 1 Feb in Moscow (UTC+3).
        let now = Utc.with_ymd_and_hms(2026, 1, 31, 23, 30, 0).unwrap();
        let tz = Tz::Europe__Moscow;
        let of = |q| {
            let d = Days::quick(q, now, tz);
            (d.first, d.last)
        };
        assert_eq!(of(Quick::Today), (day(2026, 2, 1), day(2026, 2, 1)));
        assert_eq!(of(Quick::Yesterday), (day(2026, 1, 31), day(2026, 1, 31)));
        assert_eq!(of(Quick::Last7Days), (day(2026, 1, 26), day(2026, 2, 1)));
        assert_eq!(of(Quick::ThisMonth), (day(2026, 2, 1), day(2026, 2, 1)));
        assert_eq!(of(Quick::PreviousMonth), (day(2026, 1, 1), day(2026, 1, 31)));
        let (start, end) = Days::quick(Quick::Today, now, tz).bounds();
        assert_eq!((start, end), (Utc.with_ymd_and_hms(2026, 1, 31, 21, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 2, 1, 21, 0, 0).unwrap()));
    }

    #[test]
    fn custom_ranges_take_both_date_forms_and_refuse_what_makes_no_sense() {
        let tz = Tz::UTC;
        let days = Days::custom("2025-09-14", "16.09.2025", tz).unwrap();
        assert_eq!((days.first, days.last), (day(2025, 9, 14), day(2025, 9, 16)));
        assert_eq!(days.each().count(), 3);
        assert_eq!(days.bounds().1, Utc.with_ymd_and_hms(2025, 9, 17, 0, 0, 0).unwrap());
        assert!(matches!(Days::custom("2025-09-16", "2025-09-14", tz), Err(Error::Invalid { field: "to", .. })));
        assert!(Days::custom("2025-01-01", "2026-01-01", tz).is_ok(), "366 days");
        assert!(matches!(Days::custom("2025-01-01", "2026-01-02", tz), Err(Error::Invalid { field: "to", .. })));
        assert!(matches!(Days::custom("14/09/2025", "2025-09-16", tz), Err(Error::Invalid { field: "from", .. })));
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        assert_eq!(Days::from_query(Some("yesterday"), None, None, now, tz).unwrap().first, day(2026, 3, 9));
        assert_eq!(Days::from_query(None, Some("2026-03-01"), Some("2026-03-02"), now, tz).unwrap().last, day(2026, 3, 2));
        assert!(Days::from_query(Some("fortnight"), None, None, now, tz).is_err());
        assert!(Days::from_query(None, Some("2026-03-01"), None, now, tz).is_err());
        assert!(matches!(Days::from_query(Some("custom"), None, None, now, tz), Err(Error::Invalid { field: "from", .. })), "custom needs its dates");
    }
}
