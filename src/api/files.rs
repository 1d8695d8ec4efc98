//! Files over HTTP: reading one uploaded file from a multipart form, storing it, and sending a stored
//! file back as a download. Used by the act upload, the master documents and the order attachments.

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::app::AppState;
use crate::error::{Error, invalid};
use crate::i18n::Lang;
use crate::uploads;
use crate::work::{MAX_FILE_BYTES, StoredFile};

/// One uploaded file of a multipart form.
pub struct FilePart {
    /// The form field it came in.
    pub field: String,
    /// The name it had on the sender's disk.
    pub name: String,
    /// Its content; `None` when it was larger than [`MAX_FILE_BYTES`] (the rest was drained).
    pub bytes: Option<Vec<u8>>,
}

/// A multipart form read to its end: its text fields in order (a repeated name, e.g. checkboxes, comes
/// once per value) and its files.
#[derive(Default)]
pub struct Parts {
    /// The text fields.
    pub fields: Vec<(String, String)>,
    /// The first `max_files` files, in order.
    pub files: Vec<FilePart>,
    /// Files sent beyond `max_files`, drained unread.
    pub dropped: usize,
}

impl Parts {
    /// Reads `form` to its end. Fields for which `is_file` holds are files, each kept up to
    /// [`MAX_FILE_BYTES`] (an oversized one is drained, so the sender gets a clean answer instead of a reset
    /// connection); the empty part a browser sends for a file input left empty is skipped.
    pub async fn read(form: &mut Multipart, is_file: impl Fn(&str) -> bool, max_files: usize) -> Result<Self, MultipartError> {
        let mut parts = Self::default();
        while let Some(mut field) = form.next_field().await? {
            let name = field.name().unwrap_or_default().to_string();
            if !is_file(&name) {
                let text = field.text().await?;
                parts.fields.push((name, text));
                continue;
            }
            let file_name = field.file_name().unwrap_or_default().to_string();
            let keep = parts.files.len() < max_files;
            let (mut bytes, mut size) = (Vec::new(), 0usize);
            while let Some(chunk) = field.chunk().await? {
                size += chunk.len();
                if keep && size <= MAX_FILE_BYTES as usize {
                    bytes.extend_from_slice(&chunk);
                }
            }
            if file_name.is_empty() && size == 0 {
                continue;
            }
            if keep {
                let bytes = (size <= MAX_FILE_BYTES as usize).then_some(bytes);
                parts.files.push(FilePart { field: name, name: file_name, bytes });
            } else {
                parts.dropped += 1;
            }
        }
        Ok(parts)
    }

    /// The text field `name` (its first value).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A multipart form with one file field, read to its end.
pub struct UploadForm {
    /// The form's text fields and its file.
    pub parts: Parts,
    file_field: &'static str,
}

impl UploadForm {
    /// Reads an API request's form, keeping the first `file_field`.
    pub async fn read(form: Result<Multipart, MultipartRejection>, file_field: &'static str, lang: Lang) -> Result<Self, ApiError> {
        let mut form = form.map_err(|rejection| ApiError::malformed(lang, rejection.body_text()))?;
        let parts = Parts::read(&mut form, |name| name == file_field, 1).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(invalid(file_field, "file_size"), lang)
            } else {
                ApiError::malformed(lang, e.body_text())
            }
        })?;
        Ok(Self::of(parts, file_field))
    }

    /// A form already read, whose one file is `file_field`.
    pub fn of(parts: Parts, file_field: &'static str) -> Self {
        Self { parts, file_field }
    }

    /// The text field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.parts.field(name)
    }

    /// Stores the one file under the data directory (its type read from the content); refuses a missing,
    /// second or oversized file, naming the file field.
    pub async fn store(self, state: &AppState) -> Result<StoredFile, Error> {
        let field = self.file_field;
        if self.parts.dropped > 0 {
            return Err(invalid(field, "file_type"));
        }
        let file = self.parts.files.into_iter().next().ok_or_else(|| invalid(field, "required"))?;
        let bytes = file.bytes.ok_or_else(|| invalid(field, "file_size"))?;
        let dir = state.config.data_dir.clone();
        tokio::task::spawn_blocking(move || uploads::store(&dir, &bytes, &file.name))
            .await
            .map_err(|_| invalid(field, "file_type"))?
            .map_err(|e| match e {
                Error::Invalid { rule, .. } => Error::Invalid { field, rule },
                other => other,
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
