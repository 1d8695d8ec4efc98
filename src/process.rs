//! Process-wide settings made once at start-up, before the server runs.

/// Raises the soft open-file limit to the hard one (every connection is a file: the usual soft limit of
/// 1024 is reached long before the memory or the cores are), and has freed password-hashing memory
/// returned to the system. Logs what it could not do; never fails.
pub fn tune() {
    raise_open_file_limit();
    return_large_blocks();
}

/// The soft open-file limit in force.
pub fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit.rlim_cur)
}

fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read or write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= limit.rlim_max {
            return;
        }
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            tracing::warn!(soft = limit.rlim_cur, hard = limit.rlim_max, error = %std::io::Error::last_os_error(), "could not raise the open-file limit");
        }
    }
}

/// Every argon2id run allocates 19 MiB. glibc serves a block that large with `mmap` and gives it back on
/// `free` — until the first such free, after which its dynamic threshold rises above 19 MiB and the
/// blocks come from the heap arenas, which keep them: a burst of logins then stays resident for good.
/// A fixed threshold turns the dynamic one off.
#[cfg(target_env = "gnu")]
fn return_large_blocks() {
    const THRESHOLD: libc::c_int = 1 << 20;
    // SAFETY: mallopt only changes allocator parameters; called at start-up before the worker threads.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) } != 1 {
        tracing::warn!("could not set the allocator's mmap threshold");
    }
}

/// Other C libraries (musl) map large blocks and unmap them on free already.
#[cfg(not(target_env = "gnu"))]
fn return_large_blocks() {}
