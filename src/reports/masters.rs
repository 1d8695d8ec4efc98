//! The masters report (issue 13): one row per master with what he did in the period, in the cities of the
//! scope (the order's city) — offers received and how they ended, how fast he answers, jobs closed and
//! their revenue, the commissions on them, and guarantee revisits of his work. Sortable by any column.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::period::Days;
use super::{IN_SCOPE, Scope, Window, date, percent, percentile};
use crate::domain::MasterId;
use crate::error::Result;

/// The masters report of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Masters {
    /// The first day (`YYYY-MM-DD`, the operator's).
    pub first: String,
    /// The last day, included.
    pub last: String,
    /// The column the rows are sorted by.
    pub sort: SortKey,
    /// Whether the order is descending.
    pub descending: bool,
    /// One row per master with anything in the period.
    pub rows: Vec<MasterRow>,
}

/// One master's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct MasterRow {
    /// The master.
    pub master_id: MasterId,
    /// His full name.
    pub name: String,
    /// Offers sent to him in the period.
    pub offers: i64,
    /// Offers he accepted in the period.
    pub accepted: i64,
    /// Offers he declined in the period.
    pub declined: i64,
    /// Offers that lapsed unanswered in the period.
    pub expired: i64,
    /// accepted ÷ (accepted + declined + expired), in percent.
    pub acceptance_percent: Option<f64>,
    /// Median seconds from an offer to his answer (accepted or declined in the period).
    pub response_p50_seconds: Option<i64>,
    /// His jobs closed in the period.
    pub closed: i64,
    /// Their sum.
    pub revenue_kop: i64,
    /// Commissions created in the period and not yet approved (waiting, reported or overdue), kopecks.
    pub owed_kop: i64,
    /// Commissions created in the period and approved: the amount received, kopecks.
    pub paid_kop: i64,
    /// Of the owed, those overdue, kopecks.
    pub overdue_kop: i64,
    /// Guarantee orders opened in the period on his earlier jobs.
    pub revisits: i64,
}

/// A column of the masters table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Name,
    Offers,
    Accepted,
    Declined,
    Expired,
    Acceptance,
    Response,
    Closed,
    Revenue,
    Owed,
    Paid,
    Overdue,
    Revisits,
}

impl SortKey {
    /// Every column, in the table's order.
    pub const ALL: [Self; 13] = [
        Self::Name,
        Self::Offers,
        Self::Accepted,
        Self::Declined,
        Self::Expired,
        Self::Acceptance,
        Self::Response,
        Self::Closed,
        Self::Revenue,
        Self::Owed,
        Self::Paid,
        Self::Overdue,
        Self::Revisits,
    ];

    /// Its name in links and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Offers => "offers",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Acceptance => "acceptance",
            Self::Response => "response",
            Self::Closed => "closed",
            Self::Revenue => "revenue",
            Self::Owed => "owed",
            Self::Paid => "paid",
            Self::Overdue => "overdue",
            Self::Revisits => "revisits",
        }
    }

    /// Parses its name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text.trim())
    }

    /// Sorts `rows` by this column, ties by name then id; missing values last whichever the direction.
    fn sort(self, rows: &mut [MasterRow], descending: bool) {
        let number = |r: &MasterRow| -> Option<f64> {
            Some(match self {
                Self::Name => return None,
                Self::Offers => r.offers as f64,
                Self::Accepted => r.accepted as f64,
                Self::Declined => r.declined as f64,
                Self::Expired => r.expired as f64,
                Self::Acceptance => r.acceptance_percent?,
                Self::Response => r.response_p50_seconds? as f64,
                Self::Closed => r.closed as f64,
                Self::Revenue => r.revenue_kop as f64,
                Self::Owed => r.owed_kop as f64,
                Self::Paid => r.paid_kop as f64,
                Self::Overdue => r.overdue_kop as f64,
                Self::Revisits => r.revisits as f64,
            })
        };
        rows.sort_by(|a, b| {
            let primary = match (self, number(a), number(b)) {
                (Self::Name, _, _) => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                (_, Some(x), Some(y)) => x.total_cmp(&y),
                (_, Some(_), None) => return std::cmp::Ordering::Less,
                (_, None, Some(_)) => return std::cmp::Ordering::Greater,
                (_, None, None) => std::cmp::Ordering::Equal,
            };
            let primary = if descending { primary.reverse() } else { primary };
            primary.then_with(|| a.name.cmp(&b.name)).then(a.master_id.cmp(&b.master_id))
        });
    }
}

/// The row of master `id`, started empty.
fn entry(rows: &mut BTreeMap<MasterId, MasterRow>, id: MasterId) -> &mut MasterRow {
    rows.entry(id).or_insert_with(|| MasterRow { master_id: id, ..MasterRow::default() })
}

/// The masters report of `days` in `scope`, sorted by `sort` (revenue, highest first, by default).
pub fn report(conn: &Connection, days: &Days, scope: &Scope, sort: Option<SortKey>, descending: Option<bool>) -> Result<Masters> {
    let w = Window::new(days);
    let p = w.params(scope);
    let mut rows: BTreeMap<MasterId, MasterRow> = BTreeMap::new();

    let pairs = |sql: String| -> Result<Vec<(MasterId, i64)>> {
        Ok(conn.prepare_cached(&sql)?.query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?)
    };
    for (id, n) in pairs(format!(
        "SELECT f.master_id, COUNT(*) FROM offers f JOIN orders o ON o.id = f.order_id
         WHERE {IN_SCOPE} AND f.sent_at >= ?3 AND f.sent_at < ?4 GROUP BY f.master_id"
    ))? {
        entry(&mut rows, id).offers = n;
    }

    let answers: Vec<(MasterId, String, i64)> = conn
        .prepare_cached(&format!(
            "SELECT f.master_id, f.state, f.responded_at - f.sent_at FROM offers f JOIN orders o ON o.id = f.order_id
             WHERE {IN_SCOPE} AND f.responded_at >= ?3 AND f.responded_at < ?4 AND f.state IN ('ACCEPTED', 'DECLINED', 'EXPIRED')"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut responses: BTreeMap<MasterId, Vec<i64>> = BTreeMap::new();
    for (id, state, took) in answers {
        let r = entry(&mut rows, id);
        match state.as_str() {
            "ACCEPTED" => r.accepted += 1,
            "DECLINED" => r.declined += 1,
            _ => {
                r.expired += 1;
                continue;
            }
        }
        responses.entry(id).or_default().push(took / 1000);
    }

    let closed: Vec<(MasterId, i64, i64)> = conn
        .prepare_cached(&format!(
            "SELECT o.assigned_master_id, COUNT(*), SUM(o.total_sum_kop) FROM orders o
             WHERE {IN_SCOPE} AND o.status = 'CLOSED' AND o.assigned_master_id IS NOT NULL AND o.closed_at >= ?3 AND o.closed_at < ?4
             GROUP BY o.assigned_master_id"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, n, sum) in closed {
        let r = entry(&mut rows, id);
        (r.closed, r.revenue_kop) = (n, sum);
    }

    let commissions: Vec<(MasterId, String, i64)> = conn
        .prepare_cached(&format!(
            "SELECT c.master_id, c.status, SUM(CASE WHEN c.status = 'APPROVED' THEN COALESCE(c.paid_amount_kop, c.amount_kop) ELSE c.amount_kop END)
             FROM commissions c JOIN orders o ON o.id = c.order_id
             WHERE {IN_SCOPE} AND c.created_at >= ?3 AND c.created_at < ?4 GROUP BY c.master_id, c.status"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, status, sum) in commissions {
        let r = entry(&mut rows, id);
        match status.as_str() {
            "APPROVED" => r.paid_kop += sum,
            "OVERDUE" => {
                r.owed_kop += sum;
                r.overdue_kop += sum;
            }
            _ => r.owed_kop += sum,
        }
    }

    for (id, n) in pairs(format!(
        "SELECT s.assigned_master_id, COUNT(*) FROM orders o JOIN orders s ON s.id = o.guarantee_source_order_id
         WHERE {IN_SCOPE} AND o.type = 'GUARANTEE' AND s.assigned_master_id IS NOT NULL AND o.created_at >= ?3 AND o.created_at < ?4
         GROUP BY s.assigned_master_id"
    ))? {
        entry(&mut rows, id).revisits = n;
    }

    let mut name = conn.prepare_cached("SELECT full_name FROM masters WHERE id = ?1")?;
    let mut rows: Vec<MasterRow> = rows.into_values().collect();
    for r in &mut rows {
        r.name = name.query_row([r.master_id], |x| x.get(0))?;
        r.acceptance_percent = percent(r.accepted, r.accepted + r.declined + r.expired);
        r.response_p50_seconds = responses.get_mut(&r.master_id).and_then(|v| percentile(v, 50));
    }
    let sort = sort.unwrap_or(SortKey::Revenue);
    let descending = descending.unwrap_or(sort != SortKey::Name);
    sort.sort(&mut rows, descending);
    Ok(Masters { first: date(days.first), last: date(days.last), sort, descending, rows })
}
