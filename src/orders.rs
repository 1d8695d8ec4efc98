//! Orders: creation, the status history, and the staff actions on an order — direct assignment,
//! return to search, cancel, activate a deferred order, and guarantee orders (distribution.md §3, §7, §9).

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::cities;
use crate::db::{at, ms};
use crate::domain::{ActorType, Category, CityId, DistrictId, MasterId, OrderId, OrderStatus, OrderType, StaffId};
use crate::engine::candidates;
use crate::error::{Error, Result, check_length, invalid};
use crate::events;
use crate::metrics;
use crate::notifications;
use crate::phone;
use crate::settings::Settings;
use crate::slots;
use crate::staff::Staff;

/// An order as the rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Id, shown as `#id`.
    pub id: OrderId,
    /// City.
    pub city_id: CityId,
    /// District, if known.
    pub district_id: Option<DistrictId>,
    /// "Address incomplete": never auto-distributed.
    pub no_district: bool,
    /// Kind of work.
    pub category: Category,
    /// Status.
    pub status: OrderStatus,
    /// NORMAL or GUARANTEE.
    pub order_type: OrderType,
    /// Visit window start.
    pub timeslot_start: Option<DateTime<Utc>>,
    /// When a DEFERRED order wakes.
    pub deferred_until: Option<DateTime<Utc>>,
    /// The original master of a guarantee order.
    pub preferred_master_id: Option<MasterId>,
    /// The master doing the job.
    pub assigned_master_id: Option<MasterId>,
    /// Distribution cycle (decisions D-17).
    pub dist_cycle: i64,
    /// When the order became distributable in this cycle.
    pub dist_since_at: DateTime<Utc>,
    /// Escalated to a logist at least once in this cycle.
    pub dist_escalated_in_cycle: bool,
    /// Logist escalation time.
    pub escalated_logist_at: Option<DateTime<Utc>>,
    /// Admin escalation time.
    pub escalated_admin_at: Option<DateTime<Utc>>,
    /// When the logists were notified.
    pub logist_notified_at: Option<DateTime<Utc>>,
    /// When the admins were notified.
    pub admin_notified_at: Option<DateTime<Utc>>,
    /// Source of a guarantee order.
    pub guarantee_source_order_id: Option<OrderId>,
    /// Closing time.
    pub closed_at: Option<DateTime<Utc>>,
    /// Amount entered at closing, kopecks.
    pub total_sum_kop: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-lock counter (decisions D-11).
    pub version: i64,
}

impl Order {
    /// A guarantee order, whatever its current status (distribution.md §5.5 step 10).
    pub fn is_guarantee(&self) -> bool {
        self.order_type == OrderType::Guarantee
    }

    /// Either escalation timestamp is set.
    pub fn is_escalated(&self) -> bool {
        self.escalated_logist_at.is_some() || self.escalated_admin_at.is_some()
    }
}

/// The columns read into an [`Order`], in field order.
pub const ORDER_COLUMNS: &str = "id, city_id, district_id, no_district, category, status, type, timeslot_start,
    deferred_until, preferred_master_id, assigned_master_id, dist_cycle, dist_since_at, dist_escalated_in_cycle,
    dist_escalated_logist_at, dist_escalated_admin_at, escalation_logist_notified_at, escalation_admin_notified_at,
    guarantee_source_order_id, closed_at, total_sum_kop, created_at, version";

/// Reads a row selected with [`ORDER_COLUMNS`].
pub fn order_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Order> {
    let time = |i: usize| row.get::<_, Option<i64>>(i).map(|v| v.map(at));
    Ok(Order {
        id: row.get(0)?,
        city_id: row.get(1)?,
        district_id: row.get(2)?,
        no_district: row.get(3)?,
        category: row.get(4)?,
        status: row.get(5)?,
        order_type: row.get(6)?,
        timeslot_start: time(7)?,
        deferred_until: time(8)?,
        preferred_master_id: row.get(9)?,
        assigned_master_id: row.get(10)?,
        dist_cycle: row.get(11)?,
        dist_since_at: at(row.get(12)?),
        dist_escalated_in_cycle: row.get(13)?,
        escalated_logist_at: time(14)?,
        escalated_admin_at: time(15)?,
        logist_notified_at: time(16)?,
        admin_notified_at: time(17)?,
        guarantee_source_order_id: row.get(18)?,
        closed_at: time(19)?,
        total_sum_kop: row.get(20)?,
        created_at: at(row.get(21)?),
        version: row.get(22)?,
    })
}

/// Loads an order; `None` when it does not exist.
pub fn load(conn: &Connection, id: OrderId) -> Result<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], order_row).optional()?)
}

/// Loads an order the staff member may see; a missing or foreign one is "not found" alike.
pub fn load_for_staff(conn: &Connection, staff: &Staff, id: OrderId) -> Result<Order> {
    load(conn, id)?.filter(|o| staff.sees(o.city_id)).ok_or(Error::NotFound { what: "order" })
}

/// Where, what and when of an order, for alerts and notifications: city (with its zone), district,
/// category, visit window, description, type.
pub fn summary(conn: &Connection, id: OrderId) -> rusqlite::Result<serde_json::Map<String, Value>> {
    conn.prepare_cached(
        "SELECT c.name, c.timezone, d.name, o.category, o.timeslot_start, o.timeslot_end, o.description, o.type
         FROM orders o JOIN cities c ON c.id = o.city_id LEFT JOIN districts d ON d.id = o.district_id WHERE o.id = ?1",
    )?
    .query_row([id], |r| {
        let fields = json!({
            "order_id": id,
            "city": r.get::<_, String>(0)?,
            "timezone": r.get::<_, String>(1)?,
            "district": r.get::<_, Option<String>>(2)?,
            "category": r.get::<_, String>(3)?,
            "timeslot_start": r.get::<_, Option<i64>>(4)?,
            "timeslot_end": r.get::<_, Option<i64>>(5)?,
            "description": r.get::<_, String>(6)?,
            "order_type": r.get::<_, String>(7)?,
        });
        Ok(match fields {
            Value::Object(map) => map,
            _ => unreachable!("json! of an object literal is an object"),
        })
    })
}

/// Who changed an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A background rule (wake-up, escalation).
    System,
    /// A staff member.
    Staff(StaffId),
    /// A master.
    Master(MasterId),
}

impl Actor {
    fn columns(self) -> (ActorType, Option<StaffId>, Option<MasterId>) {
        match self {
            Actor::System => (ActorType::System, None, None),
            Actor::Staff(staff) => (ActorType::Admin, Some(staff), None),
            Actor::Master(master) => (ActorType::Master, None, Some(master)),
        }
    }
}

/// Writes one status-history row.
#[allow(clippy::too_many_arguments)] // one argument per column of the row
pub fn record_history(
    conn: &Connection,
    now: DateTime<Utc>,
    order: OrderId,
    from: Option<OrderStatus>,
    to: OrderStatus,
    reason: &str,
    actor: Actor,
    context: &Value,
) -> rusqlite::Result<()> {
    let (actor_type, staff, master) = actor.columns();
    conn.prepare_cached(
        "INSERT INTO order_status_history
           (order_id, from_status, to_status, reason, changed_by_staff_id, changed_by_master_id, actor_type, context, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![order, from, to, reason, staff, master, actor_type, context.to_string(), ms(now)])?;
    Ok(())
}

/// Moves an order from the status it was read in to `to` with a compare-and-set on status and version,
/// bumping the version and writing the history row. `Error::Conflict` when someone changed it first.
pub fn transition(
    conn: &Connection,
    now: DateTime<Utc>,
    order: &Order,
    to: OrderStatus,
    reason: &str,
    actor: Actor,
    context: &Value,
) -> Result<()> {
    let changed = conn.prepare_cached(
        "UPDATE orders SET status = ?2, version = version + 1, updated_at = ?3
         WHERE id = ?1 AND status = ?4 AND version = ?5",
    )?
    .execute(params![order.id, to, ms(now), order.status, order.version])?;
    if changed == 0 {
        return Err(Error::Conflict);
    }
    record_history(conn, now, order.id, Some(order.status), to, reason, actor, context)?;
    Ok(())
}

/// Starts searching afresh: a new distributable period and no escalation (decisions D-10, D-15).
pub(crate) fn restart_search_clock(conn: &Connection, now: DateTime<Utc>, order: OrderId) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE orders SET dist_since_at = ?2, deferred_until = NULL, dist_escalation_reason = NULL,
             dist_escalated_logist_at = NULL, dist_escalated_admin_at = NULL,
             escalation_logist_notified_at = NULL, escalation_admin_notified_at = NULL
         WHERE id = ?1",
    )?
    .execute(params![order, ms(now)])?;
    Ok(())
}

/// Wakes a DEFERRED order into searching (SEARCHING, or GUARANTEE for a guarantee order).
pub fn wake(conn: &Connection, now: DateTime<Utc>, order: &Order, reason: &str, actor: Actor) -> Result<OrderStatus> {
    let to = order.order_type.searching_status();
    transition(conn, now, order, to, reason, actor, &json!({}))?;
    restart_search_clock(conn, now, order.id)?;
    Ok(to)
}

/// The longest note for the master.
pub const MAX_MASTER_NOTE_CHARS: usize = 1000;

/// Input for a new order, as typed by staff (validated by [`create`]).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct NewOrder {
    /// City.
    pub city_id: CityId,
    /// District. Without one, an order in a city that has districts is "no district" (manual assignment
    /// only); in a city without districts it searches the whole city (decisions D-20).
    pub district_id: Option<DistrictId>,
    /// Set by the order forms when their district select was left unset (not "no district"): refused
    /// where the city has districts, so "no district" is always a choice, never a default.
    #[serde(skip)]
    pub district_required: bool,
    /// A known street.
    pub street_id: Option<i64>,
    /// A street typed by hand, 2–250 characters.
    pub street_manual: Option<String>,
    /// House, 1–10 characters ("-" = unknown).
    pub house: Option<String>,
    /// Apartment, up to 10 characters ("-" = none).
    pub apartment: Option<String>,
    /// Free address comment, up to 250 characters.
    pub address_comment: Option<String>,
    /// Client name: letters, spaces and hyphens, 2–100 characters; may be empty.
    pub client_name: Option<String>,
    /// Client phone, any common Russian spelling.
    pub client_phone: String,
    /// Kind of work.
    pub category: Option<Category>,
    /// What is wrong, 10–500 characters.
    pub description: Option<String>,
    /// A note for the master, up to 1000 characters: the offered and the assigned master see it on the
    /// offer and the job (unlike the internal notes, which masters never see).
    pub master_note: Option<String>,
    /// Visit window.
    pub timeslot: Option<Slot>,
    /// Staff accepted "too late for ASAP, tomorrow morning": the order waits, DEFERRED.
    #[serde(default)]
    pub defer: bool,
    /// A slot code from `GET /cities/{id}/slots` (`ASAP`, `TODAY:16-19`, `TOM:10-13` …) instead of `timeslot`.
    pub slot: Option<String>,
    /// Staff confirmed that a late ASAP becomes tomorrow 10:00–13:00, DEFERRED.
    #[serde(default)]
    pub confirm_late: bool,
}

/// A visit window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct Slot {
    /// Start.
    pub start: DateTime<Utc>,
    /// End (after the start).
    pub end: DateTime<Utc>,
}

impl From<(DateTime<Utc>, DateTime<Utc>)> for Slot {
    fn from((start, end): (DateTime<Utc>, DateTime<Utc>)) -> Self {
        Self { start, end }
    }
}

/// A created order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Created {
    /// New order id.
    pub id: OrderId,
    /// SEARCHING, GUARANTEE or DEFERRED.
    pub status: OrderStatus,
    /// When a deferred order wakes.
    pub deferred_until: Option<DateTime<Utc>>,
}

fn trimmed(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty() && *v != "-")
}

/// An order's input after the creation rules: normalised, every reference checked (decisions D-20, D-24).
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub district_id: Option<DistrictId>,
    /// No district in a city that has districts: manual assignment only.
    pub no_district: bool,
    pub street_id: Option<i64>,
    pub house: Option<String>,
    pub apartment: Option<String>,
    /// The address comment, with a street typed by hand appended.
    pub address_comment: Option<String>,
    pub client_name: String,
    /// The phone, normalised.
    pub client_phone: String,
    pub category: Category,
    pub description: String,
    /// The note for the master, trimmed; none when empty.
    pub master_note: Option<String>,
    pub timeslot: Option<Slot>,
    /// A late ASAP confirmed by staff: the order waits for tomorrow morning.
    pub late_asap: bool,
}

/// The rules an order's fields obey, at creation and at every edit (product.md §2.3, §2.5, decisions D-20).
/// The caller checks that the staff member sees the city.
pub fn check(conn: &Connection, now: DateTime<Utc>, input: &NewOrder) -> Result<Checked> {
    let tz = cities::timezone(conn, input.city_id)?.ok_or(Error::NotFound { what: "city" })?;
    if let Some(district) = input.district_id {
        let ok: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM districts WHERE id = ?1 AND city_id = ?2)",
            params![district, input.city_id],
            |r| r.get(0),
        )?;
        if !ok {
            return Err(invalid("district_id", "unknown"));
        }
    }
    let no_district = input.district_id.is_none() && cities::has_districts(conn, input.city_id)?;
    if no_district && input.district_required {
        return Err(invalid("district_id", "required"));
    }
    if let Some(street) = input.street_id {
        let ok: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM streets WHERE id = ?1 AND city_id = ?2)",
            params![street, input.city_id],
            |r| r.get(0),
        )?;
        if !ok {
            return Err(invalid("street_id", "unknown"));
        }
    }
    if input.house.as_deref().is_some_and(|h| h.trim().is_empty()) {
        return Err(invalid("house", "length:1:10"));
    }
    let house = trimmed(&input.house);
    if let Some(house) = house {
        check_length("house", house, 1, 10)?;
    }
    let apartment = trimmed(&input.apartment);
    if let Some(apartment) = apartment {
        check_length("apartment", apartment, 1, 10)?;
    }
    let mut comment = trimmed(&input.address_comment).map(str::to_string);
    if let Some(c) = &comment {
        check_length("address_comment", c, 1, 250)?;
    }
    if let Some(street) = trimmed(&input.street_manual) {
        check_length("street_manual", street, 2, 250)?;
        let manual = format!("(Вручную: {street})");
        comment = Some(match comment {
            Some(c) => format!("{c} {manual}"),
            None => manual,
        });
    }
    let client_name = trimmed(&input.client_name).unwrap_or_default();
    if !client_name.is_empty() {
        check_length("client_name", client_name, 2, 100)?;
        let mut chars = client_name.chars();
        let first_is_letter = chars.next().is_some_and(char::is_alphabetic);
        if !first_is_letter || !chars.all(|c| c.is_alphabetic() || c == ' ' || c == '-') {
            return Err(invalid("client_name", "letters"));
        }
    }
    let client_phone = phone::normalize(&input.client_phone).ok_or_else(|| invalid("client_phone", "phone"))?;
    let category = input.category.ok_or_else(|| invalid("category", "required"))?;
    let description = trimmed(&input.description).unwrap_or_default();
    if !description.is_empty() {
        check_length("description", description, 10, 500)?;
    }
    let master_note = input.master_note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = master_note {
        check_length("master_note", note, 1, MAX_MASTER_NOTE_CHARS)?;
    }
    let settings = Settings::load(conn)?;
    let chosen = match (&input.slot, input.timeslot) {
        (Some(_), Some(_)) => return Err(invalid("slot", "slot_or_timeslot")),
        (Some(code), None) => Some(slots::resolve(code, tz, now, &settings, input.confirm_late)?),
        (None, _) => None,
    };
    if let Some(Slot { start, end }) = input.timeslot {
        if start >= end {
            return Err(invalid("timeslot", "order"));
        }
        if end <= now {
            return Err(invalid("timeslot", "past"));
        }
    }
    Ok(Checked {
        district_id: input.district_id,
        no_district,
        street_id: input.street_id,
        house: house.map(str::to_string),
        apartment: apartment.map(str::to_string),
        address_comment: comment,
        client_name: client_name.to_string(),
        client_phone,
        category,
        description: description.to_string(),
        master_note: master_note.map(str::to_string),
        timeslot: chosen.map(|c| c.slot).or(input.timeslot),
        late_asap: chosen.is_some_and(|c| c.defer),
    })
}

/// Creates an order (distribution.md §3.2 S1/S2, decisions D-13): SEARCHING inside the city's working hours,
/// otherwise DEFERRED until its slot or the next workday start. A slot code is resolved by [`slots::resolve`]
/// (product.md §2.5); a late ASAP confirmed by staff also waits, DEFERRED, for tomorrow morning.
pub fn create(conn: &Connection, now: DateTime<Utc>, staff: &Staff, input: &NewOrder) -> Result<Created> {
    if !staff.sees(input.city_id) {
        return Err(Error::NotFound { what: "city" });
    }
    let checked = check(conn, now, input)?;
    let tz = cities::timezone(conn, input.city_id)?.ok_or(Error::NotFound { what: "city" })?;
    let hours = Settings::load(conn)?.working_hours();
    let timeslot = checked.timeslot;
    // A deferred order wakes at its slot start, or without a slot at the next workday start (§10.4, D-14).
    let wake_at = timeslot.map_or_else(|| hours.next_start(tz, now), |slot| slot.start);
    let deferred_reason = if !hours.is_open(tz, now) {
        Some("outside_working_hours")
    } else if checked.late_asap {
        Some("late_asap")
    } else {
        input.defer.then_some("staff_deferred")
    };
    let deferred_until = deferred_reason.map(|_| wake_at);
    let status = if deferred_until.is_some() { OrderStatus::Deferred } else { OrderStatus::Searching };
    let (slot_start, slot_end) = timeslot.map_or((None, None), |slot| (Some(ms(slot.start)), Some(ms(slot.end))));
    conn.execute(
        "INSERT INTO orders (city_id, district_id, no_district, street_id, house, apartment, address_comment,
             client_name, client_phone, category, description, status, type, timeslot_start, timeslot_end,
             deferred_until, created_by_staff_id, dist_since_at, created_at, updated_at, master_note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'NORMAL', ?13, ?14, ?15, ?16, ?17, ?17, ?17, ?18)",
        params![
            input.city_id,
            checked.district_id,
            checked.no_district,
            checked.street_id,
            checked.house,
            checked.apartment,
            checked.address_comment,
            checked.client_name,
            checked.client_phone,
            checked.category,
            checked.description,
            status,
            slot_start,
            slot_end,
            deferred_until.map(ms),
            staff.id,
            ms(now),
            checked.master_note,
        ],
    )?;
    let id = conn.last_insert_rowid();
    let context = match deferred_reason {
        Some(reason) => json!({"staff_id": staff.id, "initial_status": status, "deferred_reason": reason, "deferred_until": wake_at}),
        None => json!({"staff_id": staff.id, "initial_status": status}),
    };
    record_history(conn, now, id, None, status, "created_by_staff", Actor::Staff(staff.id), &context)?;
    Ok(Created { id, status, deferred_until })
}

/// Everything staff see of an order: its fields, the status history, the offers and the engine's log.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OrderCard {
    /// The order's fields.
    pub order: OrderView,
    /// Status changes, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Offers, oldest first.
    pub offers: Vec<crate::offers::Offer>,
    /// The engine's and people's decisions, oldest first.
    pub events: Vec<events::StoredEvent>,
}

/// An order's fields as shown to staff.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: OrderId,
    pub city_id: CityId,
    pub city: String,
    pub timezone: String,
    pub district_id: Option<DistrictId>,
    pub district: Option<String>,
    pub no_district: bool,
    pub street: Option<String>,
    pub house: Option<String>,
    pub apartment: Option<String>,
    pub address_comment: Option<String>,
    pub client_name: String,
    pub client_phone: String,
    pub category: Category,
    pub description: String,
    /// The note for the master (he sees it on the offer and the job).
    pub master_note: Option<String>,
    pub status: OrderStatus,
    pub order_type: OrderType,
    pub timeslot_start: Option<DateTime<Utc>>,
    pub timeslot_end: Option<DateTime<Utc>>,
    pub deferred_until: Option<DateTime<Utc>>,
    pub preferred_master_id: Option<MasterId>,
    pub assigned_master_id: Option<MasterId>,
    pub total_sum_kop: i64,
    pub company_payment_kop: i64,
    pub cancel_reason: Option<String>,
    pub guarantee_source_order_id: Option<OrderId>,
    pub dist_cycle: i64,
    pub escalated_logist_at: Option<DateTime<Utc>>,
    pub escalated_admin_at: Option<DateTime<Utc>>,
    pub escalation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// One status-history row.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    pub reason: String,
    pub actor_type: ActorType,
    pub staff_id: Option<StaffId>,
    pub master_id: Option<MasterId>,
    #[schema(value_type = Object)]
    pub context: Value,
    pub at: DateTime<Utc>,
}

/// The fields of an order, for a caller who may see it.
pub fn view(conn: &Connection, id: OrderId) -> Result<OrderView> {
    let time = |v: Option<i64>| v.map(at);
    conn.prepare_cached(
        "SELECT o.id, o.city_id, c.name, c.timezone, o.district_id, d.name, o.no_district, s.name, o.house, o.apartment,
                o.address_comment, o.client_name, o.client_phone, o.category, o.description, o.status, o.type,
                o.timeslot_start, o.timeslot_end, o.deferred_until, o.preferred_master_id, o.assigned_master_id,
                o.total_sum_kop, o.company_payment_kop, o.cancel_reason, o.guarantee_source_order_id, o.dist_cycle,
                o.dist_escalated_logist_at, o.dist_escalated_admin_at, o.dist_escalation_reason, o.created_at,
                o.updated_at, o.version, o.master_note
         FROM orders o JOIN cities c ON c.id = o.city_id LEFT JOIN districts d ON d.id = o.district_id
              LEFT JOIN streets s ON s.id = o.street_id
         WHERE o.id = ?1",
    )?
    .query_row([id], |r| {
        Ok(OrderView {
            id: r.get(0)?,
            city_id: r.get(1)?,
            city: r.get(2)?,
            timezone: r.get(3)?,
            district_id: r.get(4)?,
            district: r.get(5)?,
            no_district: r.get(6)?,
            street: r.get(7)?,
            house: r.get(8)?,
            apartment: r.get(9)?,
            address_comment: r.get(10)?,
            client_name: r.get(11)?,
            client_phone: r.get(12)?,
            category: r.get(13)?,
            description: r.get(14)?,
            status: r.get(15)?,
            order_type: r.get(16)?,
            timeslot_start: time(r.get(17)?),
            timeslot_end: time(r.get(18)?),
            deferred_until: time(r.get(19)?),
            preferred_master_id: r.get(20)?,
            assigned_master_id: r.get(21)?,
            total_sum_kop: r.get(22)?,
            company_payment_kop: r.get(23)?,
            cancel_reason: r.get(24)?,
            guarantee_source_order_id: r.get(25)?,
            dist_cycle: r.get(26)?,
            escalated_logist_at: time(r.get(27)?),
            escalated_admin_at: time(r.get(28)?),
            escalation_reason: r.get(29)?,
            created_at: at(r.get(30)?),
            updated_at: at(r.get(31)?),
            version: r.get(32)?,
            master_note: r.get(33)?,
        })
    })
    .optional()?
    .ok_or(Error::NotFound { what: "order" })
}

/// The order card for staff who may see the order's city.
pub fn card(conn: &Connection, staff: &Staff, id: OrderId) -> Result<OrderCard> {
    load_for_staff(conn, staff, id)?;
    let mut stmt = conn.prepare_cached(
        "SELECT from_status, to_status, reason, actor_type, changed_by_staff_id, changed_by_master_id, context, created_at
         FROM order_status_history WHERE order_id = ?1 ORDER BY id",
    )?;
    let history = stmt
        .query_map([id], |r| {
            let context: String = r.get(6)?;
            Ok(HistoryEntry {
                from_status: r.get(0)?,
                to_status: r.get(1)?,
                reason: r.get(2)?,
                actor_type: r.get(3)?,
                staff_id: r.get(4)?,
                master_id: r.get(5)?,
                context: serde_json::from_str(&context).unwrap_or(Value::Null),
                at: at(r.get(7)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(OrderCard { order: view(conn, id)?, history, offers: crate::offers::of_order(conn, id)?, events: events::for_order(conn, id)? })
}

/// Prefix of a guarantee order's description (product.md §2.10).
pub const GUARANTEE_BANNER: &str = "ЗАЯВКА ПО ГАРАНТИИ";

/// Creates a guarantee order from a CLOSED normal order within the warranty window (distribution.md §7.1,
/// decisions §B.10). Outside the city's working hours it waits, DEFERRED, like any order (decisions §B.9).
pub fn create_guarantee(conn: &Connection, now: DateTime<Utc>, staff: &Staff, source_id: OrderId) -> Result<Created> {
    let source = load_for_staff(conn, staff, source_id)?;
    if source.status != OrderStatus::Closed {
        return Err(Error::GuaranteeNotAllowed { why: "not_closed" });
    }
    if source.is_guarantee() {
        return Err(Error::GuaranteeNotAllowed { why: "is_guarantee" });
    }
    let Some(master) = source.assigned_master_id else {
        return Err(Error::GuaranteeNotAllowed { why: "no_master" });
    };
    let settings = Settings::load(conn)?;
    let closed_at = source.closed_at.unwrap_or(source.created_at);
    if now > closed_at + Duration::days(settings.warranty_days) {
        return Err(Error::GuaranteeNotAllowed { why: "warranty_over" });
    }
    let open_child: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE guarantee_source_order_id = ?1 AND status NOT IN ('CANCELED', 'CLOSED'))",
        [source.id],
        |r| r.get(0),
    )?;
    if open_child {
        return Err(Error::GuaranteeExists);
    }
    let tz = cities::timezone(conn, source.city_id)?.ok_or(Error::NotFound { what: "city" })?;
    let hours = settings.working_hours();
    let deferred_until = (!hours.is_open(tz, now)).then(|| hours.next_start(tz, now));
    let status = if deferred_until.is_some() { OrderStatus::Deferred } else { OrderStatus::Guarantee };
    conn.execute(
        "INSERT INTO orders (city_id, district_id, no_district, street_id, house, apartment, address_comment, lat, lon,
             client_name, client_phone, category, description, status, type, deferred_until, preferred_master_id,
             company_payment_kop, guarantee_source_order_id, created_by_staff_id, dist_since_at, created_at, updated_at)
         SELECT city_id, district_id, no_district AND EXISTS (SELECT 1 FROM districts d WHERE d.city_id = orders.city_id),
             street_id, house, apartment, address_comment, lat, lon, client_name, client_phone, category,
             CASE WHEN description LIKE ?2 || '%' THEN description ELSE ?2 || char(10) || description END,
             ?3, 'GUARANTEE', ?4, ?5, ?6, id, ?7, ?8, ?8, ?8
         FROM orders WHERE id = ?1",
        params![
            source.id,
            GUARANTEE_BANNER,
            status,
            deferred_until.map(ms),
            master,
            settings.guarantee_company_payment_kop,
            staff.id,
            ms(now)
        ],
    )?;
    let id = conn.last_insert_rowid();
    let context = json!({"staff_id": staff.id, "source_order_id": source.id, "preferred_master_id": master});
    record_history(conn, now, id, None, status, "guarantee_created", Actor::Staff(staff.id), &context)?;
    Ok(Created { id, status, deferred_until })
}

/// Staff "activate now" on a DEFERRED order (distribution.md S5).
pub fn activate_deferred(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: OrderId) -> Result<OrderStatus> {
    let order = load_for_staff(conn, staff, id)?;
    if order.status != OrderStatus::Deferred {
        return Err(Error::WrongStatus { status: order.status });
    }
    let to = wake(conn, now, &order, "activated_by_admin", Actor::Staff(staff.id))?;
    events::record(conn, now, Some(id), "staff", "activated", json!({"staff_id": staff.id, "to": to}))?;
    Ok(to)
}

/// Cancels SENT/VIEWED offers of an order (and ACCEPTED ones when `with_accepted`); returns how many.
/// Each master whose offer was still live is told it is gone (taken by another, cancelled or assigned),
/// so the push that offered it is followed by one that withdraws it — except the master it went to.
pub fn cancel_offers(conn: &Connection, now: DateTime<Utc>, order: OrderId, with_accepted: bool) -> rusqlite::Result<usize> {
    let canceled: Vec<(i64, MasterId, bool)> = conn
        .prepare_cached(
            "UPDATE offers SET state = 'CANCELED', responded_at = ?2
             WHERE order_id = ?1 AND (state IN ('SENT', 'VIEWED') OR (?3 AND state = 'ACCEPTED'))
             RETURNING id, master_id, state != 'ACCEPTED' AND expires_at > ?2
                 AND master_id IS NOT (SELECT assigned_master_id FROM orders WHERE id = ?1)",
        )?
        .query_map(params![order, ms(now), with_accepted], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (offer, master, _) in canceled.iter().filter(|(_, _, live)| *live) {
        let mut payload = summary(conn, order)?;
        payload.insert("offer_id".into(), (*offer).into());
        notifications::push(conn, now, *master, "offer_withdrawn", &Value::Object(payload))?;
    }
    Ok(canceled.len())
}

/// Staff cancel with a reason of 3–200 characters (decisions §B.7). The master reference stays, so the
/// order remains in his history. Cancelling a cancelled order again changes nothing.
pub fn cancel(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: OrderId, reason: &str) -> Result<()> {
    let order = load_for_staff(conn, staff, id)?;
    let reason = reason.trim();
    check_length("reason", reason, 3, 200)?;
    match order.status {
        OrderStatus::Canceled => return Ok(()),
        OrderStatus::Closed | OrderStatus::Payment => return Err(Error::WrongStatus { status: order.status }),
        _ => {}
    }
    let context = json!({"staff_id": staff.id, "cancel_reason": reason, "action": "manual_cancel"});
    transition(conn, now, &order, OrderStatus::Canceled, reason, Actor::Staff(staff.id), &context)?;
    conn.execute(
        "UPDATE orders SET cancel_reason = ?2, deferred_until = NULL, dist_escalated_logist_at = NULL,
             dist_escalated_admin_at = NULL, escalation_logist_notified_at = NULL, escalation_admin_notified_at = NULL
         WHERE id = ?1",
        params![id, reason],
    )?;
    let offers = cancel_offers(conn, now, id, true)?;
    events::record(conn, now, Some(id), "staff", "canceled", json!({"staff_id": staff.id, "reason": reason, "offers_canceled": offers}))?;
    Ok(())
}

/// Staff "return to search" (decisions D-17): a new distribution cycle — rounds restart, escalation cleared,
/// the master taken off is never auto-offered the order again.
pub fn return_to_search(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: OrderId) -> Result<OrderStatus> {
    let order = load_for_staff(conn, staff, id)?;
    if matches!(order.status, OrderStatus::Payment | OrderStatus::Closed | OrderStatus::Canceled) {
        return Err(Error::WrongStatus { status: order.status });
    }
    let to = order.order_type.searching_status();
    let context = json!({"staff_id": staff.id, "unassigned_master_id": order.assigned_master_id, "cycle": order.dist_cycle + 1});
    transition(conn, now, &order, to, "manual_return", Actor::Staff(staff.id), &context)?;
    if let Some(master) = order.assigned_master_id {
        conn.execute(
            "INSERT OR IGNORE INTO order_unassignments (order_id, master_id, created_at) VALUES (?1, ?2, ?3)",
            params![id, master, ms(now)],
        )?;
    }
    conn.execute(
        "UPDATE orders SET assigned_master_id = NULL, cancel_reason = NULL, dist_cycle = dist_cycle + 1,
             dist_escalated_in_cycle = 0 WHERE id = ?1",
        [id],
    )?;
    restart_search_clock(conn, now, id)?;
    let offers = cancel_offers(conn, now, id, true)?;
    events::record(conn, now, Some(id), "staff", "returned_to_search", json!({"staff_id": staff.id, "cycle": order.dist_cycle + 1, "offers_canceled": offers}))?;
    Ok(to)
}

/// Staff direct assignment without the master's acceptance (distribution.md §9.3, decisions D-5b, D-16):
/// the master must fit the order; when he is merely unavailable (off shift, on a break, at his limit) staff
/// must confirm with `force`.
pub fn assign_directly(
    conn: &Connection,
    now: DateTime<Utc>,
    staff: &Staff,
    id: OrderId,
    master_id: MasterId,
    force: bool,
) -> Result<()> {
    let order = load_for_staff(conn, staff, id)?;
    if order.assigned_master_id.is_some() {
        return Err(Error::AlreadyAssigned);
    }
    if !order.status.is_assignable() {
        return Err(Error::WrongStatus { status: order.status });
    }
    let settings = Settings::load(conn)?;
    let master = candidates::master(conn, master_id, now, &settings)?.ok_or(Error::NotFound { what: "master" })?;
    let need = candidates::staff_need_of(conn, &order, now, &settings)?;
    check_staff_pick(&candidates::diagnose(&master, &need, now), force)?;
    let changed = conn.execute(
        "UPDATE orders SET status = 'ASSIGNED', assigned_master_id = ?2, version = version + 1, updated_at = ?3
         WHERE id = ?1 AND assigned_master_id IS NULL AND status = ?4 AND version = ?5",
        params![id, master_id, ms(now), order.status, order.version],
    )?;
    if changed == 0 {
        return Err(Error::AlreadyAssigned);
    }
    let canceled = cancel_offers(conn, now, id, false)?;
    let context = json!({"master_id": master_id, "staff_id": staff.id, "action": "manual_assignment", "from_status": order.status, "forced": force});
    record_history(conn, now, id, Some(order.status), OrderStatus::Assigned, "manual_assign", Actor::Staff(staff.id), &context)?;
    events::record(conn, now, Some(id), "staff", "assigned_directly", json!({"staff_id": staff.id, "master_id": master_id, "offers_canceled": canceled, "forced": force}))?;
    metrics::record_assignment(conn, now, &order, master_id, metrics::Via::AdminManual, Some(staff.id));
    notifications::push(conn, now, master_id, "order_assigned", &Value::Object(summary(conn, id)?))?;
    Ok(())
}

/// Refuses a staff pick that does not fit the order, or that is unavailable without "assign anyway".
pub fn check_staff_pick(reasons: &[candidates::Skip], force: bool) -> Result<()> {
    let codes = |pick: fn(&candidates::Skip) -> bool| reasons.iter().filter(|r| pick(r)).map(|r| r.code()).collect::<Vec<_>>();
    let unfit = codes(|r| !r.is_availability());
    if !unfit.is_empty() {
        return Err(Error::MasterNotEligible { reasons: unfit });
    }
    let unavailable = codes(candidates::Skip::is_availability);
    if !unavailable.is_empty() && !force {
        return Err(Error::NeedsConfirmation { reasons: unavailable });
    }
    Ok(())
}
