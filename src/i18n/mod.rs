//! Message catalogs: one per language, both complete (a test fails when a key is missing in either).

use std::collections::HashMap;
use std::sync::OnceLock;

/// A user's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Russian, the default.
    #[default]
    Ru,
    /// English.
    En,
}

impl Lang {
    /// Parses `ru` / `en`.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// One catalog file per area of the product, so each area's texts sit together; `(ru, en)`.
macro_rules! catalogs {
    ($($area:literal),* $(,)?) => {
        (
            &[$(($area, include_str!(concat!($area, ".ru.toml")))),*],
            &[$(($area, include_str!(concat!($area, ".en.toml")))),*],
        )
    };
}

type Sources = &'static [(&'static str, &'static str)];

const SOURCES: (Sources, Sources) = catalogs!["core", "web", "board", "order_card", "order_form", "lists", "masters_web", "admin_web", "mobile", "signup", "money", "receipts", "referral", "finance_staff", "phone", "push", "dispatch_edit", "reports", "cards", "words", "exports", "report_page"];

/// Merges an area's files; a key defined twice is a bug in the catalogs, caught by the first test that
/// renders any text.
fn parse(sources: Sources) -> HashMap<String, String> {
    let mut all = HashMap::new();
    for (area, source) in sources {
        let part: HashMap<String, String> = toml::from_str(source).unwrap_or_else(|e| panic!("catalog {area}: {e}"));
        for (key, text) in part {
            assert!(all.insert(key.clone(), text).is_none(), "catalog {area}: key {key} is defined twice");
        }
    }
    all
}

/// The catalog of `lang`.
pub fn catalog(lang: Lang) -> &'static HashMap<String, String> {
    static RU_CATALOG: OnceLock<HashMap<String, String>> = OnceLock::new();
    static EN_CATALOG: OnceLock<HashMap<String, String>> = OnceLock::new();
    match lang {
        Lang::Ru => RU_CATALOG.get_or_init(|| parse(SOURCES.0)),
        Lang::En => EN_CATALOG.get_or_init(|| parse(SOURCES.1)),
    }
}

/// The text for `key` in `lang`; the key itself when missing (never in a tested build).
pub fn message(lang: Lang, key: &str) -> String {
    catalog(lang).get(key).cloned().unwrap_or_else(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_have_the_same_keys() {
        let ru: std::collections::BTreeSet<_> = catalog(Lang::Ru).keys().collect();
        let en: std::collections::BTreeSet<_> = catalog(Lang::En).keys().collect();
        assert_eq!(ru.difference(&en).collect::<Vec<_>>(), Vec::<&&String>::new(), "missing in en");
        assert_eq!(en.difference(&ru).collect::<Vec<_>>(), Vec::<&&String>::new(), "missing in ru");
    }
}
