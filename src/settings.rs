//! Business settings stored in the database (product.md §1.9, decisions D-2, D-12).
//!
//! A missing or unreadable row means the default. Updates are validated as a whole: one bad value refuses
//! the update, naming the field and its range, and nothing is saved.

use std::collections::HashMap;

use chrono::{DateTime, NaiveTime, Utc};
use rusqlite::{Connection, params};

use crate::cities::WorkingHours;
use crate::db::ms;
use crate::error::{Result, invalid};

/// Every business setting, typed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Settings {
    /// Seconds between scheduler ticks (1..3600).
    pub distribution_tick_seconds: i64,
    /// Offer lifetime in seconds (10..3600).
    pub distribution_sla_seconds: i64,
    /// Automatic rounds before logist escalation (1..10).
    pub distribution_rounds: i64,
    /// Ranked candidates written to the event log per decision (1..100).
    pub distribution_log_topn: i64,
    /// Minutes from logist to admin escalation (0..1440).
    pub escalate_to_admin_after_min: i64,
    /// Seconds an order may find no candidate before logist escalation (decisions D-15; 0..86400).
    pub no_candidates_grace_seconds: i64,
    /// Search the whole city when the order's district has nobody (decisions D-7).
    pub citywide_fallback: bool,
    /// Block a preferred master who refuses a guarantee order (decisions D-3).
    pub guarantee_autoblock_on_refusal: bool,
    /// Global active-order limit per master (1..20).
    pub max_active_orders: i64,
    /// Workday start, city-local, `HH:MM`.
    #[serde(serialize_with = "hh_mm")]
    #[schema(value_type = String, example = "10:00")]
    pub working_hours_start: NaiveTime,
    /// Workday end, city-local, `HH:MM`.
    #[serde(serialize_with = "hh_mm")]
    #[schema(value_type = String, example = "20:00")]
    pub working_hours_end: NaiveTime,
    /// Days after closing in which a guarantee order may be created (1..365).
    pub warranty_days: i64,
    /// Company payment of a guarantee order, kopecks.
    pub guarantee_company_payment_kop: i64,
    /// Commission rate, percent (0..100).
    pub commission_rate_percent: i64,
    /// Commission rate for high-average masters, percent (0..100).
    pub commission_high_rate_percent: i64,
    /// Weekly average check from which the high rate applies, kopecks.
    pub commission_high_threshold_kop: i64,
    /// Hours a master has to pay a commission (1..168).
    pub commission_deadline_hours: i64,
    /// Paying the last overdue commission lifts a `commission_overdue` block (decisions D-21).
    pub unblock_on_commission_paid: bool,
    /// Support contact shown to masters.
    pub support_contact: String,
    /// FAQ link shown to masters (may be empty).
    pub support_faq_url: String,
    /// New masters need an invite (decisions §B.14).
    pub master_signup_requires_invite: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            distribution_tick_seconds: 15,
            distribution_sla_seconds: 120,
            distribution_rounds: 2,
            distribution_log_topn: 10,
            escalate_to_admin_after_min: 10,
            no_candidates_grace_seconds: 120,
            citywide_fallback: true,
            guarantee_autoblock_on_refusal: false,
            max_active_orders: 5,
            working_hours_start: NaiveTime::from_hms_opt(10, 0, 0).expect("valid time"),
            working_hours_end: NaiveTime::from_hms_opt(20, 0, 0).expect("valid time"),
            warranty_days: 14,
            guarantee_company_payment_kop: 250_000,
            commission_rate_percent: 50,
            commission_high_rate_percent: 40,
            commission_high_threshold_kop: 700_000,
            commission_deadline_hours: 3,
            unblock_on_commission_paid: true,
            support_contact: String::new(),
            support_faq_url: String::new(),
            master_signup_requires_invite: true,
        }
    }
}

/// Writes a time as `HH:MM`, the form the settings accept.
fn hh_mm<S: serde::Serializer>(time: &NaiveTime, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(&time.format("%H:%M"))
}

/// How a setting is parsed and bounded.
enum Kind {
    Int(i64, i64),
    Bool,
    Time,
    Text(usize),
    /// A web link of at most this many characters, or empty (or `-`) for none.
    Link(usize),
}

/// The editable keys with their kinds (the single list used for reading, validating and listing).
const KEYS: &[(&str, Kind)] = &[
    ("distribution_tick_seconds", Kind::Int(1, 3600)),
    ("distribution_sla_seconds", Kind::Int(10, 3600)),
    ("distribution_rounds", Kind::Int(1, 10)),
    ("distribution_log_topn", Kind::Int(1, 100)),
    ("escalate_to_admin_after_min", Kind::Int(0, 1440)),
    ("no_candidates_grace_seconds", Kind::Int(0, 86_400)),
    ("citywide_fallback", Kind::Bool),
    ("guarantee_autoblock_on_refusal", Kind::Bool),
    ("max_active_orders", Kind::Int(1, 20)),
    ("working_hours_start", Kind::Time),
    ("working_hours_end", Kind::Time),
    ("warranty_days", Kind::Int(1, 365)),
    ("guarantee_company_payment_kop", Kind::Int(0, 100_000_000)),
    ("commission_rate_percent", Kind::Int(0, 100)),
    ("commission_high_rate_percent", Kind::Int(0, 100)),
    ("commission_high_threshold_kop", Kind::Int(0, 1_000_000_000)),
    ("commission_deadline_hours", Kind::Int(1, 168)),
    ("unblock_on_commission_paid", Kind::Bool),
    ("support_contact", Kind::Text(200)),
    ("support_faq_url", Kind::Link(500)),
    ("master_signup_requires_invite", Kind::Bool),
];

/// The editable keys, as a change names them.
pub fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(key, _)| *key)
}

/// A parsed setting value.
enum Value {
    Int(i64),
    Bool(bool),
    Time(NaiveTime),
    Text(String),
}

/// Parses `H:MM` / `HH:MM`.
pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    let (h, m) = raw.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

fn parse(key: &'static str, kind: &Kind, raw: &str) -> Result<Value> {
    let raw = raw.trim();
    match *kind {
        Kind::Int(min, max) => match raw.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(Value::Int(v)),
            _ => Err(invalid(key, format!("range:{min}:{max}"))),
        },
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(invalid(key, "bool")),
        },
        Kind::Time => parse_time(raw).map(Value::Time).ok_or_else(|| invalid(key, "time")),
        Kind::Text(max) if raw.chars().count() <= max => Ok(Value::Text(raw.to_string())),
        Kind::Text(max) => Err(invalid(key, format!("max_len:{max}"))),
        Kind::Link(max) if raw.chars().count() > max => Err(invalid(key, format!("max_len:{max}"))),
        Kind::Link(_) if raw.is_empty() || raw == "-" || web_link(raw) => Ok(Value::Text(raw.to_string())),
        Kind::Link(_) => Err(invalid(key, "web_link")),
    }
}

/// An `http:` or `https:` address with a host: the only links shown to masters as `href`, so that a
/// setting can never carry `javascript:` or `data:` into their pages.
fn web_link(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !raw.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
}

impl Settings {
    fn apply(&mut self, key: &str, value: Value) {
        match (key, value) {
            ("distribution_tick_seconds", Value::Int(v)) => self.distribution_tick_seconds = v,
            ("distribution_sla_seconds", Value::Int(v)) => self.distribution_sla_seconds = v,
            ("distribution_rounds", Value::Int(v)) => self.distribution_rounds = v,
            ("distribution_log_topn", Value::Int(v)) => self.distribution_log_topn = v,
            ("escalate_to_admin_after_min", Value::Int(v)) => self.escalate_to_admin_after_min = v,
            ("no_candidates_grace_seconds", Value::Int(v)) => self.no_candidates_grace_seconds = v,
            ("citywide_fallback", Value::Bool(v)) => self.citywide_fallback = v,
            ("guarantee_autoblock_on_refusal", Value::Bool(v)) => self.guarantee_autoblock_on_refusal = v,
            ("max_active_orders", Value::Int(v)) => self.max_active_orders = v,
            ("working_hours_start", Value::Time(v)) => self.working_hours_start = v,
            ("working_hours_end", Value::Time(v)) => self.working_hours_end = v,
            ("warranty_days", Value::Int(v)) => self.warranty_days = v,
            ("guarantee_company_payment_kop", Value::Int(v)) => self.guarantee_company_payment_kop = v,
            ("commission_rate_percent", Value::Int(v)) => self.commission_rate_percent = v,
            ("commission_high_rate_percent", Value::Int(v)) => self.commission_high_rate_percent = v,
            ("commission_high_threshold_kop", Value::Int(v)) => self.commission_high_threshold_kop = v,
            ("commission_deadline_hours", Value::Int(v)) => self.commission_deadline_hours = v,
            ("unblock_on_commission_paid", Value::Bool(v)) => self.unblock_on_commission_paid = v,
            ("support_contact", Value::Text(v)) => self.support_contact = v,
            ("support_faq_url", Value::Text(v)) => self.support_faq_url = v,
            ("master_signup_requires_invite", Value::Bool(v)) => self.master_signup_requires_invite = v,
            _ => unreachable!("KEYS and apply list the same keys with the same kinds"),
        }
    }

    /// Reads the settings; missing or unreadable rows keep their defaults. Until an admin sets the grace
    /// explicitly it follows the SLA (decisions D-15).
    pub fn load(conn: &Connection) -> Result<Self> {
        let mut stmt = conn.prepare_cached("SELECT key, value FROM settings")?;
        let stored: HashMap<String, String> =
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        let mut settings = Settings::default();
        for (key, kind) in KEYS {
            if let Some(value) = stored.get(*key).and_then(|raw| parse(key, kind, raw).ok()) {
                settings.apply(key, value);
            }
        }
        if !stored.contains_key("no_candidates_grace_seconds") {
            settings.no_candidates_grace_seconds = settings.distribution_sla_seconds;
        }
        Ok(settings)
    }

    /// Validates and saves `changes` (key → raw text) all or nothing.
    pub fn update(conn: &Connection, now: DateTime<Utc>, changes: &[(&str, &str)]) -> Result<Settings> {
        let mut next = Settings::load(conn)?;
        let mut parsed = Vec::with_capacity(changes.len());
        for (key, raw) in changes {
            let Some((key, kind)) = KEYS.iter().find(|(k, _)| k == key) else {
                return Err(invalid("setting", "unknown"));
            };
            next.apply(key, parse(key, kind, raw)?);
            parsed.push((*key, raw.trim()));
        }
        if next.working_hours_start >= next.working_hours_end {
            return Err(invalid("working_hours_end", "after_start"));
        }
        let mut upsert = conn.prepare_cached(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )?;
        for (key, raw) in parsed {
            upsert.execute(params![key, raw, ms(now)])?;
        }
        Ok(next)
    }

    /// The working window.
    pub fn working_hours(&self) -> WorkingHours {
        WorkingHours { start: self.working_hours_start, end: self.working_hours_end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)")
            .unwrap();
        conn
    }

    #[test]
    fn defaults_follow_decision_d2() {
        let s = Settings::load(&conn()).unwrap();
        assert_eq!((s.distribution_tick_seconds, s.distribution_sla_seconds, s.distribution_rounds), (15, 120, 2));
        assert_eq!((s.escalate_to_admin_after_min, s.max_active_orders, s.distribution_log_topn), (10, 5, 10));
        assert_eq!(s.no_candidates_grace_seconds, 120);
    }

    #[test]
    fn out_of_range_value_is_refused_and_nothing_saved() {
        let c = conn();
        let err = Settings::update(&c, Utc::now(), &[("distribution_rounds", "3"), ("distribution_sla_seconds", "5")])
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid distribution_sla_seconds: range:10:3600");
        assert_eq!(Settings::load(&c).unwrap().distribution_rounds, 2);
    }

    #[test]
    fn zero_is_allowed_only_for_the_admin_delay() {
        let c = conn();
        assert!(Settings::update(&c, Utc::now(), &[("max_active_orders", "0")]).is_err());
        assert_eq!(Settings::update(&c, Utc::now(), &[("escalate_to_admin_after_min", "0")]).unwrap().escalate_to_admin_after_min, 0);
    }

    #[test]
    fn times_must_be_valid_and_ordered() {
        let c = conn();
        assert!(Settings::update(&c, Utc::now(), &[("working_hours_start", "25:00")]).is_err());
        assert!(Settings::update(&c, Utc::now(), &[("working_hours_start", "21:00")]).is_err());
        let s = Settings::update(&c, Utc::now(), &[("working_hours_start", "9:05")]).unwrap();
        assert_eq!(s.working_hours_start, NaiveTime::from_hms_opt(9, 5, 0).unwrap());
    }

    #[test]
    fn the_faq_link_is_a_web_address_or_nothing() {
        let c = conn();
        for bad in ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "//evil.example", "https://", "faq.example", "https://x.example/a b"] {
            let err = Settings::update(&c, Utc::now(), &[("support_faq_url", bad)]).unwrap_err();
            assert_eq!(err.to_string(), "invalid support_faq_url: web_link", "{bad}");
        }
        for good in ["https://faq.example/masters?x=1", "http://faq.example", "", "-"] {
            assert_eq!(Settings::update(&c, Utc::now(), &[("support_faq_url", good)]).unwrap().support_faq_url, good);
        }
        // A value stored before this check is not shown as a link either.
        c.execute("UPDATE settings SET value = 'javascript:alert(1)' WHERE key = 'support_faq_url'", []).unwrap();
        assert_eq!(Settings::load(&c).unwrap().support_faq_url, "");
    }

    #[test]
    fn explicit_grace_survives_an_sla_change() {
        let c = conn();
        Settings::update(&c, Utc::now(), &[("distribution_sla_seconds", "300")]).unwrap();
        assert_eq!(Settings::load(&c).unwrap().no_candidates_grace_seconds, 300);
        Settings::update(&c, Utc::now(), &[("no_candidates_grace_seconds", "60")]).unwrap();
        assert_eq!(Settings::load(&c).unwrap().no_candidates_grace_seconds, 60);
    }
}
