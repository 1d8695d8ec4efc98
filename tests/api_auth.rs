//! Signing in over HTTP: sessions, CSRF, logout, expiry, throttling, tokens, disabled accounts.

#[path = "common/contract.rs"]
mod contract;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use fieldservice::app::AppState;
use fieldservice::clock::ManualClock;
use fieldservice::config::{Config, Network};
use fieldservice::db::{Db, Durability};
use fieldservice::domain::StaffRole;
use fieldservice::{password, staff};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct TestApp {
    base: String,
    db: Db,
    clock: ManualClock,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

/// The app behind a reverse proxy on this machine: the test's requests say who the client is in
/// `X-Forwarded-For`.
async fn spawn_behind_proxy() -> TestApp {
    spawn_app_with(Config { trusted_proxies: vec![Network::parse("127.0.0.1").unwrap()], ..Config::default() }).await
}

async fn spawn_app_with(config: Config) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap());
    let state = AppState { db: db.clone(), clock: Arc::new(clock.clone()), config: Arc::new(config) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));
    let hash = password::hash("correct horse");
    db.write(|tx| {
        staff::create(tx, Utc::now(), "admin", &hash, StaffRole::GlobalAdmin, "Admin", &[])?;
        staff::create(tx, Utc::now(), "logist", &hash, StaffRole::Logist, "Logist", &[1])
    })
    .unwrap();
    TestApp { base, db, clock, http: reqwest::Client::new(), _dir: dir }
}

/// A browser-like session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl TestApp {
    async fn login(&self, login: &str, pass: &str) -> reqwest::Response {
        self.http.post(format!("{}/api/v1/auth/staff/login", self.base)).json(&json!({"login": login, "password": pass})).send().await.unwrap()
    }

    async fn login_from(&self, client: &str, login: &str, pass: &str) -> StatusCode {
        let request = self.http.post(format!("{}/api/v1/auth/staff/login", self.base)).header("x-forwarded-for", format!("{client}, 127.0.0.1"));
        request.json(&json!({"login": login, "password": pass})).send().await.unwrap().status()
    }

    async fn session(&self, login: &str) -> Session {
        let response = self.login(login, "correct horse").await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        Session { cookie, csrf: body["csrf_token"].as_str().unwrap().to_string() }
    }

    fn get(&self, path: &str, s: &Session) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).header("cookie", &s.cookie)
    }

    fn post(&self, path: &str, s: &Session) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).header("cookie", &s.cookie)
    }

    fn tokens(&self) -> i64 {
        self.db.read(|c| c.query_row("SELECT COUNT(*) FROM api_tokens", [], |r| r.get(0)).map_err(fieldservice::db::DbError::from)).unwrap()
    }
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn a_session_cookie_is_http_only_and_identifies_the_staff_member() {
    let app = spawn_app().await;
    let response = app.login("Logist", "correct horse").await;
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    let s = app.session("logist").await;
    let me: Value = app.get("/api/v1/auth/me", &s).send().await.unwrap().json().await.unwrap();
    assert_eq!((me["kind"].as_str(), me["role"].as_str()), (Some("staff"), Some("LOGIST")));
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/api/v1/auth/staff/login", app.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"login": "admin", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-fs_session=") && cookie.contains("; Secure") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let me = |pair: String, proto: &'static str| {
        app.http.get(format!("{}/api/v1/auth/me", app.base)).header("cookie", pair).header("x-forwarded-proto", proto).send()
    };
    assert_eq!(me(pair.clone(), "https").await.unwrap().status(), StatusCode::OK);
    // Over HTTPS a cookie without the prefix (one a neighbouring site could have planted) is not a session.
    let planted = pair.replace("__Host-fs_session", "fs_session");
    assert_eq!(me(planted, "https").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let plain = app.login("admin", "correct horse").await;
    assert!(plain.headers()["set-cookie"].to_str().unwrap().starts_with("fs_session="), "plain HTTP keeps the plain name");
}

#[tokio::test]
async fn signed_in_answers_are_never_stored_by_a_cache() {
    let app = spawn_app().await;
    let s = app.session("admin").await;
    for path in ["/api/v1/auth/me", "/api/v1/tokens", "/api/v1/orders"] {
        let response = app.get(path, &s).send().await.unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    let css = app.http.get(format!("{}/static/web.css", app.base)).send().await.unwrap();
    assert_eq!(css.headers()["cache-control"], "no-cache", "static files are revalidated, not refused to caches");
}

#[tokio::test]
async fn a_state_changing_request_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let s = app.session("admin").await;
    let missing = app.post("/api/v1/tokens", &s).json(&json!({"name": "crm"})).send().await.unwrap();
    assert_eq!(error_code(missing).await, (StatusCode::FORBIDDEN, "csrf_failed".into()));
    let wrong = app.post("/api/v1/tokens", &s).header("x-csrf-token", "0000").json(&json!({"name": "crm"})).send().await.unwrap();
    assert_eq!(error_code(wrong).await, (StatusCode::FORBIDDEN, "csrf_failed".into()));
    assert_eq!(app.tokens(), 0, "nothing was created");
    let right = app.post("/api/v1/tokens", &s).header("x-csrf-token", &s.csrf).json(&json!({"name": "crm"})).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::CREATED);
    assert_eq!(app.tokens(), 1);
}

#[tokio::test]
async fn after_logout_the_session_is_dead() {
    let app = spawn_app().await;
    let s = app.session("admin").await;
    let out = app.post("/api/v1/auth/logout", &s).header("x-csrf-token", &s.csrf).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let after = app.get("/api/v1/auth/me", &s).send().await.unwrap();
    assert_eq!(error_code(after).await, (StatusCode::UNAUTHORIZED, "unauthenticated".into()));
}

#[tokio::test]
async fn an_idle_session_expires_and_an_active_one_slides() {
    let app = spawn_app().await;
    let s = app.session("admin").await;
    app.clock.advance(Duration::hours(11));
    assert_eq!(app.get("/api/v1/auth/me", &s).send().await.unwrap().status(), StatusCode::OK, "used within 12 h");
    app.clock.advance(Duration::hours(11));
    assert_eq!(app.get("/api/v1/auth/me", &s).send().await.unwrap().status(), StatusCode::OK, "the last use moved the expiry");
    app.clock.advance(Duration::hours(12));
    let expired = app.get("/api/v1/auth/me", &s).send().await.unwrap();
    assert_eq!(error_code(expired).await, (StatusCode::UNAUTHORIZED, "unauthenticated".into()));
}

#[tokio::test]
async fn five_failures_lock_the_account_for_fifteen_minutes_with_the_time_to_come_back() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(error_code(app.login("logist", "wrong").await).await, (StatusCode::UNAUTHORIZED, "bad_credentials".into()));
    }
    let locked = app.login("logist", "correct horse").await;
    let body: Value = locked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "throttled");
    // 09:00 UTC is 12:00 in Moscow (the operator's zone): the first failure was at 12:00, so 12:15.
    assert!(body["error"]["message"].as_str().unwrap().contains("12:15"), "{body}");
    app.clock.advance(Duration::minutes(15));
    assert_eq!(app.login("logist", "correct horse").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn whoever_knows_a_login_cannot_keep_its_owner_out() {
    let app = spawn_behind_proxy().await;
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(app.login_from("203.0.113.9", "logist", "guess").await);
    }
    assert_eq!(answers[..5], [StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(answers[5..], [StatusCode::TOO_MANY_REQUESTS; 5], "the attacker's address is throttled");
    assert_eq!(app.login_from("203.0.113.9", "logist", "correct horse").await, StatusCode::TOO_MANY_REQUESTS, "even with the right password");
    // Another address that has guessed wrong meets the account's lock…
    assert_eq!(app.login_from("198.51.100.8", "logist", "guess").await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_from("198.51.100.8", "logist", "correct horse").await, StatusCode::TOO_MANY_REQUESTS);
    // …but the logist at his own desk, with no failure, signs in.
    assert_eq!(app.login_from("198.51.100.7", "logist", "correct horse").await, StatusCode::OK);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // No proxy is trusted: every request below comes from 127.0.0.1, whatever the header says.
    let app = spawn_app().await;
    for n in 0..5 {
        assert_eq!(app.login_from(&format!("203.0.113.{n}"), "admin", "guess").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login_from("198.51.100.7", "logist", "correct horse").await, StatusCode::TOO_MANY_REQUESTS);
    // Behind a trusted proxy the client named by the proxy counts, not the proxy or what the client wrote.
    let app = spawn_behind_proxy().await;
    for n in 0..5 {
        assert_eq!(app.login_from(&format!("203.0.113.{n}, 10.0.0.5"), "admin", "guess").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login_from("198.51.100.1, 10.0.0.5", "admin", "correct horse").await, StatusCode::TOO_MANY_REQUESTS, "10.0.0.5 is the client");
    assert_eq!(app.login_from("10.0.0.1, 198.51.100.7", "logist", "correct horse").await, StatusCode::OK);
    let ipv6 = |last: &str| format!("2001:db8:1:2::{last}");
    for n in 1..=5 {
        assert_eq!(app.login_from(&ipv6(&n.to_string()), "nobody", "guess").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login_from(&ipv6("99"), "logist", "correct horse").await, StatusCode::TOO_MANY_REQUESTS, "one IPv6 /64 is one client");
}

#[tokio::test]
async fn an_unknown_login_takes_as_long_to_refuse_as_a_wrong_password() {
    let app = spawn_behind_proxy().await;
    let took = |client: String, login: &'static str| {
        let app = &app;
        async move {
            let start = std::time::Instant::now();
            assert_eq!(app.login_from(&client, login, "guess").await, StatusCode::UNAUTHORIZED);
            start.elapsed()
        }
    };
    // Alternated, and the fastest of each kept: the other tests of this file hash passwords meanwhile.
    let (mut known, mut unknown) = (std::time::Duration::MAX, std::time::Duration::MAX);
    for n in 0..7 {
        known = known.min(took(format!("198.51.100.{n}"), "logist").await);
        unknown = unknown.min(took(format!("198.51.101.{n}"), "nobody").await);
    }
    // The check of a password takes tens of milliseconds; refusing an unknown login used to take 3.
    assert!(unknown * 2 > known, "unknown login {unknown:?}, wrong password {known:?}");
}

#[tokio::test]
async fn logins_do_not_hold_the_writer_while_they_check_passwords() {
    let app = spawn_behind_proxy().await;
    let burst: Vec<_> = (0..16)
        .map(|n| {
            let (http, base) = (app.http.clone(), app.base.clone());
            tokio::spawn(async move {
                let request = http.post(format!("{base}/api/v1/auth/staff/login")).header("x-forwarded-for", format!("198.51.100.{n}"));
                request.json(&json!({"login": "logist", "password": "guess"})).send().await.unwrap().status()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..5 {
        let db = app.db.clone();
        let took = tokio::task::spawn_blocking(move || {
            let start = std::time::Instant::now();
            db.write(|tx| tx.execute("UPDATE staff_users SET full_name = full_name WHERE id = 1", [])).unwrap();
            start.elapsed()
        })
        .await
        .unwrap();
        slowest = slowest.max(took);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for login in burst {
        assert_eq!(login.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    // 16 password checks in the writer held it for ~300 ms; each login now holds it for one short insert.
    assert!(slowest < std::time::Duration::from_millis(100), "a write waited {slowest:?} behind the logins");
}

#[tokio::test]
async fn a_password_never_appears_in_an_error_and_unknown_logins_look_like_wrong_passwords() {
    let app = spawn_app().await;
    let unknown = app.login("nobody", "s3cret-value").await;
    let text = unknown.text().await.unwrap();
    assert!(text.contains("bad_credentials") && !text.contains("s3cret-value"), "{text}");
}

#[tokio::test]
async fn a_deactivated_staff_member_is_refused_at_once_on_his_open_session_and_token() {
    let app = spawn_app().await;
    let s = app.session("logist").await;
    let created: Value = app.post("/api/v1/tokens", &s).header("x-csrf-token", &s.csrf).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    app.db.write(|tx| tx.execute("UPDATE staff_users SET is_active = 0 WHERE login = 'logist'", [])).unwrap();
    let by_session = app.get("/api/v1/auth/me", &s).send().await.unwrap();
    assert_eq!(error_code(by_session).await, (StatusCode::FORBIDDEN, "account_disabled".into()));
    let by_token = app.http.get(format!("{}/api/v1/auth/me", app.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_code(by_token).await, (StatusCode::FORBIDDEN, "account_disabled".into()));
}

#[tokio::test]
async fn tokens_are_listed_to_their_owner_and_revoked_ones_stop_working() {
    let app = spawn_app().await;
    let s = app.session("admin").await;
    let created: Value = app.post("/api/v1/tokens", &s).header("x-csrf-token", &s.csrf).json(&json!({"name": "call centre"})).send().await.unwrap().json().await.unwrap();
    let (id, token) = (created["id"].as_i64().unwrap(), created["token"].as_str().unwrap().to_string());
    let bearer = |path: &str| app.http.get(format!("{}{path}", app.base)).bearer_auth(&token);
    let listed: Value = bearer("/api/v1/tokens").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["name"], "call centre");
    assert!(listed[0].get("token").is_none(), "the secret is shown once only");
    let other = app.session("logist").await;
    let foreign = app.http.delete(format!("{}/api/v1/tokens/{id}", app.base)).header("cookie", &other.cookie).header("x-csrf-token", &other.csrf).send().await.unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND, "another's token cannot be revoked");
    let revoked = app.http.delete(format!("{}/api/v1/tokens/{id}", app.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(bearer("/api/v1/auth/me").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_errors_speak_the_callers_language() {
    let app = spawn_app().await;
    let response = app.http.get(format!("{}/api/v1/auth/me", app.base)).header("accept-language", "en-GB,en;q=0.9").send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers().contains_key("referrer-policy"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Please sign in");
    let ru: Value = app.http.get(format!("{}/api/v1/auth/me", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ru["error"]["message"], "Войдите в систему", "Russian by default");
}

#[tokio::test]
async fn malformed_json_is_a_400_json_error_not_a_crash() {
    let app = spawn_app().await;
    let response = app.http.post(format!("{}/api/v1/auth/staff/login", app.base)).header("content-type", "application/json").body("{\"login\": 5").send().await.unwrap();
    assert_eq!(error_code(response).await, (StatusCode::BAD_REQUEST, "bad_request".into()));
    let unknown = app.http.get(format!("{}/api/v1/nothing-here", app.base)).send().await.unwrap();
    assert_eq!(error_code(unknown).await, (StatusCode::NOT_FOUND, "not_found".into()));
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/auth/staff/login"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
