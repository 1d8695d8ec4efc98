//! Password hashing with argon2id (decisions §C).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::{Condvar, LazyLock, Mutex};

/// Allowed password lengths, characters — for staff and masters alike.
pub const LENGTH: (usize, usize) = (8, 128);

/// Refuses a password shorter or longer than [`LENGTH`]; checked before the (slow) hashing.
pub fn check(password: &str) -> crate::error::Result<()> {
    crate::error::check_length("password", password, LENGTH.0, LENGTH.1)
}

/// Hashes a password into a PHC string with a random salt. Waits for a turn (see [`Turns`]).
pub fn hash(password: &str) -> String {
    let _turn = TURNS.take();
    Argon2::default().hash_password(password.as_bytes()).expect("argon2 with default parameters cannot fail").to_string()
}

/// True when `password` matches the PHC string `hash`. Waits for a turn (see [`Turns`]).
pub fn verify(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let _turn = TURNS.take();
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// [`verify`] against `hash`, or against a hash of no one's password when there is none, so that an
/// unknown login takes as long to refuse as a wrong password (login names cannot be told apart by timing).
pub fn verify_or_waste(password: &str, stored: Option<&str>) -> bool {
    static NO_ONE: LazyLock<String> = LazyLock::new(|| hash(&generate()));
    match stored {
        Some(stored) => verify(password, stored),
        None => {
            verify(password, &NO_ONE);
            false
        }
    }
}

/// [`hash`] on a blocking thread, for async callers.
pub async fn hash_off_thread(password: String) -> String {
    tokio::task::spawn_blocking(move || hash(&password)).await.expect("password hashing panicked")
}

/// [`verify_or_waste`] on a blocking thread, for async callers.
pub async fn verify_off_thread(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify_or_waste(&password, hash.as_deref())).await.expect("password check panicked")
}

/// How many hashes may be computed at once. Each argon2id run takes 19 MiB; run as many as arrive and a
/// burst of logins takes the server's memory, while more runs than cores finish no sooner anyway.
struct Turns {
    free: Mutex<usize>,
    freed: Condvar,
}

static TURNS: LazyLock<Turns> =
    LazyLock::new(|| Turns { free: Mutex::new(std::thread::available_parallelism().map_or(2, usize::from)), freed: Condvar::new() });

/// A turn at hashing, given back when dropped.
struct Turn(&'static Turns);

impl Turns {
    /// Waits (on the calling blocking thread) until a turn is free.
    fn take(&'static self) -> Turn {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Turn(self)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// A random password of 16 letters and digits, for `admin create` without `--password`.
pub fn generate() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_verifies_only_its_password() {
        let h = super::hash("demo");
        assert!(super::verify("demo", &h));
        assert!(!super::verify("Demo", &h));
        assert!(!super::verify("demo", "not a hash"));
        assert!(super::verify_or_waste("demo", Some(&h)));
        assert!(!super::verify_or_waste("demo", None));
    }
}
