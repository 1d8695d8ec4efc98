//! Whether a server runs on a database file. `serve` holds a shared `flock` on `<database>.lock` for its
//! whole life (several servers on one file stay possible, the scheduler lease keeps their ticks apart);
//! `restore` needs it exclusively. The kernel drops the lock when the process ends, however it ends, so a
//! crashed server never leaves a stale "running" mark behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A held lock on a database's lock file; released when dropped.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

/// The lock file beside `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    database.with_file_name(name)
}

fn lock(database: &Path, operation: libc::c_int) -> std::io::Result<Option<Held>> {
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(lock_path(database))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared with the call.
    if unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) } == 0 {
        return Ok(Some(Held { _file: file }));
    }
    let error = std::io::Error::last_os_error();
    if error.kind() == std::io::ErrorKind::WouldBlock { Ok(None) } else { Err(error) }
}

/// The running server's mark: shared, so it fails only while a restore holds the file.
pub fn serving(database: &Path) -> std::io::Result<Option<Held>> {
    lock(database, libc::LOCK_SH)
}

/// The whole file, for a restore: `None` while any server runs on it.
pub fn exclusive(database: &Path) -> std::io::Result<Option<Held>> {
    lock(database, libc::LOCK_EX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_file_and_a_restore_waits_for_all_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fieldservice.db");
        let first = serving(&db).unwrap().expect("a first server");
        let second = serving(&db).unwrap().expect("a second server beside it");
        assert!(exclusive(&db).unwrap().is_none(), "no restore while servers run");
        drop((first, second));
        let restoring = exclusive(&db).unwrap().expect("free once they stopped");
        assert!(serving(&db).unwrap().is_none(), "no server start during a restore");
        drop(restoring);
        assert_eq!(lock_path(&db), dir.path().join("fieldservice.db.lock"));
    }
}
