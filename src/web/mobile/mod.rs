//! (filled by issue 5: the master's mobile page under /m/)

use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
