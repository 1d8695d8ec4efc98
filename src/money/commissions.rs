//! Commissions (product.md §4.1–§4.2): created when a master closes a normal order, reported as paid by
//! him ("I paid"), approved or rejected by staff; approval closes the order (T13) and pays the referrers
//! (decisions §B.3–§B.5, §B.16–§B.19). Every state change is written to the order's event log with the
//! actor and the old and new status.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::amount::percent_of;
use super::receipts::{self, Receipt};
use super::requisites::{self, PayTo, QrImage, Snapshot};
use crate::db::{at, ms};
use crate::domain::{MasterId, OrderId, OrderStatus};
use crate::error::{Error, Result, check_length};
use crate::events::{self, StoredEvent};
use crate::notifications;
use crate::orders::{self, Actor};
use crate::settings::Settings;
use crate::staff::Staff;

/// Where a commission stands (product.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommissionStatus {
    /// Waiting for the master's payment.
    WaitPay,
    /// The master says he paid; staff decide.
    Reported,
    /// Staff confirmed the payment.
    Approved,
    /// Not paid by the deadline.
    Overdue,
}

impl CommissionStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitPay => "WAIT_PAY",
            Self::Reported => "REPORTED",
            Self::Approved => "APPROVED",
            Self::Overdue => "OVERDUE",
        }
    }

    /// Parses the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::WaitPay, Self::Reported, Self::Approved, Self::Overdue].into_iter().find(|s| s.as_str() == text)
    }

    /// Every status, in the order the staff segments show them: REPORTED first, what admins act on
    /// (decisions §B.17).
    pub const ALL: [Self; 4] = [Self::Reported, Self::WaitPay, Self::Overdue, Self::Approved];
}

impl std::fmt::Display for CommissionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One commission as masters, staff and the API see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Commission {
    /// Id.
    pub id: i64,
    /// The order it is for.
    pub order_id: OrderId,
    /// The order's total, kopecks.
    pub order_total_kop: i64,
    /// The order's city.
    pub city_id: i64,
    /// The master who owes it.
    pub master_id: MasterId,
    /// His full name.
    pub master_name: String,
    /// The commission, kopecks.
    pub amount_kop: i64,
    /// The rate applied, percent.
    pub rate_percent: i64,
    /// Status.
    pub status: CommissionStatus,
    /// Pay by then.
    pub deadline_at: DateTime<Utc>,
    /// When the master pressed "I paid" (kept on OVERDUE too, decisions §B.18).
    pub paid_reported_at: Option<DateTime<Utc>>,
    /// When staff approved it.
    pub paid_approved_at: Option<DateTime<Utc>>,
    /// The amount staff confirmed, kopecks (may differ from the commission, decisions §B.19).
    pub paid_amount_kop: Option<i64>,
    /// Why staff last rejected the payment.
    pub rejection_reason: Option<String>,
    /// Where to pay, as copied at creation.
    pub pay_to: PayTo,
    /// The SBP QR image copied at creation (its file is never shown by key).
    #[serde(skip)]
    pub sbp_qr_image: Option<QrImage>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl Commission {
    /// Staff confirmed less than the commission (the card warns, decisions §B.19).
    pub fn paid_less(&self) -> bool {
        self.paid_amount_kop.is_some_and(|paid| paid < self.amount_kop)
    }

    /// Not yet approved: the master still owes it.
    pub fn unpaid(&self) -> bool {
        self.status != CommissionStatus::Approved
    }
}

pub(super) const COLUMNS: &str = "c.id, c.order_id, o.total_sum_kop, o.city_id, c.master_id, m.full_name, c.amount_kop, c.rate_percent, c.status,
    c.deadline_at, c.paid_reported_at, c.paid_approved_at, c.paid_amount_kop, c.rejection_reason, c.pay_to_snapshot, c.created_at";
pub(super) const FROM: &str = "FROM commissions c JOIN orders o ON o.id = c.order_id JOIN masters m ON m.id = c.master_id";

pub(super) fn row(r: &Row<'_>) -> rusqlite::Result<Commission> {
    let status: String = r.get(8)?;
    let snapshot: String = r.get(14)?;
    let Snapshot { pay_to, sbp_qr_image } = serde_json::from_str(&snapshot).unwrap_or_default();
    Ok(Commission {
        id: r.get(0)?,
        order_id: r.get(1)?,
        order_total_kop: r.get(2)?,
        city_id: r.get(3)?,
        master_id: r.get(4)?,
        master_name: r.get(5)?,
        amount_kop: r.get(6)?,
        rate_percent: r.get(7)?,
        status: CommissionStatus::parse(&status).unwrap_or(CommissionStatus::WaitPay),
        deadline_at: at(r.get(9)?),
        paid_reported_at: r.get::<_, Option<i64>>(10)?.map(at),
        paid_approved_at: r.get::<_, Option<i64>>(11)?.map(at),
        paid_amount_kop: r.get(12)?,
        rejection_reason: r.get(13)?,
        pay_to,
        sbp_qr_image,
        created_at: at(r.get(15)?),
    })
}

fn load(conn: &Connection, id: i64) -> Result<Option<Commission>> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], row).optional()?)
}

/// The commission of an order, if it has one.
pub fn of_order(conn: &Connection, order_id: OrderId) -> Result<Option<Commission>> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.order_id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([order_id], row).optional()?)
}

/// The rate for `master` now: the high rate when his weekly average check (CLOSED orders created in the
/// last 7 days; decisions §B.29) reaches the threshold. Integer arithmetic only: `sum ≥ threshold × n`.
pub fn rate_for(conn: &Connection, now: DateTime<Utc>, master: MasterId, settings: &Settings) -> Result<i64> {
    let (count, sum): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(total_sum_kop), 0) FROM orders
         WHERE assigned_master_id = ?1 AND status = 'CLOSED' AND created_at >= ?2",
        params![master, ms(now - Duration::days(7))],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rate_of_week(count, sum, settings))
}

/// The rate for a week of `count` CLOSED checks summing to `sum_kop`: the high rate when their average
/// reaches the threshold, compared as `sum ≥ threshold × count` so that no division rounds it.
pub fn rate_of_week(count: i64, sum_kop: i64, settings: &Settings) -> i64 {
    let high = count > 0 && sum_kop >= settings.commission_high_threshold_kop * count;
    if high { settings.commission_high_rate_percent } else { settings.commission_rate_percent }
}

/// Creates the commission of a closed normal order (product.md §4.1): idempotent (an existing one is
/// returned), none for a guarantee order. The owner's requisites are copied into its snapshot.
pub fn create(conn: &Connection, now: DateTime<Utc>, order_id: OrderId) -> Result<Option<i64>> {
    if let Some(id) = conn.query_row("SELECT id FROM commissions WHERE order_id = ?1", [order_id], |r| r.get(0)).optional()? {
        return Ok(Some(id));
    }
    let order = orders::load(conn, order_id)?.ok_or(Error::NotFound { what: "order" })?;
    if order.is_guarantee() {
        return Ok(None);
    }
    let master = order.assigned_master_id.ok_or(Error::NotFound { what: "master" })?;
    let fio: String = conn.query_row("SELECT full_name FROM masters WHERE id = ?1", [master], |r| r.get(0))?;
    let settings = Settings::load(conn)?;
    let rate = rate_for(conn, now, master, &settings)?;
    let amount = percent_of(order.total_sum_kop, rate);
    let deadline = now + Duration::hours(settings.commission_deadline_hours);
    let pay_to = requisites::snapshot(&requisites::load(conn)?, requisites::qr_image(conn)?, order_id, &fio);
    conn.execute(
        "INSERT INTO commissions (order_id, master_id, amount_kop, rate_percent, status, deadline_at, pay_to_snapshot, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'WAIT_PAY', ?5, ?6, ?7, ?7)",
        params![order_id, master, amount, rate, ms(deadline), serde_json::to_string(&pay_to).unwrap_or_else(|_| "{}".into()), ms(now)],
    )?;
    let id = conn.last_insert_rowid();
    events::record(conn, now, Some(order_id), "system", "commission_created", json!({"commission_id": id, "amount_kop": amount, "rate_percent": rate, "to": "WAIT_PAY"}))?;
    Ok(Some(id))
}

/// One of the master's commissions; another master's is "not found".
pub fn for_master(conn: &Connection, master: MasterId, id: i64) -> Result<Commission> {
    load(conn, id)?.filter(|c| c.master_id == master).ok_or(Error::NotFound { what: "commission" })
}

/// The master's tabs (product.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MasterTab {
    /// WAIT_PAY and REPORTED.
    #[default]
    Awaiting,
    /// APPROVED.
    Paid,
    /// OVERDUE.
    Overdue,
}

impl MasterTab {
    /// The tab's name in links.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awaiting => "awaiting",
            Self::Paid => "paid",
            Self::Overdue => "overdue",
        }
    }

    fn statuses(self) -> &'static str {
        match self {
            Self::Awaiting => "'WAIT_PAY','REPORTED'",
            Self::Paid => "'APPROVED'",
            Self::Overdue => "'OVERDUE'",
        }
    }
}

/// The master's commissions of one tab, deadline first then newest (product.md §4.3).
pub fn list_for_master(conn: &Connection, master: MasterId, tab: MasterTab) -> Result<Vec<Commission>> {
    // The status list is one of three constants, never input.
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.master_id = ?1 AND c.status IN ({}) ORDER BY c.deadline_at, c.id DESC LIMIT 200", tab.statuses());
    Ok(conn.prepare_cached(&sql)?.query_map([master], row)?.collect::<rusqlite::Result<_>>()?)
}

/// What a master owes right now: the home screen's block and the menu's badge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Owed {
    /// Unpaid commissions (WAIT_PAY, REPORTED, OVERDUE).
    pub count: i64,
    /// Their sum, kopecks.
    pub total_kop: i64,
    /// The nearest deadline among them.
    pub next_deadline_at: Option<DateTime<Utc>>,
    /// Some are overdue.
    pub overdue: bool,
}

/// What `master` owes.
pub fn owed(conn: &Connection, master: MasterId) -> Result<Owed> {
    let (count, total, next, overdue): (i64, i64, Option<i64>, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(amount_kop), 0), MIN(deadline_at), COALESCE(MAX(status = 'OVERDUE'), 0)
         FROM commissions WHERE master_id = ?1 AND status <> 'APPROVED'",
        [master],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    Ok(Owed { count, total_kop: total, next_deadline_at: next.map(at), overdue: overdue == 1 })
}

pub(super) fn record(conn: &Connection, now: DateTime<Utc>, c: &Commission, source: &'static str, kind: &'static str, detail: serde_json::Value) -> Result<()> {
    let mut detail = detail;
    detail["commission_id"] = json!(c.id);
    detail["from"] = json!(c.status);
    events::record(conn, now, Some(c.order_id), source, kind, detail)?;
    Ok(())
}

/// "I paid" (product.md §4.2): WAIT_PAY → REPORTED; on REPORTED or OVERDUE only the time is refreshed
/// (decisions §B.18: an overdue one stays OVERDUE, staff see the report). An approved one is refused.
pub fn report_paid(conn: &Connection, now: DateTime<Utc>, master: MasterId, id: i64) -> Result<Commission> {
    let c = for_master(conn, master, id)?;
    if c.status == CommissionStatus::Approved {
        return Err(Error::StateConflict { why: "commission_approved" });
    }
    let to = if c.status == CommissionStatus::WaitPay { CommissionStatus::Reported } else { c.status };
    conn.execute(
        "UPDATE commissions SET status = ?2, paid_reported_at = ?3, updated_at = ?3 WHERE id = ?1",
        params![id, to.as_str(), ms(now)],
    )?;
    record(conn, now, &c, "master", "commission_reported", json!({"master_id": master, "to": to}))?;
    for_master(conn, master, id)
}

/// A commission within the staff member's cities (LOGIST has no finance access, decisions §B.20).
pub fn for_staff(conn: &Connection, staff: &Staff, id: i64) -> Result<Commission> {
    staff.require(&[crate::domain::StaffRole::GlobalAdmin, crate::domain::StaffRole::CityAdmin])?;
    load(conn, id)?.filter(|c| staff.sees(c.city_id)).ok_or(Error::NotFound { what: "commission" })
}

/// A commission with its money history, for the staff card.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommissionCard {
    /// The commission.
    pub commission: Commission,
    /// Every money event of its order (created, reported, receipts, approved, rejected), oldest first.
    pub history: Vec<StoredEvent>,
    /// The master's payment receipts, oldest first.
    pub receipts: Vec<Receipt>,
    /// The master's block now (the card offers to block him only when he is not).
    pub master_block: MasterBlock,
}

/// Whether a master is blocked, why and since when.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MasterBlock {
    /// Blocked now.
    pub is_blocked: bool,
    /// Why (`commission_overdue` for the watchdog's block).
    pub reason: Option<String>,
    /// Since when.
    pub blocked_at: Option<DateTime<Utc>>,
}

/// The staff card of a commission.
pub fn card_for_staff(conn: &Connection, staff: &Staff, id: i64) -> Result<CommissionCard> {
    let commission = for_staff(conn, staff, id)?;
    let history = events::for_order(conn, commission.order_id)?.into_iter().filter(|e| e.kind.starts_with("commission_")).collect();
    let receipts = receipts::of_commission(conn, commission.id)?;
    let master_block = conn.query_row("SELECT is_blocked, blocked_reason, blocked_at FROM masters WHERE id = ?1", [commission.master_id], |r| {
        Ok(MasterBlock { is_blocked: r.get(0)?, reason: r.get(1)?, blocked_at: r.get::<_, Option<i64>>(2)?.map(at) })
    })?;
    Ok(CommissionCard { commission, history, receipts, master_block })
}

/// Staff approve a commission with the amount actually paid (`None`: the commission's amount): it
/// becomes APPROVED with both amounts kept (decisions §B.19), the order CLOSED (T13), and the master's
/// referrers earn 10 % (level 1) and 5 % (level 2) of the paid amount, once each (§B.5). Paying the last
/// OVERDUE one lifts a `commission_overdue` block when `unblock_on_commission_paid` is on (D-21).
/// Approving an approved one again changes nothing.
pub fn approve(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: i64, paid_kop: Option<i64>) -> Result<Commission> {
    let c = for_staff(conn, staff, id)?;
    if c.status == CommissionStatus::Approved {
        return Ok(c);
    }
    let order = orders::load_for_staff(conn, staff, c.order_id)?;
    if order.status == OrderStatus::Canceled {
        return Err(Error::WrongStatus { status: order.status });
    }
    let paid = paid_kop.unwrap_or(c.amount_kop);
    conn.execute(
        "UPDATE commissions SET status = 'APPROVED', is_paid = 1, paid_amount_kop = ?2, paid_approved_at = ?3,
             approved_by_staff_id = ?4, rejection_reason = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, paid, ms(now), staff.id],
    )?;
    if order.status != OrderStatus::Closed {
        orders::transition(conn, now, &order, OrderStatus::Closed, "commission_paid", Actor::Staff(staff.id), &json!({"commission_id": id}))?;
        conn.execute("UPDATE orders SET closed_at = ?2 WHERE id = ?1", params![c.order_id, ms(now)])?;
    }
    let master = c.master_id;
    record(conn, now, &c, "staff", "commission_approved", json!({"staff_id": staff.id, "staff": staff.login, "to": "APPROVED", "amount_kop": c.amount_kop, "paid_kop": paid}))?;
    notifications::push(conn, now, master, "commission_approved", &json!({"commission_id": id, "order_id": c.order_id, "paid_kop": paid}))?;
    super::referrals::accrue(conn, now, id)?;
    if c.status == CommissionStatus::Overdue && Settings::load(conn)?.unblock_on_commission_paid {
        super::watchdogs::lift_if_paid(conn, now, master)?;
    }
    for_staff(conn, staff, id)
}

/// Staff reject a reported payment with a reason of 3–200 characters: WAIT_PAY again, the reported and
/// paid fields cleared, the deadline unchanged, and the master told why (decisions §B.16). An OVERDUE
/// or APPROVED commission cannot be rejected.
pub fn reject(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: i64, reason: &str) -> Result<Commission> {
    let c = for_staff(conn, staff, id)?;
    let reason = reason.trim();
    check_length("reason", reason, 3, 200)?;
    match c.status {
        CommissionStatus::Approved => return Err(Error::StateConflict { why: "commission_approved" }),
        CommissionStatus::Overdue => return Err(Error::StateConflict { why: "commission_overdue" }),
        CommissionStatus::WaitPay | CommissionStatus::Reported => {}
    }
    conn.execute(
        "UPDATE commissions SET status = 'WAIT_PAY', is_paid = 0, paid_reported_at = NULL, paid_approved_at = NULL,
             paid_amount_kop = NULL, rejection_reason = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, reason, ms(now)],
    )?;
    record(conn, now, &c, "staff", "commission_rejected", json!({"staff_id": staff.id, "staff": staff.login, "to": "WAIT_PAY", "reason": reason}))?;
    notifications::push(conn, now, c.master_id, "commission_rejected", &json!({"commission_id": id, "order_id": c.order_id, "reason": reason}))?;
    for_staff(conn, staff, id)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::rate_of_week;
    use crate::settings::Settings;

    fn rate(checks: &[i64]) -> i64 {
        rate_of_week(checks.len() as i64, checks.iter().sum(), &Settings::default())
    }

    #[test]
    fn the_threshold_is_reached_at_7_000_not_at_6_999_99() {
        assert_eq!(rate(&[699_999]), 50);
        assert_eq!(rate(&[700_000]), 40);
        assert_eq!(rate(&[699_999, 700_001]), 40, "an average of exactly 7 000");
        assert_eq!(rate(&[699_999, 700_000]), 50, "an average of 6 999.995");
        assert_eq!(rate(&[]), 50, "no closed orders this week");
    }

    proptest! {
        // Against another formulation: the high rate exactly when the checks' excesses over the threshold
        // outweigh their shortfalls.
        #[test]
        fn high_rate_exactly_when_the_average_reaches_the_threshold(checks in proptest::collection::vec(0i64..=999_999_999, 1..40)) {
            let threshold = Settings::default().commission_high_threshold_kop;
            let balance: i128 = checks.iter().map(|c| i128::from(*c) - i128::from(threshold)).sum();
            prop_assert_eq!(rate(&checks), if balance >= 0 { 40 } else { 50 });
        }
    }
}
