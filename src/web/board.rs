//! The live dispatch board, the home page of the staff UI.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, StaffPage, WebError, page, render};
use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(get_board))
}

#[derive(Template)]
#[template(path = "web/board.html")]
struct BoardPage {
    c: Chrome,
}

async fn get_board(State(state): State<AppState>, who: StaffPage) -> Result<Response, WebError> {
    let (c, ()) = page(&state, &who, "board", |_, _, _| Ok(())).await?;
    Ok(render(&BoardPage { c }))
}
