//! The administration pages of the staff UI: staff accounts, business settings, the alert feed and the
//! live event log, cities with their districts and streets. Also the small helpers the master pages share:
//! refused forms shown beside their fields, and times on a city's clock.

mod alerts;
mod cities;
mod finance;
mod receipts;
mod settings;
mod staff;

use axum::Router;
use chrono::{DateTime, Utc};

use crate::app::AppState;
use crate::error::Error;
use crate::i18n::Lang;

pub fn routes() -> Router<AppState> {
    Router::new().merge(staff::routes()).merge(settings::routes()).merge(alerts::routes()).merge(cities::routes()).merge(finance::routes()).merge(receipts::routes())
}

/// An instant on the clock of `zone` (an IANA name) in the one format of the language, with the zone named:
/// `10.03.2026 14:05 (Europe/Moscow)`.
pub fn local_time(tr: crate::web::Tr, at: DateTime<Utc>, zone: &str) -> String {
    format!("{} ({})", tr.date_time(at, zone), crate::cities::parse_zone(zone).name())
}

/// Whether a refusal is about the page as a whole (who may see or do it, or a failure) rather than about
/// what was typed into a form: such a refusal is answered with the error page, not the form again.
pub fn refuses_the_page(error: &Error) -> bool {
    matches!(error, Error::Forbidden | Error::NotFound { .. } | Error::CsrfFailed | Error::Unauthenticated | Error::AccountDisabled | Error::Db(_))
}

/// A refused form of a page: which form, the field the rule named (if any) and the message.
#[derive(Debug, Clone, Default)]
pub struct Refusal(Option<(String, Option<&'static str>, String)>);

impl Refusal {
    /// The refusal of `form` by `error`, in `lang`.
    pub fn of(form: impl Into<String>, error: &Error, lang: Lang) -> Self {
        let field = match error {
            Error::Invalid { field, .. } => Some(*field),
            _ => None,
        };
        Self(Some((form.into(), field, error.message(lang))))
    }

    /// Whether `form` was the one refused.
    pub fn is_for(&self, form: &str) -> bool {
        self.0.as_ref().is_some_and(|(f, _, _)| f == form)
    }

    /// The message to show beside `field` of `form`.
    pub fn at(&self, form: &str, field: &str) -> Option<String> {
        self.0.as_ref().filter(|(f, named, _)| f == form && *named == Some(field)).map(|(_, _, m)| m.clone())
    }

    /// The message of `form` that names no field (shown above the form).
    pub fn general(&self, form: &str) -> Option<String> {
        self.0.as_ref().filter(|(f, named, _)| f == form && named.is_none()).map(|(_, _, m)| m.clone())
    }
}

/// The value of `name` in submitted form pairs (the last one, so that a checkbox after its hidden "false"
/// wins), or empty.
pub fn field(pairs: &[(String, String)], name: &str) -> String {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// Every value of a repeated field (a multiple select or checkboxes).
pub fn fields(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}
