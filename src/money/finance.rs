//! The staff's side of commissions (product.md §4.4, decisions §B.6, §B.17, §B.20): the list of one status
//! in the caller's cities, filtered and searched in SQL, counted per status under the same filters and
//! grouped by the period it was created in; bulk approval for global admins; and a master's money for his
//! card. City admins see their cities only; logists have no finance access.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::commissions::{self, COLUMNS, Commission, CommissionStatus, FROM, Owed};
use crate::db::{Db, ms};
use crate::domain::{CityId, MasterId, OrderId, StaffRole};
use crate::error::{Error, Result, invalid};
use crate::staff::Staff;

const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

/// The longest list one segment shows (product.md §4.4: the newest 200).
pub const LIST_LIMIT: i64 = 200;

/// When a commission was created, on the operator's clock (config `timezone`, as the exports' day bounds,
/// decisions §B.21). The groups of the list, and the list's period filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Since midnight.
    Today,
    /// The day before.
    Yesterday,
    /// The last 7 calendar days, today included.
    Week,
    /// The last 30 calendar days, today included.
    Month,
    /// Before those 30 days.
    Older,
}

impl Period {
    /// Every period, newest first: the groups' order.
    pub const ALL: [Self; 5] = [Self::Today, Self::Yesterday, Self::Week, Self::Month, Self::Older];

    /// Its name in links and catalogs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Today => "today",
            Self::Yesterday => "yesterday",
            Self::Week => "week",
            Self::Month => "month",
            Self::Older => "older",
        }
    }

    /// Parses its name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Its UTC bounds `[from, to)` at `now` on the clock of `tz`; `None` is open.
    pub fn bounds(self, now: DateTime<Utc>, tz: Tz) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let today = now.with_timezone(&tz).date_naive();
        let midnight = |days_back: i64| crate::queue::local_midnight(tz, today - Duration::days(days_back));
        match self {
            Self::Today => (Some(midnight(0)), None),
            Self::Yesterday => (Some(midnight(1)), Some(midnight(0))),
            Self::Week => (Some(midnight(6)), None),
            Self::Month => (Some(midnight(29)), None),
            Self::Older => (None, Some(midnight(29))),
        }
    }

    /// The group of something created `at`: the first period that holds it.
    pub fn of(at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Self {
        let holds = |p: &Self| {
            let (from, to) = p.bounds(now, tz);
            from.is_none_or(|f| at >= f) && to.is_none_or(|t| at < t)
        };
        Self::ALL.into_iter().find(holds).unwrap_or(Self::Older)
    }
}

/// What the staff list is narrowed to; every field optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StaffFilter {
    /// The segment shown (default REPORTED: what admins act on, decisions §B.17).
    pub status: Option<CommissionStatus>,
    /// One of the caller's cities.
    pub city_id: Option<CityId>,
    /// One master.
    pub master_id: Option<MasterId>,
    /// Created within this period.
    pub period: Option<Period>,
    /// A commission id or an order id, as typed (`42`, `#42`).
    pub q: Option<String>,
}

/// The id searched for: digits with an optional `#`; empty is no search.
fn searched_id(q: Option<&str>) -> Result<Option<i64>> {
    let q = q.unwrap_or_default().trim().trim_start_matches('#').trim();
    if q.is_empty() {
        return Ok(None);
    }
    q.parse::<i64>().ok().filter(|id| *id > 0).map(Some).ok_or_else(|| invalid("q", "id"))
}

/// How many commissions one status has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct SegmentCount {
    /// The status.
    pub status: CommissionStatus,
    /// How many, under the list's filters.
    pub count: i64,
}

/// One period's run of the list's items (they are newest first, so each group is contiguous).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct PeriodGroup {
    /// The period.
    pub period: Period,
    /// How many consecutive items belong to it.
    pub count: usize,
}

/// One segment of the staff list with the count of every segment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffList {
    /// The segment shown.
    pub status: CommissionStatus,
    /// How many commissions each segment has in the caller's cities under the filters.
    pub counts: Vec<SegmentCount>,
    /// The newest 200 of the segment, newest created first.
    pub items: Vec<Commission>,
    /// The items by the period they were created in, newest first; empty periods left out.
    pub groups: Vec<PeriodGroup>,
}

/// The `WHERE` of the list and its counts: the caller's cities, then the filters (`?1` … `?7`).
const WHERE: &str = "WHERE (?1 OR o.city_id IN (SELECT value FROM json_each(?2)))
      AND (?3 IS NULL OR o.city_id = ?3)
      AND (?4 IS NULL OR c.master_id = ?4)
      AND (?5 IS NULL OR c.created_at >= ?5)
      AND (?6 IS NULL OR c.created_at < ?6)
      AND (?7 IS NULL OR c.id = ?7 OR c.order_id = ?7)";

/// The city scope of a staff member: every city for a global admin, else his own as JSON for `json_each`.
fn scope(staff: &Staff) -> (bool, String) {
    (staff.role == StaffRole::GlobalAdmin, serde_json::to_string(&staff.cities).unwrap_or_else(|_| "[]".into()))
}

/// The staff's commissions of one status in their cities under `filter` (product.md §4.4), with the count
/// of every status under the same filters. A city outside the caller's is "not found".
pub fn list(conn: &Connection, now: DateTime<Utc>, tz: Tz, staff: &Staff, filter: &StaffFilter) -> Result<StaffList> {
    staff.require(&ADMINS)?;
    if filter.city_id.is_some_and(|city| !staff.sees(city)) {
        return Err(Error::NotFound { what: "city" });
    }
    let searched = searched_id(filter.q.as_deref())?;
    let (from, to) = filter.period.map_or((None, None), |p| p.bounds(now, tz));
    let (all, cities) = scope(staff);
    let status = filter.status.unwrap_or(CommissionStatus::Reported);
    let args = params![all, cities, filter.city_id, filter.master_id, from.map(ms), to.map(ms), searched];
    let counted: Vec<(String, i64)> = conn
        .prepare_cached(&format!("SELECT c.status, COUNT(*) {FROM} {WHERE} GROUP BY c.status"))?
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let counts = CommissionStatus::ALL
        .iter()
        .map(|s| SegmentCount { status: *s, count: counted.iter().find(|(name, _)| name == s.as_str()).map_or(0, |(_, n)| *n) })
        .collect();
    let sql = format!("SELECT {COLUMNS} {FROM} {WHERE} AND c.status = ?8 ORDER BY c.created_at DESC, c.id DESC LIMIT ?9");
    let items: Vec<Commission> = conn
        .prepare_cached(&sql)?
        .query_map(params![all, cities, filter.city_id, filter.master_id, from.map(ms), to.map(ms), searched, status.as_str(), LIST_LIMIT], commissions::row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut groups: Vec<PeriodGroup> = Vec::new();
    for item in &items {
        let period = Period::of(item.created_at, now, tz);
        match groups.last_mut() {
            Some(group) if group.period == period => group.count += 1,
            _ => groups.push(PeriodGroup { period, count: 1 }),
        }
    }
    Ok(StaffList { status, counts, items, groups })
}

/// A city or master the list may be filtered by.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Choice {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// The cities and masters that have commissions in the caller's cities, by name: the filters' choices.
pub fn choices(conn: &Connection, staff: &Staff) -> Result<(Vec<Choice>, Vec<Choice>)> {
    staff.require(&ADMINS)?;
    let (all, cities) = scope(staff);
    let pick = |sql: &str| -> Result<Vec<Choice>> {
        Ok(conn.prepare_cached(sql)?.query_map(params![all, cities], |r| Ok(Choice { id: r.get(0)?, name: r.get(1)? }))?.collect::<rusqlite::Result<_>>()?)
    };
    let in_scope = "(?1 OR o.city_id IN (SELECT value FROM json_each(?2)))";
    let city_choices = pick(&format!(
        "SELECT DISTINCT ci.id, ci.name FROM commissions c JOIN orders o ON o.id = c.order_id JOIN cities ci ON ci.id = o.city_id
         WHERE {in_scope} ORDER BY ci.name, ci.id"
    ))?;
    let master_choices = pick(&format!(
        "SELECT DISTINCT m.id, m.full_name FROM commissions c JOIN orders o ON o.id = c.order_id JOIN masters m ON m.id = c.master_id
         WHERE {in_scope} ORDER BY m.full_name, m.id LIMIT 500"
    ))?;
    Ok((city_choices, master_choices))
}

/// Bulk approval (decisions §B.6): the period in calendar days and the statuses to approve.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkApproval {
    /// Created within the last 1, 3 or 7 calendar days, today included.
    pub days: i64,
    /// `REPORTED` and/or `WAIT_PAY`; default `["REPORTED"]`.
    #[serde(default = "reported_only")]
    #[schema(inline)]
    pub statuses: Vec<CommissionStatus>,
}

fn reported_only() -> Vec<CommissionStatus> {
    vec![CommissionStatus::Reported]
}

/// The periods bulk approval offers, in days.
pub const BULK_DAYS: [i64; 3] = [1, 3, 7];

/// What bulk approval would approve, or did.
#[derive(Debug)]
pub struct Bulk {
    /// Approved, by commission.
    pub approved: Vec<Commission>,
    /// Refused: the commission, its order and why.
    pub failed: Vec<(i64, OrderId, Error)>,
}

impl BulkApproval {
    fn check(&self) -> Result<()> {
        if !BULK_DAYS.contains(&self.days) {
            return Err(invalid("days", "bulk_days"));
        }
        let allowed = [CommissionStatus::Reported, CommissionStatus::WaitPay];
        if self.statuses.is_empty() || self.statuses.iter().any(|s| !allowed.contains(s)) {
            return Err(invalid("statuses", "bulk_statuses"));
        }
        Ok(())
    }
}

/// The commissions bulk approval would take, oldest first: the chosen statuses, created since local midnight
/// `days − 1` days ago. Global admins only.
pub fn bulk_candidates(conn: &Connection, now: DateTime<Utc>, tz: Tz, staff: &Staff, request: &BulkApproval) -> Result<Vec<Commission>> {
    staff.require(&[StaffRole::GlobalAdmin])?;
    request.check()?;
    let today = now.with_timezone(&tz).date_naive();
    let since = crate::queue::local_midnight(tz, today - Duration::days(request.days - 1));
    let statuses = serde_json::to_string(&request.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>()).unwrap_or_default();
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.status IN (SELECT value FROM json_each(?1)) AND c.created_at >= ?2 ORDER BY c.created_at, c.id");
    Ok(conn.prepare_cached(&sql)?.query_map(params![statuses, ms(since)], commissions::row)?.collect::<rusqlite::Result<_>>()?)
}

/// Approves every candidate with the single-approve rule (paid = the commission; order CLOSED, referral
/// rewards, D-21 lift), each in its own transaction so one failure keeps the others (decisions §B.6); the
/// run itself is written to the admin audit log with its counts.
pub fn bulk_approve(db: &Db, now: DateTime<Utc>, tz: Tz, staff: &Staff, request: &BulkApproval) -> Result<Bulk> {
    let candidates = db.read(|conn| bulk_candidates(conn, now, tz, staff, request))?;
    let mut bulk = Bulk { approved: Vec::new(), failed: Vec::new() };
    for c in candidates {
        match db.write(|tx| commissions::approve(tx, now, staff, c.id, None)) {
            Ok(approved) => bulk.approved.push(approved),
            Err(error) => bulk.failed.push((c.id, c.order_id, error)),
        }
    }
    let failed: Vec<i64> = bulk.failed.iter().map(|(id, _, _)| *id).collect();
    let detail = json!({"days": request.days, "statuses": request.statuses, "approved": bulk.approved.len(), "failed": failed});
    db.write(|tx| crate::moderation::audit(tx, now, staff, None, "bulk_approve_commissions", &detail))?;
    Ok(bulk)
}

/// A master's money for his staff card: what he owes now, his overdue commissions and the latest 20.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MasterMoney {
    /// Unpaid now.
    pub owed: Owed,
    /// His OVERDUE commissions, oldest deadline first.
    pub overdue: Vec<Commission>,
    /// His latest 20 commissions, newest first.
    pub history: Vec<Commission>,
}

/// How many commissions the master card lists.
pub const MASTER_HISTORY: i64 = 20;

/// The money of `master` in the caller's cities (admins only; the card itself checks the master's scope).
pub fn of_master(conn: &Connection, staff: &Staff, master: MasterId) -> Result<MasterMoney> {
    staff.require(&ADMINS)?;
    let (all, cities) = scope(staff);
    let in_scope = "c.master_id = ?1 AND (?2 OR o.city_id IN (SELECT value FROM json_each(?3)))";
    let pick = |sql: String, limit: i64| -> Result<Vec<Commission>> {
        Ok(conn.prepare_cached(&sql)?.query_map(params![master, all, cities, limit], commissions::row)?.collect::<rusqlite::Result<_>>()?)
    };
    let overdue = pick(format!("SELECT {COLUMNS} {FROM} WHERE {in_scope} AND c.status = 'OVERDUE' ORDER BY c.deadline_at, c.id LIMIT ?4"), LIST_LIMIT)?;
    let history = pick(format!("SELECT {COLUMNS} {FROM} WHERE {in_scope} ORDER BY c.created_at DESC, c.id DESC LIMIT ?4"), MASTER_HISTORY)?;
    let (count, total, next): (i64, i64, Option<i64>) = conn.query_row(
        &format!("SELECT COUNT(*), COALESCE(SUM(c.amount_kop), 0), MIN(c.deadline_at) {FROM} WHERE {in_scope} AND c.status <> 'APPROVED'"),
        params![master, all, cities],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let owed = Owed { count, total_kop: total, next_deadline_at: next.map(crate::db::at), overdue: !overdue.is_empty() };
    Ok(MasterMoney { owed, overdue, history })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_follow_the_operators_calendar() {
        let tz = chrono_tz::Europe::Moscow;
        // 10 March 2026, 01:00 in Moscow.
        let now = Utc.with_ymd_and_hms(2026, 3, 9, 22, 0, 0).unwrap();
        let ago = |hours: i64| now - Duration::hours(hours);
        assert_eq!(Period::of(ago(0), now, tz), Period::Today);
        assert_eq!(Period::of(ago(2), now, tz), Period::Yesterday, "23:00 the day before, in Moscow");
        assert_eq!(Period::of(ago(24 * 4), now, tz), Period::Week);
        assert_eq!(Period::of(ago(24 * 15), now, tz), Period::Month);
        assert_eq!(Period::of(ago(24 * 60), now, tz), Period::Older);
    }

    #[test]
    fn search_takes_an_id_with_or_without_a_hash() {
        assert_eq!(searched_id(Some(" #42 ")).unwrap(), Some(42));
        assert_eq!(searched_id(Some("")).unwrap(), None);
        assert_eq!(searched_id(None).unwrap(), None);
        assert!(searched_id(Some("abc")).is_err() && searched_id(Some("-3")).is_err());
    }
}
