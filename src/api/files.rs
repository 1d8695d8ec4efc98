//! Files over HTTP: reading one uploaded file from a multipart form, storing it, and sending a stored
//! file back as a download. Used by the act upload, the master documents and the order attachments.

use std::collections::HashMap;

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::app::AppState;
use crate::error::{Error, invalid};
use crate::i18n::Lang;
use crate::uploads;
use crate::work::{MAX_FILE_BYTES, StoredFile};

/// A multipart form with one file field, read to its end.
pub struct UploadForm {
    /// The text fields.
    pub fields: HashMap<String, String>,
    file_field: &'static str,
    file: Option<(String, Vec<u8>)>,
    files: usize,
    too_big: bool,
}

impl UploadForm {
    /// Reads `form`, keeping the first `file_field` of at most [`MAX_FILE_BYTES`] (the rest is drained,
    /// so an oversized upload gets a clean answer instead of a reset connection).
    pub async fn read(form: Result<Multipart, MultipartRejection>, file_field: &'static str, lang: Lang) -> Result<Self, ApiError> {
        let mut form = form.map_err(|rejection| ApiError::malformed(lang, rejection.body_text()))?;
        let fail = |e: MultipartError| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(invalid(file_field, "file_size"), lang)
            } else {
                ApiError::malformed(lang, e.body_text())
            }
        };
        let mut upload = Self { fields: HashMap::new(), file_field, file: None, files: 0, too_big: false };
        while let Some(mut field) = form.next_field().await.map_err(fail)? {
            let name = field.name().unwrap_or_default().to_string();
            if name != file_field {
                let text = field.text().await.map_err(fail)?;
                upload.fields.insert(name, text);
                continue;
            }
            upload.files += 1;
            let keep = upload.files == 1;
            let file_name = field.file_name().unwrap_or_default().to_string();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(fail)? {
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
                upload.file = Some((file_name, bytes));
            }
        }
        Ok(upload)
    }

    /// Stores the one file under the data directory (its type read from the content); refuses a missing,
    /// second or oversized file, naming the file field.
    pub async fn store(self, state: &AppState, lang: Lang) -> Result<StoredFile, ApiError> {
        let field = self.file_field;
        let refuse = |rule: &str| ApiError::new(invalid(field, rule), lang);
        let (name, bytes) = self.file.ok_or_else(|| refuse("required"))?;
        if self.files > 1 {
            return Err(refuse("file_type"));
        }
        if self.too_big {
            return Err(refuse("file_size"));
        }
        let dir = state.config.data_dir.clone();
        tokio::task::spawn_blocking(move || uploads::store(&dir, &bytes, &name))
            .await
            .map_err(|_| ApiError::new(invalid(field, "file_type"), lang))?
            .map_err(|e| match e {
                Error::Invalid { rule, .. } => ApiError::new(Error::Invalid { field, rule }, lang),
                other => ApiError::new(other, lang),
            })
    }
}

/// Removes stored files that no committed row refers to (a refused upload, a replaced document).
pub async fn remove(state: &AppState, keys: Vec<String>) {
    let dir = state.config.data_dir.clone();
    let _ = tokio::task::spawn_blocking(move || keys.iter().for_each(|key| uploads::remove(&dir, key))).await;
}

/// A stored file as a download: its type, an attachment disposition with the original name, and no
/// sniffing or caching by the browser.
pub async fn download(state: &AppState, lang: Lang, storage_key: String, file_name: &str, mime_type: &str) -> Result<Response, ApiError> {
    let dir = state.config.data_dir.clone();
    let bytes = tokio::task::spawn_blocking(move || uploads::read(&dir, &storage_key))
        .await
        .map_err(|_| ApiError::new(Error::NotFound { what: "attachment" }, lang))?
        .map_err(|e| ApiError::new(e, lang))?;
    let disposition = HeaderValue::from_str(&uploads::content_disposition(file_name)).unwrap_or(HeaderValue::from_static("attachment"));
    let mime = HeaderValue::from_str(mime_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let headers = [
        (header::CONTENT_TYPE, mime),
        (header::CONTENT_DISPOSITION, disposition),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
    ];
    Ok((headers, bytes).into_response())
}
