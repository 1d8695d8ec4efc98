//! The single-instance scheduler lease (decisions D-18): one tick at a time per database file, across
//! processes. It is held for the length of one tick and released after it.
//!
//! The lease reads the wall clock, not the business clock: it guards running processes, and a
//! `tick --now <future>` must not see the server's lease as long expired.

use chrono::{Duration, Utc};
use rusqlite::params;

use crate::db::{Db, DbError, ms};

/// How long a lease outlives a crashed holder.
pub const TTL: Duration = Duration::seconds(60);

/// A unique name for this holder (process and a random part).
pub fn owner_id() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

/// Takes the lease if it is free or expired; `false` when another holder has it.
pub fn acquire(db: &Db, owner: &str) -> Result<bool, DbError> {
    let now = Utc::now();
    db.write(|tx| {
        let taken = tx.execute(
            "UPDATE scheduler_lease SET owner = ?1, expires_at = ?2
             WHERE name = 'distribution' AND (owner IS NULL OR owner = ?1 OR expires_at <= ?3)",
            params![owner, ms(now + TTL), ms(now)],
        )?;
        Ok(taken == 1)
    })
}

/// Releases the lease if `owner` holds it, recording when the tick ended.
pub fn release(db: &Db, owner: &str) -> Result<(), DbError> {
    db.write(|tx| {
        tx.execute(
            "UPDATE scheduler_lease SET owner = NULL, expires_at = 0, last_tick_at = ?2
             WHERE name = 'distribution' AND owner = ?1",
            params![owner, ms(Utc::now())],
        )?;
        Ok(())
    })
}
