//! Files over HTTP: reading one uploaded file from a multipart form, storing it, and sending a stored
//! file back as a download. Used by the act upload, the master documents and the order attachments.

use std::path::{Path, PathBuf};

use axum::extract::multipart::{Field, Multipart, MultipartError, MultipartRejection};
use tokio::io::AsyncWriteExt;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::app::AppState;
use crate::error::{Error, invalid};
use crate::i18n::Lang;
use crate::uploads::{self, Received};
use crate::work::{MAX_FILE_BYTES, StoredFile};

/// Longest text field of a multipart form, bytes: the forms' texts are names, addresses and comments.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// All text fields of a multipart form together, bytes.
const MAX_TEXT_TOTAL: usize = 512 * 1024;

/// One uploaded file of a multipart form.
pub struct FilePart {
    /// The form field it came in.
    pub field: String,
    /// The file, on disk; `None` when it was larger than [`MAX_FILE_BYTES`] (the rest was drained).
    pub file: Option<Received>,
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

/// Why a multipart form could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Not a multipart form, or cut short.
    Malformed(String),
    /// The body is over the route's limit.
    TooLarge,
    /// A text field over [`MAX_TEXT_BYTES`], or all of them over 512 KiB.
    TextTooLong,
    /// A file could not be written to the data directory.
    Storage(Error),
}

impl From<MultipartError> for ReadError {
    fn from(e: MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE { Self::TooLarge } else { Self::Malformed(e.body_text()) }
    }
}

impl ReadError {
    /// The refusal, naming `file_field` for a body too large.
    pub fn into_error(self, file_field: &'static str) -> Error {
        match self {
            Self::Malformed(_) => invalid("form", "malformed"),
            Self::TooLarge => invalid(file_field, "file_size"),
            Self::TextTooLong => invalid("form", format!("max_len:{MAX_TEXT_BYTES}")),
            Self::Storage(error) => error,
        }
    }
}

impl Parts {
    /// Reads `form` to its end. Fields for which `is_file` holds are files, each written to a temporary
    /// file under `data_dir` as it arrives, up to [`MAX_FILE_BYTES`] (an oversized one is drained, so the
    /// sender gets a clean answer instead of a reset connection); the empty part a browser sends for a file
    /// input left empty is skipped. Text fields are held in memory, so they are capped.
    pub async fn read(form: &mut Multipart, data_dir: &Path, is_file: impl Fn(&str) -> bool, max_files: usize) -> Result<Self, ReadError> {
        let mut parts = Self::default();
        let mut text_total = 0;
        while let Some(mut field) = form.next_field().await? {
            let name = field.name().unwrap_or_default().to_string();
            if !is_file(&name) {
                let text = read_text(&mut field).await?;
                text_total += text.len();
                if text_total > MAX_TEXT_TOTAL {
                    return Err(ReadError::TextTooLong);
                }
                parts.fields.push((name, text));
                continue;
            }
            let file_name = field.file_name().unwrap_or_default().to_string();
            if parts.files.len() >= max_files {
                if drain(&mut field).await? > 0 || !file_name.is_empty() {
                    parts.dropped += 1;
                }
                continue;
            }
            match receive(&mut field, data_dir, &file_name).await? {
                Outcome::Empty if file_name.is_empty() => {}
                // An empty file is refused like an oversized one: "a file of up to 10 MB".
                Outcome::Empty | Outcome::TooBig => parts.files.push(FilePart { field: name, file: None }),
                Outcome::File(file) => parts.files.push(FilePart { field: name, file: Some(file) }),
            }
        }
        Ok(parts)
    }

    /// The text field `name` (its first value).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A text field, refused over [`MAX_TEXT_BYTES`].
async fn read_text(field: &mut Field<'_>) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if bytes.len() + chunk.len() > MAX_TEXT_BYTES {
            return Err(ReadError::TextTooLong);
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ReadError::Malformed("a text field is not UTF-8".into()))
}

/// Reads a part to its end without keeping it; its size.
async fn drain(field: &mut Field<'_>) -> Result<u64, ReadError> {
    let mut size = 0;
    while let Some(chunk) = field.chunk().await? {
        size += chunk.len() as u64;
    }
    Ok(size)
}

/// What became of one file part.
enum Outcome {
    /// No byte came.
    Empty,
    /// Over [`MAX_FILE_BYTES`]: drained, nothing kept.
    TooBig,
    /// Written to disk.
    File(Received),
}

/// A temporary file being written, removed if the upload does not complete.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes a file part to a temporary file under `data_dir`, counting its bytes; past [`MAX_FILE_BYTES`]
/// the file is deleted and the rest drained.
async fn receive(field: &mut Field<'_>, data_dir: &Path, file_name: &str) -> Result<Outcome, ReadError> {
    let Some(first) = field.chunk().await? else { return Ok(Outcome::Empty) };
    let storage = |e: std::io::Error, path: &Path| ReadError::Storage(Error::Db(crate::db::DbError::Create { path: path.to_path_buf(), source: e }));
    let dir = data_dir.to_path_buf();
    let path = tokio::task::spawn_blocking(move || uploads::incoming_path(&dir)).await.expect("upload path panicked").map_err(ReadError::Storage)?;
    let file = tokio::fs::File::create_new(&path).await.map_err(|e| storage(e, &path))?;
    let mut partial = Partial(Some(path.clone()));
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let (mut head, mut size) = (Vec::with_capacity(uploads::HEAD_BYTES), 0u64);
    let mut chunk = Some(first);
    while let Some(bytes) = chunk {
        size += bytes.len() as u64;
        if size > MAX_FILE_BYTES as u64 {
            drop((out, partial));
            drain(field).await?;
            return Ok(Outcome::TooBig);
        }
        let take = (uploads::HEAD_BYTES - head.len()).min(bytes.len());
        head.extend_from_slice(&bytes[..take]);
        out.write_all(&bytes).await.map_err(|e| storage(e, &path))?;
        chunk = field.chunk().await?;
    }
    out.flush().await.map_err(|e| storage(e, &path))?;
    drop(out);
    if size == 0 {
        // Empty chunks only: the part a browser sends for a file input left empty.
        return Ok(Outcome::Empty);
    }
    let path = partial.0.take().expect("set above");
    Ok(Outcome::File(uploads::received(path, size, head, file_name)))
}

/// A multipart form with one file field, read to its end.
pub struct UploadForm {
    /// The form's text fields and its file.
    pub parts: Parts,
    file_field: &'static str,
}

impl UploadForm {
    /// Reads an API request's form, keeping the first `file_field`.
    pub async fn read(state: &AppState, form: Result<Multipart, MultipartRejection>, file_field: &'static str, lang: Lang) -> Result<Self, ApiError> {
        let mut form = form.map_err(|rejection| ApiError::malformed(lang, rejection.body_text()))?;
        let parts = Parts::read(&mut form, &state.config.data_dir, |name| name == file_field, 1).await.map_err(|e| match e {
            ReadError::Malformed(detail) => ApiError::malformed(lang, detail),
            other => ApiError::new(other.into_error(file_field), lang),
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

    /// Keeps the one file under the data directory (its type read from the content); refuses a missing,
    /// second or oversized file, naming the file field.
    pub async fn store(self) -> Result<StoredFile, Error> {
        let field = self.file_field;
        if self.parts.dropped > 0 {
            return Err(invalid(field, "file_type"));
        }
        let file = self.parts.files.into_iter().next().ok_or_else(|| invalid(field, "required"))?;
        let received = file.file.ok_or_else(|| invalid(field, "file_size"))?;
        keep(received).await.map_err(|e| match e {
            Error::Invalid { rule, .. } => Error::Invalid { field, rule },
            other => other,
        })
    }
}

/// Checks an upload and moves it into place (see [`uploads::keep`]); refusals name the field `file`.
pub async fn keep(received: Received) -> Result<StoredFile, Error> {
    tokio::task::spawn_blocking(move || uploads::keep(&received)).await.map_err(|_| invalid("file", "file_type"))?
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
