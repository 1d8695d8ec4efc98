//! Export benchmark (issue 13): 100,000 orders exported as CSV and as XLSX through the real HTTP route, the
//! time each takes and the process's peak RSS while it runs, against a baseline measured in the same run on
//! the same file: a plain `SELECT` of the same rows and columns, read to the end.
//!
//! Run with `cargo bench --bench exports`. The server runs in this process (the client only counts the
//! bytes it streams, so it adds next to nothing); each phase starts by resetting the kernel's peak-RSS mark
//! (`/proc/self/clear_refs` ← 5) and ends by reading it (`VmHWM` in `/proc/self/status`), so each peak is
//! that phase's own. Targets (issue 13): < 5 s and < 100 MB per export. Knob (env): `FS_BENCH_EXPORT_ORDERS`
//! (default 100000).

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use fieldservice::app::{self, AppState};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, Durability, ms};
use fieldservice::error::Error;
use rusqlite::params;
use serde_json::{Value, json};

const TIME_TARGET: StdDuration = StdDuration::from_secs(5);
const RSS_TARGET_KB: u64 = 100 * 1024;

/// A line of `/proc/self/status`, in kB.
fn status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(key)?.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// Starts a phase: memory the allocator kept from earlier phases (the sign-in's password hash takes tens of
/// MB) goes back to the kernel, then the peak-RSS mark is set to the current RSS (Linux ≥ 4.0).
fn reset_peak() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Phase {
    name: &'static str,
    seconds: f64,
    peak_kb: u64,
    bytes: u64,
}

/// 100,000 orders spread over the last 300 days, each closed by a master with a history row, in one
/// transaction of plain SQL.
fn seed(db: &Db, orders: usize) {
    let now = Utc::now();
    db.write(|tx| {
        let city: i64 = tx.query_row("SELECT id FROM cities WHERE name = 'Москва'", [], |r| r.get(0))?;
        let master: i64 = tx.query_row("SELECT id FROM masters ORDER BY id LIMIT 1", [], |r| r.get(0))?;
        let mut order = tx.prepare(
            "INSERT INTO orders (city_id, house, lat, lon, client_name, client_phone, category, status, assigned_master_id, total_sum_kop,
                 dist_since_at, closed_at, created_at, updated_at)
             VALUES (?1, '12', 55.75, 37.61, 'Клиент Бенчмарков', ?2, 'ELECTRICS', 'CLOSED', ?3, 450000, ?4, ?5, ?4, ?5)",
        )?;
        let mut history = tx.prepare("INSERT INTO order_status_history (order_id, from_status, to_status, created_at) VALUES (?1, 'PAYMENT', 'CLOSED', ?2)")?;
        for i in 0..orders {
            let created = now - Duration::days(300) + Duration::seconds((i as i64 * 300 * 86_400) / orders as i64);
            let closed = created + Duration::hours(3);
            order.execute(params![city, format!("+7999{:07}", i), master, ms(created), ms(closed)])?;
            history.execute(params![tx.last_insert_rowid(), ms(closed)])?;
        }
        Ok::<_, Error>(())
    })
    .expect("seed the orders");
}

/// The baseline: the same rows and columns, read with one plain `SELECT` to the end.
fn baseline(db: &Db, from: i64) -> Phase {
    reset_peak();
    let began = Instant::now();
    let bytes = db
        .read(|c| {
            let mut statement = c.prepare(
                "SELECT o.id, o.created_at, o.city_id, o.district_id, o.street_id, o.house, o.lat, o.lon, o.category, o.status, o.type,
                        o.timeslot_start, o.timeslot_end, o.company_payment_kop, o.total_sum_kop, o.client_name, o.client_phone,
                        o.assigned_master_id, o.cancel_reason
                 FROM orders o WHERE o.created_at >= ?1 ORDER BY o.created_at, o.id",
            )?;
            let mut rows = statement.query([from])?;
            let mut bytes = 0u64;
            while let Some(row) = rows.next()? {
                for i in 0..19 {
                    bytes += match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Text(t) => t.len() as u64,
                        _ => 8,
                    };
                }
            }
            Ok::<_, Error>(bytes)
        })
        .expect("baseline select");
    Phase { name: "baseline SELECT", seconds: began.elapsed().as_secs_f64(), peak_kb: status_kb("VmHWM:"), bytes }
}

async fn download(http: &reqwest::Client, url: &str, cookie: &str, name: &'static str) -> Phase {
    reset_peak();
    let began = Instant::now();
    let mut response = http.get(url).header("cookie", cookie).send().await.expect("request");
    assert_eq!(response.status(), 200, "{name}");
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await.expect("read the body") {
        bytes += chunk.len() as u64;
    }
    Phase { name, seconds: began.elapsed().as_secs_f64(), peak_kb: status_kb("VmHWM:"), bytes }
}

fn main() {
    let orders: usize = std::env::var("FS_BENCH_EXPORT_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(&dir.path().join("exports.sqlite"), Durability::Normal).expect("open database");
    let now = Utc::now();
    fieldservice::demo::load(&db, now).expect("the demo's staff and masters");
    let seeding = Instant::now();
    seed(&db, orders);
    println!("seeded {orders} orders in {:.1} s; RSS now {} MB", seeding.elapsed().as_secs_f64(), status_kb("VmRSS:") / 1024);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let config = Config { data_dir: dir.path().to_path_buf(), timezone: chrono_tz::Tz::UTC, ..Config::default() };
    let state = AppState { db: db.clone(), clock: Arc::new(ManualClock::new(now)), config: Arc::new(config) };
    let phases = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(app::serve(listener, state, std::future::pending()));
        let http = reqwest::Client::new();
        let login = http
            .post(format!("{base}/api/v1/auth/staff/login"))
            .json(&json!({"login": "admin", "password": fieldservice::demo::PASSWORD}))
            .send()
            .await
            .expect("sign in");
        let cookie = login.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_string();
        let _: Value = login.json().await.expect("login body");
        let from = (now - Duration::days(300)).date_naive();
        let query = format!("from={from}&to={}", now.date_naive());
        let mut phases = vec![baseline(&db, ms(now - Duration::days(301)))];
        for (file, name) in [("orders.csv", "export CSV"), ("orders.xlsx", "export XLSX")] {
            phases.push(download(&http, &format!("{base}/api/v1/exports/{file}?{query}"), &cookie, name).await);
        }
        phases
    });

    let base = &phases[0];
    println!("{:<16} {:>9} {:>10} {:>12} {:>11} {:>10}", "phase", "time s", "× select", "peak RSS MB", "× select", "size MB");
    for p in &phases {
        println!(
            "{:<16} {:>9.2} {:>10.1} {:>12.1} {:>11.2} {:>10.1}",
            p.name,
            p.seconds,
            p.seconds / base.seconds,
            p.peak_kb as f64 / 1024.0,
            p.peak_kb as f64 / base.peak_kb.max(1) as f64,
            p.bytes as f64 / 1_048_576.0
        );
    }
    for p in &phases[1..] {
        let verdict = if p.seconds < TIME_TARGET.as_secs_f64() && p.peak_kb < RSS_TARGET_KB { "within" } else { "OVER" };
        println!("{}: {verdict} the targets (< {} s, < {} MB)", p.name, TIME_TARGET.as_secs(), RSS_TARGET_KB / 1024);
    }
}
