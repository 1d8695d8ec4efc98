//! Escalation to a logist and then to an admin, and de-escalation (distribution.md §5.7, decisions D-10).
//! Escalation never changes an order's status; the alert goes to the staff feed of the order's city.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::{Value, json};

use crate::alerts;
use crate::db::ms;
use crate::domain::OrderId;
use crate::events::{self, Event};
use crate::orders::{self, Actor, Order, record_history};

/// The particulars of an escalation alert: what a dispatcher needs to act without opening the card.
fn alert_payload(conn: &Connection, order: OrderId, reason: &str) -> rusqlite::Result<Value> {
    let mut fields = orders::summary(conn, order)?;
    fields.insert("reason".into(), reason.into());
    Ok(Value::Object(fields))
}

/// Escalates to the logists unless already escalated (the first timestamp is kept, never moved forward);
/// notifies them at most once per escalation. Returns the event when this call escalated.
pub fn ensure_logist(conn: &Connection, now: DateTime<Utc>, order: &Order, reason: &str) -> rusqlite::Result<Option<Event>> {
    if order.escalated_logist_at.is_some() {
        return Ok(None);
    }
    conn.prepare_cached(
        "UPDATE orders SET dist_escalated_logist_at = ?2, dist_escalated_admin_at = NULL, dist_escalated_in_cycle = 1,
             dist_escalation_reason = ?3
         WHERE id = ?1",
    )?
    .execute(params![order.id, ms(now), reason])?;
    record_history(conn, now, order.id, Some(order.status), order.status, "distribution_escalate_logist", Actor::System, &json!({"reason": reason}))?;
    let mut notified = false;
    if order.logist_notified_at.is_none() {
        let recipients = alerts::logist_recipients(conn, order.city_id)?;
        alerts::raise(conn, now, "escalation_logist", Some(order.id), Some(order.city_id), &alert_payload(conn, order.id, reason)?, &recipients)?;
        conn.prepare_cached("UPDATE orders SET escalation_logist_notified_at = ?2 WHERE id = ?1")?.execute(params![order.id, ms(now)])?;
        notified = true;
    }
    events::record(conn, now, Some(order.id), "engine", "escalation_logist", json!({"reason": reason, "notified": notified})).map(Some)
}

/// Escalates a logist-escalated order to the admins once `admin_delay_min` minutes have passed since the
/// logist escalation (boundary inclusive). Returns the event when this call escalated.
pub fn check_admin(conn: &Connection, now: DateTime<Utc>, order: &Order, admin_delay_min: i64) -> rusqlite::Result<Option<Event>> {
    let Some(logist_at) = order.escalated_logist_at else { return Ok(None) };
    if order.escalated_admin_at.is_some() || now - logist_at < chrono::Duration::minutes(admin_delay_min) {
        return Ok(None);
    }
    conn.prepare_cached("UPDATE orders SET dist_escalated_admin_at = ?2 WHERE id = ?1 AND dist_escalated_admin_at IS NULL")?
        .execute(params![order.id, ms(now)])?;
    let mut notified = false;
    if order.admin_notified_at.is_none() {
        let reason = "admin_delay";
        let recipients = alerts::admin_recipients(conn, order.city_id)?;
        alerts::raise(conn, now, "escalation_admin", Some(order.id), Some(order.city_id), &alert_payload(conn, order.id, reason)?, &recipients)?;
        conn.prepare_cached("UPDATE orders SET escalation_admin_notified_at = ?2 WHERE id = ?1")?.execute(params![order.id, ms(now)])?;
        notified = true;
    }
    events::record(conn, now, Some(order.id), "engine", "escalation_admin", json!({"since_logist_min": (now - logist_at).num_minutes(), "notified": notified}))
        .map(Some)
}

/// Clears all four escalation fields when either timestamp is set, leaving an audit row; a later
/// re-escalation notifies again. Returns the event when something was cleared.
pub fn deescalate(conn: &Connection, now: DateTime<Utc>, order: &Order, source: &'static str) -> rusqlite::Result<Option<Event>> {
    if !order.is_escalated() {
        return Ok(None);
    }
    conn.prepare_cached(
        "UPDATE orders SET dist_escalated_logist_at = NULL, dist_escalated_admin_at = NULL, dist_escalation_reason = NULL,
             escalation_logist_notified_at = NULL, escalation_admin_notified_at = NULL
         WHERE id = ?1",
    )?
    .execute([order.id])?;
    record_history(conn, now, order.id, Some(order.status), order.status, "distribution_deescalate", Actor::System, &json!({}))?;
    events::record(conn, now, Some(order.id), source, "escalation_reset", json!({})).map(Some)
}
