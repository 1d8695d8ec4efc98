//! Payment receipts and the SBP QR image over the API: the master uploads, lists, downloads and deletes
//! the receipts of his own commissions and fetches the QR image of their snapshot; staff with finance
//! access (global admins, city admins in their cities) list and download them; the global admin uploads,
//! reads and removes the owner's SBP QR image. Another master's commission is "not found".

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::documents::DOCUMENT_BODY_LIMIT;
use super::files::{self, UploadForm};
use super::{ApiError, ErrorBody, MasterCaller, PathParam, StaffCaller, read, write};
use crate::app::AppState;
use crate::domain::StaffRole;
use crate::error::Error;
use crate::i18n::Lang;
use crate::money::commissions;
use crate::money::receipts::{self, Receipt};
use crate::money::requisites::{self, QrImage, Requisites};

/// A one-file upload (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the form; the handlers read it part by part
pub struct FileForm {
    /// The file, its type read from the content: for a receipt a photo (JPEG, PNG, WebP, HEIC) or a PDF
    /// up to 10 MiB; for the SBP QR a PNG, JPEG or WebP up to 2 MiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The rules name the page's fields (`receipt`, `sbp_qr`); here the file comes as `file`.
fn as_file_field(error: Error) -> Error {
    match error {
        Error::Invalid { rule, .. } => Error::Invalid { field: "file", rule },
        other => other,
    }
}

/// Uploads a receipt (photo or PDF, checked by content) to his commission while it is not approved: 201
/// with the receipt. A wrong type, an oversized file or an approved commission is refused and nothing kept.
#[utoipa::path(post, path = "/api/v1/me/commissions/{id}/receipts", tag = "master", params(("id" = i64, Path, description = "Commission id")),
    request_body(content = FileForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Receipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_my_receipt(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<i64>, form: Result<Multipart, MultipartRejection>) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    let (master, lang) = (caller.id, caller.lang);
    let stored = UploadForm::read(&state, form, "file", lang).await?.store().await.map_err(|e| ApiError::new(e, lang))?;
    let key = stored.storage_key.clone();
    let attached = write(&state, lang, move |tx, now| receipts::attach(tx, now, master, id, &[stored]).map_err(as_file_field)).await;
    if attached.is_err() {
        files::remove(&state, vec![key]).await;
    }
    let receipt = attached?.into_iter().next().ok_or_else(|| ApiError::new(Error::NotFound { what: "attachment" }, lang))?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

/// The receipts of his commission, oldest first.
#[utoipa::path(get, path = "/api/v1/me/commissions/{id}/receipts", tag = "master", params(("id" = i64, Path, description = "Commission id")),
    responses((status = 200, body = Vec<Receipt>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_my_receipts(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<i64>) -> Result<Json<Vec<Receipt>>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| receipts::for_master(c, master, id)).await.map(Json)
}

/// Downloads one receipt of his commission.
#[utoipa::path(get, path = "/api/v1/me/commissions/{id}/receipts/{receipt_id}", tag = "master",
    params(("id" = i64, Path, description = "Commission id"), ("receipt_id" = i64, Path, description = "Receipt id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_my_receipt(State(state): State<AppState>, caller: MasterCaller, PathParam((id, receipt)): PathParam<(i64, i64)>) -> Result<Response, ApiError> {
    let master = caller.id;
    let found = read(&state, caller.lang, move |c, _| receipts::find_for_master(c, master, id, receipt)).await?;
    files::download(&state, caller.lang, found.storage_key, &found.file_name, &found.mime_type).await
}

/// Deletes one of his receipts while the commission is not approved (204).
#[utoipa::path(delete, path = "/api/v1/me/commissions/{id}/receipts/{receipt_id}", tag = "master",
    params(("id" = i64, Path, description = "Commission id"), ("receipt_id" = i64, Path, description = "Receipt id")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_my_receipt(State(state): State<AppState>, caller: MasterCaller, PathParam((id, receipt)): PathParam<(i64, i64)>) -> Result<StatusCode, ApiError> {
    let master = caller.id;
    let key = write(&state, caller.lang, move |tx, now| receipts::remove(tx, now, master, id, receipt)).await?;
    files::remove(&state, vec![key]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The SBP QR image of his commission's snapshot (the one current when it was created); 404 when it has none.
#[utoipa::path(get, path = "/api/v1/me/commissions/{id}/qr", tag = "master", params(("id" = i64, Path, description = "Commission id")),
    responses((status = 200, description = "The image (PNG, JPEG or WebP)", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_my_qr(State(state): State<AppState>, caller: MasterCaller, PathParam(id): PathParam<i64>) -> Result<Response, ApiError> {
    let master = caller.id;
    let image = read(&state, caller.lang, move |c, _| commissions::for_master(c, master, id).map(|c| c.sbp_qr_image)).await?;
    qr_image(&state, caller.lang, image).await
}

/// The current SBP QR image of the owner's requisites; 404 when none is set.
#[utoipa::path(get, path = "/api/v1/me/requisites/qr", tag = "master",
    responses((status = 200, description = "The image (PNG, JPEG or WebP)", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_my_requisites_qr(State(state): State<AppState>, caller: MasterCaller) -> Result<Response, ApiError> {
    let image = read(&state, caller.lang, |c, _| requisites::qr_image(c)).await?;
    qr_image(&state, caller.lang, image).await
}

/// The receipts of a commission, oldest first.
#[utoipa::path(get, path = "/api/v1/commissions/{id}/receipts", tag = "finance", params(("id" = i64, Path, description = "Commission id")),
    responses((status = 200, body = Vec<Receipt>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_receipts(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>) -> Result<Json<Vec<Receipt>>, ApiError> {
    let staff = caller.staff;
    read(&state, caller.lang, move |c, _| receipts::for_staff(c, &staff, id)).await.map(Json)
}

/// Downloads one receipt of a commission.
#[utoipa::path(get, path = "/api/v1/commissions/{id}/receipts/{receipt_id}", tag = "finance",
    params(("id" = i64, Path, description = "Commission id"), ("receipt_id" = i64, Path, description = "Receipt id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_receipt(State(state): State<AppState>, caller: StaffCaller, PathParam((id, receipt)): PathParam<(i64, i64)>) -> Result<Response, ApiError> {
    let staff = caller.staff;
    let found = read(&state, caller.lang, move |c, _| receipts::find_for_staff(c, &staff, id, receipt)).await?;
    files::download(&state, caller.lang, found.storage_key, &found.file_name, &found.mime_type).await
}

/// The SBP QR image of a commission's snapshot; 404 when it has none.
#[utoipa::path(get, path = "/api/v1/commissions/{id}/qr", tag = "finance", params(("id" = i64, Path, description = "Commission id")),
    responses((status = 200, description = "The image (PNG, JPEG or WebP)", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_commission_qr(State(state): State<AppState>, caller: StaffCaller, PathParam(id): PathParam<i64>) -> Result<Response, ApiError> {
    let staff = caller.staff;
    let image = read(&state, caller.lang, move |c, _| commissions::for_staff(c, &staff, id).map(|c| c.sbp_qr_image)).await?;
    qr_image(&state, caller.lang, image).await
}

/// The owner's current SBP QR image; 404 when none is uploaded.
#[utoipa::path(get, path = "/api/v1/settings/requisites/qr", tag = "finance",
    responses((status = 200, description = "The image (PNG, JPEG or WebP)", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_requisites_qr(State(state): State<AppState>, caller: StaffCaller) -> Result<Response, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    let image = read(&state, caller.lang, |c, _| requisites::qr_image(c)).await?;
    qr_image(&state, caller.lang, image).await
}

/// Uploads (or replaces) the owner's SBP QR image: PNG, JPEG or WebP by content, up to 2 MiB. New
/// commissions show it; existing ones keep the image they were created with.
#[utoipa::path(put, path = "/api/v1/settings/requisites/qr", tag = "finance",
    request_body(content = FileForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Requisites), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_requisites_qr(State(state): State<AppState>, caller: StaffCaller, form: Result<Multipart, MultipartRejection>) -> Result<Json<Requisites>, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    let lang = caller.lang;
    let stored = UploadForm::read(&state, form, "file", lang).await?.store().await.map_err(|e| ApiError::new(e, lang))?;
    let key = stored.storage_key.clone();
    let staff = caller.staff;
    let saved = write(&state, lang, move |tx, now| {
        let replaced = requisites::set_qr(tx, now, &staff, &stored).map_err(as_file_field)?;
        Ok((replaced, requisites::load(tx)?))
    })
    .await;
    let unused = match &saved {
        Ok((replaced, _)) => replaced.iter().cloned().collect(),
        Err(_) => vec![key],
    };
    files::remove(&state, unused).await;
    saved.map(|(_, requisites)| Json(requisites))
}

/// Removes the owner's SBP QR image: new commissions get none; existing ones keep theirs.
#[utoipa::path(delete, path = "/api/v1/settings/requisites/qr", tag = "finance",
    responses((status = 200, body = Requisites), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn delete_requisites_qr(State(state): State<AppState>, caller: StaffCaller) -> Result<Json<Requisites>, ApiError> {
    caller.require(&[StaffRole::GlobalAdmin])?;
    let staff = caller.staff;
    let (removed, requisites) = write(&state, caller.lang, move |tx, now| Ok((requisites::clear_qr(tx, now, &staff)?, requisites::load(tx)?))).await?;
    files::remove(&state, removed.into_iter().collect()).await;
    Ok(Json(requisites))
}

/// A QR image as the answer: its type, never sniffed or cached; "not found" when there is none.
pub async fn qr_image(state: &AppState, lang: Lang, image: Option<QrImage>) -> Result<Response, ApiError> {
    let image = image.ok_or_else(|| ApiError::new(Error::NotFound { what: "attachment" }, lang))?;
    let dir = state.config.data_dir.clone();
    let mime = HeaderValue::from_str(&image.mime_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let bytes = tokio::task::spawn_blocking(move || requisites::qr_bytes(&dir, &image))
        .await
        .map_err(|_| ApiError::new(Error::NotFound { what: "attachment" }, lang))?
        .map_err(|e| ApiError::new(e, lang))?;
    let headers = [
        (header::CONTENT_TYPE, mime),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
    ];
    Ok((headers, bytes).into_response())
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(post_my_receipt, get_my_receipts))
        .routes(routes!(get_requisites_qr, put_requisites_qr, delete_requisites_qr))
        .layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT));
    OpenApiRouter::new()
        .routes(routes!(get_my_receipt, delete_my_receipt))
        .routes(routes!(get_my_qr))
        .routes(routes!(get_my_requisites_qr))
        .routes(routes!(get_receipts))
        .routes(routes!(get_receipt))
        .routes(routes!(get_commission_qr))
        .merge(uploads)
}
