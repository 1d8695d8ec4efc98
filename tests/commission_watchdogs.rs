//! The commission watchdogs with the moved clock (product.md §4.5, §8 F8, F9, F11, F12; decisions §B.16,
//! §B.17, D-21): reminders at the smallest threshold once, overdue → blocked, the block lifted when the
//! last overdue commission is paid (setting on) and kept otherwise; he gets offers again.

mod common;

use chrono::Duration;
use common::{M, World, t0};
use fieldservice::domain::OrderStatus;
use fieldservice::money::commissions::{self, CommissionStatus};
use fieldservice::money::watchdogs;

struct Case {
    w: World,
    district: i64,
    master: i64,
}

impl Case {
    fn new() -> Self {
        let w = World::new();
        let city = w.moscow();
        let district = w.district(city, "Центральный");
        let master = w.master(M::serving(city, &[district]));
        Self { w, district, master }
    }

    fn close(&self, now: chrono::DateTime<chrono::Utc>, total_kop: i64) -> (i64, i64) {
        let order = self.w.busy_order(now, self.district, self.master, OrderStatus::Payment);
        self.w.exec("UPDATE orders SET total_sum_kop = ?2 WHERE id = ?1", [order, total_kop]);
        (order, self.w.write(|tx| commissions::create(tx, now, order)).unwrap().unwrap())
    }

    fn run(&self, now: chrono::DateTime<chrono::Utc>) -> watchdogs::Watch {
        self.w.write(|tx| Ok(watchdogs::run(tx, now)?)).unwrap()
    }

    fn status(&self, id: i64) -> CommissionStatus {
        self.w.write(|tx| commissions::for_master(tx, self.master, id)).unwrap().status
    }

    fn blocked(&self) -> (bool, Option<String>) {
        self.w.read(|c| c.query_row("SELECT is_blocked, blocked_reason FROM masters WHERE id = ?1", [self.master], |r| Ok((r.get(0)?, r.get(1)?))))
    }
}

#[test]
fn f11_f12_one_reminder_per_threshold_and_only_the_smallest_reached() {
    let c = Case::new();
    let (_, id) = c.close(t0(), 300_000);
    assert_eq!(c.run(t0()).reminded, vec![(id, 6)], "3 h before the deadline: the 6 h reminder, not 24 h too");
    assert!(c.run(t0() + Duration::minutes(30)).reminded.is_empty(), "once per threshold");
    assert_eq!(c.run(t0() + Duration::minutes(130)).reminded, vec![(id, 1)], "50 minutes left: the 1 h reminder");
    assert!(c.run(t0() + Duration::minutes(140)).reminded.is_empty());
    let sent: Vec<i64> = c.w.read(|x| x.prepare("SELECT hours_before FROM commission_deadline_notifications WHERE commission_id = ?1 ORDER BY hours_before DESC")?.query_map([id], |r| r.get(0))?.collect());
    assert_eq!(sent, [6, 1]);
    let feed: i64 = c.w.scalar("SELECT COUNT(*) FROM notifications_outbox WHERE master_id = ?1 AND event = 'commission_reminder'", [c.master]);
    assert_eq!(feed, 2);
}

#[test]
fn f8_f9_overdue_blocks_once_and_reported_is_never_overdue() {
    let c = Case::new();
    let (_, late) = c.close(t0(), 500_000);
    let (_, reported) = c.close(t0(), 500_000);
    c.w.write(|tx| commissions::report_paid(tx, t0() + Duration::hours(1), c.master, reported)).unwrap();
    assert!(c.run(t0() + Duration::hours(3)).overdue.is_empty(), "not before the deadline has passed");
    assert_eq!(c.run(t0() + Duration::hours(4)).overdue, vec![late]);
    assert_eq!((c.status(late), c.status(reported)), (CommissionStatus::Overdue, CommissionStatus::Reported));
    assert_eq!(c.blocked(), (true, Some("commission_overdue".into())));
    assert!(c.run(t0() + Duration::hours(5)).overdue.is_empty(), "a second run finds nothing new");
    let told: i64 = c.w.scalar("SELECT COUNT(*) FROM notifications_outbox WHERE master_id = ?1 AND event = 'account_blocked'", [c.master]);
    assert_eq!(told, 1);
}

#[test]
fn d21_paying_the_last_overdue_lifts_the_block_and_he_gets_offers_again() {
    let c = Case::new();
    let (_, first) = c.close(t0(), 300_000);
    let (_, second) = c.close(t0(), 300_000);
    c.run(t0() + Duration::hours(4));
    assert!(c.blocked().0);
    c.w.write(|tx| commissions::report_paid(tx, t0() + Duration::hours(5), c.master, first)).unwrap();
    c.w.write(|tx| commissions::approve(tx, t0() + Duration::hours(5), &c.w.admin, first, None)).unwrap();
    assert!(c.blocked().0, "one overdue left: still blocked");
    c.w.write(|tx| commissions::approve(tx, t0() + Duration::hours(6), &c.w.admin, second, None)).unwrap();
    assert_eq!(c.blocked(), (false, None), "the last one paid lifts the block");
    assert_eq!(c.w.scalar::<i64, _>("SELECT is_active FROM masters WHERE id = ?1", [c.master]), 1);

    // Back on shift he is offered a new order.
    c.w.exec("UPDATE masters SET shift_status = 'SHIFT_ON', is_on_shift = 1 WHERE id = ?1", [c.master]);
    let order = c.w.order(t0() + Duration::hours(7), c.district);
    c.w.tick(t0() + Duration::hours(7));
    assert_eq!(c.w.offered_to(order), vec![c.master]);
}

#[test]
fn d21_a_manual_block_or_the_setting_off_keeps_the_block() {
    let off = Case::new();
    off.w.settings(&[("unblock_on_commission_paid", "false")]);
    let (_, id) = off.close(t0(), 300_000);
    off.run(t0() + Duration::hours(4));
    off.w.write(|tx| commissions::approve(tx, t0() + Duration::hours(5), &off.w.admin, id, None)).unwrap();
    assert_eq!(off.blocked(), (true, Some("commission_overdue".into())), "setting off: upstream behaviour");

    let manual = Case::new();
    let (_, id) = manual.close(t0(), 300_000);
    manual.w.exec("UPDATE masters SET is_blocked = 1, is_active = 0, blocked_reason = 'fraud' WHERE id = ?1", [manual.master]);
    manual.run(t0() + Duration::hours(4));
    assert_eq!(manual.status(id), CommissionStatus::Overdue);
    manual.w.write(|tx| commissions::approve(tx, t0() + Duration::hours(5), &manual.w.admin, id, None)).unwrap();
    assert_eq!(manual.blocked(), (true, Some("fraud".into())), "another reason is never lifted automatically");
}

#[test]
fn f10_five_unpaid_jobs_stop_his_offers_and_paying_them_brings_them_back() {
    let c = Case::new();
    c.w.exec("UPDATE masters SET shift_status = 'SHIFT_ON', is_on_shift = 1 WHERE id = ?1", [c.master]);
    let ids: Vec<i64> = (0..5).map(|_| c.close(t0(), 300_000).1).collect();
    let first = c.w.order(t0() + Duration::minutes(1), c.district);
    c.w.tick(t0() + Duration::minutes(1));
    assert!(c.w.offered_to(first).is_empty(), "five jobs in PAYMENT fill his limit of five (F10)");

    let later = t0() + Duration::minutes(30);
    for id in ids {
        c.w.write(|tx| commissions::report_paid(tx, later, c.master, id)).unwrap();
        c.w.write(|tx| commissions::approve(tx, later, &c.w.admin, id, None)).unwrap();
    }
    assert_eq!(c.w.scalar::<i64, _>("SELECT COUNT(*) FROM orders WHERE assigned_master_id = ?1 AND status = 'CLOSED'", [c.master]), 5);
    let second = c.w.order(later + Duration::minutes(1), c.district);
    c.w.tick(later + Duration::minutes(1));
    assert!(c.w.offered_to(first).contains(&c.master) || c.w.offered_to(second).contains(&c.master), "five CLOSED jobs leave him free for offers");
}
