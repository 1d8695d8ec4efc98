//! The JSON API `/api/v1`: who is calling, how refusals look, and the routes of every resource module.
//! Handlers are thin: extract → authorise → one rules call on a blocking thread → JSON.

pub mod auth;
pub mod files;
pub mod documents;
pub mod exports;
pub mod guard;
pub mod masters;
pub mod master_side;
pub mod money;
pub mod orders;
pub mod push;
pub mod receipts;
pub mod reference;
pub mod referrals;
pub mod reports;
pub mod staff;

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::config::Network;
use crate::auth::{self as accounts, Principal};
use crate::domain::{MasterId, StaffRole};
use crate::error::Error;
use crate::i18n::{Lang, message};
use crate::staff::Staff;

/// The session cookie.
pub const SESSION_COOKIE: &str = "fs_session";
/// The header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The error body: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One refusal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `offer_taken`, `invalid`, `not_found`.
    pub code: String,
    /// What went wrong, in the caller's language.
    pub message: String,
    /// The offending input field, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A refusal on its way to the caller, in his language.
#[derive(Debug)]
pub struct ApiError {
    error: Error,
    lang: Lang,
    /// Set for input that could not even be parsed (400 instead of the rule's status).
    malformed: Option<String>,
}

impl ApiError {
    /// A rules error for a caller speaking `lang`.
    pub fn new(error: Error, lang: Lang) -> Self {
        Self { error, lang, malformed: None }
    }

    fn malformed(lang: Lang, detail: String) -> Self {
        Self { error: Error::Invalid { field: "body", rule: "malformed".into() }, lang, malformed: Some(detail) }
    }
}

/// The HTTP status of a rules error.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Unauthenticated | Error::BadCredentials => StatusCode::UNAUTHORIZED,
        Error::Forbidden | Error::AccountDisabled | Error::CsrfFailed | Error::MasterBlocked { .. } | Error::MasterInactive | Error::MasterPending => {
            StatusCode::FORBIDDEN
        }
        Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Db(cause) if crate::db::Fault::of(cause).is_some() => StatusCode::SERVICE_UNAVAILABLE,
        Error::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::CONFLICT,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Error::Db(cause) = &self.error {
            crate::db::log_failure(cause, "request failed");
        }
        let (status, code, field) = match &self.malformed {
            Some(_) => (StatusCode::BAD_REQUEST, "bad_request".to_string(), None),
            None => {
                let field = match &self.error {
                    Error::Invalid { field, .. } => Some(field.to_string()),
                    _ => None,
                };
                (status_of(&self.error), self.error.code().to_string(), field)
            }
        };
        let text = match &self.malformed {
            Some(detail) => format!("{}: {detail}", message(self.lang, "error.bad_request")),
            None => self.error.message(self.lang),
        };
        (status, Json(ErrorBody { error: ErrorDetail { code, message: text, field } })).into_response()
    }
}

/// The caller's language: `Accept-Language` when it names ru or en, else the installation's default.
pub fn lang_of(headers: &HeaderMap, default: Lang) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|tag| Lang::parse(tag.trim().get(..2)?)))
        .unwrap_or(default)
}

/// The language of a request, for handlers without a signed-in caller.
pub struct CallerLang(pub Lang);

impl FromRequestParts<AppState> for CallerLang {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(lang_of(&parts.headers, state.config.language)))
    }
}

/// The client's address, for login throttling: the connection's peer, or — when the peer is one of the
/// `trusted` proxies — the last address in `X-Forwarded-For` that is not itself a trusted proxy (the
/// addresses before it were written by the client and prove nothing). An IPv6 client counts as its /64
/// network, which is what one subscriber gets.
pub fn client_ip(parts: &Parts, trusted: &[Network]) -> String {
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else { return "unknown".into() };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.ip().to_canonical();
    if is_trusted(client) {
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
        let hops: Vec<&str> = forwarded.map(str::trim).collect();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip.to_canonical();
            if !is_trusted(client) {
                break;
            }
        }
    }
    match client {
        IpAddr::V6(v6) => format!("{}/64", std::net::Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4.to_string(),
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// The session cookie over HTTPS: the `__Host-` prefix makes the browser accept it only when it is
/// `Secure`, for `/` and without `Domain` — no neighbouring site or plain-HTTP page can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-fs_session";

/// Whether the browser talks HTTPS to us (a TLS-terminating proxy says so). Only the caller himself could
/// lie here, and only to have his own cookie named and flagged for HTTPS.
pub fn https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The name of the session cookie on this request's scheme.
pub fn session_cookie_name(headers: &HeaderMap) -> &'static str {
    if https(headers) { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

/// The value of the session cookie (over HTTPS only the `__Host-` one counts).
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, session_cookie_name(headers))
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_string))
}

/// A signed-in caller: a bearer token, or a session cookie (whose state-changing requests must carry the
/// session's CSRF token in `X-CSRF-Token`).
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// His language.
    pub lang: Lang,
}

/// The caller as resolved by [`guard::enforce`], so that handlers do not resolve him again.
#[derive(Clone)]
pub(crate) struct Resolved(pub(crate) Principal, pub(crate) Lang);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(Resolved(principal, lang)) = parts.extensions.get::<Resolved>() {
            return Ok(Self { principal: principal.clone(), lang: *lang });
        }
        let lang = lang_of(&parts.headers, state.config.language);
        let now = state.clock.now();
        let fail = |e| ApiError::new(e, lang);
        let principal = if let Some(token) = bearer(&parts.headers) {
            state.db.read_blocking(move |c| accounts::resolve_token(c, &token)).await.map_err(fail)?
        } else if let Some(token) = session_cookie(&parts.headers) {
            let (principal, csrf) = resolve_session(state, now, token).await.map_err(fail)?;
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !safe && sent != Some(csrf.as_str()) {
                return Err(fail(Error::CsrfFailed));
            }
            principal
        } else {
            return Err(fail(Error::Unauthenticated));
        };
        Ok(Self { principal, lang })
    }
}

/// The caller behind a session cookie and the session's CSRF token (for the JSON API and the web pages).
pub(crate) async fn resolve_session(state: &AppState, now: chrono::DateTime<chrono::Utc>, token: String) -> Result<(Principal, String), Error> {
    // Most requests only read the session; the writer is needed only to slide or drop it.
    let probe = token.clone();
    let read = state
        .db
        .read_blocking(move |c| match accounts::session_needs_write(c, now, &probe)? {
            true => Ok(None),
            false => accounts::resolve_session(c, now, &probe).map(Some),
        })
        .await?;
    match read {
        Some(resolved) => Ok(resolved),
        None => state.db.write_blocking(move |tx| accounts::resolve_session(tx, now, &token)).await,
    }
}

/// A signed-in staff member (any role); a master is refused with 403.
pub struct StaffCaller {
    /// The staff member.
    pub staff: Staff,
    /// His language.
    pub lang: Lang,
}

impl FromRequestParts<AppState> for StaffCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.principal {
            Principal::Staff(staff) => Ok(Self { staff, lang: caller.lang }),
            Principal::Master(_) => Err(ApiError::new(Error::Forbidden, caller.lang)),
        }
    }
}

impl StaffCaller {
    /// Refuses unless his role is one of `roles`.
    pub fn require(&self, roles: &[StaffRole]) -> Result<(), ApiError> {
        self.staff.require(roles).map_err(|e| ApiError::new(e, self.lang))
    }
}

/// A signed-in master.
pub struct MasterCaller {
    /// His id.
    pub id: MasterId,
    /// His language.
    pub lang: Lang,
}

impl FromRequestParts<AppState> for MasterCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.principal {
            Principal::Master(master) => Ok(Self { id: master.id, lang: caller.lang }),
            Principal::Staff(_) => Err(ApiError::new(Error::Forbidden, caller.lang)),
        }
    }
}

/// A JSON object body whose parse errors become a 400 JSON error in the caller's language. Every request
/// body of the API is an object; serde alone would also take an array for a struct (`[]` for one whose
/// fields all have defaults), which the document does not allow.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let lang = lang_of(req.headers(), state.config.language);
        let object = match Json::<serde_json::Map<String, serde_json::Value>>::from_request(req, state).await {
            Ok(Json(object)) => object,
            Err(rejection) => return Err(ApiError::malformed(lang, rejection_text(&rejection))),
        };
        serde_json::from_value(serde_json::Value::Object(object)).map(Self).map_err(|e| ApiError::malformed(lang, e.to_string()))
    }
}

fn rejection_text(rejection: &JsonRejection) -> String {
    rejection.body_text()
}

/// A path parameter whose parse errors become a 400 JSON error.
pub struct PathParam<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let lang = lang_of(&parts.headers, state.config.language);
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::malformed(lang, PathRejection::body_text(&rejection))),
        }
    }
}

/// Query parameters whose parse errors become a 400 JSON error.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let lang = lang_of(&parts.headers, state.config.language);
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::malformed(lang, QueryRejection::body_text(&rejection))),
        }
    }
}

/// This server as the request reached it, `http(s)://host[:port]`, for the absolute links people copy and
/// share (invite and referral links): the address they used is the one that works for them.
pub fn origin(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("{}://{host}", if https(headers) { "https" } else { "http" })
}

/// Runs a write on a blocking thread, mapping a refusal to the caller's language.
pub async fn write<T: Send + 'static>(
    state: &AppState,
    lang: Lang,
    f: impl FnOnce(&rusqlite::Transaction<'_>, chrono::DateTime<chrono::Utc>) -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    let now = state.clock.now();
    state.db.write_blocking(move |tx| f(tx, now)).await.map_err(|e| ApiError::new(e, lang))
}

/// Runs a read on a blocking thread, mapping a refusal to the caller's language.
pub async fn read<T: Send + 'static>(
    state: &AppState,
    lang: Lang,
    f: impl FnOnce(&rusqlite::Connection, chrono::DateTime<chrono::Utc>) -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    let now = state.clock.now();
    state.db.read_blocking(move |c| f(c, now)).await.map_err(|e| ApiError::new(e, lang))
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))));
    }
}

/// Adds to every operation what the shared machinery of this module and the guard answer, so that no
/// annotation has to repeat it and none can forget it: the security of its policy, 400 for a body, path
/// or query that does not parse, 401/403 for a route that needs a caller (not signed in; wrong role, a
/// deactivated or blocked account, a missing CSRF token), 404 for an id in the path, 500 for an internal
/// failure, 503 for a storage fault (disk full, database read-only). What the rules refuse (404 for an object named in the body, 409, 422, 429) stays on each route.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Parameter, ParameterIn};
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

        let error = |description: &str| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [(Method::GET, &mut item.get), (Method::POST, &mut item.post), (Method::PUT, &mut item.put), (Method::DELETE, &mut item.delete)];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let params: Vec<&Parameter> =
                    operation.parameters.iter().flatten().filter_map(|p| if let RefOr::T(p) = p { Some(p) } else { None }).collect();
                let in_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
                let in_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses.entry(status.to_string()).or_insert_with(|| error(description));
                };
                if operation.request_body.is_some() || in_path || in_query {
                    add("400", "The body, a path parameter or a query parameter does not parse.");
                }
                if guard::policy(&method, path) != guard::Policy::Public {
                    add("401", "Not signed in, or the session or token has expired.");
                    add("403", "The caller may not use this route, his account is deactivated or blocked, or a cookie session sent no CSRF token.");
                    let schemes = ["bearer", "session"].map(|scheme| SecurityRequirement::new(scheme, Vec::<String>::new()));
                    operation.security = Some(schemes.to_vec());
                }
                if in_path {
                    add("404", "No such object, or it is outside the caller's cities.");
                }
                add("500", "An internal failure (logged on the server).");
                // Any request may write (a session's last-seen time at least).
                add("503", "The server cannot store data now: its disk is full or its database is read-only (`disk_full`, `read_only`).");
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Field Service API", description = "Orders, offers, masters and the distribution engine of Field Service."),
    modifiers(&Security),
    components(schemas(ErrorBody, ErrorDetail))
)]
struct ApiDoc;

/// Every API route with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(masters::routes())
        .merge(documents::routes())
        .merge(exports::routes())
        .merge(orders::routes())
        .merge(push::routes())
        .merge(master_side::routes())
        .merge(money::routes())
        .merge(receipts::routes())
        .merge(reference::routes())
        .merge(referrals::routes())
        .merge(reports::routes())
        .merge(staff::routes());
    // After the merge: the routes' operations are only in the document from here on.
    CommonResponses.modify(router.get_openapi_mut());
    router
}
