//! Storage faults a person has to fix — the disk is full, the database file is read-only. Users are told
//! what is wrong (503, in their language) instead of "internal error"; `/healthz` reports the installation
//! degraded while the fault lasts; the log says so once a minute, not once per request; and the next write
//! that succeeds clears it, so the server recovers by itself when the condition clears.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a lasting fault is logged again.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// A storage fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No space left on the device (or the database reached its size limit).
    DiskFull,
    /// The database or the data directory cannot be written.
    ReadOnly,
}

impl Fault {
    /// The fault behind `error` or any error it was caused by: SQLite's FULL / READONLY, or an I/O error
    /// "no space" / "read-only file system" / "permission denied".
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<Fault> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(fault) = Self::of_one(error) {
                return Some(fault);
            }
            next = error.source();
        }
        None
    }

    fn of_one(error: &(dyn std::error::Error + 'static)) -> Option<Fault> {
        if let Some(error) = error.downcast_ref::<rusqlite::Error>() {
            return match error.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DiskFull) => Some(Fault::DiskFull),
                Some(rusqlite::ErrorCode::ReadOnly) => Some(Fault::ReadOnly),
                _ => None,
            };
        }
        let io = error.downcast_ref::<std::io::Error>()?;
        match io.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => Some(Fault::DiskFull),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => Some(Fault::ReadOnly),
            _ => None,
        }
    }

    /// The stable code: API `error.code`, `/healthz` `reason`, catalog key `error.<code>`.
    pub fn code(self) -> &'static str {
        match self {
            Fault::DiskFull => "disk_full",
            Fault::ReadOnly => "read_only",
        }
    }
}

/// The fault this process last met, until a write succeeds.
#[derive(Debug, Default)]
pub(super) struct Faults {
    /// Set while a fault is current: the hot path (a write that succeeded) reads only this.
    degraded: AtomicBool,
    state: Mutex<State>,
}

/// The fault last logged, and when: shared by the writes and the requests that meet one.
static LOGGED: Mutex<Option<(Fault, Instant)>> = Mutex::new(None);

/// Logs a storage fault, at most once a minute while it stays the same fault.
pub fn log(fault: Fault, error: &dyn std::fmt::Display) {
    let mut logged = LOGGED.lock().unwrap_or_else(|p| p.into_inner());
    if logged.is_none_or(|(last, at)| last != fault || at.elapsed() >= LOG_EVERY) {
        *logged = Some((fault, Instant::now()));
        tracing::error!(%error, reason = fault.code(), "storage fault: writes are refused until it is fixed (logged once a minute)");
    }
}

/// Logs a failure a user met: a storage fault once a minute, anything else every time.
pub fn log_failure(error: &(dyn std::error::Error + 'static), what: &str) {
    match Fault::of(error) {
        Some(fault) => log(fault, &error),
        None => tracing::error!(%error, "{what}"),
    }
}

#[derive(Debug, Default)]
struct State {
    current: Option<Fault>,
}

impl Faults {
    /// Notes a failed operation; anything but a storage fault is left to its caller.
    pub(super) fn failed(&self, error: &(dyn std::error::Error + 'static)) {
        let Some(fault) = Fault::of(error) else { return };
        self.state.lock().unwrap_or_else(|p| p.into_inner()).current = Some(fault);
        self.degraded.store(true, Ordering::Release);
        log(fault, &error);
    }

    /// Notes a write that succeeded: a current fault is over.
    pub(super) fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::AcqRel) {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(fault) = state.current.take() {
                tracing::warn!(reason = fault.code(), "storage fault cleared: writes succeed again");
                *LOGGED.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
    }

    pub(super) fn current(&self) -> Option<Fault> {
        if !self.degraded.load(Ordering::Acquire) {
            return None;
        }
        self.state.lock().unwrap_or_else(|p| p.into_inner()).current
    }
}

/// Whether the disk holding `dir` has (almost) no space left for this process: less than the largest
/// upload, so a form with a file would fail even while small database writes still fit.
pub fn disk_full(dir: &std::path::Path) -> bool {
    const ROOM: u64 = 16 * 1024 * 1024;
    free_bytes(dir).is_some_and(|free| free < ROOM)
}

#[cfg(unix)]
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stat` a buffer of the right type, filled on success.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &std::path::Path) -> Option<u64> {
    None
}
