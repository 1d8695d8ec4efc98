//! A master's questionnaire documents (product.md §3.2 steps 11–12, §3.3): he uploads his passport (photo
//! or PDF) and selfie (photo only) — also while PENDING or REJECTED — lists and downloads them; staff of
//! his city (a logist too) download them from the master card. Rules live in `uploads`.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::files::{self, UploadForm};
use super::{ApiError, ErrorBody, MasterCaller, PathParam, StaffCaller, read, write};
use crate::app::AppState;
use crate::domain::MasterId;
use crate::error::Error;
use crate::moderation::{self, MasterDocument};
use crate::uploads::{self, DocumentKind};

/// The largest upload request read in full. Above the file limit, so that an oversized file is read to the
/// end and refused with a JSON answer instead of a broken connection.
pub const DOCUMENT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The upload form (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the form; the handler reads the fields one by one
pub struct DocumentForm {
    /// Which document.
    kind: DocumentKind,
    /// The file, up to 10 MiB, its type read from the content: a photo (JPEG, PNG, WebP, HEIC), or a PDF for
    /// the passport.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads his passport or selfie, replacing an earlier one of that kind (201 with the document). A file
/// that is not a photo or PDF by its content, a PDF selfie or a file over 10 MiB is refused (422) and
/// nothing is kept.
#[utoipa::path(post, path = "/api/v1/me/documents", tag = "master",
    request_body(content = DocumentForm, content_type = "multipart/form-data"),
    responses((status = 201, body = MasterDocument), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_document(State(state): State<AppState>, caller: MasterCaller, form: Result<Multipart, MultipartRejection>) -> Result<(StatusCode, Json<MasterDocument>), ApiError> {
    let (master, lang) = (caller.id, caller.lang);
    let form = UploadForm::read(&state, form, "file", lang).await?;
    let kind = DocumentKind::parse(form.field("kind").unwrap_or_default()).map_err(|e| ApiError::new(e, lang))?;
    let stored = form.store().await.map_err(|e| ApiError::new(e, lang))?;
    let key = stored.storage_key.clone();
    // The rule names the refused file by its kind (the sign-up form's field); here the file is `file`.
    let attached = write(&state, lang, move |tx, now| {
        uploads::attach_master_document(tx, now, master, kind, &stored).map_err(|e| match e {
            Error::Invalid { rule, .. } => Error::Invalid { field: "file", rule },
            other => other,
        })
    })
    .await;
    // The new file goes when the row was refused; replaced files go once the new row is committed.
    let unused = match &attached {
        Ok(done) => done.replaced.clone(),
        Err(_) => vec![key],
    };
    files::remove(&state, unused).await;
    attached.map(|done| (StatusCode::CREATED, Json(done.document)))
}

/// His documents, oldest first.
#[utoipa::path(get, path = "/api/v1/me/documents", tag = "master",
    responses((status = 200, body = Vec<MasterDocument>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_documents(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<Vec<MasterDocument>>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| moderation::documents(c, master).map_err(Error::from)).await.map(Json)
}

/// Downloads one of his documents; another master's is "not found".
#[utoipa::path(get, path = "/api/v1/me/documents/{attachment_id}", tag = "master",
    params(("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_my_document(State(state): State<AppState>, caller: MasterCaller, PathParam(attachment): PathParam<i64>) -> Result<Response, ApiError> {
    let master = caller.id;
    let found = read(&state, caller.lang, move |c, _| uploads::master_document(c, master, attachment)).await?;
    files::download(&state, caller.lang, found.storage_key, &found.file_name, &found.mime_type).await
}

/// Downloads a document of a master, for staff of his city (a logist too).
#[utoipa::path(get, path = "/api/v1/masters/{id}/documents/{attachment_id}", tag = "masters",
    params(("id" = i64, Path, description = "Master id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_master_document(State(state): State<AppState>, caller: StaffCaller, PathParam((id, attachment)): PathParam<(MasterId, i64)>) -> Result<Response, ApiError> {
    let staff = caller.staff;
    let found = read(&state, caller.lang, move |c, _| uploads::master_document_for_staff(c, &staff, id, attachment)).await?;
    files::download(&state, caller.lang, found.storage_key, &found.file_name, &found.mime_type).await
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    let upload = OpenApiRouter::new().routes(routes!(post_document, get_documents)).layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT));
    OpenApiRouter::new().routes(routes!(get_my_document)).routes(routes!(get_master_document)).merge(upload)
}
