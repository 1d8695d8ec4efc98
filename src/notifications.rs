//! The master's notifications: an in-app feed that is also the outbox of an optional push channel
//! (distribution.md §13.3). The channel is Web Push (`push`); the rows keep its retry counters, back-off and last error.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::db::{Db, at, ms};
use crate::domain::MasterId;
use crate::error::Error;

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

/// A notification waiting for its channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Outbox row.
    pub id: i64,
    /// To whom.
    pub master_id: MasterId,
    /// `new_offer`, `account_blocked`, …
    pub event: String,
    /// The event's details.
    pub payload: Value,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Deliveries tried so far.
    pub attempt_count: i64,
}

/// What a channel made of one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// It reached the master.
    Delivered,
    /// There was nowhere to send it (no subscription) or it was no longer worth sending (an expired offer).
    Nowhere,
    /// It did not get through; tried again after the back-off, or after `retry_after` when the service said so.
    Failed { error: String, retry_after: Option<Duration> },
}

/// A push channel (web push, SMS gateway …) that delivers one notification or says why not. It runs
/// outside any transaction: the outbox rows are read before and written after.
pub trait Channel: Sync {
    /// Delivers one notification.
    fn deliver(&self, note: &Pending, now: DateTime<Utc>) -> impl Future<Output = Delivery> + Send;
}

/// What one delivery run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    /// Delivered and marked processed.
    pub delivered: usize,
    /// Nothing to deliver to; marked processed.
    pub skipped: usize,
    /// Failed; will be retried.
    pub failed: usize,
    /// Failed for the last allowed time; marked processed.
    pub given_up: usize,
}

/// The wait before retry `n` (1-based): 30 s, 1, 2, 4 minutes.
pub fn backoff(attempts: i64) -> Duration {
    Duration::seconds(30 << (attempts - 1).clamp(0, 10))
}

/// Up to [`BATCH`] unprocessed notifications whose retry time has come, oldest first.
pub fn due(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<Pending>> {
    let mut pending = conn.prepare_cached(
        "SELECT id, master_id, event, payload, created_at, attempt_count FROM notifications_outbox
         WHERE processed_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ?2) ORDER BY id LIMIT ?1",
    )?;
    pending
        .query_map(params![BATCH, ms(now)], |r| {
            let payload: String = r.get(3)?;
            Ok(Pending {
                id: r.get(0)?,
                master_id: r.get(1)?,
                event: r.get(2)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                created_at: at(r.get(4)?),
                attempt_count: r.get(5)?,
            })
        })?
        .collect()
}

/// Records what became of `note`: processed, or counted and put off until its back-off has passed (given
/// up after [`MAX_ATTEMPTS`]); the last error is kept.
pub fn record(conn: &Connection, now: DateTime<Utc>, note: &Pending, delivery: &Delivery, report: &mut DeliveryReport) -> rusqlite::Result<()> {
    match delivery {
        Delivery::Delivered | Delivery::Nowhere => {
            conn.prepare_cached(
                "UPDATE notifications_outbox SET processed_at = ?2, attempt_count = attempt_count + 1, last_error = NULL,
                     next_attempt_at = NULL
                 WHERE id = ?1",
            )?
            .execute(params![note.id, ms(now)])?;
            if *delivery == Delivery::Delivered { report.delivered += 1 } else { report.skipped += 1 }
        }
        Delivery::Failed { error, retry_after } => {
            let attempts = note.attempt_count + 1;
            let give_up = attempts >= MAX_ATTEMPTS;
            let wait = backoff(attempts).max(retry_after.unwrap_or_default());
            conn.prepare_cached(
                "UPDATE notifications_outbox
                 SET attempt_count = ?2, last_error = ?3, processed_at = CASE WHEN ?4 THEN ?5 END, next_attempt_at = ?6
                 WHERE id = ?1",
            )?
            .execute(params![note.id, attempts, error, give_up, ms(now), ms(now + wait)])?;
            if give_up { report.given_up += 1 } else { report.failed += 1 }
        }
    }
    Ok(())
}

/// Hands the due notifications to `channel` one by one, then records the outcomes in one short write:
/// no transaction is open while the channel talks to the network.
pub async fn deliver_pending(db: &Db, now: DateTime<Utc>, channel: &impl Channel) -> Result<DeliveryReport, Error> {
    let notes = db.read_blocking(move |c| due(c, now).map_err(Error::from)).await?;
    if notes.is_empty() {
        return Ok(DeliveryReport::default());
    }
    let mut outcomes = Vec::with_capacity(notes.len());
    for note in notes {
        let delivery = channel.deliver(&note, now).await;
        outcomes.push((note, delivery));
    }
    db.write_blocking(move |tx| {
        let mut report = DeliveryReport::default();
        for (note, delivery) in &outcomes {
            record(tx, now, note, delivery, &mut report)?;
        }
        Ok(report)
    })
    .await
}
