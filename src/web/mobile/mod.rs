//! The master's mobile page under `/m/` (issue 5): a phone-first, server-rendered page over the same rules
//! as the JSON API's `/me/…` routes.

mod signup;

use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().merge(signup::routes())
}
