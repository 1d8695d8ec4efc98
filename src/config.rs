//! Start-up configuration: `fieldservice.toml` with `FIELDSERVICE_*` environment overrides.
//! A missing file means the built-in defaults; a malformed file or value stops start-up with a message
//! naming the key and what is wrong.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;

use crate::db::Durability;
use crate::i18n::Lang;

/// The configuration in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory for the database and uploaded files.
    pub data_dir: PathBuf,
    /// The SQLite file.
    pub database: PathBuf,
    /// The operator's time zone (exports, cities without a zone).
    pub timezone: Tz,
    /// Default language of the UI and messages.
    pub language: Lang,
    /// `synchronous` of SQLite.
    pub durability: Durability,
    /// Log filter (`info`, `debug`, `fieldservice=debug,tower_http=info` …).
    pub log_level: String,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Reverse proxies whose `X-Forwarded-For` names the client (login throttling); empty: none.
    pub trusted_proxies: Vec<Network>,
    /// How long a client may take to send a request's headers.
    pub header_timeout: std::time::Duration,
    /// How long a connection may stay open with no request in progress.
    pub idle_timeout: std::time::Duration,
    /// The VAPID subject of Web Push (`mailto:` or `https:`, the only kinds Apple accepts); push is off
    /// while it is unset.
    pub push_contact: Option<String>,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event (colours only on a terminal).
    Text,
    /// One JSON object per line, for journald, Loki and the like.
    Json,
}

/// An address or a network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `addr` or `addr/prefix`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (addr, prefix) = match raw.trim().split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (raw.trim().parse::<IpAddr>().ok()?, None),
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let keep = |bits: u32, width: u32| if bits == 0 { 0 } else { u128::MAX << (width - bits) };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = keep(u32::from(self.prefix), 32) as u32;
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = keep(u32::from(self.prefix), 128);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database: PathBuf::from("./data/fieldservice.db"),
            timezone: Tz::Europe__Moscow,
            language: Lang::Ru,
            durability: Durability::Full,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            header_timeout: std::time::Duration::from_secs(30),
            idle_timeout: std::time::Duration::from_secs(120),
            push_contact: None,
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file is not valid TOML or has an unknown key or a wrongly typed value.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is of the right type but not acceptable.
    #[error("{origin}: `{key}` {problem}")]
    Value { origin: String, key: &'static str, problem: String },
}

/// The file's shape: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database: Option<PathBuf>,
    timezone: Option<String>,
    language: Option<String>,
    durability: Option<String>,
    log_level: Option<String>,
    log_format: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    header_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    push_contact: Option<String>,
}

/// The keys, for the environment overrides (`FIELDSERVICE_<KEY>`).
const KEYS: [&str; 12] = [
    "listen",
    "data_dir",
    "database",
    "timezone",
    "language",
    "durability",
    "log_level",
    "log_format",
    "trusted_proxies",
    "header_timeout_seconds",
    "idle_timeout_seconds",
    "push_contact",
];

impl Config {
    /// Reads `path` (absent = defaults) and applies the environment `env` (usually `std::env::vars()`).
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<FileConfig>(&text)
                .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
        };
        let origin = path.display().to_string();
        let mut raw: Vec<(&'static str, Option<String>, String)> = vec![
            ("listen", file.listen, origin.clone()),
            ("data_dir", file.data_dir.map(|p| p.display().to_string()), origin.clone()),
            ("database", file.database.map(|p| p.display().to_string()), origin.clone()),
            ("timezone", file.timezone, origin.clone()),
            ("language", file.language, origin.clone()),
            ("durability", file.durability, origin.clone()),
            ("log_level", file.log_level, origin.clone()),
            ("log_format", file.log_format, origin.clone()),
            // A list in the file, comma-separated in the environment.
            ("trusted_proxies", file.trusted_proxies.map(|list| list.join(",")), origin.clone()),
            ("header_timeout_seconds", file.header_timeout_seconds.map(|s| s.to_string()), origin.clone()),
            ("idle_timeout_seconds", file.idle_timeout_seconds.map(|s| s.to_string()), origin.clone()),
            ("push_contact", file.push_contact, origin),
        ];
        for (name, value) in env {
            let Some(key) = name.strip_prefix("FIELDSERVICE_").map(str::to_ascii_lowercase) else { continue };
            if let Some(slot) = raw.iter_mut().find(|(k, _, _)| *k == key) {
                slot.1 = Some(value);
                slot.2 = name;
            } else if !KEYS.contains(&key.as_str()) && key != "config" {
                return Err(ConfigError::Value { origin: name.clone(), key: "environment", problem: format!("{name} is not a known setting; known: {}", KEYS.join(", ")) });
            }
        }
        let mut config = Config::default();
        let mut database_set = false;
        for (key, value, origin) in raw {
            let Some(value) = value else { continue };
            let bad = |problem: String| ConfigError::Value { origin: origin.clone(), key, problem };
            match key {
                "listen" => config.listen = value.parse().map_err(|_| bad(format!("must be an address like 127.0.0.1:8080, got {value:?}")))?,
                "data_dir" => config.data_dir = non_empty(&value).map_err(bad)?.into(),
                "database" => {
                    config.database = non_empty(&value).map_err(bad)?.into();
                    database_set = true;
                }
                "timezone" => config.timezone = value.parse().map_err(|_| bad(format!("must be an IANA time zone like Europe/Moscow, got {value:?}")))?,
                "language" => config.language = Lang::parse(&value).ok_or_else(|| bad(format!("must be \"ru\" or \"en\", got {value:?}")))?,
                "durability" => {
                    config.durability = match value.as_str() {
                        "full" => Durability::Full,
                        "normal" => Durability::Normal,
                        _ => return Err(bad(format!("must be \"full\" or \"normal\", got {value:?}"))),
                    }
                }
                "log_level" => {
                    tracing_subscriber::EnvFilter::try_new(&value).map_err(|e| bad(format!("is not a valid log filter ({e})")))?;
                    config.log_level = value;
                }
                "log_format" => {
                    config.log_format = match value.as_str() {
                        "text" => LogFormat::Text,
                        "json" => LogFormat::Json,
                        _ => return Err(bad(format!("must be \"text\" or \"json\", got {value:?}"))),
                    }
                }
                "trusted_proxies" => {
                    config.trusted_proxies = value
                        .split(',')
                        .filter(|item| !item.trim().is_empty())
                        .map(|item| Network::parse(item).ok_or_else(|| bad(format!("must list addresses or networks like 127.0.0.1 or 10.0.0.0/8, got {item:?}"))))
                        .collect::<Result<_, _>>()?;
                }
                "header_timeout_seconds" => config.header_timeout = seconds(&value).map_err(bad)?,
                "idle_timeout_seconds" => config.idle_timeout = seconds(&value).map_err(bad)?,
                "push_contact" => config.push_contact = push_contact(&value).map_err(bad)?,
                _ => unreachable!("raw lists exactly KEYS"),
            }
        }
        if !database_set {
            config.database = config.data_dir.join("fieldservice.db");
        }
        Ok(config)
    }
}

fn seconds(value: &str) -> Result<std::time::Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(n @ 1..=3600) => Ok(std::time::Duration::from_secs(n)),
        _ => Err(format!("must be a number of seconds from 1 to 3600, got {value:?}")),
    }
}

/// An empty contact turns push off; anything else must be a `mailto:` or `https:` URI.
fn push_contact(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    match value {
        "" => Ok(None),
        v if (v.starts_with("mailto:") && v.len() > 7 && v.contains('@')) || (v.starts_with("https://") && v.len() > 8) => Ok(Some(v.to_string())),
        v => Err(format!("must be a mailto: or https: address like mailto:ops@example.com, got {v:?}")),
    }
}

fn non_empty(value: &str) -> Result<&str, String> {
    if value.trim().is_empty() { Err("must not be empty".into()) } else { Ok(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fieldservice.toml");
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        Config::load(&path, env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn a_missing_file_means_the_defaults() {
        let config = load(None, &[]).unwrap();
        assert_eq!(config.database, PathBuf::from("./data/fieldservice.db"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.durability, Durability::Full);
    }

    #[test]
    fn the_database_follows_the_data_dir_unless_given() {
        let config = load(Some("data_dir = \"/srv/fs\""), &[]).unwrap();
        assert_eq!(config.database, PathBuf::from("/srv/fs/fieldservice.db"));
        let config = load(Some("data_dir = \"/srv/fs\"\ndatabase = \"/db/x.db\""), &[]).unwrap();
        assert_eq!(config.database, PathBuf::from("/db/x.db"));
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let config = load(Some("listen = \"127.0.0.1:9000\""), &[("FIELDSERVICE_LISTEN", "0.0.0.0:80"), ("FIELDSERVICE_DURABILITY", "normal")]).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:80");
        assert_eq!(config.durability, Durability::Normal);
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let err = load(Some("durability = \"fast\""), &[]).unwrap_err().to_string();
        assert!(err.contains("`durability`") && err.contains("\"full\" or \"normal\""), "{err}");
        let err = load(Some("timezone = \"Mars/Olympus\""), &[]).unwrap_err().to_string();
        assert!(err.contains("`timezone`"), "{err}");
        let err = load(None, &[("FIELDSERVICE_LISTEN", "nowhere")]).unwrap_err().to_string();
        assert!(err.contains("FIELDSERVICE_LISTEN") && err.contains("`listen`"), "{err}");
        let err = load(Some("lissten = \"x\""), &[]).unwrap_err().to_string();
        assert!(err.contains("lissten"), "{err}");
        let err = load(Some("trusted_proxies = [\"10.0.0.0/33\"]"), &[]).unwrap_err().to_string();
        assert!(err.contains("`trusted_proxies`") && err.contains("10.0.0.0/33"), "{err}");
        let err = load(Some("idle_timeout_seconds = 0"), &[]).unwrap_err().to_string();
        assert!(err.contains("`idle_timeout_seconds`"), "{err}");
        let err = load(Some("push_contact = \"ops@example.com\""), &[]).unwrap_err().to_string();
        assert!(err.contains("`push_contact`") && err.contains("mailto:"), "{err}");
        let err = load(Some("log_format = \"xml\""), &[]).unwrap_err().to_string();
        assert!(err.contains("`log_format`") && err.contains("\"json\""), "{err}");
        let err = load(Some("listen = ["), &[]).unwrap_err().to_string();
        assert!(err.contains("fieldservice.toml"), "{err}");
    }

    #[test]
    fn push_is_off_until_a_contact_is_given() {
        assert_eq!(load(None, &[]).unwrap().push_contact, None);
        assert_eq!(load(Some("push_contact = \"\""), &[]).unwrap().push_contact, None);
        let config = load(Some("push_contact = \"mailto:ops@example.com\""), &[]).unwrap();
        assert_eq!(config.push_contact.as_deref(), Some("mailto:ops@example.com"));
        let config = load(None, &[("FIELDSERVICE_PUSH_CONTACT", "https://example.com/contact")]).unwrap();
        assert_eq!(config.push_contact.as_deref(), Some("https://example.com/contact"));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let config = load(Some("trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\"]"), &[]).unwrap();
        let trusted = |ip: &str| config.trusted_proxies.iter().any(|n| n.contains(ip.parse().unwrap()));
        assert!(trusted("127.0.0.1") && trusted("10.20.30.40") && trusted("fd12::1") && trusted("::ffff:10.1.1.1"));
        assert!(!trusted("127.0.0.2") && !trusted("11.0.0.1") && !trusted("::1"));
        let config = load(None, &[("FIELDSERVICE_TRUSTED_PROXIES", "::1, 192.168.0.0/16")]).unwrap();
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(load(None, &[]).unwrap().trusted_proxies.is_empty(), "none by default");
    }
}
