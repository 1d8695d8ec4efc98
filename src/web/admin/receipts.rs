//! The SBP QR image and the payment receipts on the staff pages: the global admin uploads, views and
//! removes the owner's QR on the requisites editor; staff with finance access open the receipts and the
//! snapshot's QR of a commission card (global admins all cities, city admins their own, logists none).

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::finance::requisites_page;
use super::{Refusal, refuses_the_page};
use crate::api::documents::DOCUMENT_BODY_LIMIT;
use crate::api::files::{self, Parts, UploadForm};
use crate::app::AppState;
use crate::domain::StaffRole;
use crate::error::{Error, invalid};
use crate::money::commissions;
use crate::money::receipts;
use crate::money::requisites;
use crate::web::{CsrfForm, StaffPage, WebError, act, check_csrf_value, done};

const ADMINS: [StaffRole; 2] = [StaffRole::GlobalAdmin, StaffRole::CityAdmin];
/// The QR form's file field.
const FIELD: &str = "sbp_qr";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/finance/{id}/qr", get(get_commission_qr))
        .route("/finance/{id}/receipts/{receipt}", get(get_receipt))
        .route("/settings/requisites/qr", get(get_qr).post(post_qr).layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT)))
        .route("/settings/requisites/qr/delete", post(post_delete_qr))
}

async fn get_commission_qr(State(state): State<AppState>, who: StaffPage, Path(id): Path<i64>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let staff = who.staff.clone();
    let image = state.db.read_blocking(move |c| commissions::for_staff(c, &staff, id).map(|c| c.sbp_qr_image)).await.map_err(|e| who.refused(e))?;
    crate::api::receipts::qr_image(&state, who.tr.0, image).await.map_err(|_| who.refused(Error::NotFound { what: "attachment" }))
}

async fn get_receipt(State(state): State<AppState>, who: StaffPage, Path((id, receipt)): Path<(i64, i64)>) -> Result<Response, WebError> {
    who.require(&ADMINS)?;
    let staff = who.staff.clone();
    let found = state.db.read_blocking(move |c| receipts::find_for_staff(c, &staff, id, receipt)).await.map_err(|e| who.refused(e))?;
    files::download(&state, who.tr.0, found.storage_key, &found.file_name, &found.mime_type)
        .await
        .map_err(|_| who.refused(Error::NotFound { what: "attachment" }))
}

/// The owner's current QR image, for the editor.
async fn get_qr(State(state): State<AppState>, who: StaffPage) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let image = state.db.read_blocking(requisites::qr_image).await.map_err(|e| who.refused(e))?;
    crate::api::receipts::qr_image(&state, who.tr.0, image).await.map_err(|_| who.refused(Error::NotFound { what: "attachment" }))
}

/// Uploads or replaces the QR image. The CSRF field is checked before the file is kept; a refused file is
/// removed again and the editor shows why beside the upload.
async fn post_qr(State(state): State<AppState>, who: StaffPage, form: Result<Multipart, MultipartRejection>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let Ok(mut form) = form else { return Err(who.refused(invalid("form", "malformed"))) };
    let parts = match Parts::read(&mut form, &state.config.data_dir, |name| name == FIELD, 1).await {
        Ok(parts) => parts,
        Err(error) => return refused(&state, &who, error.into_error(FIELD)).await,
    };
    check_csrf_value(&who, parts.field(crate::web::CSRF_FIELD))?;
    let stored = match UploadForm::of(parts, FIELD).store().await {
        Ok(stored) => stored,
        Err(error) => return refused(&state, &who, error).await,
    };
    let key = stored.storage_key.clone();
    match act(&state, &who, move |tx, staff, now| requisites::set_qr(tx, now, staff, &stored)).await {
        Ok(replaced) => {
            files::remove(&state, replaced.into_iter().collect()).await;
            Ok(done("/settings/requisites", "qr_saved"))
        }
        Err(error) => {
            files::remove(&state, vec![key]).await;
            if refuses_the_page(&error) { Err(who.refused(error)) } else { refused(&state, &who, error).await }
        }
    }
}

/// The editor again with the upload's refusal beside it.
async fn refused(state: &AppState, who: &StaffPage, error: Error) -> Result<Response, WebError> {
    let refusal = Refusal::of("qr", &error, who.tr.0);
    requisites_page(state, who, refusal, crate::api::status_of(&error)).await
}

#[derive(Debug, Deserialize)]
struct NoFields {}

async fn post_delete_qr(State(state): State<AppState>, who: StaffPage, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let removed = act(&state, &who, move |tx, staff, now| requisites::clear_qr(tx, now, staff)).await.map_err(|e| who.refused(e))?;
    files::remove(&state, removed.into_iter().collect()).await;
    Ok(done("/settings/requisites", "qr_removed"))
}
