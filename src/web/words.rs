//! Plain words for the staff and master pages (issue 12 §Plain words): one money format, one date-time
//! format per language, the actor of a change named by role, and every logged event told as a sentence
//! from the catalogs (`event.<kind>` in words.*.toml), never as a code or a JSON payload.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Tr;
use crate::cities::local_time;
use crate::domain::{MasterId, StaffId, StaffRole};
use crate::i18n::{Lang, catalog};

/// The texts of `key` when the catalog has it.
fn known(tr: Tr, key: &str) -> Option<String> {
    catalog(tr.0).get(key).cloned()
}

impl Tr {
    /// Money from kopecks, the one format of the product: `4 500 ₽`, `4 500,50 ₽` (ru) and `4 500.50 ₽` (en);
    /// kopecks only when not zero, thousands split by a no-break space.
    pub fn money(&self, kopecks: i64) -> String {
        let text = crate::money::format_rubles(kopecks);
        let text = if self.0 == Lang::En { text.replace(',', ".") } else { text };
        format!("{text}\u{a0}₽")
    }

    /// An instant on the wall clock of `zone`, the one date-time format of the language: `04.12.2026 14:05`
    /// (ru), `04 Dec 2026 14:05` (en).
    pub fn date_time(&self, at: DateTime<Utc>, zone: &str) -> String {
        local_time(at, zone, self.date_time_pattern())
    }

    /// The date alone, in the same form as [`Tr::date_time`].
    pub fn date(&self, at: DateTime<Utc>, zone: &str) -> String {
        local_time(at, zone, if self.0 == Lang::En { "%d %b %Y" } else { "%d.%m.%Y" })
    }

    /// A window of time: `04.12.2026 14:00–16:00`, the end's date only when it is another day.
    pub fn window(&self, start: DateTime<Utc>, end: DateTime<Utc>, zone: &str) -> String {
        let same_day = self.date(start, zone) == self.date(end, zone);
        let end = if same_day { local_time(end, zone, "%H:%M") } else { self.date_time(end, zone) };
        format!("{}–{end}", self.date_time(start, zone))
    }

    /// An order's description; an order without one (a quick order stores only its category) is told as a
    /// master call in its category, in this language.
    pub fn description(&self, text: &str, category: impl std::fmt::Display) -> String {
        if text.trim().is_empty() { self.t("order_form.quick_description").replace("{category}", &self.of("category.", category)) } else { text.to_string() }
    }

    /// A near instant, without the year: `04.12 14:05` (ru), `04 Dec 14:05` (en) — the board's and the phone's
    /// short form of [`Tr::date_time`].
    pub fn short(&self, at: &DateTime<Utc>, zone: &str) -> String {
        local_time(*at, zone, self.short_pattern())
    }

    /// A window in the short form: `04.12 14:00–16:00`.
    pub fn short_window(&self, start: &DateTime<Utc>, end: &Option<DateTime<Utc>>, zone: &str) -> String {
        let end = end.map(|end| local_time(end, zone, "–%H:%M")).unwrap_or_default();
        format!("{}{end}", self.short(start, zone))
    }

    /// The pattern of [`Tr::short`].
    pub fn short_pattern(&self) -> &'static str {
        if self.0 == Lang::En { "%d %b %H:%M" } else { "%d.%m %H:%M" }
    }

    fn date_time_pattern(&self) -> &'static str {
        if self.0 == Lang::En { "%d %b %Y %H:%M" } else { "%d.%m.%Y %H:%M" }
    }
}

/// Who a staff member is, for naming him by role.
pub fn role_word(tr: Tr, role: StaffRole) -> String {
    match role {
        StaffRole::Logist => tr.t("actor.logist"),
        StaffRole::CityAdmin | StaffRole::GlobalAdmin => tr.t("actor.admin"),
    }
}

/// The people an event or a history row may name.
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// Masters: their full names.
    pub masters: HashMap<MasterId, String>,
    /// Staff: their roles and names.
    pub staff: HashMap<StaffId, (StaffRole, String)>,
}

impl Names {
    /// Reads the names of every master and staff member the events mention.
    pub fn of_events<'a>(conn: &rusqlite::Connection, details: impl Iterator<Item = &'a Value>) -> rusqlite::Result<Self> {
        let mut masters = Vec::new();
        let mut staff = Vec::new();
        for detail in details {
            people_in(detail, &mut masters, &mut staff);
        }
        Self::read(conn, &masters, &staff)
    }

    /// Reads the names of the given masters and staff members.
    pub fn read(conn: &rusqlite::Connection, masters: &[MasterId], staff: &[StaffId]) -> rusqlite::Result<Self> {
        let masters = crate::masters::contacts(conn, masters)?.into_iter().map(|(id, (name, _))| (id, name)).collect();
        Ok(Self { masters, staff: crate::staff::roles_and_names(conn, staff)? })
    }

    /// A master as `Name (#id)`.
    pub fn master(&self, id: MasterId) -> String {
        self.masters.get(&id).map_or_else(|| format!("#{id}"), |name| format!("{name} (#{id})"))
    }

    /// A staff member's name.
    pub fn staff_name(&self, id: StaffId) -> String {
        self.staff.get(&id).map_or_else(|| format!("#{id}"), |(_, name)| name.clone())
    }

    /// A staff member named by role: `Логист: Иванов`.
    pub fn staff_actor(&self, tr: Tr, id: StaffId) -> String {
        match self.staff.get(&id) {
            Some((role, name)) => format!("{}: {name}", role_word(tr, *role)),
            None => format!("{}: #{id}", tr.t("actor.staff")),
        }
    }

    /// A master named as the actor: `Мастер: Петров (#3)`.
    pub fn master_actor(&self, tr: Tr, id: MasterId) -> String {
        format!("{}: {}", tr.t("actor.master"), self.master(id))
    }
}

/// Keys of an event's particulars that hold a master's id.
const MASTER_KEYS: [&str; 6] = ["master_id", "preferred_master_id", "unassigned_master_id", "referrer_id", "referred_master_id", "from_master_id"];

/// Collects the master and staff ids an event's particulars mention.
fn people_in(detail: &Value, masters: &mut Vec<MasterId>, staff: &mut Vec<StaffId>) {
    match detail {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value.as_i64()) {
                    (k, Some(id)) if MASTER_KEYS.contains(&k) => masters.push(id),
                    ("staff_id", Some(id)) => staff.push(id),
                    _ => people_in(value, masters, staff),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| people_in(v, masters, staff)),
        _ => {}
    }
}

/// A skip code of the candidate filter (`not_on_shift`, `at_limit_2/5`, `on_break_until_…Z`) in words.
pub fn skip_text(tr: Tr, code: &str, tz: &str) -> String {
    if let Some(until) = code.strip_prefix("on_break_until_") {
        let until = DateTime::parse_from_rfc3339(until).map(|t| local_time(t.with_timezone(&Utc), tz, "%H:%M")).unwrap_or_else(|_| until.into());
        return tr.t("card.skip.on_break_until").replace("{until}", &until);
    }
    if let Some(load) = code.strip_prefix("at_limit_") {
        return tr.t("card.skip.at_limit").replace("{load}", load);
    }
    known(tr, &format!("card.skip.{code}")).unwrap_or_else(|| tr.t("card.skip.other"))
}

/// An event to tell: its source, kind and particulars.
pub struct Told<'a> {
    pub source: &'a str,
    pub kind: &'a str,
    pub detail: &'a Value,
}

impl Told<'_> {
    /// Who did it: the staff member or master by role and name, the distribution or the system.
    pub fn actor(&self, tr: Tr, names: &Names) -> String {
        let id = |key: &str| self.detail.get(key).and_then(Value::as_i64);
        match self.source {
            "staff" => id("staff_id").map_or_else(|| tr.t("actor.staff"), |s| names.staff_actor(tr, s)),
            "master" => id("master_id").map_or_else(|| tr.t("actor.master"), |m| names.master_actor(tr, m)),
            "engine" => tr.t("actor.auto"),
            _ => tr.t("actor.system"),
        }
    }

    /// What happened, as a sentence: `event.<kind>` with its `{placeholders}` filled from the particulars,
    /// followed by `event.<kind>.<key>` for each particular that is set (a flag, a count, a list).
    pub fn sentence(&self, tr: Tr, names: &Names, tz: &str) -> String {
        let Some(main) = known(tr, &format!("event.{}", self.kind)) else {
            return tr.t("event.unknown");
        };
        let mut text = self.fill(tr, names, tz, main);
        if let Value::Object(map) = self.detail {
            for key in map.iter().filter(|(_, v)| is_set(v)).map(|(k, _)| k) {
                if let Some(extra) = known(tr, &format!("event.{}.{key}", self.kind)) {
                    text.push_str(&self.fill(tr, names, tz, extra));
                }
            }
        }
        text
    }

    /// Replaces each `{key}` of `text` by the particular `key` in words.
    fn fill(&self, tr: Tr, names: &Names, tz: &str, mut text: String) -> String {
        while let Some(start) = text.find('{') {
            let Some(len) = text[start..].find('}') else { break };
            let key = text[start + 1..start + len].to_string();
            let value = self.detail.get(&key).map_or_else(|| tr.t("web.none"), |v| self.value(tr, names, tz, &key, v));
            text.replace_range(start..=start + len, &value);
        }
        text
    }

    /// One particular in words: people by name, money and times in the one format, codes from the catalogs.
    fn value(&self, tr: Tr, names: &Names, tz: &str, key: &str, value: &Value) -> String {
        let commission = self.kind.starts_with("commission_");
        match (key, value) {
            (k, Value::Number(n)) if MASTER_KEYS.contains(&k) => n.as_i64().map_or_else(|| n.to_string(), |id| names.master(id)),
            ("staff_id", Value::Number(n)) => n.as_i64().map_or_else(|| n.to_string(), |id| names.staff_name(id)),
            (k, Value::Number(n)) if k.ends_with("_kop") => tr.money(n.as_i64().unwrap_or_default()),
            ("until" | "target", Value::String(at)) => {
                DateTime::parse_from_rfc3339(at).map(|t| tr.date_time(t.with_timezone(&Utc), tz)).unwrap_or_else(|_| at.clone())
            }
            ("to" | "from", Value::String(code)) if commission => tr.of("commission_status.", code),
            ("to" | "from", Value::String(code)) => known(tr, &format!("status.{code}")).unwrap_or_else(|| code.clone()),
            ("reason", Value::String(code)) => known(tr, &format!("board.reason.{code}")).unwrap_or_else(|| code.clone()),
            ("how", Value::String(code)) => tr.of("event.how.", code),
            ("reasons", Value::Array(codes)) => codes.iter().filter_map(Value::as_str).map(|c| skip_text(tr, c, tz)).collect::<Vec<_>>().join("; "),
            ("fields", Value::Array(fields)) => fields.iter().filter_map(Value::as_str).map(|f| tr.of("edit.field.", f)).collect::<Vec<_>>().join(", "),
            ("top", Value::Array(ranked)) => {
                ranked.iter().filter_map(|r| r.get("master_id").and_then(Value::as_i64)).map(|id| names.master(id)).collect::<Vec<_>>().join(", ")
            }
            ("idle_seconds" | "grace_seconds", Value::Number(n)) => (n.as_i64().unwrap_or_default() / 60).to_string(),
            (_, Value::Bool(yes)) => tr.t(if *yes { "web.yes" } else { "web.no" }),
            (_, Value::String(text)) => text.clone(),
            (_, Value::Null) => tr.t("web.none"),
            (_, other) => other.to_string(),
        }
    }
}

/// Whether a particular is worth telling: a true flag, a non-zero number, a non-empty text or list.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Bool(yes) => *yes,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Null => false,
    }
}

/// Every event kind the code writes (`events::record` callers); each has a sentence in both catalogs.
pub const EVENT_KINDS: [&str; 38] = [
    "activated", "assigned_directly", "candidates_found", "canceled", "closed", "commission_approved", "commission_block_lifted",
    "commission_created", "commission_overdue", "commission_receipt_added", "commission_receipt_removed", "commission_rejected",
    "commission_reported", "deferred_wake", "escalation_admin", "escalation_logist", "escalation_reset", "guarantee_refusal",
    "no_candidates", "note_added", "offer_accepted", "offer_declined", "offer_expired", "offer_sent", "order_edited",
    "preferred_master_first", "preferred_master_skipped", "push_subscribed", "push_subscription_gone", "push_unsubscribed",
    "referral_code_created", "referral_reward_accrued", "requisites_qr_removed", "requisites_qr_set", "returned_to_search",
    "city_created", "city_deactivated", "city_reactivated",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_event_kind_is_a_sentence_in_both_languages() {
        for lang in [Lang::Ru, Lang::En] {
            for kind in EVENT_KINDS {
                assert!(catalog(lang).contains_key(&format!("event.{kind}")), "{lang:?} event.{kind}");
            }
        }
    }

    #[test]
    fn money_has_one_form_per_language() {
        assert_eq!(Tr(Lang::Ru).money(450_000), "4\u{a0}500\u{a0}₽");
        assert_eq!(Tr(Lang::Ru).money(450_050), "4\u{a0}500,50\u{a0}₽");
        assert_eq!(Tr(Lang::En).money(450_050), "4\u{a0}500.50\u{a0}₽");
        assert_eq!(Tr(Lang::En).money(-1_000_000), "-10\u{a0}000\u{a0}₽");
    }

    #[test]
    fn an_offer_is_told_with_the_master_the_round_and_the_deadline() {
        let names = Names { masters: HashMap::from([(7, "Пётр Петров".to_string())]), staff: HashMap::from([(2, (StaffRole::Logist, "Иванов".into()))]) };
        let detail = json!({"master_id": 7, "offer_id": 3, "round": 2, "staff_id": 2, "forced": true, "until": "2026-03-10T11:05:00Z"});
        let told = Told { source: "staff", kind: "offer_sent", detail: &detail };
        let ru = told.sentence(Tr(Lang::Ru), &names, "Europe/Moscow");
        assert!(ru.contains("Пётр Петров (#7)") && ru.contains("10.03.2026 14:05") && ru.contains('2'), "{ru}");
        assert!(!ru.contains('{') && !ru.contains("offer_sent"), "{ru}");
        assert_eq!(told.actor(Tr(Lang::Ru), &names), "Логист: Иванов");
        assert_eq!(told.actor(Tr(Lang::En), &names), "Dispatcher: Иванов");
        let en = told.sentence(Tr(Lang::En), &names, "Europe/Moscow");
        assert!(en.contains("10 Mar 2026 14:05"), "{en}");
    }

    #[test]
    fn a_commission_tells_its_amount_and_status_in_words() {
        let detail = json!({"commission_id": 4, "amount_kop": 45_050, "rate_percent": 10, "to": "WAIT_PAY"});
        let told = Told { source: "system", kind: "commission_created", detail: &detail };
        let ru = told.sentence(Tr(Lang::Ru), &Names::default(), "Europe/Moscow");
        assert!(ru.contains("450,50\u{a0}₽") && !ru.contains("WAIT_PAY"), "{ru}");
    }
}
