//! Staff accounts (product.md §5.4; global admins only): the list, adding a member with a role, cities and
//! an initial password, deactivating and re-activating, changing cities, and resetting a password. A
//! password the server made up is shown once, on the page that answers the form.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};

use super::{Refusal, field, fields, local_time, refuses_the_page};
use crate::app::AppState;
use crate::domain::{CityId, StaffId, StaffRole};
use crate::error::{Error, invalid};
use crate::password;
use crate::reference::{self, City, Viewer};
use crate::staff::{self, NewStaff, StaffView};
use crate::web::{Chrome, CsrfForm, StaffPage, WebError, act, done, page, render, render_with};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff", get(get_staff).post(post_staff))
        .route("/staff/{id}/deactivate", post(post_deactivate))
        .route("/staff/{id}/activate", post(post_activate))
        .route("/staff/{id}/cities", post(post_cities))
        .route("/staff/{id}/password", post(post_password))
}

/// Submitted form fields, as pairs (the city choice repeats its field).
type Pairs = Vec<(String, String)>;

/// A password to hand over, shown this once.
struct Secret {
    login: String,
    password: String,
}

/// A staff member in the list.
struct Member {
    view: StaffView,
    city_names: String,
    created: String,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "web/admin/staff.html")]
struct StaffListPage {
    c: Chrome,
    members: Vec<Member>,
    cities: Vec<City>,
    roles: &'static [StaffRole],
    typed: Pairs,
    refusal: Refusal,
    secret: Option<Secret>,
}

impl StaffListPage {
    /// What was typed into the add form's `name`.
    fn typed(&self, name: &str) -> String {
        field(&self.typed, name)
    }

    /// The cities chosen in the add form (none until the admin picks: the choice is required).
    fn typed_cities(&self) -> Vec<CityId> {
        fields(&self.typed, "city_ids").iter().filter_map(|id| id.parse().ok()).collect()
    }

    /// The role the add form shows chosen: the one typed, else the least powerful.
    fn role_chosen(&self, role: &StaffRole) -> bool {
        match self.typed("role") {
            typed if typed.is_empty() => *role == StaffRole::Logist,
            typed => typed == role.as_str(),
        }
    }

    /// The refusal of member `id`'s city form.
    fn cities_refusal(&self, id: &StaffId) -> Option<String> {
        self.refusal.at(&format!("cities-{id}"), "city_ids")
    }
}

async fn staff_page(state: &AppState, who: &StaffPage, typed: Pairs, refusal: Refusal, secret: Option<Secret>) -> Result<StaffListPage, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let (c, (views, cities)) =
        page(state, who, "staff", |conn, me, _| Ok((staff::list(conn, me, None)?, reference::search_cities(conn, Viewer::Staff(me), "")?))).await?;
    let zone = state.config.timezone.name();
    let members = views
        .into_iter()
        .map(|view| Member {
            city_names: view.cities.iter().filter_map(|id| cities.iter().find(|c| c.id == *id)).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
            created: local_time(c.tr, view.created_at, zone),
            is_me: view.id == who.staff.id,
            view,
        })
        .collect();
    Ok(StaffListPage { c, members, cities, roles: &[StaffRole::Logist, StaffRole::CityAdmin, StaffRole::GlobalAdmin], typed, refusal, secret })
}

async fn get_staff(State(state): State<AppState>, who: StaffPage) -> Result<Response, WebError> {
    Ok(render(&staff_page(&state, &who, Vec::new(), Refusal::default(), None).await?))
}

/// Answers a staff action: the page with the message when refused (the form's fields kept), the error
/// page when the refusal is about the page itself.
async fn refused(state: &AppState, who: &StaffPage, form: &str, typed: Pairs, error: Error) -> Result<Response, WebError> {
    if refuses_the_page(&error) {
        return Err(who.refused(error));
    }
    let page = staff_page(state, who, typed, Refusal::of(form, &error, who.tr.0), None).await?;
    Ok(render_with(crate::api::status_of(&error), &page))
}

/// The cities chosen in a form.
fn chosen_cities(pairs: &Pairs) -> Result<Vec<CityId>, Error> {
    fields(pairs, "city_ids").iter().map(|raw| raw.trim().parse().map_err(|_| invalid("city_ids", "unknown"))).collect()
}

/// The new member as typed; the password is made up when left empty.
fn new_staff(pairs: &Pairs) -> Result<(NewStaff, bool), Error> {
    let role = StaffRole::parse(field(pairs, "role").trim()).ok_or_else(|| invalid("role", "unknown"))?;
    let typed = field(pairs, "password");
    let generated = typed.is_empty();
    let password = if generated { password::generate() } else { typed };
    password::check(&password)?;
    let input = NewStaff { login: field(pairs, "login"), password, role, full_name: field(pairs, "full_name"), city_ids: chosen_cities(pairs)? };
    Ok((input, generated))
}

/// The (deliberately slow) hash, off the async threads and outside the write transaction.
async fn hash(secret: &str) -> String {
    password::hash_off_thread(secret.to_string()).await
}

async fn post_staff(State(state): State<AppState>, who: StaffPage, CsrfForm(pairs): CsrfForm<Pairs>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let (input, generated) = match new_staff(&pairs) {
        Ok(parsed) => parsed,
        Err(error) => return refused(&state, &who, "add", pairs, error).await,
    };
    let password_hash = hash(&input.password).await;
    let (login, password) = (input.login.trim().to_lowercase(), input.password.clone());
    match act(&state, &who, move |tx, me, now| staff::add(tx, now, me, &input, &password_hash)).await {
        Ok(_) if generated => Ok(render(&staff_page(&state, &who, Vec::new(), Refusal::default(), Some(Secret { login, password })).await?)),
        Ok(_) => Ok(done("/staff", "staff_added")),
        Err(error) => refused(&state, &who, "add", pairs, error).await,
    }
}

async fn set_active(state: AppState, who: StaffPage, id: StaffId, active: bool) -> Result<Response, WebError> {
    match act(&state, &who, move |tx, me, now| staff::set_active(tx, now, me, id, active)).await {
        Ok(_) => Ok(done("/staff", if active { "staff_activated" } else { "staff_deactivated" })),
        Err(error) => refused(&state, &who, "member", Vec::new(), error).await,
    }
}

async fn post_deactivate(State(state): State<AppState>, who: StaffPage, Path(id): Path<StaffId>, CsrfForm(_): CsrfForm<Pairs>) -> Result<Response, WebError> {
    set_active(state, who, id, false).await
}

async fn post_activate(State(state): State<AppState>, who: StaffPage, Path(id): Path<StaffId>, CsrfForm(_): CsrfForm<Pairs>) -> Result<Response, WebError> {
    set_active(state, who, id, true).await
}

async fn post_cities(State(state): State<AppState>, who: StaffPage, Path(id): Path<StaffId>, CsrfForm(pairs): CsrfForm<Pairs>) -> Result<Response, WebError> {
    let outcome = match chosen_cities(&pairs) {
        Ok(cities) => act(&state, &who, move |tx, me, now| staff::set_cities(tx, now, me, id, &cities)).await.map(drop),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => Ok(done("/staff", "staff_cities_saved")),
        Err(error) => refused(&state, &who, &format!("cities-{id}"), Vec::new(), error).await,
    }
}

/// Gives a member a new made-up password, shown once; his sessions end.
async fn post_password(State(state): State<AppState>, who: StaffPage, Path(id): Path<StaffId>, CsrfForm(_): CsrfForm<Pairs>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let password = password::generate();
    let password_hash = hash(&password).await;
    match act(&state, &who, move |tx, me, now| staff::reset_password(tx, now, me, id, &password_hash)).await {
        Ok(view) => Ok(render(&staff_page(&state, &who, Vec::new(), Refusal::default(), Some(Secret { login: view.login, password })).await?)),
        Err(error) => refused(&state, &who, "member", Vec::new(), error).await,
    }
}
