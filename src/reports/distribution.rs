//! The distribution report (issue 13): how orders came in and found their masters over a period — orders
//! created per day; who assigned them (the engine's offer, a staff member's offer, a direct assignment);
//! the time from searching to an accepted offer; the acceptance rate; the rounds used; the escalations and
//! why; deferred orders and how late they woke; cancellations before and after assignment; guarantee
//! revisits per 100 closed orders. Each figure counts the events that happened within the period, in the
//! cities of the scope (the order's city).

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use super::period::Days;
use super::{IN_SCOPE, Scope, Window, date, percent, percentile};
use crate::db::ms;
use crate::error::Result;

/// The distribution report of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Distribution {
    /// The first day (`YYYY-MM-DD`, the operator's).
    pub first: String,
    /// The last day, included.
    pub last: String,
    /// Each day of the period.
    pub days: Vec<DistributionDay>,
    /// Orders created in the period.
    pub created: i64,
    /// Assignments made in the period, by how.
    pub assigned: Assigned,
    /// Seconds from the order's last entry into SEARCHING to the accepted offer, over the offers accepted in
    /// the period (assignments by staff are not counted).
    pub search_to_accept: Spread,
    /// The offers of the period.
    pub offers: Offers,
    /// Assignments by an accepted offer, by the round the offer was in.
    pub rounds: Vec<Rounds>,
    /// The mean round of those assignments.
    pub rounds_mean: Option<f64>,
    /// Escalations of the period, by why.
    pub escalations: Vec<Escalations>,
    /// Deferred orders.
    pub deferred: Deferred,
    /// Cancellations of the period.
    pub cancellations: Cancellations,
    /// Guarantee revisits against closed orders.
    pub guarantee: Guarantee,
}

/// One day of the distribution report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DistributionDay {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Orders created.
    pub created: i64,
    /// Assigned through an offer the engine sent.
    pub engine: i64,
    /// Assigned through an offer a staff member sent.
    pub manual_offer: i64,
    /// Assigned directly by a staff member.
    pub direct: i64,
    /// Median seconds from searching to an accepted offer.
    pub accept_p50_seconds: Option<i64>,
    /// 90th percentile of the same.
    pub accept_p90_seconds: Option<i64>,
}

/// Assignments by how they were made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Assigned {
    /// The master accepted an offer the engine sent.
    pub engine: i64,
    /// The master accepted an offer a staff member sent.
    pub manual_offer: i64,
    /// A staff member assigned the master directly.
    pub direct: i64,
}

/// The spread of durations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Spread {
    /// How many were measured.
    pub count: i64,
    /// Median, in seconds (nearest rank).
    pub p50_seconds: Option<i64>,
    /// 90th percentile, in seconds (nearest rank).
    pub p90_seconds: Option<i64>,
}

impl Spread {
    fn of(mut values: Vec<i64>) -> Self {
        Self { count: values.len() as i64, p50_seconds: percentile(&mut values, 50), p90_seconds: percentile(&mut values, 90) }
    }
}

/// The offers of a period: sent in it, and answered or lapsed in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Offers {
    /// Offers sent in the period.
    pub sent: i64,
    /// Accepted in the period.
    pub accepted: i64,
    /// Declined in the period.
    pub declined: i64,
    /// Lapsed unanswered in the period.
    pub expired: i64,
    /// Withdrawn in the period (another master took the order, staff took it back); not in the rate.
    pub canceled: i64,
    /// accepted ÷ (accepted + declined + expired), in percent: an expiry counts as a decline.
    pub acceptance_percent: Option<f64>,
}

/// Assignments whose accepted offer was in one round.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Rounds {
    /// The round (1 = the first).
    pub round: i64,
    /// Orders assigned in it.
    pub orders: i64,
}

/// The escalations of one reason.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Escalations {
    /// Why: `rounds_exhausted`, `no_candidates`, `no_district`, … (an admin escalation carries the reason
    /// of the logist escalation before it).
    pub reason: String,
    /// Escalations to the logists.
    pub logist: i64,
    /// Escalations on to the admins.
    pub admin: i64,
}

/// Deferred orders of a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Deferred {
    /// Orders put off in the period.
    pub deferred: i64,
    /// Deferred orders the engine woke in the period.
    pub woken: i64,
    /// How late they woke after their wake-up time, in seconds.
    pub wake_delay: Spread,
    /// The latest wake-up, in seconds after its time.
    pub wake_delay_max_seconds: Option<i64>,
}

/// Cancellations of a period, by the status the order left.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Cancellations {
    /// Canceled before a master was assigned (from CREATED, SEARCHING, DEFERRED, GUARANTEE).
    pub before_assignment: i64,
    /// Canceled with a master assigned (from ASSIGNED, EN_ROUTE, WORKING, PAYMENT).
    pub after_assignment: i64,
}

/// Guarantee revisits, a quality signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Guarantee {
    /// Normal orders closed in the period.
    pub closed: i64,
    /// Guarantee orders opened in the period.
    pub revisits: i64,
    /// Revisits per 100 closed orders, one decimal.
    pub per_100_closed: Option<f64>,
}

/// The distribution report of `days` in `scope`.
pub fn report(conn: &Connection, days: &Days, scope: &Scope) -> Result<Distribution> {
    let w = Window::new(days);
    let p = w.params(scope);
    let mut rows: Vec<DistributionDay> = days
        .each()
        .map(|d| DistributionDay { date: date(d), created: 0, engine: 0, manual_offer: 0, direct: 0, accept_p50_seconds: None, accept_p90_seconds: None })
        .collect();

    let created: Vec<i64> = conn
        .prepare_cached(&format!("SELECT o.created_at FROM orders o WHERE {IN_SCOPE} AND o.created_at >= ?3 AND o.created_at < ?4"))?
        .query_map(p, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for at in &created {
        if let Some(day) = w.day(*at) {
            rows[day].created += 1;
        }
    }

    // One metrics row per assignment; an accepted offer answered at the same instant tells who sent it. The
    // search starts at the last real entry into SEARCHING (an escalation logs a SEARCHING → SEARCHING row).
    let assignments: Vec<(i64, String, i64, bool, Option<i64>)> = conn
        .prepare_cached(&format!(
            "SELECT m.assigned_at, m.assigned_via, m.round_number,
                    EXISTS (SELECT 1 FROM offers f WHERE f.order_id = m.order_id AND f.master_id = m.master_id
                            AND f.responded_at = m.assigned_at AND f.sent_by_staff_id IS NOT NULL),
                    m.assigned_at - (SELECT MAX(h.created_at) FROM order_status_history h
                                     WHERE h.order_id = m.order_id AND h.to_status = 'SEARCHING' AND h.created_at <= m.assigned_at
                                       AND h.from_status IS NOT 'SEARCHING')
             FROM distribution_metrics m JOIN orders o ON o.id = m.order_id
             WHERE {IN_SCOPE} AND m.assigned_at >= ?3 AND m.assigned_at < ?4"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut assigned = Assigned::default();
    let mut waits: Vec<Vec<i64>> = vec![Vec::new(); rows.len()];
    let mut rounds: Vec<Rounds> = Vec::new();
    for (at, via, round, by_staff, waited) in assignments {
        let Some(day) = w.day(at) else { continue };
        if via == "admin_manual" {
            assigned.direct += 1;
            rows[day].direct += 1;
            continue;
        }
        if by_staff {
            assigned.manual_offer += 1;
            rows[day].manual_offer += 1;
        } else {
            assigned.engine += 1;
            rows[day].engine += 1;
        }
        match rounds.iter_mut().find(|r| r.round == round) {
            Some(r) => r.orders += 1,
            None => rounds.push(Rounds { round, orders: 1 }),
        }
        if let Some(waited) = waited {
            waits[day].push(waited / 1000);
        }
    }
    rounds.sort_by_key(|r| r.round);
    let assigned_by_offer: i64 = rounds.iter().map(|r| r.orders).sum();
    let rounds_mean = (assigned_by_offer > 0)
        .then(|| (rounds.iter().map(|r| r.round * r.orders).sum::<i64>() as f64 * 10.0 / assigned_by_offer as f64).round() / 10.0);
    for (row, waited) in rows.iter_mut().zip(waits.iter_mut()) {
        row.accept_p50_seconds = percentile(waited, 50);
        row.accept_p90_seconds = percentile(waited, 90);
    }
    let search_to_accept = Spread::of(waits.concat());

    let count = |sql: &str| -> Result<i64> { Ok(conn.prepare_cached(sql)?.query_row(p, |r| r.get(0))?) };
    let mut offers = Offers {
        sent: count(&format!("SELECT COUNT(*) FROM offers f JOIN orders o ON o.id = f.order_id WHERE {IN_SCOPE} AND f.sent_at >= ?3 AND f.sent_at < ?4"))?,
        ..Offers::default()
    };
    let answered: Vec<(String, i64)> = conn
        .prepare_cached(&format!(
            "SELECT f.state, COUNT(*) FROM offers f JOIN orders o ON o.id = f.order_id
             WHERE {IN_SCOPE} AND f.responded_at >= ?3 AND f.responded_at < ?4 GROUP BY f.state"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (state, n) in answered {
        match state.as_str() {
            "ACCEPTED" => offers.accepted = n,
            "DECLINED" => offers.declined = n,
            "EXPIRED" => offers.expired = n,
            "CANCELED" => offers.canceled = n,
            _ => {}
        }
    }
    offers.acceptance_percent = percent(offers.accepted, offers.accepted + offers.declined + offers.expired);

    let escalated: Vec<(String, String, i64)> = conn
        .prepare_cached(&format!(
            "SELECT e.kind,
                    COALESCE(CASE WHEN e.kind = 'escalation_logist' THEN json_extract(e.detail, '$.reason')
                             ELSE (SELECT json_extract(l.detail, '$.reason') FROM order_events l
                                   WHERE l.order_id = e.order_id AND l.kind = 'escalation_logist' AND l.id < e.id
                                   ORDER BY l.id DESC LIMIT 1) END, 'unknown'),
                    COUNT(*)
             FROM order_events e JOIN orders o ON o.id = e.order_id
             WHERE {IN_SCOPE} AND e.kind IN ('escalation_logist', 'escalation_admin') AND e.created_at >= ?3 AND e.created_at < ?4
             GROUP BY 1, 2 ORDER BY 2"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut escalations: Vec<Escalations> = Vec::new();
    for (kind, reason, n) in escalated {
        let i = match escalations.iter().position(|e| e.reason == reason) {
            Some(i) => i,
            None => {
                escalations.push(Escalations { reason, logist: 0, admin: 0 });
                escalations.len() - 1
            }
        };
        if kind == "escalation_logist" { escalations[i].logist += n } else { escalations[i].admin += n }
    }

    let history = |to: &str, extra: &str| {
        format!("SELECT COUNT(*) FROM order_status_history h JOIN orders o ON o.id = h.order_id
                 WHERE {IN_SCOPE} AND h.to_status = '{to}' AND h.created_at >= ?3 AND h.created_at < ?4 {extra}")
    };
    let woken: Vec<(i64, Option<String>)> = conn
        .prepare_cached(&format!(
            "SELECT e.created_at, json_extract(e.detail, '$.target') FROM order_events e JOIN orders o ON o.id = e.order_id
             WHERE {IN_SCOPE} AND e.kind = 'deferred_wake' AND e.created_at >= ?3 AND e.created_at < ?4"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let late: Vec<i64> = woken
        .iter()
        .filter_map(|(at, target)| {
            let target: DateTime<Utc> = target.as_deref()?.parse().ok()?;
            Some(((at - ms(target)) / 1000).max(0))
        })
        .collect();
    let deferred = Deferred {
        deferred: count(&history("DEFERRED", ""))?,
        woken: woken.len() as i64,
        wake_delay_max_seconds: late.iter().copied().max(),
        wake_delay: Spread::of(late),
    };

    let assigned_states = "('ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT')";
    let cancellations = Cancellations {
        before_assignment: count(&history("CANCELED", &format!("AND COALESCE(h.from_status, '') NOT IN {assigned_states}")))?,
        after_assignment: count(&history("CANCELED", &format!("AND h.from_status IN {assigned_states}")))?,
    };

    let closed = count(&format!(
        "SELECT COUNT(*) FROM orders o WHERE {IN_SCOPE} AND o.status = 'CLOSED' AND o.type = 'NORMAL' AND o.closed_at >= ?3 AND o.closed_at < ?4"
    ))?;
    let revisits = count(&format!("SELECT COUNT(*) FROM orders o WHERE {IN_SCOPE} AND o.type = 'GUARANTEE' AND o.created_at >= ?3 AND o.created_at < ?4"))?;
    let guarantee = Guarantee { closed, revisits, per_100_closed: percent(revisits, closed) };

    Ok(Distribution {
        first: date(days.first),
        last: date(days.last),
        created: created.len() as i64,
        days: rows,
        assigned,
        search_to_accept,
        offers,
        rounds,
        rounds_mean,
        escalations,
        deferred,
        cancellations,
        guarantee,
    })
}
