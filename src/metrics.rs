//! Distribution metrics: one row per assignment (distribution.md §12).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::json;

use crate::db::ms;
use crate::domain::{MasterId, StaffId};
use crate::orders::Order;

/// How the order got its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The master accepted an offer.
    MasterAccept,
    /// Staff assigned him directly.
    AdminManual,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::MasterAccept => "master_accept",
            Via::AdminManual => "admin_manual",
        }
    }
}

/// Records the metrics row of an assignment inside the assigning transaction, under a savepoint: if the
/// row cannot be written the failure is logged and the assignment stands (§12: "must not undo it").
/// The escalation flags come from the order's event log ("was ever escalated"), not from the current
/// timestamps, which an offer clears.
pub fn record_assignment(conn: &Connection, now: DateTime<Utc>, order: &Order, master: MasterId, via: Via, staff: Option<StaffId>) {
    // Cached statements: this runs in every accept, inside the writer's transaction.
    let result = conn.prepare_cached("SAVEPOINT metrics").and_then(|mut s| s.execute([])).and_then(|_| {
        let inserted = insert(conn, now, order, master, via, staff);
        match inserted {
            Ok(()) => conn.prepare_cached("RELEASE metrics")?.execute([]).map(drop),
            Err(error) => conn.execute_batch("ROLLBACK TO metrics; RELEASE metrics").and(Err(error)),
        }
    });
    if let Err(error) = result {
        tracing::warn!(order = order.id, %error, "distribution metric not recorded");
    }
}

fn insert(conn: &Connection, now: DateTime<Utc>, order: &Order, master: MasterId, via: Via, staff: Option<StaffId>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO distribution_metrics (order_id, master_id, assigned_at, assigned_via, round_number, candidates_count,
             time_to_assign_seconds, preferred_master_used, was_escalated_to_logist, was_escalated_to_admin,
             city_id, district_id, category, order_type, metadata, created_at)
         SELECT o.id, ?2, ?3, ?4,
                COALESCE((SELECT MAX(round_number) FROM offers WHERE order_id = o.id AND dist_cycle = o.dist_cycle), 0),
                (SELECT COUNT(DISTINCT master_id) FROM offers WHERE order_id = o.id AND dist_cycle = o.dist_cycle),
                (?3 - o.created_at) / 1000,
                COALESCE(o.preferred_master_id = ?2, 0),
                EXISTS (SELECT 1 FROM order_events WHERE order_id = o.id AND kind = 'escalation_logist'),
                EXISTS (SELECT 1 FROM order_events WHERE order_id = o.id AND kind = 'escalation_admin'),
                o.city_id, o.district_id, o.category, o.type, ?5, ?3
         FROM orders o WHERE o.id = ?1",
    )?
    .execute(params![
        order.id,
        master,
        ms(now),
        via.as_str(),
        json!({"assigned_via": via.as_str(), "from_status": order.status, "staff_id": staff}).to_string(),
    ])?;
    Ok(())
}
