//! (filled by issue 5: sign-up through an invite at /m/invite/{token})

use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
