//! Masters for staff (product.md §3.3): the lists by group with skill filter, search and pages, the master
//! card with the moderation actions, and the invites that let new masters sign up. A logist reads lists and
//! cards; the actions and invites are for admins (the rules refuse anyone else).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::admin::{Refusal, local_time, refuses_the_page};
use super::{Chrome, CsrfForm, StaffPage, WebError, act, done, page, render, render_with};
use crate::app::AppState;
use crate::domain::{Category, MasterId, StaffRole};
use crate::error::{Error, invalid};
use crate::money::referrals::{self, Referral};
use crate::moderation::{self, Deletion, MasterCard, MasterFilter, MasterGroup, MasterListItem};
use crate::money::finance::{self, MasterMoney};
use crate::queue::{MasterOrders, QueueRow};
use crate::reference::{self, City, Viewer};
use crate::signup::{self, DEFAULT_INVITE_TTL_HOURS, InviteInfo, InviteState};

/// Masters per list page (product.md §3.3).
const PER_PAGE: i64 = 10;
const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/masters", get(get_masters))
        .route("/masters/{id}", get(get_master))
        .route("/masters/{id}/{action}", post(post_action))
        .route("/invites", get(get_invites).post(post_invite))
        .route("/invites/{id}/revoke", post(post_revoke))
}

// --- the lists ------------------------------------------------------------------------------------------------

/// The list's query as typed; anything unknown is ignored rather than refused.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    group: Option<String>,
    category: Option<String>,
    q: Option<String>,
    page: Option<String>,
}

impl ListQuery {
    /// The group asked for, by its name in the address.
    fn group(&self) -> Option<(MasterGroup, &'static str)> {
        match self.group.as_deref()? {
            "approved" => Some((MasterGroup::Approved, "approved")),
            "moderation" => Some((MasterGroup::Moderation, "moderation")),
            "blocked" => Some((MasterGroup::Blocked, "blocked")),
            _ => None,
        }
    }

    fn filter(&self) -> MasterFilter {
        MasterFilter {
            group: self.group().map(|(g, _)| g),
            category: self.category.as_deref().and_then(Category::parse),
            city_id: None,
            q: self.q.clone().filter(|q| !q.trim().is_empty()),
            page: self.page.as_deref().and_then(|p| p.parse().ok()).filter(|p| *p >= 1),
            per_page: Some(PER_PAGE),
        }
    }
}

/// A list row with its texts.
struct Row {
    master: MasterListItem,
    skills: String,
    avg_check: String,
}

#[derive(Template)]
#[template(path = "web/masters_list.html")]
struct ListPage {
    c: Chrome,
    group: String,
    category: String,
    q: String,
    rows: Vec<Row>,
    total: i64,
    page: i64,
    pages: i64,
    categories: Vec<Category>,
}

impl ListPage {
    const GROUPS: [&'static str; 4] = ["", "approved", "moderation", "blocked"];

    /// The list's address with `group` and `page` changed, the other filters kept.
    fn href(&self, group: &str, page: i64) -> String {
        let pairs = [("group", group), ("category", self.category.as_str()), ("q", self.q.as_str())];
        let mut kept: Vec<(&str, String)> = pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.to_string())).collect();
        if page > 1 {
            kept.push(("page", page.to_string()));
        }
        let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
        if query.is_empty() { "/masters".into() } else { format!("/masters?{query}") }
    }

    fn page_of(&self) -> String {
        self.c.tr.t("web.page_of").replace("{page}", &self.page.to_string()).replace("{pages}", &self.pages.to_string())
    }
}

async fn get_masters(State(state): State<AppState>, who: StaffPage, Query(query): Query<ListQuery>) -> Result<Response, WebError> {
    let filter = query.filter();
    let (c, found) = page(&state, &who, "masters", move |conn, staff, _| moderation::list(conn, staff, &filter)).await?;
    let tr = c.tr;
    let rows = found
        .items
        .into_iter()
        .map(|master| Row {
            skills: master.skills.iter().map(|s| tr.of("category.", s.as_str())).collect::<Vec<_>>().join(", "),
            avg_check: tr.money(master.avg_check_kop),
            master,
        })
        .collect();
    Ok(render(&ListPage {
        c,
        group: query.group().map(|(_, name)| name.to_string()).unwrap_or_default(),
        category: query.category.as_deref().and_then(Category::parse).map(|c| c.as_str().to_string()).unwrap_or_default(),
        q: query.q.unwrap_or_default(),
        rows,
        total: found.total,
        page: found.page,
        pages: ((found.total + found.per_page - 1) / found.per_page).max(1),
        categories: Category::ALL.to_vec(),
    }))
}

// --- the card -------------------------------------------------------------------------------------------------

/// What a moderation form carries (each form uses its own fields).
#[derive(Debug, Default, Clone, Deserialize)]
struct ActionForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    rating: String,
}

#[derive(Template)]
#[template(path = "web/masters_card.html")]
struct CardPage {
    c: Chrome,
    card: MasterCard,
    zone: String,
    /// His referrer, invitees and rewards.
    referral: Referral,
    /// Whether push reaches him (and whether push is on at all).
    push: crate::push::PushStatus,
    can_act: bool,
    typed: ActionForm,
    refusal: Refusal,
    /// What he owes, his overdue and latest commissions: for admins only (logists see no money, §B.20).
    money: Option<MasterMoney>,
    /// His active and latest finished orders.
    orders: MasterOrders,
}

impl CardPage {
    /// Kopecks as `3 500 ₽` (the money block).
    fn kop(&self, kop: &i64) -> String {
        self.c.tr.money(*kop)
    }

    fn time(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        local_time(self.c.tr, *at, &self.zone)
    }

    /// An order's visit window on its city's clock, or "—".
    fn slot(&self, order: &QueueRow) -> String {
        match (order.timeslot_start, order.timeslot_end) {
            (Some(start), Some(end)) => self.c.tr.window(start, end, &order.timezone),
            _ => self.c.tr.t("web.none"),
        }
    }

    /// An order's address as the lists show it.
    fn address(&self, order: &QueueRow) -> String {
        let parts: Vec<&str> = [order.district.as_deref(), order.street.as_deref(), order.house.as_deref()].into_iter().flatten().filter(|p| !p.is_empty()).collect();
        if parts.is_empty() { self.c.tr.t("lists.no_address") } else { parts.join(", ") }
    }

    fn order_time(&self, order: &QueueRow, at: &chrono::DateTime<chrono::Utc>) -> String {
        self.c.tr.date_time(*at, &order.timezone)
    }

    fn skills(&self) -> String {
        self.card.master.skills.iter().map(|s| self.c.tr.of("category.", s.as_str())).collect::<Vec<_>>().join(", ")
    }

    fn avg_check(&self) -> String {
        self.c.tr.money(self.card.master.avg_check_kop)
    }

    fn money(&self, kop: &i64) -> String {
        self.c.tr.money(*kop)
    }

    /// "N rewards, X ₽".
    fn tally(&self, count: &i64, kop: &i64) -> String {
        self.c.tr.t("referral.tally").replace("{n}", &count.to_string()).replace("{amount}", &self.c.tr.money(*kop))
    }

    /// The reason typed into `form` when it was refused, so it is not lost.
    fn reason_for(&self, form: &str) -> String {
        if self.refusal.is_for(form) { self.typed.reason.clone() } else { String::new() }
    }

    fn limit_value(&self) -> String {
        if self.refusal.at("limit", "limit").is_some() { self.typed.limit.clone() } else { self.card.limit_override.map(|l| l.to_string()).unwrap_or_default() }
    }

    fn rating_value(&self) -> String {
        if self.refusal.at("rating", "rating").is_some() { self.typed.rating.clone() } else { format!("{:.2}", self.card.master.rating) }
    }
}

/// The card, the zone of the master's city (the installation's when he has none) and his referral part
/// (its invitation link relative: staff read it, the master shares his own).
fn load_card(conn: &rusqlite::Connection, staff: &crate::staff::Staff, id: MasterId, fallback: chrono_tz::Tz) -> Result<(MasterCard, String, Referral), Error> {
    let card = moderation::card(conn, staff, id)?;
    let zone = match card.master.city_id {
        Some(city) => crate::cities::timezone(conn, city)?,
        None => None,
    };
    let referral = referrals::for_staff(conn, staff, id, "", fallback)?;
    Ok((card, zone.unwrap_or(fallback).name().to_string(), referral))
}

async fn card_page(state: &AppState, who: &StaffPage, id: MasterId, typed: ActionForm, refusal: Refusal) -> Result<CardPage, WebError> {
    let fallback = state.config.timezone;
    let push_on = state.config.push_contact.is_some();
    let (c, ((card, zone, referral), money, push, orders)) = page(state, who, "masters", move |conn, staff, _| {
        let card = load_card(conn, staff, id, fallback)?;
        let money = if ADMINS.contains(&staff.role) { Some(finance::of_master(conn, staff, id)?) } else { None };
        let orders = crate::queue::of_master(conn, staff, id)?;
        Ok((card, money, crate::push::status(conn, push_on, id)?, orders))
    })
    .await?;
    let can_act = ADMINS.contains(&who.staff.role) && !card.is_deleted;
    Ok(CardPage { c, card, zone, referral, push, can_act, typed, refusal, money, orders })
}

async fn get_master(State(state): State<AppState>, who: StaffPage, Path(id): Path<MasterId>) -> Result<Response, WebError> {
    Ok(render(&card_page(&state, &who, id, ActionForm::default(), Refusal::default()).await?))
}

/// A whole number typed into a form, or `None` for an empty field.
fn typed_number<T: std::str::FromStr>(field: &'static str, raw: &str, rule: &str) -> Result<Option<T>, Error> {
    let raw = raw.trim().replace(',', ".");
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| invalid(field, rule))
}

/// One moderation action; done → back to the card (or the list after a deletion) with a flash, refused →
/// the card again with the message beside the form's field.
async fn post_action(State(state): State<AppState>, who: StaffPage, Path((id, action)): Path<(MasterId, String)>, CsrfForm(form): CsrfForm<ActionForm>) -> Result<Response, WebError> {
    let (input, form_name) = (form.clone(), action.clone());
    let outcome = act(&state, &who, move |tx, staff, now| match action.as_str() {
        "approve" => moderation::approve(tx, now, staff, id).map(|()| ("approve", None)),
        "reject" => moderation::reject(tx, now, staff, id, &input.reason).map(|()| ("reject", None)),
        "block" => moderation::block(tx, now, staff, id, &input.reason).map(|()| ("block", None)),
        "unblock" => moderation::unblock(tx, now, staff, id).map(|()| ("unblock", None)),
        "limit" => {
            let limit = typed_number("limit", &input.limit, &format!("range:{}:{}", moderation::LIMIT_RANGE.0, moderation::LIMIT_RANGE.1))?;
            moderation::set_limit(tx, now, staff, id, limit).map(|_| ("limit", None))
        }
        "rating" => {
            let rating = typed_number("rating", &input.rating, "range:0:5")?.ok_or_else(|| invalid("rating", "required"))?;
            moderation::set_rating(tx, now, staff, id, rating).map(|_| ("rating", None))
        }
        "delete" => moderation::delete(tx, now, staff, id).map(|deleted| ("delete", Some(deleted))),
        _ => Err(Error::NotFound { what: "route" }),
    })
    .await;
    match outcome {
        Ok(("delete", Some(deleted))) => {
            // Files go only once the rows are gone for good.
            let dir = state.config.data_dir.clone();
            let _ = tokio::task::spawn_blocking(move || deleted.files.iter().for_each(|key| crate::uploads::remove(&dir, key))).await;
            let key = if deleted.deletion == Deletion::Soft { "master_deleted_soft" } else { "master_deleted_hard" };
            Ok(done("/masters", key))
        }
        Ok((action, _)) => Ok(done(&format!("/masters/{id}"), &format!("master_{action}"))),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let refusal = Refusal::of(form_name, &error, who.tr.0);
            let page = card_page(&state, &who, id, form, refusal).await?;
            Ok(render_with(crate::api::status_of(&error), &page))
        }
    }
}

// --- invites --------------------------------------------------------------------------------------------------

/// A freshly issued invite, shown once.
struct Issued {
    link: String,
    code: String,
    city: String,
    expires: String,
}

/// An invite row with its texts.
struct InviteRow {
    invite: InviteInfo,
    zone: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "web/masters_invites.html")]
struct InvitesPage {
    c: Chrome,
    cities: Vec<City>,
    invites: Vec<InviteRow>,
    issued: Option<Issued>,
    typed: InviteForm,
    refusal: Refusal,
}

impl InvitesPage {
    fn time(&self, row: &InviteRow, at: &chrono::DateTime<chrono::Utc>) -> String {
        local_time(self.c.tr, *at, &row.zone)
    }

    fn state_name(&self, state: &InviteState) -> String {
        let key = serde_json::to_value(state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        self.c.tr.of("invites_page.state_", key)
    }
}

#[derive(Debug, Clone, Deserialize)]
struct InviteForm {
    #[serde(default)]
    city_id: String,
    #[serde(default)]
    ttl_hours: String,
    #[serde(default)]
    comment: String,
}

impl Default for InviteForm {
    fn default() -> Self {
        Self { city_id: String::new(), ttl_hours: DEFAULT_INVITE_TTL_HOURS.to_string(), comment: String::new() }
    }
}

async fn invites_page(state: &AppState, who: &StaffPage, issued: Option<Issued>, typed: InviteForm, refusal: Refusal) -> Result<InvitesPage, WebError> {
    who.require(&ADMINS)?;
    let (c, (cities, invites)) = page(state, who, "invites", |conn, staff, now| {
        let cities = reference::search_cities(conn, Viewer::Staff(staff), "")?;
        let invites = signup::list_invites(conn, now, staff)?;
        Ok((cities, invites))
    })
    .await?;
    let fallback = state.config.timezone.name();
    let invites = invites
        .into_iter()
        .map(|invite| InviteRow {
            zone: cities.iter().find(|c| c.id == invite.city_id).map_or(fallback, |c| c.timezone.as_str()).to_string(),
            active: invite.state == InviteState::Active,
            invite,
        })
        .collect();
    Ok(InvitesPage { c, cities, invites, issued, typed, refusal })
}

async fn get_invites(State(state): State<AppState>, who: StaffPage) -> Result<Response, WebError> {
    // A safe default: the inviter's own first city; a global admin bound to none chooses one himself.
    let typed = InviteForm { city_id: who.staff.cities.first().map(ToString::to_string).unwrap_or_default(), ..InviteForm::default() };
    Ok(render(&invites_page(&state, &who, None, typed, Refusal::default()).await?))
}

/// The link of an invite on this server, as the visitor reached it.
fn invite_link(headers: &HeaderMap, token: &str) -> String {
    format!("{}/m/invite/{token}", crate::api::origin(headers))
}

/// Issues an invite and shows its link and code this once (answered with the page, not a redirect, so the
/// secret never sits in an address or the history).
async fn post_invite(State(state): State<AppState>, who: StaffPage, headers: HeaderMap, CsrfForm(form): CsrfForm<InviteForm>) -> Result<Response, WebError> {
    let input = form.clone();
    let outcome = act(&state, &who, move |tx, staff, now| {
        let city = typed_number("city_id", &input.city_id, "required")?.ok_or_else(|| invalid("city_id", "required"))?;
        let ttl = typed_number("ttl_hours", &input.ttl_hours, &format!("range:1:{}", signup::MAX_INVITE_TTL_HOURS))?.unwrap_or(DEFAULT_INVITE_TTL_HOURS);
        let invite = signup::create_invite(tx, now, staff, city, ttl, Some(&input.comment))?;
        let city = reference::search_cities(tx, Viewer::Staff(staff), "")?.into_iter().find(|c| c.id == city).ok_or(Error::NotFound { what: "city" })?;
        Ok((invite, city.name, city.timezone))
    })
    .await;
    match outcome {
        Ok((invite, city, zone)) => {
            let issued = Issued { link: invite_link(&headers, &invite.token), code: invite.code, city, expires: local_time(who.tr, invite.expires_at, &zone) };
            Ok(render(&invites_page(&state, &who, Some(issued), InviteForm::default(), Refusal::default()).await?))
        }
        Err(error) if refuses_the_page(&error) && !matches!(error, Error::NotFound { what: "city" }) => Err(who.refused(error)),
        Err(error) => {
            let error = if let Error::NotFound { .. } = error { invalid("city_id", "unknown") } else { error };
            let page = invites_page(&state, &who, None, form, Refusal::of("invite", &error, who.tr.0)).await?;
            Ok(render_with(crate::api::status_of(&error), &page))
        }
    }
}

#[derive(Debug, Deserialize)]
struct Empty {}

async fn post_revoke(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>, CsrfForm(_): CsrfForm<Empty>) -> Result<Response, WebError> {
    match act(&state, &who, move |tx, staff, now| signup::revoke_invite(tx, now, staff, id)).await {
        Ok(()) => Ok(done("/invites", "invite_revoked")),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let page = invites_page(&state, &who, None, InviteForm::default(), Refusal::of("revoke", &error, who.tr.0)).await?;
            Ok(render_with(StatusCode::CONFLICT, &page))
        }
    }
}
