//! Visit slots (product.md §2.5): the choices staff are offered for a city right now, and what a chosen
//! code means — a visit window in UTC and whether the order must wait, DEFERRED. Everything is computed on
//! the city's clock; instants come from [`cities::local_instant`], so DST days get their own offsets.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use rusqlite::Connection;

use crate::cities;
use crate::domain::CityId;
use crate::error::{Error, Result, invalid};
use crate::orders::Slot;
use crate::settings::Settings;
use crate::staff::Staff;

/// The fixed visit buckets, local hours `[start, end)` (product.md §2.5).
pub const BUCKETS: [(u32, u32); 3] = [(10, 13), (13, 16), (16, 19)];

/// From this local time on, "as soon as possible" means tomorrow morning (upstream `ASAP_LATE_THRESHOLD`).
pub const LATE_ASAP: NaiveTime = match NaiveTime::from_hms_opt(19, 30, 0) {
    Some(time) => time,
    None => panic!("19:30 is a valid time"),
};

/// The code of "as soon as possible".
pub const ASAP: &str = "ASAP";

/// One choice offered to staff.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SlotOption {
    /// `ASAP`, `TODAY:<bucket>` or `TOM:<bucket>`, e.g. `TOM:10-13`; sent back as the order's `slot`.
    pub code: String,
    /// Window start. For ASAP: today's window, which a late choice replaces by tomorrow 10:00–13:00.
    pub start: DateTime<Utc>,
    /// Window end.
    pub end: DateTime<Utc>,
}

/// What a chosen code means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    /// The visit window.
    pub slot: Slot,
    /// The order waits, DEFERRED, until the slot (late ASAP accepted by staff).
    pub defer: bool,
}

fn hour(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).expect("bucket hours are valid")
}

fn label((start, end): (u32, u32)) -> String {
    format!("{start}-{end}")
}

/// A bucket on the local day `days_later` days after `now`'s.
fn bucket_slot(tz: Tz, now: DateTime<Utc>, days_later: i64, (start, end): (u32, u32)) -> Slot {
    Slot { start: cities::local_instant(tz, now, days_later, hour(start)), end: cities::local_instant(tz, now, days_later, hour(end)) }
}

/// Today's ASAP window: from now (or the workday start, if later) to the workday end.
fn asap_today(tz: Tz, now: DateTime<Utc>, settings: &Settings) -> Slot {
    let start = cities::local_instant(tz, now, 0, settings.working_hours_start).max(now);
    Slot { start, end: cities::local_instant(tz, now, 0, settings.working_hours_end) }
}

/// The choices at `now`: while the workday lasts ASAP and today's buckets that have not begun, then
/// always tomorrow's three buckets.
pub fn options(tz: Tz, now: DateTime<Utc>, settings: &Settings) -> Vec<SlotOption> {
    let option = |code: String, slot: Slot| SlotOption { code, start: slot.start, end: slot.end };
    let mut out = Vec::with_capacity(1 + 2 * BUCKETS.len());
    if now.with_timezone(&tz).time() < settings.working_hours_end {
        out.push(option(ASAP.to_string(), asap_today(tz, now, settings)));
        for bucket in BUCKETS {
            let slot = bucket_slot(tz, now, 0, bucket);
            if slot.start > now {
                out.push(option(format!("TODAY:{}", label(bucket)), slot));
            }
        }
    }
    for bucket in BUCKETS {
        out.push(option(format!("TOM:{}", label(bucket)), bucket_slot(tz, now, 1, bucket)));
    }
    out
}

/// What `code` means at `now`. ASAP at or after 19:30 or the workday end is refused with
/// [`Error::LateAsap`] until staff confirm it (`confirm_late`); then it is tomorrow 10:00–13:00, DEFERRED.
/// A bucket of today that has already ended is refused as `slot_expired`; an unknown code as `unknown`.
pub fn resolve(code: &str, tz: Tz, now: DateTime<Utc>, settings: &Settings, confirm_late: bool) -> Result<Resolved> {
    let plain = |slot| Ok(Resolved { slot, defer: false });
    if code == ASAP {
        let local = now.with_timezone(&tz).time();
        if local < LATE_ASAP && local < settings.working_hours_end {
            return plain(asap_today(tz, now, settings));
        }
        if !confirm_late {
            return Err(Error::LateAsap);
        }
        return Ok(Resolved { slot: bucket_slot(tz, now, 1, BUCKETS[0]), defer: true });
    }
    let (day, bucket) = code.split_once(':').ok_or_else(|| invalid("slot", "unknown"))?;
    let bucket = BUCKETS.into_iter().find(|b| label(*b) == bucket).ok_or_else(|| invalid("slot", "unknown"))?;
    match day {
        "TODAY" => {
            let slot = bucket_slot(tz, now, 0, bucket);
            if slot.end <= now { Err(invalid("slot", "slot_expired")) } else { plain(slot) }
        }
        "TOM" => plain(bucket_slot(tz, now, 1, bucket)),
        _ => Err(invalid("slot", "unknown")),
    }
}

/// The choices for a city the staff member sees, at `now`; another city is "not found".
pub fn for_city(conn: &Connection, staff: &Staff, city: CityId, now: DateTime<Utc>) -> Result<Vec<SlotOption>> {
    if !staff.sees(city) {
        return Err(Error::NotFound { what: "city" });
    }
    let tz = cities::timezone(conn, city)?.ok_or(Error::NotFound { what: "city" })?;
    Ok(options(tz, now, &Settings::load(conn)?))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn zone(name: &str) -> Tz {
        name.parse().unwrap()
    }

    fn codes(options: &[SlotOption]) -> Vec<&str> {
        options.iter().map(|o| o.code.as_str()).collect()
    }

    fn slot(start: DateTime<Utc>, end: DateTime<Utc>) -> Slot {
        Slot { start, end }
    }

    #[test]
    fn a5_moscow_asap_is_kept_until_19_30_then_needs_confirmation_for_tomorrow_morning() {
        let (tz, s) = (zone("Europe/Moscow"), Settings::default());
        let before = utc(2026, 3, 10, 16, 29);
        let kept = resolve(ASAP, tz, before, &s, false).unwrap();
        assert_eq!(kept, Resolved { slot: slot(before, utc(2026, 3, 10, 17, 0)), defer: false });

        let after = utc(2026, 3, 10, 16, 31);
        assert!(matches!(resolve(ASAP, tz, after, &s, false), Err(Error::LateAsap)));
        let confirmed = resolve(ASAP, tz, after, &s, true).unwrap();
        assert_eq!(confirmed, Resolved { slot: slot(utc(2026, 3, 11, 7, 0), utc(2026, 3, 11, 10, 0)), defer: true });
    }

    #[test]
    fn a6_tomorrow_morning_is_stored_in_utc() {
        let now = utc(2025, 9, 28, 12, 0);
        let got = resolve("TOM:10-13", zone("Europe/Moscow"), now, &Settings::default(), false).unwrap();
        assert_eq!(got, Resolved { slot: slot(utc(2025, 9, 29, 7, 0), utc(2025, 9, 29, 10, 0)), defer: false });
    }

    #[test]
    fn a7_offers_only_what_is_still_ahead() {
        let (tz, s) = (zone("Europe/Moscow"), Settings::default());
        let afternoon = options(tz, utc(2026, 3, 10, 11, 30), &s); // 14:30 local
        assert_eq!(codes(&afternoon), ["ASAP", "TODAY:16-19", "TOM:10-13", "TOM:13-16", "TOM:16-19"]);
        assert_eq!((afternoon[1].start, afternoon[1].end), (utc(2026, 3, 10, 13, 0), utc(2026, 3, 10, 16, 0)));
        let evening = options(tz, utc(2026, 3, 10, 17, 15), &s); // 20:15 local
        assert_eq!(codes(&evening), ["TOM:10-13", "TOM:13-16", "TOM:16-19"]);
    }

    #[test]
    fn a8_asap_runs_from_now_to_the_workday_end() {
        let now = utc(2026, 3, 10, 8, 20); // 11:20 local
        let got = resolve(ASAP, zone("Europe/Moscow"), now, &Settings::default(), false).unwrap();
        assert_eq!(got, Resolved { slot: slot(now, utc(2026, 3, 10, 17, 0)), defer: false });
    }

    #[test]
    fn early_asap_starts_at_the_workday_start() {
        let now = utc(2026, 3, 10, 4, 0); // 07:00 local
        let got = resolve(ASAP, zone("Europe/Moscow"), now, &Settings::default(), false).unwrap();
        assert_eq!(got.slot, slot(utc(2026, 3, 10, 7, 0), utc(2026, 3, 10, 17, 0)));
        let options = options(zone("Europe/Moscow"), now, &Settings::default());
        assert_eq!(codes(&options)[..4], ["ASAP", "TODAY:10-13", "TODAY:13-16", "TODAY:16-19"]);
    }

    #[test]
    fn a_bucket_of_today_is_refused_once_it_has_ended() {
        let (tz, s) = (zone("Europe/Moscow"), Settings::default());
        let now = utc(2026, 3, 10, 11, 30); // 14:30 local
        let running = resolve("TODAY:13-16", tz, now, &s, false).unwrap();
        assert_eq!(running.slot, slot(utc(2026, 3, 10, 10, 0), utc(2026, 3, 10, 13, 0)));
        let err = resolve("TODAY:10-13", tz, now, &s, false).unwrap_err();
        assert_eq!(err.to_string(), "invalid slot: slot_expired");
    }

    #[test]
    fn unknown_codes_are_refused() {
        let (tz, s, now) = (zone("Europe/Moscow"), Settings::default(), utc(2026, 3, 10, 9, 0));
        for code in ["", "asap", "LATER", "TOM:9-12", "TODAY", "YESTERDAY:10-13", "TOM:10-13:x"] {
            let err = resolve(code, tz, now, &s, true).unwrap_err();
            assert_eq!(err.to_string(), "invalid slot: unknown", "{code:?}");
        }
    }

    #[test]
    fn an_earlier_workday_end_makes_asap_late_sooner() {
        let s = Settings { working_hours_end: hour(18), ..Settings::default() };
        let now = utc(2026, 3, 10, 15, 10); // 18:10 local
        assert!(matches!(resolve(ASAP, zone("Europe/Moscow"), now, &s, false), Err(Error::LateAsap)));
        assert_eq!(codes(&options(zone("Europe/Moscow"), now, &s)), ["TOM:10-13", "TOM:13-16", "TOM:16-19"]);
    }

    #[test]
    fn vladivostok_works_on_its_own_clock() {
        let (tz, s) = (zone("Asia/Vladivostok"), Settings::default()); // UTC+10
        let now = utc(2026, 3, 10, 3, 30); // 13:30 local
        let got = options(tz, now, &s);
        assert_eq!(codes(&got), ["ASAP", "TODAY:16-19", "TOM:10-13", "TOM:13-16", "TOM:16-19"]);
        assert_eq!((got[0].start, got[0].end), (now, utc(2026, 3, 10, 10, 0)));
        assert_eq!((got[2].start, got[2].end), (utc(2026, 3, 11, 0, 0), utc(2026, 3, 11, 3, 0)));
        // 19:31 local is late there although it is morning in Moscow.
        let late = utc(2026, 3, 10, 9, 31);
        assert!(matches!(resolve(ASAP, tz, late, &s, false), Err(Error::LateAsap)));
        assert_eq!(resolve(ASAP, tz, late, &s, true).unwrap().slot, slot(utc(2026, 3, 11, 0, 0), utc(2026, 3, 11, 3, 0)));
    }

    #[test]
    fn vladivostok_after_midnight_utc_is_already_tomorrow_locally() {
        let tz = zone("Asia/Vladivostok");
        let now = utc(2026, 3, 10, 23, 0); // 09:00 local on the 11th
        let got = resolve("TODAY:10-13", tz, now, &Settings::default(), false).unwrap();
        assert_eq!(got.slot, slot(utc(2026, 3, 11, 0, 0), utc(2026, 3, 11, 3, 0)));
    }

    #[test]
    fn dst_tomorrow_uses_tomorrows_offset() {
        let (tz, s) = (zone("Europe/Berlin"), Settings::default());
        // Saturday 2026-03-28 20:00 local (UTC+1); Sunday is summer time (UTC+2).
        let now = utc(2026, 3, 28, 19, 0);
        let got = options(tz, now, &s);
        assert_eq!(codes(&got), ["TOM:10-13", "TOM:13-16", "TOM:16-19"]);
        assert_eq!((got[0].start, got[0].end), (utc(2026, 3, 29, 8, 0), utc(2026, 3, 29, 11, 0)));
        let late = resolve(ASAP, tz, now, &s, true).unwrap();
        assert_eq!(late, Resolved { slot: slot(utc(2026, 3, 29, 8, 0), utc(2026, 3, 29, 11, 0)), defer: true });
        // Autumn: Saturday 2026-10-24 is UTC+2, Sunday back to UTC+1.
        let autumn = resolve("TOM:16-19", tz, utc(2026, 10, 24, 12, 0), &s, false).unwrap();
        assert_eq!(autumn.slot, slot(utc(2026, 10, 25, 15, 0), utc(2026, 10, 25, 18, 0)));
    }
}
