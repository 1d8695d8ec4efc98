//! The master's notifications: an in-app feed that is also the outbox of an optional push channel
//! (distribution.md §13.3).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::db::ms;
use crate::domain::MasterId;

/// Attempts after which an undeliverable notification is given up (it stays in the in-app feed).
pub const MAX_ATTEMPTS: i64 = 5;
/// Notifications handed to the channel per run.
pub const BATCH: i64 = 50;

/// Queues a notification for a master.
pub fn push(conn: &Connection, now: DateTime<Utc>, master: MasterId, event: &str, payload: &Value) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO notifications_outbox (master_id, event, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![master, event, payload.to_string(), ms(now)])?;
    Ok(conn.last_insert_rowid())
}

/// A push channel (web push, SMS gateway …) that delivers one notification or says why not.
pub trait Channel {
    /// Delivers one notification.
    fn deliver(&self, master: MasterId, event: &str, payload: &Value) -> Result<(), String>;
}

/// What one delivery run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    /// Delivered and marked processed.
    pub delivered: usize,
    /// Failed; will be retried.
    pub failed: usize,
    /// Failed for the last allowed time; marked processed.
    pub given_up: usize,
}

/// Hands up to [`BATCH`] unprocessed notifications to `channel`, counting attempts and keeping the last error.
pub fn deliver_pending(conn: &Connection, now: DateTime<Utc>, channel: &dyn Channel) -> rusqlite::Result<DeliveryReport> {
    let mut pending = conn.prepare_cached(
        "SELECT id, master_id, event, payload, attempt_count FROM notifications_outbox
         WHERE processed_at IS NULL ORDER BY id LIMIT ?1",
    )?;
    let rows: Vec<(i64, MasterId, String, String, i64)> = pending
        .query_map([BATCH], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut report = DeliveryReport::default();
    for (id, master, event, payload, attempts) in rows {
        let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        match channel.deliver(master, &event, &payload) {
            Ok(()) => {
                conn.execute(
                    "UPDATE notifications_outbox SET processed_at = ?2, attempt_count = attempt_count + 1, last_error = NULL
                     WHERE id = ?1",
                    params![id, ms(now)],
                )?;
                report.delivered += 1;
            }
            Err(error) => {
                let give_up = attempts + 1 >= MAX_ATTEMPTS;
                conn.execute(
                    "UPDATE notifications_outbox
                     SET attempt_count = attempt_count + 1, last_error = ?2, processed_at = CASE WHEN ?3 THEN ?4 END
                     WHERE id = ?1",
                    params![id, error, give_up, ms(now)],
                )?;
                if give_up { report.given_up += 1 } else { report.failed += 1 }
            }
        }
    }
    Ok(report)
}
