//! The money report (issue 13): revenue (the sums of the orders closed in the period), the commissions
//! accrued in it and what became of them, the commissions approved (money received) in it, by day and by
//! city, and the referral rewards accrued in it. In the cities of the scope (the order's city).

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use super::period::Days;
use super::{IN_SCOPE, Scope, Window, date};
use crate::domain::CityId;
use crate::error::Result;

/// The money report of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Money {
    /// The first day (`YYYY-MM-DD`, the operator's).
    pub first: String,
    /// The last day, included.
    pub last: String,
    /// The whole period.
    pub totals: MoneyFigures,
    /// Each day of the period.
    pub days: Vec<MoneyDay>,
    /// Each city with anything in the period, by name.
    pub cities: Vec<MoneyCity>,
    /// Referral rewards accrued in the period.
    pub referral: ReferralRewards,
}

/// The money figures of a period, a day or a city. Commissions are counted on the day they were created
/// (the job's close), except `approved_kop`, counted on the day of the approval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct MoneyFigures {
    /// Orders closed.
    pub closed: i64,
    /// Their sum, kopecks.
    pub revenue_kop: i64,
    /// Commissions created, kopecks.
    pub accrued_kop: i64,
    /// Commissions approved (the amount received), kopecks.
    pub approved_kop: i64,
    /// Of the accrued, those not yet approved (waiting, reported or overdue), kopecks.
    pub outstanding_kop: i64,
    /// Of the outstanding, those overdue, kopecks.
    pub overdue_kop: i64,
}

/// One day's money.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MoneyDay {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Its figures.
    pub figures: MoneyFigures,
}

/// One city's money.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MoneyCity {
    /// The city.
    pub city_id: CityId,
    /// Its name.
    pub city: String,
    /// Its figures.
    pub figures: MoneyFigures,
}

/// Referral rewards accrued in the period, by what became of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReferralRewards {
    /// How many rewards.
    pub count: i64,
    /// Still to be paid to the referrers, kopecks.
    pub accrued_kop: i64,
    /// Paid, kopecks.
    pub paid_kop: i64,
    /// Canceled, kopecks.
    pub canceled_kop: i64,
}

/// What one row of a money query adds to a day and a city.
enum Add {
    Closed(i64),
    Accrued { amount: i64, status: String },
    Approved(i64),
}

impl MoneyFigures {
    fn add(&mut self, add: &Add) {
        match add {
            Add::Closed(sum) => {
                self.closed += 1;
                self.revenue_kop += sum;
            }
            Add::Accrued { amount, status } => {
                self.accrued_kop += amount;
                if status != "APPROVED" {
                    self.outstanding_kop += amount;
                }
                if status == "OVERDUE" {
                    self.overdue_kop += amount;
                }
            }
            Add::Approved(paid) => self.approved_kop += paid,
        }
    }
}

/// The money report of `days` in `scope`.
pub fn report(conn: &Connection, days: &Days, scope: &Scope) -> Result<Money> {
    let w = Window::new(days);
    let p = w.params(scope);
    let rows = |sql: String, f: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Add>| -> Result<Vec<(i64, CityId, Add)>> {
        Ok(conn.prepare_cached(&sql)?.query_map(p, |r| Ok((r.get(0)?, r.get(1)?, f(r)?)))?.collect::<rusqlite::Result<_>>()?)
    };
    let mut all = rows(
        format!("SELECT o.closed_at, o.city_id, o.total_sum_kop FROM orders o WHERE {IN_SCOPE} AND o.status = 'CLOSED' AND o.closed_at >= ?3 AND o.closed_at < ?4"),
        |r| Ok(Add::Closed(r.get(2)?)),
    )?;
    all.extend(rows(
        format!(
            "SELECT c.created_at, o.city_id, c.amount_kop, c.status FROM commissions c JOIN orders o ON o.id = c.order_id
             WHERE {IN_SCOPE} AND c.created_at >= ?3 AND c.created_at < ?4"
        ),
        |r| Ok(Add::Accrued { amount: r.get(2)?, status: r.get(3)? }),
    )?);
    all.extend(rows(
        format!(
            "SELECT c.paid_approved_at, o.city_id, COALESCE(c.paid_amount_kop, c.amount_kop) FROM commissions c JOIN orders o ON o.id = c.order_id
             WHERE {IN_SCOPE} AND c.status = 'APPROVED' AND c.paid_approved_at >= ?3 AND c.paid_approved_at < ?4"
        ),
        |r| Ok(Add::Approved(r.get(2)?)),
    )?);

    let mut totals = MoneyFigures::default();
    let mut per_day: Vec<MoneyDay> = days.each().map(|d| MoneyDay { date: date(d), figures: MoneyFigures::default() }).collect();
    let mut per_city: BTreeMap<CityId, MoneyFigures> = BTreeMap::new();
    for (at, city, add) in &all {
        let Some(day) = w.day(*at) else { continue };
        totals.add(add);
        per_day[day].figures.add(add);
        per_city.entry(*city).or_default().add(add);
    }
    let mut name = conn.prepare_cached("SELECT name FROM cities WHERE id = ?1")?;
    let mut cities = Vec::with_capacity(per_city.len());
    for (city_id, figures) in per_city {
        cities.push(MoneyCity { city_id, city: name.query_row([city_id], |r| r.get(0))?, figures });
    }
    cities.sort_by(|a, b| a.city.cmp(&b.city));

    let mut referral = ReferralRewards::default();
    let rewards: Vec<(String, i64, i64)> = conn
        .prepare_cached(&format!(
            "SELECT rr.status, COUNT(*), SUM(rr.amount_kop) FROM referral_rewards rr
             JOIN commissions c ON c.id = rr.commission_id JOIN orders o ON o.id = c.order_id
             WHERE {IN_SCOPE} AND rr.created_at >= ?3 AND rr.created_at < ?4 GROUP BY rr.status"
        ))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (status, n, sum) in rewards {
        referral.count += n;
        match status.as_str() {
            "PAID" => referral.paid_kop += sum,
            "CANCELED" => referral.canceled_kop += sum,
            _ => referral.accrued_kop += sum,
        }
    }

    Ok(Money { first: date(days.first), last: date(days.last), totals, days: per_day, cities, referral })
}
