//! The referral program (product.md §3.8, decisions §B.5): a master's code and invitation link, the link
//! made at sign-up (`signup::register_prepared` writes `referrals`), the rewards of level 1 (10 %) and
//! level 2 (5 %) of every approved commission's paid amount, and the referral screen that the master, staff
//! and the API read. Rewards are virtual: they are accrued and shown, never paid out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::amount::percent_of;
use crate::db::{at, ms};
use crate::domain::{CityId, MasterId, OrderId};
use crate::error::{Error, Result};
use crate::events;
use crate::notifications;
use crate::staff::Staff;

/// A code's length: 8 upper-case hex digits.
pub const CODE_LEN: usize = 8;
/// The levels and their percent of the paid commission.
pub const LEVELS: [(i64, i64); 2] = [(1, 10), (2, 5)];
/// How many of the newest rewards the screen lists.
pub const LATEST: usize = 10;

/// The path of the invitation link: the sign-up with the code filled in.
pub fn invite_path(code: &str) -> String {
    format!("/m/signup?ref={code}")
}

/// A fresh code: the first 8 hex digits, upper-case, of SHA-256 over the master, the time and a random salt.
fn new_code(master: MasterId, now: DateTime<Utc>) -> String {
    let salt: [u8; 16] = rand::random();
    let mut hash = Sha256::new();
    hash.update(master.to_le_bytes());
    hash.update(ms(now).to_le_bytes());
    hash.update(salt);
    hash.finalize().iter().take(CODE_LEN / 2).map(|b| format!("{b:02X}")).collect()
}

/// The master's code, made on his first visit of the referral screen and never changed afterwards (H5).
/// Making it is audited (from none to the code).
pub fn ensure_code(conn: &Connection, now: DateTime<Utc>, master: MasterId) -> Result<String> {
    let current: Option<Option<String>> =
        conn.query_row("SELECT referral_code FROM masters WHERE id = ?1", [master], |r| r.get(0)).optional()?;
    match current {
        None => return Err(Error::NotFound { what: "master" }),
        Some(Some(code)) => return Ok(code),
        Some(None) => {}
    }
    // 2³² codes: a clash is rare, and the next draw all but surely misses it.
    loop {
        let code = new_code(master, now);
        let set = conn.execute(
            "UPDATE masters SET referral_code = ?2, updated_at = ?3
             WHERE id = ?1 AND referral_code IS NULL AND NOT EXISTS (SELECT 1 FROM masters WHERE referral_code = ?2)",
            params![master, code, ms(now)],
        )?;
        if set == 1 {
            events::record(conn, now, None, "master", "referral_code_created", json!({"master_id": master, "from": null, "to": code}))?;
            return Ok(code);
        }
    }
}

/// Who invited `master` (his level-1 referrer).
fn referrer_of(conn: &Connection, master: MasterId) -> Result<Option<MasterId>> {
    Ok(conn.query_row("SELECT referrer_id FROM referrals WHERE master_id = ?1", [master], |r| r.get(0)).optional()?)
}

/// One accrued reward, as `accrue` wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accrued {
    /// Who earns it.
    pub referrer_id: MasterId,
    /// 1 or 2.
    pub level: i64,
    /// Kopecks.
    pub amount_kop: i64,
}

/// Accrues the rewards of an APPROVED commission (decisions §B.5): level 1 — the payer's referrer — earns
/// 10 % and level 2 — that referrer's referrer — 5 % of the paid amount, rounded half-up to a kopeck. None
/// when the reward would be zero; a master appearing twice in the chain (or the payer himself) is rewarded
/// once, at his nearer level; once per (commission, level), so running it again writes nothing. Each
/// referrer is notified and each reward written to the order's log. Returns what was written now.
pub fn accrue(conn: &Connection, now: DateTime<Utc>, commission: i64) -> Result<Vec<Accrued>> {
    let row: Option<(MasterId, OrderId, i64)> = conn
        .query_row(
            "SELECT master_id, order_id, COALESCE(paid_amount_kop, amount_kop) FROM commissions WHERE id = ?1 AND status = 'APPROVED'",
            [commission],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((payer, order, paid)) = row else { return Ok(Vec::new()) };
    let level1 = referrer_of(conn, payer)?;
    let level2 = match level1 {
        Some(l1) => referrer_of(conn, l1)?,
        None => None,
    };
    let mut rewarded = vec![payer];
    let mut written = Vec::new();
    for ((level, percent), referrer) in LEVELS.into_iter().zip([level1, level2]) {
        let Some(referrer) = referrer.filter(|r| !rewarded.contains(r)) else { continue };
        rewarded.push(referrer);
        let amount = percent_of(paid, percent);
        if amount <= 0 {
            continue;
        }
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO referral_rewards (referrer_id, referred_master_id, commission_id, level, percent, amount_kop, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![referrer, payer, commission, level, percent, amount, ms(now)],
        )?;
        if inserted == 0 {
            continue;
        }
        let detail = json!({"commission_id": commission, "referrer_id": referrer, "referred_master_id": payer, "level": level,
            "percent": percent, "amount_kop": amount, "from": null, "to": "ACCRUED"});
        events::record(conn, now, Some(order), "system", "referral_reward_accrued", detail)?;
        notifications::push(conn, now, referrer, "referral_reward_accrued",
            &json!({"commission_id": commission, "order_id": order, "level": level, "amount_kop": amount}))?;
        written.push(Accrued { referrer_id: referrer, level, amount_kop: amount });
    }
    Ok(written)
}

// --- the screen -----------------------------------------------------------------------------------------------

/// Another master as the referral screen names him.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReferralMaster {
    /// Id.
    pub id: MasterId,
    /// Full name.
    pub full_name: String,
    /// His city, if any.
    pub city_name: Option<String>,
    /// Approved by moderation (an invitee not yet verified is "pending").
    pub verified: bool,
    /// When he signed up.
    pub created_at: DateTime<Utc>,
}

/// The rewards of one level.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LevelTotal {
    /// 1 or 2.
    pub level: i64,
    /// Its percent of the paid commission: 10 or 5.
    pub percent: i64,
    /// How many rewards.
    pub count: i64,
    /// Their sum, kopecks.
    pub amount_kop: i64,
}

/// The rewards of one calendar month, in the master's city's time.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MonthTotal {
    /// `YYYY-MM`.
    pub month: String,
    /// How many rewards.
    pub count: i64,
    /// Their sum, kopecks.
    pub amount_kop: i64,
}

impl MonthTotal {
    /// The month as people write it: `MM.YYYY`.
    pub fn label(&self) -> String {
        self.month.split_once('-').map_or_else(|| self.month.clone(), |(y, m)| format!("{m}.{y}"))
    }
}

/// One reward.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reward {
    /// Id.
    pub id: i64,
    /// When accrued.
    pub created_at: DateTime<Utc>,
    /// 1 or 2.
    pub level: i64,
    /// 10 or 5.
    pub percent: i64,
    /// Kopecks.
    pub amount_kop: i64,
    /// Always `ACCRUED`: rewards are virtual, nothing pays them out.
    pub status: String,
    /// The commission it comes from.
    pub commission_id: i64,
    /// That commission's order.
    pub order_id: OrderId,
    /// The master who paid the commission.
    pub referred_master_id: MasterId,
    /// His full name.
    pub referred_name: String,
}

/// The referral screen of one master (product.md §3.8).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Referral {
    /// The master.
    pub master_id: MasterId,
    /// His code, 8 upper-case hex digits; none until he first opens his referral screen.
    pub code: Option<String>,
    /// His invitation link: the sign-up with the code filled in.
    pub link: Option<String>,
    /// Who invited him.
    pub referrer: Option<ReferralMaster>,
    /// The masters he invited (not deleted), newest first.
    pub invitees: Vec<ReferralMaster>,
    /// How many he invited.
    pub invited_count: i64,
    /// How many of them are not verified yet.
    pub pending_count: i64,
    /// The rewards by level, level 1 first.
    pub levels: Vec<LevelTotal>,
    /// The rewards by month, newest first.
    pub months: Vec<MonthTotal>,
    /// How many rewards in all.
    pub total_count: i64,
    /// Their sum, kopecks.
    pub total_kop: i64,
    /// The newest rewards, up to ten.
    pub latest: Vec<Reward>,
}

const MASTER_COLUMNS: &str = "m.id, m.full_name, c.name, m.verified, m.created_at FROM masters m LEFT JOIN cities c ON c.id = m.city_id";

fn master_row(r: &Row<'_>) -> rusqlite::Result<ReferralMaster> {
    Ok(ReferralMaster { id: r.get(0)?, full_name: r.get(1)?, city_name: r.get(2)?, verified: r.get(3)?, created_at: at(r.get(4)?) })
}

fn reward_row(r: &Row<'_>) -> rusqlite::Result<Reward> {
    Ok(Reward {
        id: r.get(0)?,
        created_at: at(r.get(1)?),
        level: r.get(2)?,
        percent: r.get(3)?,
        amount_kop: r.get(4)?,
        status: r.get(5)?,
        commission_id: r.get(6)?,
        order_id: r.get(7)?,
        referred_master_id: r.get(8)?,
        referred_name: r.get(9)?,
    })
}

/// The screen of `master` as it stands; `origin` (`https://host`) makes the link absolute, `fallback`
/// is the time zone of the months when his city has none.
fn load(conn: &Connection, master: MasterId, origin: &str, fallback: Tz) -> Result<Referral> {
    let (code, zone): (Option<String>, Option<String>) = conn
        .query_row(
            "SELECT m.referral_code, c.timezone FROM masters m LEFT JOIN cities c ON c.id = m.city_id WHERE m.id = ?1",
            [master],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or(Error::NotFound { what: "master" })?;
    let tz: Tz = zone.and_then(|z| z.parse().ok()).unwrap_or(fallback);
    let referrer = conn
        .prepare_cached(&format!("SELECT {MASTER_COLUMNS} JOIN referrals r ON r.referrer_id = m.id WHERE r.master_id = ?1"))?
        .query_row([master], master_row)
        .optional()?;
    let invitees: Vec<ReferralMaster> = conn
        .prepare_cached(&format!("SELECT {MASTER_COLUMNS} WHERE m.referred_by_master_id = ?1 AND m.is_deleted = 0 ORDER BY m.created_at DESC, m.id DESC"))?
        .query_map([master], master_row)?
        .collect::<rusqlite::Result<_>>()?;
    let rewards: Vec<Reward> = conn
        .prepare_cached(
            "SELECT w.id, w.created_at, w.level, w.percent, w.amount_kop, w.status, w.commission_id, c.order_id, w.referred_master_id, m.full_name
             FROM referral_rewards w JOIN commissions c ON c.id = w.commission_id JOIN masters m ON m.id = w.referred_master_id
             WHERE w.referrer_id = ?1 AND w.status <> 'CANCELED' ORDER BY w.created_at DESC, w.id DESC",
        )?
        .query_map([master], reward_row)?
        .collect::<rusqlite::Result<_>>()?;
    let levels = LEVELS
        .iter()
        .map(|&(level, percent)| {
            let of_level = rewards.iter().filter(|w| w.level == level);
            LevelTotal { level, percent, count: of_level.clone().count() as i64, amount_kop: of_level.map(|w| w.amount_kop).sum() }
        })
        .collect();
    let mut by_month: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for w in &rewards {
        let month = w.created_at.with_timezone(&tz).format("%Y-%m").to_string();
        let entry = by_month.entry(month).or_default();
        entry.0 += 1;
        entry.1 += w.amount_kop;
    }
    let months = by_month.into_iter().rev().map(|(month, (count, amount_kop))| MonthTotal { month, count, amount_kop }).collect();
    Ok(Referral {
        master_id: master,
        link: code.as_deref().map(|c| format!("{origin}{}", invite_path(c))),
        code,
        referrer,
        invited_count: invitees.len() as i64,
        pending_count: invitees.iter().filter(|i| !i.verified).count() as i64,
        invitees,
        levels,
        months,
        total_count: rewards.len() as i64,
        total_kop: rewards.iter().map(|w| w.amount_kop).sum(),
        latest: rewards.into_iter().take(LATEST).collect(),
    })
}

/// The master's own screen; his code is made on the first visit (a write). Only an approved master
/// invites others: before moderation approves him he is refused.
pub fn for_master(conn: &Connection, now: DateTime<Utc>, master: MasterId, origin: &str, fallback: Tz) -> Result<Referral> {
    let approved: Option<bool> =
        conn.query_row("SELECT moderation_status = 'APPROVED' FROM masters WHERE id = ?1", [master], |r| r.get(0)).optional()?;
    match approved {
        None => return Err(Error::NotFound { what: "master" }),
        Some(false) => return Err(Error::MasterPending),
        Some(true) => {}
    }
    ensure_code(conn, now, master)?;
    load(conn, master, origin, fallback)
}

/// The referral part of a master card, for staff who may see that master (his city's staff, every global
/// admin); another master is "not found". Reading it makes no code.
pub fn for_staff(conn: &Connection, staff: &Staff, master: MasterId, origin: &str, fallback: Tz) -> Result<Referral> {
    let city: Option<Option<CityId>> = conn.query_row("SELECT city_id FROM masters WHERE id = ?1", [master], |r| r.get(0)).optional()?;
    match city {
        Some(city) if crate::moderation::visible(staff, city) => load(conn, master, origin, fallback),
        _ => Err(Error::NotFound { what: "master" }),
    }
}
