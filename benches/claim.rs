//! Claim benchmarks: how fast masters can accept offers, against the bare cost of one write transaction,
//! and how one order behaves when 1,000 masters press "accept" at the same instant.
//!
//! Run with `cargo bench --bench claim`. The machine is shared, so every number is read against a baseline
//! measured in the same run, on the same file and durability; nothing here asserts on time. Knobs (env):
//! `FS_BENCH_CLAIM_TXS` (transactions per measurement, default 2000), `FS_BENCH_CONTENDERS` (default 1000),
//! `FS_BENCH_CONTENDED_RUNS` (default 3).

use std::sync::{Arc, Barrier};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use fieldservice::db::{Db, Durability, ms};
use fieldservice::error::Error;
use fieldservice::offers;
use rusqlite::{Transaction, params};
use tempfile::TempDir;

/// Target of the claim/baseline ratio.
const RATIO_TARGET: f64 = 0.5;
/// Target p99 of a contended accept.
const P99_TARGET: StdDuration = StdDuration::from_millis(50);
/// Writer threads of the throughput measurements.
const THREADS: usize = 2;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn label(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    }
}

/// A fresh database file in its own temporary directory (kept alive by the returned guard).
fn open(durability: Durability) -> (TempDir, Db) {
    let dir = TempDir::new().expect("temp dir");
    let db = Db::open(&dir.path().join("claim.sqlite"), durability).expect("open database");
    (dir, db)
}

/// Rows inserted straight with SQL: one seeded city, one district, masters, orders and offers.
struct Seeder {
    city: i64,
    district: i64,
    next_phone: i64,
}

impl Seeder {
    fn new(tx: &Transaction<'_>, now: DateTime<Utc>) -> rusqlite::Result<Self> {
        let city: i64 = tx.query_row("SELECT id FROM cities ORDER BY id LIMIT 1", [], |r| r.get(0))?;
        tx.execute(
            "INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Bench district', ?2)",
            params![city, ms(now)],
        )?;
        Ok(Self { city, district: tx.last_insert_rowid(), next_phone: 0 })
    }

    /// Verified, active masters on shift, with the highest allowed active-order limit.
    fn masters(&mut self, tx: &Transaction<'_>, now: DateTime<Utc>, count: usize) -> rusqlite::Result<Vec<i64>> {
        let mut insert = tx.prepare_cached(
            "INSERT INTO masters (full_name, phone, city_id, rating, is_active, verified, verified_at, moderation_status,
                 shift_status, is_on_shift, max_active_orders_override, created_at, updated_at)
             VALUES ('Bench master', ?1, ?2, 4.5, 1, 1, ?3, 'APPROVED', 'SHIFT_ON', 1, 20, ?3, ?3)",
        )?;
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            self.next_phone += 1;
            insert.execute(params![format!("+79{:09}", self.next_phone), self.city, ms(now)])?;
            ids.push(tx.last_insert_rowid());
        }
        Ok(ids)
    }

    /// A SEARCHING order in the bench district.
    fn order(&self, tx: &Transaction<'_>, now: DateTime<Utc>) -> rusqlite::Result<i64> {
        tx.prepare_cached(
            "INSERT INTO orders (city_id, district_id, client_phone, category, status, dist_since_at, created_at, updated_at)
             VALUES (?1, ?2, '+79990000000', 'ELECTRICS', 'SEARCHING', ?3, ?3, ?3)",
        )?
        .execute(params![self.city, self.district, ms(now)])?;
        Ok(tx.last_insert_rowid())
    }

    /// A SENT offer, live for a day.
    fn offer(&self, tx: &Transaction<'_>, now: DateTime<Utc>, order: i64, master: i64) -> rusqlite::Result<i64> {
        tx.prepare_cached(
            "INSERT INTO offers (order_id, master_id, state, sent_at, expires_at, created_at) VALUES (?1, ?2, 'SENT', ?3, ?4, ?3)",
        )?
        .execute(params![order, master, ms(now), ms(now + Duration::days(1))])?;
        Ok(tx.last_insert_rowid())
    }
}

/// Splits `work` round-robin over [`THREADS`] threads running `each` on every item; returns the wall time.
fn on_threads<T: Copy + Send + Sync + 'static>(work: Vec<T>, each: impl Fn(usize, T) + Send + Sync + 'static) -> StdDuration {
    let work = Arc::new(work);
    let each = Arc::new(each);
    let start = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (work, each, start) = (work.clone(), each.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for item in work.iter().skip(t).step_by(THREADS) {
                    each(t, *item);
                }
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for handle in handles {
        handle.join().expect("bench thread panicked");
    }
    began.elapsed()
}

/// (a) One-row `BEGIN IMMEDIATE; INSERT; COMMIT` through `Db::write` from two threads: transactions per second.
fn baseline(db: &Db, count: usize, now: DateTime<Utc>) -> f64 {
    db.write(|tx| {
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, thread INTEGER NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL)",
        )
    })
    .expect("create bench table");
    let db = db.clone();
    let elapsed = on_threads((0..count).collect(), move |t, n| {
        db.write(|tx| tx.execute("INSERT INTO bench_rows (thread, n, at) VALUES (?1, ?2, ?3)", params![t as i64, n as i64, ms(now)]))
            .expect("baseline insert");
    });
    count as f64 / elapsed.as_secs_f64()
}

/// (b) Distinct offers — each order has one live offer to its own master — accepted from two threads
/// through `offers::accept_now`: accepts per second.
fn claim(db: &Db, seeder: &mut Seeder, count: usize, now: DateTime<Utc>) -> f64 {
    let pairs: Vec<(i64, i64)> = db
        .write(|tx| {
            let masters = seeder.masters(tx, now, count)?;
            masters
                .into_iter()
                .map(|master| {
                    let order = seeder.order(tx, now)?;
                    Ok((master, seeder.offer(tx, now, order, master)?))
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("seed claim fixture");
    let db = db.clone();
    let elapsed = on_threads(pairs, move |_, (master, offer)| {
        offers::accept_now(&db, now, master, offer).expect("a distinct offer is accepted");
    });
    count as f64 / elapsed.as_secs_f64()
}

/// What one contender got.
enum Outcome {
    Won,
    Taken,
    Other(String),
}

/// One contended run's results.
struct Contended {
    p50: StdDuration,
    p99: StdDuration,
    max: StdDuration,
    /// First call started → last call returned.
    wall: StdDuration,
    /// First call started → last call started: how long the 2 cores took to get every released thread running.
    release: StdDuration,
    /// Mean of a loser's accept_now called again afterwards, one at a time: the work each loser costs.
    solo_loser: StdDuration,
    won: usize,
    taken: usize,
    other: Vec<String>,
    state_ok: bool,
}

/// The nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// (c) One order, one live offer to each of `masters`; all threads are released by one barrier and call
/// `offers::accept_now` at once. Measures each call and checks there is exactly one winner.
fn contended(db: &Db, seeder: &Seeder, masters: &[i64], now: DateTime<Utc>) -> Contended {
    let (order, contenders): (i64, Vec<(i64, i64)>) = db
        .write(|tx| {
            let order = seeder.order(tx, now)?;
            let offers = masters.iter().map(|&m| Ok((m, seeder.offer(tx, now, order, m)?))).collect::<rusqlite::Result<Vec<_>>>()?;
            Ok::<_, rusqlite::Error>((order, offers))
        })
        .expect("seed contended fixture");
    let start = Arc::new(Barrier::new(contenders.len() + 1));
    let handles: Vec<_> = contenders
        .into_iter()
        .map(|(master, offer)| {
            let (db, start) = (db.clone(), start.clone());
            std::thread::Builder::new()
                .stack_size(512 * 1024)
                .spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    let result = offers::accept_now(&db, now, master, offer);
                    let ended = Instant::now();
                    let outcome = match result {
                        Ok(_) => Outcome::Won,
                        Err(Error::OfferTaken) => Outcome::Taken,
                        Err(other) => Outcome::Other(format!("{other:?}")),
                    };
                    (began, ended, (master, offer), outcome)
                })
                .expect("spawn contender")
        })
        .collect();
    start.wait();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("contender panicked")).collect();
    let first_start = results.iter().map(|r| r.0).min().expect("at least one contender");
    let last_start = results.iter().map(|r| r.0).max().expect("at least one contender");
    let last_end = results.iter().map(|r| r.1).max().expect("at least one contender");
    let mut latencies: Vec<StdDuration> = results.iter().map(|(began, ended, _, _)| *ended - *began).collect();
    latencies.sort();
    let won = results.iter().filter(|r| matches!(r.3, Outcome::Won)).count();
    let taken = results.iter().filter(|r| matches!(r.3, Outcome::Taken)).count();
    let losers: Vec<(i64, i64)> = results.iter().filter(|r| matches!(r.3, Outcome::Taken)).map(|r| r.2).take(200).collect();
    let solo = Instant::now();
    for &(master, offer) in &losers {
        assert!(matches!(offers::accept_now(db, now, master, offer), Err(Error::OfferTaken)));
    }
    let solo_loser = solo.elapsed() / losers.len().max(1) as u32;
    let other = results
        .into_iter()
        .filter_map(|(_, _, _, o)| match o {
            Outcome::Other(e) => Some(e),
            _ => None,
        })
        .collect();
    // The stored state must agree: the order ASSIGNED, one ACCEPTED offer, every other one CANCELED.
    let state_ok = db
        .read(|c| -> Result<bool, Error> {
            let (status, assigned): (String, Option<i64>) =
                c.query_row("SELECT status, assigned_master_id FROM orders WHERE id = ?1", [order], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (accepted, canceled, open): (i64, i64, i64) = c.query_row(
                "SELECT COUNT(*) FILTER (WHERE state = 'ACCEPTED'), COUNT(*) FILTER (WHERE state = 'CANCELED'),
                        COUNT(*) FILTER (WHERE state IN ('SENT', 'VIEWED')) FROM offers WHERE order_id = ?1",
                [order],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            Ok(status == "ASSIGNED" && assigned.is_some() && accepted == 1 && canceled == masters.len() as i64 - 1 && open == 0)
        })
        .expect("read contended state");
    Contended {
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: *latencies.last().expect("at least one contender"),
        wall: last_end - first_start,
        release: last_start - first_start,
        solo_loser,
        won,
        taken,
        other,
        state_ok,
    }
}

fn millis(d: StdDuration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let count = env_usize("FS_BENCH_CLAIM_TXS", 2000);
    let contenders = env_usize("FS_BENCH_CONTENDERS", 1000);
    let runs = env_usize("FS_BENCH_CONTENDED_RUNS", 3);
    let now = Utc::now();
    println!("claim bench: {count} transactions per throughput measurement on {THREADS} threads, {contenders} contenders x {runs} runs");
    println!("(the baseline is measured before and after the claim run; the ratio uses their mean)\n");

    let mut throughput = Vec::new();
    let mut contended_rows = Vec::new();
    for durability in [Durability::Full, Durability::Normal] {
        let (_dir, db) = open(durability);
        let mut seeder = db.write(|tx| Seeder::new(tx, now)).expect("seed city");
        let before = baseline(&db, count, now);
        let accepts = claim(&db, &mut seeder, count, now);
        let after = baseline(&db, count, now);
        throughput.push((durability, before, after, accepts));

        let masters = db.write(|tx| seeder.masters(tx, now, contenders)).expect("seed contenders");
        for run in 1..=runs {
            contended_rows.push((durability, run, contended(&db, &seeder, &masters, now)));
        }
    }

    println!("Throughput: one-row write transactions (baseline) vs offers::accept_now on distinct offers (claim)");
    println!(
        "{:<11} {:>14} {:>14} {:>12} {:>12} {:>10} {:>8} {:>6}",
        "durability", "baseline tx/s", "(after) tx/s", "claim acc/s", "µs/accept", "ratio", "target", "ok"
    );
    for (durability, before, after, accepts) in &throughput {
        let mean = (before + after) / 2.0;
        let ratio = accepts / mean;
        println!(
            "{:<11} {:>14.0} {:>14.0} {:>12.0} {:>12.0} {:>10.2} {:>8} {:>6}",
            label(*durability),
            before,
            after,
            accepts,
            1e6 / accepts,
            ratio,
            format!(">= {RATIO_TARGET}"),
            if ratio >= RATIO_TARGET { "yes" } else { "NO" }
        );
    }

    println!("\nContended: {contenders} masters accept their offers for ONE order at once (one barrier, one thread each)");
    println!(
        "{:<11} {:>4} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>5} {:>6} {:>6} {:>9} {:>8}",
        "durability", "run", "p50 ms", "p99 ms", "max ms", "wall ms", "release ms", "solo µs", "won", "taken", "other", "state ok", "p99<50ms"
    );
    for (durability, run, c) in &contended_rows {
        let exact = c.won == 1 && c.taken == contenders - 1 && c.other.is_empty();
        println!(
            "{:<11} {:>4} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9.0} {:>5} {:>6} {:>6} {:>9} {:>8}",
            label(*durability),
            run,
            millis(c.p50),
            millis(c.p99),
            millis(c.max),
            millis(c.wall),
            millis(c.release),
            c.solo_loser.as_secs_f64() * 1e6,
            c.won,
            c.taken,
            c.other.len(),
            if c.state_ok && exact { "yes" } else { "NO" },
            if c.p99 < P99_TARGET { "yes" } else { "NO" }
        );
        for error in c.other.iter().take(3) {
            println!("    unexpected error: {error}");
        }
    }
    println!("  latency = one thread's accept_now, from its own release to its return (includes waiting for a core,");
    println!("  a pooled reader and the writer); wall = first start to last return; release = first start to last start;");
    println!("  solo µs = a loser's accept_now repeated afterwards one at a time (its own cost, no queueing)");
}
