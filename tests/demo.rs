//! The demo data set: what `fieldservice demo` loads, that it is sound, that it refuses a second load, and
//! that the first scheduler tick finds work at night as well as by day.

use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};
use fieldservice::db::{Db, DbError, Durability};
use fieldservice::domain::{OrderId, OrderStatus, StaffRole};
use fieldservice::engine::{self, TickOptions};
use fieldservice::error::Error;
use fieldservice::{check, demo, password};
use rusqlite::Connection;
use tempfile::TempDir;

fn open() -> (TempDir, Db) {
    let dir = TempDir::new().unwrap();
    let db = Db::open(&dir.path().join("demo.sqlite"), Durability::Normal).unwrap();
    (dir, db)
}

fn read<T>(db: &Db, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> T {
    db.read(|c| f(c).map_err(DbError::from)).unwrap()
}

fn problems(db: &Db) -> Vec<String> {
    read(db, check::run)
}

/// Row counts of the tables the demo writes, to prove a refused load changes nothing.
fn counts(db: &Db) -> Vec<i64> {
    let tables = ["districts", "streets", "staff_users", "masters", "orders", "order_status_history", "offers", "commissions", "order_events"];
    read(db, |c| tables.iter().map(|t| c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))).collect())
}

fn searching_orders(db: &Db) -> HashSet<OrderId> {
    read(db, |c| {
        c.prepare("SELECT id FROM orders WHERE status = 'SEARCHING' AND no_district = 0")?.query_map([], |r| r.get(0))?.collect()
    })
}

/// Loads the demo at `now`, checks it, then runs one tick and checks that it offered demo orders.
fn load_and_tick(now: DateTime<Utc>) -> (TempDir, Db) {
    let (dir, db) = open();
    assert!(read(&db, demo::is_empty), "a fresh database (with its reference cities) is empty");
    let summary = demo::load(&db, now).unwrap();
    assert!(!read(&db, demo::is_empty));
    assert_eq!(problems(&db), Vec::<String>::new());

    let searching = searching_orders(&db);
    assert!(searching.len() >= 3, "several fresh SEARCHING orders: {searching:?}");
    assert_eq!(summary.count(OrderStatus::Searching), searching.len() as i64 + 1, "plus the one without a district");

    let report = engine::tick(&db, now, TickOptions { seed: 1, max_orders: 100 }).unwrap();
    assert!(report.ran);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let offered: HashSet<OrderId> = report.offers_sent.iter().map(|o| o.order_id).collect();
    assert_eq!(offered.intersection(&searching).count(), searching.len(), "every fresh SEARCHING order gets an offer: {report:?}");
    assert_eq!(problems(&db), Vec::<String>::new());

    // The guarantee order goes first to its original master, who is on shift.
    let (guarantee, preferred): (OrderId, i64) =
        read(&db, |c| c.query_row("SELECT id, preferred_master_id FROM orders WHERE type = 'GUARANTEE'", [], |r| Ok((r.get(0)?, r.get(1)?))));
    let offer = report.offers_sent.iter().find(|o| o.order_id == guarantee).expect("the guarantee order is offered");
    assert_eq!(offer.master_id, preferred);
    (dir, db)
}

#[test]
fn demo_at_night_is_complete_sound_and_distributable() {
    // 22:30 in Moscow: outside working hours, yet the demo's SEARCHING orders are offered at once.
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 19, 30, 0).unwrap();
    let (_dir, db) = load_and_tick(now);

    let staff: Vec<(String, StaffRole, String)> = read(&db, |c| {
        c.prepare(
            "SELECT s.login, s.role, COALESCE(group_concat(c.name, '|'), '') FROM staff_users s
             LEFT JOIN (SELECT sc.staff_id, ci.name FROM staff_cities sc JOIN cities ci ON ci.id = sc.city_id ORDER BY ci.name) c
               ON c.staff_id = s.id
             GROUP BY s.id ORDER BY s.login",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
    });
    assert_eq!(
        staff,
        [
            ("admin".to_string(), StaffRole::GlobalAdmin, String::new()),
            ("logist".to_string(), StaffRole::Logist, "Москва|Санкт-Петербург".to_string()),
            ("moscow".to_string(), StaffRole::CityAdmin, "Москва".to_string()),
        ]
    );

    let masters: Vec<(String, String)> =
        read(&db, |c| c.prepare("SELECT phone, password_hash FROM masters ORDER BY phone")?.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect());
    let phones: Vec<&str> = masters.iter().map(|(p, _)| p.as_str()).collect();
    let expected: Vec<String> = (1..=20).map(|n| format!("+799900000{n:02}")).collect();
    assert_eq!(phones, expected);
    assert!(password::verify("demo", &masters[0].1));
    // Every master may work but the one whose commission went overdue: the watchdog blocked him.
    let unfit: Vec<(String, Option<String>)> = read(&db, |c| {
        c.prepare(
            "SELECT phone, blocked_reason FROM masters WHERE verified = 0 OR is_active = 0 OR moderation_status <> 'APPROVED'
                OR rating NOT BETWEEN 4.2 AND 5.0",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
    });
    assert_eq!(unfit, [(format!("+799900000{:02}", 19), Some("commission_overdue".to_string()))]);
    let commissions: Vec<String> =
        read(&db, |c| c.prepare("SELECT DISTINCT status FROM commissions ORDER BY status")?.query_map([], |r| r.get(0))?.collect());
    assert_eq!(commissions, ["APPROVED", "OVERDUE", "REPORTED", "WAIT_PAY"], "the finance pages have something in every segment");

    let statuses: HashSet<OrderStatus> =
        read(&db, |c| c.prepare("SELECT DISTINCT status FROM orders")?.query_map([], |r| r.get(0))?.collect());
    for status in OrderStatus::ALL.iter().filter(|s| **s != OrderStatus::Created) {
        assert!(statuses.contains(status), "no demo order is {status}");
    }

    // version = 1 + status changes, and the history is a chain from NULL to the current status (the tick's
    // escalation rows keep the status and do not count).
    let broken: Vec<i64> = read(&db, |c| {
        c.prepare(
            "SELECT o.id FROM orders o WHERE o.version <> (SELECT COUNT(*) FROM order_status_history h
                                   WHERE h.order_id = o.id AND h.from_status IS NOT h.to_status)
                OR o.status <> (SELECT to_status FROM order_status_history h WHERE h.order_id = o.id ORDER BY h.id DESC LIMIT 1)
                OR (SELECT COUNT(*) FROM order_status_history h WHERE h.order_id = o.id AND h.from_status IS NULL) <> 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect()
    });
    assert_eq!(broken, Vec::<i64>::new());

    // The DEFERRED order waits for 10:00 Moscow time the next morning.
    let deferred_until: i64 = read(&db, |c| c.query_row("SELECT deferred_until FROM orders WHERE status = 'DEFERRED'", [], |r| r.get(0)));
    assert_eq!(deferred_until, Utc.with_ymd_and_hms(2026, 3, 11, 7, 0, 0).unwrap().timestamp_millis());

    let (payment_rate, payment_deadline): (i64, i64) = read(&db, |c| {
        c.query_row("SELECT rate_percent, deadline_at FROM commissions WHERE status = 'WAIT_PAY' AND rejection_reason IS NULL", [], |r| Ok((r.get(0)?, r.get(1)?)))
    });
    assert_eq!((payment_rate, payment_deadline), (50, (now + chrono::Duration::hours(3)).timestamp_millis()));

    // A second load is refused with a typed error and changes nothing.
    let before = counts(&db);
    match demo::load(&db, now) {
        Err(Error::Invalid { field: "database", rule }) => assert_eq!(rule, "not_empty"),
        other => panic!("a second load must be refused, got {other:?}"),
    }
    assert_eq!(counts(&db), before);
    assert_eq!(problems(&db), Vec::<String>::new());
}

#[test]
fn demo_by_day_is_distributable_too() {
    // 13:00 in Moscow.
    load_and_tick(Utc.with_ymd_and_hms(2026, 3, 10, 10, 0, 0).unwrap());
}

/// The demo's past (`demo::load_with_history`): a few hundred orders over thirty days, played through the real
/// engine, with offers answered, declined and lapsed, escalations, closes and paid commissions — and today's
/// demo exactly as without it (the same orders in the same states, the masters' shifts as they were).
#[test]
fn the_history_fills_thirty_days_through_the_engine_and_leaves_today_as_it_was() {
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap();
    let (_plain_dir, plain) = open();
    let plain_summary = demo::load(&plain, now).unwrap();
    let (_dir, db) = open();
    let summary = demo::load_with_history(&db, now).unwrap();
    assert_eq!(problems(&db), Vec::<String>::new());
    let history = summary.history.clone().unwrap();
    println!("{history:?}");
    assert!((200..=400).contains(&history.orders), "{history:?}");
    assert!(history.closed > history.orders / 2 && history.canceled > 0 && history.escalated > 0, "{history:?}");

    let last: i64 = read(&plain, |c| c.query_row("SELECT MAX(id) FROM orders", [], |r| r.get(0)));
    let today = format!("SELECT id, status, assigned_master_id FROM orders WHERE id <= {last} ORDER BY id");
    let rows = |db: &Db| read(db, |c| c.prepare(&today)?.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?)))?.collect::<rusqlite::Result<Vec<_>>>());
    assert_eq!(rows(&db), rows(&plain), "today's orders untouched");
    let shifts = "SELECT id, shift_status, break_until FROM masters ORDER BY id";
    let shift_rows = |db: &Db| read(db, |c| c.prepare(shifts)?.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?)))?.collect::<rusqlite::Result<Vec<_>>>());
    assert_eq!(shift_rows(&db), shift_rows(&plain), "the masters' shifts as the demo has them");
    assert_eq!(summary.orders, plain_summary.orders, "the summary counts today's orders");

    let scalar = |sql: &str| read(&db, |c| c.query_row(sql, [], |r| r.get::<_, i64>(0)));
    let thirty_days_ago = fieldservice::db::ms(now - chrono::Duration::days(30));
    assert_eq!(scalar(&format!("SELECT COUNT(*) FROM orders WHERE id > {last} AND created_at < {thirty_days_ago}")), 0, "within the thirty days");
    for state in ["ACCEPTED", "DECLINED", "EXPIRED"] {
        assert!(scalar(&format!("SELECT COUNT(*) FROM offers o JOIN orders d ON d.id = o.order_id WHERE d.id > {last} AND o.state = '{state}'")) > 10, "{state} offers");
    }
    assert_eq!(scalar(&format!("SELECT COUNT(*) FROM orders WHERE id > {last} AND status = 'CLOSED'")) as usize, history.closed, "closed: paid, or a guarantee visit");
    assert!(scalar(&format!("SELECT COUNT(*) FROM commissions c JOIN orders d ON d.id = c.order_id WHERE d.id > {last} AND c.status = 'APPROVED'")) as usize > history.closed * 9 / 10);
    assert!(scalar(&format!("SELECT COUNT(*) FROM orders WHERE id > {last} AND type = 'GUARANTEE'")) > 0, "guarantee revisits");
    assert!(scalar("SELECT COUNT(*) FROM referral_rewards") > 1, "the referral chain earned along the way");
    assert_eq!(scalar(&format!("SELECT COUNT(*) FROM commissions WHERE status IN ('WAIT_PAY', 'REPORTED', 'OVERDUE') AND order_id > {last}")), 0, "nothing of the past is still owed");
    let two_days_ago = fieldservice::db::ms(now - chrono::Duration::days(2));
    assert_eq!(scalar(&format!("SELECT COUNT(*) FROM notifications_outbox WHERE read_at IS NULL AND created_at < {two_days_ago}")), 0, "no unread notice from weeks ago");
}
