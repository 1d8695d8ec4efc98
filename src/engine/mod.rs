//! The distribution engine: one tick offers each distributable order to ONE master, round after round,
//! escalating to people when the machine cannot place it (distribution.md §5, decisions D-4…D-18).
//!
//! A tick: take the lease → expire lapsed offers → wake due DEFERRED orders → tend the escalation of
//! orders that only wait → fetch the orders a decision can move, by priority → decide each order.
//! Orders are decided in chunks, one write transaction per chunk and a savepoint per order, so a failing
//! order is rolled back alone and accepts wait at most one chunk.

pub mod candidates;
pub mod escalation;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::json;

use crate::db::{Db, ms};
use crate::domain::{CityId, MasterId, OrderId, OrderStatus};
use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::lease;
use crate::offers::{self, Offer};
use crate::orders::{self, Actor, ORDER_COLUMNS, Order};
use crate::settings::Settings;
use crate::staff::Staff;
use candidates::{MasterSnapshot, Need, Ranked};

/// Orders decided per tick. Upstream takes 100; orders nobody can take now are re-evaluated every tick,
/// and a larger batch keeps a backlog of them from crowding out the rest. A decision costs well under a
/// millisecond, so even a full batch is a short tick.
pub const ORDERS_PER_TICK: usize = 1_000;
/// Orders decided per write transaction, so that an accept never waits long for a tick.
const CHUNK: usize = 100;

/// How to run a tick.
#[derive(Debug, Clone, Copy)]
pub struct TickOptions {
    /// Seed of the random tie-break (fresh per tick in production, fixed in tests).
    pub seed: u64,
    /// Maximum orders decided in this tick.
    pub max_orders: usize,
}

impl TickOptions {
    /// A production tick: a fresh seed, the standard batch.
    pub fn fresh() -> Self {
        Self { seed: rand::random(), max_orders: ORDERS_PER_TICK }
    }
}

/// An offer sent by the tick.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SentOffer {
    /// Order.
    pub order_id: OrderId,
    /// Master.
    pub master_id: MasterId,
    /// Round.
    pub round: i64,
    /// Offer id.
    pub offer_id: i64,
    /// Live until.
    pub expires_at: DateTime<Utc>,
}

/// An escalation made by the tick.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Escalation {
    /// Order.
    pub order_id: OrderId,
    /// `logist` or `admin`.
    pub level: &'static str,
    /// Why (`no_district`, `rounds_exhausted`, `no_candidates`, `prev_offers_expired`, `admin_delay`).
    pub reason: String,
}

/// An order the tick could not decide.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TickError {
    /// Order.
    pub order_id: Option<OrderId>,
    /// What failed.
    pub message: String,
}

/// What one tick did, printed by `fieldservice tick`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TickReport {
    /// The tick's "now".
    pub now: Option<DateTime<Utc>>,
    /// False when another scheduler held the lease and this tick did nothing.
    pub ran: bool,
    /// Offers moved to EXPIRED.
    pub offers_expired: Vec<OfferRef>,
    /// DEFERRED orders woken.
    pub orders_woken: Vec<OrderId>,
    /// Orders fetched and decided.
    pub orders_decided: usize,
    /// Offers sent.
    pub offers_sent: Vec<SentOffer>,
    /// Escalations made.
    pub escalations: Vec<Escalation>,
    /// Orders de-escalated.
    pub deescalations: Vec<OrderId>,
    /// Orders that failed (rolled back alone).
    pub errors: Vec<TickError>,
    /// The structured events written (at most [`MAX_REPORTED_EVENTS`]; all are in the database).
    pub events: Vec<Event>,
    /// Events written but left out of `events`.
    pub events_omitted: usize,
}

/// An offer, briefly.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OfferRef {
    /// Offer id.
    pub offer_id: i64,
    /// Order.
    pub order_id: OrderId,
    /// Master.
    pub master_id: MasterId,
}

impl From<&Offer> for OfferRef {
    fn from(o: &Offer) -> Self {
        Self { offer_id: o.id, order_id: o.order_id, master_id: o.master_id }
    }
}

/// Runs one tick if the lease is free; otherwise returns a report with `ran = false`.
pub fn tick(db: &Db, now: DateTime<Utc>, options: TickOptions) -> Result<TickReport> {
    let owner = lease::owner_id();
    if !lease::acquire(db, &owner)? {
        return Ok(TickReport { now: Some(now), ..TickReport::default() });
    }
    let result = run(db, now, options, &owner);
    lease::release(db, &owner)?;
    result
}

/// Runs one tick, waiting up to `wait` for the lease (the CLI beside a live server).
pub fn tick_waiting(db: &Db, now: DateTime<Utc>, options: TickOptions, wait: std::time::Duration) -> Result<TickReport> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let report = tick(db, now, options)?;
        if report.ran || std::time::Instant::now() >= deadline {
            return Ok(report);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn run(db: &Db, now: DateTime<Utc>, options: TickOptions, owner: &str) -> Result<TickReport> {
    let mut report = TickReport { now: Some(now), ran: true, ..TickReport::default() };
    let mut rng = StdRng::seed_from_u64(options.seed);
    let settings = db.read(Settings::load)?;
    db.write(|tx| -> Result<()> {
        let expired = offers::expire_due(tx, now)?;
        report.offers_expired = expired.iter().map(OfferRef::from).collect();
        report.orders_woken = wake_due(tx, now, &mut report)?;
        tend_waiting(tx, now, &settings, &mut report)?;
        Ok(())
    })?;
    let ids: Vec<OrderId> = db.read(|c| fetch(c, now, options.max_orders))?;
    report.orders_decided = ids.len();
    // The pools live for the whole tick; a chosen master is re-checked fresh before his offer (see `decide`).
    let mut pools = Pools::default();
    for chunk in ids.chunks(CHUNK) {
        if !lease::acquire(db, owner)? {
            report.errors.push(TickError { order_id: None, message: "scheduler lease lost; tick stopped".into() });
            break;
        }
        db.write(|tx| -> Result<()> {
            for &id in chunk {
                tx.execute_batch("SAVEPOINT order_step")?;
                let mark = report.mark();
                let decided = {
                    let mut step = Step { settings: &settings, now, rng: &mut rng, pools: &mut pools, report: &mut report };
                    decide(tx, id, &mut step)
                };
                match decided {
                    Ok(()) => tx.execute_batch("RELEASE order_step")?,
                    Err(error) => {
                        tx.execute_batch("ROLLBACK TO order_step; RELEASE order_step")?;
                        report.truncate_to(&mark);
                        tracing::error!(order = id, %error, "tick failed on an order");
                        report.errors.push(TickError { order_id: Some(id), message: error.to_string() });
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(report)
}

/// Orders that only wait — for a master's answer or for people — are not fetched for a decision (so that
/// they can never crowd out orders that can move), but their escalation is kept current here: admin
/// escalation when due (§5.5 step 1), de-escalation when a live offer is out (§5.5 step 5).
fn tend_waiting(conn: &Connection, now: DateTime<Utc>, settings: &Settings, report: &mut TickReport) -> Result<()> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders o
         WHERE o.assigned_master_id IS NULL AND o.status IN ('SEARCHING', 'GUARANTEE', 'DEFERRED')
           AND o.dist_escalated_logist_at IS NOT NULL AND o.created_at <= ?1
           AND (o.dist_escalated_admin_at IS NULL AND o.dist_escalated_logist_at <= ?2
                OR EXISTS (SELECT 1 FROM offers f WHERE f.order_id = o.id AND f.state IN ('SENT', 'VIEWED') AND f.expires_at > ?1))"
    );
    let due = ms(now - Duration::minutes(settings.escalate_to_admin_after_min));
    let waiting: Vec<Order> = conn.prepare_cached(&sql)?.query_map(params![ms(now), due], orders::order_row)?.collect::<rusqlite::Result<_>>()?;
    for order in waiting {
        if offers::of_order(conn, order.id)?.iter().any(|o| o.is_live(now)) {
            report.deescalate(conn, now, &order)?;
        } else {
            report.check_admin(conn, now, &order, settings.escalate_to_admin_after_min)?;
        }
    }
    Ok(())
}

/// DEFERRED orders whose wake-up time has come start searching (distribution.md §10.4, decisions D-14).
fn wake_due(conn: &Connection, now: DateTime<Utc>, report: &mut TickReport) -> Result<Vec<OrderId>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE status = 'DEFERRED' AND deferred_until <= ?1
         AND assigned_master_id IS NULL ORDER BY deferred_until, id"
    );
    let due: Vec<Order> = conn.prepare_cached(&sql)?.query_map([ms(now)], orders::order_row)?.collect::<rusqlite::Result<_>>()?;
    let mut woken = Vec::with_capacity(due.len());
    for order in due {
        let to = orders::wake(conn, now, &order, "deferred_wakeup", Actor::System)?;
        report.push_event(events::record(conn, now, Some(order.id), "engine", "deferred_wake", json!({"to": to, "target": order.deferred_until}))?);
        woken.push(order.id);
    }
    Ok(woken)
}

/// Orders a decision can move, in priority order (distribution.md §5.4): admin-escalated, guarantee,
/// overdue slot, logist-escalated, oldest first. Left out are orders with a live offer and escalated
/// orders that can only wait for people (no district, or offers already lapsed in this cycle); their
/// escalation is tended by `tend_waiting`. DEFERRED orders with a staff offer wait for its answer. An order
/// created after `now` does not exist yet for a tick at `now` (a tick run for a past moment, as the demo's
/// history does, must not touch today's orders).
fn fetch(conn: &Connection, now: DateTime<Utc>, limit: usize) -> Result<Vec<OrderId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id FROM orders o
         WHERE o.assigned_master_id IS NULL AND o.status IN ('SEARCHING', 'GUARANTEE') AND o.created_at <= ?1
           AND NOT EXISTS (SELECT 1 FROM offers f WHERE f.order_id = o.id AND f.state IN ('SENT', 'VIEWED') AND f.expires_at > ?1)
           AND NOT (o.dist_escalated_logist_at IS NOT NULL
                    AND (o.no_district = 1
                         OR EXISTS (SELECT 1 FROM offers f WHERE f.order_id = o.id AND f.dist_cycle = o.dist_cycle)))
         ORDER BY o.dist_escalated_admin_at IS NOT NULL DESC,
                  o.type = 'GUARANTEE' OR o.status = 'GUARANTEE' DESC,
                  o.timeslot_start IS NOT NULL AND o.timeslot_start < ?1 DESC,
                  o.dist_escalated_logist_at IS NOT NULL DESC,
                  o.created_at, o.id
         LIMIT ?2",
    )?;
    let ids = stmt.query_map(params![ms(now), limit as i64], |r| r.get(0))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

/// The eligible-master pools of the cities seen in this tick, loaded once. Accepts and staff actions may
/// commit between chunks, so a pool can be stale: the chosen master is always re-checked fresh.
#[derive(Default)]
struct Pools(HashMap<CityId, Vec<MasterSnapshot>>);

impl Pools {
    fn city(&mut self, conn: &Connection, city: CityId, now: DateTime<Utc>, settings: &Settings) -> rusqlite::Result<&[MasterSnapshot]> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.0.entry(city) {
            slot.insert(candidates::city_pool(conn, city, now, settings)?);
        }
        Ok(&self.0[&city])
    }

    fn forget(&mut self, city: CityId) {
        self.0.remove(&city);
    }
}

/// Most events a report carries (all are in the database); bounds the memory of a very large tick.
pub const MAX_REPORTED_EVENTS: usize = 1_000;

impl TickReport {
    fn push_event(&mut self, event: Event) {
        if self.events.len() < MAX_REPORTED_EVENTS {
            self.events.push(event);
        } else {
            self.events_omitted += 1;
        }
    }

    fn log(&mut self, conn: &Connection, now: DateTime<Utc>, order: OrderId, kind: &'static str, detail: serde_json::Value) -> rusqlite::Result<()> {
        self.push_event(events::record(conn, now, Some(order), "engine", kind, detail)?);
        Ok(())
    }

    fn escalate_logist(&mut self, conn: &Connection, now: DateTime<Utc>, order: &Order, reason: &str) -> rusqlite::Result<()> {
        if let Some(event) = escalation::ensure_logist(conn, now, order, reason)? {
            self.push_event(event);
            self.escalations.push(Escalation { order_id: order.id, level: "logist", reason: reason.to_string() });
        }
        Ok(())
    }

    fn check_admin(&mut self, conn: &Connection, now: DateTime<Utc>, order: &Order, delay_min: i64) -> rusqlite::Result<()> {
        if let Some(event) = escalation::check_admin(conn, now, order, delay_min)? {
            self.push_event(event);
            self.escalations.push(Escalation { order_id: order.id, level: "admin", reason: "admin_delay".into() });
        }
        Ok(())
    }

    fn deescalate(&mut self, conn: &Connection, now: DateTime<Utc>, order: &Order) -> rusqlite::Result<()> {
        if let Some(event) = escalation::deescalate(conn, now, order, "engine")? {
            self.push_event(event);
            self.deescalations.push(order.id);
        }
        Ok(())
    }

    /// Forgets what an order's rolled-back decision had reported.
    fn truncate_to(&mut self, mark: &ReportMark) {
        self.events.truncate(mark.0);
        self.offers_sent.truncate(mark.1);
        self.escalations.truncate(mark.2);
        self.deescalations.truncate(mark.3);
    }

    fn mark(&self) -> ReportMark {
        ReportMark(self.events.len(), self.offers_sent.len(), self.escalations.len(), self.deescalations.len())
    }
}

/// Lengths of a report's lists before one order's decision.
struct ReportMark(usize, usize, usize, usize);

/// The state one order's decision works with.
struct Step<'a, R> {
    settings: &'a Settings,
    now: DateTime<Utc>,
    rng: &'a mut R,
    pools: &'a mut Pools,
    report: &'a mut TickReport,
}

/// The outcome of candidate selection for one order.
struct Selection {
    ranked: Vec<Ranked>,
    citywide: bool,
    /// What the ranked masters were matched against.
    need: Need,
}

/// What a guarantee order's preferred master came to in [`select`], for the engine log.
enum Preferred {
    /// Not a guarantee order, or no preferred master.
    None,
    /// He passes every filter and gets the offer first.
    First(MasterId),
    /// He does not; the others are ranked as usual.
    Skipped(MasterId, Vec<String>),
}

impl Preferred {
    fn log(&self, conn: &Connection, report: &mut TickReport, now: DateTime<Utc>, order: OrderId) -> rusqlite::Result<()> {
        match self {
            Preferred::None => Ok(()),
            Preferred::First(master) => report.log(conn, now, order, "preferred_master_first", json!({"master_id": master})),
            Preferred::Skipped(master, reasons) => {
                report.log(conn, now, order, "preferred_master_skipped", json!({"master_id": master, "reasons": reasons}))
            }
        }
    }
}

/// Selects and ranks candidates from the city's `pool` (distribution.md §5.5 step 11, §6, decisions D-4,
/// D-7, D-20): the order's district first, then — when nobody fits there and the setting allows — the whole
/// city; an order without a district searches the whole city. For a guarantee order the preferred master
/// goes first when he passes every filter; when he does not, the others are ranked as usual.
fn select(
    conn: &Connection,
    order: &Order,
    now: DateTime<Utc>,
    settings: &Settings,
    pool: &[MasterSnapshot],
    rng: &mut impl rand::Rng,
) -> Result<(Selection, Preferred)> {
    let excluded = candidates::excluded(conn, order.id, order.dist_cycle)?;
    let need = Need { city_id: order.city_id, district_id: order.district_id, category: order.category, excluded };
    let mut preferred = Preferred::None;
    if let Some(id) = order.preferred_master_id.filter(|_| order.is_guarantee()) {
        let snapshot = candidates::master(conn, id, now, settings)?;
        let reasons: Vec<String> = match &snapshot {
            Some(master) => candidates::diagnose(master, &need, now).iter().map(candidates::Skip::code).collect(),
            None => vec!["not_found".to_string()],
        };
        if let (Some(master), true) = (&snapshot, reasons.is_empty()) {
            return Ok((Selection { ranked: candidates::rank([master], rng), citywide: false, need }, Preferred::First(id)));
        }
        preferred = Preferred::Skipped(id, reasons);
    }
    let in_district: Vec<&MasterSnapshot> = pool.iter().filter(|m| candidates::diagnose(m, &need, now).is_empty()).collect();
    if !in_district.is_empty() || order.district_id.is_none() || !settings.citywide_fallback {
        let ranked = candidates::rank(in_district, rng);
        return Ok((Selection { ranked, citywide: order.district_id.is_none(), need }, preferred));
    }
    let citywide = Need { district_id: None, ..need };
    let anywhere: Vec<&MasterSnapshot> = pool.iter().filter(|m| candidates::diagnose(m, &citywide, now).is_empty()).collect();
    let ranked = candidates::rank(anywhere, rng);
    Ok((Selection { ranked, citywide: true, need: citywide }, preferred))
}

/// What a tick does with an unassigned order before it looks for a master (distribution.md §5.5 steps
/// 1–8). The tick, and the manual candidate list's "auto would pick", both go by it.
enum Gate {
    /// Not the engine's to offer (assigned, deferred, final).
    Closed,
    /// A live offer is out: wait for the answer.
    OfferOut,
    /// People must act; escalate (or stay escalated) with this reason.
    Escalate(&'static str),
    /// Look for a master for `round + 1`; nobody has had an offer since `idle_since`.
    Search { round: i64, idle_since: DateTime<Utc> },
}

fn gate(conn: &Connection, now: DateTime<Utc>, order: &Order, settings: &Settings) -> Result<Gate> {
    let distributable = match order.status {
        OrderStatus::Searching | OrderStatus::Guarantee => true,
        OrderStatus::Deferred => offers::of_order(conn, order.id)?.iter().any(|o| o.is_live(now)),
        _ => false,
    };
    if order.assigned_master_id.is_some() || !distributable {
        return Ok(Gate::Closed);
    }
    // 1. Admin escalation is tended for every escalated order before the fetch (`tend_waiting`).
    // 2. "Address incomplete": people must place it.
    if order.no_district {
        return Ok(Gate::Escalate("no_district"));
    }
    // 5. A live offer is out: wait for the master's answer.
    let all_offers = offers::of_order(conn, order.id)?;
    if all_offers.iter().any(|o| o.is_live(now)) {
        return Ok(Gate::OfferOut);
    }
    let cycle_offers: Vec<&Offer> = all_offers.iter().filter(|o| o.dist_cycle == order.dist_cycle).collect();
    // 6. The current round.
    let round = cycle_offers.iter().map(|o| o.round_number).max().unwrap_or(0);
    // 7. Once escalated in this cycle, a lapsed or declined offer goes straight back to people.
    if round > 0 && (order.escalated_logist_at.is_some() || order.dist_escalated_in_cycle) {
        return Ok(Gate::Escalate("prev_offers_expired"));
    }
    // 8. Rounds exhausted.
    if round >= settings.distribution_rounds {
        return Ok(Gate::Escalate("rounds_exhausted"));
    }
    let idle_since = cycle_offers.iter().filter_map(|o| o.responded_at).max().unwrap_or(order.dist_since_at).max(order.dist_since_at);
    Ok(Gate::Search { round, idle_since })
}

/// Decides one order for this tick (distribution.md §5.5 with decisions D-4, D-7, D-15).
fn decide<R: rand::Rng>(conn: &Connection, id: OrderId, step: &mut Step<'_, R>) -> Result<()> {
    let now = step.now;
    // The ids were fetched before this transaction: an accept, an assignment or a cancel may have
    // committed in between, and such an order is no longer ours to offer.
    let Some(order) = orders::load(conn, id)? else { return Ok(()) };
    let (round, idle_since) = match gate(conn, now, &order, step.settings)? {
        Gate::Closed => return Ok(()),
        Gate::OfferOut => return Ok(step.report.deescalate(conn, now, &order)?),
        Gate::Escalate(reason) => return Ok(step.report.escalate_logist(conn, now, &order, reason)?),
        Gate::Search { round, idle_since } => (round, idle_since),
    };
    // 11. Candidates. The pools may predate an accept or a staff action: re-check the chosen one fresh.
    let pool = step.pools.city(conn, order.city_id, now, step.settings)?;
    let (mut selection, mut preferred) = select(conn, &order, now, step.settings, pool, step.rng)?;
    if let Some(first) = selection.ranked.first() {
        let fresh = candidates::master(conn, first.master_id, now, step.settings)?;
        if !fresh.is_some_and(|m| candidates::diagnose(&m, &selection.need, now).is_empty()) {
            step.pools.forget(order.city_id);
            let pool = step.pools.city(conn, order.city_id, now, step.settings)?;
            (selection, preferred) = select(conn, &order, now, step.settings, pool, step.rng)?;
        }
    }
    preferred.log(conn, step.report, now, id)?;
    let Some(first) = selection.ranked.first() else {
        // 12. Nobody now: keep trying every tick; escalate after the grace without an offer (decisions D-15).
        let idle = now - idle_since;
        if idle >= Duration::seconds(step.settings.no_candidates_grace_seconds) {
            return Ok(step.report.escalate_logist(conn, step.now, &order, "no_candidates")?);
        }
        return Ok(step.report.log(conn, step.now, id, "no_candidates", json!({"idle_seconds": idle.num_seconds(), "grace_seconds": step.settings.no_candidates_grace_seconds}))?);
    };
    let topn = step.settings.distribution_log_topn as usize;
    let shown: Vec<&Ranked> = selection.ranked.iter().take(topn).collect();
    step.report.log(conn, step.now, id, "candidates_found", json!({"count": selection.ranked.len(), "citywide": selection.citywide, "top": shown}))?;
    // 13. Offer to the first.
    let master = first.master_id;
    step.report.deescalate(conn, step.now, &order)?;
    let offer = offers::send(conn, now, step.settings.distribution_sla_seconds, &order, master, round + 1, None)?;
    step.report.log(conn, step.now, id, "offer_sent", json!({"master_id": master, "offer_id": offer.id, "round": offer.round_number, "rounds": step.settings.distribution_rounds, "until": offer.expires_at}))?;
    step.report.offers_sent.push(SentOffer { order_id: id, master_id: master, round: offer.round_number, offer_id: offer.id, expires_at: offer.expires_at });
    Ok(())
}

/// What the staff "auto" button did.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AutoOutcome {
    /// An offer went to the best candidate.
    OfferSent(SentOffer),
    /// The order has no district: it was escalated to the logists; staff must assign by hand.
    NoDistrict,
    /// Nobody can take it now: it was escalated to the logists; staff must assign by hand.
    NoCandidates,
}

impl AutoOutcome {
    /// The refusal to show staff when no offer went out (the escalation itself is kept).
    pub fn error(&self) -> Option<Error> {
        match self {
            AutoOutcome::OfferSent(_) => None,
            AutoOutcome::NoDistrict => Some(Error::NoDistrict),
            AutoOutcome::NoCandidates => Some(Error::NoCandidates),
        }
    }
}

/// Staff "auto-distribute now" (distribution.md §9.1): one immediate automatic round for one order, with the
/// same selection as the tick. A DEFERRED order needs `confirm_deferred` and starts searching first (S6).
/// When no offer can go out the order is escalated and the outcome says why; commit it either way.
pub fn auto_distribute_now(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: OrderId, confirm_deferred: bool, seed: u64) -> Result<AutoOutcome> {
    let mut order = orders::load_for_staff(conn, staff, id)?;
    if order.assigned_master_id.is_some() {
        return Err(Error::AlreadyAssigned);
    }
    if order.status == OrderStatus::Deferred {
        if !confirm_deferred {
            return Err(Error::DeferredNeedsConfirmation);
        }
        orders::wake(conn, now, &order, "auto_on_deferred", Actor::Staff(staff.id))?;
        order = orders::load(conn, id)?.ok_or(Error::NotFound { what: "order" })?;
    }
    if !matches!(order.status, OrderStatus::Searching | OrderStatus::Guarantee) {
        return Err(Error::WrongStatus { status: order.status });
    }
    let settings = Settings::load(conn)?;
    let mut report = TickReport::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pools = Pools::default();
    let step = Step { settings: &settings, now, rng: &mut rng, pools: &mut pools, report: &mut report };
    if order.no_district {
        step.report.escalate_logist(conn, step.now, &order, "no_district")?;
        return Ok(AutoOutcome::NoDistrict);
    }
    let round = offers::next_round(conn, &order)? - 1;
    if round >= settings.distribution_rounds {
        return Err(Error::RoundsExhausted { rounds: settings.distribution_rounds });
    }
    if offers::of_order(conn, id)?.iter().any(|o| o.is_live(now)) {
        return Err(Error::OfferConflict);
    }
    let pool = step.pools.city(conn, order.city_id, now, step.settings)?;
    let (selection, preferred) = select(conn, &order, now, step.settings, pool, step.rng)?;
    preferred.log(conn, step.report, now, id)?;
    let Some(first) = selection.ranked.first() else {
        step.report.escalate_logist(conn, step.now, &order, "no_candidates")?;
        return Ok(AutoOutcome::NoCandidates);
    };
    let master = first.master_id;
    step.report.log(conn, step.now, id, "candidates_found", json!({"count": selection.ranked.len(), "citywide": selection.citywide, "staff_id": staff.id}))?;
    step.report.deescalate(conn, step.now, &order)?;
    let offer = offers::send(conn, now, settings.distribution_sla_seconds, &order, master, round + 1, Some(staff.id))?;
    step.report.log(conn, step.now, id, "offer_sent", json!({"master_id": master, "offer_id": offer.id, "round": offer.round_number, "staff_id": staff.id, "until": offer.expires_at}))?;
    Ok(AutoOutcome::OfferSent(SentOffer { order_id: id, master_id: master, round: offer.round_number, offer_id: offer.id, expires_at: offer.expires_at }))
}

/// One line of the manual candidate list (decisions D-16).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ManualCandidate {
    /// Master id.
    pub master_id: MasterId,
    /// Full name.
    pub full_name: String,
    /// Phone.
    pub phone: String,
    /// Shift state.
    pub shift: crate::domain::ShiftStatus,
    /// End of his break.
    pub break_until: Option<DateTime<Utc>>,
    /// Active orders.
    pub active_orders: i64,
    /// His limit.
    pub limit: i64,
    /// Why he is unavailable (off shift, on a break, at his limit): "assign anyway" needs confirmation.
    pub unavailable: Vec<String>,
    /// Whether the automatic engine would pick him now.
    pub auto_eligible: bool,
}

/// Every verified, active, non-deleted, non-blocked master of the order's city with the category skill
/// (and the district, if any), available ones first (decisions D-16). `auto_eligible` comes from the
/// tick's own gate and selection, so it marks exactly the masters a tick now would choose from, in the
/// tick's ranking order (its random tie-break drawn from the order's id).
pub fn manual_candidates(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: OrderId) -> Result<Vec<ManualCandidate>> {
    let order = orders::load_for_staff(conn, staff, id)?;
    let settings = Settings::load(conn)?;
    let pool = candidates::city_pool(conn, order.city_id, now, &settings)?;
    let auto_ranked: Vec<MasterId> = match gate(conn, now, &order, &settings)? {
        Gate::Search { .. } => {
            let mut rng = StdRng::seed_from_u64(order.id as u64);
            select(conn, &order, now, &settings, &pool, &mut rng)?.0.ranked.iter().map(|r| r.master_id).collect()
        }
        Gate::Closed | Gate::OfferOut | Gate::Escalate(_) => Vec::new(),
    };
    let excluded = candidates::excluded(conn, order.id, order.dist_cycle)?;
    let need = candidates::staff_need(&pool, Need { city_id: order.city_id, district_id: order.district_id, category: order.category, excluded }, now, settings.citywide_fallback);
    let mut list = Vec::new();
    for master in pool {
        let reasons = candidates::diagnose(&master, &need, now);
        let fits = reasons.iter().all(|r| r.is_availability() || *r == candidates::Skip::AlreadyOffered);
        if !fits {
            continue;
        }
        let (full_name, phone): (String, String) =
            conn.prepare_cached("SELECT full_name, phone FROM masters WHERE id = ?1")?.query_row([master.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        list.push(ManualCandidate {
            master_id: master.id,
            full_name,
            phone,
            shift: master.shift,
            break_until: master.break_until,
            active_orders: master.active_orders,
            limit: master.limit,
            unavailable: reasons.iter().filter(|r| r.is_availability()).map(candidates::Skip::code).collect(),
            auto_eligible: auto_ranked.contains(&master.id),
        });
    }
    let rank = |m: &ManualCandidate| auto_ranked.iter().position(|id| *id == m.master_id).unwrap_or(usize::MAX);
    list.sort_by(|a, b| (rank(a), !a.unavailable.is_empty(), &a.full_name).cmp(&(rank(b), !b.unavailable.is_empty(), &b.full_name)));
    Ok(list)
}
