//! Commissions: created when a master closes a normal order, approved by staff (product.md §4.1, §4.2),
//! with referral rewards on approval (decisions §B.3, §B.5).

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::db::ms;
use crate::domain::{OrderId, OrderStatus};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::orders::{self, Actor};
use crate::settings::Settings;
use crate::staff::Staff;

/// `amount × percent / 100`, rounded half-up to a kopeck.
pub fn percent_of(amount_kop: i64, percent: i64) -> i64 {
    (amount_kop * percent + 50) / 100
}

/// Creates the commission of a closed normal order (idempotent: an existing one is returned). The rate is
/// the high rate when the master's weekly average check (CLOSED orders created in the last 7 days) reaches
/// the threshold.
pub fn create_commission(conn: &Connection, now: DateTime<Utc>, order_id: OrderId) -> Result<i64> {
    if let Some(id) = conn.query_row("SELECT id FROM commissions WHERE order_id = ?1", [order_id], |r| r.get(0)).optional()? {
        return Ok(id);
    }
    let order = orders::load(conn, order_id)?.ok_or(Error::NotFound { what: "order" })?;
    if order.is_guarantee() {
        return Err(Error::WrongStatus { status: order.status });
    }
    let master = order.assigned_master_id.ok_or(Error::NotFound { what: "master" })?;
    let settings = Settings::load(conn)?;
    let avg_week: i64 = conn.query_row(
        "SELECT CAST(ROUND(COALESCE(AVG(total_sum_kop), 0)) AS INTEGER) FROM orders
         WHERE assigned_master_id = ?1 AND status = 'CLOSED' AND created_at >= ?2",
        params![master, ms(now - Duration::days(7))],
        |r| r.get(0),
    )?;
    let rate = if avg_week >= settings.commission_high_threshold_kop { settings.commission_high_rate_percent } else { settings.commission_rate_percent };
    let amount = percent_of(order.total_sum_kop, rate);
    let deadline = now + Duration::hours(settings.commission_deadline_hours);
    conn.execute(
        "INSERT INTO commissions (order_id, master_id, amount_kop, rate_percent, status, deadline_at, pay_to_snapshot, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'WAIT_PAY', ?5, ?6, ?7, ?7)",
        params![order_id, master, amount, rate, ms(deadline), json!({"comment": format!("Комиссия #{order_id}")}).to_string(), ms(now)],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Staff approve a commission with the amount actually paid: it becomes APPROVED, the order CLOSED, and
/// the referrers of the master earn 10 % (level 1) and 5 % (level 2) of the paid amount, once each.
pub fn approve(conn: &Connection, now: DateTime<Utc>, staff: &Staff, commission_id: i64, paid_kop: i64) -> Result<()> {
    let row: Option<(OrderId, i64, String)> = conn
        .query_row("SELECT order_id, master_id, status FROM commissions WHERE id = ?1", [commission_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (order_id, master, status) = row.ok_or(Error::NotFound { what: "commission" })?;
    let order = orders::load_for_staff(conn, staff, order_id).map_err(|_| Error::NotFound { what: "commission" })?;
    if status == "APPROVED" {
        return Ok(());
    }
    if order.status == OrderStatus::Canceled {
        return Err(Error::WrongStatus { status: order.status });
    }
    if paid_kop < 0 {
        return Err(invalid("paid_amount", "amount"));
    }
    conn.execute(
        "UPDATE commissions SET status = 'APPROVED', is_paid = 1, paid_amount_kop = ?2, paid_approved_at = ?3,
             approved_by_staff_id = ?4, rejection_reason = NULL, updated_at = ?3 WHERE id = ?1",
        params![commission_id, paid_kop, ms(now), staff.id],
    )?;
    if order.status != OrderStatus::Closed {
        orders::transition(conn, now, &order, OrderStatus::Closed, "commission_paid", Actor::Staff(staff.id), &json!({"commission_id": commission_id}))?;
        conn.execute("UPDATE orders SET closed_at = ?2 WHERE id = ?1", params![order_id, ms(now)])?;
    }
    let level1: Option<i64> = conn.query_row("SELECT referrer_id FROM referrals WHERE master_id = ?1", [master], |r| r.get(0)).optional()?;
    let level2: Option<i64> = match level1 {
        Some(l1) => conn.query_row("SELECT referrer_id FROM referrals WHERE master_id = ?1", [l1], |r| r.get(0)).optional()?,
        None => None,
    };
    for (level, referrer, percent) in [(1, level1, 10), (2, level2.filter(|l2| Some(*l2) != level1 && *l2 != master), 5)] {
        let amount = percent_of(paid_kop, percent);
        if let (Some(referrer), true) = (referrer, amount > 0) {
            conn.execute(
                "INSERT OR IGNORE INTO referral_rewards (referrer_id, referred_master_id, commission_id, level, percent, amount_kop, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![referrer, master, commission_id, level, percent, amount, ms(now)],
            )?;
        }
    }
    events::record(conn, now, Some(order_id), "staff", "commission_approved", json!({"staff_id": staff.id, "commission_id": commission_id, "paid_kop": paid_kop}))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentages_round_half_up_to_a_kopeck() {
        assert_eq!(super::percent_of(300_000, 50), 150_000);
        assert_eq!(super::percent_of(400_000, 40), 160_000);
        assert_eq!(super::percent_of(1_005, 10), 101);
        assert_eq!(super::percent_of(1_004, 10), 100);
    }
}
