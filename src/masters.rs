//! A master's availability: shift on/off, breaks, the expired-break watchdog and the break reminder
//! (distribution.md §11, decisions §B.13).

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::db::{at, ms};
use crate::domain::{MasterId, ModerationStatus, ShiftStatus};
use crate::error::{Error, Result, invalid};
use crate::notifications;

/// Break lengths a master may choose, minutes.
pub const BREAK_MINUTES: [i64; 3] = [15, 60, 120];
/// How long before a break ends the reminder goes out.
pub const REMINDER_LEAD: Duration = Duration::minutes(10);

/// A master's shift state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ShiftState {
    /// SHIFT_OFF, SHIFT_ON or BREAK.
    pub status: ShiftStatus,
    /// End of the break.
    pub break_until: Option<DateTime<Utc>>,
}

struct Account {
    is_blocked: bool,
    is_deleted: bool,
    moderation: ModerationStatus,
    state: ShiftState,
}

fn account(conn: &Connection, master: MasterId) -> Result<Account> {
    conn.query_row(
        "SELECT is_blocked, is_deleted, moderation_status, shift_status, break_until FROM masters WHERE id = ?1",
        [master],
        |r| {
            Ok(Account {
                is_blocked: r.get(0)?,
                is_deleted: r.get(1)?,
                moderation: r.get(2)?,
                state: ShiftState { status: r.get(3)?, break_until: r.get::<_, Option<i64>>(4)?.map(at) },
            })
        },
    )
    .optional()?
    .ok_or(Error::NotFound { what: "master" })
}

fn set_state(conn: &Connection, now: DateTime<Utc>, master: MasterId, state: &ShiftState) -> Result<ShiftState> {
    conn.execute(
        "UPDATE masters SET shift_status = ?2, is_on_shift = ?3, break_until = ?4, updated_at = ?5 WHERE id = ?1",
        params![master, state.status, state.status == ShiftStatus::On, state.break_until.map(ms), ms(now)],
    )?;
    Ok(state.clone())
}

fn on() -> ShiftState {
    ShiftState { status: ShiftStatus::On, break_until: None }
}

fn break_length(minutes: i64) -> Result<Duration> {
    if BREAK_MINUTES.contains(&minutes) { Ok(Duration::minutes(minutes)) } else { Err(invalid("minutes", "break")) }
}

/// Shift on: refused for a blocked or deleted account and before moderation approval.
pub fn shift_on(conn: &Connection, now: DateTime<Utc>, master: MasterId) -> Result<ShiftState> {
    let account = account(conn, master)?;
    if account.is_deleted {
        return Err(Error::MasterInactive);
    }
    if account.is_blocked {
        let reason: Option<String> = conn.query_row("SELECT blocked_reason FROM masters WHERE id = ?1", [master], |r| r.get(0))?;
        return Err(Error::MasterBlocked { reason: reason.unwrap_or_default() });
    }
    if account.moderation != ModerationStatus::Approved {
        return Err(Error::MasterPending);
    }
    set_state(conn, now, master, &on())
}

/// Shift off, from any state.
pub fn shift_off(conn: &Connection, now: DateTime<Utc>, master: MasterId) -> Result<ShiftState> {
    account(conn, master)?;
    set_state(conn, now, master, &ShiftState { status: ShiftStatus::Off, break_until: None })
}

/// Starts a break of 15, 60 or 120 minutes; only on shift.
pub fn start_break(conn: &Connection, now: DateTime<Utc>, master: MasterId, minutes: i64) -> Result<ShiftState> {
    let length = break_length(minutes)?;
    if account(conn, master)?.state.status != ShiftStatus::On {
        return Err(Error::ShiftNotActive);
    }
    set_state(conn, now, master, &ShiftState { status: ShiftStatus::Break, break_until: Some(now + length) })
}

/// Extends the break to `minutes` from now (not from the old end); only on a break.
pub fn extend_break(conn: &Connection, now: DateTime<Utc>, master: MasterId, minutes: i64) -> Result<ShiftState> {
    let length = break_length(minutes)?;
    if account(conn, master)?.state.status != ShiftStatus::Break {
        return Err(Error::NotOnBreak);
    }
    set_state(conn, now, master, &ShiftState { status: ShiftStatus::Break, break_until: Some(now + length) })
}

/// Ends the break early: back on shift.
pub fn end_break(conn: &Connection, now: DateTime<Utc>, master: MasterId) -> Result<ShiftState> {
    if account(conn, master)?.state.status != ShiftStatus::Break {
        return Err(Error::NotOnBreak);
    }
    set_state(conn, now, master, &on())
}

/// The master's shift state as stored.
pub fn shift_state(conn: &Connection, master: MasterId) -> Result<ShiftState> {
    Ok(account(conn, master)?.state)
}

/// The watchdog: a master whose break has ended (`break_until <= now`) goes OFF shift — he must switch the
/// shift on again, so nobody gets offers while away from the phone. Returns who changed.
pub fn expire_breaks(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<MasterId>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE masters SET shift_status = 'SHIFT_OFF', is_on_shift = 0, break_until = NULL, updated_at = ?1
         WHERE shift_status = 'BREAK' AND break_until <= ?1 RETURNING id",
    )?;
    let ids = stmt.query_map([ms(now)], |r| r.get(0))?;
    ids.collect()
}

/// Puts a `break_reminder` in the feed of every master whose break ends within the next 10 minutes, once
/// per (master, break end): extending the break re-arms it. Returns who was reminded.
pub fn remind_breaks(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<MasterId>> {
    let mut due = conn.prepare_cached(
        "SELECT m.id, m.break_until FROM masters m
         WHERE m.shift_status = 'BREAK' AND m.break_until > ?1 AND m.break_until <= ?2
           AND NOT EXISTS (SELECT 1 FROM break_reminders r WHERE r.master_id = m.id AND r.break_until = m.break_until)",
    )?;
    let rows: Vec<(MasterId, i64)> =
        due.query_map(params![ms(now), ms(now + REMINDER_LEAD)], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    for (master, until) in &rows {
        let minutes_left = (*until - ms(now)) / 60_000;
        conn.execute("INSERT INTO break_reminders (master_id, break_until, sent_at) VALUES (?1, ?2, ?3)", params![master, until, ms(now)])?;
        notifications::push(conn, now, *master, "break_reminder", &json!({"minutes_left": minutes_left, "break_until": until, "actions": ["end_break", "extend_break"]}))?;
    }
    // Reminders of breaks that are over or were changed are forgotten.
    conn.execute(
        "DELETE FROM break_reminders WHERE NOT EXISTS
           (SELECT 1 FROM masters m WHERE m.id = break_reminders.master_id AND m.shift_status = 'BREAK'
              AND m.break_until = break_reminders.break_until)",
        [],
    )?;
    Ok(rows.into_iter().map(|(m, _)| m).collect())
}

/// Names and phones of masters by id, for pages that say who did what.
pub fn contacts(conn: &Connection, ids: &[MasterId]) -> rusqlite::Result<std::collections::HashMap<MasterId, (String, String)>> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached("SELECT id, full_name, phone FROM masters WHERE id IN (SELECT value FROM json_each(?1))")?;
    let rows = stmt.query_map([ids], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
    rows.collect()
}
