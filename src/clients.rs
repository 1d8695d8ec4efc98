//! A client's history: his orders by normalised phone, in the caller's cities (issue 12). The order card
//! and the new-order form show it; a client with an earlier order is a repeat client.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use crate::db::at;
use crate::domain::{Category, CityId, MasterId, OrderId, OrderStatus, OrderType};
use crate::error::{Result, invalid};
use crate::phone;
use crate::staff::Staff;

/// The most orders a history shows (newest first).
pub const HISTORY_LIMIT: i64 = 50;

/// One order of a client.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientOrder {
    pub id: OrderId,
    pub city_id: CityId,
    /// The city's time zone, for showing the date.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub status: OrderStatus,
    pub category: Category,
    pub order_type: OrderType,
    pub master_id: Option<MasterId>,
    pub master_name: Option<String>,
    /// Amount entered at closing, kopecks (0 until closed).
    pub total_sum_kop: i64,
    pub closed_at: Option<DateTime<Utc>>,
    /// A guarantee order made from this one, if any.
    pub guarantee_order_id: Option<OrderId>,
}

/// A client's orders in the caller's cities.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientHistory {
    /// The phone, normalised.
    pub phone: String,
    /// Newest first, at most 50.
    pub orders: Vec<ClientOrder>,
}

/// The orders of the client with phone `raw` (any common spelling) that the staff member may see.
pub fn history(conn: &Connection, staff: &Staff, raw: &str) -> Result<ClientHistory> {
    let phone = phone::normalize(raw).ok_or_else(|| invalid("phone", "phone"))?;
    let cities = (staff.role != crate::domain::StaffRole::GlobalAdmin).then(|| serde_json::to_string(&staff.cities).unwrap_or_default());
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.city_id, c.timezone, o.created_at, o.status, o.category, o.type, o.assigned_master_id, m.full_name,
                o.total_sum_kop, o.closed_at,
                (SELECT g.id FROM orders g WHERE g.guarantee_source_order_id = o.id ORDER BY g.id DESC LIMIT 1)
         FROM orders o JOIN cities c ON c.id = o.city_id LEFT JOIN masters m ON m.id = o.assigned_master_id
         WHERE o.client_phone = ?1 AND (?2 IS NULL OR o.city_id IN (SELECT value FROM json_each(?2)))
         ORDER BY o.created_at DESC, o.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![phone, cities, HISTORY_LIMIT], |r| {
        Ok(ClientOrder {
            id: r.get(0)?,
            city_id: r.get(1)?,
            timezone: r.get(2)?,
            created_at: at(r.get(3)?),
            status: r.get(4)?,
            category: r.get(5)?,
            order_type: r.get(6)?,
            master_id: r.get(7)?,
            master_name: r.get(8)?,
            total_sum_kop: r.get(9)?,
            closed_at: r.get::<_, Option<i64>>(10)?.map(at),
            guarantee_order_id: r.get(11)?,
        })
    })?;
    Ok(ClientHistory { phone, orders: rows.collect::<rusqlite::Result<_>>()? })
}
