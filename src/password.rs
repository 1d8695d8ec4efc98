//! Password hashing with argon2id (decisions §C).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Allowed password lengths, characters — for staff and masters alike.
pub const LENGTH: (usize, usize) = (8, 128);

/// Refuses a password shorter or longer than [`LENGTH`]; checked before the (slow) hashing.
pub fn check(password: &str) -> crate::error::Result<()> {
    crate::error::check_length("password", password, LENGTH.0, LENGTH.1)
}

/// Hashes a password into a PHC string with a random salt.
pub fn hash(password: &str) -> String {
    Argon2::default().hash_password(password.as_bytes()).expect("argon2 with default parameters cannot fail").to_string()
}

/// True when `password` matches the PHC string `hash`.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
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
    }
}
