//! Commissions at the service level with the moved clock (product.md §8 group F and G): the rate and
//! rounding, the snapshot of the owner's requisites, idempotence, "I paid", approve and reject.

mod common;

use chrono::Duration;
use common::{M, World, t0};
use fieldservice::domain::{OrderStatus, StaffRole};
use fieldservice::error::Error;
use fieldservice::money::commissions::{self, CommissionStatus};
use fieldservice::money::finance::{self, StaffFilter};
use fieldservice::money::requisites::{self, Requisites};

struct Money {
    w: World,
    district: i64,
    master: i64,
}

impl Money {
    fn new() -> Self {
        let w = World::new();
        let city = w.moscow();
        let district = w.district(city, "Центральный");
        let master = w.master(M::serving(city, &[district]));
        w.exec("UPDATE masters SET full_name = 'Иванов Иван Иванович' WHERE id = ?1", [master]);
        Self { w, district, master }
    }

    /// A PAYMENT order of the master with `total_kop`, and its commission created at `now`.
    fn close(&self, now: chrono::DateTime<chrono::Utc>, total_kop: i64) -> (i64, Option<i64>) {
        let order = self.w.busy_order(now, self.district, self.master, OrderStatus::Payment);
        self.w.exec("UPDATE orders SET total_sum_kop = ?2 WHERE id = ?1", [order, total_kop]);
        (order, self.w.write(|tx| commissions::create(tx, now, order)).unwrap())
    }

    fn commission(&self, id: i64) -> commissions::Commission {
        self.w.write(|tx| commissions::for_master(tx, self.master, id)).unwrap()
    }

    fn requisites(&self, r: Requisites) {
        self.w.write(|tx| requisites::update(tx, t0(), &r)).unwrap();
    }
}

fn card_and_sbp() -> Requisites {
    Requisites {
        methods: vec!["card".into(), "sbp".into()],
        card_number: "2200 1234 5678 9012".into(),
        sbp_phone: "8 999 123-45-67".into(),
        ..Requisites::default()
    }
}

#[test]
fn f2_f5_basic_commission_with_snapshot_deadline_and_idempotence() {
    let m = Money::new();
    m.requisites(card_and_sbp());
    let (order, id) = m.close(t0(), 300_000);
    let c = m.commission(id.unwrap());
    assert_eq!((c.rate_percent, c.amount_kop, c.status), (50, 150_000, CommissionStatus::WaitPay));
    assert_eq!(c.deadline_at, t0() + Duration::hours(3));
    assert_eq!(c.pay_to.card_number_last4.as_deref(), Some("9012"));
    assert_eq!(c.pay_to.methods, vec!["card", "sbp"]);
    assert_eq!(c.pay_to.sbp_phone_masked.as_deref(), Some("+7*** *** ** 67"));
    assert_eq!(c.pay_to.comment, Some(format!("Комиссия #{order} от Иванов Иван Иванович")));
    let again = m.w.write(|tx| commissions::create(tx, t0() + Duration::hours(1), order)).unwrap();
    assert_eq!(again, id, "a second creation returns the same commission");
    assert_eq!(m.w.scalar::<i64, _>("SELECT COUNT(*) FROM commissions WHERE order_id = ?1", [order]), 1);
}

#[test]
fn f1_f3_f4_the_high_rate_follows_the_weekly_average_of_closed_orders() {
    let m = Money::new();
    // 6 999,99 average → 50 %.
    let old = m.w.closed_order(t0() - Duration::days(1), m.district, m.master, t0() - Duration::days(1));
    m.w.exec("UPDATE orders SET total_sum_kop = 699999 WHERE id = ?1", [old]);
    let (_, low) = m.close(t0(), 400_000);
    assert_eq!(m.commission(low.unwrap()).rate_percent, 50);
    // 7 000 → 40 %: 4000 → 1600, 5000 → 2000.
    m.w.exec("UPDATE orders SET total_sum_kop = 700000 WHERE id = ?1", [old]);
    let (_, high) = m.close(t0(), 400_000);
    assert_eq!((m.commission(high.unwrap()).rate_percent, m.commission(high.unwrap()).amount_kop), (40, 160_000));
    let (_, high2) = m.close(t0(), 500_000);
    assert_eq!(m.commission(high2.unwrap()).amount_kop, 200_000);
    // Only orders created within 7 days count: 9000 eight days ago → 50 %.
    m.w.exec("UPDATE orders SET total_sum_kop = 900000, created_at = ?2 WHERE id = ?1", [old, fieldservice::db::ms(t0() - Duration::days(8))]);
    let (_, stale) = m.close(t0(), 400_000);
    assert_eq!(m.commission(stale.unwrap()).rate_percent, 50);
}

#[test]
fn the_rate_settings_apply_and_amounts_round_half_up() {
    let m = Money::new();
    m.w.settings(&[("commission_rate_percent", "33"), ("commission_deadline_hours", "5")]);
    let (_, id) = m.close(t0(), 100_001); // 1000,01 × 33 % = 330,0033 → 330,00
    let c = m.commission(id.unwrap());
    assert_eq!((c.rate_percent, c.amount_kop, c.deadline_at), (33, 33_000, t0() + Duration::hours(5)));
    let (_, id) = m.close(t0(), 150); // 1,50 × 33 % = 0,495 → 0,50
    assert_eq!(m.commission(id.unwrap()).amount_kop, 50);
}

#[test]
fn a_guarantee_order_gets_no_commission() {
    let m = Money::new();
    let source = m.w.closed_order(t0() - Duration::days(1), m.district, m.master, t0() - Duration::days(1));
    let guarantee = m.w.guarantee(t0(), source).unwrap().id;
    m.w.write(|tx| fieldservice::orders::assign_directly(tx, t0(), &m.w.admin, guarantee, m.master, true)).unwrap();
    assert_eq!(m.w.write(|tx| commissions::create(tx, t0(), guarantee)).unwrap(), None);
    assert_eq!(m.w.scalar::<i64, _>("SELECT COUNT(*) FROM commissions", []), 0);
}

#[test]
fn f7_later_edits_of_the_requisites_never_change_a_snapshot() {
    let m = Money::new();
    m.requisites(card_and_sbp());
    let (_, first) = m.close(t0(), 300_000);
    m.requisites(Requisites { methods: vec!["sbp".into()], sbp_phone: "+79990000011".into(), sbp_bank: "New Bank".into(), ..Requisites::default() });
    let (_, second) = m.close(t0(), 300_000);
    assert_eq!(m.commission(first.unwrap()).pay_to.card_number_last4.as_deref(), Some("9012"));
    let next = m.commission(second.unwrap()).pay_to;
    assert_eq!((next.card_number_last4, next.sbp_bank.as_deref(), next.methods), (None, Some("New Bank"), vec!["sbp".to_string()]));
}

#[test]
fn g11_requisites_read_back_and_bad_ones_are_refused_whole() {
    let m = Money::new();
    m.requisites(Requisites { methods: vec!["sbp".into()], sbp_phone: "+79991234567".into(), sbp_bank: "New Bank".into(), other_text: "cash only".into(), ..Requisites::default() });
    let stored = m.w.write(|tx| requisites::load(tx)).unwrap();
    assert_eq!((stored.methods, stored.sbp_bank.as_str(), stored.other_text.as_str()), (vec!["sbp".to_string()], "New Bank", "cash only"));
    let before = m.w.dump();
    for (bad, field) in [
        (Requisites { methods: vec!["card".into()], card_number: "1234".into(), ..Requisites::default() }, "card_number"),
        (Requisites { methods: vec!["bitcoin".into()], ..Requisites::default() }, "methods"),
        (Requisites { methods: vec!["sbp".into()], sbp_phone: "12345".into(), ..Requisites::default() }, "sbp_phone"),
    ] {
        match m.w.write(|tx| requisites::update(tx, t0(), &bad)) {
            Err(Error::Invalid { field: named, .. }) => assert_eq!(named, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(m.w.dump(), before, "a refused edit changes nothing");
}

#[test]
fn g2_g8_i_paid_then_approve_closes_the_order_once() {
    let m = Money::new();
    let (order, id) = m.close(t0(), 300_000);
    let id = id.unwrap();
    let reported = m.w.write(|tx| commissions::report_paid(tx, t0() + Duration::minutes(30), m.master, id)).unwrap();
    assert_eq!((reported.status, reported.paid_reported_at), (CommissionStatus::Reported, Some(t0() + Duration::minutes(30))));
    let approved = m.w.write(|tx| commissions::approve(tx, t0() + Duration::hours(1), &m.w.admin, id, None)).unwrap();
    assert_eq!((approved.status, approved.paid_amount_kop), (CommissionStatus::Approved, Some(150_000)));
    assert_eq!(m.w.status(order), OrderStatus::Closed);
    let closings = m.w.history(order).iter().filter(|h| h.to == "CLOSED").count();
    assert_eq!(closings, 1, "exactly one history row to CLOSED");
    m.w.write(|tx| commissions::approve(tx, t0() + Duration::hours(2), &m.w.admin, id, Some(1))).unwrap();
    assert_eq!(m.commission(id).paid_amount_kop, Some(150_000), "approving again changes nothing");
    assert!(matches!(m.w.write(|tx| commissions::report_paid(tx, t0(), m.master, id)), Err(Error::StateConflict { .. })));
    let events: Vec<String> = m.w.read(|c| c.prepare("SELECT kind FROM order_events WHERE order_id = ?1 AND kind LIKE 'commission_%' ORDER BY id")?.query_map([order], |r| r.get(0))?.collect());
    assert_eq!(events, ["commission_created", "commission_reported", "commission_approved"]);
}

#[test]
fn b19_a_lower_paid_amount_is_kept_beside_the_commission() {
    let m = Money::new();
    let (_, id) = m.close(t0(), 300_000);
    let approved = m.w.write(|tx| commissions::approve(tx, t0(), &m.w.admin, id.unwrap(), Some(100_000))).unwrap();
    assert_eq!((approved.amount_kop, approved.paid_amount_kop), (150_000, Some(100_000)));
    assert!(approved.paid_less());
}

#[test]
fn g3_reject_resets_to_wait_pay_and_tells_the_master_why() {
    let m = Money::new();
    let (_, id) = m.close(t0(), 240_000);
    let id = id.unwrap();
    m.w.write(|tx| commissions::report_paid(tx, t0(), m.master, id)).unwrap();
    let before = m.w.dump();
    assert!(matches!(m.w.write(|tx| commissions::reject(tx, t0(), &m.w.admin, id, "no")), Err(Error::Invalid { field: "reason", .. })));
    assert_eq!(m.w.dump(), before, "a too short reason changes nothing");
    let rejected = m.w.write(|tx| commissions::reject(tx, t0() + Duration::minutes(5), &m.w.admin, id, "invalid receipt")).unwrap();
    assert_eq!((rejected.status, rejected.paid_reported_at, rejected.paid_amount_kop), (CommissionStatus::WaitPay, None, None));
    assert_eq!(rejected.rejection_reason.as_deref(), Some("invalid receipt"));
    assert_eq!(rejected.deadline_at, t0() + Duration::hours(3), "the deadline is unchanged");
    let told: String = m.w.scalar("SELECT payload FROM notifications_outbox WHERE master_id = ?1 AND event = 'commission_rejected'", [m.master]);
    assert!(told.contains("invalid receipt"), "{told}");
}

#[test]
fn g9_overdue_can_be_approved_not_rejected_and_i_paid_keeps_it_overdue() {
    let m = Money::new();
    let (order, id) = m.close(t0(), 300_000);
    let id = id.unwrap();
    m.w.exec("UPDATE commissions SET status = 'OVERDUE' WHERE id = ?1", [id]);
    let reported = m.w.write(|tx| commissions::report_paid(tx, t0() + Duration::hours(4), m.master, id)).unwrap();
    assert_eq!((reported.status, reported.paid_reported_at), (CommissionStatus::Overdue, Some(t0() + Duration::hours(4))));
    assert!(matches!(m.w.write(|tx| commissions::reject(tx, t0(), &m.w.admin, id, "late payment")), Err(Error::StateConflict { why: "commission_overdue" })));
    m.w.write(|tx| commissions::approve(tx, t0() + Duration::hours(5), &m.w.admin, id, None)).unwrap();
    assert_eq!(m.w.status(order), OrderStatus::Closed);
}

#[test]
fn b20_city_admins_see_their_cities_only_and_logists_nothing() {
    let m = Money::new();
    let (_, id) = m.close(t0(), 300_000);
    let id = id.unwrap();
    let piter = m.w.city("Санкт-Петербург");
    let foreign = m.w.staff(StaffRole::CityAdmin, &[piter]);
    let own = m.w.staff(StaffRole::CityAdmin, &[m.w.moscow()]);
    let logist = m.w.staff(StaffRole::Logist, &[m.w.moscow()]);
    assert!(matches!(m.w.write(|tx| commissions::approve(tx, t0(), &foreign, id, None)), Err(Error::NotFound { .. })));
    assert!(matches!(m.w.write(|tx| commissions::card_for_staff(tx, &logist, id)), Err(Error::Forbidden)));
    let wait_pay = StaffFilter { status: Some(CommissionStatus::WaitPay), ..StaffFilter::default() };
    let list = m.w.write(|tx| finance::list(tx, t0(), chrono_tz::Europe::Moscow, &foreign, &wait_pay)).unwrap();
    assert!(list.items.is_empty());
    let list = m.w.write(|tx| finance::list(tx, t0(), chrono_tz::Europe::Moscow, &own, &wait_pay)).unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(matches!(m.w.write(|tx| commissions::for_master(tx, m.master + 1000, id)), Err(Error::NotFound { .. })));
}
