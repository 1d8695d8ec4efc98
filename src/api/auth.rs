//! Signing in and out, who am I, and API tokens.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Body, Caller, CallerLang, ErrorBody, PathParam, StaffCaller, bearer, read, session_cookie, write};
use crate::app::AppState;
use crate::auth::{self as accounts, Owner, Principal, TokenInfo};
use crate::domain::{CityId, StaffRole};

/// A staff sign-in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffLogin {
    /// Login.
    pub login: String,
    /// Password.
    pub password: String,
}

/// A master sign-in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MasterLogin {
    /// Phone, any common Russian spelling.
    pub phone: String,
    /// Password.
    pub password: String,
}

/// Who is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `staff` or `master`.
    pub kind: &'static str,
    /// Staff or master id.
    pub id: i64,
    /// Staff role.
    pub role: Option<StaffRole>,
    /// Login (staff) or full name (master).
    pub name: String,
    /// Staff cities, or the master's city.
    pub cities: Vec<CityId>,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Self {
        match p {
            Principal::Staff(s) => Me { kind: "staff", id: s.id, role: Some(s.role), name: s.login.clone(), cities: s.cities.clone() },
            Principal::Master(m) => Me { kind: "master", id: m.id, role: None, name: m.full_name.clone(), cities: m.city_id.into_iter().collect() },
        }
    }
}

/// A started staff session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionStarted {
    /// Send it as `X-CSRF-Token` with every state-changing request of this session.
    pub csrf_token: String,
    /// Who signed in.
    pub me: Me,
}

/// A master's API token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenIssued {
    /// Token id.
    pub id: i64,
    /// The bearer token (shown once).
    pub token: String,
    /// Who it belongs to.
    pub me: Me,
}

pub(crate) fn session_cookie_header(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = if super::https(headers) { "; Secure" } else { "" };
    let name = super::session_cookie_name(headers);
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .expect("a hex token is a valid header value")
}

/// Signs a staff member in: a session cookie and its CSRF token.
#[utoipa::path(post, path = "/api/v1/auth/staff/login", tag = "auth", request_body = StaffLogin,
    responses((status = 200, body = SessionStarted), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn post_staff_login(State(state): State<AppState>, CallerLang(lang): CallerLang, ip: ClientIp, headers: HeaderMap, Body(input): Body<StaffLogin>) -> Result<Response, ApiError> {
    let tz = state.config.timezone;
    let credentials = (input.login, input.password, ip.0);
    let (staff, session) = accounts::sign_in_staff(&state.db, state.clock.now(), credentials, tz, |tx, now, staff| {
        let session = accounts::start_session(tx, now, Owner::Staff(staff.id))?;
        Ok((staff, session))
    })
    .await
    .map_err(|e| ApiError::new(e, lang))?;
    let cookie = session_cookie_header(&headers, &session.token, accounts::STAFF_SESSION_IDLE.num_seconds());
    let body = SessionStarted { csrf_token: session.csrf, me: Me::from(&Principal::Staff(staff)) };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Signs a master in and issues his bearer token.
#[utoipa::path(post, path = "/api/v1/auth/master/login", tag = "auth", request_body = MasterLogin,
    responses((status = 200, body = TokenIssued), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn post_master_login(State(state): State<AppState>, CallerLang(lang): CallerLang, ip: ClientIp, Body(input): Body<MasterLogin>) -> Result<Json<TokenIssued>, ApiError> {
    let tz = state.config.timezone;
    let credentials = (input.phone, input.password, ip.0);
    accounts::sign_in_master(&state.db, state.clock.now(), credentials, tz, |tx, now, master| {
        let (id, token) = accounts::create_token(tx, now, Owner::Master(master.id), "login")?;
        Ok(TokenIssued { id, token, me: Me::from(&Principal::Master(master)) })
    })
    .await
    .map(Json)
    .map_err(|e| ApiError::new(e, lang))
}

/// Signs out: ends the session (clearing its cookie) or revokes the bearer token used.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = ErrorBody)))]
async fn post_logout(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Result<Response, ApiError> {
    let lang = caller.lang;
    if let Some(token) = bearer(&headers) {
        write(&state, lang, move |tx, now| {
            tx.execute("UPDATE api_tokens SET revoked_at = ?2 WHERE token_hash = ?1", rusqlite::params![accounts::hash_secret(&token), crate::db::ms(now)])?;
            Ok(())
        })
        .await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let token = session_cookie(&headers).unwrap_or_default();
    write(&state, lang, move |tx, _| accounts::end_session(tx, &token)).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, session_cookie_header(&headers, "", 0))]).into_response())
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn get_me(caller: Caller) -> Json<Me> {
    Json(Me::from(&caller.principal))
}

/// A new token's label.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// What the token is for, e.g. "call centre".
    #[serde(default)]
    pub name: String,
}

/// A created token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Id, for revoking.
    pub id: i64,
    /// The bearer token (shown once).
    pub token: String,
}

/// The staff member's own tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = ErrorBody)))]
async fn get_tokens(State(state): State<AppState>, caller: StaffCaller) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    let id = caller.staff.id;
    read(&state, caller.lang, move |c, _| accounts::list_tokens(c, id)).await.map(Json)
}

/// Creates a token for the staff member.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_token(State(state): State<AppState>, caller: StaffCaller, Body(input): Body<NewToken>) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let id = caller.staff.id;
    let (id, token) = write(&state, caller.lang, move |tx, now| accounts::create_token(tx, now, Owner::Staff(id), &input.name)).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { id, token })))
}

/// Revokes one of the staff member's own tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", params(("id" = i64, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_token(State(state): State<AppState>, caller: StaffCaller, PathParam(token): PathParam<i64>) -> Result<StatusCode, ApiError> {
    let id = caller.staff.id;
    write(&state, caller.lang, move |tx, now| accounts::revoke_token(tx, now, id, token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The client address of a request.
pub struct ClientIp(pub String);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(super::client_ip(parts, &state.config.trusted_proxies)))
    }
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_staff_login))
        .routes(routes!(post_master_login))
        .routes(routes!(post_logout))
        .routes(routes!(get_me))
        .routes(routes!(get_tokens, post_token))
        .routes(routes!(delete_token))
}

