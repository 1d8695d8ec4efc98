//! The distribution engine as users notice it: offers, accepts and declines (product.md §8 E1–E5, E12), SLA
//! expiry and rounds, escalation to logists and admins with their recipients, de-escalation, priority, orders
//! without a district, the city-wide fallback, return to search (D-17) and cancel.

mod common;

use std::sync::Barrier;

use common::*;
use fieldservice::db::ms;
use fieldservice::domain::{CityId, DistrictId, OfferState, OrderStatus, StaffRole};
use fieldservice::engine::{self, TickOptions};
use fieldservice::error::Error;
use fieldservice::{masters, offers, orders};

fn moscow_district(w: &World) -> (CityId, DistrictId) {
    let msk = w.moscow();
    (msk, w.district(msk, "Центральный"))
}

#[test]
fn e1_one_tick_sends_one_offer_and_accept_assigns() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);

    let report = w.tick(t0());
    assert_eq!(report.offers_sent.len(), 1);
    let offer = w.open_offer(o);
    assert_eq!((offer.master_id, offer.round_number, offer.state), (m, 1, OfferState::Sent));
    assert_eq!(offer.expires_at, t0() + sla());
    let pushed = w.notifications(m, "new_offer");
    assert_eq!(pushed.len(), 1);
    assert_eq!((pushed[0]["order_id"].as_i64(), pushed[0]["district"].as_str()), (Some(o), Some("Центральный")));
    assert!(w.tick(t0() + secs(15)).offers_sent.is_empty(), "no second offer while one is live");

    let won = w.accept(t0() + secs(20), m, offer.id).unwrap();
    assert_eq!((won.order_id, won.master_id), (o, m));
    let order = w.load(o);
    assert_eq!((order.status, order.assigned_master_id, order.version), (OrderStatus::Assigned, Some(m), 2));
    assert_eq!(w.offer(o, offer.id).state, OfferState::Accepted);
    assert!(w.offers(o).iter().all(|f| !f.state.is_open()), "no SENT/VIEWED offer remains");
    let last = w.history(o).pop().unwrap();
    assert_eq!((last.to.as_str(), last.reason.as_str(), last.actor.as_str()), ("ASSIGNED", "accepted_by_master", "MASTER"));
    assert!(w.live_for(t0() + secs(21), m).is_empty(), "the accepted offer leaves his list");
    assert!(w.tick(t0() + secs(30)).offers_sent.is_empty(), "an assigned order is not distributed");
    w.assert_sound();
}

#[test]
fn e2_second_master_with_a_manual_offer_loses_after_the_first_accepts() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m1 = w.master(M::serving(msk, &[d]).car());
    let m2 = w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);
    w.tick(t0());
    let first = w.open_offer(o);
    assert_eq!(first.master_id, m1);
    let second = w.manual_offer(t0() + secs(5), &w.admin, o, m2, false).unwrap();
    assert_eq!(second.round_number, 2, "a manual offer counts as a round");

    w.accept(t0() + secs(10), m1, first.id).unwrap();
    assert_eq!(w.offer(o, second.id).state, OfferState::Canceled);
    assert_code(w.accept(t0() + secs(11), m2, second.id), "offer_taken");
    assert_eq!((w.status(o), w.assigned(o)), (OrderStatus::Assigned, Some(m1)));
    w.assert_sound();
}

#[test]
fn e3_decline_moves_the_order_to_the_next_master() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m1 = w.master(M::serving(msk, &[d]).car());
    let m2 = w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);
    w.tick(t0());
    let first = w.open_offer(o);
    assert_eq!(first.master_id, m1, "the car ranks first");
    w.decline(t0() + secs(20), m1, first.id).unwrap();
    assert_eq!(w.offer(o, first.id).state, OfferState::Declined);
    assert!(w.live_for(t0() + secs(21), m1).is_empty());

    let report = w.tick(t0() + secs(30));
    assert_eq!(sent_to(&report, o), Some(m2));
    let second = w.open_offer(o);
    assert_eq!(second.round_number, 2);
    w.accept(t0() + secs(40), m2, second.id).unwrap();
    assert_eq!((w.status(o), w.assigned(o)), (OrderStatus::Assigned, Some(m2)));
    w.assert_sound();
}

#[test]
fn e4_answers_to_offers_that_are_no_longer_open() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let declined_order = w.order(t0(), d);
    let lapsed_order = w.order(t0() + secs(1), d);
    w.tick(t0() + secs(1));
    let declined = w.open_offer(declined_order);
    let lapsed = w.open_offer(lapsed_order);

    w.decline(t0() + secs(10), m, declined.id).unwrap();
    assert_code(w.decline(t0() + secs(11), m, declined.id), "offer_not_open");
    assert_code(w.accept(t0() + secs(12), m, declined.id), "offer_declined");

    // Time is up even before the tick marks it: live iff now < expires_at (D-8).
    assert_code(w.accept(lapsed.expires_at, m, lapsed.id), "offer_expired");
    w.tick(lapsed.expires_at);
    assert_eq!(w.offer(lapsed_order, lapsed.id).state, OfferState::Expired);
    assert_code(w.accept(lapsed.expires_at + secs(1), m, lapsed.id), "offer_expired");
    assert_code(w.decline(lapsed.expires_at + secs(1), m, lapsed.id), "offer_not_open");
    assert_code(w.write(|tx| offers::view(tx, lapsed.expires_at + secs(1), m, lapsed.id)), "offer_expired");
    assert_eq!(w.status(lapsed_order), OrderStatus::Searching);
    w.assert_sound();
}

#[test]
fn e5_master_at_his_limit_gets_no_offer_and_cannot_accept() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]).limit(2));
    w.busy_order(t0() - mins(60), d, m, OrderStatus::Assigned);
    w.busy_order(t0() - mins(50), d, m, OrderStatus::EnRoute);
    let o = w.order(t0(), d);

    assert!(w.tick(t0()).offers_sent.is_empty());
    assert!(w.tick(t0() + secs(60)).offers_sent.is_empty());
    assert!(w.offers(o).is_empty());
    assert_eq!(w.escalation(o).logist_at, None);
    // With the only master at his limit there is no candidate, so no round is ever used: the logist
    // escalation comes from the no-candidate grace (D-15, default = SLA), not from exhausted rounds.
    let report = w.tick(t0() + sla());
    assert_eq!(report.escalations.len(), 1);
    assert_eq!(w.escalation(o).reason.as_deref(), Some("no_candidates"));

    // Staff may still send him an offer after confirming; he cannot accept it at 2/2.
    assert_code(w.manual_offer(t0() + sla(), &w.admin, o, m, false), "needs_confirmation");
    let offer = w.manual_offer(t0() + sla(), &w.admin, o, m, true).unwrap();
    let refused = w.accept(t0() + sla() + secs(5), m, offer.id);
    assert!(matches!(refused, Err(Error::LimitReached { active: 2, limit: 2 })), "{refused:?}");
    assert_eq!((w.status(o), w.assigned(o)), (OrderStatus::Searching, None));
    w.assert_sound();
}

#[test]
fn e12_offer_list_hides_deferred_orders_and_lapsed_offers() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let a = w.order(t0(), d);
    w.tick(t0());
    let b = w.order(t0() + secs(10), d);
    w.tick(t0() + secs(10));
    let deferred = w.create(t0(), &fieldservice::orders::NewOrder { defer: true, ..w.form(msk, Some(d)) }).unwrap();
    assert_eq!(deferred.status, OrderStatus::Deferred);
    let on_deferred = w
        .write(|tx| {
            let order = orders::load(tx, deferred.id)?.unwrap();
            offers::send(tx, t0() + secs(20), 120, &order, m, 1, Some(w.admin.id))
        })
        .unwrap();

    let ids = |now| w.live_for(now, m).iter().map(|f| f.order_id).collect::<Vec<_>>();
    assert_eq!(ids(t0() + secs(30)), vec![b, a], "newest first, the deferred order hidden");
    assert_eq!(ids(t0() + sla() - chrono::Duration::milliseconds(1)), vec![b, a]);
    assert_eq!(ids(t0() + sla()), vec![b], "an offer is gone at exactly expires_at");
    assert_eq!(ids(t0() + secs(10) + sla()), Vec::<i64>::new());
    assert!(w.offer(deferred.id, on_deferred.id).state.is_open(), "the hidden offer is still open");
}

// --- time travel: SLA, rounds, escalation ----------------------------------------------------------------

/// The staff of two cities; who should hear about a Moscow order.
struct Roster {
    logist_recipients: Vec<i64>,
    admin_recipients: Vec<i64>,
}

fn roster(w: &World) -> Roster {
    let (msk, vvo) = (w.moscow(), w.city("Владивосток"));
    let logist_msk = w.staff(StaffRole::Logist, &[msk]);
    let logist_nowhere = w.staff_without_city(StaffRole::Logist);
    let city_admin_msk = w.staff(StaffRole::CityAdmin, &[msk, vvo]);
    w.staff(StaffRole::CityAdmin, &[vvo]);
    w.staff(StaffRole::Logist, &[vvo]);
    w.staff_without_city(StaffRole::CityAdmin);
    let retired = w.staff(StaffRole::Logist, &[msk]);
    w.exec("UPDATE staff_users SET is_active = 0 WHERE id = ?1", [retired.id]);
    let mut logist_recipients = vec![w.admin.id, logist_msk.id, logist_nowhere.id, city_admin_msk.id];
    logist_recipients.sort();
    let mut admin_recipients = vec![w.admin.id, city_admin_msk.id];
    admin_recipients.sort();
    Roster { logist_recipients, admin_recipients }
}

#[test]
fn sla_expiry_next_round_then_logist_then_admin_escalation() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let staff = roster(&w);
    let m1 = w.master(M::serving(msk, &[d]).car());
    let m2 = w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);

    w.tick(t0());
    let first = w.open_offer(o);
    assert_eq!((first.master_id, first.round_number), (m1, 1));
    let almost = w.tick(t0() + sla() - chrono::Duration::milliseconds(1));
    assert!(almost.offers_expired.is_empty() && almost.offers_sent.is_empty(), "still live 1 ms before");

    let lapse1 = t0() + sla();
    let report = w.tick(lapse1);
    assert_eq!(report.offers_expired.len(), 1);
    let expired = w.offer(o, first.id);
    assert_eq!((expired.state, expired.responded_at), (OfferState::Expired, Some(lapse1)));
    assert_eq!(sent_to(&report, o), Some(m2), "round 2 goes out in the same tick");
    assert_eq!(w.open_offer(o).round_number, 2);
    assert!(w.alerts("escalation_logist").is_empty());

    let lapse2 = lapse1 + sla();
    let report = w.tick(lapse2);
    assert!(report.offers_sent.is_empty());
    assert_eq!(report.escalations.len(), 1);
    let esc = w.escalation(o);
    assert_eq!((esc.logist_at, esc.admin_at, esc.reason.as_deref()), (Some(ms(lapse2)), None, Some("rounds_exhausted")));
    let alerts = w.alerts("escalation_logist");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].order_id, Some(o));
    assert_eq!(alerts[0].recipients, staff.logist_recipients, "§5.7.4 logist recipients");
    assert_eq!((alerts[0].payload["city"].as_str(), alerts[0].payload["reason"].as_str()), (Some("Москва"), Some("rounds_exhausted")));
    assert_eq!(w.offered_to(o), vec![m1, m2]);
    assert_eq!(w.status(o), OrderStatus::Searching, "escalation never changes the status");

    w.tick(lapse2 + secs(15));
    assert_eq!(w.alerts("escalation_logist").len(), 1, "escalated once, notified once");
    assert_eq!(w.escalation(o).logist_at, Some(ms(lapse2)), "the first timestamp is kept");

    w.tick(lapse2 + mins(10) - secs(1));
    assert_eq!(w.escalation(o).admin_at, None, "not at 9:59");
    assert!(w.alerts("escalation_admin").is_empty());

    let report = w.tick(lapse2 + mins(10));
    assert!(report.escalations.iter().any(|e| e.level == "admin"));
    let esc = w.escalation(o);
    assert_eq!((esc.logist_at, esc.admin_at), (Some(ms(lapse2)), Some(ms(lapse2 + mins(10)))));
    let admin_alerts = w.alerts("escalation_admin");
    assert_eq!(admin_alerts.len(), 1);
    assert_eq!(admin_alerts[0].recipients, staff.admin_recipients, "admins only");

    w.tick(lapse2 + mins(11));
    assert_eq!((w.alerts("escalation_admin").len(), w.alerts("escalation_logist").len()), (1, 1));
    assert!(w.offers(o).iter().all(|f| !f.state.is_open()), "no third automatic round");
    w.assert_sound();
}

#[test]
fn staff_manual_offer_clears_escalation_and_a_later_re_escalation_notifies_again() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]).off_shift());
    let o = w.order(t0(), d);
    w.tick(t0());
    w.tick(t0() + sla());
    w.tick(t0() + sla() + mins(10));
    let esc = w.escalation(o);
    assert!(esc.logist_at.is_some() && esc.admin_at.is_some() && esc.logist_notified_at.is_some() && esc.admin_notified_at.is_some());

    let sent_at = t0() + mins(13);
    let offer = w.manual_offer(sent_at, &w.admin, o, m, true).unwrap();
    assert!(w.escalation(o).is_clear(), "all four fields cleared (D-10)");
    assert!(w.history(o).iter().any(|h| h.reason == "distribution_deescalate"));
    assert!(w.tick(sent_at + secs(1)).escalations.is_empty(), "waiting for his answer");

    // He does not answer: once escalated in this cycle, a lapsed offer goes straight back to people.
    let report = w.tick(offer.expires_at);
    assert!(report.offers_sent.is_empty());
    assert_eq!(w.escalation(o).reason.as_deref(), Some("prev_offers_expired"));
    let alerts = w.alerts_for(o, "escalation_logist");
    assert_eq!(alerts.len(), 2, "re-escalation notifies again");
    assert_eq!(alerts[1].at, offer.expires_at);
}

#[test]
fn an_offer_from_the_tick_clears_a_no_candidate_escalation() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]).off_shift());
    let o = w.order(t0(), d);
    w.tick(t0());
    w.tick(t0() + sla());
    assert!(w.escalation(o).logist_at.is_some());

    w.write(|tx| masters::shift_on(tx, t0() + mins(3), m)).unwrap();
    let report = w.tick(t0() + mins(3));
    assert_eq!(sent_to(&report, o), Some(m));
    assert_eq!(report.deescalations, vec![o]);
    assert!(w.escalation(o).is_clear());
}

#[test]
fn two_ticks_at_once_notify_once() {
    let w = World::new();
    let msk = w.moscow();
    // "No district" exists only where the city has districts (decisions D-20).
    w.district(msk, "Центральный");
    w.staff(StaffRole::Logist, &[msk]);
    let options = TickOptions { seed: 42, max_orders: 100 };
    for i in 0..10 {
        let now = t0() + secs(i);
        let o = w.order_without_district(now, msk);
        let barrier = Barrier::new(2);
        let reports = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        engine::tick(&w.db, now, options)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap().expect("tick")).collect::<Vec<_>>()
        });
        assert_eq!(w.alerts_for(o, "escalation_logist").len(), 1, "round {i}: exactly one logist alert");
        let escalating = reports.iter().filter(|r| r.escalations.iter().any(|e| e.order_id == o)).count();
        assert_eq!(escalating, 1, "round {i}: one tick escalated, the other did nothing: {reports:?}");
        assert!(reports.iter().all(|r| r.errors.is_empty()));
    }
    assert_eq!(w.alerts("escalation_logist").len(), 10);
}

// --- priority, districts ----------------------------------------------------------------------------------

#[test]
fn guarantee_order_is_offered_before_an_older_normal_order() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let source = w.closed_order(t0() - chrono::Duration::days(2), d, m, t0() - chrono::Duration::days(1));
    let normal = w.order(t0() - mins(30), d);
    let guarantee = w.guarantee(t0(), source).unwrap().id;

    let report = w.tick_with(t0(), 1);
    assert_eq!(sent_to(&report, guarantee), Some(m));
    assert_eq!(sent_to(&report, normal), None, "the older normal order waits its turn");
    let report = w.tick(t0() + secs(15));
    assert_eq!(sent_to(&report, normal), Some(m), "a master may hold offers for several orders");
}

#[test]
fn admin_escalated_order_is_offered_before_an_older_normal_order() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let single = w.master(M::serving(msk, &[d]).off_shift());
    let helper = w.master(M::serving(msk, &[d]));
    // The older order is taken by a helper at once, who then goes home.
    let older = w.order(t0(), d);
    w.tick(t0());
    w.accept(t0() + secs(5), helper, w.open_offer(older).id).unwrap();
    w.write(|tx| masters::shift_off(tx, t0() + secs(6), helper)).unwrap();
    // The newer order finds nobody and climbs to the admins.
    let newer = w.order(t0() + mins(1), d);
    w.tick(t0() + mins(1));
    w.tick(t0() + mins(3));
    w.tick(t0() + mins(13));
    assert!(w.escalation(newer).admin_at.is_some());
    // Staff return the older order to search; the single master comes on shift.
    w.write(|tx| orders::return_to_search(tx, t0() + mins(14), &w.admin, older)).unwrap();
    w.write(|tx| masters::shift_on(tx, t0() + mins(14), single)).unwrap();
    assert!(w.load(older).created_at < w.load(newer).created_at && !w.load(older).is_escalated());

    let report = w.tick_with(t0() + mins(14) + secs(1), 1);
    assert_eq!(sent_to(&report, newer), Some(single), "the admin-escalated order goes first");
    assert_eq!(sent_to(&report, older), None);
    assert!(w.escalation(newer).is_clear());
}

#[test]
fn order_without_district_goes_to_the_logist_on_the_first_tick() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let m = w.master(M::serving(msk, &[d]));
    let o = w.order_without_district(t0(), msk);
    assert!(w.load(o).no_district);

    let report = w.tick(t0());
    assert!(report.offers_sent.is_empty(), "never auto-distributed");
    assert_eq!(report.escalations.len(), 1);
    assert_eq!((report.escalations[0].level, report.escalations[0].reason.as_str()), ("logist", "no_district"));
    assert_eq!(w.escalation(o).logist_at, Some(ms(t0())));
    let alerts = w.alerts_for(o, "escalation_logist");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].payload["district"], serde_json::Value::Null);
    // Staff can still place it by hand.
    let offer = w.manual_offer(t0() + mins(1), &w.admin, o, m, false).unwrap();
    w.accept(t0() + mins(2), m, offer.id).unwrap();
    assert_eq!(w.assigned(o), Some(m));
}

#[test]
fn nobody_in_the_district_falls_back_to_the_whole_city() {
    let w = World::new();
    let msk = w.moscow();
    let (d1, d2) = (w.district(msk, "Центральный"), w.district(msk, "Северный"));
    let m = w.master(M::serving(msk, &[d1]));
    let o = w.order(t0(), d2);
    let report = w.tick(t0());
    assert_eq!(sent_to(&report, o), Some(m));
    let found = w.events(o, "candidates_found");
    assert_eq!(found[0]["citywide"], true);
    // Staff see and may pick the same master the tick found: the list widens as the tick did.
    let list = w.write(|tx| engine::manual_candidates(tx, t0(), &w.admin, o)).unwrap();
    assert_eq!(list.iter().map(|c| c.master_id).collect::<Vec<_>>(), vec![m]);
    let other = w.order(t0(), d2);
    w.write(|tx| fieldservice::orders::assign_directly(tx, t0(), &w.admin, other, m, false)).unwrap();
    assert_eq!(w.assigned(other), Some(m));
}

#[test]
fn without_the_citywide_fallback_nobody_in_the_district_means_no_offer() {
    let w = World::new();
    let msk = w.moscow();
    let (d1, d2) = (w.district(msk, "Центральный"), w.district(msk, "Северный"));
    w.master(M::serving(msk, &[d1]));
    w.settings(&[("citywide_fallback", "false")]);
    let o = w.order(t0(), d2);
    assert!(w.tick(t0()).offers_sent.is_empty());
    assert!(w.offers(o).is_empty());
    assert!(w.event_kinds(o).contains(&"no_candidates".to_string()));
}

// --- staff actions: return to search, cancel ----------------------------------------------------------------

#[test]
fn return_to_search_starts_a_new_cycle_without_the_unassigned_master() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    w.settings(&[("distribution_rounds", "3")]);
    let decliner = w.master(M::serving(msk, &[d]).car().rating(5.0));
    let sleeper = w.master(M::serving(msk, &[d]).car().rating(4.5));
    let taker = w.master(M::serving(msk, &[d]).rating(5.0));
    let newcomer = w.master(M::serving(msk, &[d]).rating(4.0));
    let o = w.order(t0(), d);

    w.tick(t0());
    w.decline(t0() + secs(10), decliner, w.open_offer(o).id).unwrap();
    w.tick(t0() + secs(15));
    assert_eq!(w.open_offer(o).master_id, sleeper);
    w.tick(t0() + secs(15) + sla());
    let third = w.open_offer(o);
    assert_eq!((third.master_id, third.round_number), (taker, 3));
    w.accept(t0() + secs(150), taker, third.id).unwrap();

    let back = t0() + mins(5);
    let to = w.write(|tx| orders::return_to_search(tx, back, &w.admin, o)).unwrap();
    assert_eq!(to, OrderStatus::Searching);
    let order = w.load(o);
    assert_eq!((order.status, order.assigned_master_id, order.dist_cycle), (OrderStatus::Searching, None, 2));
    assert_eq!(w.offer(o, third.id).state, OfferState::Canceled, "the accepted offer is cancelled");
    let h = w.history(o).pop().unwrap();
    assert_eq!((h.from.as_deref(), h.to.as_str(), h.reason.as_str(), h.actor.as_str()), (Some("ASSIGNED"), "SEARCHING", "manual_return", "ADMIN"));

    w.tick(back + secs(1));
    let first = w.open_offer(o);
    assert_eq!((first.master_id, first.round_number, first.dist_cycle), (sleeper, 1, 2), "rounds restart; an expired offer is no bar");
    w.tick(back + secs(1) + sla());
    let second = w.open_offer(o);
    assert_eq!((second.master_id, second.round_number), (newcomer, 2));
    w.tick(back + secs(1) + sla() * 2);
    let cycle2: Vec<_> = w.offers(o).into_iter().filter(|f| f.dist_cycle == 2).map(|f| f.master_id).collect();
    assert_eq!(cycle2, vec![sleeper, newcomer], "neither the decliner nor the unassigned master is offered again");
    w.assert_sound();
}

#[test]
fn cancel_needs_a_reason_keeps_the_master_and_cancels_offers() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let assigned = w.order(t0(), d);
    w.tick(t0());
    let accepted = w.open_offer(assigned);
    w.accept(t0() + secs(5), m, accepted.id).unwrap();
    let searching = w.order(t0() + secs(10), d);
    w.tick(t0() + secs(10));
    let open = w.open_offer(searching);

    let cancel = |id, reason: &str| w.write(|tx| orders::cancel(tx, t0() + mins(1), &w.admin, id, reason));
    assert!(matches!(cancel(assigned, "ok"), Err(Error::Invalid { field: "reason", .. })));
    assert!(matches!(cancel(assigned, "   "), Err(Error::Invalid { field: "reason", .. })));
    assert_eq!(w.status(assigned), OrderStatus::Assigned);

    cancel(assigned, "Клиент передумал").unwrap();
    let order = w.load(assigned);
    assert_eq!((order.status, order.assigned_master_id), (OrderStatus::Canceled, Some(m)), "the master reference stays");
    assert_eq!(w.offer(assigned, accepted.id).state, OfferState::Canceled);
    let reason: String = w.scalar("SELECT cancel_reason FROM orders WHERE id = ?1", [assigned]);
    assert_eq!(reason, "Клиент передумал");
    let h = w.history(assigned).pop().unwrap();
    assert_eq!((h.to.as_str(), h.reason.as_str(), h.actor.as_str()), ("CANCELED", "Клиент передумал", "ADMIN"));

    cancel(searching, "Клиент передумал").unwrap();
    assert_eq!(w.offer(searching, open.id).state, OfferState::Canceled);
    assert_code(w.accept(t0() + mins(2), m, open.id), "offer_taken");
    assert!(w.tick(t0() + mins(3)).offers_sent.is_empty(), "a cancelled order is not distributed");
    w.assert_sound();
}

#[test]
fn closed_and_payment_orders_cannot_be_cancelled() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    for status in [OrderStatus::Payment, OrderStatus::Closed] {
        let o = w.busy_order(t0(), d, m, status);
        let refused = w.write(|tx| orders::cancel(tx, t0() + mins(1), &w.admin, o, "Клиент передумал"));
        assert!(matches!(refused, Err(Error::WrongStatus { status: s }) if s == status), "{refused:?}");
        assert_eq!(w.status(o), status);
    }
}

// --- more engine rules: overdue slots, VIEWED, the staff "auto" button, direct assignment, the lease ---------

#[test]
fn an_order_whose_slot_has_started_is_offered_before_an_older_one() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let older = w.order(t0() - mins(10), d);
    let slot = (t0() - mins(5), t0() + mins(175));
    let overdue = w.create(t0(), &orders::NewOrder { timeslot: Some(slot.into()), ..w.form(msk, Some(d)) }).unwrap().id;
    let report = w.tick_with(t0(), 1);
    assert_eq!(sent_to(&report, overdue), Some(m));
    assert_eq!(sent_to(&report, older), None);
}

#[test]
fn a_viewed_offer_is_treated_exactly_like_a_sent_one() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let lapsing = w.order(t0(), d);
    let taken = w.order(t0(), d);
    w.tick(t0());
    for o in [lapsing, taken] {
        let viewed = w.write(|tx| offers::view(tx, t0() + secs(5), m, w.open_offer(o).id)).unwrap();
        assert_eq!(viewed.state, OfferState::Viewed);
    }
    assert_eq!(w.live_for(t0() + secs(6), m).len(), 2, "still in his list");
    assert!(w.tick(t0() + secs(15)).offers_sent.is_empty(), "a viewed offer is live: no new round");
    w.accept(t0() + secs(20), m, w.open_offer(taken).id).unwrap();
    let report = w.tick(t0() + sla());
    assert_eq!(report.offers_expired.len(), 1, "a viewed offer expires like a sent one");
    assert_eq!(w.offers(lapsing)[0].state, OfferState::Expired);
    w.assert_sound();
}

/// The offer the "auto" button sent.
fn sent(outcome: engine::AutoOutcome) -> engine::SentOffer {
    match outcome {
        engine::AutoOutcome::OfferSent(offer) => offer,
        other => panic!("expected an offer, got {other:?}"),
    }
}

#[test]
fn staff_auto_button_sends_one_round_now() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m1 = w.master(M::serving(msk, &[d]).car());
    let m2 = w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);
    let auto = |now| w.write(|tx| engine::auto_distribute_now(tx, now, &w.admin, o, false, 7));

    let first = sent(auto(t0()).unwrap());
    assert_eq!((first.master_id, first.round), (m1, 1));
    let by: Option<i64> = w.scalar("SELECT sent_by_staff_id FROM offers WHERE id = ?1", [first.offer_id]);
    assert_eq!(by, Some(w.admin.id));
    assert_code(auto(t0() + secs(5)), "offer_conflict");
    // The tick sends round 2 after the lapse; after that the automatic rounds are used up for the button too.
    w.tick(t0() + sla());
    assert_eq!(w.open_offer(o).master_id, m2);
    w.tick(t0() + sla() * 2);
    assert!(matches!(auto(t0() + sla() * 2 + secs(1)), Err(Error::RoundsExhausted { rounds: 2 })));
}

#[test]
fn staff_auto_button_on_a_deferred_order_needs_confirmation() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]));
    let night = utc(2026, 3, 10, 19, 0, 0);
    let o = w.create(night, &w.form(msk, Some(d))).unwrap().id;
    assert_code(w.write(|tx| engine::auto_distribute_now(tx, night, &w.admin, o, false, 7)), "deferred_needs_confirmation");
    assert_eq!(w.status(o), OrderStatus::Deferred);
    let offer = sent(w.write(|tx| engine::auto_distribute_now(tx, night, &w.admin, o, true, 7)).unwrap());
    assert_eq!(offer.master_id, m);
    assert_eq!(w.status(o), OrderStatus::Searching);
}

#[test]
fn staff_auto_button_on_an_order_without_district_escalates_to_the_logist() {
    let w = World::new();
    let msk = w.moscow();
    // "No district" exists only where the city has districts (decisions D-20).
    w.district(msk, "Центральный");
    w.staff(StaffRole::Logist, &[msk]);
    let o = w.order_without_district(t0(), msk);
    let outcome = w.write(|tx| engine::auto_distribute_now(tx, t0(), &w.admin, o, false, 7)).unwrap();
    assert_eq!(outcome.error().map(|e| e.code()), Some("no_district"), "staff are told to assign by hand");
    assert_eq!(w.escalation(o).logist_at, Some(ms(t0())), "distribution.md §9.1 step 2: ensure logist escalation");
    assert_eq!(w.alerts_for(o, "escalation_logist").len(), 1);
}

#[test]
fn staff_auto_button_without_candidates_escalates_to_the_logist() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    w.staff(StaffRole::Logist, &[msk]);
    w.master(M::serving(msk, &[d]).off_shift());
    let o = w.order(t0(), d);
    let outcome = w.write(|tx| engine::auto_distribute_now(tx, t0(), &w.admin, o, false, 7)).unwrap();
    assert_eq!(outcome.error().map(|e| e.code()), Some("no_candidates"), "staff are told to assign by hand");
    assert_eq!(w.escalation(o).logist_at, Some(ms(t0())), "distribution.md §9.1 step 6: ensure logist escalation");
    assert_eq!(w.alerts_for(o, "escalation_logist").len(), 1);
}

#[test]
fn direct_assignment_cancels_every_open_offer_including_the_assignees_own() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]).car());
    let other = w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);
    w.tick(t0());
    let own = w.open_offer(o);
    assert_eq!(own.master_id, m);
    let theirs = w.manual_offer(t0() + secs(5), &w.admin, o, other, false).unwrap();

    w.write(|tx| orders::assign_directly(tx, t0() + secs(10), &w.admin, o, m, false)).expect("his own open offer is no bar (D-5b)");
    assert_eq!((w.status(o), w.assigned(o)), (OrderStatus::Assigned, Some(m)));
    for id in [own.id, theirs.id] {
        let f = w.offer(o, id);
        assert_eq!((f.state, f.responded_at), (OfferState::Canceled, Some(t0() + secs(10))));
    }
    let h = w.history(o).pop().unwrap();
    assert_eq!((h.from.as_deref(), h.to.as_str(), h.reason.as_str(), h.actor.as_str()), (Some("SEARCHING"), "ASSIGNED", "manual_assign", "ADMIN"));
    let via: String = w.scalar("SELECT assigned_via FROM distribution_metrics WHERE order_id = ?1", [o]);
    assert_eq!(via, "admin_manual");
    assert_code(w.accept(t0() + secs(11), other, theirs.id), "offer_taken");
    w.assert_sound();
}

#[test]
fn the_assignment_metric_remembers_an_escalation_that_an_offer_cleared() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let m = w.master(M::serving(msk, &[d]).off_shift());
    let o = w.order(t0(), d);
    w.tick(t0());
    w.tick(t0() + sla());
    w.write(|tx| masters::shift_on(tx, t0() + mins(3), m)).unwrap();
    w.tick(t0() + mins(3));
    assert!(w.escalation(o).is_clear());
    w.accept(t0() + mins(4), m, w.open_offer(o).id).unwrap();
    let row: (String, i64, bool, bool) = w.read(|c| {
        c.query_row(
            "SELECT assigned_via, round_number, was_escalated_to_logist, was_escalated_to_admin FROM distribution_metrics WHERE order_id = ?1",
            [o],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    });
    assert_eq!(row, ("master_accept".to_string(), 1, true, false));
}

#[test]
fn a_tick_does_nothing_while_another_scheduler_holds_the_lease() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);
    let options = TickOptions { seed: 42, max_orders: 100 };
    assert!(fieldservice::lease::acquire(&w.db, "server-1").unwrap());

    let skipped = engine::tick(&w.db, t0(), options).unwrap();
    assert!(!skipped.ran && skipped.offers_sent.is_empty());
    let waited = engine::tick_waiting(&w.db, t0(), options, std::time::Duration::from_millis(250)).unwrap();
    assert!(!waited.ran, "gave up waiting");
    assert!(w.offers(o).is_empty());

    fieldservice::lease::release(&w.db, "server-1").unwrap();
    assert!(sent_to(&w.tick(t0()), o).is_some());
}

#[test]
fn the_lease_of_a_crashed_scheduler_is_taken_over_once_it_expires() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    w.master(M::serving(msk, &[d]));
    let o = w.order(t0(), d);
    assert!(fieldservice::lease::acquire(&w.db, "crashed").unwrap());
    w.exec("UPDATE scheduler_lease SET expires_at = 1 WHERE name = 'distribution'", []);
    let report = w.tick(t0());
    assert!(sent_to(&report, o).is_some());
    let owner: Option<String> = w.scalar("SELECT owner FROM scheduler_lease", []);
    assert_eq!(owner, None, "released after the tick");
}

#[test]
fn manual_candidate_list_shows_every_fitting_master_with_his_availability() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    let other_district = w.district(msk, "Северный");
    let ready = w.master(M::serving(msk, &[d]));
    let resting = w.master(M::serving(msk, &[d]).off_shift());
    w.master(M::serving(msk, &[d]).skills(&[Category::Plumbing]));
    w.master(M::serving(msk, &[other_district]));
    w.master(M::serving(msk, &[d]).blocked("долг"));
    let o = w.order(t0(), d);

    let list = w.write(|tx| engine::manual_candidates(tx, t0(), &w.admin, o)).unwrap();
    let ids: Vec<_> = list.iter().map(|c| c.master_id).collect();
    assert_eq!(ids, [ready, resting], "fitting masters only, available ones first");
    assert!(list[0].auto_eligible && list[0].unavailable.is_empty());
    assert!(!list[1].auto_eligible);
    assert_eq!(list[1].unavailable, ["not_on_shift"], "picking him needs \"assign anyway\"");

    let foreign = w.staff(StaffRole::CityAdmin, &[w.city("Санкт-Петербург")]);
    assert_code(w.write(|tx| engine::manual_candidates(tx, t0(), &foreign, o)), "not_found");
}

#[test]
fn orders_that_can_only_wait_never_crowd_out_an_order_that_can_move() {
    let w = World::new();
    let (msk, d) = moscow_district(&w);
    w.staff(StaffRole::Logist, &[msk]);
    let m = w.master(M::serving(msk, &[d]));
    let incomplete = w.order_without_district(t0(), msk);
    let waiting_for_answer = w.order(t0() + secs(1), d);
    w.tick_with(t0() + secs(2), 1);
    assert!(w.escalation(incomplete).logist_at.is_some(), "the oldest order is escalated first");
    w.tick_with(t0() + secs(3), 1);
    assert_eq!(w.open_offer(waiting_for_answer).master_id, m);
    let fresh = w.order(t0() + secs(4), d);
    let other = w.master(M::serving(msk, &[d]));
    // A batch of one: the escalated order (waits for people) and the one with a live offer (waits for
    // its master) are not fetched, so the new order is decided.
    let report = w.tick_with(t0() + secs(5), 1);
    assert_eq!(report.offers_sent.iter().map(|s| (s.order_id, s.master_id)).collect::<Vec<_>>(), [(fresh, other)]);
}

#[test]
fn a_waiting_escalated_order_still_reaches_the_admins_after_the_delay() {
    let w = World::new();
    let msk = w.moscow();
    // "No district" exists only where the city has districts (decisions D-20).
    w.district(msk, "Центральный");
    let admin = w.staff(StaffRole::CityAdmin, &[msk]);
    let o = w.order_without_district(t0(), msk);
    w.tick(t0());
    assert!(w.alerts_for(o, "escalation_admin").is_empty());
    w.tick(t0() + mins(10));
    let alerts = w.alerts_for(o, "escalation_admin");
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].recipients.contains(&admin.id));
}
