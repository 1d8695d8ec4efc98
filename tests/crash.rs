//! A master told "the order is yours" keeps it through a crash: the real binary at `durability = "full"`
//! takes bursts of simultaneous accepts over HTTP and is killed with SIGKILL right after a random k-th
//! `200`; after each kill every acknowledged accept must be in the database, and `check` must be clean.
//! `FS_CRASH_RUNS` sets the number of kills (default 10; the old early answer showed within 4 and 23 kills).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use fieldservice::auth::{self, Owner};
use fieldservice::db::{Db, Durability};
use fieldservice::domain::{Category, StaffRole};
use fieldservice::error::Error;
use fieldservice::{offers, orders, staff};
use rand::RngExt;
use reqwest::StatusCode;

/// Simultaneous accepts in one burst, each by another master for another order.
const BURST: usize = 300;

/// One master's offer of one order, and his token.
struct Pending {
    order: i64,
    master: i64,
    offer: i64,
    token: String,
}

fn database(dir: &Path) -> PathBuf {
    dir.join("data").join("fieldservice.db")
}

/// `runs × BURST` orders, each offered (for an hour) to a master of its own.
fn prepare(db_path: &Path, runs: usize) -> Vec<Vec<Pending>> {
    let db = Db::open(db_path, Durability::Full).unwrap();
    let now = Utc::now();
    let all = db
        .write(|tx| -> Result<_, Error> {
            let city: i64 = tx.query_row("SELECT id FROM cities WHERE name = 'Москва'", [], |r| r.get(0))?;
            tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Центральный', 0)", [city])?;
            let district = tx.last_insert_rowid();
            let admin = staff::create(tx, now, "admin", "x", StaffRole::GlobalAdmin, "Admin", &[])?;
            let admin = staff::load_active(tx, admin)?.unwrap();
            let mut all = Vec::with_capacity(runs * BURST);
            for n in 0..runs * BURST {
                let input = orders::NewOrder {
                    city_id: city,
                    district_id: Some(district),
                    client_phone: "+79991234567".into(),
                    category: Some(Category::Electrics),
                    ..Default::default()
                };
                let order = orders::load(tx, orders::create(tx, now, &admin, &input)?.id)?.unwrap();
                tx.execute(
                    "INSERT INTO masters (full_name, phone, city_id, is_active, verified, moderation_status, shift_status, is_on_shift, created_at, updated_at)
                     VALUES ('Мастер', ?1, ?2, 1, 1, 'APPROVED', 'SHIFT_ON', 1, 0, 0)",
                    rusqlite::params![format!("+7999{n:07}"), city],
                )?;
                let master = tx.last_insert_rowid();
                let offer = offers::send(tx, now, 3600, &order, master, 1, Some(admin.id))?;
                let (_, token) = auth::create_token(tx, now, Owner::Master(master), "crash")?;
                all.push(Pending { order: order.id, master, offer: offer.id, token });
            }
            Ok(all)
        })
        .unwrap();
    let mut bursts = Vec::with_capacity(runs);
    let mut rest = all.into_iter();
    for _ in 0..runs {
        bursts.push(rest.by_ref().take(BURST).collect());
    }
    bursts
}

fn start(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fieldservice"))
        .arg("serve")
        .current_dir(dir)
        .env("FIELDSERVICE_CONFIG", dir.join("fieldservice.toml"))
        .env("FIELDSERVICE_LISTEN", format!("127.0.0.1:{port}"))
        .env("FIELDSERVICE_DURABILITY", "full")
        .env("FIELDSERVICE_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
        assert!(Instant::now() < deadline, "the server did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fires the burst and kills the server right after the `kill_at`-th `200`; returns the acknowledged accepts.
async fn burst_and_kill(base: &str, burst: Vec<Pending>, server: Child, kill_at: usize) -> Vec<(i64, i64)> {
    let server = Arc::new(Mutex::new(server));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(tokio::sync::Barrier::new(burst.len()));
    let tasks: Vec<_> = burst
        .into_iter()
        .map(|p| {
            let (server, acknowledged, go) = (server.clone(), acknowledged.clone(), go.clone());
            let url = format!("{base}/api/v1/me/offers/{}/accept", p.offer);
            tokio::spawn(async move {
                // One connection per master, as from his own phone.
                let request = reqwest::Client::new().post(url).bearer_auth(&p.token);
                go.wait().await;
                let response = request.send().await.ok()?;
                if response.status() != StatusCode::OK {
                    return None;
                }
                let body: serde_json::Value = response.json().await.ok()?;
                assert_eq!(body["status"], "ASSIGNED", "{body}");
                if acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == kill_at {
                    server.lock().unwrap().kill().unwrap();
                }
                Some((p.order, p.master))
            })
        })
        .collect();
    let mut won = Vec::new();
    for task in tasks {
        won.extend(task.await.unwrap());
    }
    let mut server = server.lock().unwrap();
    let _ = server.kill();
    server.wait().unwrap();
    won
}

fn assigned_to(db_path: &Path, order: i64) -> (String, Option<i64>) {
    let conn = rusqlite::Connection::open(db_path).unwrap();
    conn.query_row("SELECT status, assigned_master_id FROM orders WHERE id = ?1", [order], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_accept_survives_a_kill_9() {
    let runs: usize = std::env::var("FS_CRASH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let db_path = database(dir.path());
    let bursts = prepare(&db_path, runs);
    let http = reqwest::Client::new();
    let mut acknowledged_total = 0;
    for (run, burst) in bursts.into_iter().enumerate() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let server = start(dir.path(), port);
        wait_healthy(&http, &base).await;
        let kill_at = rand::rng().random_range(1..=BURST / 2);
        let acknowledged = burst_and_kill(&base, burst, server, kill_at).await;
        assert!(acknowledged.len() >= kill_at, "run {run}: the server was killed after the {kill_at}-th 200");
        for (order, master) in &acknowledged {
            assert_eq!(
                assigned_to(&db_path, *order),
                ("ASSIGNED".to_string(), Some(*master)),
                "run {run}: order {order} was acknowledged to master {master} but is not his after the crash"
            );
        }
        acknowledged_total += acknowledged.len();
    }
    let check = Command::new(env!("CARGO_BIN_EXE_fieldservice"))
        .arg("check")
        .current_dir(dir.path())
        .env("FIELDSERVICE_CONFIG", dir.path().join("fieldservice.toml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "check after the crashes: {}", String::from_utf8_lossy(&check.stdout));
    eprintln!("{runs} kills, {acknowledged_total} acknowledged accepts, all stored");
}
