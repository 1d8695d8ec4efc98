//! Decisions D-20: an order in a city without districts searches the whole city, "no district" exists only
//! where the city has districts, and the manual candidate list's "auto would pick" is what a tick does.

mod common;

use common::*;
use fieldservice::db::{Db, Durability};
use fieldservice::domain::{Category, MasterId, OrderId, OrderStatus};
use fieldservice::engine;

/// The first candidate the list marks `auto_eligible`, then what the next tick really does: they agree.
fn predicted_then_offered(w: &World, order: OrderId) -> (Option<MasterId>, Option<MasterId>) {
    let list = w.db.read(|c| engine::manual_candidates(c, t0(), &w.admin, order)).unwrap();
    let predicted = list.iter().find(|c| c.auto_eligible).map(|c| c.master_id);
    let offered = sent_to(&w.tick(t0()), order);
    (predicted, offered)
}

#[test]
fn every_shape_of_order_is_offered_to_the_first_auto_eligible_candidate_or_to_nobody() {
    let w = World::new();
    let msk = w.moscow();
    let centre = w.district(msk, "Центральный");
    let kaliningrad = w.city("Калининград");
    let m_best = w.master(M::serving(msk, &[centre]).car());
    w.master(M::serving(msk, &[centre]).rating(4.0));
    let (k_best, k_next) = (w.master(M::serving(kaliningrad, &[]).rating(4.8)), w.master(M::serving(kaliningrad, &[]).rating(3.0)));

    let in_district = w.order(t0(), centre);
    assert_eq!(predicted_then_offered(&w, in_district), (Some(m_best), Some(m_best)));

    // "No district" chosen in a city that has districts: manual assignment only.
    let no_district = w.order_without_district(t0(), msk);
    assert!(w.load(no_district).no_district);
    assert_eq!(predicted_then_offered(&w, no_district), (None, None));
    assert!(w.escalation(no_district).logist_at.is_some(), "it goes to a dispatcher at once");

    // A city without districts: searched city-wide, never "no district".
    let citywide = w.order_without_district(t0(), kaliningrad);
    assert!(!w.load(citywide).no_district);
    assert_eq!(predicted_then_offered(&w, citywide), (Some(k_best), Some(k_best)));

    // A guarantee order there goes to the master of the original job first.
    let source = w.order_without_district(t0() - mins(90), kaliningrad);
    w.db.write(|tx| tx.execute("UPDATE orders SET status = 'CLOSED', assigned_master_id = ?2, closed_at = ?3, total_sum_kop = 150000 WHERE id = ?1",
        rusqlite::params![source, k_next, fieldservice::db::ms(t0() - mins(60))])).unwrap();
    let guarantee = w.guarantee(t0(), source).unwrap().id;
    assert_eq!(predicted_then_offered(&w, guarantee), (Some(k_next), Some(k_next)));

    // Deferred by staff: nobody now.
    let deferred = w.create(t0(), &fieldservice::orders::NewOrder { defer: true, ..w.form(kaliningrad, None) }).unwrap();
    assert_eq!(deferred.status, OrderStatus::Deferred);
    assert_eq!(predicted_then_offered(&w, deferred.id), (None, None));

    // Nobody has the skill: nobody is predicted, nobody is offered.
    let roadside = w.create(t0(), &fieldservice::orders::NewOrder { category: Some(Category::Roadside), ..w.form(kaliningrad, None) }).unwrap().id;
    assert_eq!(predicted_then_offered(&w, roadside), (None, None));
}

#[test]
fn the_order_forms_require_a_district_only_where_the_city_has_one() {
    let w = World::new();
    let msk = w.moscow();
    w.district(msk, "Центральный");
    let kaliningrad = w.city("Калининград");
    let unset = |city| fieldservice::orders::NewOrder { district_required: true, ..w.form(city, None) };
    let refused = w.create(t0(), &unset(msk));
    assert_code(refused, "invalid");
    let created = w.create(t0(), &unset(kaliningrad)).unwrap();
    assert!(!w.load(created.id).no_district);
}

/// Orders saved before D-20 in cities without districts were "no district" and escalated on every tick:
/// the upgrade makes the open ones distributable and leaves closed ones and real "no district" alone.
#[test]
fn the_upgrade_clears_no_district_on_open_orders_of_cities_without_districts() {
    let w = World::new();
    let msk = w.moscow();
    w.district(msk, "Центральный");
    let kaliningrad = w.city("Калининград");
    let k = w.master(M::serving(kaliningrad, &[]));
    let stuck = w.order_without_district(t0(), kaliningrad);
    let closed = w.order_without_district(t0(), kaliningrad);
    let real = w.order_without_district(t0(), msk);
    w.db.write(|tx| {
        tx.execute("UPDATE orders SET no_district = 1 WHERE id IN (?1, ?2)", [stuck, closed])?;
        tx.execute("UPDATE orders SET status = 'CLOSED' WHERE id = ?1", [closed])?;
        // Back to a version-1 file: what the later migrations add that cannot be created twice goes.
        tx.execute_batch("DROP TABLE push_subscriptions; DROP TABLE push_vapid; ALTER TABLE notifications_outbox DROP COLUMN next_attempt_at; ALTER TABLE orders DROP COLUMN master_note;")?;
        tx.pragma_update(None, "user_version", 1)
    })
    .unwrap();
    let path = w.db.path().to_path_buf();
    let upgraded = Db::open(&path, Durability::Normal).unwrap();
    let no_district = |id: OrderId| -> bool {
        upgraded.read(|c| c.query_row("SELECT no_district FROM orders WHERE id = ?1", [id], |r| r.get(0)).map_err(fieldservice::db::DbError::from)).unwrap()
    };
    assert!(!no_district(stuck));
    assert!(no_district(closed), "closed orders keep their history");
    assert!(no_district(real));
    assert_eq!(sent_to(&w.tick(t0()), stuck), Some(k));
}
