//! The staff alert feed: escalations and other things a dispatcher must see (distribution.md §5.7.4).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::db::ms;
use crate::domain::{CityId, OrderId, StaffId};

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
