//! `fieldservice restore PATH`: puts a backup in place of the live database. Refused while a server runs on
//! the file; the backup is verified first (SQLite integrity, foreign keys, a schema this build can read); the
//! current database is kept beside it as `<name>.before-restore-<time>`; the swap is a rename within the
//! directory, so the database file is at every moment either the old one or the new one, never half of each.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use crate::db::SCHEMA_VERSION;

/// Why a restore did not happen. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A server holds the database.
    #[error("a server is running on {0}; stop it first (systemctl stop fieldservice), then restore")]
    Running(PathBuf),
    /// The backup is missing or not an SQLite database.
    #[error("{path} cannot be read as a database: {cause}")]
    Unreadable { path: PathBuf, cause: String },
    /// The backup is damaged.
    #[error("{path} is damaged ({problem}); choose another backup")]
    Damaged { path: PathBuf, problem: String },
    /// The backup comes from a newer build.
    #[error("{path} has schema version {found}, newer than this build supports ({supported}); run the newer fieldservice")]
    Newer { path: PathBuf, found: i64, supported: i64 },
    /// A file operation failed.
    #[error("{what}: {cause}")]
    Io { what: String, cause: std::io::Error },
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The schema version of the backup (an older one is upgraded on the next start).
    pub schema_version: i64,
    /// Where the database that was replaced now lies; `None` when there was none.
    pub kept: Option<PathBuf>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestoreError {
    let what = what.into();
    move |cause| RestoreError::Io { what, cause }
}

/// Checks `backup` as a database this build can take: integrity, foreign keys, schema version. The version.
pub fn verify(backup: &Path) -> Result<i64, RestoreError> {
    let unreadable = |cause: rusqlite::Error| RestoreError::Unreadable { path: backup.to_path_buf(), cause: cause.to_string() };
    if !backup.is_file() {
        return Err(RestoreError::Unreadable { path: backup.to_path_buf(), cause: "no such file".into() });
    }
    let conn = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(unreadable)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(unreadable)?;
    let damaged = |problem: String| RestoreError::Damaged { path: backup.to_path_buf(), problem };
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(unreadable)?;
    if verdict != "ok" {
        return Err(damaged(format!("integrity check: {verdict}")));
    }
    let orphans: i64 = conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).map_err(unreadable)?;
    if orphans > 0 {
        return Err(damaged(format!("{orphans} rows point at rows that do not exist")));
    }
    if version < 1 {
        return Err(damaged("it is not a Field Service database (schema version 0)".into()));
    }
    if version > SCHEMA_VERSION {
        return Err(RestoreError::Newer { path: backup.to_path_buf(), found: version, supported: SCHEMA_VERSION });
    }
    Ok(version)
}

/// Replaces `database` with a copy of `backup` at `now` (the time names the kept file).
pub fn restore(database: &Path, backup: &Path, now: DateTime<Utc>) -> Result<Restored, RestoreError> {
    let Some(_held) = super::instance::exclusive(database).map_err(io("cannot lock the database"))? else {
        return Err(RestoreError::Running(database.to_path_buf()));
    };
    let schema_version = verify(backup)?;
    let dir = database.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let name = database.file_name().unwrap_or_default().to_string_lossy().into_owned();
    // The copy goes next to the database first, so the swap below is a rename within one directory.
    let incoming = dir.join(format!(".{name}.restoring-{}", std::process::id()));
    std::fs::copy(backup, &incoming).map_err(io(format!("cannot copy {} into {}", backup.display(), dir.display())))?;
    let synced = std::fs::File::open(&incoming).and_then(|f| f.sync_all());
    if let Err(cause) = synced {
        let _ = std::fs::remove_file(&incoming);
        return Err(RestoreError::Io { what: "cannot write the copy to disk".into(), cause });
    }
    let kept = if database.exists() {
        // Fold the write-ahead log into the file, so that the kept database is whole on its own.
        if let Err(cause) = Connection::open(database).and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))) {
            let _ = std::fs::remove_file(&incoming);
            return Err(RestoreError::Unreadable { path: database.to_path_buf(), cause: cause.to_string() });
        }
        let kept = dir.join(format!("{name}.before-restore-{}", now.format("%Y%m%dT%H%M%SZ")));
        std::fs::hard_link(database, &kept).map_err(io(format!("cannot keep the current database as {}", kept.display())))?;
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&incoming, database).map_err(io(format!("cannot put the backup in place of {}", database.display())))?;
    // The old file's log and shared memory belong to the file that was replaced.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
    }
    Ok(Restored { schema_version, kept })
}
