//! The master's job from accept to close, and the commission that closing creates.

use chrono::{DateTime, Duration, TimeZone, Utc};
use fieldservice::db::{Db, Durability};
use fieldservice::domain::{Category, OrderStatus, StaffRole};
use fieldservice::engine::{self, TickOptions};
use fieldservice::error::Error;
use fieldservice::orders::{self, NewOrder};
use fieldservice::staff::{self, Staff};
use fieldservice::work::{self, StoredFile};
use fieldservice::money::commissions;
use fieldservice::offers;

fn noon() -> DateTime<Utc> {
    // 12:00 in Moscow.
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    db: Db,
    admin: Staff,
    district: i64,
    city: i64,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
        let (admin, city, district) = db
            .write(|tx| -> Result<_, Error> {
                let city: i64 = tx.query_row("SELECT id FROM cities WHERE name = 'Москва'", [], |r| r.get(0))?;
                tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Центральный', 0)", [city])?;
                let district = tx.last_insert_rowid();
                let id = staff::create(tx, noon(), "admin", "x", StaffRole::GlobalAdmin, "Admin", &[])?;
                Ok((staff::load_active(tx, id)?.unwrap(), city, district))
            })
            .unwrap();
        Self { _dir: dir, db, admin, district, city }
    }

    fn master(&self, phone: &str) -> i64 {
        self.db
            .write(|tx| -> Result<_, Error> {
                tx.execute(
                    "INSERT INTO masters (full_name, phone, city_id, is_active, verified, moderation_status, shift_status, is_on_shift, created_at, updated_at)
                     VALUES ('Иван Петров', ?1, ?2, 1, 1, 'APPROVED', 'SHIFT_ON', 1, 0, 0)",
                    rusqlite::params![phone, self.city],
                )?;
                let id = tx.last_insert_rowid();
                tx.execute("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, 'ELECTRICS', 0)", [id])?;
                tx.execute("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, 0)", [id, self.district])?;
                Ok(id)
            })
            .unwrap()
    }

    /// An order created at noon, offered by a tick and accepted by `master`.
    fn assigned_order(&self, master: i64) -> i64 {
        let input = NewOrder {
            city_id: self.city,
            district_id: Some(self.district),
            client_phone: "+79991234567".into(),
            category: Some(Category::Electrics),
            description: Some("Не работает розетка на кухне".into()),
            ..NewOrder::default()
        };
        let order = self.db.write(|tx| orders::create(tx, noon(), &self.admin, &input)).unwrap();
        let report = engine::tick(&self.db, noon(), TickOptions { seed: 1, max_orders: 100 }).unwrap();
        let offer = report.offers_sent.iter().find(|s| s.order_id == order.id).expect("an offer went out");
        assert_eq!(offer.master_id, master);
        offers::accept_now(&self.db, noon(), master, offer.offer_id).unwrap();
        order.id
    }

    fn status(&self, order: i64) -> OrderStatus {
        self.db.read(|c| orders::load(c, order)).unwrap().unwrap().status
    }
}

/// A stored act photo; each upload has its own random key.
fn photo() -> StoredFile {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let key = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    StoredFile { storage_key: format!("key-{key}"), file_name: "act.jpg".into(), mime_type: "image/jpeg".into(), size: 2048 }
}

#[test]
fn e13_a_job_from_search_to_closed_writes_one_history_row_per_step() {
    let w = World::new();
    let master = w.master("+79990000001");
    let order = w.assigned_order(master);
    let later = noon() + Duration::minutes(30);
    w.db.write(|tx| work::en_route(tx, later, master, order)).unwrap();
    w.db.write(|tx| work::on_site(tx, later, master, order)).unwrap();
    let closed = w.db.write(|tx| work::close(tx, later, master, order, Some("3500"), &photo(), &work::Extras::default())).unwrap();
    assert_eq!(closed.status, OrderStatus::Payment);
    let commission = closed.commission_id.unwrap();
    let (amount, status): (i64, String) =
        w.db.read(|c| c.query_row("SELECT amount_kop, status FROM commissions WHERE id = ?1", [commission], |r| Ok((r.get(0)?, r.get(1)?))).map_err(fieldservice::db::DbError::from)).unwrap();
    assert_eq!((amount, status.as_str()), (175_000, "WAIT_PAY"), "3500 ₽ at 50 %");
    w.db.write(|tx| commissions::approve(tx, later, &w.admin, commission, Some(175_000))).unwrap();
    assert_eq!(w.status(order), OrderStatus::Closed);

    let history: Vec<(Option<String>, String)> = w
        .db
        .read(|c| {
            let mut stmt = c.prepare("SELECT from_status, to_status FROM order_status_history WHERE order_id = ?1 AND from_status IS NOT to_status ORDER BY id")?;
            let rows = stmt.query_map([order], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok::<_, fieldservice::db::DbError>(rows)
        })
        .unwrap();
    let steps: Vec<String> = history.iter().map(|(from, to)| format!("{}->{to}", from.clone().unwrap_or_default())).collect();
    assert_eq!(steps, ["->SEARCHING", "SEARCHING->ASSIGNED", "ASSIGNED->EN_ROUTE", "EN_ROUTE->WORKING", "WORKING->PAYMENT", "PAYMENT->CLOSED"]);
    let version: i64 = w.db.read(|c| c.query_row("SELECT version FROM orders WHERE id = ?1", [order], |r| r.get(0)).map_err(fieldservice::db::DbError::from)).unwrap();
    assert_eq!(version, 6, "every status change bumps the version");
}

#[test]
fn e7_e10_steps_only_in_their_order_and_only_by_the_assigned_master() {
    let w = World::new();
    let master = w.master("+79990000001");
    let order = w.assigned_order(master);
    let other = w.master("+79990000002");
    assert!(matches!(w.db.write(|tx| work::close(tx, noon(), master, order, Some("100"), &photo(), &work::Extras::default())), Err(Error::WrongStatus { .. })));
    assert!(matches!(w.db.write(|tx| work::en_route(tx, noon(), other, order)), Err(Error::NotFound { .. })));
    w.db.write(|tx| work::en_route(tx, noon(), master, order)).unwrap();
    assert!(matches!(w.db.write(|tx| work::en_route(tx, noon(), master, order)), Err(Error::WrongStatus { .. })), "pressing en route twice");
    assert_eq!(w.status(order), OrderStatus::EnRoute);
}

#[test]
fn e8_e9_closing_needs_a_valid_amount_and_one_photo_or_pdf() {
    let w = World::new();
    let master = w.master("+79990000001");
    let order = w.assigned_order(master);
    w.db.write(|tx| work::en_route(tx, noon(), master, order)).unwrap();
    w.db.write(|tx| work::on_site(tx, noon(), master, order)).unwrap();
    for bad in ["0", "-5", "12345678", "10.555", "abc"] {
        assert!(matches!(w.db.write(|tx| work::close(tx, noon(), master, order, Some(bad), &photo(), &work::Extras::default())), Err(Error::Invalid { field: "amount", .. })), "{bad}");
    }
    let video = StoredFile { mime_type: "video/mp4".into(), ..photo() };
    assert!(matches!(w.db.write(|tx| work::close(tx, noon(), master, order, Some("3500"), &video, &work::Extras::default())), Err(Error::Invalid { field: "act", .. })));
    assert_eq!(w.status(order), OrderStatus::Working, "a refused close changes nothing");
    let closed = w.db.write(|tx| work::close(tx, noon(), master, order, Some("4999,99"), &photo(), &work::Extras::default())).unwrap();
    assert_eq!(closed.status, OrderStatus::Payment);
    let (total, acts): (i64, i64) = w
        .db
        .read(|c| {
            c.query_row(
                "SELECT total_sum_kop, (SELECT COUNT(*) FROM attachments WHERE entity_type = 'ORDER' AND entity_id = o.id AND document_type = 'act') FROM orders o WHERE id = ?1",
                [order],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(fieldservice::db::DbError::from)
        })
        .unwrap();
    assert_eq!((total, acts), (499_999, 1));
}

#[test]
fn d5_a_guarantee_order_closes_with_the_act_only_and_no_commission() {
    let w = World::new();
    let master = w.master("+79990000001");
    let source = w.assigned_order(master);
    w.db.write(|tx| work::en_route(tx, noon(), master, source)).unwrap();
    w.db.write(|tx| work::on_site(tx, noon(), master, source)).unwrap();
    let commission = w.db.write(|tx| work::close(tx, noon(), master, source, Some("1500"), &photo(), &work::Extras::default())).unwrap().commission_id.unwrap();
    w.db.write(|tx| commissions::approve(tx, noon(), &w.admin, commission, Some(75_000))).unwrap();
    let guarantee = w.db.write(|tx| orders::create_guarantee(tx, noon() + Duration::days(1), &w.admin, source)).unwrap();
    assert_eq!(guarantee.status, OrderStatus::Guarantee);
    let day2 = noon() + Duration::days(1);
    let report = engine::tick(&w.db, day2, TickOptions { seed: 1, max_orders: 100 }).unwrap();
    let offer = report.offers_sent.iter().find(|s| s.order_id == guarantee.id).unwrap();
    assert_eq!(offer.master_id, master, "the original master is offered first");
    offers::accept_now(&w.db, day2, master, offer.offer_id).unwrap();
    w.db.write(|tx| work::en_route(tx, day2, master, guarantee.id)).unwrap();
    w.db.write(|tx| work::on_site(tx, day2, master, guarantee.id)).unwrap();
    let closed = w.db.write(|tx| work::close(tx, day2, master, guarantee.id, None, &photo(), &work::Extras::default())).unwrap();
    assert_eq!((closed.status, closed.commission_id), (OrderStatus::Closed, None));
    let commissions: i64 = w.db.read(|c| c.query_row("SELECT COUNT(*) FROM commissions WHERE order_id = ?1", [guarantee.id], |r| r.get(0)).map_err(fieldservice::db::DbError::from)).unwrap();
    assert_eq!(commissions, 0);
}
