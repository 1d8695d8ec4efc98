//! The commission watchdogs (product.md §4.5, decisions §B.16–§B.17): deadline reminders at the smallest
//! threshold reached, at most one per commission and threshold; and WAIT_PAY past its deadline becomes
//! OVERDUE with the master blocked for `commission_overdue` and one alert to the admins of the order's city.
//! REPORTED is never made overdue. Run by the jobs loop every minute with the clock's `now`.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};
use serde_json::json;

use crate::alerts;
use crate::db::ms;
use crate::events;
use crate::notifications;

/// Reminder thresholds, hours before the deadline.
pub const THRESHOLDS: [i64; 3] = [1, 6, 24];

/// The block reason of an overdue commission (the auto-lift of decisions D-21 looks for it).
pub const OVERDUE_REASON: &str = "commission_overdue";

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Watch {
    /// Reminders sent: (commission, hours before).
    pub reminded: Vec<(i64, i64)>,
    /// Commissions made OVERDUE.
    pub overdue: Vec<i64>,
}

/// Sends due reminders, then makes past-deadline WAIT_PAY commissions OVERDUE and blocks their masters.
pub fn run(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Watch> {
    let reminded = remind(conn, now)?;
    let overdue = overdue(conn, now)?;
    Ok(Watch { reminded, overdue })
}

fn remind(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<(i64, i64)>> {
    let horizon = now + Duration::hours(THRESHOLDS[THRESHOLDS.len() - 1]);
    let due: Vec<(i64, i64, i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, master_id, order_id, amount_kop, deadline_at FROM commissions
             WHERE status = 'WAIT_PAY' AND deadline_at > ?1 AND deadline_at <= ?2",
        )?
        .query_map(params![ms(now), ms(horizon)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut sent = Vec::new();
    for (id, master, order, amount, deadline) in due {
        let left = deadline - ms(now);
        // Only the smallest threshold reached (B-16): 3 h before the deadline gives the 6 h one, not 24 h too.
        let Some(hours) = THRESHOLDS.iter().copied().find(|h| left <= h * 3_600_000) else { continue };
        let fresh = conn
            .prepare_cached("INSERT OR IGNORE INTO commission_deadline_notifications (commission_id, hours_before, sent_at) VALUES (?1, ?2, ?3)")?
            .execute(params![id, hours, ms(now)])?;
        if fresh == 1 {
            notifications::push(conn, now, master, "commission_reminder", &json!({"commission_id": id, "order_id": order, "amount_kop": amount, "hours": hours}))?;
            sent.push((id, hours));
        }
    }
    Ok(sent)
}

/// A commission turning OVERDUE, with what its staff alert says.
struct Late {
    id: i64,
    master: i64,
    order: i64,
    city: i64,
    master_name: String,
    amount_kop: i64,
}

fn overdue(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<i64>> {
    let late: Vec<Late> = conn
        .prepare_cached(
            "SELECT c.id, c.master_id, c.order_id, o.city_id, m.full_name, c.amount_kop
             FROM commissions c JOIN orders o ON o.id = c.order_id JOIN masters m ON m.id = c.master_id
             WHERE c.status = 'WAIT_PAY' AND c.deadline_at < ?1 AND c.blocked_applied = 0",
        )?
        .query_map([ms(now)], |r| Ok(Late { id: r.get(0)?, master: r.get(1)?, order: r.get(2)?, city: r.get(3)?, master_name: r.get(4)?, amount_kop: r.get(5)? }))?
        .collect::<rusqlite::Result<_>>()?;
    for Late { id, master, order, city, master_name, amount_kop } in &late {
        conn.execute(
            "UPDATE commissions SET status = 'OVERDUE', blocked_applied = 1, blocked_at = ?2, updated_at = ?2 WHERE id = ?1",
            params![id, ms(now)],
        )?;
        // A master blocked already (for this or another reason) keeps his block and its reason.
        let blocked = conn.execute(
            "UPDATE masters SET is_blocked = 1, is_active = 0, blocked_at = ?2, blocked_reason = ?3,
                 shift_status = 'SHIFT_OFF', is_on_shift = 0, break_until = NULL, updated_at = ?2
             WHERE id = ?1 AND is_blocked = 0",
            params![master, ms(now), OVERDUE_REASON],
        )?;
        events::record(conn, now, Some(*order), "system", "commission_overdue", json!({"commission_id": id, "master_id": master, "from": "WAIT_PAY", "to": "OVERDUE", "blocked": blocked == 1}))?;
        if blocked == 1 {
            let reason = format!("Просрочка комиссии #{id} по заказу #{order}");
            notifications::push(conn, now, *master, "account_blocked", &json!({"reason": reason, "commission_id": id, "order_id": order}))?;
        }
        // The admins of the order's city (finance is theirs, decisions §B.20); once, as the status changes once.
        let payload = json!({"commission_id": id, "master_id": master, "master_name": master_name, "amount_kop": amount_kop, "blocked": blocked == 1});
        alerts::raise(conn, now, "commission_overdue", Some(*order), Some(*city), &payload, &alerts::admin_recipients(conn, *city)?)?;
    }
    Ok(late.into_iter().map(|l| l.id).collect())
}

/// Decisions D-21: after an approval, lifts the block of a master blocked for `commission_overdue` once
/// none of his commissions is OVERDUE any more (and tells him). Any other block stays. Returns whether
/// it lifted one.
pub fn lift_if_paid(conn: &Connection, now: DateTime<Utc>, master: i64) -> rusqlite::Result<bool> {
    let lifted = conn.execute(
        "UPDATE masters SET is_blocked = 0, blocked_at = NULL, blocked_reason = NULL,
             is_active = (verified = 1 AND moderation_status = 'APPROVED'), updated_at = ?2
         WHERE id = ?1 AND is_blocked = 1 AND blocked_reason = ?3
           AND NOT EXISTS (SELECT 1 FROM commissions WHERE master_id = ?1 AND status = 'OVERDUE')",
        params![master, ms(now), OVERDUE_REASON],
    )?;
    if lifted == 1 {
        events::record(conn, now, None, "system", "commission_block_lifted", json!({"master_id": master}))?;
        notifications::push(conn, now, master, "account_unblocked", &json!({}))?;
    }
    Ok(lifted == 1)
}
