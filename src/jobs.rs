//! The background loops of `serve`: the scheduler tick and the periodic jobs. Each loop has one shape:
//! `run_until_stopped` around a `step(&state, now)`; errors are logged and the loop goes on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::alerts;
use crate::app::AppState;
use crate::engine::{self, TickOptions, TickReport};
use crate::error::Result;
use crate::masters;
use crate::money::watchdogs;
use crate::notifications::{self, DeliveryReport};
use crate::push::WebPush;
use crate::settings::Settings;
use crate::uploads;

/// Break watchdog and reminder interval (distribution.md §4.3).
const WATCHDOG_EVERY: Duration = Duration::from_secs(60);
/// Unassigned-orders monitor interval.
const MONITOR_EVERY: Duration = Duration::from_secs(600);
/// Push delivery interval: an offer lives two minutes, so its push must leave within seconds.
const PUSH_EVERY: Duration = Duration::from_secs(2);

/// One scheduler step: a tick at `now`.
pub fn tick_step(state: &AppState, now: DateTime<Utc>) -> Result<TickReport> {
    engine::tick(&state.db, now, TickOptions::fresh())
}

/// One watchdog step: expired breaks put masters off shift (first, so that nobody is reminded of a
/// break that is already over), then reminders for breaks ending soon; then the commission watchdogs
/// (deadline reminders, overdue → blocked; product.md §4.5), in their own transaction.
pub fn watchdog_step(state: &AppState, now: DateTime<Utc>) -> Result<(usize, usize)> {
    let (expired, reminded) = state.db.write(|tx| {
        let expired = masters::expire_breaks(tx, now)?;
        let reminded = masters::remind_breaks(tx, now)?;
        Ok::<_, crate::error::Error>((expired.len(), reminded.len()))
    })?;
    let money = state.db.write(|tx| Ok::<_, crate::error::Error>(watchdogs::run(tx, now)?))?;
    Ok((expired, reminded + money.reminded.len() + money.overdue.len()))
}

/// One monitor step: alerts staff about orders searching for more than 10 minutes; then forgets the files
/// kept for refused forms nobody came back to, and removes them.
pub fn monitor_step(state: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let alerts = state.db.write(|tx| Ok::<_, crate::error::Error>(alerts::monitor_unassigned(tx, now)?))?;
    let stale = state.db.write(|tx| uploads::forget_held(tx, now))?;
    stale.iter().for_each(|key| uploads::remove(&state.config.data_dir, key));
    Ok(alerts)
}

/// One push step: the due notifications of the outbox go out by Web Push. Nothing is sent (and the outbox
/// only grows, as the in-app feed) while `push_contact` is unset. Database work runs on blocking threads
/// and no transaction is open while the push services are asked.
pub async fn push_step(state: &AppState, now: DateTime<Utc>) -> Result<DeliveryReport> {
    let Some(contact) = state.config.push_contact.clone() else { return Ok(DeliveryReport::default()) };
    let channel = WebPush { db: state.db.clone(), contact, default_lang: state.config.language };
    notifications::deliver_pending(&state.db, now, &channel).await
}

async fn sleep_or_stop(period: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => false,
        _ = stop.changed() => true,
    }
}

/// Ticks every `distribution_tick_seconds` until `stop` flips; the tick in progress always finishes.
pub async fn run_scheduler_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        let s = state.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let now = s.clock.now();
            let report = tick_step(&s, now)?;
            let period = s.db.read(Settings::load)?.distribution_tick_seconds;
            Ok::<_, crate::error::Error>((report, period))
        })
        .await;
        // A failed or even panicking tick is logged; the scheduler goes on.
        let period = match outcome {
            Ok(Ok((report, period))) => {
                if !report.offers_sent.is_empty() || !report.escalations.is_empty() || !report.orders_woken.is_empty() {
                    tracing::info!(
                        sent = report.offers_sent.len(),
                        expired = report.offers_expired.len(),
                        woken = report.orders_woken.len(),
                        escalations = report.escalations.len(),
                        "tick"
                    );
                }
                for sent in &report.offers_sent {
                    tracing::info!(order = sent.order_id, master = sent.master_id, round = sent.round, "offer sent");
                }
                period
            }
            Ok(Err(error)) => {
                crate::db::log_failure(&error, "tick failed");
                Settings::default().distribution_tick_seconds
            }
            Err(panic) => {
                tracing::error!(%panic, "tick panicked");
                Settings::default().distribution_tick_seconds
            }
        };
        if *stop.borrow() || sleep_or_stop(Duration::from_secs(period.max(1) as u64), &mut stop).await {
            return;
        }
    }
}

/// Runs the break watchdog, the reminder and the unassigned monitor until `stop` flips.
pub async fn run_jobs_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut since_monitor = MONITOR_EVERY;
    loop {
        let s = state.clone();
        let run_monitor = since_monitor >= MONITOR_EVERY;
        let outcome = tokio::task::spawn_blocking(move || {
            let now = s.clock.now();
            let watchdog = watchdog_step(&s, now)?;
            let backlog = if run_monitor { monitor_step(&s, now)? } else { 0 };
            Ok::<_, crate::error::Error>((watchdog, backlog))
        })
        .await;
        match outcome {
            Ok(Ok(((expired, reminded), backlog))) if expired + reminded + backlog > 0 => {
                tracing::info!(expired_breaks = expired, reminders = reminded, unassigned_alerts = backlog, "jobs");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => crate::db::log_failure(&error, "background job failed"),
            Err(panic) => tracing::error!(%panic, "background job panicked"),
        }
        since_monitor = if run_monitor { WATCHDOG_EVERY } else { since_monitor + WATCHDOG_EVERY };
        if sleep_or_stop(WATCHDOG_EVERY, &mut stop).await {
            return;
        }
    }
}

/// Sends the outbox by Web Push every [`PUSH_EVERY`] until `stop` flips.
pub async fn run_push_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        let s = state.clone();
        // Its own task, so that a panic is logged and the loop goes on.
        let outcome = tokio::spawn(async move { push_step(&s, s.clock.now()).await }).await;
        match outcome {
            Ok(Ok(report)) if report != DeliveryReport::default() => {
                tracing::info!(delivered = report.delivered, skipped = report.skipped, failed = report.failed, given_up = report.given_up, "push");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => crate::db::log_failure(&error, "push delivery failed"),
            Err(panic) => tracing::error!(%panic, "push delivery panicked"),
        }
        if sleep_or_stop(PUSH_EVERY, &mut stop).await {
            return;
        }
    }
}
