//! Orders created outside the city-local working window wait, DEFERRED, until the next workday start
//! (decisions D-13, D-14), are woken by the tick and offered in the same tick; staff may activate them early.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use fieldservice::domain::{CityId, DistrictId, MasterId, OrderId, OrderStatus, OrderType};
use fieldservice::offers;
use fieldservice::orders;

/// A city with a district and one available master.
fn city_with_master(w: &World, name: &str) -> (CityId, DistrictId, MasterId) {
    let city = w.city(name);
    let d = w.district(city, "Центральный");
    let m = w.master(M::serving(city, &[d]));
    (city, d, m)
}

/// Creates an order at `created`, checks it is DEFERRED until `wakes`, then ticks just before (nothing happens)
/// and exactly at the wake-up (woken and offered in the same tick).
fn sleeps_until(w: &World, d: DistrictId, m: MasterId, created: DateTime<Utc>, wakes: DateTime<Utc>) -> OrderId {
    let form = w.form(w.city_of(d), Some(d));
    let order = w.create(created, &form).unwrap();
    assert_eq!((order.status, order.deferred_until), (OrderStatus::Deferred, Some(wakes)));

    let before = w.tick(wakes - secs(1));
    assert!(before.orders_woken.is_empty() && before.offers_sent.is_empty());
    assert_eq!(w.status(order.id), OrderStatus::Deferred);
    assert!(w.offers(order.id).is_empty());

    let at = w.tick(wakes);
    assert_eq!(at.orders_woken, vec![order.id]);
    assert_eq!(sent_to(&at, order.id), Some(m), "offered in the same tick");
    assert_eq!(w.status(order.id), OrderStatus::Searching);
    order.id
}

#[test]
fn vladivostok_evening_order_wakes_at_ten_next_morning() {
    let w = World::new();
    let (_, d, m) = city_with_master(&w, "Владивосток");
    // 20:30 local (UTC+10) on 2026-03-10 → 10:00 local on 2026-03-11.
    let o = sleeps_until(&w, d, m, utc(2026, 3, 10, 10, 30, 0), utc(2026, 3, 11, 0, 0, 0));

    let wake = w.history(o).into_iter().find(|h| h.reason == "deferred_wakeup").expect("wake-up history row");
    assert_eq!((wake.from.as_deref(), wake.to.as_str(), wake.actor.as_str()), (Some("DEFERRED"), "SEARCHING", "SYSTEM"));
    assert_eq!(wake.at, utc(2026, 3, 11, 0, 0, 0));
    let order = w.load(o);
    assert_eq!(order.version, 2, "the wake-up bumps the version (D-11)");
    assert_eq!(order.deferred_until, None);
    assert_eq!(order.dist_since_at, utc(2026, 3, 11, 0, 0, 0), "the search clock starts at the wake-up");
    let created = &w.history(o)[0];
    assert_eq!(created.to, "DEFERRED");
    w.assert_sound();
}

#[test]
fn early_morning_order_waits_for_ten_the_same_day() {
    let w = World::new();
    let (_, d, m) = city_with_master(&w, "Москва");
    // 07:00 in Moscow (UTC+3) → 10:00 the same day.
    sleeps_until(&w, d, m, utc(2026, 3, 10, 4, 0, 0), utc(2026, 3, 10, 7, 0, 0));
}

#[test]
fn the_window_end_is_exclusive_and_the_start_inclusive() {
    let w = World::new();
    let (msk, d, _) = city_with_master(&w, "Москва");
    let form = w.form(msk, Some(d));
    assert_eq!(w.create(utc(2026, 3, 10, 7, 0, 0), &form).unwrap().status, OrderStatus::Searching, "10:00 is open");
    assert_eq!(w.create(utc(2026, 3, 10, 16, 59, 59), &form).unwrap().status, OrderStatus::Searching);
    let late = w.create(utc(2026, 3, 10, 17, 0, 0), &form).unwrap();
    assert_eq!((late.status, late.deferred_until), (OrderStatus::Deferred, Some(utc(2026, 3, 11, 7, 0, 0))), "20:00 is closed");
    let h = &w.history(late.id)[0];
    assert_eq!(h.reason, "created_by_staff");
}

#[test]
fn dst_city_wakes_at_ten_local_summer_time() {
    let w = World::new();
    // No Russian zone has DST: give a city a European zone.
    w.exec("UPDATE cities SET timezone = 'Europe/Berlin' WHERE name = 'Калининград'", []);
    let (_, d, m) = city_with_master(&w, "Калининград");
    // 21:00 CET on Saturday 2026-03-28; Sunday 10:00 is already CEST (UTC+2).
    sleeps_until(&w, d, m, utc(2026, 3, 28, 20, 0, 0), utc(2026, 3, 29, 8, 0, 0));
}

#[test]
fn guarantee_order_wakes_as_guarantee_and_goes_to_its_master() {
    let w = World::new();
    let (msk, d, m) = city_with_master(&w, "Москва");
    w.master(M::serving(msk, &[d]).car());
    let source = w.closed_order(t0() - chrono::Duration::days(2), d, m, t0() - chrono::Duration::days(1));
    // 21:00 Moscow.
    let g = w.guarantee(utc(2026, 3, 10, 18, 0, 0), source).unwrap();
    assert_eq!((g.status, g.deferred_until), (OrderStatus::Deferred, Some(utc(2026, 3, 11, 7, 0, 0))));
    let report = w.tick(utc(2026, 3, 11, 7, 0, 0));
    assert_eq!(report.orders_woken, vec![g.id]);
    assert_eq!(w.status(g.id), OrderStatus::Guarantee);
    assert_eq!(sent_to(&report, g.id), Some(m), "the preferred master first");
}

#[test]
fn staff_activate_a_deferred_order_into_its_searching_status() {
    let w = World::new();
    let (msk, d, m) = city_with_master(&w, "Москва");
    let night = utc(2026, 3, 10, 19, 0, 0);
    let normal = w.create(night, &w.form(msk, Some(d))).unwrap();
    let source = w.closed_order(t0() - chrono::Duration::days(2), d, m, t0() - chrono::Duration::days(1));
    let guarantee = w.guarantee(night, source).unwrap();
    assert_eq!((normal.status, guarantee.status), (OrderStatus::Deferred, OrderStatus::Deferred));

    let activate = |id| w.write(|tx| orders::activate_deferred(tx, night + mins(5), &w.admin, id));
    assert_eq!(activate(normal.id).unwrap(), OrderStatus::Searching);
    assert_eq!(activate(guarantee.id).unwrap(), OrderStatus::Guarantee);
    assert_eq!(w.load(guarantee.id).order_type, OrderType::Guarantee);
    let h = w.history(normal.id).pop().unwrap();
    assert_eq!((h.reason.as_str(), h.actor.as_str()), ("activated_by_admin", "ADMIN"));
    assert_eq!(w.load(normal.id).version, 2);
    assert_code(activate(normal.id), "wrong_status");

    // Activated at night, they are distributed by the next tick.
    let report = w.tick(night + mins(6));
    assert_eq!(sent_to(&report, normal.id), Some(m));
    assert_eq!(sent_to(&report, guarantee.id), Some(m));
    w.assert_sound();
}

#[test]
fn a_deferred_order_with_a_staff_offer_is_hidden_but_can_be_accepted() {
    let w = World::new();
    let (msk, d, m) = city_with_master(&w, "Москва");
    let night = utc(2026, 3, 10, 19, 0, 0);
    let o = w.create(night, &w.form(msk, Some(d))).unwrap().id;
    let offer = w
        .write(|tx| {
            let order = orders::load(tx, o)?.unwrap();
            offers::send(tx, night, 120, &order, m, 1, Some(w.admin.id))
        })
        .unwrap();
    assert!(w.live_for(night + secs(1), m).is_empty(), "hidden from his list");
    assert!(w.tick(night + secs(1)).offers_sent.is_empty(), "the tick only waits on it");
    assert_eq!(w.status(o), OrderStatus::Deferred);

    w.accept(night + secs(30), m, offer.id).unwrap();
    assert_eq!((w.status(o), w.assigned(o)), (OrderStatus::Assigned, Some(m)));
    w.assert_sound();
}

#[test]
fn a_manual_offer_wakes_a_deferred_order_first() {
    let w = World::new();
    let (msk, d, m) = city_with_master(&w, "Москва");
    let night = utc(2026, 3, 10, 19, 0, 0);
    let o = w.create(night, &w.form(msk, Some(d))).unwrap().id;
    let offer = w.manual_offer(night + mins(1), &w.admin, o, m, false).unwrap();
    assert_eq!(w.status(o), OrderStatus::Searching);
    assert_eq!(w.live_for(night + mins(2), m).iter().map(|f| f.id).collect::<Vec<_>>(), vec![offer.id]);
}

#[test]
fn a_deferred_order_with_a_later_slot_wakes_at_the_slot_start() {
    let w = World::new();
    let (msk, d, _) = city_with_master(&w, "Москва");
    // 21:00 Moscow; slot tomorrow 13:00–16:00 local.
    let slot = (utc(2026, 3, 11, 10, 0, 0), utc(2026, 3, 11, 13, 0, 0));
    let form = fieldservice::orders::NewOrder { timeslot: Some(slot.into()), ..w.form(msk, Some(d)) };
    let order = w.create(utc(2026, 3, 10, 18, 0, 0), &form).unwrap();
    assert_eq!((order.status, order.deferred_until), (OrderStatus::Deferred, Some(slot.0)));
}
