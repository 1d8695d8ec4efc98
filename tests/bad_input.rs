//! Bad input to every service function gets a typed refusal and changes nothing: each call runs in its own
//! write transaction, as production callers do, and the whole database is compared before and after.

mod common;

use common::*;
use fieldservice::domain::{CityId, DistrictId, MasterId, OfferId, OrderId, OrderStatus, StaffRole};
use fieldservice::engine;
use fieldservice::error::Error;
use fieldservice::orders::NewOrder;
use fieldservice::settings::Settings;
use fieldservice::staff::{self, Staff};
use fieldservice::{masters, offers, orders};
use rusqlite::Transaction;

const UNKNOWN: i64 = 999_999;

/// A populated database: orders in every interesting status, masters of two cities, a foreign city admin.
struct Shop {
    w: World,
    msk: CityId,
    d: DistrictId,
    foreign_district: DistrictId,
    m: MasterId,
    off_shift: MasterId,
    plumber: MasterId,
    foreign_master: MasterId,
    foreign_admin: Staff,
    searching: OrderId,
    live_offer: OfferId,
    assigned: OrderId,
    payment: OrderId,
    closed: OrderId,
    canceled: OrderId,
    deferred: OrderId,
}

fn shop() -> Shop {
    let w = World::new();
    let (msk, vvo) = (w.moscow(), w.city("Владивосток"));
    let d = w.district(msk, "Центральный");
    let foreign_district = w.district(vvo, "Первореченский");
    let m = w.master(M::serving(msk, &[d]).limit(10));
    let off_shift = w.master(M::serving(msk, &[d]).off_shift());
    let plumber = w.master(M::serving(msk, &[d]).skills(&[Category::Plumbing]));
    let foreign_master = w.master(M::serving(vvo, &[foreign_district]));
    let foreign_admin = w.staff(StaffRole::CityAdmin, &[vvo]);
    w.staff(StaffRole::Logist, &[msk]);

    let assigned = w.busy_order(t0() - mins(50), d, m, OrderStatus::Assigned);
    let payment = w.busy_order(t0() - mins(40), d, m, OrderStatus::Payment);
    let closed = w.busy_order(t0() - mins(30), d, m, OrderStatus::Closed);
    let canceled = w.order(t0() - mins(20), d);
    w.write(|tx| orders::cancel(tx, t0() - mins(19), &w.admin, canceled, "Клиент передумал")).unwrap();
    let deferred = w.create(t0(), &NewOrder { defer: true, ..w.form(msk, Some(d)) }).unwrap().id;
    let searching = w.order(t0(), d);
    w.tick(t0());
    let live_offer = w.open_offer(searching).id;
    assert_eq!(w.open_offer(searching).master_id, m);
    Shop {
        w,
        msk,
        d,
        foreign_district,
        m,
        off_shift,
        plumber,
        foreign_master,
        foreign_admin,
        searching,
        live_offer,
        assigned,
        payment,
        closed,
        canceled,
        deferred,
    }
}

impl Shop {
    /// Runs `f` in a write transaction, expects a refusal with `code` and an unchanged database.
    #[track_caller]
    fn refused<T: std::fmt::Debug>(&self, code: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T, Error>) -> Error {
        let before = self.w.dump();
        let err = assert_code(self.w.write(f), code);
        let after = self.w.dump();
        assert!(before == after, "the refused call ({err:?}) changed the database");
        err
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        t0() + mins(1)
    }
}

fn not_found(err: Error, expected: &str) {
    assert!(matches!(err, Error::NotFound { what } if what == expected), "{err:?}, expected not found {expected}");
}

#[test]
fn unknown_ids_are_not_found() {
    let s = shop();
    let (w, now, admin) = (&s.w, s.now(), &s.w.admin);
    not_found(s.refused("not_found", |tx| orders::cancel(tx, now, admin, UNKNOWN, "Клиент передумал")), "order");
    not_found(s.refused("not_found", |tx| orders::return_to_search(tx, now, admin, UNKNOWN)), "order");
    not_found(s.refused("not_found", |tx| orders::activate_deferred(tx, now, admin, UNKNOWN)), "order");
    not_found(s.refused("not_found", |tx| orders::create_guarantee(tx, now, admin, UNKNOWN)), "order");
    not_found(s.refused("not_found", |tx| orders::assign_directly(tx, now, admin, UNKNOWN, s.m, false)), "order");
    not_found(s.refused("not_found", |tx| orders::assign_directly(tx, now, admin, s.searching, UNKNOWN, false)), "master");
    not_found(s.refused("not_found", |tx| offers::manual_offer(tx, now, admin, UNKNOWN, s.m, false)), "order");
    not_found(s.refused("not_found", |tx| offers::manual_offer(tx, now, admin, s.searching, UNKNOWN, false)), "master");
    not_found(s.refused("not_found", |tx| engine::auto_distribute_now(tx, now, admin, UNKNOWN, false, 1).map(drop)), "order");
    not_found(s.refused("not_found", |tx| offers::accept(tx, now, s.m, UNKNOWN)), "offer");
    not_found(s.refused("not_found", |tx| offers::accept(tx, now, UNKNOWN, s.live_offer)), "master");
    not_found(s.refused("not_found", |tx| offers::accept(tx, now, s.off_shift, s.live_offer)), "offer"); // someone else's
    not_found(s.refused("not_found", |tx| offers::decline(tx, now, s.m, UNKNOWN)), "offer");
    not_found(s.refused("not_found", |tx| offers::decline(tx, now, s.plumber, s.live_offer)), "offer");
    not_found(s.refused("not_found", |tx| offers::view(tx, now, s.m, UNKNOWN)), "offer");
    not_found(s.refused("not_found", |tx| masters::shift_on(tx, now, UNKNOWN)), "master");
    not_found(s.refused("not_found", |tx| masters::shift_off(tx, now, UNKNOWN)), "master");
    not_found(s.refused("not_found", |tx| masters::start_break(tx, now, UNKNOWN, 15)), "master");
    not_found(s.refused("not_found", |tx| masters::extend_break(tx, now, UNKNOWN, 15)), "master");
    not_found(s.refused("not_found", |tx| masters::end_break(tx, now, UNKNOWN)), "master");
    assert_code(offers::accept_now(&w.db, now, s.m, UNKNOWN), "not_found");
}

#[test]
fn actions_in_the_wrong_status_are_refused() {
    let s = shop();
    let (now, admin) = (s.now(), &s.w.admin);
    let cancel = |id| move |tx: &Transaction<'_>| orders::cancel(tx, now, admin, id, "Клиент передумал");
    s.refused("wrong_status", cancel(s.closed));
    s.refused("wrong_status", cancel(s.payment));
    s.refused("wrong_status", |tx| orders::activate_deferred(tx, now, admin, s.searching));
    s.refused("wrong_status", |tx| orders::activate_deferred(tx, now, admin, s.assigned));
    s.refused("already_assigned", |tx| offers::manual_offer(tx, now, admin, s.assigned, s.off_shift, true));
    s.refused("wrong_status", |tx| offers::manual_offer(tx, now, admin, s.canceled, s.m, true));
    for id in [s.payment, s.closed, s.canceled] {
        s.refused("wrong_status", |tx| orders::return_to_search(tx, now, admin, id));
    }
    s.refused("already_assigned", |tx| orders::assign_directly(tx, now, admin, s.assigned, s.off_shift, true));
    s.refused("already_assigned", |tx| engine::auto_distribute_now(tx, now, admin, s.assigned, false, 1).map(drop));
    s.refused("deferred_needs_confirmation", |tx| engine::auto_distribute_now(tx, now, admin, s.deferred, false, 1).map(drop));
    s.refused("guarantee_not_allowed", |tx| orders::create_guarantee(tx, now, admin, s.searching));
    s.refused("offer_conflict", |tx| offers::manual_offer(tx, now, admin, s.searching, s.m, false));
    s.refused("offer_conflict", |tx| engine::auto_distribute_now(tx, now, admin, s.searching, false, 1).map(drop));
}

#[test]
fn staff_of_another_city_cannot_see_the_order() {
    let s = shop();
    let (now, foreign) = (s.now(), &s.foreign_admin);
    not_found(s.refused("not_found", |tx| orders::cancel(tx, now, foreign, s.searching, "Клиент передумал")), "order");
    not_found(s.refused("not_found", |tx| orders::return_to_search(tx, now, foreign, s.assigned)), "order");
    not_found(s.refused("not_found", |tx| orders::activate_deferred(tx, now, foreign, s.deferred)), "order");
    not_found(s.refused("not_found", |tx| orders::assign_directly(tx, now, foreign, s.searching, s.off_shift, true)), "order");
    not_found(s.refused("not_found", |tx| offers::manual_offer(tx, now, foreign, s.searching, s.off_shift, true)), "order");
    not_found(s.refused("not_found", |tx| orders::create_guarantee(tx, now, foreign, s.closed)), "order");
    not_found(s.refused("not_found", |tx| engine::auto_distribute_now(tx, now, foreign, s.deferred, true, 1).map(drop)), "order");
    let form = s.w.form(s.msk, Some(s.d));
    not_found(s.refused("not_found", |tx| orders::create(tx, now, foreign, &form)), "city");
    let nowhere = NewOrder { city_id: UNKNOWN, district_id: None, ..form };
    not_found(s.refused("not_found", |tx| orders::create(tx, now, &s.w.admin, &nowhere)), "city");
}

#[test]
fn invalid_settings_are_refused_whole() {
    let s = shop();
    let now = s.now();
    let bad: &[(&[(&str, &str)], &str)] = &[
        (&[("max_active_orders", "-1")], "max_active_orders"),
        (&[("max_active_orders", "0")], "max_active_orders"),
        (&[("distribution_sla_seconds", "5")], "distribution_sla_seconds"),
        (&[("distribution_rounds", "0")], "distribution_rounds"),
        (&[("distribution_rounds", "two")], "distribution_rounds"),
        (&[("distribution_tick_seconds", "3601")], "distribution_tick_seconds"),
        (&[("escalate_to_admin_after_min", "1441")], "escalate_to_admin_after_min"),
        (&[("working_hours_start", "25:00")], "working_hours_start"),
        (&[("working_hours_start", "21:00")], "working_hours_end"),
        (&[("working_hours_start", "12:00"), ("working_hours_end", "11:00")], "working_hours_end"),
        (&[("citywide_fallback", "maybe")], "citywide_fallback"),
        (&[("distribution_rounds", "3"), ("distribution_sla_seconds", "5")], "distribution_sla_seconds"),
        (&[("no_such_setting", "1")], "setting"),
    ];
    for (changes, field) in bad {
        let err = s.refused("invalid", |tx| Settings::update(tx, now, changes));
        assert!(matches!(err, Error::Invalid { field: f, .. } if f == *field), "{changes:?}: {err:?}");
    }
    let settings = s.w.read(|c| Ok(Settings::load(c).unwrap()));
    assert_eq!((settings.distribution_rounds, settings.distribution_sla_seconds, settings.max_active_orders), (2, 120, 5));
}

#[test]
fn invalid_order_forms_are_refused() {
    let s = shop();
    let now = s.now();
    let form = s.w.form(s.msk, Some(s.d));
    let cases: Vec<(NewOrder, &str)> = vec![
        (NewOrder { client_phone: "12345".into(), ..form.clone() }, "client_phone"),
        (NewOrder { client_phone: "+15551234567".into(), ..form.clone() }, "client_phone"),
        (NewOrder { description: Some("Сломалось".into()), ..form.clone() }, "description"),
        (NewOrder { description: Some("я".repeat(501)), ..form.clone() }, "description"),
        (NewOrder { house: Some("12345678901".into()), ..form.clone() }, "house"),
        (NewOrder { apartment: Some("12345678901".into()), ..form.clone() }, "apartment"),
        (NewOrder { client_name: Some("1van".into()), ..form.clone() }, "client_name"),
        (NewOrder { street_manual: Some("Я".into()), ..form.clone() }, "street_manual"),
        (NewOrder { category: None, ..form.clone() }, "category"),
        (NewOrder { district_id: Some(s.foreign_district), ..form.clone() }, "district_id"),
        (NewOrder { district_id: Some(UNKNOWN), ..form.clone() }, "district_id"),
        (NewOrder { timeslot: Some((now + mins(60), now + mins(30)).into()), ..form.clone() }, "timeslot"),
        (NewOrder { timeslot: Some((now - mins(120), now - mins(60)).into()), ..form.clone() }, "timeslot"),
    ];
    for (input, field) in &cases {
        let err = s.refused("invalid", |tx| orders::create(tx, now, &s.w.admin, input));
        assert!(matches!(err, Error::Invalid { field: f, .. } if f == *field), "{field}: {err:?}");
    }
    // The boundaries themselves are accepted.
    let ok = NewOrder { description: Some("Сломалась!".into()), house: Some("1234567890".into()), ..form };
    assert_eq!(s.w.create(now, &ok).unwrap().status, OrderStatus::Searching);
}

#[test]
fn bad_master_and_offer_requests_are_refused() {
    let s = shop();
    let (now, admin) = (s.now(), &s.w.admin);
    s.refused("invalid", |tx| masters::start_break(tx, now, s.m, 7));
    s.refused("invalid", |tx| masters::start_break(tx, now, s.m, 0));
    s.refused("shift_not_active", |tx| masters::start_break(tx, now, s.off_shift, 15));

    let err = s.refused("master_not_eligible", |tx| offers::manual_offer(tx, now, admin, s.searching, s.foreign_master, true));
    assert!(matches!(&err, Error::MasterNotEligible { reasons } if reasons.contains(&"wrong_city".to_string())), "{err:?}");
    let err = s.refused("master_not_eligible", |tx| offers::manual_offer(tx, now, admin, s.searching, s.plumber, true));
    assert!(matches!(&err, Error::MasterNotEligible { reasons } if reasons == &["missing_skill".to_string()]), "{err:?}");
    s.refused("master_not_eligible", |tx| orders::assign_directly(tx, now, admin, s.searching, s.foreign_master, true));

    let err = s.refused("needs_confirmation", |tx| offers::manual_offer(tx, now, admin, s.searching, s.off_shift, false));
    assert!(matches!(&err, Error::NeedsConfirmation { reasons } if reasons == &["not_on_shift".to_string()]), "{err:?}");
    s.refused("needs_confirmation", |tx| orders::assign_directly(tx, now, admin, s.searching, s.off_shift, false));
    let forced = s.w.manual_offer(now, admin, s.searching, s.off_shift, true).expect("with confirmation it goes out");
    assert_eq!((forced.master_id, forced.round_number), (s.off_shift, 2));
    assert_eq!(s.w.offers(s.searching).iter().filter(|f| f.state.is_open()).count(), 2);
}

#[test]
fn bad_staff_accounts_are_refused() {
    let s = shop();
    let now = s.now();
    s.refused("invalid", |tx| staff::create(tx, now, "has space", "h", StaffRole::Logist, "", &[s.msk]));
    s.refused("invalid", |tx| staff::create(tx, now, "x", "h", StaffRole::Logist, "", &[s.msk]));
    s.refused("invalid", |tx| staff::create(tx, now, "ROOT", "h", StaffRole::Logist, "", &[s.msk]));
    s.refused("invalid", |tx| staff::create(tx, now, "nocity", "h", StaffRole::Logist, "", &[]));
    s.refused("invalid", |tx| staff::create(tx, now, "ghosttown", "h", StaffRole::CityAdmin, "", &[UNKNOWN]));
}

#[test]
fn a_blocked_master_cannot_accept_and_nothing_changes() {
    let s = shop();
    s.w.exec("UPDATE masters SET is_blocked = 1, is_active = 0, blocked_reason = 'долг' WHERE id = ?1", [s.m]);
    let err = s.refused("master_blocked", |tx| offers::accept(tx, s.now(), s.m, s.live_offer));
    assert!(matches!(err, Error::MasterBlocked { ref reason } if reason == "долг"));
    assert_code(offers::accept_now(&s.w.db, s.now(), s.m, s.live_offer), "master_blocked");
    assert_eq!(s.w.status(s.searching), OrderStatus::Searching);
}

#[test]
fn an_empty_house_is_refused() {
    let s = shop();
    let form = NewOrder { house: Some(String::new()), ..s.w.form(s.msk, Some(s.d)) };
    s.refused("invalid", |tx| orders::create(tx, s.now(), &s.w.admin, &form));
}
