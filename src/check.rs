//! `fieldservice check`: SQLite's own integrity checks plus the engine's invariants.

use rusqlite::Connection;

/// One invariant: a name and a query returning the ids that break it.
const INVARIANTS: &[(&str, &str)] = &[
    ("order with two ACCEPTED offers", "SELECT order_id FROM offers WHERE state = 'ACCEPTED' GROUP BY order_id HAVING COUNT(*) > 1"),
    (
        "assigned order with live offers",
        "SELECT DISTINCT o.id FROM orders o JOIN offers f ON f.order_id = o.id
         WHERE o.assigned_master_id IS NOT NULL AND f.state IN ('SENT', 'VIEWED')",
    ),
    (
        "ACCEPTED offer whose order belongs to another master",
        "SELECT f.order_id FROM offers f JOIN orders o ON o.id = f.order_id
         WHERE f.state = 'ACCEPTED' AND o.status NOT IN ('CANCELED') AND o.assigned_master_id IS NOT f.master_id
           AND o.dist_cycle = f.dist_cycle",
    ),
    (
        "order in an active status without a master",
        "SELECT id FROM orders WHERE status IN ('ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT') AND assigned_master_id IS NULL",
    ),
    (
        "assigned order still in a searching status",
        "SELECT id FROM orders WHERE assigned_master_id IS NOT NULL AND status IN ('SEARCHING', 'GUARANTEE', 'DEFERRED', 'CREATED')",
    ),
    ("DEFERRED order without a wake-up time", "SELECT id FROM orders WHERE status = 'DEFERRED' AND deferred_until IS NULL"),
    ("order without a history row", "SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_status_history h WHERE h.order_id = o.id)"),
    (
        "master with inconsistent shift flags",
        "SELECT id FROM masters WHERE is_on_shift <> (shift_status = 'SHIFT_ON') OR (shift_status = 'BREAK') <> (break_until IS NOT NULL)",
    ),
    ("blocked master still active", "SELECT id FROM masters WHERE is_blocked = 1 AND is_active = 1"),
];

/// Every problem found; empty means the database is sound.
pub fn run(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut problems = Vec::new();
    let integrity: Vec<String> =
        conn.prepare("PRAGMA integrity_check")?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    if integrity != ["ok"] {
        problems.extend(integrity.into_iter().map(|line| format!("integrity: {line}")));
    }
    let mut fk = conn.prepare("PRAGMA foreign_key_check")?;
    let broken = fk.query_map([], |r| Ok(format!("foreign key: {} row {} -> {}", r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?;
    for line in broken {
        problems.push(line?);
    }
    for (name, sql) in INVARIANTS {
        let ids: Vec<i64> = conn.prepare(sql)?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        if !ids.is_empty() {
            problems.push(format!("{name}: {ids:?}"));
        }
    }
    Ok(problems)
}
