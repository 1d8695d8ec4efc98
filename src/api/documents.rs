//! A master's questionnaire documents (product.md §3.2 steps 11–12, §3.3): he uploads his passport (photo
//! or PDF) and selfie (photo only) — also while PENDING or REJECTED — lists and downloads them; staff of
//! his city (a logist too) download them from the master card. Rules live in `uploads`.

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ErrorBody, MasterCaller, PathParam, StaffCaller, read, write};
use crate::app::AppState;
use crate::domain::MasterId;
use crate::error::{Error, invalid};
use crate::i18n::Lang;
use crate::moderation::{self, MasterDocument};
use crate::uploads::{self, DocumentFile, DocumentKind};
use crate::work::MAX_FILE_BYTES;

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

/// The fields of an upload form as read.
#[derive(Default)]
struct Upload {
    kind: Option<String>,
    file: Option<(String, Vec<u8>)>,
    files: usize,
    too_big: bool,
}

fn multipart_error(error: &MultipartError, lang: Lang) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(invalid("file", "file_size"), lang)
    } else {
        ApiError::malformed(lang, error.body_text())
    }
}

/// Reads the form to its end, keeping at most one file of at most [`MAX_FILE_BYTES`].
async fn read_form(mut form: Multipart, lang: Lang) -> Result<Upload, ApiError> {
    let mut upload = Upload::default();
    while let Some(mut field) = form.next_field().await.map_err(|e| multipart_error(&e, lang))? {
        match field.name() {
            Some("kind") => upload.kind = Some(field.text().await.map_err(|e| multipart_error(&e, lang))?),
            Some("file") => {
                upload.files += 1;
                let keep = upload.files == 1;
                let name = field.file_name().unwrap_or_default().to_string();
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e, lang))? {
                    if !keep || upload.too_big {
                        continue;
                    }
                    if bytes.len() + chunk.len() > MAX_FILE_BYTES as usize {
                        upload.too_big = true;
                        bytes = Vec::new();
                    } else {
                        bytes.extend_from_slice(&chunk);
                    }
                }
                if keep {
                    upload.file = Some((name, bytes));
                }
            }
            _ => while field.chunk().await.map_err(|e| multipart_error(&e, lang))?.is_some() {},
        }
    }
    Ok(upload)
}

/// Uploads his passport or selfie, replacing an earlier one of that kind (201 with the document). A file
/// that is not a photo or PDF by its content, a PDF selfie or a file over 10 MiB is refused (422) and
/// nothing is kept.
#[utoipa::path(post, path = "/api/v1/me/documents", tag = "master",
    request_body(content = DocumentForm, content_type = "multipart/form-data"),
    responses((status = 201, body = MasterDocument), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_document(State(state): State<AppState>, caller: MasterCaller, form: Result<Multipart, MultipartRejection>) -> Result<(StatusCode, Json<MasterDocument>), ApiError> {
    let (master, lang) = (caller.id, caller.lang);
    let form = form.map_err(|rejection| ApiError::malformed(lang, rejection.body_text()))?;
    let upload = read_form(form, lang).await?;
    let refuse = |field: &'static str, rule: &str| Err(ApiError::new(invalid(field, rule), lang));
    let kind = DocumentKind::parse(upload.kind.as_deref().unwrap_or_default()).map_err(|e| ApiError::new(e, lang))?;
    let Some((name, bytes)) = upload.file else { return refuse("file", "required") };
    if upload.files > 1 {
        return refuse("file", "file_type");
    }
    if upload.too_big {
        return refuse("file", "file_size");
    }
    let dir = state.config.data_dir.clone();
    let stored = tokio::task::spawn_blocking(move || uploads::store(&dir, &bytes, &name))
        .await
        .expect("upload task panicked")
        .map_err(|e| ApiError::new(e, lang))?;
    let key = stored.storage_key.clone();
    let attached = write(&state, lang, move |tx, now| uploads::attach_master_document(tx, now, master, kind, &stored)).await;
    // The new file goes when the row was refused; replaced files go once the new row is committed.
    let unused = match &attached {
        Ok(done) => done.replaced.clone(),
        Err(_) => vec![key],
    };
    let dir = state.config.data_dir.clone();
    let _ = tokio::task::spawn_blocking(move || unused.iter().for_each(|key| uploads::remove(&dir, key))).await;
    attached.map(|done| (StatusCode::CREATED, Json(done.document)))
}

/// His documents, oldest first.
#[utoipa::path(get, path = "/api/v1/me/documents", tag = "master",
    responses((status = 200, body = Vec<MasterDocument>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_documents(State(state): State<AppState>, caller: MasterCaller) -> Result<Json<Vec<MasterDocument>>, ApiError> {
    let master = caller.id;
    read(&state, caller.lang, move |c, _| moderation::documents(c, master).map_err(Error::from)).await.map(Json)
}

/// The file of a found document, as a download.
async fn download(state: &AppState, lang: Lang, found: DocumentFile) -> Result<Response, ApiError> {
    let (dir, key) = (state.config.data_dir.clone(), found.storage_key.clone());
    let bytes = tokio::task::spawn_blocking(move || uploads::read(&dir, &key))
        .await
        .expect("file read task panicked")
        .map_err(|e| ApiError::new(e, lang))?;
    let disposition = HeaderValue::from_str(&uploads::content_disposition(&found.file_name)).unwrap_or(HeaderValue::from_static("attachment"));
    let mime = HeaderValue::from_str(&found.mime_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let headers = [
        (header::CONTENT_TYPE, mime),
        (header::CONTENT_DISPOSITION, disposition),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
    ];
    Ok((headers, bytes).into_response())
}

/// Downloads one of his documents; another master's is "not found".
#[utoipa::path(get, path = "/api/v1/me/documents/{attachment_id}", tag = "master",
    params(("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_my_document(State(state): State<AppState>, caller: MasterCaller, PathParam(attachment): PathParam<i64>) -> Result<Response, ApiError> {
    let master = caller.id;
    let found = read(&state, caller.lang, move |c, _| uploads::master_document(c, master, attachment)).await?;
    download(&state, caller.lang, found).await
}

/// Downloads a document of a master, for staff of his city (a logist too).
#[utoipa::path(get, path = "/api/v1/masters/{id}/documents/{attachment_id}", tag = "masters",
    params(("id" = i64, Path, description = "Master id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_master_document(State(state): State<AppState>, caller: StaffCaller, PathParam((id, attachment)): PathParam<(MasterId, i64)>) -> Result<Response, ApiError> {
    let staff = caller.staff;
    let found = read(&state, caller.lang, move |c, _| uploads::master_document_for_staff(c, &staff, id, attachment)).await?;
    download(&state, caller.lang, found).await
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    let upload = OpenApiRouter::new().routes(routes!(post_document, get_documents)).layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT));
    OpenApiRouter::new().routes(routes!(get_my_document)).routes(routes!(get_master_document)).merge(upload)
}
