//! The rules layer's one error type: every refusal a user can meet, with a stable code and a translated
//! message. A refused call changes nothing: the write transaction it ran in is rolled back.

use crate::db::DbError;
use crate::i18n::{Lang, message};

/// Why a rule refused, or the storage failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist or lies outside the caller's cities (ids cannot be probed).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A field of the input is invalid; `rule` names the limit that was broken.
    #[error("invalid {field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    /// The caller's role may not do this.
    #[error("forbidden")]
    Forbidden,
    /// The order is in a status that does not allow the action.
    #[error("order is {status}")]
    WrongStatus { status: crate::domain::OrderStatus },
    /// Another master won this order.
    #[error("offer already taken")]
    OfferTaken,
    /// The offer's time ran out.
    #[error("offer expired")]
    OfferExpired,
    /// The master declined this offer earlier.
    #[error("offer already declined")]
    OfferDeclined,
    /// The master already accepted this offer.
    #[error("offer already accepted")]
    OfferAccepted,
    /// No open offer of this master for that order.
    #[error("offer not found or already answered")]
    OfferNotOpen,
    /// The master has as many active orders as his limit allows.
    #[error("active order limit reached ({active}/{limit})")]
    LimitReached { active: i64, limit: i64 },
    /// The master is blocked.
    #[error("master blocked: {reason}")]
    MasterBlocked { reason: String },
    /// The master's account is deleted or not active.
    #[error("master inactive")]
    MasterInactive,
    /// The master has not passed moderation.
    #[error("master pending moderation")]
    MasterPending,
    /// The master is not on shift (break actions).
    #[error("shift not active")]
    ShiftNotActive,
    /// The master is not on a break.
    #[error("not on break")]
    NotOnBreak,
    /// The master does not fit the order; `reasons` are diagnostic codes.
    #[error("master does not fit: {}", reasons.join(", "))]
    MasterNotEligible { reasons: Vec<String> },
    /// The master is off shift, on a break or at his limit: staff must confirm "assign anyway".
    #[error("confirmation needed: {}", reasons.join(", "))]
    NeedsConfirmation { reasons: Vec<String> },
    /// The order is DEFERRED: staff must confirm distributing it now.
    #[error("order is deferred; confirmation needed")]
    DeferredNeedsConfirmation,
    /// ASAP chosen too late in the day: staff must confirm tomorrow 10:00–13:00, DEFERRED (product.md §2.5).
    #[error("too late for ASAP; confirmation needed")]
    LateAsap,
    /// The master already holds an open or accepted offer for this order.
    #[error("offer already exists")]
    OfferConflict,
    /// The order has no district, so it is never auto-distributed.
    #[error("order has no district")]
    NoDistrict,
    /// The automatic rounds for this cycle are used up.
    #[error("automatic rounds exhausted ({rounds})")]
    RoundsExhausted { rounds: i64 },
    /// No master can take the order now.
    #[error("no available masters")]
    NoCandidates,
    /// The order already has a master.
    #[error("order already assigned")]
    AlreadyAssigned,
    /// An open guarantee order already exists for the source order.
    #[error("guarantee already exists")]
    GuaranteeExists,
    /// The source order is not eligible for a guarantee order.
    #[error("guarantee not allowed: {why}")]
    GuaranteeNotAllowed { why: &'static str },
    /// No valid session or token.
    #[error("not signed in")]
    Unauthenticated,
    /// Wrong login or password.
    #[error("wrong login or password")]
    BadCredentials,
    /// The staff account is deactivated.
    #[error("account disabled")]
    AccountDisabled,
    /// Too many failed logins; `until` is the local time ("HH:MM") of the next allowed try.
    #[error("too many attempts; try again at {until}")]
    Throttled { until: String },
    /// A state-changing browser request without the session's CSRF token.
    #[error("csrf token missing or wrong")]
    CsrfFailed,
    /// Another writer changed the object first.
    #[error("changed concurrently")]
    Conflict,
    /// A master or an invite is not in a state that allows the action; `why` names the state
    /// (catalog key `state.<why>`).
    #[error("not possible now: {why}")]
    StateConflict { why: &'static str },
    /// Storage failed; the cause is logged, never shown.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(DbError::Sqlite(e))
    }
}

/// The rules layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine-readable code (API `error.code`, catalog key `error.<code>`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Invalid { .. } => "invalid",
            Error::Forbidden => "forbidden",
            Error::WrongStatus { .. } => "wrong_status",
            Error::OfferTaken => "offer_taken",
            Error::OfferExpired => "offer_expired",
            Error::OfferDeclined => "offer_declined",
            Error::OfferAccepted => "offer_accepted",
            Error::OfferNotOpen => "offer_not_open",
            Error::LimitReached { .. } => "limit_reached",
            Error::MasterBlocked { .. } => "master_blocked",
            Error::MasterInactive => "master_inactive",
            Error::MasterPending => "master_pending",
            Error::ShiftNotActive => "shift_not_active",
            Error::NotOnBreak => "not_on_break",
            Error::MasterNotEligible { .. } => "master_not_eligible",
            Error::NeedsConfirmation { .. } => "needs_confirmation",
            Error::DeferredNeedsConfirmation => "deferred_needs_confirmation",
            Error::LateAsap => "late_asap",
            Error::OfferConflict => "offer_conflict",
            Error::NoDistrict => "no_district",
            Error::RoundsExhausted { .. } => "rounds_exhausted",
            Error::NoCandidates => "no_candidates",
            Error::AlreadyAssigned => "already_assigned",
            Error::GuaranteeExists => "guarantee_exists",
            Error::GuaranteeNotAllowed { .. } => "guarantee_not_allowed",
            Error::Unauthenticated => "unauthenticated",
            Error::BadCredentials => "bad_credentials",
            Error::AccountDisabled => "account_disabled",
            Error::Throttled { .. } => "throttled",
            Error::CsrfFailed => "csrf_failed",
            Error::Conflict => "conflict",
            Error::StateConflict { .. } => "state_conflict",
            Error::Db(cause) => crate::db::Fault::of(cause).map_or("internal", crate::db::Fault::code),
        }
    }

    /// The message for a user, in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        let key = format!("error.{}", self.code());
        let text = message(lang, &key);
        match self {
            Error::NotFound { what } => text.replace("{what}", &message(lang, &format!("object.{what}"))),
            Error::Invalid { field, rule } => {
                // A rule is `name` or `name:arg:arg…`; the args fill `{0}`, `{1}` … of `rule.<name>`.
                let mut parts = rule.split(':');
                let name = parts.next().unwrap_or_default();
                let mut rule_text = message(lang, &format!("rule.{name}"));
                for (i, arg) in parts.enumerate() {
                    rule_text = rule_text.replace(&format!("{{{i}}}"), arg);
                }
                text.replace("{field}", &message(lang, &format!("field.{field}"))).replace("{rule}", &rule_text)
            }
            Error::WrongStatus { status } => {
                text.replace("{status}", &message(lang, &format!("status.{}", status.as_str())))
            }
            Error::LimitReached { active, limit } => {
                text.replace("{active}", &active.to_string()).replace("{limit}", &limit.to_string())
            }
            Error::MasterBlocked { reason } => text.replace("{reason}", reason),
            Error::MasterNotEligible { reasons } | Error::NeedsConfirmation { reasons } => {
                text.replace("{reasons}", &reasons.join(", "))
            }
            Error::RoundsExhausted { rounds } => text.replace("{rounds}", &rounds.to_string()),
            Error::Throttled { until } => text.replace("{until}", until),
            Error::GuaranteeNotAllowed { why } => text.replace("{why}", &message(lang, &format!("guarantee.{why}"))),
            Error::StateConflict { why } => text.replace("{why}", &message(lang, &format!("state.{why}"))),
            _ => text,
        }
    }
}

/// Refuses `value` unless it has `min..=max` characters, naming the field and the bounds.
pub fn check_length(field: &'static str, value: &str, min: usize, max: usize) -> Result<()> {
    if (min..=max).contains(&value.chars().count()) { Ok(()) } else { Err(invalid(field, format!("length:{min}:{max}"))) }
}

/// Shorthand for an invalid field.
pub fn invalid(field: &'static str, rule: impl Into<String>) -> Error {
    Error::Invalid { field, rule: rule.into() }
}
