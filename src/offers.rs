//! Offers: what happens when an order is offered to a master, and when he opens, accepts or declines it
//! (distribution.md §8, decisions D-8, D-9, D-19), plus the staff manual offer (§9.2).
//!
//! Accept is the contended path: many masters may press "accept" at once. It runs as one short
//! `BEGIN IMMEDIATE` transaction whose compare-and-set on the order (unassigned, same status, same version)
//! picks exactly one winner; the partial unique index on ACCEPTED offers backs it up. Losers get
//! [`Error::OfferTaken`] at once. [`accept_now`] first answers obvious losers from a read connection, so
//! they do not queue for the writer at all.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::db::{Db, at, ms};
use crate::domain::{MasterId, OfferId, OfferState, OrderId, OrderStatus};
use crate::engine::candidates;
use crate::engine::escalation;
use crate::error::{Error, Result};
use crate::events;
use crate::metrics;
use crate::notifications;
use crate::orders::{self, Actor, Order};
use crate::settings::Settings;
use crate::staff::Staff;

/// An offer row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Offer {
    /// Id.
    pub id: OfferId,
    /// Order.
    pub order_id: OrderId,
    /// Master.
    pub master_id: MasterId,
    /// Distribution cycle it belongs to.
    pub dist_cycle: i64,
    /// Round.
    pub round_number: i64,
    /// State.
    pub state: OfferState,
    /// Sent.
    pub sent_at: DateTime<Utc>,
    /// Live until (exclusive).
    pub expires_at: DateTime<Utc>,
    /// Answered, expired or cancelled.
    pub responded_at: Option<DateTime<Utc>>,
}

impl Offer {
    /// Open and not yet expired: the one liveness rule everywhere (decisions D-8).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state.is_open() && now < self.expires_at
    }
}

const OFFER_COLUMNS: &str = "id, order_id, master_id, dist_cycle, round_number, state, sent_at, expires_at, responded_at";

fn offer_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Offer> {
    Ok(Offer {
        id: row.get(0)?,
        order_id: row.get(1)?,
        master_id: row.get(2)?,
        dist_cycle: row.get(3)?,
        round_number: row.get(4)?,
        state: row.get(5)?,
        sent_at: at(row.get(6)?),
        expires_at: at(row.get(7)?),
        responded_at: row.get::<_, Option<i64>>(8)?.map(at),
    })
}

/// All offers of an order, oldest first.
pub fn of_order(conn: &Connection, order: OrderId) -> rusqlite::Result<Vec<Offer>> {
    let sql = format!("SELECT {OFFER_COLUMNS} FROM offers WHERE order_id = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([order], offer_row)?;
    rows.collect()
}

fn load_of_master(conn: &Connection, master: MasterId, offer: OfferId) -> Result<Offer> {
    let sql = format!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = ?1 AND master_id = ?2");
    conn.prepare_cached(&sql)?
        .query_row(params![offer, master], offer_row)
        .optional()?
        .ok_or(Error::NotFound { what: "offer" })
}

/// Creates an offer of `order` to `master` in round `round`, live for the SLA, and puts a `new_offer`
/// notification in his feed. `Error::OfferConflict` when he already holds an open or accepted offer for it.
pub fn send(
    conn: &Connection,
    now: DateTime<Utc>,
    sla_seconds: i64,
    order: &Order,
    master: MasterId,
    round: i64,
    staff: Option<i64>,
) -> Result<Offer> {
    let expires_at = now + Duration::seconds(sla_seconds);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO offers (order_id, master_id, dist_cycle, round_number, state, sent_at, expires_at, sent_by_staff_id, created_at)
             VALUES (?1, ?2, ?3, ?4, 'SENT', ?5, ?6, ?7, ?5)",
        )?
        .execute(params![order.id, master, order.dist_cycle, round, ms(now), ms(expires_at), staff]);
    match inserted {
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            return Err(Error::OfferConflict);
        }
        other => other?,
    };
    let offer = Offer {
        id: conn.last_insert_rowid(),
        order_id: order.id,
        master_id: master,
        dist_cycle: order.dist_cycle,
        round_number: round,
        state: OfferState::Sent,
        sent_at: now,
        expires_at,
        responded_at: None,
    };
    let mut payload = orders::summary(conn, order.id)?;
    payload.insert("offer_id".into(), offer.id.into());
    payload.insert("expires_at".into(), ms(expires_at).into());
    let payload = serde_json::Value::Object(payload);
    notifications::push(conn, now, master, "new_offer", &payload)?;
    Ok(offer)
}

/// A won accept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The order now ASSIGNED to the master.
    pub order_id: OrderId,
    /// The ACCEPTED offer.
    pub offer_id: OfferId,
    /// The winner.
    pub master_id: MasterId,
}

/// Every refusal of §8.4 in its order, read without writing: blocked, limit, the offer's state, its
/// expiry, the order already taken. Returns the offer and order when the accept may proceed.
fn check_accept(conn: &Connection, now: DateTime<Utc>, master: MasterId, offer_id: OfferId) -> Result<(Offer, Order)> {
    let global_limit: i64 = conn
        .prepare_cached("SELECT value FROM settings WHERE key = 'max_active_orders'")?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(Settings::default().max_active_orders);
    let me = conn
        .prepare_cached(concat!(
            "SELECT m.is_blocked, m.blocked_reason, m.is_deleted, m.is_active, ",
            candidates::load_and_limit_sql!(),
            " FROM masters m WHERE m.id = ?1"
        ))?
        .query_row(params![master, global_limit], |r| {
            Ok((r.get::<_, bool>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, bool>(2)?, r.get::<_, bool>(3)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?))
        })
        .optional()?;
    let (blocked, reason, deleted, active, load, limit) = me.ok_or(Error::NotFound { what: "master" })?;
    if blocked {
        return Err(Error::MasterBlocked { reason: reason.unwrap_or_default() });
    }
    if deleted || !active {
        return Err(Error::MasterInactive);
    }
    if load >= limit {
        return Err(Error::LimitReached { active: load, limit });
    }
    let offer = load_of_master(conn, master, offer_id)?;
    match offer.state {
        OfferState::Expired => return Err(Error::OfferExpired),
        OfferState::Declined => return Err(Error::OfferDeclined),
        OfferState::Accepted => return Err(Error::OfferAccepted),
        OfferState::Canceled => return Err(Error::OfferTaken),
        OfferState::Sent | OfferState::Viewed => {}
    }
    if now >= offer.expires_at {
        return Err(Error::OfferExpired);
    }
    let order = orders::load(conn, offer.order_id)?.ok_or(Error::NotFound { what: "order" })?;
    if order.assigned_master_id.is_some() || !order.status.is_assignable() {
        return Err(Error::OfferTaken);
    }
    Ok((offer, order))
}

/// The order of a live offer whose order is still free, in one small read; anything else gets the full
/// [`check_accept`] for its precise refusal.
fn quick_check(conn: &Connection, now: DateTime<Utc>, master: MasterId, offer_id: OfferId) -> Result<OrderId> {
    let row: Option<(OrderId, OfferState, i64, bool)> = conn
        .prepare_cached(
            "SELECT f.order_id, f.state, f.expires_at, o.assigned_master_id IS NULL
             FROM offers f JOIN orders o ON o.id = f.order_id WHERE f.id = ?1 AND f.master_id = ?2",
        )?
        .query_row(params![offer_id, master], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    match row {
        Some((order, state, expires_at, free)) if state.is_open() && ms(now) < expires_at && free => Ok(order),
        _ => check_accept(conn, now, master, offer_id).map(|(_, order)| order.id),
    }
}

/// The master accepts his offer (distribution.md §8.4): the order becomes ASSIGNED to him, his offer
/// ACCEPTED, every other open offer CANCELED, one history row, one metrics row. Run it in a write
/// transaction; a losing caller gets `Error::OfferTaken` and nothing changes.
pub fn accept(conn: &Connection, now: DateTime<Utc>, master: MasterId, offer_id: OfferId) -> Result<Accepted> {
    let (offer, order) = check_accept(conn, now, master, offer_id)?;
    let won = conn
        .prepare_cached(
            "UPDATE orders SET status = 'ASSIGNED', assigned_master_id = ?2, version = version + 1, updated_at = ?3
             WHERE id = ?1 AND assigned_master_id IS NULL AND status = ?4 AND version = ?5",
        )?
        .execute(params![order.id, master, ms(now), order.status, order.version])?;
    if won == 0 {
        return Err(Error::OfferTaken);
    }
    conn.prepare_cached("UPDATE offers SET state = 'ACCEPTED', responded_at = ?2 WHERE id = ?1")?
        .execute(params![offer.id, ms(now)])?;
    orders::cancel_offers(conn, now, order.id, false)?;
    let context = json!({"master_id": master, "action": "offer_accepted", "method": "atomic_accept", "offer_id": offer.id});
    orders::record_history(conn, now, order.id, Some(order.status), OrderStatus::Assigned, "accepted_by_master", Actor::Master(master), &context)?;
    metrics::record_assignment(conn, now, &order, master, metrics::Via::MasterAccept, None);
    Ok(Accepted { order_id: order.id, offer_id: offer.id, master_id: master })
}

/// Accept as the API and pages call it: a read-only check answers a refused accept (most often "already
/// taken") without waiting for the writer; otherwise [`accept`] runs in its own write transaction, which
/// checks everything again.
///
/// Within this process at most one accept per order runs at a time: while one is in flight the others
/// wait for it, and when it wins they are told "already taken" at once, without queueing for the writer.
pub fn accept_now(db: &Db, now: DateTime<Utc>, master: MasterId, offer: OfferId) -> Result<Accepted> {
    accept_now_then(db, now, master, offer, |_, accepted| Ok(accepted))
}

/// [`accept_now`], with `answer` reading what the winner is shown inside the accept's own transaction:
/// the writer's cache is warm there, while a read connection would re-read the pages the accept just wrote.
pub fn accept_now_then<T>(
    db: &Db,
    now: DateTime<Utc>,
    master: MasterId,
    offer: OfferId,
    answer: impl FnOnce(&Connection, Accepted) -> Result<T> + Send + 'static,
) -> Result<T>
where
    T: Send + 'static,
{
    let claim = loop {
        let order = db.read(|conn| quick_check(conn, now, master, offer))?;
        match claims::begin(db.path(), order) {
            claims::Turn::Lead(claim) => break claim,
            claims::Turn::Follow(claim) => {
                if claim.wait_won() {
                    return Err(Error::OfferTaken);
                }
            }
        }
    };
    // Accepts of different orders commit together (one fsync for all that arrive during a commit).
    let result = db.write_grouped(move |tx| answer(tx, accept(tx, now, master, offer)?));
    claim.finish(result.is_ok());
    result
}

/// The accepts in flight in this process, one leader per (database, order).
mod claims {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Condvar, Mutex, OnceLock};

    use crate::domain::OrderId;

    type Key = (PathBuf, OrderId);

    /// One accept in flight; `None` until it ends, then whether it won.
    #[derive(Default)]
    pub struct Claim {
        outcome: Mutex<Option<bool>>,
        ended: Condvar,
    }

    impl Claim {
        /// Waits for the leader; true when it won the order.
        pub fn wait_won(&self) -> bool {
            let mut outcome = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
            while outcome.is_none() {
                outcome = self.ended.wait(outcome).unwrap_or_else(|p| p.into_inner());
            }
            outcome.unwrap_or(false)
        }
    }

    /// The leader's handle: ends the claim when finished (or dropped by a panic, as lost).
    pub struct Lead {
        key: Key,
        claim: Arc<Claim>,
        won: bool,
    }

    impl Lead {
        /// Ends the claim with its outcome.
        pub fn finish(mut self, won: bool) {
            self.won = won;
        }
    }

    impl Drop for Lead {
        fn drop(&mut self) {
            inflight().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
            *self.claim.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.won);
            self.claim.ended.notify_all();
        }
    }

    /// Whether this caller leads the accept for the order or follows one in flight.
    pub enum Turn {
        /// No accept in flight: go ahead.
        Lead(Lead),
        /// Another accept is in flight: wait for it.
        Follow(Arc<Claim>),
    }

    fn inflight() -> &'static Mutex<HashMap<Key, Arc<Claim>>> {
        static INFLIGHT: OnceLock<Mutex<HashMap<Key, Arc<Claim>>>> = OnceLock::new();
        INFLIGHT.get_or_init(Default::default)
    }

    /// Joins the accepts for `order` in the database at `db`.
    pub fn begin(db: &Path, order: OrderId) -> Turn {
        let key = (db.to_path_buf(), order);
        let mut map = inflight().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(claim) = map.get(&key) {
            return Turn::Follow(Arc::clone(claim));
        }
        let claim = Arc::new(Claim::default());
        map.insert(key.clone(), Arc::clone(&claim));
        Turn::Lead(Lead { key, claim, won: false })
    }
}

/// The master opens the offer card: SENT becomes VIEWED, which is otherwise treated exactly like SENT
/// (decisions D-9). Opening an offer that is no longer live answers why.
pub fn view(conn: &Connection, now: DateTime<Utc>, master: MasterId, offer_id: OfferId) -> Result<Offer> {
    let mut offer = load_of_master(conn, master, offer_id)?;
    if !offer.is_live(now) {
        return Err(match offer.state {
            OfferState::Declined => Error::OfferDeclined,
            OfferState::Accepted => Error::OfferAccepted,
            OfferState::Canceled => Error::OfferTaken,
            _ => Error::OfferExpired,
        });
    }
    if offer.state == OfferState::Sent {
        conn.prepare_cached("UPDATE offers SET state = 'VIEWED', viewed_at = ?2 WHERE id = ?1 AND state = 'SENT'")?
            .execute(params![offer.id, ms(now)])?;
        offer.state = OfferState::Viewed;
    }
    Ok(offer)
}

/// The master declines his live offer (§8.5, restricted rule): it becomes DECLINED and the next tick goes
/// on without him. A preferred master refusing a guarantee order alerts staff (decisions D-3).
pub fn decline(conn: &Connection, now: DateTime<Utc>, master: MasterId, offer_id: OfferId) -> Result<()> {
    let offer = load_of_master(conn, master, offer_id)?;
    if !offer.is_live(now) {
        return Err(Error::OfferNotOpen);
    }
    conn.prepare_cached("UPDATE offers SET state = 'DECLINED', responded_at = ?2 WHERE id = ?1")?
        .execute(params![offer.id, ms(now)])?;
    events::record(conn, now, Some(offer.order_id), "master", "offer_declined", json!({"master_id": master, "offer_id": offer.id, "round": offer.round_number}))?;
    on_refusal(conn, now, &offer, "declined")?;
    Ok(())
}

/// Moves every open offer whose time is up to EXPIRED (decisions D-8) and handles guarantee refusals;
/// returns the expired offers.
pub fn expire_due(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<Offer>> {
    let sql = format!(
        "UPDATE offers SET state = 'EXPIRED', responded_at = ?1
         WHERE state IN ('SENT', 'VIEWED') AND expires_at <= ?1 RETURNING {OFFER_COLUMNS}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let expired: Vec<Offer> = stmt.query_map([ms(now)], offer_row)?.collect::<rusqlite::Result<_>>()?;
    for offer in &expired {
        events::record(conn, now, Some(offer.order_id), "engine", "offer_expired", json!({"master_id": offer.master_id, "offer_id": offer.id, "round": offer.round_number}))?;
        on_refusal(conn, now, offer, "expired")?;
    }
    Ok(expired)
}

/// A preferred master declined or let a guarantee offer lapse: staff get an alert, and with the setting
/// `guarantee_autoblock_on_refusal` on he is blocked (decisions D-3).
fn on_refusal(conn: &Connection, now: DateTime<Utc>, offer: &Offer, how: &str) -> Result<()> {
    let Some(order) = orders::load(conn, offer.order_id)? else { return Ok(()) };
    if !order.is_guarantee() || order.preferred_master_id != Some(offer.master_id) {
        return Ok(());
    }
    let settings = Settings::load(conn)?;
    let blocked = settings.guarantee_autoblock_on_refusal
        && conn.execute(
            "UPDATE masters SET is_blocked = 1, is_active = 0, blocked_at = ?2, blocked_reason = 'guarantee_refusal', updated_at = ?2
             WHERE id = ?1 AND is_blocked = 0",
            params![offer.master_id, ms(now)],
        )? == 1;
    if blocked {
        notifications::push(conn, now, offer.master_id, "account_blocked", &json!({"reason": "guarantee_refusal", "order_id": order.id}))?;
    }
    let payload = json!({"order_id": order.id, "master_id": offer.master_id, "how": how, "blocked": blocked});
    let recipients = crate::alerts::logist_recipients(conn, order.city_id)?;
    crate::alerts::raise(conn, now, "guarantee_refusal", Some(order.id), Some(order.city_id), &payload, &recipients)?;
    events::record(conn, now, Some(order.id), "engine", "guarantee_refusal", payload)?;
    Ok(())
}

/// The next round number of an order in its current cycle (manual offers count as rounds too).
pub fn next_round(conn: &Connection, order: &Order) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(round_number), 0) + 1 FROM offers WHERE order_id = ?1 AND dist_cycle = ?2")?
        .query_row(params![order.id, order.dist_cycle], |r| r.get(0))
}

/// Staff send an offer to a master of their choice (distribution.md §9.2, decisions D-5, D-16). The master
/// must fit the order (city, activity, verification, district, skill); when he is off shift, on a break or
/// at his limit staff must confirm with `force`. A DEFERRED order starts searching first (S6). Re-offering
/// after a decline or expiry is allowed; an open or accepted offer to him is `Error::OfferConflict`.
pub fn manual_offer(
    conn: &Connection,
    now: DateTime<Utc>,
    staff: &Staff,
    order_id: OrderId,
    master: MasterId,
    force: bool,
) -> Result<Offer> {
    let mut order = orders::load_for_staff(conn, staff, order_id)?;
    if order.assigned_master_id.is_some() {
        return Err(Error::AlreadyAssigned);
    }
    if !matches!(order.status, OrderStatus::Searching | OrderStatus::Guarantee | OrderStatus::Deferred) {
        return Err(Error::WrongStatus { status: order.status });
    }
    let settings = Settings::load(conn)?;
    let snapshot = candidates::master(conn, master, now, &settings)?.ok_or(Error::NotFound { what: "master" })?;
    let need = candidates::staff_need_of(conn, &order, now, &settings)?;
    orders::check_staff_pick(&candidates::diagnose(&snapshot, &need, now), force)?;
    if order.status == OrderStatus::Deferred {
        orders::wake(conn, now, &order, "manual_offer_on_deferred", Actor::Staff(staff.id))?;
        order = orders::load(conn, order_id)?.ok_or(Error::NotFound { what: "order" })?;
    }
    escalation::deescalate(conn, now, &order, "staff")?;
    let round = next_round(conn, &order)?;
    let offer = send(conn, now, settings.distribution_sla_seconds, &order, master, round, Some(staff.id))?;
    events::record(conn, now, Some(order_id), "staff", "offer_sent", json!({"staff_id": staff.id, "master_id": master, "offer_id": offer.id, "round": round, "forced": force, "until": offer.expires_at}))?;
    Ok(offer)
}

/// The master's live offers, newest first; offers of DEFERRED orders are hidden (distribution.md §8.3).
pub fn live_for_master(conn: &Connection, now: DateTime<Utc>, master: MasterId) -> rusqlite::Result<Vec<Offer>> {
    let sql = format!(
        "SELECT {} FROM offers f JOIN orders o ON o.id = f.order_id
         WHERE f.master_id = ?1 AND f.state IN ('SENT', 'VIEWED') AND f.expires_at > ?2 AND o.status <> 'DEFERRED'
         ORDER BY f.sent_at DESC, f.order_id DESC",
        OFFER_COLUMNS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![master, ms(now)], offer_row)?;
    rows.collect()
}
