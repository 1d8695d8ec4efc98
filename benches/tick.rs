//! Tick benchmarks: how fast the distribution engine decides orders on a realistic dataset — 20 cities ×
//! 10 districts, 5,000 masters, N distributable orders — and how much memory the largest tick needs.
//!
//! Run with `cargo bench --bench tick`. Every measurement runs in a child process (this binary re-executed
//! with `FS_BENCH_CHILD=<mode>:<N>`), so the peak memory of one run is not mixed with another's and each
//! starts from a fresh file. The machine is shared: read the growth columns (relative to the smallest N in
//! the same run) rather than the absolute times; nothing here asserts on time.
//!
//! Modes: `one` — one tick with `max_orders = N` decides every order; `batch` — production ticks of
//! `ORDERS_PER_TICK` with the clock moving one tick interval each, and between ticks (untimed) every
//! offered order is accepted and closed by SQL, as if the masters answered at once; `stall` — production
//! ticks where nobody answers; `stall_nd` — as `batch`, plus 100 older "address incomplete" orders.
//!
//! Knobs (env): `FS_BENCH_SIZES` (default `1000,10000,50000`), `FS_BENCH_DURABILITY` (`full`, the default,
//! or `normal`), `FS_BENCH_BATCH_SECONDS` (wall-clock cap per batch run, default 120), `FS_BENCH_STALL_TICKS`
//! (default 40), `FS_BENCH_KEEP` (a path: a `one` child keeps a copy of its ticked database there).

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use fieldservice::db::{Db, Durability, ms};
use fieldservice::engine::{self, ORDERS_PER_TICK, TickOptions, TickReport, candidates};
use fieldservice::settings::Settings;
use rusqlite::{Transaction, params};
use tempfile::TempDir;

const CITIES: usize = 20;
const DISTRICTS_PER_CITY: usize = 10;
const MASTERS: usize = 5_000;
const CATEGORIES: [&str; 6] = ["ELECTRICS", "PLUMBING", "APPLIANCES", "WINDOWS", "HANDYMAN", "ROADSIDE"];
/// The production tick interval (setting `distribution_tick_seconds`, default).
const TICK_SECONDS: i64 = 15;
/// Targets from the brief.
const ORDERS_PER_SECOND_TARGET: f64 = 5_000.0;
const PEAK_MB_TARGET: f64 = 150.0;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A small deterministic generator (splitmix64), so the dataset is the same in every run.
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

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// `k` distinct indexes below `n`.
    fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut picked = Vec::with_capacity(k);
        while picked.len() < k {
            let i = self.below(n);
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked
    }
}

/// What was built.
struct Dataset {
    history_orders: usize,
}

/// Builds the dataset with plain SQL in one transaction: districts for 20 seeded cities, 5,000 masters (verified,
/// active, on shift, 1–3 skills, 1–3 districts of their city, a quarter with a car, rating 3.5–5.0), recent
/// PAYMENT/CLOSED orders for 30% of them (the average-check subquery's work) and `orders` SEARCHING orders
/// spread over the last three hours, plus `no_district` "address incomplete" SEARCHING orders four hours old.
fn build(db: &Db, now: DateTime<Utc>, orders: usize, no_district: usize) -> rusqlite::Result<Dataset> {
    let mut rng = Rng(0x5eed);
    db.write(|tx: &Transaction<'_>| {
        let cities: Vec<i64> = tx
            .prepare("SELECT id FROM cities ORDER BY id LIMIT ?1")?
            .query_map([CITIES as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        assert_eq!(cities.len(), CITIES, "the seeded cities table has at least {CITIES} cities");
        let mut districts: Vec<Vec<i64>> = Vec::with_capacity(CITIES);
        {
            let mut insert = tx.prepare("INSERT INTO districts (city_id, name, created_at) VALUES (?1, ?2, ?3)")?;
            for &city in &cities {
                let mut ids = Vec::with_capacity(DISTRICTS_PER_CITY);
                for d in 0..DISTRICTS_PER_CITY {
                    insert.execute(params![city, format!("District {}", d + 1), ms(now)])?;
                    ids.push(tx.last_insert_rowid());
                }
                districts.push(ids);
            }
        }
        let mut insert_master = tx.prepare(
            "INSERT INTO masters (full_name, phone, city_id, rating, is_active, verified, verified_at, moderation_status,
                 shift_status, is_on_shift, has_vehicle, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 1, 1, ?5, 'APPROVED', 'SHIFT_ON', 1, ?6, ?5, ?5)",
        )?;
        let mut insert_skill = tx.prepare("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, ?2, ?3)")?;
        let mut insert_district =
            tx.prepare("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, ?3)")?;
        let mut insert_order = tx.prepare(
            "INSERT INTO orders (city_id, district_id, client_phone, category, status, assigned_master_id, total_sum_kop,
                 dist_since_at, closed_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?8)",
        )?;
        let mut history_orders = 0;
        for i in 0..MASTERS {
            let c = i % CITIES;
            let rating = 3.5 + (rng.unit() * 150.0).round() / 100.0;
            let car = rng.chance(0.25);
            insert_master.execute(params![format!("Master {i}"), format!("+79{:09}", i + 1), cities[c], rating, ms(now), car])?;
            let master = tx.last_insert_rowid();
            let k = 1 + rng.below(3);
            let skills = rng.distinct(CATEGORIES.len(), k);
            for &s in &skills {
                insert_skill.execute(params![master, CATEGORIES[s], ms(now)])?;
            }
            let k = 1 + rng.below(3);
            let served = rng.distinct(DISTRICTS_PER_CITY, k);
            for &d in &served {
                insert_district.execute(params![master, districts[c][d], ms(now)])?;
            }
            if rng.chance(0.3) {
                for k in 0..1 + rng.below(3) {
                    // At most one PAYMENT order each: it counts against the active-order limit.
                    let status = if k == 0 && rng.chance(0.2) { "PAYMENT" } else { "CLOSED" };
                    let created = ms(now) - (rng.unit() * 6.9 * 86_400_000.0) as i64;
                    let closed = (status == "CLOSED").then_some(created + 3_600_000);
                    let sum = 150_000 + rng.below(1_350_000) as i64;
                    let district = districts[c][served[0]];
                    insert_order.execute(params![
                        cities[c],
                        district,
                        "+79990000000",
                        CATEGORIES[skills[0]],
                        status,
                        master,
                        sum,
                        created,
                        closed
                    ])?;
                    history_orders += 1;
                }
            }
        }
        for _ in 0..orders {
            let c = rng.below(CITIES);
            let district = districts[c][rng.below(DISTRICTS_PER_CITY)];
            let created = ms(now) - (rng.unit() * 3.0 * 3_600_000.0) as i64;
            insert_order.execute(params![
                cities[c],
                district,
                "+79991234567",
                CATEGORIES[rng.below(CATEGORIES.len())],
                "SEARCHING",
                None::<i64>,
                0,
                created,
                None::<i64>
            ])?;
        }
        let mut incomplete = tx.prepare(
            "INSERT INTO orders (city_id, no_district, client_phone, category, status, dist_since_at, created_at, updated_at)
             VALUES (?1, 1, '+79991234567', 'ELECTRICS', 'SEARCHING', ?2, ?2, ?2)",
        )?;
        for i in 0..no_district {
            incomplete.execute(params![cities[i % CITIES], ms(now) - 4 * 3_600_000 - i as i64])?;
        }
        Ok(Dataset { history_orders })
    })
}

/// `VmHWM` (peak resident set) and `VmRSS` of this process, in MiB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak-RSS mark to the current RSS (Linux `clear_refs` 5); false when the kernel refuses.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn open(durability: Durability) -> (TempDir, Db) {
    let dir = TempDir::new().expect("temp dir");
    let db = Db::open(&dir.path().join("tick.sqlite"), durability).expect("open database");
    (dir, db)
}

/// Times one full reload of the eligible-master pools of all cities: what each tick chunk pays once.
fn pool_reload(db: &Db, now: DateTime<Utc>) -> StdDuration {
    db.read(|c| -> Result<StdDuration, fieldservice::error::Error> {
        let settings = Settings::load(c)?;
        let cities: Vec<i64> =
            c.prepare("SELECT DISTINCT city_id FROM masters")?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        let mut best = StdDuration::MAX;
        for _ in 0..3 {
            let began = Instant::now();
            let mut masters = 0;
            for &city in &cities {
                masters += candidates::city_pool(c, city, now, &settings)?.len();
            }
            assert_eq!(masters, MASTERS);
            best = best.min(began.elapsed());
        }
        Ok(best)
    })
    .expect("pool reload")
}

/// Child: one tick deciding all `n` orders.
fn child_one(n: usize, durability: Durability) -> Vec<(&'static str, String)> {
    let now = Utc::now();
    let (_dir, db) = open(durability);
    let began = Instant::now();
    let dataset = build(&db, now, n, 0).expect("build dataset");
    let build_time = began.elapsed();
    let pool = pool_reload(&db, now);
    let (build_peak, _) = memory_mb();
    let reset = reset_peak();
    let (_, rss_before) = memory_mb();
    eprintln!("  [one:{n}] dataset built in {:.1} s; ticking…", build_time.as_secs_f64());
    let began = Instant::now();
    let report = engine::tick(&db, now, TickOptions { seed: 42, max_orders: n }).expect("tick");
    let tick_time = began.elapsed();
    let (tick_peak, rss_after) = memory_mb();
    assert!(report.ran, "the lease was free");
    if let Ok(keep) = std::env::var("FS_BENCH_KEEP") {
        // A copy of the ticked file, for EXPLAIN QUERY PLAN and timings with the sqlite3 shell.
        db.backup(std::path::Path::new(&keep)).expect("keep a copy of the database");
    }
    let offered: HashSet<i64> = report.offers_sent.iter().map(|o| o.order_id).collect();
    let events = report.events.len();
    let event_json: usize = report.events.iter().map(|e| e.detail.to_string().len()).sum();
    vec![
        ("build_s", format!("{:.3}", build_time.as_secs_f64())),
        ("history_orders", dataset.history_orders.to_string()),
        ("tick_s", format!("{:.4}", tick_time.as_secs_f64())),
        ("decided", report.orders_decided.to_string()),
        ("offered", offered.len().to_string()),
        ("escalations", report.escalations.len().to_string()),
        ("errors", report.errors.len().to_string()),
        ("events", events.to_string()),
        ("event_json_mb", format!("{:.1}", event_json as f64 / 1_048_576.0)),
        ("pool_ms", format!("{:.2}", pool.as_secs_f64() * 1000.0)),
        ("chunks", n.div_ceil(100).to_string()),
        ("build_peak_mb", format!("{build_peak:.1}")),
        ("tick_peak_mb", if reset { format!("{tick_peak:.1}") } else { "n/a".into() }),
        ("process_peak_mb", format!("{:.1}", build_peak.max(tick_peak))),
        ("rss_before_mb", format!("{rss_before:.1}")),
        ("rss_after_mb", format!("{rss_after:.1}")),
    ]
}

/// Accepts and closes every order offered by `report`, as if each master answered at once (untimed).
fn close_offered(db: &Db, now: DateTime<Utc>, report: &TickReport) {
    db.write(|tx| {
        let mut accept = tx.prepare_cached("UPDATE offers SET state = 'ACCEPTED', responded_at = ?2 WHERE id = ?1")?;
        let mut close = tx.prepare_cached(
            "UPDATE orders SET status = 'CLOSED', assigned_master_id = ?2, total_sum_kop = 300000, closed_at = ?3,
                 updated_at = ?3, version = version + 1
             WHERE id = ?1",
        )?;
        for offer in &report.offers_sent {
            accept.execute(params![offer.offer_id, ms(now)])?;
            close.execute(params![offer.order_id, offer.master_id, ms(now)])?;
        }
        Ok::<_, rusqlite::Error>(())
    })
    .expect("close offered orders");
}

/// Child: production ticks of `ORDERS_PER_TICK`; with `answer`, offered orders are accepted and closed between
/// ticks until every order got an offer; without, nobody answers for `ticks` ticks.
fn child_batch(n: usize, no_district: usize, durability: Durability, answer: bool, ticks: usize) -> Vec<(&'static str, String)> {
    let start = Utc::now();
    let (_dir, db) = open(durability);
    build(&db, start, n, no_district).expect("build dataset");
    let wall_cap = StdDuration::from_secs(env_or("FS_BENCH_BATCH_SECONDS", "120").parse().unwrap_or(120));
    let began_all = Instant::now();
    let mut offered: HashSet<i64> = HashSet::new();
    let (mut total, mut slowest, mut first, mut last) = (StdDuration::ZERO, StdDuration::ZERO, StdDuration::ZERO, StdDuration::ZERO);
    let (mut sent, mut done, mut decided) = (0, 0, 0);
    let mut capped = "no";
    let mut stalled_from = None;
    while offered.len() < n && done < ticks {
        if began_all.elapsed() > wall_cap {
            capped = "wall";
            break;
        }
        let now = start + Duration::seconds(TICK_SECONDS * done as i64);
        let began = Instant::now();
        let report = engine::tick(&db, now, TickOptions { seed: done as u64, max_orders: ORDERS_PER_TICK }).expect("tick");
        let took = began.elapsed();
        assert!(report.ran, "the lease was free");
        if done == 0 {
            first = took;
        }
        last = took;
        total += took;
        slowest = slowest.max(took);
        done += 1;
        decided += report.orders_decided;
        sent += report.offers_sent.len();
        offered.extend(report.offers_sent.iter().map(|o| o.order_id));
        if report.offers_sent.is_empty() && stalled_from.is_none() {
            stalled_from = Some(done);
        } else if !report.offers_sent.is_empty() {
            stalled_from = None;
        }
        if answer {
            close_offered(&db, now, &report);
        }
        if done % 100 == 0 {
            eprintln!("  [batch:{n}] {done} ticks, {} orders offered", offered.len());
        }
    }
    if offered.len() < n && capped == "no" {
        capped = "ticks";
    }
    let escalated: i64 = db
        .read(|c| -> Result<i64, fieldservice::error::Error> {
            Ok(c.query_row("SELECT COUNT(*) FROM orders WHERE dist_escalated_logist_at IS NOT NULL", [], |r| r.get(0))?)
        })
        .expect("count escalated");
    vec![
        ("ticks", done.to_string()),
        ("capped", capped.to_string()),
        ("offered", offered.len().to_string()),
        ("offers_sent", sent.to_string()),
        ("decided", decided.to_string()),
        ("escalated", escalated.to_string()),
        ("total_s", format!("{:.4}", total.as_secs_f64())),
        ("first_ms", format!("{:.2}", first.as_secs_f64() * 1000.0)),
        ("last_ms", format!("{:.2}", last.as_secs_f64() * 1000.0)),
        ("max_ms", format!("{:.2}", slowest.as_secs_f64() * 1000.0)),
        ("simulated_min", format!("{:.1}", (TICK_SECONDS * done as i64) as f64 / 60.0)),
        ("no_offer_since_tick", stalled_from.map_or("-".into(), |t| t.to_string())),
    ]
}

fn durability() -> Durability {
    match env_or("FS_BENCH_DURABILITY", "full").as_str() {
        "normal" => Durability::Normal,
        _ => Durability::Full,
    }
}

/// Runs one mode in a child process; its `RESULT` line as key → value, or why it failed.
fn run_child(spec: &str) -> Result<HashMap<String, String>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .env("FS_BENCH_CHILD", spec)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("child {spec} failed: {}", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).ok_or(format!("child {spec} printed no result"))?;
    Ok(line.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn child(spec: &str) {
    let (mode, n) = spec.split_once(':').expect("FS_BENCH_CHILD is <mode>:<N>");
    let n: usize = n.parse().expect("N is a number");
    let stall_ticks = env_or("FS_BENCH_STALL_TICKS", "40").parse().unwrap_or(40);
    let result = match mode {
        "one" => child_one(n, durability()),
        "batch" => child_batch(n, 0, durability(), true, n.div_ceil(ORDERS_PER_TICK) * 2 + 20),
        "stall" => child_batch(n, 0, durability(), false, stall_ticks),
        // A full batch of older "address incomplete" orders, escalated to people on their first tick, then
        // masters who answer: the ordinary orders must still be offered.
        "stall_nd" => child_batch(n, ORDERS_PER_TICK, durability(), true, stall_ticks),
        other => panic!("unknown mode {other}"),
    };
    let line: Vec<String> = result.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
}

fn num(row: &HashMap<String, String>, key: &str) -> f64 {
    row.get(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn text<'a>(row: &'a HashMap<String, String>, key: &str) -> &'a str {
    row.get(key).map_or("?", String::as_str)
}

fn main() {
    if let Ok(spec) = std::env::var("FS_BENCH_CHILD") {
        child(&spec);
        return;
    }
    let sizes: Vec<usize> = env_or("FS_BENCH_SIZES", "1000,10000,50000").split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let durability = durability();
    println!(
        "tick bench: {CITIES} cities x {DISTRICTS_PER_CITY} districts, {MASTERS} masters, durability {:?}, sizes {sizes:?}",
        durability
    );
    println!("(every row ran in its own child process on a fresh temporary file)\n");

    let mut one = Vec::new();
    let mut batch = Vec::new();
    for &n in &sizes {
        eprintln!("running one:{n}");
        one.push((n, run_child(&format!("one:{n}"))));
        eprintln!("running batch:{n}");
        batch.push((n, run_child(&format!("batch:{n}"))));
    }
    let stall_n = 1000;
    eprintln!("running stall:{stall_n}");
    let stall = run_child(&format!("stall:{stall_n}"));
    eprintln!("running stall_nd:{stall_n}");
    let stall_nd = run_child(&format!("stall_nd:{stall_n}"));

    println!("One tick deciding all N orders (TickOptions {{ max_orders: N }})");
    println!(
        "{:>6} {:>8} {:>8} {:>10} {:>9} {:>7} {:>7} {:>6} {:>6} {:>9} {:>9} {:>10} {:>10}",
        "N", "build s", "tick s", "orders/s", "µs/order", "growth", "offered", "escal", "errors", "pool ms", "pool %", "tick pk MB", "proc pk MB"
    );
    let base_one = one.iter().find_map(|(n, r)| r.as_ref().ok().map(|r| num(r, "tick_s") * 1e6 / *n as f64));
    for (n, row) in &one {
        match row {
            Ok(r) => {
                let tick = num(r, "tick_s");
                let per = tick * 1e6 / *n as f64;
                // Each chunk of 100 orders reloads the pools of the cities it touches (all 20 here).
                let pool_share = num(r, "pool_ms") * num(r, "chunks") / 1000.0 / tick * 100.0;
                println!(
                    "{:>6} {:>8.2} {:>8.3} {:>10.0} {:>9.1} {:>7.2} {:>7} {:>6} {:>6} {:>9.2} {:>8.0}% {:>10} {:>10}",
                    n,
                    num(r, "build_s"),
                    tick,
                    *n as f64 / tick,
                    per,
                    base_one.map_or(f64::NAN, |b| per / b),
                    text(r, "offered"),
                    text(r, "escalations"),
                    text(r, "errors"),
                    num(r, "pool_ms"),
                    pool_share,
                    text(r, "tick_peak_mb"),
                    text(r, "process_peak_mb"),
                );
            }
            Err(e) => println!("{n:>6} {e}"),
        }
    }
    println!(
        "  targets: >= {ORDERS_PER_SECOND_TARGET:.0} orders/s at N=10000; growth (µs/order / µs/order at N={}) ~1, not worse than linear; \
         process peak < {PEAK_MB_TARGET:.0} MB at N=50000",
        sizes.first().copied().unwrap_or(0)
    );
    println!("  pool ms = one reload of all 20 cities' master pools (candidates::city_pool); pool % = that x chunks / tick time");
    for (n, row) in &one {
        if let Ok(r) = row {
            let target = if *n == 10_000 {
                format!(" [{}]", if *n as f64 / num(r, "tick_s") >= ORDERS_PER_SECOND_TARGET { "orders/s target met" } else { "orders/s target MISSED" })
            } else if *n == 50_000 {
                format!(" [{}]", if num(r, "process_peak_mb") < PEAK_MB_TARGET { "memory target met" } else { "memory target MISSED" })
            } else {
                String::new()
            };
            println!(
                "  N={n}: {} events ({} MB of JSON held in TickReport), RSS before/after tick {}/{} MB, dataset peak {} MB, {} history orders{target}",
                text(r, "events"),
                text(r, "event_json_mb"),
                text(r, "rss_before_mb"),
                text(r, "rss_after_mb"),
                text(r, "build_peak_mb"),
                text(r, "history_orders"),
            );
        }
    }

    println!("\nProduction batch (max_orders: ORDERS_PER_TICK = {ORDERS_PER_TICK}), clock +{TICK_SECONDS} s per tick, offered orders accepted+closed between ticks");
    println!(
        "{:>6} {:>6} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "N", "ticks", "capped", "offered", "tick s", "ms/tick", "first ms", "last ms", "µs/order", "growth", "sim min"
    );
    let base_batch = batch.iter().find_map(|(_, r)| r.as_ref().ok().map(|r| num(r, "total_s") * 1e6 / num(r, "offered")));
    for (n, row) in &batch {
        match row {
            Ok(r) => {
                let total = num(r, "total_s");
                let per = total * 1e6 / num(r, "offered");
                println!(
                    "{:>6} {:>6} {:>7} {:>8} {:>9.2} {:>9.2} {:>9} {:>9} {:>9.1} {:>7.2} {:>7}",
                    n,
                    text(r, "ticks"),
                    text(r, "capped"),
                    text(r, "offered"),
                    total,
                    total * 1000.0 / num(r, "ticks"),
                    text(r, "first_ms"),
                    text(r, "last_ms"),
                    per,
                    base_batch.map_or(f64::NAN, |b| per / b),
                    text(r, "simulated_min"),
                );
            }
            Err(e) => println!("{n:>6} {e}"),
        }
    }

    println!("\nStall check: N={stall_n} orders, production ticks, clock +{TICK_SECONDS} s per tick");
    println!(
        "{:<48} {:>6} {:>7} {:>7} {:>11} {:>12} {:>10} {:>14}",
        "scenario", "ticks", "sim min", "offers", "orders ever", "orders never", "escalated", "no offer since"
    );
    for (scenario, row) in [
        ("nobody answers", &stall),
        ("+1 batch of no-district orders; masters answer", &stall_nd),
    ] {
        match row {
            Ok(r) => println!(
                "{:<48} {:>6} {:>7} {:>7} {:>11} {:>12} {:>10} {:>14}",
                scenario,
                text(r, "ticks"),
                text(r, "simulated_min"),
                text(r, "offers_sent"),
                text(r, "offered"),
                stall_n as f64 - num(r, "offered"),
                text(r, "escalated"),
                text(r, "no_offer_since_tick"),
            ),
            Err(e) => println!("{scenario:<48} {e}"),
        }
    }
    println!("  orders never = of the {stall_n} ordinary orders (each has eligible masters), never offered to anyone;");
    println!("  escalated = orders with dist_escalated_logist_at set at the end; no offer since = first tick of the final run of");
    println!("  ticks that sent no offer ('-' = the last tick still sent offers)");
}
