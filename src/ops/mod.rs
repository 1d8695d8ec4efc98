//! Running the installation: knowing whether a server is up on a database file, and putting a backup back.

pub mod instance;
pub mod restore;
