//! Candidate selection: the one filter (F1–F11 of distribution.md §6.1) with its diagnostic reasons, and the
//! ranking of §6.2. The tick, the staff "auto" button, the manual candidate list, direct assignment and the
//! preferred-master diagnostics all use these functions.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::db::{at, ms};
use crate::domain::{Category, CityId, DistrictId, MasterId, ShiftStatus};
use crate::settings::Settings;

/// What the filters need to know of a master.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterSnapshot {
    /// Id.
    pub id: MasterId,
    /// Home city.
    pub city_id: Option<CityId>,
    /// Not deactivated (blocking and deletion also clear it).
    pub is_active: bool,
    /// Blocked by staff or by an overdue commission.
    pub is_blocked: bool,
    /// Soft-deleted.
    pub is_deleted: bool,
    /// Passed moderation.
    pub verified: bool,
    /// Shift state.
    pub shift: ShiftStatus,
    /// End of the current break.
    pub break_until: Option<DateTime<Utc>>,
    /// Has a car (ranking key 1).
    pub has_vehicle: bool,
    /// Rating 0..5 (ranking key 3).
    pub rating: f64,
    /// Active orders (ASSIGNED, EN_ROUTE, WORKING, PAYMENT).
    pub active_orders: i64,
    /// His active-order limit (override, else the setting; decisions D-6).
    pub limit: i64,
    /// Mean total of his PAYMENT/CLOSED orders created in the last 7 days, kopecks (ranking key 2).
    pub avg_check_kop: i64,
    /// Districts he serves, sorted.
    pub districts: Vec<DistrictId>,
    /// Categories he works in.
    pub skills: Vec<Category>,
}

/// Why a master cannot take an order (distribution.md §6.4, the complete set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Another city.
    WrongCity,
    /// Blocked.
    Blocked,
    /// Not active.
    Inactive,
    /// Soft-deleted.
    Deleted,
    /// Not verified.
    NotVerified,
    /// Off shift.
    NotOnShift,
    /// On a break until then.
    OnBreakUntil(DateTime<Utc>),
    /// Lacks the order's category.
    MissingSkill,
    /// Does not serve the order's district.
    NotInDistrict,
    /// At his active-order limit.
    AtLimit { active: i64, limit: i64 },
    /// Already had an offer for this order in this cycle, declined it or was taken off it.
    AlreadyOffered,
}

impl Skip {
    /// The diagnostic code, e.g. `at_limit_2/2` or `on_break_until_2026-03-10T12:00:00Z`.
    pub fn code(&self) -> String {
        match self {
            Skip::WrongCity => "wrong_city".into(),
            Skip::Blocked => "blocked".into(),
            Skip::Inactive => "inactive".into(),
            Skip::Deleted => "deleted".into(),
            Skip::NotVerified => "not_verified".into(),
            Skip::NotOnShift => "not_on_shift".into(),
            Skip::OnBreakUntil(until) => format!("on_break_until_{}", until.format("%Y-%m-%dT%H:%M:%SZ")),
            Skip::MissingSkill => "missing_skill".into(),
            Skip::NotInDistrict => "not_in_district".into(),
            Skip::AtLimit { active, limit } => format!("at_limit_{active}/{limit}"),
            Skip::AlreadyOffered => "already_offered".into(),
        }
    }

    /// Reasons staff may override with "assign anyway" (decisions D-16): availability, not fitness.
    pub fn is_availability(&self) -> bool {
        matches!(self, Skip::NotOnShift | Skip::OnBreakUntil(_) | Skip::AtLimit { .. })
    }
}

/// The order's side of the match.
#[derive(Debug, Clone)]
pub struct Need {
    /// The order's city.
    pub city_id: CityId,
    /// Required district; `None` searches the whole city.
    pub district_id: Option<DistrictId>,
    /// Required skill.
    pub category: Category,
    /// Masters the automatic engine must not offer it to (F11, decisions D-5, D-17).
    pub excluded: HashSet<MasterId>,
}

/// What staff pick masters against (decisions D-16): the order's district, widened to the whole city when the
/// citywide fallback is on and nobody of the district could take it even with "assign anyway" — the widening
/// the tick applies, so the candidate list never says "nobody" while the tick offers someone.
pub fn staff_need(pool: &[MasterSnapshot], need: Need, now: DateTime<Utc>, citywide_fallback: bool) -> Need {
    let fits = |m: &MasterSnapshot| diagnose(m, &need, now).iter().all(|r| r.is_availability() || *r == Skip::AlreadyOffered);
    if need.district_id.is_none() || !citywide_fallback || pool.iter().any(fits) {
        need
    } else {
        Need { district_id: None, ..need }
    }
}

/// The [`staff_need`] of one order, from its city's pool.
pub fn staff_need_of(conn: &Connection, order: &crate::orders::Order, now: DateTime<Utc>, settings: &Settings) -> rusqlite::Result<Need> {
    let pool = city_pool(conn, order.city_id, now, settings)?;
    let need = Need { city_id: order.city_id, district_id: order.district_id, category: order.category, excluded: Default::default() };
    Ok(staff_need(&pool, need, now, settings.citywide_fallback))
}

/// Every reason `master` cannot take the order now, in the order of §6.4; empty = eligible.
pub fn diagnose(master: &MasterSnapshot, need: &Need, now: DateTime<Utc>) -> Vec<Skip> {
    let mut reasons = Vec::new();
    if master.city_id != Some(need.city_id) {
        reasons.push(Skip::WrongCity);
    }
    if master.is_blocked {
        reasons.push(Skip::Blocked);
    }
    if !master.is_active && !master.is_blocked && !master.is_deleted {
        reasons.push(Skip::Inactive);
    }
    if master.is_deleted {
        reasons.push(Skip::Deleted);
    }
    if !master.verified {
        reasons.push(Skip::NotVerified);
    }
    if master.shift != ShiftStatus::On {
        reasons.push(Skip::NotOnShift);
    }
    if let Some(until) = master.break_until.filter(|until| *until > now) {
        reasons.push(Skip::OnBreakUntil(until));
    }
    if !master.skills.contains(&need.category) {
        reasons.push(Skip::MissingSkill);
    }
    if let Some(district) = need.district_id
        && master.districts.binary_search(&district).is_err()
    {
        reasons.push(Skip::NotInDistrict);
    }
    if master.active_orders >= master.limit {
        reasons.push(Skip::AtLimit { active: master.active_orders, limit: master.limit });
    }
    if need.excluded.contains(&master.id) {
        reasons.push(Skip::AlreadyOffered);
    }
    reasons
}

/// A ranked candidate with the keys he was ranked by (logged with every decision).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ranked {
    /// Master id.
    pub master_id: MasterId,
    /// Has a car.
    pub car: bool,
    /// Weekly average check, roubles with kopecks.
    pub avg_week: f64,
    /// Rating, one decimal.
    pub rating: f64,
    /// Random tie-break.
    pub random: u32,
}

/// Ranks eligible masters: car, weekly average check, rating (one decimal), then a random tie-break drawn
/// from `rng` (distribution.md §6.2). The pre-sort by id makes a seeded draw reproducible.
pub fn rank<'a>(eligible: impl IntoIterator<Item = &'a MasterSnapshot>, rng: &mut impl rand::Rng) -> Vec<Ranked> {
    let mut pool: Vec<&MasterSnapshot> = eligible.into_iter().collect();
    pool.sort_by_key(|m| m.id);
    let mut keyed: Vec<((bool, i64, i64, u32), Ranked)> = pool
        .into_iter()
        .map(|m| {
            let rating_tenths = (m.rating * 10.0).round() as i64;
            let random: u32 = rng.random();
            let entry = Ranked {
                master_id: m.id,
                car: m.has_vehicle,
                avg_week: m.avg_check_kop as f64 / 100.0,
                rating: rating_tenths as f64 / 10.0,
                random,
            };
            ((m.has_vehicle, m.avg_check_kop, rating_tenths, random), entry)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| b.cmp(a));
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// Two SQL columns over a master `m`: his active orders (ASSIGNED, EN_ROUTE, WORKING, PAYMENT) and his
/// limit — the override when set, else the global limit, which the query binds as `?2` (decisions D-6).
macro_rules! load_and_limit_sql {
    () => {
        "(SELECT COUNT(*) FROM orders o
           WHERE o.assigned_master_id = m.id AND o.status IN ('ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT')),
         CASE WHEN m.max_active_orders_override > 0 THEN m.max_active_orders_override ELSE ?2 END"
    };
}
pub(crate) use load_and_limit_sql;

/// The columns and aggregates of a snapshot; `?1` = average-check window start, `?2` = global limit.
const SNAPSHOT_SELECT: &str = concat!(
    "SELECT m.id, m.city_id, m.is_active, m.is_blocked, m.is_deleted, m.verified, m.shift_status, m.break_until,
           m.has_vehicle, m.rating, ",
    load_and_limit_sql!(),
    ", (SELECT CAST(ROUND(COALESCE(AVG(o.total_sum_kop), 0)) AS INTEGER) FROM orders o
             WHERE o.assigned_master_id = m.id AND o.status IN ('PAYMENT', 'CLOSED') AND o.created_at >= ?1),
           (SELECT group_concat(district_id) FROM master_districts d WHERE d.master_id = m.id),
           (SELECT group_concat(category) FROM master_skills s WHERE s.master_id = m.id)
    FROM masters m"
);

fn snapshot_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MasterSnapshot> {
    let districts: Option<String> = row.get(13)?;
    let skills: Option<String> = row.get(14)?;
    let mut districts: Vec<DistrictId> =
        districts.unwrap_or_default().split(',').filter_map(|d| d.parse().ok()).collect();
    districts.sort_unstable();
    Ok(MasterSnapshot {
        id: row.get(0)?,
        city_id: row.get(1)?,
        is_active: row.get(2)?,
        is_blocked: row.get(3)?,
        is_deleted: row.get(4)?,
        verified: row.get(5)?,
        shift: row.get(6)?,
        break_until: row.get::<_, Option<i64>>(7)?.map(at),
        has_vehicle: row.get(8)?,
        rating: row.get(9)?,
        active_orders: row.get(10)?,
        limit: row.get(11)?,
        avg_check_kop: row.get(12)?,
        districts,
        skills: skills.unwrap_or_default().split(',').filter_map(Category::parse).collect(),
    })
}

fn week_ago(now: DateTime<Utc>) -> i64 {
    ms(now - Duration::days(7))
}

/// The masters of a city who could ever be offered work: verified, active, not blocked, not deleted.
/// Shift, break, load, skill and district are left to [`diagnose`].
pub fn city_pool(conn: &Connection, city: CityId, now: DateTime<Utc>, settings: &Settings) -> rusqlite::Result<Vec<MasterSnapshot>> {
    let sql = format!(
        "{SNAPSHOT_SELECT} WHERE m.city_id = ?3 AND m.verified = 1 AND m.is_active = 1 AND m.is_blocked = 0
           AND m.is_deleted = 0 ORDER BY m.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![week_ago(now), settings.max_active_orders, city], snapshot_row)?;
    rows.collect()
}

/// One master, whatever his flags; `None` when he does not exist.
pub fn master(conn: &Connection, id: MasterId, now: DateTime<Utc>, settings: &Settings) -> rusqlite::Result<Option<MasterSnapshot>> {
    let sql = format!("{SNAPSHOT_SELECT} WHERE m.id = ?3");
    conn.prepare_cached(&sql)?.query_row(params![week_ago(now), settings.max_active_orders, id], snapshot_row).optional()
}

/// Masters the automatic engine must skip for this order: anyone offered it in the current cycle, anyone
/// who ever declined it, anyone taken off it by "return to search" (decisions D-5, D-17).
pub fn excluded(conn: &Connection, order: crate::domain::OrderId, cycle: i64) -> rusqlite::Result<HashSet<MasterId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT master_id FROM offers WHERE order_id = ?1 AND (dist_cycle = ?2 OR state = 'DECLINED')
         UNION SELECT master_id FROM order_unassignments WHERE order_id = ?1",
    )?;
    let ids = stmt.query_map(params![order, cycle], |r| r.get(0))?;
    ids.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn master(id: MasterId) -> MasterSnapshot {
        MasterSnapshot {
            id,
            city_id: Some(1),
            is_active: true,
            is_blocked: false,
            is_deleted: false,
            verified: true,
            shift: ShiftStatus::On,
            break_until: None,
            has_vehicle: false,
            rating: 5.0,
            active_orders: 0,
            limit: 5,
            avg_check_kop: 0,
            districts: vec![10],
            skills: vec![Category::Electrics],
        }
    }

    fn need() -> Need {
        Need { city_id: 1, district_id: Some(10), category: Category::Electrics, excluded: HashSet::new() }
    }

    #[test]
    fn an_available_master_passes_every_filter() {
        assert!(diagnose(&master(1), &need(), Utc::now()).is_empty());
    }

    #[test]
    fn every_reason_is_reported_with_its_code() {
        let now = Utc::now();
        let mut m = master(7);
        m.city_id = Some(2);
        m.is_blocked = true;
        m.is_active = false;
        m.verified = false;
        m.shift = ShiftStatus::Break;
        m.break_until = Some(now + Duration::minutes(30));
        m.skills = vec![Category::Plumbing];
        m.districts = vec![11];
        m.active_orders = 2;
        m.limit = 2;
        let mut n = need();
        n.excluded.insert(7);
        let codes: Vec<String> = diagnose(&m, &n, now).iter().map(Skip::code).collect();
        assert_eq!(codes[..5], ["wrong_city", "blocked", "not_verified", "not_on_shift", codes[4].as_str()]);
        assert!(codes[4].starts_with("on_break_until_"));
        assert_eq!(codes[5..], ["missing_skill", "not_in_district", "at_limit_2/2", "already_offered"]);
    }

    #[test]
    fn ranking_is_car_then_average_check_then_rating() {
        let mut car = master(1);
        car.has_vehicle = true;
        car.rating = 3.0;
        let mut rich = master(2);
        rich.avg_check_kop = 500_000;
        let mut rated = master(3);
        rated.rating = 4.96;
        let plain = master(4);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let order: Vec<MasterId> = rank([&plain, &rated, &rich, &car], &mut rng).iter().map(|r| r.master_id).collect();
        assert_eq!(order[..2], [1, 2]);
        // 4.96 rounds to 5.0, a tie with the plain master: the random key decides between 3 and 4.
        assert!(order[2..].contains(&3) && order[2..].contains(&4));
    }

    #[test]
    fn ties_are_broken_at_random_but_reproducibly_for_a_seed() {
        let pool: Vec<MasterSnapshot> = (1..=6).map(master).collect();
        let draw = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            rank(&pool, &mut rng).iter().map(|r| r.master_id).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        let firsts: HashSet<MasterId> = (0..40).map(|s| draw(s)[0]).collect();
        assert!(firsts.len() > 3, "the first place should vary with the seed: {firsts:?}");
    }
}
