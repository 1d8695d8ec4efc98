//! The master's payment receipts and the SBP QR on his commission card (product.md §4.3): several photos
//! or PDFs at once from the camera or files, checked by content; deleting one of his until the payment
//! is approved; his receipts and the snapshot's QR served only to him. The rules live in
//! `money::receipts`.

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::Response;
use axum::routing::{get, post};

use super::finance::commission_page;
use super::{MasterPage, MobileError, NoFields, act};
use crate::api::documents::DOCUMENT_BODY_LIMIT;
use crate::api::files::{self, Parts, ReadError};
use crate::app::AppState;
use crate::error::{Error, invalid};
use crate::money::commissions;
use crate::money::receipts::{self, MAX_RECEIPTS};
use crate::web::{CsrfForm, done};
use crate::work::StoredFile;

/// The upload form's file field.
const FIELD: &str = "receipt";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/finance/{id}/receipts", post(post_receipts).layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT)))
        .route("/m/finance/{id}/receipts/{receipt}", get(get_receipt))
        .route("/m/finance/{id}/receipts/{receipt}/delete", post(post_delete))
        .route("/m/finance/{id}/qr", get(get_qr))
}

/// Adds the chosen files as receipts, all or none. The CSRF field is checked before anything is kept; the
/// kept files are removed again when a file or the rule refuses.
async fn post_receipts(State(state): State<AppState>, who: MasterPage, Path(id): Path<i64>, form: Result<Multipart, MultipartRejection>) -> Result<Response, MobileError> {
    let Ok(mut form) = form else { return Err(who.refused(invalid("form", "malformed"))) };
    let parts = match Parts::read(&mut form, &state.config.data_dir, |name| name == FIELD, MAX_RECEIPTS).await {
        Ok(parts) => parts,
        Err(ReadError::TooLarge) => return commission_page(&state, &who, id, Some(invalid(FIELD, "file_size"))).await,
        Err(error) => return Err(who.refused(error.into_error(FIELD))),
    };
    if parts.field(crate::web::CSRF_FIELD) != Some(who.csrf.as_str()) {
        return Err(who.refused(Error::CsrfFailed));
    }
    let stored = match keep_all(&state, parts).await {
        Ok(stored) => stored,
        Err(error) => return commission_page(&state, &who, id, Some(error)).await,
    };
    let keys: Vec<String> = stored.iter().map(|f| f.storage_key.clone()).collect();
    match act(&state, &who, move |tx, master, now| receipts::attach(tx, now, master, id, &stored)).await {
        Ok(_) => Ok(done(&format!("/m/finance/{id}"), "m_receipt_added")),
        Err(error) => {
            files::remove(&state, keys).await;
            match error {
                Error::NotFound { .. } => Err(who.refused(error)),
                error => commission_page(&state, &who, id, Some(error)).await,
            }
        }
    }
}

/// Checks and keeps every received file; one refused removes those already kept. Refusals name the
/// form's field.
async fn keep_all(state: &AppState, parts: Parts) -> Result<Vec<StoredFile>, Error> {
    if parts.dropped > 0 {
        return Err(invalid(FIELD, format!("max_files:{MAX_RECEIPTS}")));
    }
    if parts.files.is_empty() {
        return Err(invalid(FIELD, "required"));
    }
    let mut stored: Vec<StoredFile> = Vec::new();
    for part in parts.files {
        let kept = match part.file {
            Some(received) => files::keep(received).await,
            None => Err(invalid(FIELD, "file_size")),
        };
        match kept {
            Ok(file) => stored.push(file),
            Err(error) => {
                files::remove(state, stored.into_iter().map(|f| f.storage_key).collect()).await;
                return Err(match error {
                    Error::Invalid { rule, .. } => Error::Invalid { field: FIELD, rule },
                    other => other,
                });
            }
        }
    }
    Ok(stored)
}

/// One of his receipts (shown as a thumbnail, opened or downloaded); any other is "not found".
async fn get_receipt(State(state): State<AppState>, who: MasterPage, Path((id, receipt)): Path<(i64, i64)>) -> Result<Response, MobileError> {
    let master = who.master.id;
    let found = state.db.read_blocking(move |c| receipts::find_for_master(c, master, id, receipt)).await.map_err(|e| who.refused(e))?;
    files::download(&state, who.tr.0, found.storage_key, &found.file_name, &found.mime_type)
        .await
        .map_err(|_| who.refused(Error::NotFound { what: "attachment" }))
}

async fn post_delete(State(state): State<AppState>, who: MasterPage, Path((id, receipt)): Path<(i64, i64)>, CsrfForm(_): CsrfForm<NoFields>) -> Result<Response, MobileError> {
    let key = act(&state, &who, move |tx, master, now| receipts::remove(tx, now, master, id, receipt)).await.map_err(|e| who.refused(e))?;
    files::remove(&state, vec![key]).await;
    Ok(done(&format!("/m/finance/{id}"), "m_receipt_removed"))
}

/// The SBP QR image of his commission's snapshot.
async fn get_qr(State(state): State<AppState>, who: MasterPage, Path(id): Path<i64>) -> Result<Response, MobileError> {
    let master = who.master.id;
    let image = state.db.read_blocking(move |c| commissions::for_master(c, master, id).map(|c| c.sbp_qr_image)).await.map_err(|e| who.refused(e))?;
    crate::api::receipts::qr_image(&state, who.tr.0, image).await.map_err(|_| who.refused(Error::NotFound { what: "attachment" }))
}
