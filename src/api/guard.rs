//! The one place where every API route's role and city scope are enforced, before any handler parses its
//! input: a caller who may not use a route is refused (401/403), and city-scoped staff asking for an
//! order, a master or a city outside their cities get 404, so ids cannot be probed. The rules functions
//! check the same again for their own callers.

use std::collections::HashSet;
use std::sync::OnceLock;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;

use super::{ApiError, Caller};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::StaffRole;
use crate::error::Error;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, signed in or not (logins, sign-up).
    Public,
    /// Any signed-in staff member or master.
    SignedIn,
    /// Any staff member.
    Staff,
    /// Global and city admins.
    Admins,
    /// Global admins only.
    GlobalAdmin,
    /// Masters only (`/me/…`).
    Master,
}

/// The policy of a route, by method and path template. Unknown routes default to the strictest useful
/// answer for their prefix, so a new route is never open by accident.
pub fn policy(method: &Method, template: &str) -> Policy {
    let path = template.trim_start_matches("/api/v1");
    let post = method == Method::POST;
    match path {
        "/auth/staff/login" | "/auth/master/login" | "/masters/register" | "/invites/inspect" if post => Policy::Public,
        // The VAPID public key is public by nature: browsers subscribe with it.
        "/push/key" if !post => Policy::Public,
        "/auth/logout" | "/auth/me" | "/cities" => Policy::SignedIn,
        "/cities/{id}/districts" if !post => Policy::SignedIn,
        "/orders/{id}/attachments" | "/orders/{id}/attachments/{attachment_id}" => Policy::SignedIn,
        "/cities/{id}/districts" | "/cities/{id}/streets" if post => Policy::Admins,
        "/invites" | "/invites/{id}/revoke" => Policy::Admins,
        p if p.starts_with("/settings") || p.starts_with("/staff") => Policy::GlobalAdmin,
        // Finance is for admins only; logists have none (decisions §B.20).
        p if p.starts_with("/commissions") => Policy::Admins,
        // Exports: admins, a city admin for his own cities (decisions §B.20).
        p if p.starts_with("/exports") => Policy::Admins,
        // The reports show money: admins only, like finance (issue 13).
        p if p.starts_with("/reports") => Policy::Admins,
        p if p.starts_with("/masters/{id}") && method != Method::GET => Policy::Admins,
        p if p.starts_with("/me/") || p == "/me" => Policy::Master,
        _ => Policy::Staff,
    }
}

fn allows(policy: Policy, principal: &Principal) -> bool {
    match (policy, principal) {
        (Policy::Public | Policy::SignedIn, _) => true,
        (Policy::Master, Principal::Master(_)) => true,
        (Policy::Staff, Principal::Staff(_)) => true,
        (Policy::Admins, Principal::Staff(s)) => matches!(s.role, StaffRole::GlobalAdmin | StaffRole::CityAdmin),
        (Policy::GlobalAdmin, Principal::Staff(s)) => s.role == StaffRole::GlobalAdmin,
        _ => false,
    }
}

/// The city of the object a scoped route names: an order, a master or a city. `None` when the route
/// names none or the id does not parse (the handler answers that with 400).
fn scoped_city(state: &AppState, template: &str, params: &RawPathParams) -> Option<Result<Option<i64>, Error>> {
    let path = template.trim_start_matches("/api/v1");
    let id: i64 = params.iter().find(|(name, _)| *name == "id")?.1.parse().ok()?;
    let sql = if path.starts_with("/orders/{id}") {
        "SELECT city_id FROM orders WHERE id = ?1"
    } else if path.starts_with("/masters/{id}") {
        "SELECT city_id FROM masters WHERE id = ?1"
    } else if path.starts_with("/commissions/{id}") {
        "SELECT o.city_id FROM commissions c JOIN orders o ON o.id = c.order_id WHERE c.id = ?1"
    } else if path.starts_with("/cities/{id}") {
        "SELECT id FROM cities WHERE id = ?1"
    } else {
        return None;
    };
    Some(state.db.read(|c| c.query_row(sql, [id], |r| r.get::<_, Option<i64>>(0)).optional().map(Option::flatten).map_err(Error::from)))
}

/// Whether the API serves `method` on `template`: its OpenAPI document lists every route (HEAD is served
/// by GET).
fn routed(method: &Method, template: &str) -> bool {
    static ROUTES: OnceLock<HashSet<(String, String)>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let doc = crate::app::openapi();
        doc.paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                let served = [("GET", &item.get), ("PUT", &item.put), ("POST", &item.post), ("DELETE", &item.delete), ("PATCH", &item.patch)];
                served.into_iter().filter(|(_, op)| op.is_some()).map(|(method, _)| (method.to_string(), path.clone())).collect::<Vec<_>>()
            })
            .collect()
    });
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    routes.contains(&(method.to_string(), template.to_string()))
}

/// Middleware: resolves the caller once (handlers reuse it), enforces the route's policy and the staff
/// member's city scope.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(template) = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()) else {
        return next.run(request).await;
    };
    // The guard wraps a path's whole method router, so a method the path does not serve reaches it too:
    // that one goes on to the router's 405, not to a refusal.
    if !template.starts_with("/api/v1/") || !routed(request.method(), &template) {
        return next.run(request).await;
    }
    let policy = policy(request.method(), &template);
    if policy == Policy::Public {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    if !allows(policy, &caller.principal) {
        return ApiError::new(Error::Forbidden, caller.lang).into_response();
    }
    // A global admin sees every city (and masters without one); the handlers answer his unknown ids.
    if let Principal::Staff(staff) = &caller.principal
        && staff.role != StaffRole::GlobalAdmin
    {
        let params = RawPathParams::from_request_parts(&mut parts, &state).await;
        if let Ok(params) = params {
            let lookup_state = state.clone();
            let lookup = tokio::task::spawn_blocking(move || scoped_city(&lookup_state, &template, &params)).await.ok().flatten();
            match lookup {
                Some(Ok(Some(city))) if staff.sees(city) => {}
                Some(Ok(_)) => return ApiError::new(Error::NotFound { what: "object" }, caller.lang).into_response(),
                Some(Err(e)) => return ApiError::new(e, caller.lang).into_response(),
                None => {}
            }
        }
    }
    parts.extensions.insert(super::Resolved(caller.principal, caller.lang));
    next.run(Request::from_parts(parts, body)).await
}
