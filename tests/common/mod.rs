//! The shared fixture of the integration tests: a real SQLite file in a temporary directory, time passed
//! explicitly as `now`, and small story helpers (`master`, `order`, `tick`, `accept`, …).
#![allow(dead_code)]

pub mod api;
pub mod contract;
pub mod dump;
pub mod push_service;
pub mod samples;
pub mod web;

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use fieldservice::check;
use fieldservice::db::{Db, Durability, at, ms};
use fieldservice::domain::{
    CityId, DistrictId, MasterId, ModerationStatus, OfferId, OfferState, OrderId, OrderStatus, ShiftStatus, StaffId,
    StaffRole,
};
pub use fieldservice::domain::Category;
use fieldservice::engine::{self, TickOptions, TickReport};
use fieldservice::error::Error;
use fieldservice::offers::{self, Accepted, Offer};
use fieldservice::orders::{self, Actor, Created, NewOrder, Order};
use fieldservice::settings::Settings;
use fieldservice::staff::{self, Staff};
use rusqlite::{Connection, Transaction, params};
use serde_json::Value;
use tempfile::TempDir;

/// 2026-03-10 09:00 UTC = 12:00 in Moscow: inside the working window.
pub fn t0() -> DateTime<Utc> {
    utc(2026, 3, 10, 9, 0, 0)
}

/// A UTC instant.
pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// Seconds.
pub fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// Minutes.
pub fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

/// The default offer lifetime (SLA), 120 s.
pub fn sla() -> Duration {
    Duration::seconds(120)
}

/// A master to be inserted: verified, active, APPROVED, on shift, ELECTRICS, rating 5.0, no car.
#[derive(Debug, Clone)]
pub struct M {
    city: CityId,
    districts: Vec<DistrictId>,
    skills: Vec<Category>,
    car: bool,
    rating: f64,
    limit: Option<i64>,
    shift: ShiftStatus,
    break_until: Option<DateTime<Utc>>,
    blocked: Option<String>,
    moderation: ModerationStatus,
    verified: bool,
}

impl M {
    /// A master of `city` serving `districts`.
    pub fn serving(city: CityId, districts: &[DistrictId]) -> Self {
        Self {
            city,
            districts: districts.to_vec(),
            skills: vec![Category::Electrics],
            car: false,
            rating: 5.0,
            limit: None,
            shift: ShiftStatus::On,
            break_until: None,
            blocked: None,
            moderation: ModerationStatus::Approved,
            verified: true,
        }
    }

    /// Has a car (the first ranking key).
    pub fn car(mut self) -> Self {
        self.car = true;
        self
    }

    /// Rating 0..5.
    pub fn rating(mut self, rating: f64) -> Self {
        self.rating = rating;
        self
    }

    /// Personal active-order limit (override).
    pub fn limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Works in these categories instead of ELECTRICS.
    pub fn skills(mut self, skills: &[Category]) -> Self {
        self.skills = skills.to_vec();
        self
    }

    /// Off shift.
    pub fn off_shift(mut self) -> Self {
        self.shift = ShiftStatus::Off;
        self.break_until = None;
        self
    }

    /// On a break until `until`.
    pub fn on_break_until(mut self, until: DateTime<Utc>) -> Self {
        self.shift = ShiftStatus::Break;
        self.break_until = Some(until);
        self
    }

    /// Blocked (and therefore inactive) with `reason`.
    pub fn blocked(mut self, reason: &str) -> Self {
        self.blocked = Some(reason.to_string());
        self
    }

    /// Signed up but not yet approved: PENDING, unverified, off shift.
    pub fn pending(mut self) -> Self {
        self.moderation = ModerationStatus::Pending;
        self.verified = false;
        self.off_shift()
    }
}

/// A staff alert with its recipients.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Id.
    pub id: i64,
    /// Kind (`escalation_logist`, `escalation_admin`, `guarantee_refusal`, …).
    pub kind: String,
    /// Order.
    pub order_id: Option<OrderId>,
    /// Payload.
    pub payload: Value,
    /// Staff ids, sorted.
    pub recipients: Vec<StaffId>,
    /// When.
    pub at: DateTime<Utc>,
}

/// One status-history row.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// From.
    pub from: Option<String>,
    /// To.
    pub to: String,
    /// Reason.
    pub reason: String,
    /// SYSTEM, ADMIN, MASTER, AUTO_DISTRIBUTION.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A master's account state as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterRow {
    /// SHIFT_OFF, SHIFT_ON, BREAK.
    pub shift: ShiftStatus,
    /// Mirror flag.
    pub is_on_shift: bool,
    /// End of the break.
    pub break_until: Option<DateTime<Utc>>,
    /// Blocked.
    pub is_blocked: bool,
    /// Active.
    pub is_active: bool,
    /// Why blocked.
    pub blocked_reason: Option<String>,
}

/// The escalation fields of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// `dist_escalated_logist_at`.
    pub logist_at: Option<i64>,
    /// `dist_escalated_admin_at`.
    pub admin_at: Option<i64>,
    /// `escalation_logist_notified_at`.
    pub logist_notified_at: Option<i64>,
    /// `escalation_admin_notified_at`.
    pub admin_notified_at: Option<i64>,
    /// `dist_escalation_reason`.
    pub reason: Option<String>,
}

impl Escalation {
    /// All four fields clear.
    pub fn is_clear(&self) -> bool {
        self.logist_at.is_none() && self.admin_at.is_none() && self.logist_notified_at.is_none() && self.admin_notified_at.is_none()
    }
}

/// A database in a temporary directory with a global admin bound to no city.
pub struct World {
    /// The database.
    pub db: Db,
    /// A GLOBAL_ADMIN bound to no city (an alert recipient for every city).
    pub admin: Staff,
    seq: AtomicU32,
    _dir: TempDir,
}

impl World {
    /// A fresh database file with the reference cities seeded.
    pub fn new() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let db = Db::open(&dir.path().join("fieldservice.db"), Durability::Normal).expect("open db");
        let admin_id = db
            .write(|tx| staff::create(tx, t0(), "root", "hash", StaffRole::GlobalAdmin, "Root", &[]))
            .expect("create admin");
        let admin = db.read(|c| staff::load_active(c, admin_id)).unwrap().unwrap();
        Self { db, admin, seq: AtomicU32::new(1), _dir: dir }
    }

    fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    // --- raw access -------------------------------------------------------------------------------------

    /// Runs `f` on a pooled read connection.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> T {
        self.db.read(|c| f(c).map_err(Error::from)).expect("read")
    }

    /// Runs a service call in one write transaction, as production callers do (rolled back on `Err`).
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, Error>) -> Result<T, Error> {
        self.db.write(f)
    }

    /// Executes one SQL statement (fixture setup that has no service function).
    pub fn exec<P: rusqlite::Params>(&self, sql: &str, p: P) -> usize {
        self.db.write(|tx| tx.execute(sql, p)).expect(sql)
    }

    /// One value of one row.
    pub fn scalar<T: rusqlite::types::FromSql, P: rusqlite::Params>(&self, sql: &str, p: P) -> T {
        self.read(|c| c.query_row(sql, p, |r| r.get(0)))
    }

    /// Changes business settings, as a global admin would.
    pub fn settings(&self, changes: &[(&str, &str)]) -> Settings {
        self.write(|tx| Settings::update(tx, t0(), changes)).expect("settings")
    }

    /// Every table, every row, as text: compared before and after a refused call.
    pub fn dump(&self) -> String {
        dump::dump(&self.db, &[])
    }

    /// The invariant checker finds nothing.
    pub fn assert_sound(&self) {
        let problems = self.read(check::run);
        assert!(problems.is_empty(), "invariants broken: {problems:?}");
    }

    // --- geography and people ---------------------------------------------------------------------------

    /// A seeded city by name.
    pub fn city(&self, name: &str) -> CityId {
        self.scalar("SELECT id FROM cities WHERE name = ?1", [name])
    }

    /// Москва (Europe/Moscow).
    pub fn moscow(&self) -> CityId {
        self.city("Москва")
    }

    /// A district of `city`, created on first use.
    pub fn district(&self, city: CityId, name: &str) -> DistrictId {
        self.exec(
            "INSERT INTO districts (city_id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (city_id, name) DO NOTHING",
            params![city, name, ms(t0())],
        );
        self.scalar("SELECT id FROM districts WHERE city_id = ?1 AND name = ?2", params![city, name])
    }

    /// The city a district belongs to.
    pub fn city_of(&self, district: DistrictId) -> CityId {
        self.scalar("SELECT city_id FROM districts WHERE id = ?1", [district])
    }

    /// Inserts a master; returns his id.
    pub fn master(&self, m: M) -> MasterId {
        let n = self.next();
        self.db.write(|tx| insert_master(tx, n, &m)).expect("insert master")
    }

    /// Inserts `count` alike masters in one transaction.
    pub fn masters(&self, count: usize, m: M) -> Vec<MasterId> {
        let first = self.seq.fetch_add(count as u32, Ordering::Relaxed);
        self.db
            .write(|tx| (0..count as u32).map(|i| insert_master(tx, first + i, &m)).collect::<rusqlite::Result<Vec<_>>>())
            .expect("insert masters")
    }

    /// A master's account state.
    pub fn master_row(&self, master: MasterId) -> MasterRow {
        self.read(|c| {
            c.query_row(
                "SELECT shift_status, is_on_shift, break_until, is_blocked, is_active, blocked_reason FROM masters WHERE id = ?1",
                [master],
                |r| {
                    Ok(MasterRow {
                        shift: r.get(0)?,
                        is_on_shift: r.get(1)?,
                        break_until: r.get::<_, Option<i64>>(2)?.map(at),
                        is_blocked: r.get(3)?,
                        is_active: r.get(4)?,
                        blocked_reason: r.get(5)?,
                    })
                },
            )
        })
    }

    /// A staff member of `role` bound to `cities`.
    pub fn staff(&self, role: StaffRole, cities: &[CityId]) -> Staff {
        let login = format!("staff{}", self.next());
        let id = self.write(|tx| staff::create(tx, t0(), &login, "hash", role, "Сотрудник", cities)).expect("create staff");
        self.load_staff(id)
    }

    /// A staff member of `role` bound to no city (possible for a LOGIST or CITY_ADMIN only by unbinding).
    pub fn staff_without_city(&self, role: StaffRole) -> Staff {
        let staff = self.staff(role, &[self.moscow()]);
        self.exec("DELETE FROM staff_cities WHERE staff_id = ?1", [staff.id]);
        self.load_staff(staff.id)
    }

    /// Reloads a staff member.
    pub fn load_staff(&self, id: StaffId) -> Staff {
        self.db.read(|c| staff::load_active(c, id)).unwrap().expect("active staff")
    }

    // --- orders ---------------------------------------------------------------------------------------------

    /// A valid order form for `city` / `district`: ELECTRICS, a client phone and a description.
    pub fn form(&self, city: CityId, district: Option<DistrictId>) -> NewOrder {
        NewOrder {
            city_id: city,
            district_id: district,
            house: Some("12".into()),
            client_name: Some("Иван Петров".into()),
            client_phone: "+79991234567".into(),
            category: Some(Category::Electrics),
            description: Some("Не работает розетка на кухне".into()),
            ..NewOrder::default()
        }
    }

    /// Creates an order from `form` as the global admin.
    pub fn create(&self, now: DateTime<Utc>, form: &NewOrder) -> Result<Created, Error> {
        self.write(|tx| orders::create(tx, now, &self.admin, form))
    }

    /// A normal ELECTRICS order in `district` created at `now`.
    pub fn order(&self, now: DateTime<Utc>, district: DistrictId) -> OrderId {
        let form = self.form(self.city_of(district), Some(district));
        self.create(now, &form).expect("create order").id
    }

    /// An order of `city` without a district ("address incomplete").
    pub fn order_without_district(&self, now: DateTime<Utc>, city: CityId) -> OrderId {
        self.create(now, &self.form(city, None)).expect("create order").id
    }

    /// An order in `district` already assigned to `master` (by staff, forced) and moved to `status`.
    pub fn busy_order(&self, now: DateTime<Utc>, district: DistrictId, master: MasterId, status: OrderStatus) -> OrderId {
        let id = self.order(now, district);
        self.write(|tx| orders::assign_directly(tx, now, &self.admin, id, master, true)).expect("assign");
        if status != OrderStatus::Assigned {
            self.set_status(now, id, status);
        }
        id
    }

    /// Moves an order to `status` directly (steps the services do not cover: EN_ROUTE, PAYMENT, CLOSED),
    /// with a version bump and a history row.
    pub fn set_status(&self, now: DateTime<Utc>, id: OrderId, status: OrderStatus) {
        self.db
            .write(|tx| -> Result<(), Error> {
                let order = orders::load(tx, id)?.expect("order");
                tx.execute(
                    "UPDATE orders SET status = ?2, version = version + 1, updated_at = ?3,
                         closed_at = CASE WHEN ?2 = 'CLOSED' THEN ?3 ELSE closed_at END
                     WHERE id = ?1",
                    params![id, status, ms(now)],
                )?;
                orders::record_history(tx, now, id, Some(order.status), status, "test_step", Actor::System, &serde_json::json!({}))?;
                Ok(())
            })
            .expect("set status");
    }

    /// A CLOSED normal order (total 1500 ₽) done by `master`, created at `created` and closed at `closed_at`.
    pub fn closed_order(&self, created: DateTime<Utc>, district: DistrictId, master: MasterId, closed_at: DateTime<Utc>) -> OrderId {
        let id = self.order(created, district);
        self.db
            .write(|tx| -> Result<(), Error> {
                let order = orders::load(tx, id)?.expect("order");
                tx.execute(
                    "UPDATE orders SET status = 'CLOSED', assigned_master_id = ?2, closed_at = ?3, total_sum_kop = 150000,
                         version = version + 1, updated_at = ?3 WHERE id = ?1",
                    params![id, master, ms(closed_at)],
                )?;
                orders::record_history(tx, closed_at, id, Some(order.status), OrderStatus::Closed, "closed", Actor::Master(master), &serde_json::json!({}))?;
                Ok(())
            })
            .expect("close order");
        id
    }

    /// Creates a guarantee order from `source` as the global admin.
    pub fn guarantee(&self, now: DateTime<Utc>, source: OrderId) -> Result<Created, Error> {
        self.write(|tx| orders::create_guarantee(tx, now, &self.admin, source))
    }

    /// An order as the rules see it.
    pub fn load(&self, id: OrderId) -> Order {
        self.db.read(|c| orders::load(c, id)).unwrap().expect("order exists")
    }

    /// An order's status.
    pub fn status(&self, id: OrderId) -> OrderStatus {
        self.load(id).status
    }

    /// An order's master.
    pub fn assigned(&self, id: OrderId) -> Option<MasterId> {
        self.load(id).assigned_master_id
    }

    /// An order's escalation fields.
    pub fn escalation(&self, id: OrderId) -> Escalation {
        self.read(|c| {
            c.query_row(
                "SELECT dist_escalated_logist_at, dist_escalated_admin_at, escalation_logist_notified_at,
                        escalation_admin_notified_at, dist_escalation_reason FROM orders WHERE id = ?1",
                [id],
                |r| {
                    Ok(Escalation {
                        logist_at: r.get(0)?,
                        admin_at: r.get(1)?,
                        logist_notified_at: r.get(2)?,
                        admin_notified_at: r.get(3)?,
                        reason: r.get(4)?,
                    })
                },
            )
        })
    }

    /// The status-history rows of an order, oldest first.
    pub fn history(&self, id: OrderId) -> Vec<History> {
        self.read(|c| {
            c.prepare("SELECT from_status, to_status, reason, actor_type, created_at FROM order_status_history WHERE order_id = ?1 ORDER BY id")?
                .query_map([id], |r| {
                    Ok(History { from: r.get(0)?, to: r.get(1)?, reason: r.get(2)?, actor: r.get(3)?, at: at(r.get(4)?) })
                })?
                .collect()
        })
    }

    // --- the engine and the offers -------------------------------------------------------------------------

    /// One tick at `now` with a fixed seed; it must run and decide every order without an error.
    pub fn tick(&self, now: DateTime<Utc>) -> TickReport {
        self.tick_with(now, 100)
    }

    /// One tick deciding at most `max_orders` orders.
    pub fn tick_with(&self, now: DateTime<Utc>, max_orders: usize) -> TickReport {
        let report = engine::tick(&self.db, now, TickOptions { seed: 42, max_orders }).expect("tick");
        assert!(report.ran, "the lease was free, the tick must run");
        assert!(report.errors.is_empty(), "tick errors: {:?}", report.errors);
        report
    }

    /// The master presses "accept".
    pub fn accept(&self, now: DateTime<Utc>, master: MasterId, offer: OfferId) -> Result<Accepted, Error> {
        offers::accept_now(&self.db, now, master, offer)
    }

    /// The master declines.
    pub fn decline(&self, now: DateTime<Utc>, master: MasterId, offer: OfferId) -> Result<(), Error> {
        self.write(|tx| offers::decline(tx, now, master, offer))
    }

    /// A staff manual offer.
    pub fn manual_offer(&self, now: DateTime<Utc>, staff: &Staff, order: OrderId, master: MasterId, force: bool) -> Result<Offer, Error> {
        self.write(|tx| offers::manual_offer(tx, now, staff, order, master, force))
    }

    /// Every offer of an order, oldest first.
    pub fn offers(&self, order: OrderId) -> Vec<Offer> {
        self.read(|c| offers::of_order(c, order))
    }

    /// The offers of an order in `state`.
    pub fn offers_in(&self, order: OrderId, state: OfferState) -> Vec<Offer> {
        self.offers(order).into_iter().filter(|o| o.state == state).collect()
    }

    /// The one open (SENT/VIEWED) offer of an order.
    pub fn open_offer(&self, order: OrderId) -> Offer {
        let open: Vec<Offer> = self.offers(order).into_iter().filter(|o| o.state.is_open()).collect();
        assert_eq!(open.len(), 1, "expected exactly one open offer for order {order}: {open:?}");
        open.into_iter().next().unwrap()
    }

    /// One offer by id.
    pub fn offer(&self, order: OrderId, id: OfferId) -> Offer {
        self.offers(order).into_iter().find(|o| o.id == id).expect("offer of that order")
    }

    /// The masters an order was offered to, in order.
    pub fn offered_to(&self, order: OrderId) -> Vec<MasterId> {
        self.offers(order).iter().map(|o| o.master_id).collect()
    }

    // --- what people see ----------------------------------------------------------------------------------

    /// Staff alerts of `kind` (all orders), oldest first.
    pub fn alerts(&self, kind: &str) -> Vec<Alert> {
        self.read(|c| {
            let rows: Vec<(i64, String, Option<OrderId>, String, i64)> = c
                .prepare("SELECT id, kind, order_id, payload, created_at FROM staff_alerts WHERE kind = ?1 ORDER BY id")?
                .query_map([kind], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter()
                .map(|(id, kind, order_id, payload, created)| {
                    let recipients = c
                        .prepare("SELECT staff_id FROM staff_alert_recipients WHERE alert_id = ?1 ORDER BY staff_id")?
                        .query_map([id], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?;
                    Ok(Alert { id, kind, order_id, payload: serde_json::from_str(&payload).unwrap(), recipients, at: at(created) })
                })
                .collect()
        })
    }

    /// Staff alerts of `kind` about one order.
    pub fn alerts_for(&self, order: OrderId, kind: &str) -> Vec<Alert> {
        self.alerts(kind).into_iter().filter(|a| a.order_id == Some(order)).collect()
    }

    /// The payloads of a master's notifications of `event`, oldest first.
    pub fn notifications(&self, master: MasterId, event: &str) -> Vec<Value> {
        self.read(|c| {
            c.prepare("SELECT payload FROM notifications_outbox WHERE master_id = ?1 AND event = ?2 ORDER BY id")?
                .query_map(params![master, event], |r| r.get::<_, String>(0))?
                .map(|p| p.map(|p| serde_json::from_str(&p).unwrap()))
                .collect()
        })
    }

    /// The kinds of an order's logged events, oldest first.
    pub fn event_kinds(&self, order: OrderId) -> Vec<String> {
        self.read(|c| {
            c.prepare("SELECT kind FROM order_events WHERE order_id = ?1 ORDER BY id")?.query_map([order], |r| r.get(0))?.collect()
        })
    }

    /// The details of an order's events of `kind`, oldest first.
    pub fn events(&self, order: OrderId, kind: &str) -> Vec<Value> {
        self.read(|c| {
            c.prepare("SELECT detail FROM order_events WHERE order_id = ?1 AND kind = ?2 ORDER BY id")?
                .query_map(params![order, kind], |r| r.get::<_, String>(0))?
                .map(|d| d.map(|d| serde_json::from_str(&d).unwrap()))
                .collect()
        })
    }

    /// A master's live offers as his "New" list shows them.
    pub fn live_for(&self, now: DateTime<Utc>, master: MasterId) -> Vec<Offer> {
        self.read(|c| offers::live_for_master(c, now, master))
    }
}

fn insert_master(tx: &Connection, n: u32, m: &M) -> rusqlite::Result<MasterId> {
    let now = ms(t0());
    let blocked = m.blocked.is_some();
    tx.execute(
        "INSERT INTO masters (full_name, phone, city_id, rating, is_active, is_blocked, blocked_at, blocked_reason,
             shift_status, is_on_shift, break_until, verified, verified_at, moderation_status,
             max_active_orders_override, has_vehicle, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17)",
        params![
            format!("Мастер {n}"),
            format!("+79{n:09}"),
            m.city,
            m.rating,
            !blocked,
            blocked,
            blocked.then_some(now),
            m.blocked,
            m.shift,
            m.shift == ShiftStatus::On,
            m.break_until.map(ms),
            m.verified,
            m.verified.then_some(now),
            m.moderation,
            m.limit,
            m.car,
            now,
        ],
    )?;
    let id = tx.last_insert_rowid();
    for skill in &m.skills {
        tx.execute("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, ?2, ?3)", params![id, skill, now])?;
    }
    for district in &m.districts {
        tx.execute("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, ?3)", params![id, district, now])?;
    }
    Ok(id)
}

/// The one offer the tick sent for `order`.
pub fn sent_to(report: &TickReport, order: OrderId) -> Option<MasterId> {
    let sent: Vec<_> = report.offers_sent.iter().filter(|s| s.order_id == order).collect();
    assert!(sent.len() <= 1, "one offer per order per tick: {sent:?}");
    sent.first().map(|s| s.master_id)
}

/// True when `err` is the expected variant (compared by its stable code).
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Error>, code: &str) -> Error {
    match result {
        Ok(v) => panic!("expected error {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code(), code, "unexpected error: {e:?}");
            e
        }
    }
}
