//! `GET /api/v1/exports/{file}`: the exports of product.md §4.7 as downloads, for global admins (every city)
//! and city admins (their own cities); logists are refused by the guard. Also the streaming download both
//! front doors answer with: the CSV flows from SQLite to the socket as it is written, the XLSX is built in a
//! temporary file (the ZIP needs to seek) and then streamed from it.

use std::io::{Read, Seek, SeekFrom, Write};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ErrorBody, PathParam, QueryParams, StaffCaller};
use crate::app::AppState;
use crate::db::DbError;
use crate::domain::CityId;
use crate::error::Error;
use crate::reports::exports::{self, Export, ExportError, FileFormat, Job};
use crate::reports::period::Days;

/// Bytes handed to the socket at a time (and the size of the writer's buffer before it hands them on).
const PIECE: usize = 64 * 1024;
/// Pieces in flight between the writer's thread and the socket: the writer waits when the client is slow.
const IN_FLIGHT: usize = 4;

/// Which export in which format, as the file's name in the path.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum ExportFile {
    #[serde(rename = "orders.csv")]
    OrdersCsv,
    #[serde(rename = "orders.xlsx")]
    OrdersXlsx,
    #[serde(rename = "commissions.csv")]
    CommissionsCsv,
    #[serde(rename = "commissions.xlsx")]
    CommissionsXlsx,
    #[serde(rename = "ref_rewards.csv")]
    RefRewardsCsv,
    #[serde(rename = "ref_rewards.xlsx")]
    RefRewardsXlsx,
}

impl ExportFile {
    fn parts(self) -> (Export, FileFormat) {
        match self {
            Self::OrdersCsv => (Export::Orders, FileFormat::Csv),
            Self::OrdersXlsx => (Export::Orders, FileFormat::Xlsx),
            Self::CommissionsCsv => (Export::Commissions, FileFormat::Csv),
            Self::CommissionsXlsx => (Export::Commissions, FileFormat::Xlsx),
            Self::RefRewardsCsv => (Export::RefRewards, FileFormat::Csv),
            Self::RefRewardsXlsx => (Export::RefRewards, FileFormat::Xlsx),
        }
    }
}

/// The period and the city; with neither `period` nor dates, today.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `today`, `yesterday`, `last_7_days`, `this_month`, `previous_month`, or `custom` (then `from` and `to`).
    pub period: Option<String>,
    /// The first day, `YYYY-MM-DD` or `DD.MM.YYYY`, on the operator's clock.
    pub from: Option<String>,
    /// The last day (included), at most 366 days after `from`.
    pub to: Option<String>,
    /// Only this city (one of the caller's; another is "not found").
    pub city_id: Option<CityId>,
}

/// Downloads an export (product.md §4.7) of the rows created in the period, in the caller's cities, named
/// `<export>_YYYYMMDDTHHMMSSZ.<format>`: CSV in UTF-8 with a BOM and `;` between fields, or XLSX with one
/// sheet named after the export.
#[utoipa::path(get, path = "/api/v1/exports/{file}", tag = "exports",
    params(("file" = inline(ExportFile), Path, description = "The export and its format, e.g. `orders.csv`"), ExportQuery),
    responses(
        (status = 200, description = "The file, as an attachment",
            content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_export(State(state): State<AppState>, caller: StaffCaller, PathParam(file): PathParam<ExportFile>, QueryParams(q): QueryParams<ExportQuery>) -> Result<Response, ApiError> {
    let (export, format) = file.parts();
    let fail = |e| ApiError::new(e, caller.lang);
    let days = Days::from_query(q.period.as_deref(), q.from.as_deref(), q.to.as_deref(), state.clock.now(), state.config.timezone).map_err(fail)?;
    let job = exports::prepare(&caller.staff, export, days, q.city_id).map_err(fail)?;
    download(&state, job, format).await.map_err(fail)
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_export))
}

/// The file of `job` as an attachment. A CSV starts flowing at once (a failure half-way cuts the connection,
/// so the client never takes a truncated file for a whole one); an XLSX is answered once it is complete.
pub async fn download(state: &AppState, job: Job, format: FileFormat) -> Result<Response, Error> {
    let name = exports::file_name(job.export, format, state.clock.now());
    let db = state.db.clone();
    tracing::info!(export = job.export.as_str(), format = format.as_str(), first = %job.days.first, last = %job.days.last, "export");
    let (body, length) = match format {
        FileFormat::Csv => {
            let (tx, rx) = mpsc::channel(IN_FLIGHT);
            tokio::task::spawn_blocking(move || {
                let mut pieces = Pieces { tx, buffer: Vec::with_capacity(PIECE) };
                let written = exports::write_csv(&db, &job, &mut pieces).and_then(|()| pieces.hand_on().map_err(|e| ExportError::Write(e.to_string())));
                if let Err(error) = written {
                    abandon(&pieces.tx, error);
                }
            });
            (stream(rx), None)
        }
        FileFormat::Xlsx => {
            let (file, length) = tokio::task::spawn_blocking(move || xlsx_file(&db, &job)).await.expect("export task panicked")?;
            let (tx, rx) = mpsc::channel(IN_FLIGHT);
            tokio::task::spawn_blocking(move || send_file(file, &tx));
            (stream(rx), Some(length))
        }
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("the name is plain ASCII");
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(format.content_type())),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
        ],
        body,
    )
        .into_response();
    if let Some(length) = length {
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(response)
}

type Piece = Result<Bytes, std::io::Error>;

/// The body that yields what the writer's thread sends.
fn stream(rx: mpsc::Receiver<Piece>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|piece| (piece, rx)) }))
}

/// Ends a download with an error so the connection is cut (a client that has gone away has nothing to hear).
fn abandon(tx: &mpsc::Sender<Piece>, error: ExportError) {
    if !tx.is_closed() {
        tracing::error!(%error, "export failed half-way");
        let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
    }
}

/// A writer that hands its bytes to the socket in pieces of [`PIECE`], waiting while the client is slow.
struct Pieces {
    tx: mpsc::Sender<Piece>,
    buffer: Vec<u8>,
}

impl Pieces {
    fn hand_on(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(PIECE)));
        self.tx.blocking_send(Ok(piece)).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was abandoned"))
    }
}

impl Write for Pieces {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PIECE {
            self.hand_on()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Builds the XLSX of `job` in an unnamed temporary file (gone when closed) and rewinds it.
fn xlsx_file(db: &crate::db::Db, job: &Job) -> Result<(std::fs::File, u64), Error> {
    let temp = |source: std::io::Error| Error::Db(DbError::Create { path: std::env::temp_dir(), source });
    let mut file = tempfile::tempfile().map_err(temp)?;
    exports::write_xlsx(db, job, &mut file).map_err(|e| match e {
        ExportError::Rules(error) => error,
        ExportError::Write(why) => temp(std::io::Error::other(why)),
    })?;
    let length = file.seek(SeekFrom::End(0)).map_err(temp)?;
    file.rewind().map_err(temp)?;
    Ok((file, length))
}

/// Sends a finished file in pieces.
fn send_file(mut file: std::fs::File, tx: &mpsc::Sender<Piece>) {
    let mut buffer = vec![0; PIECE];
    loop {
        let piece = match file.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => Ok(Bytes::copy_from_slice(&buffer[..n])),
            Err(error) => Err(error),
        };
        let failed = piece.is_err();
        if tx.blocking_send(piece).is_err() || failed {
            return;
        }
    }
}
