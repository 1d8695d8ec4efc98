//! Page benchmark: every staff page and the master's screens, rendered by the real app (in this
//! process, on loopback) over a realistic file — the demo dataset plus 1,000 masters and 10,000 orders
//! in every state across Moscow and St Petersburg, with offers, history and engine events.
//!
//! Run with `cargo bench --bench pages`. Each page is fetched `FS_BENCH_PAGES_REPEAT` times (default 30)
//! one after another by a signed-in browser-like client; the table gives p50 / p95 / max of the whole
//! request on loopback, which bounds the server time from above. Target (issue 4): < 50 ms. The machine is
//! shared, so nothing here asserts on time; read the p95 column.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use fieldservice::app::{self, AppState};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, Durability, ms};
use rusqlite::{Transaction, params};

const MASTERS: usize = 1_000;
const ORDERS: usize = 10_000;
const CATEGORIES: [&str; 6] = ["ELECTRICS", "PLUMBING", "APPLIANCES", "WINDOWS", "HANDYMAN", "ROADSIDE"];
const TARGET: StdDuration = StdDuration::from_millis(50);

/// The pages measured: who opens them and where. `{order}`, `{closed}`, `{master}`, `{offer}`, `{mine}`
/// are filled with ids from the dataset.
const PAGES: &[(&str, &str)] = &[
    ("logist", "/"),
    ("admin", "/"),
    ("logist", "/board/fragment"),
    ("admin", "/board/fragment"),
    ("logist", "/orders"),
    ("admin", "/orders"),
    ("admin", "/orders?status=SEARCHING&category=ELECTRICS"),
    ("logist", "/orders?q=%2B79990000100&by=phone"),
    ("admin", "/orders/warranty"),
    ("admin", "/orders/closed"),
    ("logist", "/orders/new"),
    ("logist", "/orders/{order}"),
    ("logist", "/orders/{closed}"),
    ("admin", "/masters"),
    ("admin", "/masters?group=moderation"),
    ("admin", "/masters/{master}"),
    ("admin", "/invites"),
    ("admin", "/cities"),
    ("admin", "/cities/{city}"),
    ("admin", "/alerts"),
    ("admin", "/events"),
    ("admin", "/staff"),
    ("admin", "/settings"),
    ("master", "/m/"),
    ("master", "/m/offers"),
    ("master", "/m/offers/{offer}"),
    ("master", "/m/orders"),
    ("master", "/m/orders/{mine}"),
    ("master", "/m/history"),
    ("master", "/m/stats"),
    ("master", "/m/notifications"),
];

/// A small deterministic generator (splitmix64): the same dataset in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Ids the page paths refer to.
struct Ids {
    order: i64,
    closed: i64,
    master: i64,
    city: i64,
    offer: i64,
    mine: i64,
}

/// The status mix of the 10,000 orders: (status, share in per mille).
const MIX: &[(&str, usize)] = &[
    ("SEARCHING", 150),
    ("ESCALATED_LOGIST", 20),
    ("ESCALATED_ADMIN", 10),
    ("NO_DISTRICT", 10),
    ("DEFERRED", 30),
    ("ASSIGNED", 60),
    ("EN_ROUTE", 40),
    ("WORKING", 40),
    ("PAYMENT", 20),
    ("CLOSED", 550),
    ("CANCELED", 50),
    ("GUARANTEE", 20),
];

fn build(tx: &Transaction<'_>, now: DateTime<Utc>) -> rusqlite::Result<Ids> {
    let mut rng = Rng(0x9a6e5);
    let districts: Vec<(i64, i64)> = tx.prepare("SELECT city_id, id FROM districts")?.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let mut insert_master = tx.prepare(
        "INSERT INTO masters (full_name, phone, city_id, rating, is_active, verified, verified_at, moderation_status,
             shift_status, is_on_shift, has_vehicle, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, 1, ?5, ?6, ?7, ?8, ?9, ?5, ?5)",
    )?;
    let mut insert_skill = tx.prepare("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, ?2, ?3)")?;
    let mut insert_district = tx.prepare("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, ?3)")?;
    let mut masters: Vec<(i64, i64)> = Vec::with_capacity(MASTERS);
    for i in 0..MASTERS {
        let (city, district) = districts[rng.below(districts.len())];
        let moderation = if i % 20 == 0 { "PENDING" } else { "APPROVED" };
        let shift = if i % 3 == 0 { "SHIFT_OFF" } else { "SHIFT_ON" };
        insert_master.execute(params![
            format!("Бенчев Мастер {i}"),
            format!("+7988{:07}", i),
            city,
            3.5 + (i % 16) as f64 / 10.0,
            ms(now),
            moderation,
            shift,
            shift == "SHIFT_ON",
            i % 4 == 0
        ])?;
        let master = tx.last_insert_rowid();
        insert_skill.execute(params![master, CATEGORIES[i % CATEGORIES.len()], ms(now)])?;
        insert_district.execute(params![master, district, ms(now)])?;
        masters.push((master, city));
    }
    let mut insert_order = tx.prepare(
        "INSERT INTO orders (city_id, district_id, no_district, house, client_name, client_phone, category, description, status,
             type, deferred_until, assigned_master_id, total_sum_kop, dist_since_at, dist_escalated_in_cycle,
             dist_escalated_logist_at, dist_escalated_admin_at, closed_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, '12', 'Клиент', ?4, ?5, 'Не работает розетка на кухне', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?11, ?11)",
    )?;
    let mut insert_history = tx.prepare(
        "INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor_type, created_at)
         VALUES (?1, NULL, 'SEARCHING', 'created', 'SYSTEM', ?2)",
    )?;
    let mut insert_offer = tx.prepare(
        "INSERT INTO offers (order_id, master_id, round_number, state, sent_at, expires_at, responded_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5)",
    )?;
    let mut insert_event = tx.prepare("INSERT INTO order_events (order_id, source, kind, detail, created_at) VALUES (?1, 'engine', ?2, ?3, ?4)")?;
    let (mut order_id, mut closed_id) = (0, 0);
    let mut n = 0;
    for &(kind, per_mille) in MIX {
        for _ in 0..ORDERS * per_mille / 1000 {
            n += 1;
            let (city, district) = districts[rng.below(districts.len())];
            let created = now - Duration::minutes(rng.below(60 * 24 * 30) as i64);
            let (master, _) = masters[rng.below(masters.len())];
            let status = match kind {
                "ESCALATED_LOGIST" | "ESCALATED_ADMIN" | "NO_DISTRICT" => "SEARCHING",
                other => other,
            };
            let assigned = matches!(status, "ASSIGNED" | "EN_ROUTE" | "WORKING" | "PAYMENT" | "CLOSED").then_some(master);
            let escalated_logist = matches!(kind, "ESCALATED_LOGIST" | "ESCALATED_ADMIN").then(|| ms(created + Duration::minutes(5)));
            let escalated_admin = (kind == "ESCALATED_ADMIN").then(|| ms(created + Duration::minutes(15)));
            insert_order.execute(params![
                city,
                (kind != "NO_DISTRICT").then_some(district),
                kind == "NO_DISTRICT",
                format!("+7999{:07}", n),
                CATEGORIES[n % CATEGORIES.len()],
                status,
                if kind == "GUARANTEE" { "GUARANTEE" } else { "NORMAL" },
                (status == "DEFERRED").then(|| ms(now + Duration::minutes(30 + rng.below(600) as i64))),
                assigned,
                if status == "CLOSED" { 150_000 + rng.below(1_000_000) as i64 } else { 0 },
                ms(created),
                escalated_logist.is_some(),
                escalated_logist,
                escalated_admin,
                (status == "CLOSED").then(|| ms(created + Duration::hours(3)))
            ])?;
            let order = tx.last_insert_rowid();
            insert_history.execute(params![order, ms(created)])?;
            for round in 1..=1 + rng.below(3) as i64 {
                let (other, _) = masters[rng.below(masters.len())];
                insert_offer.execute(params![order, other, round, "EXPIRED", ms(created), ms(created + Duration::seconds(120)), ms(created + Duration::seconds(120))])?;
                insert_event.execute(params![order, "skip", r#"{"master_id":1,"reasons":["OFF_SHIFT"]}"#, ms(created)])?;
                insert_event.execute(params![order, "offer_sent", format!(r#"{{"master_id":{other},"round":{round}}}"#), ms(created)])?;
            }
            if kind == "SEARCHING" && n % 2 == 0 {
                insert_offer.execute(params![order, master, 4, "SENT", ms(now - Duration::seconds(30)), ms(now + Duration::seconds(90)), None::<i64>])?;
            }
            if status == "SEARCHING" && order_id == 0 {
                order_id = order;
            }
            if status == "CLOSED" {
                closed_id = order;
            }
        }
    }
    // Demo master 1 (the "master" column) holds a live offer and an order in progress among all that.
    let demo: (i64, i64) = tx.query_row("SELECT id, city_id FROM masters WHERE phone = '+79990000001'", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    insert_offer.execute(params![order_id, demo.0, 4, "SENT", ms(now - Duration::seconds(30)), ms(now + Duration::seconds(90)), None::<i64>])?;
    let offer = tx.last_insert_rowid();
    let mine: i64 = tx.query_row(
        "UPDATE orders SET assigned_master_id = ?1 WHERE id = (SELECT id FROM orders WHERE status = 'ASSIGNED' AND city_id = ?2 LIMIT 1) RETURNING id",
        [demo.0, demo.1],
        |r| r.get(0),
    )?;
    Ok(Ids { order: order_id, closed: closed_id, master: masters[1].0, city: demo.1, offer, mine })
}

fn fill(path: &str, ids: &Ids) -> String {
    [("{order}", ids.order), ("{closed}", ids.closed), ("{master}", ids.master), ("{city}", ids.city), ("{offer}", ids.offer), ("{mine}", ids.mine)]
        .into_iter()
        .fold(path.to_string(), |path, (name, id)| path.replace(name, &id.to_string()))
}

async fn sign_in(http: &reqwest::Client, base: &str, login: &str) -> String {
    let (path, field, login) = match login {
        "master" => ("/m/login", "phone", fieldservice::demo::master_phone(1)),
        staff => ("/login", "login", staff.to_string()),
    };
    let response = http.post(format!("{base}{path}")).form(&[(field, login.as_str()), ("password", fieldservice::demo::PASSWORD)]).send().await.unwrap();
    assert_eq!(response.status(), 303, "sign in as {login}");
    response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let repeat: usize = std::env::var("FS_BENCH_PAGES_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("pages.sqlite"), Durability::Normal).unwrap();
    fieldservice::demo::load(&db, now).unwrap();
    let started = Instant::now();
    let ids = db.write(|tx| build(tx, now)).unwrap();
    println!("dataset: demo + {MASTERS} masters + {ORDERS} orders built in {:.1} s", started.elapsed().as_secs_f64());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        let state = AppState { db: db.clone(), clock: Arc::new(ManualClock::new(now)), config: Arc::new(config) };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(app::serve(listener, state, std::future::pending()));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let mut cookies = std::collections::HashMap::new();
        for login in ["admin", "logist", "master"] {
            cookies.insert(login, sign_in(&http, &base, login).await);
        }
        println!("\n{:<8} {:<44} {:>6} {:>8} {:>8} {:>8} {:>8}  {:>6}", "who", "page", "status", "KB", "p50 ms", "p95 ms", "max ms", "<50ms");
        for &(who, path) in PAGES {
            let path = fill(path, &ids);
            let mut times = Vec::with_capacity(repeat);
            let (mut status, mut bytes) = (0, 0);
            for _ in 0..repeat + 1 {
                let start = Instant::now();
                let response = http.get(format!("{base}{path}")).header("cookie", &cookies[who]).send().await.unwrap();
                status = response.status().as_u16();
                bytes = response.bytes().await.unwrap().len();
                times.push(start.elapsed());
            }
            times.remove(0);
            times.sort();
            let p95 = percentile(&times, 0.95);
            println!(
                "{:<8} {:<44} {:>6} {:>8.1} {:>8.2} {:>8.2} {:>8.2}  {:>6}",
                who,
                path,
                status,
                bytes as f64 / 1024.0,
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                p95.as_secs_f64() * 1e3,
                times.last().unwrap().as_secs_f64() * 1e3,
                if status == 200 && p95 < TARGET { "yes" } else { "NO" }
            );
        }
    });
}
