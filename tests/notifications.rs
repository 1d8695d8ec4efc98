//! The master's notification outbox with its retry counters (product.md §8 M3) and the staff alert for
//! orders left without a master (M6).

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};

use common::*;
use fieldservice::alerts;
use fieldservice::domain::StaffRole;
use fieldservice::notifications::{self, Channel, Delivery, DeliveryReport, Pending};
use serde_json::json;

/// A push channel that fails a given number of times, then delivers.
struct Flaky {
    failures_left: AtomicU32,
}

impl Channel for Flaky {
    async fn deliver(&self, _note: &Pending, _now: DateTime<Utc>) -> Delivery {
        if self.failures_left.load(Ordering::SeqCst) == 0 {
            return Delivery::Delivered;
        }
        self.failures_left.fetch_sub(1, Ordering::SeqCst);
        Delivery::Failed { error: "boom".into(), retry_after: None }
    }
}

fn outbox_row(w: &World, id: i64) -> (Option<i64>, i64, Option<String>) {
    w.read(|c| c.query_row("SELECT processed_at, attempt_count, last_error FROM notifications_outbox WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
}

fn deliver(w: &World, now: DateTime<Utc>, channel: &Flaky) -> DeliveryReport {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(notifications::deliver_pending(&w.db, now, channel)).unwrap()
}

#[test]
fn m3_a_failed_delivery_is_retried_after_a_growing_pause_and_given_up_after_five_attempts() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let m = w.master(M::serving(msk, &[d]));
    let id = w.write(|tx| Ok(notifications::push(tx, t0(), m, "new_offer", &json!({"order_id": 1}))?)).unwrap();

    let channel = Flaky { failures_left: AtomicU32::new(10) };
    assert_eq!(deliver(&w, t0(), &channel), DeliveryReport { failed: 1, ..Default::default() });
    let (processed, attempts, error) = outbox_row(&w, id);
    assert_eq!((processed, attempts), (None, 1));
    assert!(error.unwrap().contains("boom"));
    assert_eq!(deliver(&w, t0() + secs(29), &channel), DeliveryReport::default(), "not before its back-off has passed");
    let mut now = t0();
    for attempt in 1..4 {
        now += notifications::backoff(attempt);
        assert_eq!(deliver(&w, now, &channel).failed, 1, "retry {attempt}");
    }
    now += notifications::backoff(4);
    assert_eq!(deliver(&w, now, &channel), DeliveryReport { given_up: 1, ..Default::default() });
    let (processed, attempts, _) = outbox_row(&w, id);
    assert!(processed.is_some(), "given up after the fifth attempt");
    assert_eq!(attempts, 5);
    assert_eq!(deliver(&w, now + mins(60), &channel), DeliveryReport::default(), "a given-up notification is not retried");
}

#[test]
fn m3_a_delivery_after_two_failures_clears_the_error() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let m = w.master(M::serving(msk, &[d]));
    let id = w.write(|tx| Ok(notifications::push(tx, t0(), m, "break_reminder", &json!({"minutes_left": 9}))?)).unwrap();
    let channel = Flaky { failures_left: AtomicU32::new(2) };
    let later = t0() + mins(10);
    deliver(&w, t0(), &channel);
    deliver(&w, t0() + mins(1), &channel);
    let report = deliver(&w, later, &channel);
    assert_eq!(report.delivered, 1);
    let (processed, attempts, error) = outbox_row(&w, id);
    assert!(processed.is_some());
    assert_eq!((attempts, error), (3, None));
}

#[test]
fn m6_orders_searching_for_over_ten_minutes_raise_one_backlog_alert_per_city() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let logist = w.staff(StaffRole::Logist, &[msk]);
    for i in 0..3 {
        w.order(t0() + secs(i), d);
    }
    let fresh_check = w.write(|tx| Ok(alerts::monitor_unassigned(tx, t0() + mins(10))?)).unwrap();
    assert_eq!(fresh_check, 0, "not yet ten minutes old");
    let raised = w.write(|tx| Ok(alerts::monitor_unassigned(tx, t0() + mins(11))?)).unwrap();
    assert_eq!(raised, 1);
    let alert = &w.alerts("unassigned_backlog")[0];
    assert_eq!(alert.payload["count"], 3);
    assert_eq!(alert.recipients, [w.admin.id, logist.id], "the city's logist and the global admin without cities");
}
