//! Web Push over the API (issue 11 §1): the VAPID public key the browsers subscribe with, the master's
//! own subscriptions (several devices), and a master's reachability for staff.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Body, ErrorBody, MasterCaller, PathParam, StaffCaller, read, write};
use crate::app::AppState;
use crate::domain::MasterId;
use crate::error::Error;
use crate::push::{self, NewSubscription, PushStatus};

/// What a browser needs to subscribe.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushKey {
    /// Whether push is on for this installation (`push_contact` is set).
    pub enabled: bool,
    /// The VAPID public key (`applicationServerKey`), base64url; absent while push is off.
    pub public_key: Option<String>,
}

/// The VAPID public key, or that push is off.
#[utoipa::path(get, path = "/api/v1/push/key", tag = "push", responses((status = 200, body = PushKey)))]
async fn get_key(State(state): State<AppState>, caller: super::CallerLang) -> Result<Json<PushKey>, ApiError> {
    let enabled = state.config.push_contact.is_some();
    let public_key = if enabled { Some(read(&state, caller.0, |c, _| push::public_key(c)).await?) } else { None };
    Ok(Json(PushKey { enabled, public_key }))
}

/// Stores this browser's subscription for the signed-in master (sent again on every page load; an
/// unchanged one stays as it is). 409 `state_conflict` while push is off; 422 for what is not a subscription.
#[utoipa::path(post, path = "/api/v1/me/push/subscriptions", tag = "push", request_body = NewSubscription,
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_subscription(State(state): State<AppState>, caller: MasterCaller, Body(sub): Body<NewSubscription>) -> Result<StatusCode, ApiError> {
    push::enabled(state.config.push_contact.as_deref()).map_err(|e| ApiError::new(e, caller.lang))?;
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| push::subscribe(tx, now, master, &sub)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The browser to forget.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Unsubscribe {
    /// Its subscription's endpoint.
    pub endpoint: String,
}

/// Forgets one of his browsers (at logout, or when he turns notifications off); an unknown one changes nothing.
#[utoipa::path(delete, path = "/api/v1/me/push/subscriptions", tag = "push", request_body = Unsubscribe, responses((status = 204)))]
async fn delete_subscription(State(state): State<AppState>, caller: MasterCaller, Body(body): Body<Unsubscribe>) -> Result<StatusCode, ApiError> {
    let master = caller.id;
    write(&state, caller.lang, move |tx, now| push::unsubscribe(tx, now, master, &body.endpoint)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a master can be reached by push: his devices, the last delivery and the last error.
#[utoipa::path(get, path = "/api/v1/masters/{id}/push", tag = "push", params(("id" = i64, Path, description = "Master id")),
    responses((status = 200, body = PushStatus)))]
async fn get_master_push(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<MasterId>) -> Result<Json<PushStatus>, ApiError> {
    let enabled = state.config.push_contact.is_some();
    read(&state, caller.lang, move |c, _| {
        let exists: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM masters WHERE id = ?1)", [id], |r| r.get(0))?;
        if !exists {
            return Err(Error::NotFound { what: "master" });
        }
        Ok(push::status(c, enabled, id)?)
    })
    .await
    .map(Json)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_key))
        .routes(routes!(post_subscription, delete_subscription))
        .routes(routes!(get_master_push))
}
