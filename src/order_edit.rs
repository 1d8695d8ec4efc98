//! Editing an order after creation (decisions D-24): which fields may change in which status, the new
//! distribution cycle a new category or district starts while an offer is open (as D-17), the one history
//! row per edit with every change old → new, and the notice to the assigned master. The fields obey the
//! creation rules ([`orders::check`]); only the fields sent are checked and changed.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::{Value, json};

use crate::db::{at, ms};
use crate::domain::{Category, DistrictId, OrderId, OrderStatus};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::notifications;
use crate::orders::{self, Actor, NewOrder, Slot};
use crate::staff::Staff;
use crate::work::StoredFile;

/// A change to an order: only the fields given change. The city and the type never change.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderEdit {
    /// The version the editor saw (`version` of the order); when the order has changed since, the edit is
    /// refused with 409 `conflict`.
    pub version: Option<i64>,
    /// Client name: letters, spaces and hyphens, 2–100 characters; empty clears it.
    pub client_name: Option<String>,
    /// Client phone, any common Russian spelling.
    pub client_phone: Option<String>,
    /// A known street of the order's city.
    pub street_id: Option<i64>,
    /// A street typed by hand, 2–250 characters (kept in the address comment).
    pub street_manual: Option<String>,
    /// House, 1–10 characters ("-" = unknown).
    pub house: Option<String>,
    /// Apartment, up to 10 characters; empty or "-" clears it.
    pub apartment: Option<String>,
    /// Address comment (entrance, floor …), up to 250 characters; empty clears it.
    pub address_comment: Option<String>,
    /// What is wrong, 10–500 characters.
    pub description: Option<String>,
    /// The note for the master, up to 1000 characters; empty clears it. Changes with the description.
    pub master_note: Option<String>,
    /// Kind of work (before assignment only).
    pub category: Option<Category>,
    /// District of the order's city (before assignment only).
    pub district_id: Option<DistrictId>,
    /// `true` takes the district off: manual assignment only (decisions D-20; only where the city has
    /// districts — elsewhere an order without one searches the whole city).
    #[serde(default)]
    pub no_district: bool,
    /// A slot code from `GET /cities/{id}/slots` instead of `timeslot`.
    pub slot: Option<String>,
    /// Visit window.
    pub timeslot: Option<Slot>,
    /// Staff confirmed that a late ASAP becomes tomorrow 10:00–13:00.
    #[serde(default)]
    pub confirm_late: bool,
    /// Ids of the order's files to remove.
    #[serde(default)]
    pub remove_attachments: Vec<i64>,
}

/// A field group of D-24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Client name and phone.
    Client,
    /// Street, house, apartment, comment.
    Address,
    Description,
    /// Category and district: who may take the order.
    Matching,
    Slot,
    Files,
}

/// The parts of an order staff may change in `status` (decisions D-24); none once it is closed or cancelled.
pub fn editable(status: OrderStatus) -> &'static [Part] {
    use Part::*;
    match status {
        OrderStatus::Created | OrderStatus::Searching | OrderStatus::Deferred | OrderStatus::Guarantee => {
            &[Client, Address, Description, Matching, Slot, Files]
        }
        OrderStatus::Assigned | OrderStatus::EnRoute | OrderStatus::Working => &[Client, Address, Description, Slot, Files],
        OrderStatus::Payment => &[Description, Files],
        OrderStatus::Closed | OrderStatus::Canceled => &[],
    }
}

impl OrderEdit {
    /// The fields sent, with the part each belongs to (named as the API names them).
    fn sent(&self) -> Vec<(&'static str, Part)> {
        let mut sent = Vec::new();
        let mut add = |present: bool, field, part| {
            if present {
                sent.push((field, part));
            }
        };
        add(self.client_name.is_some(), "client_name", Part::Client);
        add(self.client_phone.is_some(), "client_phone", Part::Client);
        add(self.street_id.is_some(), "street_id", Part::Address);
        add(self.street_manual.is_some(), "street_manual", Part::Address);
        add(self.house.is_some(), "house", Part::Address);
        add(self.apartment.is_some(), "apartment", Part::Address);
        add(self.address_comment.is_some(), "address_comment", Part::Address);
        add(self.description.is_some(), "description", Part::Description);
        add(self.master_note.is_some(), "master_note", Part::Description);
        add(self.category.is_some(), "category", Part::Matching);
        add(self.district_id.is_some() || self.no_district, "district_id", Part::Matching);
        add(self.slot.is_some() || self.timeslot.is_some(), "slot", Part::Slot);
        add(!self.remove_attachments.is_empty(), "remove_attachments", Part::Files);
        sent
    }
}

/// The editable fields of an order as stored.
#[derive(Debug, Clone, PartialEq)]
struct Fields {
    client_name: String,
    client_phone: String,
    street_id: Option<i64>,
    house: Option<String>,
    apartment: Option<String>,
    address_comment: Option<String>,
    description: String,
    master_note: Option<String>,
    category: Category,
    district_id: Option<DistrictId>,
    no_district: bool,
    timeslot: Option<Slot>,
}

fn fields(conn: &Connection, id: OrderId) -> rusqlite::Result<Fields> {
    conn.prepare_cached(
        "SELECT client_name, client_phone, street_id, house, apartment, address_comment, description, category,
                district_id, no_district, timeslot_start, timeslot_end, master_note
         FROM orders WHERE id = ?1",
    )?
    .query_row([id], |r| {
        let (start, end): (Option<i64>, Option<i64>) = (r.get(10)?, r.get(11)?);
        Ok(Fields {
            client_name: r.get(0)?,
            client_phone: r.get(1)?,
            street_id: r.get(2)?,
            house: r.get(3)?,
            apartment: r.get(4)?,
            address_comment: r.get(5)?,
            description: r.get(6)?,
            category: r.get(7)?,
            district_id: r.get(8)?,
            no_district: r.get(9)?,
            timeslot: start.zip(end).map(|(s, e)| Slot { start: at(s), end: at(e) }),
            master_note: r.get(12)?,
        })
    })
}

/// One changed field, old → new, as written into the history row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Change {
    /// `client_name`, `client_phone`, `street`, `house`, `apartment`, `address_comment`, `description`,
    /// `master_note`, `category`, `district`, `slot` or `files`.
    pub field: String,
    /// The value before: text, a category code, a district or street name, a visit window, file names.
    #[schema(value_type = Object)]
    pub old: Value,
    /// The value after.
    #[schema(value_type = Object)]
    pub new: Value,
}

/// What an edit did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Edited {
    /// The changed fields; empty when the edit changed nothing (and nothing was written).
    pub changes: Vec<Change>,
    /// An open offer was cancelled and a new distribution cycle started.
    pub new_cycle: bool,
    /// Storage keys of removed files, to delete once the edit is committed.
    pub removed_files: Vec<String>,
}

fn name_of(conn: &Connection, table: &str, id: Option<i64>) -> rusqlite::Result<Value> {
    let Some(id) = id else { return Ok(Value::Null) };
    // `table` is one of two fixed names, never input.
    let name: String = conn.query_row(&format!("SELECT name FROM {table} WHERE id = ?1"), [id], |r| r.get(0))?;
    Ok(Value::String(name))
}

fn slot_value(slot: Option<Slot>) -> Value {
    slot.map_or(Value::Null, |s| json!({"start": s.start, "end": s.end}))
}

fn file_names(conn: &Connection, id: OrderId) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT file_name FROM attachments WHERE entity_type = 'ORDER' AND entity_id = ?1 AND document_type = 'order_file' ORDER BY id",
    )?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

/// Edits an order (decisions D-24). A field the status does not allow is refused as `not_editable`; a
/// refusal changes nothing. `added` are files already stored, attached as the order's files.
pub fn edit(conn: &Connection, now: DateTime<Utc>, staff: &Staff, id: OrderId, edit: &OrderEdit, added: &[StoredFile]) -> Result<Edited> {
    let order = orders::load_for_staff(conn, staff, id)?;
    if edit.version.is_some_and(|v| v != order.version) {
        return Err(Error::Conflict);
    }
    let allowed = editable(order.status);
    if allowed.is_empty() {
        return Err(Error::WrongStatus { status: order.status });
    }
    let mut sent = edit.sent();
    if !added.is_empty() {
        sent.push(("file", Part::Files));
    }
    if let Some((field, _)) = sent.iter().find(|(_, part)| !allowed.contains(part)) {
        return Err(invalid(field, "not_editable"));
    }
    if edit.no_district && edit.district_id.is_some() {
        return Err(invalid("district_id", "unknown"));
    }
    let old = fields(conn, id)?;
    let sent_field = |name: &str| sent.iter().any(|(f, _)| *f == name);
    // The creation rules check what was sent; what was not is given as stored (phone, category, district)
    // or left out, so an old value the rules have since tightened does not block an unrelated edit.
    let street_sent = edit.street_id.is_some() || edit.street_manual.is_some();
    let input = NewOrder {
        city_id: order.city_id,
        district_id: if edit.no_district { None } else { edit.district_id.or(old.district_id) },
        district_required: false,
        street_id: edit.street_id,
        street_manual: edit.street_manual.clone(),
        house: edit.house.clone(),
        apartment: edit.apartment.clone(),
        // A street typed by hand is kept in the comment, appended to the one stored unless a new one is sent.
        address_comment: edit.address_comment.clone().or_else(|| edit.street_manual.as_ref().and(old.address_comment.clone())),
        client_name: edit.client_name.clone(),
        client_phone: edit.client_phone.clone().unwrap_or_else(|| old.client_phone.clone()),
        category: Some(edit.category.unwrap_or(old.category)),
        description: edit.description.clone(),
        master_note: edit.master_note.clone(),
        timeslot: edit.timeslot,
        slot: edit.slot.clone(),
        confirm_late: edit.confirm_late,
        defer: false,
    };
    if sent_field("description") && input.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
        return Err(invalid("description", "required"));
    }
    let checked = orders::check(conn, now, &input)?;
    let mut new = old.clone();
    if edit.client_name.is_some() {
        new.client_name = checked.client_name;
    }
    if edit.client_phone.is_some() {
        new.client_phone = checked.client_phone;
    }
    if street_sent {
        new.street_id = checked.street_id;
    }
    if edit.house.is_some() {
        new.house = checked.house;
    }
    if edit.apartment.is_some() {
        new.apartment = checked.apartment;
    }
    if edit.address_comment.is_some() || edit.street_manual.is_some() {
        new.address_comment = checked.address_comment;
    }
    if edit.description.is_some() {
        new.description = checked.description;
    }
    if edit.master_note.is_some() {
        new.master_note = checked.master_note;
    }
    new.category = checked.category;
    if sent_field("district_id") {
        new.district_id = checked.district_id;
        new.no_district = checked.no_district;
    }
    if sent_field("slot") {
        new.timeslot = checked.timeslot;
    }

    let mut changes = Vec::new();
    let mut change = |field: &str, old: Value, new: Value| {
        if old != new {
            changes.push(Change { field: field.into(), old, new });
        }
    };
    change("client_name", json!(old.client_name), json!(new.client_name));
    change("client_phone", json!(old.client_phone), json!(new.client_phone));
    change("street", name_of(conn, "streets", old.street_id)?, name_of(conn, "streets", new.street_id)?);
    change("house", json!(old.house), json!(new.house));
    change("apartment", json!(old.apartment), json!(new.apartment));
    change("address_comment", json!(old.address_comment), json!(new.address_comment));
    change("description", json!(old.description), json!(new.description));
    change("master_note", json!(old.master_note), json!(new.master_note));
    change("category", json!(old.category), json!(new.category));
    change("district", name_of(conn, "districts", old.district_id)?, name_of(conn, "districts", new.district_id)?);
    change("slot", slot_value(old.timeslot), slot_value(new.timeslot));

    let files_before = file_names(conn, id)?;
    let removed_files = remove_files(conn, id, &edit.remove_attachments)?;
    if !added.is_empty() {
        crate::uploads::attach_order_files(conn, now, staff, id, added)?;
    }
    let files_after = file_names(conn, id)?;
    change("files", json!(files_before), json!(files_after));
    if changes.is_empty() {
        return Ok(Edited::default());
    }

    // A DEFERRED order wakes at its visit window (decisions D-14): a new window moves the wake-up.
    let deferred_until = match (order.status, new.timeslot) {
        (OrderStatus::Deferred, Some(slot)) if new.timeslot != old.timeslot && slot.start > now => Some(ms(slot.start)),
        _ => order.deferred_until.map(ms),
    };
    let (slot_start, slot_end) = new.timeslot.map_or((None, None), |s| (Some(ms(s.start)), Some(ms(s.end))));
    let written = conn
        .prepare_cached(
            "UPDATE orders SET client_name = ?3, client_phone = ?4, street_id = ?5, house = ?6, apartment = ?7,
                 address_comment = ?8, description = ?9, category = ?10, district_id = ?11, no_district = ?12,
                 timeslot_start = ?13, timeslot_end = ?14, deferred_until = ?15, version = version + 1, updated_at = ?16,
                 master_note = ?17
             WHERE id = ?1 AND version = ?2",
        )?
        .execute(params![
            id,
            order.version,
            new.client_name,
            new.client_phone,
            new.street_id,
            new.house,
            new.apartment,
            new.address_comment,
            new.description,
            new.category,
            new.district_id,
            new.no_district,
            slot_start,
            slot_end,
            deferred_until,
            ms(now),
            new.master_note
        ])?;
    if written == 0 {
        return Err(Error::Conflict);
    }

    // Who may take the order changed: an open offer went to someone chosen for the old one (D-24, as D-17).
    let matching_changed = new.category != old.category || new.district_id != old.district_id || new.no_district != old.no_district;
    let canceled = if matching_changed { orders::cancel_offers(conn, now, id, false)? } else { 0 };
    let new_cycle = canceled > 0;
    if new_cycle {
        conn.execute("UPDATE orders SET dist_cycle = dist_cycle + 1, dist_escalated_in_cycle = 0 WHERE id = ?1", [id])?;
        orders::restart_search_clock(conn, now, id)?;
    }
    let names: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    let mut context = json!({"staff_id": staff.id, "action": "edit", "changes": changes});
    if new_cycle {
        context["cycle"] = json!(order.dist_cycle + 1);
        context["offers_canceled"] = json!(canceled);
    }
    orders::record_history(conn, now, id, Some(order.status), order.status, "edited", Actor::Staff(staff.id), &context)?;
    let mut detail = json!({"staff_id": staff.id, "fields": names});
    if new_cycle {
        detail["cycle"] = json!(order.dist_cycle + 1);
        detail["offers_canceled"] = json!(canceled);
    }
    events::record(conn, now, Some(id), "staff", "order_edited", detail)?;
    let working = matches!(order.status, OrderStatus::Assigned | OrderStatus::EnRoute | OrderStatus::Working);
    if let Some(master) = order.assigned_master_id.filter(|_| working) {
        notifications::push(conn, now, master, "order_changed", &json!({"order_id": id, "fields": names}))?;
    }
    Ok(Edited { changes, new_cycle, removed_files })
}

/// Deletes the order's files named by `ids`; an id that is not one of its files is "not found".
fn remove_files(conn: &Connection, order: OrderId, ids: &[i64]) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for attachment in ids {
        let key: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "DELETE FROM attachments WHERE id = ?1 AND entity_type = 'ORDER' AND entity_id = ?2 AND document_type = 'order_file'
             RETURNING storage_key",
            params![attachment, order],
            |r| r.get(0),
        ))?;
        keys.push(key.ok_or(Error::NotFound { what: "attachment" })?);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_allows_the_parts_of_d24() {
        use Part::*;
        assert!(editable(OrderStatus::Searching).contains(&Matching));
        assert!(editable(OrderStatus::Assigned).contains(&Slot) && !editable(OrderStatus::Assigned).contains(&Matching));
        assert_eq!(editable(OrderStatus::Payment), &[Description, Files]);
        assert!(editable(OrderStatus::Closed).is_empty() && editable(OrderStatus::Canceled).is_empty());
    }
}
