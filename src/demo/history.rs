//! Thirty days of the demo firm's past, for the reports: a few hundred orders, each played through the
//! real rules at its own moment of a moved clock — `orders::create`, the engine's `tick` (offers, rounds,
//! expiries, escalations), the masters' accepts and declines, staff assigning escalated orders by hand or
//! cancelling, the work steps, the close, the commission reported and approved, and some guarantee revisits.
//!
//! Orders are played one after another in the order of their creation, each to its end, so a tick only ever
//! sees the order being played (ticks do not see orders created after their moment: the demo's current
//! orders are untouched). Masters are on shift for the history and get their demo shift back afterwards.
//! Everything ends two days before `now`, so nothing of it is still due or overdue.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rusqlite::params;

use crate::db::{Db, at, ms};
use crate::domain::{Category, CityId, DistrictId, MasterId, OrderId};
use crate::engine::{self, TickOptions};
use crate::error::{Error, Result};
use crate::money::commissions;
use crate::orders::{self, NewOrder};
use crate::staff::{self, Staff};
use crate::{offers, work};

/// How many days back the history starts.
pub const DAYS: i64 = 30;
/// The history stops this many days before `now`.
const QUIET_DAYS: i64 = 2;

/// What the history added.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct HistorySummary {
    /// Orders created.
    pub orders: usize,
    /// Of them closed (commission approved).
    pub closed: usize,
    /// Of them cancelled.
    pub canceled: usize,
    /// Offers sent to masters.
    pub offers: usize,
    /// Orders escalated to the dispatchers.
    pub escalated: usize,
}

/// Where an order can come from: a street of a district some master serves with a skill of his, or (now
/// and then) an order taken without a district.
#[derive(Debug, Clone)]
struct Place {
    city: CityId,
    district: Option<DistrictId>,
    street: Option<i64>,
    category: Category,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Job {
    /// A client calls: a new order at a place (an index into the places).
    Call(usize),
    /// A client calls back about a closed order: a guarantee visit.
    Guarantee(OrderId),
}

const CLIENTS: [&str; 12] = [
    "Анна Белова", "Игорь Сафонов", "Марина Котова", "Олег Дьяконов", "Светлана Руднева", "Павел Лазарев",
    "Елена Гущина", "Артём Захаров", "Наталья Одинцова", "Виктор Ганин", "Юлия Мельникова", "Денис Фролов",
];

const PROBLEMS: [(Category, &str); 6] = [
    (Category::Electrics, "Выбивает автомат при включении чайника, нужна проверка проводки"),
    (Category::Plumbing, "Течёт смеситель на кухне, капает под раковину"),
    (Category::Appliances, "Стиральная машина не сливает воду, ошибка на табло"),
    (Category::Windows, "Окно в спальне не закрывается, нужна регулировка фурнитуры"),
    (Category::Handyman, "Повесить полки и карниз в детской комнате"),
    (Category::Roadside, "Машина не заводится во дворе, нужен запуск от внешнего аккумулятора"),
];

const CANCEL_BEFORE: &str = "Клиент нашёл другого мастера и отменил заявку";
const CANCEL_AFTER: &str = "Клиент перенёс визит на неопределённый срок";
const NOBODY: &str = "Нет свободного мастера нужного профиля, клиент предупреждён";

struct History<'d> {
    db: &'d Db,
    rng: StdRng,
    places: Vec<Place>,
    logist: Staff,
    admin: Staff,
    summary: HistorySummary,
}

/// Plays the history into a database that holds the demo data set (see [`super::load`]).
pub fn load(db: &Db, now: DateTime<Utc>, seed: u64) -> Result<HistorySummary> {
    let shifts = db.write(|tx| {
        let saved: Vec<(MasterId, String, Option<i64>)> = tx
            .prepare("SELECT id, shift_status, break_until FROM masters")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        tx.execute("UPDATE masters SET shift_status = 'SHIFT_ON', is_on_shift = 1, break_until = NULL", [])?;
        Ok::<_, Error>(saved)
    })?;
    let (logist, admin, places) = db.read(|c| Ok::<_, Error>((staff_by_login(c, "logist")?, staff_by_login(c, "admin")?, places(c)?)))?;
    let mut history = History { db, rng: StdRng::seed_from_u64(seed), places, logist, admin, summary: HistorySummary::default() };
    let played = history.play(now);
    let quiet = now - Duration::days(QUIET_DAYS);
    db.write(|tx| {
        for (id, shift, break_until) in &shifts {
            tx.execute("UPDATE masters SET shift_status = ?2, is_on_shift = ?2 = 'SHIFT_ON', break_until = ?3 WHERE id = ?1", params![id, shift, break_until])?;
        }
        // What happened weeks ago was seen and handled then: no unread alert or notice, nothing left to push.
        tx.execute(
            "UPDATE staff_alert_recipients SET read_at = (SELECT created_at FROM staff_alerts a WHERE a.id = alert_id)
             WHERE read_at IS NULL AND alert_id IN (SELECT id FROM staff_alerts WHERE created_at < ?1)",
            [ms(quiet)],
        )?;
        tx.execute("UPDATE notifications_outbox SET read_at = created_at, processed_at = created_at WHERE created_at < ?1 AND read_at IS NULL", [ms(quiet)])?;
        Ok::<_, Error>(())
    })?;
    played?;
    Ok(history.summary)
}

fn staff_by_login(conn: &rusqlite::Connection, login: &str) -> Result<Staff> {
    let id = conn.query_row("SELECT id FROM staff_users WHERE login = ?1", [login], |r| r.get(0))?;
    staff::load_active(conn, id)?.ok_or(Error::NotFound { what: "staff" })
}

/// Every (street, district, category) some verified master serves, and Moscow's categories without a district.
fn places(conn: &rusqlite::Connection) -> Result<Vec<Place>> {
    let mut places: Vec<Place> = conn
        .prepare(
            "SELECT DISTINCT s.city_id, s.district_id, s.id, k.category
             FROM masters m JOIN master_districts d ON d.master_id = m.id JOIN master_skills k ON k.master_id = m.id
             JOIN streets s ON s.district_id = d.district_id
             WHERE m.verified = 1 AND m.is_blocked = 0 ORDER BY s.id, k.category",
        )?
        .query_map([], |r| Ok(Place { city: r.get(0)?, district: r.get(1)?, street: Some(r.get(2)?), category: r.get(3)? }))?
        .collect::<rusqlite::Result<_>>()?;
    let moscow: CityId = conn.query_row("SELECT id FROM cities WHERE name = 'Москва'", [], |r| r.get(0))?;
    for category in [Category::Electrics, Category::Plumbing] {
        places.push(Place { city: moscow, district: None, street: None, category });
    }
    Ok(places)
}

impl History<'_> {
    fn play(&mut self, now: DateTime<Utc>) -> Result<()> {
        let tz = chrono_tz::Europe::Moscow;
        let end = now - Duration::days(QUIET_DAYS);
        let mut jobs = BinaryHeap::new();
        let first_day = (now - Duration::days(DAYS)).with_timezone(&tz).date_naive();
        for day in 0..DAYS - QUIET_DAYS {
            let date = first_day + Duration::days(day);
            // Quieter at weekends, as service calls are.
            let calls = if chrono::Datelike::weekday(&date).number_from_monday() >= 6 { self.rng.random_range(5..9) } else { self.rng.random_range(9..15) };
            for _ in 0..calls {
                // 08:00–22:30 Moscow time: the late ones wait for the morning.
                let minute = self.rng.random_range(8 * 60..22 * 60 + 30);
                let local = date.and_time(NaiveTime::MIN) + Duration::minutes(minute) + Duration::seconds(self.rng.random_range(0..60));
                let Some(when) = local.and_local_timezone(tz).earliest() else { continue };
                let place = self.pick_place();
                jobs.push(Reverse((ms(when.with_timezone(&Utc)), Job::Call(place))));
            }
        }
        while let Some(Reverse((when, job))) = jobs.pop() {
            let when = at(when);
            let followed = match job {
                Job::Call(place) => self.call(when, place)?,
                Job::Guarantee(source) => self.guarantee(when, source)?,
            };
            // One closed order in twelve brings the client back within the week: a guarantee visit.
            if let Some((closed_at, order)) = followed {
                let back = closed_at + Duration::hours(self.rng.random_range(24..24 * 6));
                if matches!(job, Job::Call(_)) && back < end && self.rng.random_range(0..12) == 0 {
                    jobs.push(Reverse((ms(back), Job::Guarantee(order))));
                }
            }
        }
        Ok(())
    }

    /// Places weighted toward those with a district (most calls have an address the firm knows).
    fn pick_place(&mut self) -> usize {
        let with_district = self.places.iter().filter(|p| p.district.is_some()).count();
        if self.rng.random_range(0..25) == 0 || with_district == 0 {
            self.places.len() - 1 - self.rng.random_range(0..self.places.len() - with_district)
        } else {
            self.rng.random_range(0..with_district)
        }
    }

    /// A client's call at `when`: the order is taken and lives its life. Its close, if it closed.
    fn call(&mut self, when: DateTime<Utc>, place: usize) -> Result<Option<(DateTime<Utc>, OrderId)>> {
        let place = self.places[place].clone();
        let client = self.rng.random_range(0..40);
        let description = PROBLEMS.iter().find(|(c, _)| *c == place.category).map_or("Нужна консультация мастера на месте", |(_, d)| *d);
        let input = NewOrder {
            city_id: place.city,
            district_id: place.district,
            street_id: place.street,
            house: Some(format!("{}", self.rng.random_range(1..120))),
            apartment: Some(format!("{}", self.rng.random_range(1..300))),
            client_name: Some(CLIENTS[client % CLIENTS.len()].to_string()),
            // Forty clients share the calls: some of them call again, as real ones do.
            client_phone: format!("+7916{:07}", 4_100_000 + client * 7_919),
            category: Some(place.category),
            description: Some(description.to_string()),
            slot: Some("ASAP".into()),
            confirm_late: true,
            ..NewOrder::default()
        };
        let logist = self.logist.clone();
        let created = self.db.write(|tx| orders::create(tx, when, &logist, &input))?;
        self.summary.orders += 1;
        let start = created.deferred_until.map_or(when, |wake| wake + Duration::seconds(5));
        self.live(created.id, start)
    }

    /// A guarantee visit for the closed order `source`, asked for at `when`.
    fn guarantee(&mut self, when: DateTime<Utc>, source: OrderId) -> Result<Option<(DateTime<Utc>, OrderId)>> {
        let logist = self.logist.clone();
        let created = match self.db.write(|tx| orders::create_guarantee(tx, when, &logist, source)) {
            Ok(created) => created,
            // The rules may refuse (e.g. the warranty ran out): the client is told so.
            Err(_) => return Ok(None),
        };
        self.summary.orders += 1;
        self.live(created.id, when)
    }

    /// Searching from `t`: ticks, the masters' answers, escalation and staff by hand, then the job.
    fn live(&mut self, id: OrderId, mut t: DateTime<Utc>) -> Result<Option<(DateTime<Utc>, OrderId)>> {
        // How long the dispatcher takes to notice an escalation.
        let staff_delay = Duration::minutes(self.rng.random_range(3..18));
        let mut escalated_at = None;
        for _ in 0..40 {
            let report = engine::tick(self.db, t, TickOptions { seed: self.rng.random(), max_orders: 10 })?;
            if let Some(sent) = report.offers_sent.iter().find(|o| o.order_id == id).cloned() {
                self.summary.offers += 1;
                let roll = self.rng.random_range(0..100);
                if roll < 68 {
                    t += Duration::seconds(self.rng.random_range(8..100));
                    if self.db.write(|tx| offers::accept(tx, t, sent.master_id, sent.offer_id)).is_ok() {
                        return self.job(id, sent.master_id, t);
                    }
                    t = sent.expires_at + Duration::seconds(1);
                } else if roll < 83 {
                    t += Duration::seconds(self.rng.random_range(5..60));
                    self.db.write(|tx| offers::decline(tx, t, sent.master_id, sent.offer_id))?;
                } else {
                    // He let it lapse: the next tick after its end expires it.
                    t = sent.expires_at + Duration::seconds(1);
                }
                continue;
            }
            let order = self.db.read(|c| orders::load(c, id))?.ok_or(Error::NotFound { what: "order" })?;
            if !order.status.is_assignable() || order.assigned_master_id.is_some() {
                return Ok(None);
            }
            if order.dist_escalated_in_cycle {
                let since = *escalated_at.get_or_insert_with(|| {
                    self.summary.escalated += 1;
                    t
                });
                if t >= since + staff_delay {
                    return self.by_hand(id, t);
                }
                t = since + staff_delay;
                continue;
            }
            // Nobody fits right now: the next tick, until the grace runs out and it escalates.
            t += Duration::seconds(30);
        }
        self.by_hand(id, t)
    }

    /// A dispatcher handles an escalated order: assigns the first master the candidate list offers, or cancels.
    fn by_hand(&mut self, id: OrderId, t: DateTime<Utc>) -> Result<Option<(DateTime<Utc>, OrderId)>> {
        let logist = self.logist.clone();
        let cancel = self.rng.random_range(0..8) == 0;
        let assigned = self.db.write(|tx| {
            let candidates = engine::manual_candidates(tx, t, &logist, id)?;
            let pick = candidates.iter().find(|c| c.unavailable.is_empty()).or(candidates.first()).map(|c| c.master_id);
            match pick {
                Some(master) if !cancel => orders::assign_directly(tx, t, &logist, id, master, true).map(|()| Some(master)),
                Some(_) => orders::cancel(tx, t, &logist, id, CANCEL_BEFORE).map(|()| None),
                None => orders::cancel(tx, t, &logist, id, NOBODY).map(|()| None),
            }
        })?;
        match assigned {
            Some(master) => self.job(id, master, t),
            None => {
                self.summary.canceled += 1;
                Ok(None)
            }
        }
    }

    /// The master's job from `t`: en route, on site, the close, the commission paid and approved.
    fn job(&mut self, id: OrderId, master: MasterId, mut t: DateTime<Utc>) -> Result<Option<(DateTime<Utc>, OrderId)>> {
        if self.rng.random_range(0..25) == 0 {
            let logist = self.logist.clone();
            t += Duration::minutes(self.rng.random_range(10..60));
            self.db.write(|tx| orders::cancel(tx, t, &logist, id, CANCEL_AFTER))?;
            self.summary.canceled += 1;
            return Ok(None);
        }
        t += Duration::minutes(self.rng.random_range(5..40));
        self.db.write(|tx| work::en_route(tx, t, master, id))?;
        t += Duration::minutes(self.rng.random_range(15..70));
        self.db.write(|tx| work::on_site(tx, t, master, id))?;
        t += Duration::minutes(self.rng.random_range(30..150));
        let closed_at = t;
        // Most jobs are small; now and then a big one. Whole hundreds, as masters charge.
        let total = if self.rng.random_range(0..6) == 0 { self.rng.random_range(80..250) } else { self.rng.random_range(15..80) } * 10_000;
        let closed = self.db.write(|tx| {
            let order = orders::load(tx, id)?.ok_or(Error::NotFound { what: "order" })?;
            // A guarantee visit costs the client nothing.
            let total = if order.is_guarantee() { 0 } else { total };
            work::record_close(tx, t, &order, master, total, None, 0)
        })?;
        if let Some(commission) = closed.commission_id {
            t += Duration::minutes(self.rng.random_range(20..150));
            self.db.write(|tx| commissions::report_paid(tx, t, master, commission).map(drop))?;
            t += Duration::minutes(self.rng.random_range(30..360));
            let admin = self.admin.clone();
            self.db.write(|tx| commissions::approve(tx, t, &admin, commission, None).map(drop))?;
        }
        self.summary.closed += 1;
        Ok(Some((closed_at, id)))
    }
}
