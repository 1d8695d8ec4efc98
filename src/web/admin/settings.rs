//! Business settings (product.md §6.5; global admins only), in the groups of §1.9: working hours,
//! distribution, limits, support. One form; the rules validate it as a whole (decisions D-12), so one bad
//! value saves nothing and its message stands beside its field, with every typed value kept.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{Refusal, field, refuses_the_page};
use crate::app::AppState;
use crate::domain::StaffRole;
use crate::settings::Settings;
use crate::web::{Chrome, CsrfForm, StaffPage, WebError, act, done, page, render, render_with};

pub fn routes() -> Router<AppState> {
    Router::new().route("/settings", get(get_settings).post(post_settings))
}

/// How a setting is typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A whole number.
    Number,
    /// `HH:MM`.
    Time,
    /// A checkbox.
    Flag,
    /// Free text.
    Text,
    /// Roubles as people type them (decisions D-22), stored as kopecks.
    Money,
}

/// The groups of the form and their settings (the keys of [`Settings`]).
const GROUPS: [(&str, &[(&str, Input)]); 5] = [
    ("hours", &[("working_hours_start", Input::Time), ("working_hours_end", Input::Time)]),
    (
        "distribution",
        &[
            ("distribution_tick_seconds", Input::Number),
            ("distribution_sla_seconds", Input::Number),
            ("distribution_rounds", Input::Number),
            ("escalate_to_admin_after_min", Input::Number),
            ("distribution_log_topn", Input::Number),
            ("no_candidates_grace_seconds", Input::Number),
            ("citywide_fallback", Input::Flag),
            ("guarantee_autoblock_on_refusal", Input::Flag),
        ],
    ),
    ("limits", &[("max_active_orders", Input::Number)]),
    (
        "commission",
        &[
            ("commission_rate_percent", Input::Number),
            ("commission_high_rate_percent", Input::Number),
            ("commission_high_threshold_kop", Input::Money),
            ("commission_deadline_hours", Input::Number),
            ("unblock_on_commission_paid", Input::Flag),
        ],
    ),
    ("support", &[("support_contact", Input::Text), ("support_faq_url", Input::Text)]),
];

#[derive(Template)]
#[template(path = "web/admin/settings.html")]
struct SettingsPage {
    c: Chrome,
    groups: [(&'static str, &'static [(&'static str, Input)]); 5],
    values: BTreeMap<String, String>,
    refusal: Refusal,
}

impl SettingsPage {
    fn value(&self, key: &str) -> String {
        self.values.get(key).cloned().unwrap_or_default()
    }

    fn checked(&self, key: &str) -> bool {
        self.values.get(key).is_some_and(|v| v == "true")
    }
}

/// The settings as the form shows them: each key's value as text, as the rules read it back.
fn as_text(settings: &Settings) -> BTreeMap<String, String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(settings) else { return BTreeMap::new() };
    map.into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            (key, text)
        })
        .collect()
}

/// The form's values: money keys in roubles as the product prints them.
fn form_values(settings: &Settings) -> BTreeMap<String, String> {
    let mut values = as_text(settings);
    for key in money_keys() {
        if let Some(kop) = values.get(key).and_then(|v| v.parse::<i64>().ok()) {
            values.insert(key.to_string(), crate::money::format_rubles(kop));
        }
    }
    values
}

fn money_keys() -> impl Iterator<Item = &'static str> {
    GROUPS.iter().flat_map(|(_, keys)| keys.iter()).filter(|(_, input)| *input == Input::Money).map(|(key, _)| *key)
}

async fn get_settings(State(state): State<AppState>, who: StaffPage) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    let (c, settings) = page(&state, &who, "settings", |conn, _, _| Settings::load(conn)).await?;
    Ok(render(&SettingsPage { c, groups: GROUPS, values: form_values(&settings), refusal: Refusal::default() }))
}

async fn post_settings(State(state): State<AppState>, who: StaffPage, CsrfForm(pairs): CsrfForm<Vec<(String, String)>>) -> Result<Response, WebError> {
    who.require(&[StaffRole::GlobalAdmin])?;
    // Every setting of the form, an unticked checkbox as "false" (its hidden field).
    let changes: Vec<(&'static str, String)> = GROUPS.iter().flat_map(|(_, keys)| keys.iter()).map(|(key, _)| (*key, field(&pairs, key))).collect();
    let typed: BTreeMap<String, String> = changes.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    // Only what changed is written: an untouched grace keeps following the SLA (decisions D-15).
    let outcome = act(&state, &who, move |tx, _, now| {
        // Roubles typed into a money field become the kopecks the setting holds.
        let mut changes = changes;
        for (key, value) in changes.iter_mut().filter(|(key, _)| money_keys().any(|k| k == *key)) {
            *value = crate::money::parse_amount(key, value)?.to_string();
        }
        let current = as_text(&Settings::load(tx)?);
        let changed: Vec<(&str, &str)> = changes.iter().filter(|(k, v)| current.get(*k).map(String::as_str) != Some(v.trim())).map(|(k, v)| (*k, v.as_str())).collect();
        Settings::update(tx, now, &changed)
    })
    .await;
    match outcome {
        Ok(_) => Ok(done("/settings", "settings_saved")),
        Err(error) if refuses_the_page(&error) => Err(who.refused(error)),
        Err(error) => {
            let refusal = Refusal::of("settings", &error, who.tr.0);
            let (c, ()) = page(&state, &who, "settings", |_, _, _| Ok(())).await?;
            Ok(render_with(crate::api::status_of(&error), &SettingsPage { c, groups: GROUPS, values: typed, refusal }))
        }
    }
}
