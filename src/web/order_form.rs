//! The new-order form (product.md §2.3 full, §2.4 quick): city and district pickers, the street with fuzzy
//! suggestions or typed by hand, the client, the category, the files and the visit slot of §2.5, all on the
//! chosen city's clock. Everything is decided by `orders::create`; a refusal shows the form again with the
//! message beside its field and everything typed kept (files must be chosen again).

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::lists::Choice;
use crate::cities::local_time;
use super::{Chrome, StaffPage, Tr, WebError, check_csrf_value, done, page, render_with};
use crate::api::files::Parts;
use crate::app::AppState;
use crate::cities;
use crate::domain::{Category, CityId, OrderStatus};
use crate::error::{Error, invalid};
use crate::orders::{self, NewOrder};
use crate::reference::{self, City, StreetMatch, Viewer};
use crate::settings::Settings;
use crate::slots::{self, SlotOption};
use crate::staff::Staff;
use crate::uploads::{self, MAX_ORDER_FILES, Received};
use crate::work::{MAX_FILE_BYTES, StoredFile};

/// The largest form read: every allowed file at its largest, one more, and the text fields. An 11th file
/// is still read, so it is refused with a message rather than a broken connection.
pub(super) const BODY_LIMIT: usize = (MAX_ORDER_FILES + 1) * MAX_FILE_BYTES as usize + 1024 * 1024;
/// The file input's name.
pub(super) const FILES_FIELD: &str = "attachments";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders/new", get(get_form).post(post_form).layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .route("/orders/new/options", get(get_options))
        .route("/orders/new/streets", get(get_streets))
}

/// What was typed, kept as text so that the form can be shown again as it was.
#[derive(Debug, Clone, Default)]
struct Draft {
    quick: bool,
    city_id: String,
    district_id: String,
    street: String,
    /// A street picked from the suggestions (its id), or empty.
    street_id: String,
    /// "Keep the street as typed": not one of the city's known streets.
    street_manual: bool,
    house: String,
    apartment: String,
    address_comment: String,
    client_name: String,
    client_phone: String,
    category: String,
    description: String,
    /// The note for the master (he sees it on the offer and the job).
    master_note: String,
    slot: String,
    confirm_late: bool,
}

impl Draft {
    fn from_fields(fields: &HashMap<String, String>) -> Self {
        let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let flag = |name: &str| fields.get(name).is_some_and(|v| !v.is_empty() && v != "0");
        Self {
            quick: flag("quick"),
            city_id: text("city_id"),
            district_id: text("district_id"),
            street: text("street"),
            street_id: text("street_id"),
            street_manual: flag("street_manual"),
            house: text("house"),
            apartment: text("apartment"),
            address_comment: text("address_comment"),
            client_name: text("client_name"),
            client_phone: text("client_phone"),
            category: text("category"),
            description: text("description"),
            master_note: text("master_note"),
            slot: text("slot"),
            confirm_late: flag("confirm_late"),
        }
    }

    fn city(&self) -> Option<CityId> {
        self.city_id.trim().parse().ok()
    }

    /// The rule's input; `street` is what [`resolve_street`] made of the street field. A full order needs
    /// its description; a quick one needs its district and stores none (§2.4: the pages tell its category).
    fn new_order(&self, street: &Street) -> Result<NewOrder, Error> {
        let city_id = self.city().ok_or_else(|| invalid("city_id", "required"))?;
        let optional = |raw: &str| Some(raw.to_string()).filter(|v| !v.trim().is_empty());
        // "none" is the full form's explicit "no district"; an unset select is refused where the city has
        // districts (decisions D-20), so the choice is never made by default.
        let (district_id, district_required) = match self.district_id.trim() {
            "" => (None, true),
            "none" if !self.quick => (None, false),
            raw => (Some(raw.parse().map_err(|_| invalid("district_id", "unknown"))?), false),
        };
        // The full form asks the dispatcher to describe the job (§2.3 step 10); the rule also takes orders
        // without one, e.g. the quick form's, which writes its own.
        if !self.quick && self.description.trim().is_empty() {
            return Err(invalid("description", "required"));
        }
        let category = match self.category.trim() {
            "" => None,
            raw => Some(Category::parse(raw).ok_or_else(|| invalid("category", "unknown"))?),
        };
        let (street_id, street_manual) = match street {
            Street::None => (None, None),
            Street::Known(id) => (Some(*id), None),
            Street::Manual(name) => (None, Some(name.clone())),
        };
        let mut input = NewOrder {
            city_id,
            district_id,
            district_required,
            street_id,
            street_manual,
            house: optional(&self.house),
            apartment: optional(&self.apartment),
            address_comment: optional(&self.address_comment),
            client_name: optional(&self.client_name),
            client_phone: self.client_phone.clone(),
            category,
            description: optional(&self.description),
            master_note: optional(&self.master_note),
            slot: optional(&self.slot),
            confirm_late: self.confirm_late,
            ..NewOrder::default()
        };
        if self.quick {
            input.street_id = None;
            input.street_manual = None;
            input.house = Some("-".into());
            input.apartment = None;
            input.address_comment = None;
            input.client_name = None;
            // The choice is stored, not a text: the pages say "a master call in <category>" in the viewer's language.
            input.description = None;
        }
        Ok(input)
    }
}

/// The street of a draft.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Street {
    None,
    Known(i64),
    Manual(String),
}

/// Makes the street field a known street (picked, or typed exactly as a known one), a street kept as typed,
/// or no street. A name that matches no known street exactly is answered with the near ones to choose from.
fn resolve_street(conn: &Connection, staff: &Staff, draft: &Draft) -> Result<Street, (Error, Vec<StreetMatch>)> {
    let typed = draft.street.trim();
    if draft.quick || typed.is_empty() {
        return Ok(Street::None);
    }
    if draft.street_manual {
        return Ok(Street::Manual(typed.to_string()));
    }
    if let Ok(id) = draft.street_id.trim().parse() {
        return Ok(Street::Known(id));
    }
    let Some(city) = draft.city() else { return Ok(Street::None) };
    let matches = reference::search_streets(conn, staff, city, typed).map_err(|e| (e, Vec::new()))?;
    let wanted = reference::normalize(typed);
    match matches.iter().find(|m| reference::normalize(&m.street.name) == wanted) {
        Some(exact) => Ok(Street::Known(exact.street.id)),
        None => Err((invalid("street_id", "street_pick"), matches)),
    }
}

/// The street typed into an order's form in `city`: a known one (picked or typed exactly), one kept as
/// typed, or none; a name matching no known street exactly is answered with the near ones.
pub(super) fn street_of(conn: &Connection, staff: &Staff, city: CityId, typed: &str, street_id: &str, manual: bool) -> Result<Street, (Error, Vec<StreetMatch>)> {
    let draft = Draft { city_id: city.to_string(), street: typed.into(), street_id: street_id.into(), street_manual: manual, ..Draft::default() };
    resolve_street(conn, staff, &draft)
}

/// The input a refusal is about (the rule's field names differ from the form's in places).
pub(super) fn input_of(error: &Error) -> &'static str {
    match error {
        Error::Invalid { field: "street_id" | "street_manual", .. } => "street",
        Error::Invalid { field: "timeslot", .. } | Error::LateAsap => "slot",
        Error::Invalid { field: "file", .. } => FILES_FIELD,
        Error::Invalid { field, .. } => field,
        Error::NotFound { what: "city" } => "city_id",
        _ => "form",
    }
}

/// The city's pickers and clock, as the form needs them.
struct CityOptions {
    cities: Vec<City>,
    city: Option<City>,
    districts: Vec<reference::District>,
    slots: Vec<SlotOption>,
    /// Now inside the city's working hours (outside them a new order waits, DEFERRED).
    open: bool,
    /// The working hours, `10:00–20:00`.
    hours: String,
}

fn city_options(conn: &Connection, staff: &Staff, now: DateTime<Utc>, wanted: Option<CityId>) -> Result<CityOptions, Error> {
    let cities = reference::search_cities(conn, Viewer::Staff(staff), "")?;
    let city = wanted.and_then(|id| cities.iter().find(|c| c.id == id)).or(cities.first()).cloned();
    let settings = Settings::load(conn)?;
    let hours = format!("{}–{}", settings.working_hours_start.format("%H:%M"), settings.working_hours_end.format("%H:%M"));
    let Some(chosen) = &city else {
        return Ok(CityOptions { cities, city, districts: Vec::new(), slots: Vec::new(), open: true, hours });
    };
    let districts = reference::districts(conn, Viewer::Staff(staff), chosen.id)?;
    let slots = slots::for_city(conn, staff, chosen.id, now)?;
    let open = settings.working_hours().is_open(cities::parse_zone(&chosen.timezone), now);
    Ok(CityOptions { cities, city, districts, slots, open, hours })
}

/// A slot's label on the city clock: "As soon as possible (until 20:00)", "Today 16:00–19:00", "Tomorrow …".
pub(super) fn slot_label(tr: Tr, option: &SlotOption, zone: &str) -> String {
    let (start, end) = (local_time(option.start, zone, "%H:%M"), local_time(option.end, zone, "%H:%M"));
    let key = if option.code == slots::ASAP {
        "order_form.slot_asap"
    } else if option.code.starts_with("TODAY:") {
        "order_form.slot_today"
    } else {
        "order_form.slot_tomorrow"
    };
    tr.t(key).replace("{start}", &start).replace("{end}", &end)
}

/// The out-of-hours warning for the chosen city, or nothing inside its working hours.
fn hours_notice(tr: Tr, options: &CityOptions) -> Option<String> {
    let city = options.city.as_ref().filter(|_| !options.open)?;
    Some(tr.t("order_form.out_of_hours").replace("{city}", &city.name).replace("{hours}", &options.hours).replace("{zone}", &city.timezone))
}

#[derive(Template)]
#[template(path = "web/order_form.html")]
struct FormPage {
    c: Chrome,
    draft: Draft,
    cities: Vec<Choice>,
    districts: Vec<Choice>,
    categories: Vec<Choice>,
    slots: Vec<Choice>,
    /// The chosen city's name and zone, for "times are the city's".
    city_zone: String,
    notice: Option<String>,
    /// The input a refusal is about, and its message.
    error: Option<(&'static str, String)>,
    /// Near streets to choose from when the typed one is not known exactly.
    street_matches: Vec<Choice>,
    /// A late ASAP waits for "yes, tomorrow 10:00–13:00, deferred".
    late_asap: bool,
    /// Files were sent with a refused form: they must be chosen again.
    files_dropped: bool,
}

impl FormPage {
    fn error_of(&self, input: &str) -> Option<&str> {
        self.error.as_ref().filter(|(field, _)| *field == input).map(|(_, message)| message.as_str())
    }

    /// `aria-invalid` and the link to the message of an input the refusal is about.
    fn aria(&self, input: &str) -> String {
        if self.error_of(input).is_some() { format!(" aria-invalid=\"true\" aria-describedby=\"{input}-error\"") } else { String::new() }
    }
}

/// Builds the page for `draft` on the chosen city.
fn form_page(c: Chrome, draft: Draft, options: CityOptions, error: Option<&Error>, street_matches: Vec<StreetMatch>, files_dropped: bool) -> FormPage {
    let tr = c.tr;
    let chosen = options.city.as_ref().map(|city| city.id.to_string()).unwrap_or_default();
    let zone = options.city.as_ref().map(|city| city.timezone.clone()).unwrap_or_default();
    let slot_chosen = if draft.slot.is_empty() { options.slots.first().map(|s| s.code.clone()).unwrap_or_default() } else { draft.slot.clone() };
    FormPage {
        cities: options.cities.iter().map(|city| Choice::of(city.id, city.name.clone(), &chosen)).collect(),
        districts: options.districts.iter().map(|d| Choice::of(d.id, d.name.clone(), &draft.district_id)).collect(),
        categories: Category::ALL.iter().map(|cat| Choice::of(cat, tr.of("category.", cat), &draft.category)).collect(),
        slots: options.slots.iter().map(|s| Choice::of(&s.code, slot_label(tr, s, &zone), &slot_chosen)).collect(),
        city_zone: options.city.as_ref().map(|city| format!("{} ({})", city.name, city.timezone)).unwrap_or_default(),
        notice: hours_notice(tr, &options),
        error: error.map(|e| (input_of(e), e.message(tr.0))),
        street_matches: street_matches.into_iter().map(|m| Choice::of(m.street.id, m.street.name, &draft.street_id)).collect(),
        late_asap: matches!(error, Some(Error::LateAsap)),
        files_dropped,
        draft,
        c,
    }
}

#[derive(Debug, Default, Deserialize)]
struct FormQuery {
    city_id: Option<String>,
    quick: Option<String>,
}

async fn get_form(State(state): State<AppState>, who: StaffPage, Query(query): Query<FormQuery>) -> Result<Response, WebError> {
    let draft = Draft {
        quick: query.quick.is_some_and(|q| !q.is_empty() && q != "0"),
        city_id: query.city_id.unwrap_or_default(),
        ..Draft::default()
    };
    show(&state, &who, draft, None, Vec::new(), false).await
}

/// Shows the form for `draft`, with the refusal if any.
async fn show(state: &AppState, who: &StaffPage, draft: Draft, error: Option<Error>, matches: Vec<StreetMatch>, files_dropped: bool) -> Result<Response, WebError> {
    let city = draft.city();
    let (c, options) = page(state, who, "new_order", move |conn, staff, now| city_options(conn, staff, now, city)).await?;
    let status = error.as_ref().map_or(StatusCode::OK, crate::api::status_of);
    Ok(render_with(status, &form_page(c, draft, options, error.as_ref(), matches, files_dropped)))
}

/// A submitted form: its text fields and its files, read to the end.
pub(super) struct Submitted {
    pub(super) fields: HashMap<String, String>,
    pub(super) files: Vec<Received>,
    /// Files sent, also those beyond the limit.
    count: usize,
    too_big: bool,
}

impl Submitted {
    /// Reads a multipart form (the page's, with files) or an urlencoded one (no files).
    pub(super) async fn read(req: Request, state: &AppState) -> Result<Self, Error> {
        let malformed = || invalid("form", "malformed");
        let multipart = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("multipart/form-data"));
        let mut submitted = Self { fields: HashMap::new(), files: Vec::new(), count: 0, too_big: false };
        if !multipart {
            let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|_| malformed())?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| malformed())?;
            submitted.fields.extend(pairs);
            return Ok(submitted);
        }
        let mut form = Multipart::from_request(req, state).await.map_err(|_| malformed())?;
        let parts = Parts::read(&mut form, &state.config.data_dir, |name| name == FILES_FIELD, MAX_ORDER_FILES).await.map_err(|e| e.into_error("file"))?;
        submitted.fields.extend(parts.fields);
        submitted.count = parts.files.len() + parts.dropped;
        submitted.too_big = parts.files.iter().any(|file| file.file.is_none());
        submitted.files = parts.files.into_iter().filter_map(|file| file.file).collect();
        Ok(submitted)
    }

    /// Refuses more files than an order may have, or one too big, before anything is stored.
    pub(super) fn check_files(&self) -> Result<(), Error> {
        if self.count > MAX_ORDER_FILES {
            return Err(invalid("file", format!("max_files:{MAX_ORDER_FILES}")));
        }
        if self.too_big { Err(invalid("file", "file_size")) } else { Ok(()) }
    }
}

/// Keeps the received files under the data directory; on a refusal the ones already kept are removed.
pub(super) async fn store_files(state: &AppState, files: Vec<Received>) -> Result<Vec<StoredFile>, Error> {
    let dir = state.config.data_dir.clone();
    tokio::task::spawn_blocking(move || {
        let mut stored: Vec<StoredFile> = Vec::new();
        for received in files {
            match uploads::keep(&received) {
                Ok(file) => stored.push(file),
                Err(error) => {
                    stored.iter().for_each(|file| uploads::remove(&dir, &file.storage_key));
                    return Err(error);
                }
            }
        }
        Ok(stored)
    })
    .await
    .map_err(|_| invalid("file", "file_type"))?
}

pub(super) async fn remove_files(state: &AppState, files: Vec<StoredFile>) {
    let dir = state.config.data_dir.clone();
    let _ = tokio::task::spawn_blocking(move || files.iter().for_each(|file| uploads::remove(&dir, &file.storage_key))).await;
}

/// Creates the order, or shows the form again: for the city just chosen (`step=city`), with the street
/// suggestions, with the late-ASAP question, or with the refusal beside its field.
async fn post_form(State(state): State<AppState>, who: StaffPage, req: Request) -> Result<Response, WebError> {
    let submitted = Submitted::read(req, &state).await.map_err(|e| who.refused(e))?;
    check_csrf_value(&who, submitted.fields.get(super::CSRF_FIELD).map(String::as_str))?;
    let draft = Draft::from_fields(&submitted.fields);
    let sent_files = submitted.count > 0;
    if submitted.fields.get("step").is_some_and(|step| step == "city") {
        return show(&state, &who, draft, None, Vec::new(), sent_files).await;
    }
    if let Err(error) = submitted.check_files() {
        return show(&state, &who, draft, Some(error), Vec::new(), true).await;
    }
    let staff = who.staff.clone();
    let resolving = draft.clone();
    let street = state.db.read_blocking(move |conn| Ok::<_, Error>(resolve_street(conn, &staff, &resolving))).await.map_err(|e| who.refused(e))?;
    let street = match street {
        Ok(street) => street,
        Err((error, matches)) => return show(&state, &who, draft, Some(error), matches, sent_files).await,
    };
    let input = match draft.new_order(&street) {
        Ok(input) => input,
        Err(error) => return show(&state, &who, draft, Some(error), Vec::new(), sent_files).await,
    };
    let stored = match store_files(&state, submitted.files).await {
        Ok(stored) => stored,
        Err(error) => return show(&state, &who, draft, Some(error), Vec::new(), true).await,
    };
    let files = stored.clone();
    let created = super::act(&state, &who, move |tx, staff, now| {
        let created = orders::create(tx, now, staff, &input)?;
        if !files.is_empty() {
            uploads::attach_order_files(tx, now, staff, created.id, &files)?;
        }
        Ok(created)
    })
    .await;
    match created {
        Ok(created) => {
            let flash = if created.status == OrderStatus::Deferred { "order_created_deferred" } else { "order_created" };
            Ok(done(&format!("/orders/{}", created.id), flash))
        }
        Err(error @ (Error::Invalid { .. } | Error::NotFound { what: "city" } | Error::LateAsap)) => {
            remove_files(&state, stored).await;
            show(&state, &who, draft, Some(error), Vec::new(), sent_files).await
        }
        Err(error) => {
            remove_files(&state, stored).await;
            Err(who.refused(error))
        }
    }
}

/// What the form's script reloads when the city changes.
#[derive(Debug, Serialize)]
struct Options {
    districts: Vec<Named>,
    slots: Vec<Named>,
    /// The out-of-hours warning, or none.
    notice: Option<String>,
    /// The city and its zone.
    zone: String,
}

#[derive(Debug, Serialize)]
struct Named {
    id: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
struct CityQuery {
    city_id: Option<CityId>,
    #[serde(default)]
    q: String,
}

fn json_refusal(who: &StaffPage, error: &Error) -> Response {
    (crate::api::status_of(error), Json(serde_json::json!({ "error": error.message(who.tr.0) }))).into_response()
}

/// The districts, slots and working-hours warning of a city, for the form's script.
async fn get_options(State(state): State<AppState>, who: StaffPage, Query(query): Query<CityQuery>) -> Response {
    let Some(city) = query.city_id else { return json_refusal(&who, &invalid("city_id", "required")) };
    let (staff, now, tr) = (who.staff.clone(), state.clock.now(), who.tr);
    let options = state.db.read_blocking(move |conn| city_options(conn, &staff, now, Some(city))).await;
    match options {
        Ok(options) if options.city.as_ref().is_some_and(|c| c.id == city) => {
            let zone = options.city.as_ref().map(|c| c.timezone.clone()).unwrap_or_default();
            Json(Options {
                districts: options.districts.iter().map(|d| Named { id: d.id.to_string(), name: d.name.clone() }).collect(),
                slots: options.slots.iter().map(|s| Named { id: s.code.clone(), name: slot_label(tr, s, &zone) }).collect(),
                notice: hours_notice(tr, &options),
                zone: options.city.as_ref().map(|c| format!("{} ({})", c.name, c.timezone)).unwrap_or_default(),
            })
            .into_response()
        }
        Ok(_) => json_refusal(&who, &Error::NotFound { what: "city" }),
        Err(error) => json_refusal(&who, &error),
    }
}

/// The city's streets like the typed text (fuzzy), for the form's suggestions.
async fn get_streets(State(state): State<AppState>, who: StaffPage, Query(query): Query<CityQuery>) -> Response {
    let Some(city) = query.city_id else { return json_refusal(&who, &invalid("city_id", "required")) };
    let staff = who.staff.clone();
    match state.db.read_blocking(move |conn| reference::search_streets(conn, &staff, city, &query.q)).await {
        Ok(found) => Json(found.into_iter().map(|m| Named { id: m.street.id.to_string(), name: m.street.name }).collect::<Vec<_>>()).into_response(),
        Err(error) => json_refusal(&who, &error),
    }
}
