//! 1,000 masters press "accept" on the same order at once, over real HTTP connections.

#[path = "common/contract.rs"]
mod contract;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use fieldservice::app::AppState;
use fieldservice::auth::{self, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, DbError, Durability};
use fieldservice::domain::{Category, StaffRole};
use fieldservice::error::Error;
use fieldservice::{check, offers, orders, staff};
use reqwest::StatusCode;

const MASTERS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_a_thousand_simultaneous_accepts_wins_and_the_rest_are_told_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap();
    let (order, offers) = db
        .write(|tx| -> Result<_, Error> {
            let city: i64 = tx.query_row("SELECT id FROM cities WHERE name = 'Москва'", [], |r| r.get(0))?;
            tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Центральный', 0)", [city])?;
            let district = tx.last_insert_rowid();
            let admin = staff::create(tx, now, "admin", "x", StaffRole::GlobalAdmin, "Admin", &[])?;
            let admin = staff::load_active(tx, admin)?.unwrap();
            let input = orders::NewOrder {
                city_id: city,
                district_id: Some(district),
                client_phone: "+79991234567".into(),
                category: Some(Category::Electrics),
                ..Default::default()
            };
            let order = orders::load(tx, orders::create(tx, now, &admin, &input)?.id)?.unwrap();
            let mut offers = Vec::with_capacity(MASTERS);
            for n in 0..MASTERS {
                tx.execute(
                    "INSERT INTO masters (full_name, phone, city_id, is_active, verified, moderation_status, shift_status, is_on_shift, created_at, updated_at)
                     VALUES ('Мастер', ?1, ?2, 1, 1, 'APPROVED', 'SHIFT_ON', 1, 0, 0)",
                    rusqlite::params![format!("+7999{n:07}"), city],
                )?;
                let master = tx.last_insert_rowid();
                let offer = offers::send(tx, now, 3600, &order, master, 1, Some(admin.id))?;
                let (_, token) = auth::create_token(tx, now, Owner::Master(master), "race")?;
                offers.push((offer.id, token));
            }
            Ok((order.id, offers))
        })
        .unwrap();

    let state = AppState { db: db.clone(), clock: Arc::new(ManualClock::new(now)), config: Arc::new(Config::default()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));

    let start = Arc::new(tokio::sync::Barrier::new(MASTERS));
    let tasks: Vec<_> = offers
        .into_iter()
        .map(|(offer, token)| {
            let (start, url) = (start.clone(), format!("{base}/api/v1/me/offers/{offer}/accept"));
            tokio::spawn(async move {
                // One client per master: a connection of his own, as from his phone.
                let client = reqwest::Client::new();
                let request = client.post(url).bearer_auth(token);
                start.wait().await;
                let response = request.send().await.unwrap();
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap();
                (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
            })
        })
        .collect();
    let mut won = 0;
    let mut taken = 0;
    let mut other = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (StatusCode::OK, _) => won += 1,
            (StatusCode::CONFLICT, code) if code == "offer_taken" => taken += 1,
            unexpected => other.push(unexpected),
        }
    }
    assert!(other.is_empty(), "neither a win nor \"already taken\": {other:?}");
    assert_eq!((won, taken), (1, MASTERS - 1));
    let (status, assigned, accepted): (String, Option<i64>, i64) = db
        .read(|c| {
            c.query_row(
                "SELECT status, assigned_master_id, (SELECT COUNT(*) FROM offers WHERE order_id = o.id AND state = 'ACCEPTED') FROM orders o WHERE id = ?1",
                [order],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(DbError::from)
        })
        .unwrap();
    assert_eq!((status.as_str(), accepted), ("ASSIGNED", 1));
    assert!(assigned.is_some());
    assert_eq!(db.read(|c| check::run(c).map_err(DbError::from)).unwrap(), Vec::<String>::new());
}
