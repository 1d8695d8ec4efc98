//! Guarantee orders: the preferred master first when he can take it, otherwise ordinary distribution with the
//! reasons logged (decisions D-4, the upstream FIX 1.3 scenarios), refusals (D-3) and the creation rules (§8 D1/D2).

mod common;

use common::*;
use fieldservice::domain::{DistrictId, MasterId, OfferState, OrderId, OrderStatus, OrderType};
use fieldservice::error::Error;
use fieldservice::masters;

/// A guarantee order (created at t0, in working hours) and the masters around it.
struct Scene {
    w: World,
    /// The source order's master.
    preferred: MasterId,
    /// Another master of the district (0 when there is none).
    other: MasterId,
    /// The guarantee order.
    order: OrderId,
}

/// Inserts the preferred master, lets `prepare` load him up, adds `other`, closes a source order of his two days
/// ago and creates its guarantee order.
fn scene_in(w: World, d: DistrictId, prepare: impl FnOnce(&World, MasterId), preferred: M, other: Option<M>) -> Scene {
    let p = w.master(preferred);
    prepare(&w, p);
    let other = other.map(|m| w.master(m)).unwrap_or(0);
    let source = w.closed_order(t0() - chrono::Duration::days(3), d, p, t0() - chrono::Duration::days(2));
    let created = w.guarantee(t0(), source).expect("guarantee created");
    assert_eq!(created.status, OrderStatus::Guarantee);
    Scene { w, preferred: p, other, order: created.id }
}

/// An available ELECTRICS master of `city` serving `d`.
fn plain(city: fieldservice::domain::CityId, d: DistrictId) -> M {
    M::serving(city, &[d])
}

/// The reasons logged when the preferred master was skipped (one skip expected).
fn skip_reasons(s: &Scene) -> Vec<String> {
    let skips = s.w.events(s.order, "preferred_master_skipped");
    assert_eq!(skips.len(), 1, "one skip logged: {skips:?}");
    assert_eq!(skips[0]["master_id"], s.preferred);
    skips[0]["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

/// The tick skips an unavailable preferred master, offers the order to the other master in round 1 and does not
/// escalate.
fn assert_goes_to_other(s: &Scene, reason: &str) {
    let report = s.w.tick(t0());
    assert_eq!(sent_to(&report, s.order), Some(s.other), "the other available master gets the offer");
    let offer = s.w.open_offer(s.order);
    assert_eq!((offer.master_id, offer.round_number), (s.other, 1));
    let reasons = skip_reasons(s);
    assert!(reasons.iter().any(|r| r.contains(reason)), "reasons {reasons:?} should contain {reason}");
    assert!(s.w.escalation(s.order).is_clear(), "an unavailable preferred master is no reason to escalate");
    assert!(s.w.notifications(s.preferred, "new_offer").is_empty());
}

#[test]
fn preferred_master_off_shift_is_skipped_with_reason() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let s = scene_in(w, d, |_, _| {}, plain(msk, d).off_shift(), Some(plain(msk, d)));
    assert_goes_to_other(&s, "not_on_shift");
}

#[test]
fn preferred_master_on_break_is_skipped_with_reason() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let s = scene_in(w, d, |_, _| {}, plain(msk, d), Some(plain(msk, d)));
    s.w.write(|tx| masters::start_break(tx, t0() - mins(5), s.preferred, 60)).unwrap();
    assert_goes_to_other(&s, "on_break_until");
    let reasons = skip_reasons(&s);
    assert!(reasons.contains(&"on_break_until_2026-03-10T09:55:00Z".to_string()), "break end is named: {reasons:?}");
}

#[test]
fn preferred_master_blocked_is_skipped_with_reason() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let s = scene_in(w, d, |_, _| {}, plain(msk, d).blocked("долг"), Some(plain(msk, d)));
    assert_goes_to_other(&s, "blocked");
}

#[test]
fn preferred_master_at_his_limit_is_skipped_with_reason() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let busy = |w: &World, p: MasterId| {
        w.busy_order(t0() - mins(60), d, p, OrderStatus::Assigned);
        w.busy_order(t0() - mins(50), d, p, OrderStatus::Assigned);
    };
    let s = scene_in(w, d, busy, plain(msk, d).limit(2), Some(plain(msk, d)));
    assert_goes_to_other(&s, "at_limit_2/2");
}

#[test]
fn available_preferred_master_gets_the_first_offer_over_a_better_ranked_one() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let s = scene_in(w, d, |_, _| {}, plain(msk, d).rating(4.0), Some(plain(msk, d).car().rating(5.0)));
    let report = s.w.tick(t0());
    assert_eq!(sent_to(&report, s.order), Some(s.preferred));
    let offer = s.w.open_offer(s.order);
    assert_eq!((offer.master_id, offer.round_number), (s.preferred, 1));
    assert_eq!(s.w.events(s.order, "preferred_master_first").len(), 1);
    assert!(s.w.events(s.order, "preferred_master_skipped").is_empty());
    assert_eq!(s.w.notifications(s.preferred, "new_offer").len(), 1, "he is told about the offer");
    assert_eq!(s.w.notifications(s.preferred, "new_offer")[0]["order_type"], "GUARANTEE");
}

#[test]
fn no_candidates_at_all_waits_for_the_grace_before_escalating() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let s = scene_in(w, d, |_, _| {}, plain(msk, d).off_shift(), None);
    let first = s.w.tick(t0());
    assert!(first.offers_sent.is_empty() && first.escalations.is_empty());
    assert_eq!(s.w.escalation(s.order).logist_at, None, "not escalated on the first tick");
    assert!(s.w.event_kinds(s.order).contains(&"no_candidates".to_string()));

    let before_grace = s.w.tick(t0() + secs(119));
    assert!(before_grace.escalations.is_empty());
    assert_eq!(s.w.escalation(s.order).logist_at, None);

    let after_grace = s.w.tick(t0() + sla());
    assert_eq!(after_grace.escalations.len(), 1);
    let esc = s.w.escalation(s.order);
    assert_eq!(esc.logist_at, Some(fieldservice::db::ms(t0() + sla())));
    assert_eq!(esc.reason.as_deref(), Some("no_candidates"));
    assert_eq!(s.w.alerts_for(s.order, "escalation_logist").len(), 1);
    assert_eq!(s.w.status(s.order), OrderStatus::Guarantee, "escalation never changes the status");
}

#[test]
fn unavailable_preferred_full_cycle_ends_assigned_to_the_other_master() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let s = scene_in(w, d, |_, _| {}, plain(msk, d).off_shift(), Some(plain(msk, d)));
    s.w.tick(t0());
    let offer = s.w.open_offer(s.order);
    assert_eq!(offer.master_id, s.other);
    s.w.accept(t0() + secs(30), s.other, offer.id).expect("accept");
    let order = s.w.load(s.order);
    assert_eq!((order.status, order.assigned_master_id), (OrderStatus::Assigned, Some(s.other)));
    assert_eq!(order.order_type, OrderType::Guarantee);
    assert!(s.w.offers(s.order).iter().all(|o| !o.state.is_open()));
    s.w.assert_sound();
}

#[test]
fn preferred_master_declines_then_the_next_master_gets_it_and_staff_are_alerted() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let logist = w.staff(fieldservice::domain::StaffRole::Logist, &[msk]);
    let s = scene_in(w, d, |_, _| {}, plain(msk, d), Some(plain(msk, d).car()));
    s.w.tick(t0());
    let first = s.w.open_offer(s.order);
    assert_eq!(first.master_id, s.preferred);
    s.w.decline(t0() + secs(30), s.preferred, first.id).unwrap();

    let alerts = s.w.alerts_for(s.order, "guarantee_refusal");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].payload["how"], "declined");
    assert_eq!(alerts[0].payload["blocked"], false);
    assert!(alerts[0].recipients.contains(&logist.id) && alerts[0].recipients.contains(&s.w.admin.id));
    assert!(!s.w.master_row(s.preferred).is_blocked, "autoblock is off by default");

    let report = s.w.tick(t0() + secs(45));
    assert_eq!(sent_to(&report, s.order), Some(s.other));
    assert_eq!(s.w.open_offer(s.order).round_number, 2);
    // The other master lets it lapse too: the rounds are used up, the preferred master is not asked again.
    s.w.tick(t0() + secs(45) + sla());
    assert_eq!(s.w.offered_to(s.order), vec![s.preferred, s.other]);
    assert_eq!(s.w.escalation(s.order).reason.as_deref(), Some("rounds_exhausted"));
}

#[test]
fn preferred_master_lets_the_offer_expire_then_the_next_master_gets_it() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    let s = scene_in(w, d, |_, _| {}, plain(msk, d), Some(plain(msk, d)));
    s.w.tick(t0());
    assert_eq!(s.w.open_offer(s.order).master_id, s.preferred);

    let report = s.w.tick(t0() + sla());
    assert_eq!(report.offers_expired.len(), 1);
    assert_eq!(sent_to(&report, s.order), Some(s.other), "the same tick goes on with the other master");
    assert_eq!(s.w.offers_in(s.order, OfferState::Expired)[0].master_id, s.preferred);
    let alerts = s.w.alerts_for(s.order, "guarantee_refusal");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].payload["how"], "expired");
    let reasons = s.w.events(s.order, "preferred_master_skipped");
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0]["reasons"].as_array().unwrap().iter().any(|r| r == "already_offered"));
}

#[test]
fn with_autoblock_a_refusing_preferred_master_is_blocked() {
    for expire in [false, true] {
        let w = World::new();
        let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
        w.settings(&[("guarantee_autoblock_on_refusal", "true")]);
        let s = scene_in(w, d, |_, _| {}, plain(msk, d), Some(plain(msk, d)));
        s.w.tick(t0());
        let offer = s.w.open_offer(s.order);
        assert_eq!(offer.master_id, s.preferred);
        let next_tick = if expire {
            t0() + sla()
        } else {
            s.w.decline(t0() + secs(10), s.preferred, offer.id).unwrap();
            t0() + secs(15)
        };
        let report = s.w.tick(next_tick);
        assert_eq!(sent_to(&report, s.order), Some(s.other));

        let row = s.w.master_row(s.preferred);
        assert!(row.is_blocked && !row.is_active, "expire={expire}: blocked and inactive");
        assert_eq!(row.blocked_reason.as_deref(), Some("guarantee_refusal"));
        assert_eq!(s.w.alerts_for(s.order, "guarantee_refusal")[0].payload["blocked"], true);
        assert_eq!(s.w.notifications(s.preferred, "account_blocked").len(), 1, "he is told why");
        let refused = s.w.write(|tx| masters::shift_on(tx, next_tick, s.preferred));
        assert!(matches!(refused, Err(Error::MasterBlocked { ref reason }) if reason == "guarantee_refusal"));
        s.w.assert_sound();
    }
}

#[test]
fn a_non_preferred_master_refusing_raises_no_guarantee_alert() {
    let w = World::new();
    let (msk, d) = (w.moscow(), w.district(w.moscow(), "Центральный"));
    w.settings(&[("guarantee_autoblock_on_refusal", "true")]);
    let s = scene_in(w, d, |_, _| {}, plain(msk, d).off_shift(), Some(plain(msk, d)));
    s.w.tick(t0());
    let offer = s.w.open_offer(s.order);
    assert_eq!(offer.master_id, s.other);
    s.w.decline(t0() + secs(5), s.other, offer.id).unwrap();
    assert!(s.w.alerts_for(s.order, "guarantee_refusal").is_empty());
    assert!(!s.w.master_row(s.other).is_blocked);
}

// --- creation rules (product.md §8 D1, D2; decisions §B.10) ---------------------------------------------------

#[test]
fn guarantee_copies_the_source_with_banner_payment_and_preferred_master() {
    let w = World::new();
    let d = w.district(w.moscow(), "Центральный");
    let m = w.master(M::serving(w.moscow(), &[d]));
    let source = w.closed_order(t0() - chrono::Duration::days(3), d, m, t0() - chrono::Duration::days(2));
    let created = w.guarantee(t0(), source).unwrap();
    let g = w.load(created.id);
    assert_eq!((g.status, g.order_type), (OrderStatus::Guarantee, OrderType::Guarantee));
    assert_eq!(g.preferred_master_id, Some(m));
    assert_eq!(g.assigned_master_id, None);
    assert_eq!(g.guarantee_source_order_id, Some(source));
    assert_eq!((g.district_id, g.category, g.total_sum_kop), (Some(d), Category::Electrics, 0));
    let (description, payment): (String, i64) =
        w.read(|c| c.query_row("SELECT description, company_payment_kop FROM orders WHERE id = ?1", [g.id], |r| Ok((r.get(0)?, r.get(1)?))));
    assert!(description.starts_with("ЗАЯВКА ПО ГАРАНТИИ"), "{description}");
    assert!(description.ends_with("Не работает розетка на кухне"), "source description kept: {description}");
    assert_eq!(payment, 250_000, "company payment 2500 ₽");
    let history = w.history(g.id);
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].from.as_deref(), history[0].to.as_str()), (None, "GUARANTEE"));
    assert_eq!((history[0].reason.as_str(), history[0].actor.as_str()), ("guarantee_created", "ADMIN"));
    w.assert_sound();
}

#[test]
fn a_second_open_guarantee_for_the_same_source_is_refused() {
    let w = World::new();
    let d = w.district(w.moscow(), "Центральный");
    let m = w.master(M::serving(w.moscow(), &[d]));
    let source = w.closed_order(t0() - chrono::Duration::days(3), d, m, t0() - chrono::Duration::days(2));
    let first = w.guarantee(t0(), source).unwrap();
    assert!(matches!(w.guarantee(t0() + mins(1), source), Err(Error::GuaranteeExists)));
    // Once the first is cancelled a new one may be made.
    w.write(|tx| fieldservice::orders::cancel(tx, t0() + mins(2), &w.admin, first.id, "Клиент передумал")).unwrap();
    assert!(w.guarantee(t0() + mins(3), source).is_ok());
}

#[test]
fn guarantee_needs_a_closed_normal_source_with_a_master() {
    let w = World::new();
    let d = w.district(w.moscow(), "Центральный");
    let m = w.master(M::serving(w.moscow(), &[d]));
    let searching = w.order(t0() - mins(30), d);
    assert!(matches!(w.guarantee(t0(), searching), Err(Error::GuaranteeNotAllowed { why: "not_closed" })));

    let no_master = w.order(t0() - mins(30), d);
    w.set_status(t0() - mins(20), no_master, OrderStatus::Closed);
    assert!(matches!(w.guarantee(t0(), no_master), Err(Error::GuaranteeNotAllowed { why: "no_master" })));

    let source = w.closed_order(t0() - chrono::Duration::days(3), d, m, t0() - chrono::Duration::days(2));
    let g = w.guarantee(t0(), source).unwrap().id;
    w.exec("UPDATE orders SET assigned_master_id = ?2 WHERE id = ?1", rusqlite::params![g, m]);
    w.set_status(t0() + mins(30), g, OrderStatus::Closed);
    assert!(matches!(w.guarantee(t0() + mins(40), g), Err(Error::GuaranteeNotAllowed { why: "is_guarantee" })));
}

#[test]
fn guarantee_only_within_the_warranty_days_after_closing() {
    let w = World::new();
    let d = w.district(w.moscow(), "Центральный");
    let m = w.master(M::serving(w.moscow(), &[d]));
    let days = chrono::Duration::days;
    let old = w.closed_order(t0() - days(20), d, m, t0() - days(14) - secs(1));
    assert!(matches!(w.guarantee(t0(), old), Err(Error::GuaranteeNotAllowed { why: "warranty_over" })));
    let recent = w.closed_order(t0() - days(20), d, m, t0() - days(13));
    assert!(w.guarantee(t0(), recent).is_ok(), "13 days after closing is inside the 14-day window");
}
