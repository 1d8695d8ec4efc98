//! The `fieldservice` binary as an operator uses it: each test runs the real executable on a
//! temporary database.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("data").join("fieldservice.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fieldservice"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("FIELDSERVICE_CONFIG", self.dir.path().join("fieldservice.toml"))
            .env("FIELDSERVICE_DURABILITY", "normal")
            .env("FIELDSERVICE_LOG_LEVEL", "warn");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn help_lists_every_command() {
    let out = Install::new().run(&["--help"]);
    let help = text(&out.stdout);
    for command in ["serve", "tick", "demo", "admin", "backup", "check"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = Install::new().run(&["--version"]);
    let version = text(&out.stdout);
    assert!(version.starts_with(&format!("fieldservice {} (commit ", env!("CARGO_PKG_VERSION"))), "{version}");
    let commit = version.trim().trim_end_matches(')').rsplit(' ').next().unwrap().to_string();
    assert!(commit == "unknown" || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())), "{version}");
}

#[test]
fn logs_say_created_then_upgraded_without_colour_codes_and_as_json_when_asked() {
    let install = Install::new();
    let out = install.command(&["check"]).env("FIELDSERVICE_LOG_LEVEL", "info").output().unwrap();
    let logs = text(&out.stderr);
    assert!(out.status.success(), "{logs}");
    assert!(logs.contains("database created"), "a new file says so: {logs}");
    assert!(!logs.contains('\u{1b}'), "no colour codes when standard error is not a terminal: {logs:?}");

    // A file at schema version 1, as the first release left it: the next start upgrades it.
    let old = Install::new();
    std::fs::create_dir_all(old.db().parent().unwrap()).unwrap();
    let conn = rusqlite::Connection::open(old.db()).unwrap();
    conn.execute_batch(include_str!("../schema.sql")).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    drop(conn);
    let version: i64 = {
        let conn = rusqlite::Connection::open(install.db()).unwrap();
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    };
    let out = old.command(&["check"]).env("FIELDSERVICE_LOG_LEVEL", "info").env("FIELDSERVICE_LOG_FORMAT", "json").output().unwrap();
    let logs = text(&out.stderr);
    let lines: Vec<serde_json::Value> = logs.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect();
    let upgraded = lines.iter().find(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("database upgraded"))).unwrap_or_else(|| panic!("{logs}"));
    assert_eq!((upgraded["fields"]["from"].as_i64(), upgraded["fields"]["to"].as_i64()), (Some(1), Some(version)), "{upgraded}");
    assert_eq!(upgraded["level"], "INFO");
}

#[test]
fn demo_then_tick_prints_offers_as_json_and_check_stays_clean() {
    let install = Install::new();
    let out = install.run(&["demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("+79990000001"), "demo logins are printed");

    let out = install.run(&["tick"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tick prints JSON");
    assert_eq!(report["ran"], true);
    let sent = report["offers_sent"].as_array().unwrap();
    assert!(!sent.is_empty(), "the demo's searching orders get offers: {report:#}");
    assert!(sent[0]["order_id"].is_i64() && sent[0]["master_id"].is_i64() && sent[0]["round"] == 1);
    assert!(report["events"].as_array().unwrap().iter().any(|e| e["kind"] == "offer_sent"));

    let out = install.run(&["check"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));

    let again = install.run(&["demo"]);
    assert!(!again.status.success(), "a second demo load is refused");
}

#[test]
fn tick_at_a_given_time_expires_the_offers_it_outlives() {
    let install = Install::new();
    assert!(install.run(&["demo"]).status.success());
    let first: serde_json::Value = serde_json::from_slice(&install.run(&["tick", "--now", "2030-01-01T09:00:00Z"]).stdout).unwrap();
    let sent = first["offers_sent"].as_array().unwrap().len();
    assert!(sent > 0);
    let later: serde_json::Value = serde_json::from_slice(&install.run(&["tick", "--now", "2030-01-01T09:05:00Z"]).stdout).unwrap();
    assert!(later["offers_expired"].as_array().unwrap().len() >= sent, "{later:#}");
}

#[test]
fn backup_writes_a_sound_copy_and_refuses_to_overwrite() {
    let install = Install::new();
    assert!(install.run(&["demo"]).status.success());
    let target = install.dir.path().join("copy.db");
    let out = install.run(&["backup", target.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conn = rusqlite::Connection::open(&target).unwrap();
    let masters: i64 = conn.query_row("SELECT COUNT(*) FROM masters", [], |r| r.get(0)).unwrap();
    assert_eq!(masters, 20);
    assert!(fieldservice::check::run(&conn).unwrap().is_empty());
    assert!(!install.run(&["backup", target.to_str().unwrap()]).status.success());
}

/// The server keeps writing (here: orders created back to back from another process, as fast as the
/// writer takes them) while `backup` runs: it still finishes, and the copy is sound and a prefix of the
/// live data.
#[test]
fn backup_finishes_under_a_sustained_write_load_with_a_sound_prefix_of_the_data() {
    let install = Install::new();
    assert!(install.run(&["demo"]).status.success());
    let db = fieldservice::db::Db::open(&install.db(), fieldservice::db::Durability::Normal).unwrap();
    // A few MiB, many more pages than the online backup API copied per step before it started over.
    let fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                INSERT INTO login_attempts (login, ip, succeeded, created_at) SELECT 'old', printf('%.200c', 'x'), 0, i FROM n";
    db.write(|tx| tx.execute(fill, [])).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                db.write(|tx| tx.execute("INSERT INTO login_attempts (login, ip, succeeded, created_at) VALUES ('load', '127.0.0.1', 0, 0)", [])).unwrap();
                written += 1;
            }
            written
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let target = install.dir.path().join("copy.db");
    let started = Instant::now();
    let out = install.run(&["backup", target.to_str().unwrap()]);
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(30), "the backup took {took:?}");
    let copy = rusqlite::Connection::open(&target).unwrap();
    assert!(fieldservice::check::run(&copy).unwrap().is_empty());
    let ids = |conn: &rusqlite::Connection| -> Vec<i64> {
        conn.prepare("SELECT id FROM login_attempts WHERE login = 'load' ORDER BY id").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let (copied, live) = (ids(&copy), db.read(|c| Ok::<_, fieldservice::db::DbError>(ids(c))).unwrap());
    assert!(!copied.is_empty() && copied.len() < live.len(), "copied {} of {} rows ({written} written)", copied.len(), live.len());
    assert_eq!(copied, live[..copied.len()], "the copy is a prefix of the live data");
    let leftovers: Vec<_> = std::fs::read_dir(install.dir.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("partial")).collect();
    assert!(leftovers.is_empty(), "no temporary copy is left behind");

    // Restored into a new data dir: sound, and exactly the rows of the moment of the backup.
    let elsewhere = Install::new();
    let out = elsewhere.run(&["restore", target.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(elsewhere.run(&["check"]).status.success());
    let restored = rusqlite::Connection::open(elsewhere.db()).unwrap();
    assert_eq!(ids(&restored), copied);
    let count = |conn: &rusqlite::Connection, table: &str| -> i64 { conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap() };
    for table in ["orders", "offers", "order_status_history", "commissions", "masters", "login_attempts"] {
        assert_eq!(count(&restored, table), count(&copy, table), "{table}");
    }
}

#[test]
fn restore_waits_for_the_server_to_stop_keeps_the_replaced_database_and_refuses_a_bad_backup() {
    let install = Install::new();
    assert!(install.run(&["demo"]).status.success());
    let backup = install.dir.path().join("before-orders.db");
    assert!(install.run(&["backup", backup.to_str().unwrap()]).status.success());
    let port = free_port();
    let mut server = install.command(&["serve"]).env("FIELDSERVICE_LISTEN", format!("127.0.0.1:{port}")).spawn().unwrap();
    wait_healthy(port, &mut server);
    let orders = || rusqlite::Connection::open(install.db()).unwrap().query_row("SELECT COUNT(*) FROM orders", [], |r| r.get::<_, i64>(0)).unwrap();
    rusqlite::Connection::open(install.db()).unwrap().execute("DELETE FROM orders WHERE id = (SELECT MAX(id) FROM orders)", []).unwrap();
    let after_delete = orders();

    let out = install.run(&["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("server is running"), "{}", text(&out.stderr));
    assert_eq!(orders(), after_delete, "nothing changed");
    assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    assert!(server.wait().unwrap().success());

    // A damaged file and one from a newer build are refused; nothing changes.
    let garbage = install.dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database at all, just text").unwrap();
    let out = install.run(&["restore", garbage.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("garbage.db"), "{}", text(&out.stderr));
    let newer = install.dir.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 999).unwrap();
    let out = install.run(&["restore", newer.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("newer"), "{}", text(&out.stderr));
    assert_eq!(orders(), after_delete, "nothing changed");

    let out = install.run(&["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(orders(), after_delete + 1, "the backup's orders are back");
    let kept: Vec<PathBuf> = std::fs::read_dir(install.db().parent().unwrap()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains(".before-restore-")).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let kept_orders: i64 = rusqlite::Connection::open(&kept[0]).unwrap().query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0)).unwrap();
    assert_eq!(kept_orders, after_delete, "the replaced database is kept whole");
    assert!(install.run(&["check"]).status.success());
}

#[test]
fn check_reports_a_broken_invariant_with_a_failing_exit() {
    let install = Install::new();
    assert!(install.run(&["demo"]).status.success());
    let conn = rusqlite::Connection::open(install.db()).unwrap();
    conn.execute("UPDATE masters SET is_blocked = 1, is_active = 1 WHERE id = (SELECT MIN(id) FROM masters)", []).unwrap();
    drop(conn);
    let out = install.run(&["check"]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("blocked master still active"), "{}", text(&out.stdout));
}

#[test]
fn admin_create_makes_a_global_admin_and_refuses_a_taken_login() {
    let install = Install::new();
    let out = install.run(&["admin", "create", "--login", "boss", "--password", "s3cret-pass"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conn = rusqlite::Connection::open(install.db()).unwrap();
    let (role, hash): (String, String) =
        conn.query_row("SELECT role, password_hash FROM staff_users WHERE login = 'boss'", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(role, "GLOBAL_ADMIN");
    assert!(fieldservice::password::verify("s3cret-pass", &hash));
    let generated = install.run(&["admin", "create", "--login", "second"]);
    assert!(text(&generated.stdout).contains("password: "), "a generated password is printed");
    assert!(!install.run(&["admin", "create", "--login", "boss"]).status.success());
}

#[test]
fn a_database_from_a_newer_version_is_refused_untouched() {
    let install = Install::new();
    assert!(install.run(&["check"]).status.success());
    let conn = rusqlite::Connection::open(install.db()).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let before = std::fs::read(install.db()).unwrap();
    let out = install.run(&["check"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("schema version 99"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(install.db()).unwrap(), before, "nothing changed");
}

#[test]
fn a_malformed_config_stops_start_up_naming_the_key() {
    let install = Install::new();
    std::fs::write(install.dir.path().join("fieldservice.toml"), "listen = \"somewhere\"\n").unwrap();
    let out = install.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`listen`") && err.contains("somewhere"), "{err}");
    assert!(!install.db().exists(), "nothing was created");
}

fn wait_healthy(port: u16, child: &mut Child) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the server exited early");
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            write!(stream, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            if response.starts_with("HTTP/1.1 200") {
                let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
                return serde_json::from_str(body).unwrap();
            }
        }
        assert!(Instant::now() < deadline, "the server did not become healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn offers_in(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT COUNT(*) FROM offers WHERE sent_by_staff_id IS NULL AND state = 'SENT'", [], |r| r.get(0)).unwrap()
}

#[test]
fn serve_demo_prints_the_logins_and_keeps_distributing() {
    let install = Install::new();
    let port = free_port();
    let mut child = install
        .command(&["serve", "--demo"])
        .env("FIELDSERVICE_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("+79990000020") {
        assert!(stdout.read_line(&mut printed).unwrap() > 0, "stdout closed early: {printed}");
    }
    assert!(printed.contains(&format!("http://127.0.0.1:{port}/")), "{printed}");
    assert!(printed.contains("admin") && printed.contains("logist") && printed.contains("moscow"));
    let health = wait_healthy(port, &mut child);
    assert_eq!(health["status"], "ok");
    let deadline = Instant::now() + Duration::from_secs(30);
    while offers_in(&install.db()) == 0 {
        assert!(Instant::now() < deadline, "the scheduler sent no offer");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A one-off tick beside the running server waits for the lease and runs safely.
    let out = install.run(&["tick"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown on SIGTERM exits 0: {status:?}");
    assert!(install.run(&["check"]).status.success());
}
