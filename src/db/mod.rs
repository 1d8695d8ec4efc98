//! Storage: the SQLite file, its settings, the schema migrations, a pool for reads and one writer.
//!
//! Writes go through [`Db::write`]: one in-process writer connection behind a mutex, each call one short
//! `BEGIN IMMEDIATE` transaction. The mutex queues this process's writers without SQLite's sleeping busy
//! handler (which would give a contended accept a long tail); `busy_timeout` still covers other processes,
//! such as a `fieldservice tick` run beside the server.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::cities;

pub mod fault;
mod group;

pub use fault::{Fault, log_failure};

/// The schema, one entry per version: entry `n - 1` upgrades a file from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schema.sql"),
    include_str!("migrations/0002_citywide_orders.sql"),
    include_str!("migrations/0003_commission_alerts.sql"),
    include_str!("migrations/0004_close_report_and_held_files.sql"),
    include_str!("migrations/0005_push.sql"),
    include_str!("migrations/0006_order_notes.sql"),
    include_str!("migrations/0007_master_note.sql"),
    include_str!("migrations/0008_export_indexes.sql"),
    include_str!("migrations/0009_report_indexes.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How hard SQLite works to survive a power cut (`durability` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous = FULL`: a committed transaction survives a power cut.
    #[default]
    Full,
    /// `synchronous = NORMAL`: faster; the last transactions may be lost on a power cut.
    Normal,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No pooled connection could be had.
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    /// The file was written by a newer Field Service.
    #[error(
        "the database {path} has schema version {found}, newer than this build supports ({supported}); \
         run the newer fieldservice or restore a backup. Nothing was changed."
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    /// A backup could not be written or did not check out.
    #[error("backup failed: {0}")]
    Backup(String),
    /// The database cannot be written (read-only file or directory, full disk): refused at start.
    #[error(
        "cannot write the database {path}: {source}. Check that the file and its directory belong to the user \
         running fieldservice and are writable, and that the disk has free space."
    )]
    NotWritable { path: PathBuf, source: rusqlite::Error },
    /// The file or its directory could not be created.
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
}

/// The database: a read pool and the single writer.
#[derive(Clone)]
pub struct Db {
    path: PathBuf,
    pool: Pool<SqliteConnectionManager>,
    writer: Arc<Mutex<Connection>>,
    /// Counts this process's commits; live pages wait on it instead of polling the file.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// Accepts waiting to be committed together.
    group: Arc<group::Group>,
    /// The storage fault writes last met, until one succeeds.
    faults: Arc<fault::Faults>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish_non_exhaustive()
    }
}

fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database at `path`, refusing a newer schema before touching the file,
    /// and brings an older one up to date.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::Create { path: dir.to_path_buf(), source })?;
        }
        refuse_newer(path)?;
        let mut writer = Connection::open(path)?;
        configure(&writer, durability)?;
        migrate(&mut writer)?;
        // A file the process cannot write opens read-only without complaint, and only a statement that writes
        // finds out; the update is rolled back.
        writer
            .execute_batch("BEGIN IMMEDIATE; UPDATE scheduler_lease SET owner = owner; ROLLBACK;")
            .map_err(|source| DbError::NotWritable { path: path.to_path_buf(), source })?;
        // The Web Push key pair is made once, on the first start, and kept with the data it belongs to.
        crate::push::ensure_key(&writer)?;
        let manager = SqliteConnectionManager::file(path).with_init(move |c| {
            configure(c, durability)?;
            c.pragma_update(None, "query_only", "ON")
        });
        let pool = Pool::builder().max_size(8).build(manager)?;
        let commits = Arc::new(tokio::sync::watch::Sender::new(0));
        Ok(Self {
            path: path.to_path_buf(),
            pool,
            writer: Arc::new(Mutex::new(writer)),
            commits,
            group: Arc::default(),
            faults: Arc::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer; commits on `Ok`, rolls back on `Err`.
    /// Blocking: call it from a blocking thread (see [`Db::write_blocking`]).
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error> + std::error::Error + 'static,
    {
        let written = (|| {
            let mut conn = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        self.written(&written);
        written
    }

    /// Wakes the live pages after a commit, and keeps the storage fault state.
    fn written<T, E: std::error::Error + 'static>(&self, result: &Result<T, E>) {
        match result {
            Ok(_) => {
                self.faults.succeeded();
                self.commits.send_modify(|n| *n = n.wrapping_add(1));
            }
            Err(error) => self.faults.failed(error),
        }
    }

    /// The storage fault writes last met (disk full, read-only), until one succeeds again.
    pub fn fault(&self) -> Option<Fault> {
        self.faults.current()
    }

    /// [`Db::write`] for short independent writes that many callers make at once (masters accepting
    /// offers): the ones that arrive while a transaction is committing share the next one, each under its
    /// own savepoint (see `group`). `f` must not depend on another write of the same batch.
    pub fn write_grouped<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + std::error::Error + Send + 'static,
    {
        let result = self.group.write(&self.writer, f);
        self.written(&result);
        result
    }

    /// Wakes on every committed write of this process (the scheduler, the pages, the API): what live
    /// pages (the dispatch board, a master's offers) wait on before they look again.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Runs `f` on a pooled read-only connection. Blocking.
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let conn = self.pool.get().map_err(DbError::from)?;
        f(&conn)
    }

    /// [`Db::write`] on a blocking thread, for async callers.
    pub async fn write_blocking<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + std::error::Error + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write(f)).await.expect("database task panicked")
    }

    /// [`Db::read`] on a blocking thread, for async callers.
    pub async fn read_blocking<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read(f)).await.expect("database task panicked")
    }

    /// Writes a consistent copy of the live database to `target` (which must not exist), whatever the
    /// write load: `VACUUM INTO` copies one snapshot inside a single read transaction (WAL lets writers go
    /// on), where the online backup API restarts whenever a writer commits between its steps and may never
    /// finish. The copy is written under a temporary name and renamed only once `integrity_check` passed, so
    /// a failed or interrupted backup never leaves a file that looks like one.
    pub fn backup(&self, target: &Path) -> Result<(), DbError> {
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = target.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_file(&partial);
        let written = (|| -> Result<(), DbError> {
            // Its own connection: the pooled ones are query-only, which refuses `VACUUM INTO`.
            let conn = Connection::open(&self.path)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            let partial_text = partial.to_str().ok_or_else(|| DbError::Backup(format!("{} is not UTF-8", partial.display())))?;
            conn.execute("VACUUM INTO ?1", [partial_text])?;
            let copy = Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let verdict: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if verdict != "ok" {
                return Err(DbError::Backup(format!("the copy failed its integrity check: {verdict}")));
            }
            drop(copy);
            if target.exists() {
                return Err(DbError::Backup(format!("{} already exists; choose a new file", target.display())));
            }
            std::fs::rename(&partial, target).map_err(|e| DbError::Backup(format!("cannot rename the copy to {}: {e}", target.display())))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }
}

fn refuse_newer(path: &Path) -> Result<(), DbError> {
    if !path.exists() {
        return Ok(());
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(DbError::NewerSchema { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let target = MIGRATIONS.len() as i64;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        if version == 1 {
            cities::seed(&tx, Utc::now())?;
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    // One line an operator can act on: a new file, or an upgrade that ran (and from which version).
    match current {
        0 => tracing::info!(version = target, "database created"),
        from if from < target => tracing::info!(from, to = target, "database upgraded from {from} to {target}"),
        _ => {}
    }
    Ok(())
}

/// An instant as stored: milliseconds since the Unix epoch.
pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored instant back as a UTC time.
pub fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
