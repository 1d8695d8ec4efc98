//! The dispatch board's read model (issue 4): the open orders of a staff member's cities, sorted into the
//! columns a dispatcher works through — what needs a human first, then what the engine is searching for,
//! then the work in progress. One query per refresh; the page and its live updates both read it.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};

use crate::db::{at, ms};
use crate::domain::{Category, CityId, MasterId, OrderId, OrderStatus, OrderType};
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::staff::Staff;

/// A DEFERRED order waking within this long is shown as due soon.
pub const DUE_SOON: Duration = Duration::hours(2);
/// Orders shown per column (oldest first); the counter still counts them all and the rest are a link
/// to the order list away. A busy firm's board stays a page a browser redraws in an instant.
pub const SHOWN_PER_COLUMN: usize = 50;

/// A column of the board, in the order a dispatcher should look at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// Escalated to the admins: the logists did not place it in time.
    AdminEscalated,
    /// Escalated to the logists: the engine could not place it.
    LogistEscalated,
    /// "Address incomplete": never distributed automatically.
    NoDistrict,
    /// DEFERRED, waking within [`DUE_SOON`] (or overdue).
    Deferred,
    /// The engine is offering it, round after round.
    Searching,
    /// A master has it: ASSIGNED, EN_ROUTE, WORKING, PAYMENT.
    InProgress,
}

impl Column {
    /// Every column, left to right.
    pub const ALL: [Column; 6] =
        [Column::AdminEscalated, Column::LogistEscalated, Column::NoDistrict, Column::Deferred, Column::Searching, Column::InProgress];

    /// Its stable name, used in element ids (`col-<name>`) and catalog keys.
    pub fn name(self) -> &'static str {
        match self {
            Column::AdminEscalated => "admin-escalated",
            Column::LogistEscalated => "logist-escalated",
            Column::NoDistrict => "no-district",
            Column::Deferred => "deferred",
            Column::Searching => "searching",
            Column::InProgress => "in-progress",
        }
    }

    /// The column of an order: the first that applies, in board order.
    fn of(order: &BoardOrder) -> Column {
        // A master's order is in progress even if an escalation mark was left on it by a direct assignment.
        if OrderStatus::ACTIVE.contains(&order.status) {
            Column::InProgress
        } else if order.escalated_admin_at.is_some() {
            Column::AdminEscalated
        } else if order.escalated_logist_at.is_some() {
            Column::LogistEscalated
        } else if order.no_district {
            Column::NoDistrict
        } else if order.status == OrderStatus::Deferred {
            Column::Deferred
        } else {
            Column::Searching
        }
    }
}

/// An open offer a master has not answered yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LiveOffer {
    /// The master.
    pub master_id: MasterId,
    /// His name.
    pub master_name: String,
    /// Live until (exclusive).
    pub expires_at: DateTime<Utc>,
}

/// One order on the board.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoardOrder {
    pub id: OrderId,
    pub city: String,
    /// The city's IANA zone: every time of the order is shown in it.
    pub timezone: String,
    pub district: Option<String>,
    pub no_district: bool,
    pub street: Option<String>,
    pub house: Option<String>,
    pub category: Category,
    pub status: OrderStatus,
    pub order_type: OrderType,
    pub timeslot_start: Option<DateTime<Utc>>,
    pub timeslot_end: Option<DateTime<Utc>>,
    pub deferred_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub escalated_logist_at: Option<DateTime<Utc>>,
    pub escalated_admin_at: Option<DateTime<Utc>>,
    /// Why it was escalated (`no_district`, `rounds_exhausted`, `no_candidates`, `prev_offers_expired`).
    pub escalation_reason: Option<String>,
    /// Rounds offered in the current distribution cycle.
    pub round: i64,
    /// The distribution cycle (a return to search or an edit of category or district starts a new one).
    pub cycle: i64,
    /// The offer waiting for an answer, if any.
    pub live_offer: Option<LiveOffer>,
    /// The master doing the job.
    pub master_name: Option<String>,
}

/// Orders of one status inside a column (the in-progress column is split by status; the others have one
/// group without a status).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group {
    pub status: Option<OrderStatus>,
    /// Orders in the group, also those not shown.
    pub count: usize,
    pub orders: Vec<BoardOrder>,
}

/// One column with its orders.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoardColumn {
    pub column: Column,
    /// Orders in the column.
    pub count: usize,
    pub groups: Vec<Group>,
    /// Orders beyond [`SHOWN_PER_COLUMN`], not shown.
    pub hidden: usize,
}

/// A city the staff member may filter by.
#[derive(Debug, Clone, PartialEq)]
pub struct CityChoice {
    pub id: CityId,
    pub name: String,
}

/// The board of one staff member at one moment.
#[derive(Debug, Clone)]
pub struct Board {
    /// When it was read (countdowns are counted from it).
    pub now: DateTime<Utc>,
    /// Automatic rounds per cycle (the settings).
    pub rounds: i64,
    /// The chosen city, `None` = all his cities.
    pub city: Option<CityId>,
    /// The cities of the filter: his own (every city for a global admin).
    pub cities: Vec<CityChoice>,
    pub columns: Vec<BoardColumn>,
}

impl Board {
    /// A digest of what the board shows, independent of the clock's second hand: the live updates send
    /// an event only when it changes.
    pub fn signature(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        (self.rounds, &self.columns).hash(&mut hasher);
        hasher.finish()
    }
}

/// The city scope of a staff member's query, as JSON for `json_each`: `None` = every city.
fn scope(staff: &Staff, city: Option<CityId>) -> Result<Option<String>> {
    match city {
        Some(city) if !staff.sees(city) => Err(Error::NotFound { what: "city" }),
        Some(city) => Ok(Some(format!("[{city}]"))),
        None if staff.role == crate::domain::StaffRole::GlobalAdmin => Ok(None),
        None => Ok(Some(serde_json::to_string(&staff.cities).unwrap_or_else(|_| "[]".into()))),
    }
}

/// The cities a staff member may filter the board by, by name.
pub fn cities(conn: &Connection, staff: &Staff) -> Result<Vec<CityChoice>> {
    let scope = scope(staff, None)?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, name FROM cities WHERE ?1 IS NULL OR id IN (SELECT value FROM json_each(?1)) ORDER BY name",
    )?;
    let rows = stmt.query_map([scope], |r| Ok(CityChoice { id: r.get(0)?, name: r.get(1)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The board's columns for `staff`, limited to `city` when given (a city he does not see is "not found").
pub fn columns(conn: &Connection, staff: &Staff, now: DateTime<Utc>, city: Option<CityId>) -> Result<Vec<BoardColumn>> {
    let scope = scope(staff, city)?;
    // Open orders only; a DEFERRED one only when due soon or escalated. The live offer and the round come
    // from the order's offers in the same pass.
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, c.name, c.timezone, d.name, o.no_district, s.name, o.house, o.category, o.status, o.type,
                o.timeslot_start, o.timeslot_end, o.deferred_until, o.created_at, o.dist_escalated_logist_at,
                o.dist_escalated_admin_at, o.dist_escalation_reason,
                (SELECT COALESCE(MAX(f.round_number), 0) FROM offers f WHERE f.order_id = o.id AND f.dist_cycle = o.dist_cycle),
                lf.master_id, lm.full_name, lf.expires_at, am.full_name, o.dist_cycle
         FROM orders o
         JOIN cities c ON c.id = o.city_id
         LEFT JOIN districts d ON d.id = o.district_id
         LEFT JOIN streets s ON s.id = o.street_id
         LEFT JOIN offers lf ON lf.id = (SELECT f.id FROM offers f WHERE f.order_id = o.id AND f.state IN ('SENT', 'VIEWED')
                                         AND f.expires_at > ?1 ORDER BY f.id DESC LIMIT 1)
         LEFT JOIN masters lm ON lm.id = lf.master_id
         LEFT JOIN masters am ON am.id = o.assigned_master_id
         WHERE o.status IN ('CREATED', 'SEARCHING', 'GUARANTEE', 'DEFERRED', 'ASSIGNED', 'EN_ROUTE', 'WORKING', 'PAYMENT')
           AND (o.status <> 'DEFERRED' OR o.deferred_until <= ?2 OR o.dist_escalated_logist_at IS NOT NULL)
           AND (?3 IS NULL OR o.city_id IN (SELECT value FROM json_each(?3)))
         ORDER BY o.created_at, o.id",
    )?;
    let time = |v: Option<i64>| v.map(at);
    let rows = stmt.query_map(params![ms(now), ms(now + DUE_SOON), scope], |r| {
        let live_master: Option<MasterId> = r.get(18)?;
        Ok(BoardOrder {
            id: r.get(0)?,
            city: r.get(1)?,
            timezone: r.get(2)?,
            district: r.get(3)?,
            no_district: r.get(4)?,
            street: r.get(5)?,
            house: r.get(6)?,
            category: r.get(7)?,
            status: r.get(8)?,
            order_type: r.get(9)?,
            timeslot_start: time(r.get(10)?),
            timeslot_end: time(r.get(11)?),
            deferred_until: time(r.get(12)?),
            created_at: at(r.get(13)?),
            escalated_logist_at: time(r.get(14)?),
            escalated_admin_at: time(r.get(15)?),
            escalation_reason: r.get(16)?,
            round: r.get(17)?,
            cycle: r.get(22)?,
            live_offer: match live_master {
                Some(master_id) => Some(LiveOffer { master_id, master_name: r.get(19)?, expires_at: at(r.get(20)?) }),
                None => None,
            },
            master_name: r.get(21)?,
        })
    })?;
    let mut columns: Vec<BoardColumn> =
        Column::ALL.iter().map(|&column| BoardColumn { column, count: 0, groups: Vec::new(), hidden: 0 }).collect();
    for order in rows {
        let order = order?;
        let column = Column::of(&order);
        let status = (column == Column::InProgress).then_some(order.status);
        let slot = &mut columns[Column::ALL.iter().position(|c| *c == column).unwrap_or_default()];
        slot.count += 1;
        match slot.groups.iter_mut().find(|g| g.status == status) {
            Some(group) => {
                group.count += 1;
                group.orders.push(order);
            }
            None => slot.groups.push(Group { status, count: 1, orders: vec![order] }),
        }
    }
    for column in &mut columns {
        if column.column == Column::Deferred {
            for group in &mut column.groups {
                group.orders.sort_by_key(|o| (o.deferred_until, o.id));
            }
        }
        column.groups.sort_by_key(|g| g.status.and_then(|s| OrderStatus::ACTIVE.iter().position(|a| *a == s)));
        let mut room = SHOWN_PER_COLUMN;
        for group in &mut column.groups {
            group.orders.truncate(room);
            room -= group.orders.len();
        }
        column.hidden = column.count - (SHOWN_PER_COLUMN - room);
    }
    Ok(columns)
}

/// The whole board: its columns, the rounds setting and the city filter's choices.
pub fn read(conn: &Connection, staff: &Staff, now: DateTime<Utc>, city: Option<CityId>) -> Result<Board> {
    let rounds = Settings::load(conn)?.distribution_rounds;
    Ok(Board { now, rounds, city, cities: cities(conn, staff)?, columns: columns(conn, staff, now, city)? })
}

/// Seconds as `m:ss`.
pub fn minutes_seconds(seconds: i64) -> String {
    let seconds = seconds.max(0);
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

impl BoardOrder {
    /// Street and house, as known.
    pub fn address(&self) -> String {
        [self.street.as_deref(), self.house.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ")
    }

    /// Seconds left for the master to answer the live offer.
    pub fn seconds_left(&self, now: &DateTime<Utc>) -> i64 {
        self.live_offer.as_ref().map_or(0, |o| (o.expires_at - *now).num_seconds().max(0))
    }

    /// The status pill's class.
    pub fn pill(&self) -> String {
        if self.escalated_logist_at.is_some() && !OrderStatus::ACTIVE.contains(&self.status) {
            "escalated".into()
        } else {
            self.status.as_str().to_lowercase()
        }
    }

    /// A guarantee order (whatever its status).
    pub fn is_guarantee(&self) -> bool {
        self.order_type == OrderType::Guarantee
    }
}

impl Board {
    /// Whether the filter shows only `city`.
    pub fn chose(&self, city: &CityId) -> bool {
        self.city == Some(*city)
    }
}
