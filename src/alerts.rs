//! The staff alert feed: escalations and other things a dispatcher must see (distribution.md §5.7.4).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::db::{at, ms};
use crate::domain::{CityId, OrderId, StaffId};
use crate::error::{Error, Result, invalid};

/// Active CITY_ADMIN or GLOBAL_ADMIN staff bound to the city, plus active GLOBAL_ADMIN staff bound to no city.
pub fn admin_recipients(conn: &Connection, city: CityId) -> rusqlite::Result<Vec<StaffId>> {
    recipients(conn, city, false)
}

/// Active LOGIST staff bound to the city or to no city, plus the admin recipients; sorted, no duplicates.
pub fn logist_recipients(conn: &Connection, city: CityId) -> rusqlite::Result<Vec<StaffId>> {
    recipients(conn, city, true)
}

fn recipients(conn: &Connection, city: CityId, with_logists: bool) -> rusqlite::Result<Vec<StaffId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id FROM staff_users s
         WHERE s.is_active = 1 AND (
               (s.role IN ('CITY_ADMIN', 'GLOBAL_ADMIN') OR (?2 AND s.role = 'LOGIST'))
                   AND EXISTS (SELECT 1 FROM staff_cities c WHERE c.staff_id = s.id AND c.city_id = ?1)
            OR (s.role = 'GLOBAL_ADMIN' OR (?2 AND s.role = 'LOGIST'))
                   AND NOT EXISTS (SELECT 1 FROM staff_cities c WHERE c.staff_id = s.id))
         ORDER BY s.id",
    )?;
    let ids = stmt.query_map(params![city, with_logists], |row| row.get(0))?;
    ids.collect()
}

/// Raises an alert for `recipients`; returns its id.
pub fn raise(
    conn: &Connection,
    now: DateTime<Utc>,
    kind: &str,
    order_id: Option<OrderId>,
    city_id: Option<CityId>,
    payload: &Value,
    recipients: &[StaffId],
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO staff_alerts (kind, order_id, city_id, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![kind, order_id, city_id, payload.to_string(), ms(now)])?;
    let alert = conn.last_insert_rowid();
    let mut deliver =
        conn.prepare_cached("INSERT OR IGNORE INTO staff_alert_recipients (alert_id, staff_id) VALUES (?1, ?2)")?;
    for staff in recipients {
        deliver.execute(params![alert, staff])?;
    }
    Ok(alert)
}

/// Orders searching for a master longer than this raise a backlog alert (distribution.md §13.1).
pub const UNASSIGNED_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// Alerts each city's logists about SEARCHING orders created more than 10 minutes ago; returns the
/// number of alerts raised.
pub fn monitor_unassigned(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(
        "SELECT city_id, COUNT(*) FROM orders
         WHERE status = 'SEARCHING' AND assigned_master_id IS NULL AND created_at < ?1 GROUP BY city_id",
    )?;
    let backlog: Vec<(CityId, i64)> =
        stmt.query_map([ms(now - UNASSIGNED_AFTER)], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    for (city, count) in &backlog {
        let recipients = logist_recipients(conn, *city)?;
        raise(conn, now, "unassigned_backlog", None, Some(*city), &serde_json::json!({"count": count, "minutes": 10}), &recipients)?;
    }
    Ok(backlog.len())
}

/// Longest page of the alert feed.
pub const MAX_FEED: i64 = 200;

/// One alert as its recipient sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// Id.
    pub id: i64,
    /// `escalation_logist`, `escalation_admin`, `guarantee_refusal`, `unassigned_backlog`, `commission_overdue` or `error`.
    pub kind: String,
    /// The order concerned, if one.
    pub order_id: Option<OrderId>,
    /// The city concerned, if one.
    pub city_id: Option<CityId>,
    /// Details, by kind (e.g. the order summary and the escalation reason).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Raised.
    pub created_at: DateTime<Utc>,
    /// When this recipient marked it read.
    pub read_at: Option<DateTime<Utc>>,
}

/// The alerts delivered to `staff`, newest first, at most `limit` (1..=[`MAX_FEED`]); only unread ones when
/// `unread_only`.
pub fn feed(conn: &Connection, staff: StaffId, unread_only: bool, limit: i64) -> Result<Vec<AlertView>> {
    if !(1..=MAX_FEED).contains(&limit) {
        return Err(invalid("limit", format!("range:1:{MAX_FEED}")));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.kind, a.order_id, a.city_id, a.payload, a.created_at, r.read_at
         FROM staff_alert_recipients r JOIN staff_alerts a ON a.id = r.alert_id
         WHERE r.staff_id = ?1 AND (NOT ?2 OR r.read_at IS NULL)
         ORDER BY a.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![staff, unread_only, limit], |r| {
        let payload: String = r.get(4)?;
        Ok(AlertView {
            id: r.get(0)?,
            kind: r.get(1)?,
            order_id: r.get(2)?,
            city_id: r.get(3)?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            created_at: at(r.get(5)?),
            read_at: r.get::<_, Option<i64>>(6)?.map(at),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Marks an alert delivered to `staff` read (again: no change); another's alert is "not found".
pub fn mark_read(conn: &Connection, now: DateTime<Utc>, staff: StaffId, alert: i64) -> Result<()> {
    let delivered = conn.execute(
        "UPDATE staff_alert_recipients SET read_at = COALESCE(read_at, ?3) WHERE alert_id = ?1 AND staff_id = ?2",
        params![alert, staff, ms(now)],
    )?;
    if delivered == 0 { Err(Error::NotFound { what: "alert" }) } else { Ok(()) }
}

/// Marks every unread alert delivered to `staff` read; returns how many were unread.
pub fn mark_all_read(conn: &Connection, now: DateTime<Utc>, staff: StaffId) -> Result<usize> {
    let marked = conn.execute("UPDATE staff_alert_recipients SET read_at = ?2 WHERE staff_id = ?1 AND read_at IS NULL", params![staff, ms(now)])?;
    Ok(marked)
}
