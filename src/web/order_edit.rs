//! The order's edit form (`GET`/`POST /orders/{id}/edit`, decisions D-24): prefilled, showing only the
//! fields the order's status allows. The fields that differ from the order are handed to
//! `order_edit::edit`, which applies the creation rules; a refusal shows the form again with the message
//! beside its field and everything typed kept.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::lists::Choice;
use super::order_form::{self, BODY_LIMIT, FILES_FIELD, Street, Submitted};
use super::{Chrome, StaffPage, WebError, check_csrf_value, done, page, render_with};
use crate::app::AppState;
use crate::domain::{Category, OrderId};
use crate::error::{Error, invalid};
use crate::order_edit::{self, OrderEdit, Part};
use crate::orders::{self, OrderView};
use crate::reference::{self, Viewer};
use crate::slots::{self, SlotOption};
use crate::staff::Staff;
use crate::uploads::{self, Attachment};

pub fn routes() -> Router<AppState> {
    Router::new().route("/orders/{id}/edit", get(get_form).post(post_form).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// The form's fields as text: the order's values, or what was typed.
#[derive(Debug, Clone, Default)]
struct Draft {
    version: String,
    client_name: String,
    client_phone: String,
    street: String,
    street_id: String,
    street_manual: bool,
    house: String,
    apartment: String,
    address_comment: String,
    description: String,
    master_note: String,
    category: String,
    /// A district id, or `none`.
    district_id: String,
    /// A slot code; empty keeps the visit window.
    slot: String,
    confirm_late: bool,
    /// Files ticked for removal.
    remove: Vec<i64>,
}


impl Draft {
    fn of(order: &OrderView) -> Self {
        Self {
            version: order.version.to_string(),
            client_name: order.client_name.clone(),
            client_phone: order.client_phone.clone(),
            street: order.street.clone().unwrap_or_default(),
            street_id: String::new(),
            street_manual: false,
            house: order.house.clone().unwrap_or_default(),
            apartment: order.apartment.clone().unwrap_or_default(),
            address_comment: order.address_comment.clone().unwrap_or_default(),
            description: order.description.clone(),
            master_note: order.master_note.clone().unwrap_or_default(),
            category: order.category.to_string(),
            district_id: order.district_id.map_or_else(|| if order.no_district { "none".into() } else { String::new() }, |d| d.to_string()),
            ..Self::default()
        }
    }

    fn text(&self, field: &str) -> &str {
        match field {
            "client_name" => &self.client_name,
            "client_phone" => &self.client_phone,
            "street" => &self.street,
            "house" => &self.house,
            "apartment" => &self.apartment,
            "address_comment" => &self.address_comment,
            "description" => &self.description,
            "master_note" => &self.master_note,
            "category" => &self.category,
            _ => &self.district_id,
        }
    }

    /// The order's draft overwritten by the submitted fields (a field not on the form keeps its value).
    fn typed(mut self, fields: &HashMap<String, String>) -> Self {
        let set = |name: &str, slot: &mut String| {
            if let Some(value) = fields.get(name) {
                *slot = value.clone();
            }
        };
        set("version", &mut self.version);
        set("client_name", &mut self.client_name);
        set("client_phone", &mut self.client_phone);
        set("street", &mut self.street);
        set("street_id", &mut self.street_id);
        set("house", &mut self.house);
        set("apartment", &mut self.apartment);
        set("address_comment", &mut self.address_comment);
        set("description", &mut self.description);
        set("master_note", &mut self.master_note);
        set("category", &mut self.category);
        set("district_id", &mut self.district_id);
        set("slot", &mut self.slot);
        let flag = |name: &str| fields.get(name).is_some_and(|v| !v.is_empty() && v != "0");
        self.street_manual = flag("street_manual");
        self.confirm_late = flag("confirm_late");
        self.remove = fields.iter().filter(|(k, v)| k.starts_with("remove_") && !v.is_empty()).filter_map(|(k, _)| k["remove_".len()..].parse().ok()).collect();
        self.remove.sort_unstable();
        self
    }

    /// The edit: the fields that differ from the order's. `street` is what the street field resolved to.
    fn edit(&self, order: &Draft, street: Option<Street>) -> Result<OrderEdit, Error> {
        let changed = |field: &str| (self.text(field).trim() != order.text(field).trim()).then(|| self.text(field).to_string());
        let mut edit = OrderEdit {
            version: self.version.trim().parse().ok(),
            client_name: changed("client_name"),
            client_phone: changed("client_phone"),
            house: changed("house"),
            apartment: changed("apartment"),
            address_comment: changed("address_comment"),
            description: changed("description"),
            master_note: changed("master_note"),
            slot: Some(self.slot.clone()).filter(|s| !s.trim().is_empty()),
            confirm_late: self.confirm_late,
            remove_attachments: self.remove.clone(),
            ..OrderEdit::default()
        };
        match street {
            Some(Street::Known(id)) => edit.street_id = Some(id),
            Some(Street::Manual(name)) => edit.street_manual = Some(name),
            Some(Street::None) | None => {}
        }
        if changed("category").is_some() {
            edit.category = Some(Category::parse(self.category.trim()).ok_or_else(|| invalid("category", "unknown"))?);
        }
        match changed("district_id").as_deref().map(str::trim) {
            None => {}
            Some("none") => edit.no_district = true,
            Some(raw) => edit.district_id = Some(raw.parse().map_err(|_| invalid("district_id", "unknown"))?),
        }
        Ok(edit)
    }
}

/// What the form needs besides the draft.
struct Context {
    order: OrderView,
    parts: &'static [Part],
    districts: Vec<reference::District>,
    slots: Vec<SlotOption>,
    files: Vec<Attachment>,
}

fn context(conn: &Connection, staff: &Staff, now: DateTime<Utc>, id: OrderId) -> Result<Context, Error> {
    let loaded = orders::load_for_staff(conn, staff, id)?;
    let order = orders::view(conn, id)?;
    let parts = order_edit::editable(order.status);
    let districts = reference::districts(conn, Viewer::Staff(staff), order.city_id)?;
    let slots = if parts.contains(&Part::Slot) { slots::for_city(conn, staff, order.city_id, now)? } else { Vec::new() };
    let files = uploads::of_order(conn, loaded.id)?.into_iter().filter(|f| f.document_type.as_deref() == Some("order_file")).collect();
    Ok(Context { order, parts, districts, slots, files })
}

#[derive(Template)]
#[template(path = "web/order_edit.html")]
struct EditPage {
    c: Chrome,
    order: OrderView,
    draft: Draft,
    parts: &'static [Part],
    districts: Vec<Choice>,
    categories: Vec<Choice>,
    slots: Vec<Choice>,
    files: Vec<Attachment>,
    /// The visit window now, on the city clock.
    current_slot: String,
    error: Option<(&'static str, String)>,
    street_matches: Vec<Choice>,
    late_asap: bool,
}

impl EditPage {
    fn allows(&self, part: &str) -> bool {
        let wanted = match part {
            "client" => Part::Client,
            "address" => Part::Address,
            "description" | "master_note" => Part::Description,
            "matching" => Part::Matching,
            "slot" => Part::Slot,
            _ => Part::Files,
        };
        self.parts.contains(&wanted)
    }

    fn error_of(&self, input: &str) -> Option<&str> {
        self.error.as_ref().filter(|(field, _)| *field == input).map(|(_, message)| message.as_str())
    }

    fn aria(&self, input: &str) -> String {
        if self.error_of(input).is_some() { format!(" aria-invalid=\"true\" aria-describedby=\"{input}-error\"") } else { String::new() }
    }

    fn removing(&self, file: &i64) -> bool {
        self.draft.remove.contains(file)
    }
}

/// The input a refusal is about, named as the form names it.
fn input_of(error: &Error) -> &'static str {
    match error {
        Error::Invalid { field: "district_id", .. } => "district_id",
        Error::Invalid { field: "slot" | "timeslot", .. } | Error::LateAsap => "slot",
        Error::Invalid { field: "file", .. } | Error::NotFound { what: "attachment" } => FILES_FIELD,
        error => order_form::input_of(error),
    }
}

fn edit_page(c: Chrome, ctx: Context, draft: Draft, error: Option<&Error>, street_matches: Vec<reference::StreetMatch>) -> EditPage {
    let tr = c.tr;
    let zone = ctx.order.timezone.clone();
    let current_slot = match (ctx.order.timeslot_start, ctx.order.timeslot_end) {
        (Some(start), Some(end)) => tr.window(start, end, &zone),
        _ => tr.t("card.asap"),
    };
    EditPage {
        districts: ctx.districts.iter().map(|d| Choice::of(d.id, d.name.clone(), &draft.district_id)).collect(),
        categories: Category::ALL.iter().map(|cat| Choice::of(cat, tr.of("category.", cat), &draft.category)).collect(),
        slots: ctx.slots.iter().map(|s| Choice::of(&s.code, order_form::slot_label(tr, s, &zone), &draft.slot)).collect(),
        error: error.map(|e| (input_of(e), e.message(tr.0))),
        street_matches: street_matches.into_iter().map(|m| Choice::of(m.street.id, m.street.name, &draft.street_id)).collect(),
        late_asap: matches!(error, Some(Error::LateAsap)),
        current_slot,
        files: ctx.files,
        parts: ctx.parts,
        order: ctx.order,
        draft,
        c,
    }
}

fn order_id(who: &StaffPage, raw: &str) -> Result<OrderId, WebError> {
    raw.parse().map_err(|_| who.refused(Error::NotFound { what: "order" }))
}

async fn show(state: &AppState, who: &StaffPage, id: OrderId, typed: Option<Draft>, error: Option<Error>, matches: Vec<reference::StreetMatch>) -> Result<Response, WebError> {
    let (c, ctx) = page(state, who, "orders", move |conn, staff, now| context(conn, staff, now, id)).await?;
    if ctx.parts.is_empty() {
        return Err(who.refused(Error::WrongStatus { status: ctx.order.status }));
    }
    let status = error.as_ref().map_or(StatusCode::OK, crate::api::status_of);
    let draft = typed.unwrap_or_else(|| Draft::of(&ctx.order));
    Ok(render_with(status, &edit_page(c, ctx, draft, error.as_ref(), matches)))
}

async fn get_form(State(state): State<AppState>, who: StaffPage, Path(raw): Path<String>) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    show(&state, &who, id, None, None, Vec::new()).await
}

/// Saves the changed fields, or shows the form again with the refusal beside its field.
async fn post_form(State(state): State<AppState>, who: StaffPage, Path(raw): Path<String>, req: Request) -> Result<Response, WebError> {
    let id = order_id(&who, &raw)?;
    let submitted = Submitted::read(req, &state).await.map_err(|e| who.refused(e))?;
    check_csrf_value(&who, submitted.fields.get(super::CSRF_FIELD).map(String::as_str))?;
    let staff = who.staff.clone();
    let order = state.db.read_blocking(move |c| orders::load_for_staff(c, &staff, id).and_then(|_| orders::view(c, id))).await.map_err(|e| who.refused(e))?;
    let current = Draft::of(&order);
    let draft = current.clone().typed(&submitted.fields);
    if let Err(error) = submitted.check_files() {
        return show(&state, &who, id, Some(draft), Some(error), Vec::new()).await;
    }
    let street_changed = draft.street.trim() != current.street.trim() || draft.street_manual || !draft.street_id.trim().is_empty();
    let street = if street_changed && submitted.fields.contains_key("street") {
        let (staff, city, typed) = (who.staff.clone(), order.city_id, draft.clone());
        let resolved = state
            .db
            .read_blocking(move |c| Ok::<_, Error>(order_form::street_of(c, &staff, city, &typed.street, &typed.street_id, typed.street_manual)))
            .await
            .map_err(|e| who.refused(e))?;
        match resolved {
            Ok(street) => Some(street),
            Err((error, matches)) => return show(&state, &who, id, Some(draft), Some(error), matches).await,
        }
    } else {
        None
    };
    let edit = match draft.edit(&current, street) {
        Ok(edit) => edit,
        Err(error) => return show(&state, &who, id, Some(draft), Some(error), Vec::new()).await,
    };
    let stored = match order_form::store_files(&state, submitted.files).await {
        Ok(stored) => stored,
        Err(error) => return show(&state, &who, id, Some(draft), Some(error), Vec::new()).await,
    };
    let added = stored.clone();
    match super::act(&state, &who, move |tx, staff, now| order_edit::edit(tx, now, staff, id, &edit, &added)).await {
        Ok(edited) => {
            edited.removed_files.iter().for_each(|key| uploads::remove(&state.config.data_dir, key));
            Ok(done(&format!("/orders/{id}"), if edited.changes.is_empty() { "order_not_changed" } else { "order_edited" }))
        }
        Err(error @ (Error::NotFound { what: "order" } | Error::WrongStatus { .. })) => {
            order_form::remove_files(&state, stored).await;
            Err(who.refused(error))
        }
        Err(error) => {
            order_form::remove_files(&state, stored).await;
            show(&state, &who, id, Some(draft), Some(error), Vec::new()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_typed_differently_are_edited() {
        let order = Draft { client_name: "Анна".into(), description: "Течёт кран на кухне".into(), category: "PLUMBING".into(), district_id: "3".into(), ..Draft::default() };
        let typed = Draft { description: "Течёт кран на кухне, срочно".into(), district_id: "none".into(), ..order.clone() };
        let edit = typed.edit(&order, None).unwrap();
        assert_eq!(edit.description.as_deref(), Some("Течёт кран на кухне, срочно"));
        assert!(edit.client_name.is_none() && edit.category.is_none() && edit.no_district);
    }
}
