//! Password hashing with argon2id (decisions §C).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::LazyLock;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Allowed password lengths, characters — for staff and masters alike.
pub const LENGTH: (usize, usize) = (8, 128);

/// Refuses a password shorter or longer than [`LENGTH`]; checked before the (slow) hashing.
pub fn check(password: &str) -> crate::error::Result<()> {
    crate::error::check_length("password", password, LENGTH.0, LENGTH.1)
}

/// Hashes a password into a PHC string with a random salt, after waiting for a turn (see [`TURNS`]).
pub fn hash(password: &str) -> String {
    let _turn = turn_blocking();
    hash_now(password)
}

/// True when `password` matches the PHC string `hash`, after waiting for a turn (see [`TURNS`]).
pub fn verify(password: &str, hash: &str) -> bool {
    let _turn = turn_blocking();
    verify_now(password, Some(hash))
}

/// [`hash`] for async callers: waits for a turn without holding a thread, then hashes on a blocking one.
pub async fn hash_off_thread(password: String) -> String {
    let _turn = TURNS.acquire().await.expect("the turns are never closed");
    tokio::task::spawn_blocking(move || hash_now(&password)).await.expect("password hashing panicked")
}

/// [`verify`] for async callers, against `hash` or — when there is none — against a hash of no one's
/// password, so that an unknown login takes as long to refuse as a wrong password (login names cannot be
/// told apart by timing).
pub async fn verify_off_thread(password: String, hash: Option<String>) -> bool {
    let _turn = TURNS.acquire().await.expect("the turns are never closed");
    tokio::task::spawn_blocking(move || verify_now(&password, hash.as_deref())).await.expect("password check panicked")
}

/// How many hashes may be computed at once: one per core. Each argon2id run takes 19 MiB; run as many as
/// arrive and a burst of logins takes the server's memory, while more runs than cores finish no sooner.
static TURNS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)));

/// A turn for a caller already on a blocking thread (sign-up, the command line): rare, so polling will do.
fn turn_blocking() -> SemaphorePermit<'static> {
    loop {
        match TURNS.try_acquire() {
            Ok(turn) => return turn,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    }
}

fn hash_now(password: &str) -> String {
    Argon2::default().hash_password(password.as_bytes()).expect("argon2 with default parameters cannot fail").to_string()
}

fn verify_now(password: &str, hash: Option<&str>) -> bool {
    static NO_ONE: LazyLock<String> = LazyLock::new(|| hash_now(&generate()));
    let parsed = match hash {
        Some(hash) => PasswordHash::new(hash),
        None => PasswordHash::new(&NO_ONE),
    };
    let Ok(parsed) = parsed else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && hash.is_some()
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
        assert!(super::verify_now("demo", Some(&h)));
        assert!(!super::verify_now("demo", None));
    }
}
