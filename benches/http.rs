//! HTTP benchmarks: the real server (`fieldservice serve`, a child process) on loopback, driven by a load
//! generator in this process (tokio + reqwest, HTTP/1.1 keep-alive, one connection per simulated client).
//!
//! Run with `cargo bench --bench http`. For each durability a fresh database is built with the library (plain
//! SQL in one transaction, like `benches/claim.rs`), the server is started on it and measured:
//! (a) accept requests per second on distinct offers against the raw one-row `BEGIN IMMEDIATE … COMMIT` rate of
//! the same file and durability, measured in this process while the server is idle (in rounds: a baseline
//! before the first accept round and after each, since fsync costs drift on a shared disk); (b) the race of
//! 1,000 masters for one order, released together, then `fieldservice check`; (c) `GET` of a master's live
//! offers and of the staff order queue under 200 concurrent clients, back to back (closed loop) and paced
//! (one request per client every 250 ms); (d) the server's peak RSS. The server's CPU time is read from
//! `/proc` around each part, and its log (level warn) is scanned for errors at the end.
//!
//! The machine is shared and the load generator runs on the same cores as the server, so read the ratio
//! and the tails rather than absolute throughput; nothing here asserts on time.
//!
//! Knobs (env): `FS_BENCH_HTTP_DURABILITY` (`full,normal` by default), `FS_BENCH_HTTP_ACCEPTS` (distinct
//! offers accepted in (a), default 1000), `FS_BENCH_HTTP_CLIENTS` (concurrent clients of (a), default 8),
//! `FS_BENCH_HTTP_BASELINE_TXS` (default 1000), `FS_BENCH_HTTP_RACERS` (default 1000), `FS_BENCH_HTTP_RACES`
//! (default 3), `FS_BENCH_HTTP_READERS` (default 200), `FS_BENCH_HTTP_READS_EACH` (requests per reader and
//! endpoint, default 25), `FS_BENCH_HTTP_ROUNDS` (accept rounds between baselines, default 5),
//! `FS_BENCH_HTTP_PACE_MS` (the paced read run: one request per client every N ms, default 250; 0 = off),
//! `FS_BENCH_HTTP_KEEP` (a path: a copy of each database after its run is written to `<path>.<durability>`).
//!
//! (a) runs 8 clients by default: a firm has many masters pressing accept at once, and with only 3 the
//! measure is each client's round trip (the server idles between requests) rather than the server's rate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use fieldservice::auth::{self, Owner};
use fieldservice::db::{Db, Durability, ms};
use fieldservice::domain::StaffRole;
use fieldservice::error::Error;
use fieldservice::{password, staff};
use rusqlite::{Transaction, params};
use serde_json::Value;
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tokio::sync::{Barrier, Semaphore};

/// Targets from the issue.
const RATIO_TARGET: f64 = 0.4;
const RACE_P99_TARGET: StdDuration = StdDuration::from_millis(100);
const READ_P95_TARGET: StdDuration = StdDuration::from_millis(10);
const PEAK_MB_TARGET: f64 = 100.0;
/// The upstream Python system's figure, for comparison.
const UPSTREAM_ACCEPTS_PER_SECOND: f64 = 133.7;
/// Live offers each reader master holds in (c).
const OFFERS_PER_READER: usize = 5;
/// Orders the readers' offers are spread over.
const READER_ORDERS: usize = 20;
/// No request may take longer than this (a hung server fails the run instead of stalling it).
const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(30);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn label(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    }
}

fn env_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "full",
        Durability::Normal => "normal",
    }
}

struct Sizes {
    accepts: usize,
    clients: usize,
    baseline_txs: usize,
    racers: usize,
    races: usize,
    readers: usize,
    reads_each: usize,
    rounds: usize,
    pace_ms: usize,
}

/// One master with a bearer token and the live offer he is to accept.
#[derive(Clone)]
struct Ticket {
    offer: i64,
    token: String,
}

/// What the database was built with.
struct Fixture {
    /// (a): one order per master, one offer each.
    accepts: Vec<Ticket>,
    /// (b): per race, its order and one ticket per racer.
    races: Vec<(i64, Vec<Ticket>)>,
    /// (c): tokens of masters holding [`OFFERS_PER_READER`] live offers each.
    readers: Vec<String>,
    /// (c): a GLOBAL_ADMIN's token.
    admin: String,
    orders: usize,
}

/// Rows inserted straight with SQL: one seeded city, one district, masters, orders, offers.
struct Seeder {
    city: i64,
    district: i64,
    next_phone: i64,
}

impl Seeder {
    fn new(tx: &Transaction<'_>, now: DateTime<Utc>) -> rusqlite::Result<Self> {
        let city: i64 = tx.query_row("SELECT id FROM cities ORDER BY id LIMIT 1", [], |r| r.get(0))?;
        tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Bench district', ?2)", params![city, ms(now)])?;
        Ok(Self { city, district: tx.last_insert_rowid(), next_phone: 0 })
    }

    /// Verified, active masters on shift serving the district with the ELECTRICS skill, each with a token.
    fn masters(&mut self, tx: &Transaction<'_>, now: DateTime<Utc>, count: usize) -> Result<Vec<(i64, String)>, Error> {
        let mut insert = tx.prepare_cached(
            "INSERT INTO masters (full_name, phone, city_id, rating, is_active, verified, verified_at, moderation_status,
                 shift_status, is_on_shift, max_active_orders_override, created_at, updated_at)
             VALUES ('Bench master', ?1, ?2, 4.5, 1, 1, ?3, 'APPROVED', 'SHIFT_ON', 1, 20, ?3, ?3)",
        )?;
        let mut skill = tx.prepare_cached("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, 'ELECTRICS', ?2)")?;
        let mut district = tx.prepare_cached("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, ?3)")?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            self.next_phone += 1;
            insert.execute(params![format!("+79{:09}", self.next_phone), self.city, ms(now)])?;
            let id = tx.last_insert_rowid();
            skill.execute(params![id, ms(now)])?;
            district.execute(params![id, self.district, ms(now)])?;
            let (_, token) = auth::create_token(tx, now, Owner::Master(id), "bench")?;
            out.push((id, token));
        }
        Ok(out)
    }

    /// A SEARCHING order in the bench district, with its first history row (as `fieldservice check` expects).
    fn order(&self, tx: &Transaction<'_>, now: DateTime<Utc>) -> rusqlite::Result<i64> {
        tx.prepare_cached(
            "INSERT INTO orders (city_id, district_id, client_phone, category, status, dist_since_at, created_at, updated_at)
             VALUES (?1, ?2, '+79990000000', 'ELECTRICS', 'SEARCHING', ?3, ?3, ?3)",
        )?
        .execute(params![self.city, self.district, ms(now)])?;
        let id = tx.last_insert_rowid();
        tx.prepare_cached(
            "INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor_type, created_at)
             VALUES (?1, NULL, 'SEARCHING', 'created', 'SYSTEM', ?2)",
        )?
        .execute(params![id, ms(now)])?;
        Ok(id)
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

/// Builds everything in one transaction; also the baseline's table and a quiet scheduler.
fn build(db: &Db, now: DateTime<Utc>, sizes: &Sizes) -> Fixture {
    db.write(|tx| -> Result<Fixture, Error> {
        let mut seeder = Seeder::new(tx, now)?;
        tx.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES ('distribution_tick_seconds', '3600', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            [ms(now)],
        )?;
        tx.execute_batch(
            "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, at INTEGER NOT NULL)",
        )?;
        let hash = password::hash("bench-password");
        let admin = staff::create(tx, now, "bench-admin", &hash, StaffRole::GlobalAdmin, "Bench admin", &[])?;
        let (_, admin) = auth::create_token(tx, now, Owner::Staff(admin), "bench")?;
        let mut orders = 0;

        let mut accepts = Vec::with_capacity(sizes.accepts);
        for (master, token) in seeder.masters(tx, now, sizes.accepts)? {
            let order = seeder.order(tx, now)?;
            orders += 1;
            accepts.push(Ticket { offer: seeder.offer(tx, now, order, master)?, token });
        }

        let racers = seeder.masters(tx, now, sizes.racers)?;
        let mut races = Vec::with_capacity(sizes.races);
        for _ in 0..sizes.races {
            let order = seeder.order(tx, now)?;
            orders += 1;
            let tickets = racers
                .iter()
                .map(|(master, token)| Ok(Ticket { offer: seeder.offer(tx, now, order, *master)?, token: token.clone() }))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            races.push((order, tickets));
        }

        let reader_orders = (0..READER_ORDERS).map(|_| seeder.order(tx, now)).collect::<rusqlite::Result<Vec<_>>>()?;
        orders += READER_ORDERS;
        let mut readers = Vec::with_capacity(sizes.readers);
        for (i, (master, token)) in seeder.masters(tx, now, sizes.readers)?.into_iter().enumerate() {
            for k in 0..OFFERS_PER_READER {
                seeder.offer(tx, now, reader_orders[(i + k) % READER_ORDERS], master)?;
            }
            readers.push(token);
        }
        Ok(Fixture { accepts, races, readers, admin, orders })
    })
    .expect("build the fixture")
}

/// The server under test: a child process.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

/// `VmHWM` (peak resident set) and `VmRSS` of a process, in MiB.
fn memory_mb(pid: u32) -> (f64, f64) {
    let (hwm, rss, _) = memory(pid);
    (hwm, rss)
}

/// `VmHWM`, `VmRSS` (MiB) and the thread count of a process.
fn memory(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    let threads = status.lines().find(|l| l.starts_with("Threads:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok());
    (field("VmHWM:"), field("VmRSS:"), threads.unwrap_or(f64::NAN))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("local address").port()
}

/// The environment every `fieldservice` child gets: ours, with any inherited `FIELDSERVICE_*` removed.
fn fieldservice(dir: &Path, database: &Path, durability: Durability, listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fieldservice"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FIELDSERVICE_") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(dir)
        .env("FIELDSERVICE_CONFIG", dir.join("no-such-config.toml"))
        .env("FIELDSERVICE_DATA_DIR", dir)
        .env("FIELDSERVICE_DATABASE", database)
        .env("FIELDSERVICE_DURABILITY", env_name(durability))
        .env("FIELDSERVICE_LISTEN", listen)
        .env("FIELDSERVICE_LOG_LEVEL", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

impl Server {
    fn start(rt: &Runtime, dir: &Path, database: &Path, durability: Durability) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log).expect("create the server log");
        let child = fieldservice(dir, database, durability, &listen)
            .arg("serve")
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("start fieldservice serve");
        let mut server = Self { child, base: format!("http://{listen}"), log };
        let began = Instant::now();
        let http = reqwest::Client::builder().no_proxy().timeout(StdDuration::from_secs(2)).build().expect("client");
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited with {status} during start-up:\n{}", std::fs::read_to_string(&server.log).unwrap_or_default());
            }
            let ready = rt.block_on(async { http.get(format!("{}/healthz", server.base)).send().await.map(|r| r.status().as_u16()) });
            if let Ok(200) = ready {
                break;
            }
            assert!(began.elapsed() < StdDuration::from_secs(30), "the server did not answer /healthz within 30 s: {ready:?}");
            std::thread::sleep(StdDuration::from_millis(50));
        }
        server
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits (up to 15 s; then SIGKILL). Returns how it ended.
    fn stop(mut self) -> String {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let began = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return format!("{status} after SIGTERM ({:.0} ms)", began.elapsed().as_secs_f64() * 1000.0),
                Ok(None) if began.elapsed() < StdDuration::from_secs(15) => std::thread::sleep(StdDuration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return "did not stop within 15 s of SIGTERM; killed".into();
                }
            }
        }
    }
}

/// A client with one keep-alive connection (the requests of one simulated user are sequential).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(StdDuration::from_secs(300))
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("build a client")
}

/// Opens each client's connection (a `/healthz` round trip), at most 64 at a time.
async fn warm(base: &str, clients: &[reqwest::Client]) {
    let gate = Arc::new(Semaphore::new(64));
    let tasks: Vec<_> = clients
        .iter()
        .map(|c| {
            let (c, gate, url) = (c.clone(), gate.clone(), format!("{base}/healthz"));
            tokio::spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore");
                let r = c.get(url).send().await.expect("warm-up request");
                assert_eq!(r.status().as_u16(), 200, "warm-up /healthz");
                r.bytes().await.expect("warm-up body");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("warm-up task");
    }
}

/// What one request got.
#[derive(Debug, Clone)]
struct Reply {
    /// HTTP status, or 0 for a transport error.
    status: u16,
    /// `error.code` of a JSON error body, or the transport error.
    code: Option<String>,
    began: Instant,
    ended: Instant,
    body_len: usize,
}

impl Reply {
    fn latency(&self) -> StdDuration {
        self.ended - self.began
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let began = Instant::now();
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            let code = if status >= 400 {
                serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            } else {
                None
            };
            Reply { status, code, began, ended: Instant::now(), body_len: body.len() }
        }
        Err(error) => Reply { status: 0, code: Some(format!("transport: {error}")), began, ended: Instant::now(), body_len: 0 },
    }
}

/// `status[/code] × count`, most frequent first.
fn tally(replies: &[Reply]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in replies {
        let key = match &r.code {
            Some(code) if r.status == 0 => format!("ERR({code})"),
            Some(code) => format!("{}/{code}", r.status),
            None => r.status.to_string(),
        };
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 += 1,
            None => counts.push((key, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.iter().map(|(k, n)| format!("{k}×{n}")).collect::<Vec<_>>().join(" ")
}

/// The nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    if sorted.is_empty() {
        return StdDuration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn sorted_latencies(replies: &[Reply]) -> Vec<StdDuration> {
    let mut l: Vec<StdDuration> = replies.iter().map(Reply::latency).collect();
    l.sort();
    l
}

fn millis(d: StdDuration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn accept_url(base: &str, offer: i64) -> String {
    format!("{base}/api/v1/me/offers/{offer}/accept")
}

/// The baseline: one-row `BEGIN IMMEDIATE; INSERT; COMMIT` through `Db::write`, one after another, on the
/// server's file (the server idle). Transactions done and the time they took; stops early after 5 s.
fn baseline(db: &Db, count: usize, now: DateTime<Utc>) -> (usize, StdDuration) {
    let began = Instant::now();
    let mut done = 0;
    while done < count && began.elapsed() < StdDuration::from_secs(5) {
        db.write(|tx| tx.execute("INSERT INTO bench_rows (n, at) VALUES (?1, ?2)", params![done as i64, ms(now)])).expect("baseline insert");
        done += 1;
    }
    (done, began.elapsed())
}

/// Server CPU time (user + system) so far, in seconds (Linux: `/proc/<pid>/stat`, 100 ticks per second).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

/// (a) Every ticket accepted once, spread round-robin over the (warm) clients of `pool`, all at once.
async fn accept_run(base: &str, pool: &[reqwest::Client], tickets: &[Ticket]) -> (Vec<Reply>, StdDuration) {
    let clients = pool.len();
    let start = Arc::new(Barrier::new(clients + 1));
    let tasks: Vec<_> = pool
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, c)| {
            let mine: Vec<Ticket> = tickets.iter().skip(i).step_by(clients).cloned().collect();
            let (start, base) = (start.clone(), base.to_string());
            tokio::spawn(async move {
                start.wait().await;
                let mut replies = Vec::with_capacity(mine.len());
                for t in mine {
                    replies.push(send(c.post(accept_url(&base, t.offer)).bearer_auth(&t.token)).await);
                }
                replies
            })
        })
        .collect();
    start.wait().await;
    let began = Instant::now();
    let mut replies = Vec::with_capacity(tickets.len());
    for t in tasks {
        replies.extend(t.await.expect("accept worker"));
    }
    (replies, began.elapsed())
}

/// (b) One order: every racer's client waits at one barrier, then posts its accept at once.
/// Returns the replies and the time from the release to the last reply.
async fn race(base: &str, clients: &[reqwest::Client], tickets: &[Ticket]) -> (Vec<Reply>, StdDuration) {
    let start = Arc::new(Barrier::new(tickets.len() + 1));
    let tasks: Vec<_> = clients
        .iter()
        .zip(tickets)
        .map(|(c, t)| {
            let (c, t, start, url) = (c.clone(), t.clone(), start.clone(), accept_url(base, t.offer));
            tokio::spawn(async move {
                start.wait().await;
                send(c.post(url).bearer_auth(&t.token)).await
            })
        })
        .collect();
    start.wait().await;
    let released = Instant::now();
    let mut replies = Vec::with_capacity(tickets.len());
    for t in tasks {
        replies.push(t.await.expect("racer"));
    }
    let last = replies.iter().map(|r| r.ended).max().unwrap_or(released);
    (replies, last - released)
}

/// (c) One client per token, each sending `each` GETs of `path` with its token (after one untimed warm-up
/// request): back to back (`pace` None: a closed loop, as many in flight as clients), or one every `pace`
/// (the clients' phases spread evenly over one interval). Returns the timed replies, the wall time, one
/// untimed reply and the shape of an answer.
async fn read_run(
    base: &str,
    path: &str,
    tokens: &[String],
    each: usize,
    pace: Option<StdDuration>,
) -> (Vec<Reply>, StdDuration, Reply, Option<String>) {
    let pool: Vec<reqwest::Client> = tokens.iter().map(|_| client()).collect();
    warm(base, &pool).await;
    let url = format!("{base}{path}");
    // One request shows what an answer looks like (status, size, number of items).
    let first = send(pool[0].get(&url).bearer_auth(&tokens[0])).await;
    // Items in the answer: a top-level array, or the first array field of an object (with its `total`).
    let items = match pool[0].get(&url).bearer_auth(&tokens[0]).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok().and_then(|v| match &v {
            Value::Array(a) => Some(a.len().to_string()),
            Value::Object(o) => o.values().find_map(|x| x.as_array().map(Vec::len)).map(|n| match o.get("total").and_then(Value::as_i64) {
                Some(total) => format!("{n}/{total}"),
                None => n.to_string(),
            }),
            _ => None,
        }),
        _ => None,
    };
    let start = Arc::new(Barrier::new(tokens.len() + 1));
    let n = tokens.len();
    let tasks: Vec<_> = pool
        .into_iter()
        .zip(tokens.iter().cloned())
        .enumerate()
        .map(|(i, (c, token))| {
            let (start, url) = (start.clone(), url.clone());
            tokio::spawn(async move {
                let _ = send(c.get(&url).bearer_auth(&token)).await;
                start.wait().await;
                let released = tokio::time::Instant::now();
                let mut replies = Vec::with_capacity(each);
                for k in 0..each {
                    if let Some(pace) = pace {
                        tokio::time::sleep_until(released + pace.mul_f64(i as f64 / n as f64) + pace * k as u32).await;
                    }
                    replies.push(send(c.get(&url).bearer_auth(&token)).await);
                }
                replies
            })
        })
        .collect();
    start.wait().await;
    let began = Instant::now();
    let mut replies = Vec::with_capacity(tokens.len() * each);
    for t in tasks {
        replies.extend(t.await.expect("reader"));
    }
    (replies, began.elapsed(), first, items)
}

/// The stored outcome of a race: the order ASSIGNED to the one master whose offer is ACCEPTED, every other
/// offer CANCELED.
fn race_state_ok(db: &Db, order: i64, racers: usize) -> Result<bool, Error> {
    db.read(|c| -> Result<bool, Error> {
        let (status, assigned): (String, Option<i64>) =
            c.query_row("SELECT status, assigned_master_id FROM orders WHERE id = ?1", [order], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let (accepted, canceled, open, winner): (i64, i64, i64, Option<i64>) = c.query_row(
            "SELECT COUNT(*) FILTER (WHERE state = 'ACCEPTED'), COUNT(*) FILTER (WHERE state = 'CANCELED'),
                    COUNT(*) FILTER (WHERE state IN ('SENT', 'VIEWED')), MAX(master_id) FILTER (WHERE state = 'ACCEPTED')
             FROM offers WHERE order_id = ?1",
            [order],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        Ok(status == "ASSIGNED" && assigned.is_some() && assigned == winner && accepted == 1 && canceled == racers as i64 - 1 && open == 0)
    })
}

/// `fieldservice check` on the file (beside the running server): its verdict line(s) and success.
fn check(dir: &Path, database: &Path, durability: Durability) -> (bool, String) {
    let out = fieldservice(dir, database, durability, "127.0.0.1:1").arg("check").output().expect("run fieldservice check");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text.trim().replace('\n', " | "))
}

struct RaceRow {
    run: usize,
    /// CPU seconds of the server and of this process (the load generator) over the race.
    server_cpu: f64,
    generator_cpu: f64,
    replies: Vec<Reply>,
    wall: StdDuration,
    state_ok: bool,
    check: (bool, String),
}

struct ReadRow {
    endpoint: &'static str,
    /// "closed" or the pace.
    mode: String,
    /// Server CPU seconds over the run.
    cpu: f64,
    clients: usize,
    replies: Vec<Reply>,
    wall: StdDuration,
    first: Reply,
    items: Option<String>,
}

struct Results {
    durability: Durability,
    orders: usize,
    masters: usize,
    /// Baseline measurements: before the first accept round and after each.
    baselines: Vec<(usize, StdDuration)>,
    /// Accept rounds: replies and wall time.
    accept_rounds: Vec<(Vec<Reply>, StdDuration)>,
    /// Server CPU seconds over the accept rounds.
    accept_cpu: f64,
    races: Vec<RaceRow>,
    reads: Vec<ReadRow>,
    /// VmHWM after start-up and after (a), (b), (c); VmRSS at the end.
    hwm: [f64; 4],
    rss_end: f64,
    /// The server's threads at the end (the blocking pool grows under concurrent requests).
    threads: f64,
    setup: StdDuration,
    stopped: String,
    log_errors: Vec<String>,
    log_warnings: usize,
}

fn run(rt: &Runtime, durability: Durability, sizes: &Sizes) -> Results {
    let now = Utc::now();
    let dir = TempDir::new().expect("temp dir");
    let database = dir.path().join("http.sqlite");
    let began = Instant::now();
    let db = Db::open(&database, durability).expect("open the database");
    let fixture = build(&db, now, sizes);
    let setup = began.elapsed();
    let masters = sizes.accepts + sizes.racers + sizes.readers;
    eprintln!(
        "  [{}] built {} masters, {} orders in {:.1} s; starting the server…",
        label(durability),
        masters,
        fixture.orders,
        setup.as_secs_f64()
    );
    let server = Server::start(rt, dir.path(), &database, durability);
    let base = server.base.clone();
    let hwm_start = memory_mb(server.pid()).0;

    // (a)
    eprintln!(
        "  [{}] (a) {} accepts on {} clients in {} rounds, each between baselines…",
        label(durability),
        sizes.accepts,
        sizes.clients,
        sizes.rounds
    );
    let pool: Vec<reqwest::Client> = (0..sizes.clients).map(|_| client()).collect();
    rt.block_on(warm(&base, &pool));
    let per_round = sizes.baseline_txs.div_ceil(sizes.rounds);
    let mut baselines = vec![baseline(&db, per_round, now)];
    let mut accept_rounds = Vec::new();
    let mut accept_cpu = 0.0;
    for chunk in fixture.accepts.chunks(fixture.accepts.len().div_ceil(sizes.rounds).max(1)) {
        let cpu = cpu_seconds(server.pid());
        accept_rounds.push(rt.block_on(accept_run(&base, &pool, chunk)));
        accept_cpu += cpu_seconds(server.pid()) - cpu;
        baselines.push(baseline(&db, per_round, now));
    }
    drop(pool);
    let hwm_a = memory_mb(server.pid()).0;

    // (b)
    eprintln!("  [{}] (b) {} races of {} masters…", label(durability), sizes.races, sizes.racers);
    let racer_clients: Vec<reqwest::Client> = (0..sizes.racers).map(|_| client()).collect();
    rt.block_on(warm(&base, &racer_clients));
    let mut races = Vec::new();
    for (i, (order, tickets)) in fixture.races.iter().enumerate() {
        let (server_cpu, generator_cpu) = (cpu_seconds(server.pid()), cpu_seconds(std::process::id()));
        let (replies, wall) = rt.block_on(race(&base, &racer_clients, tickets));
        let server_cpu = cpu_seconds(server.pid()) - server_cpu;
        let generator_cpu = cpu_seconds(std::process::id()) - generator_cpu;
        let state_ok = race_state_ok(&db, *order, tickets.len()).unwrap_or(false);
        let check = check(dir.path(), &database, durability);
        races.push(RaceRow { run: i + 1, server_cpu, generator_cpu, replies, wall, state_ok, check });
    }
    drop(racer_clients);
    let hwm_b = memory_mb(server.pid()).0;

    // (c)
    eprintln!("  [{}] (c) {} readers × {} requests per endpoint…", label(durability), sizes.readers, sizes.reads_each);
    let mut reads = Vec::new();
    let admins = vec![fixture.admin.clone(); sizes.readers];
    let paced = (sizes.pace_ms > 0).then(|| StdDuration::from_millis(sizes.pace_ms as u64));
    for pace in std::iter::once(None).chain(paced.map(Some)) {
        let mode = pace.map_or("closed".to_string(), |p| format!("1/{}ms", p.as_millis()));
        for (endpoint, path, tokens) in
            [("GET /api/v1/me/offers", "/api/v1/me/offers", &fixture.readers), ("GET /api/v1/orders", "/api/v1/orders", &admins)]
        {
            let cpu = cpu_seconds(server.pid());
            let (replies, wall, first, items) = rt.block_on(read_run(&base, path, tokens, sizes.reads_each, pace));
            let cpu = cpu_seconds(server.pid()) - cpu;
            reads.push(ReadRow { endpoint, mode: mode.clone(), cpu, clients: tokens.len(), replies, wall, first, items });
        }
    }
    let (hwm_c, rss_end, threads) = memory(server.pid());

    let log = server.log.clone();
    let stopped = server.stop();
    if let Ok(keep) = std::env::var("FS_BENCH_HTTP_KEEP") {
        // A copy of the database after the run, for EXPLAIN QUERY PLAN with the sqlite3 shell.
        let target = PathBuf::from(format!("{keep}.{}", env_name(durability)));
        let _ = std::fs::remove_file(&target);
        db.backup(&target).expect("keep a copy of the database");
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let log_errors: Vec<String> = text.lines().filter(|l| l.contains("ERROR") || l.contains("panicked")).map(str::to_string).collect();
    let log_warnings = text.lines().filter(|l| l.contains("WARN")).count();
    Results {
        durability,
        orders: fixture.orders,
        masters,
        baselines,
        accept_rounds,
        accept_cpu,
        races,
        reads,
        hwm: [hwm_start, hwm_a, hwm_b, hwm_c],
        rss_end,
        threads,
        setup,
        stopped,
        log_errors,
        log_warnings,
    }
}

fn yes(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}

fn main() {
    let sizes = Sizes {
        accepts: env_usize("FS_BENCH_HTTP_ACCEPTS", 1000),
        clients: env_usize("FS_BENCH_HTTP_CLIENTS", 8).max(1),
        baseline_txs: env_usize("FS_BENCH_HTTP_BASELINE_TXS", 1000),
        racers: env_usize("FS_BENCH_HTTP_RACERS", 1000).max(2),
        races: env_usize("FS_BENCH_HTTP_RACES", 3).max(1),
        readers: env_usize("FS_BENCH_HTTP_READERS", 200).max(1),
        reads_each: env_usize("FS_BENCH_HTTP_READS_EACH", 25).max(1),
        rounds: env_usize("FS_BENCH_HTTP_ROUNDS", 5).max(1),
        pace_ms: env_usize("FS_BENCH_HTTP_PACE_MS", 250),
    };
    let durabilities: Vec<Durability> = std::env::var("FS_BENCH_HTTP_DURABILITY")
        .unwrap_or_else(|_| "full,normal".into())
        .split(',')
        .filter_map(|d| match d.trim() {
            "full" => Some(Durability::Full),
            "normal" => Some(Durability::Normal),
            _ => None,
        })
        .collect();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "http bench: the real server ({}) on 127.0.0.1; load generator in this process (tokio + reqwest, HTTP/1.1 keep-alive,",
        Path::new(env!("CARGO_BIN_EXE_fieldservice")).file_name().and_then(|f| f.to_str()).unwrap_or("fieldservice")
    );
    println!("one connection per client); both share the machine's {cpus} CPUs. Server: log level warn, scheduler tick 3600 s.\n");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let began = Instant::now();
    let results: Vec<Results> = durabilities.iter().map(|&d| run(&rt, d, &sizes)).collect();
    eprintln!("  done in {:.1} s", began.elapsed().as_secs_f64());

    println!("Setup (per durability: a fresh file built with the library in one transaction, then `fieldservice serve` on it)");
    for r in &results {
        println!(
            "  {:<7} {} masters, {} orders, built in {:.2} s; server stopped: {}",
            label(r.durability),
            r.masters,
            r.orders,
            r.setup.as_secs_f64(),
            r.stopped
        );
    }

    println!(
        "\n(a) Accept throughput: {} distinct offers (one order each, distinct masters) over {} concurrent clients, in {} rounds;",
        sizes.accepts, sizes.clients, sizes.rounds
    );
    println!("    baseline: one-row BEGIN IMMEDIATE; INSERT; COMMIT via Db::write in this process on the same file, the server idle,");
    println!("    before the first round and after each (the disk is shared, so fsync costs drift: the rounds interleave)");
    println!(
        "{:<10} {:>13} {:>15} {:>12} {:>8} {:>8} {:>8} {:>9} {:>6} {:>11} {:>7} {:>4}  statuses",
        "durability", "baseline tx/s", "(min..max)", "accept req/s", "p50 ms", "p99 ms", "max ms", "cpu µs/req", "ratio", "(rounds)", "target", "ok"
    );
    for r in &results {
        let base_n: usize = r.baselines.iter().map(|b| b.0).sum();
        let base_t: f64 = r.baselines.iter().map(|b| b.1.as_secs_f64()).sum();
        let base_rates: Vec<f64> = r.baselines.iter().map(|b| b.0 as f64 / b.1.as_secs_f64()).collect();
        let replies: Vec<Reply> = r.accept_rounds.iter().flat_map(|(x, _)| x.iter().cloned()).collect();
        let accept_t: f64 = r.accept_rounds.iter().map(|(_, w)| w.as_secs_f64()).sum();
        let rate = replies.len() as f64 / accept_t;
        let ratio = rate / (base_n as f64 / base_t);
        let round_ratios: Vec<f64> = r
            .accept_rounds
            .iter()
            .enumerate()
            .map(|(i, (x, w))| (x.len() as f64 / w.as_secs_f64()) / ((base_rates[i] + base_rates[i + 1]) / 2.0))
            .collect();
        let fold = |v: &[f64], f: fn(f64, f64) -> f64, init: f64| v.iter().copied().fold(init, f);
        let all_won = replies.iter().all(|x| x.status == 200);
        let lat = sorted_latencies(&replies);
        println!(
            "{:<10} {:>13.0} {:>15} {:>12.0} {:>8} {:>8} {:>8} {:>9.0} {:>6.2} {:>11} {:>7} {:>4}  {}",
            label(r.durability),
            base_n as f64 / base_t,
            format!("{:.0}..{:.0}", fold(&base_rates, f64::min, f64::INFINITY), fold(&base_rates, f64::max, 0.0)),
            rate,
            millis(percentile(&lat, 50.0)),
            millis(percentile(&lat, 99.0)),
            millis(percentile(&lat, 100.0)),
            r.accept_cpu / replies.len() as f64 * 1e6,
            ratio,
            format!("{:.2}..{:.2}", fold(&round_ratios, f64::min, f64::INFINITY), fold(&round_ratios, f64::max, 0.0)),
            format!(">={RATIO_TARGET}"),
            yes(ratio >= RATIO_TARGET && all_won),
            tally(&replies)
        );
    }
    println!("    rates are pooled over the rounds (count / summed time); (rounds) = each round's ratio to the baselines around it;");
    println!("    cpu µs/req = the server's CPU time (user + system) per accept");
    println!("    upstream Python system: {UPSTREAM_ACCEPTS_PER_SECOND} accept req/s on its 20-master benchmark (and it failed its 50-master race)");
    for r in &results {
        let n: usize = r.accept_rounds.iter().map(|(x, _)| x.len()).sum();
        let rate = n as f64 / r.accept_rounds.iter().map(|(_, w)| w.as_secs_f64()).sum::<f64>();
        println!("    ours, {}: {:.0} accept req/s = {:.1}× upstream", label(r.durability), rate, rate / UPSTREAM_ACCEPTS_PER_SECOND);
    }

    println!("\n(b) Race: {} masters, each with a live offer for ONE order, post accept at once (one barrier, warm connections)", sizes.racers);
    println!(
        "{:<10} {:>3} {:>5} {:>6} {:>5} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6}  statuses",
        "durability", "run", "200", "409", "other", "5xx", "p50 ms", "p99 ms", "max ms", "wall ms", "spread ms", "srv cpu", "gen cpu", "state ok", "p99<100", "check"
    );
    let mut checks = Vec::new();
    for r in &results {
        for row in &r.races {
            let won = row.replies.iter().filter(|x| x.status == 200).count();
            let taken = row.replies.iter().filter(|x| x.status == 409 && x.code.as_deref() == Some("offer_taken")).count();
            let server_errors = row.replies.iter().filter(|x| x.status >= 500).count();
            let other = row.replies.len() - won - taken;
            let lat = sorted_latencies(&row.replies);
            let p99 = percentile(&lat, 99.0);
            let spread = row.replies.iter().map(|x| x.began).max().zip(row.replies.iter().map(|x| x.began).min()).map_or(StdDuration::ZERO, |(a, b)| a - b);
            println!(
                "{:<10} {:>3} {:>5} {:>6} {:>5} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8.0} {:>8.0} {:>8} {:>8} {:>6}  {}",
                label(r.durability),
                row.run,
                won,
                taken,
                other,
                server_errors,
                millis(percentile(&lat, 50.0)),
                millis(p99),
                millis(percentile(&lat, 100.0)),
                millis(row.wall),
                millis(spread),
                row.server_cpu * 1000.0,
                row.generator_cpu * 1000.0,
                yes(row.state_ok && won == 1 && taken == row.replies.len() - 1 && server_errors == 0),
                yes(p99 < RACE_P99_TARGET),
                if row.check.0 { "clean" } else { "NOT" },
                tally(&row.replies)
            );
            checks.push(format!("    {} run {}: fieldservice check → {}", label(r.durability), row.run, row.check.1));
        }
    }
    println!("    latency = one request, from its task's release to the last byte of the answer (includes the load generator's");
    println!("    own scheduling on the shared cores); wall = release to the last answer; spread = first to last request started;");
    println!("    srv cpu / gen cpu = CPU ms (user + system) of the server / of this load generator during the race");
    for line in checks {
        println!("{line}");
    }

    println!(
        "\n(c) Reads: {} concurrent clients (one connection each), {} timed requests each after one untimed warm-up;",
        sizes.readers, sizes.reads_each
    );
    println!("    GET /me/offers: one master per client, {OFFERS_PER_READER} live offers each; GET /orders: the GLOBAL_ADMIN's token on every client,");
    println!("    the default first page. mode closed = back to back (all {} in flight at once); 1/Nms = each client sends one", sizes.readers);
    println!("    request every N ms (phases spread), i.e. {} users clicking; cpu = the server's CPU time per request", sizes.readers);
    println!(
        "{:<10} {:<22} {:>8} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>6} {:>8}  statuses",
        "durability", "endpoint", "mode", "clients", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "req/s", "cpu µs", "items", "bytes", "p95<10ms"
    );
    for r in &results {
        for row in &r.reads {
            let lat = sorted_latencies(&row.replies);
            let p95 = percentile(&lat, 95.0);
            let all_ok = row.replies.iter().all(|x| x.status == 200);
            println!(
                "{:<10} {:<22} {:>8} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7.0} {:>8.0} {:>8} {:>6} {:>8}  {}",
                label(r.durability),
                row.endpoint,
                row.mode,
                row.clients,
                row.replies.len(),
                millis(percentile(&lat, 50.0)),
                millis(p95),
                millis(percentile(&lat, 99.0)),
                millis(percentile(&lat, 100.0)),
                row.replies.len() as f64 / row.wall.as_secs_f64(),
                row.cpu / row.replies.len() as f64 * 1e6,
                row.items.clone().unwrap_or_else(|| "?".into()),
                row.first.body_len,
                yes(p95 < READ_P95_TARGET && all_ok),
                tally(&row.replies)
            );
            if row.first.status != 200 {
                println!("    first answer of {}: {} {:?}", row.endpoint, row.first.status, row.first.code);
            }
        }
    }

    println!("\n(d) Server memory: peak resident set (VmHWM) after start-up and after each part; RSS and threads at the end");
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>4}",
        "durability", "start MB", "(a) MB", "(b) MB", "(c) MB", "RSS end MB", "threads", "target", "ok"
    );
    for r in &results {
        println!(
            "{:<10} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>8} {:>8} {:>4}",
            label(r.durability),
            r.hwm[0],
            r.hwm[1],
            r.hwm[2],
            r.hwm[3],
            r.rss_end,
            r.threads,
            format!("<{PEAK_MB_TARGET}"),
            yes(r.hwm[3] < PEAK_MB_TARGET)
        );
    }

    println!("\nServer log (level warn)");
    for r in &results {
        println!("  {:<7} {} error line(s), {} warning line(s)", label(r.durability), r.log_errors.len(), r.log_warnings);
        for line in r.log_errors.iter().take(5) {
            println!("    {line}");
        }
    }
}
