//! Orders and offers over HTTP: the real app in-process on a temporary database and a random port, time on a
//! manual clock, the engine ticked by hand.

mod common;

use std::sync::Arc;

use common::samples::{PDF, PNG};
use common::{M, World, t0};
use common::contract;
use fieldservice::app::AppState;
use fieldservice::auth::{self as accounts, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::domain::{MasterId, OrderStatus, StaffRole};
use fieldservice::engine::{self, TickOptions};
use fieldservice::password;
use fieldservice::staff::Staff;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

/// How a request authenticates.
#[derive(Clone)]
enum Auth {
    /// An API bearer token (staff or master).
    Bearer(String),
    /// A browser session: its cookie and CSRF token.
    Session { cookie: String, csrf: String },
}

struct TestApp {
    world: World,
    clock: ManualClock,
    base: String,
    http: reqwest::Client,
    files: tempfile::TempDir,
    hash: String,
}

async fn spawn_app() -> TestApp {
    let world = World::new();
    let files = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let config = Config { data_dir: files.path().to_path_buf(), ..Config::default() };
    let state = AppState { db: world.db.clone(), clock: Arc::new(clock.clone()), config: Arc::new(config) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));
    TestApp { world, clock, base, http: reqwest::Client::new(), files, hash: password::hash(PASSWORD) }
}

impl TestApp {
    /// A staff member with an API token.
    fn staff_token(&self, staff: &Staff) -> Auth {
        let (_, token) = self.world.write(|tx| accounts::create_token(tx, t0(), Owner::Staff(staff.id), "test")).unwrap();
        Auth::Bearer(token)
    }

    /// A global admin signed in through the login form: a session cookie and its CSRF token.
    async fn dispatcher(&self) -> Auth {
        let staff = self.world.staff(StaffRole::GlobalAdmin, &[]);
        self.world.exec("UPDATE staff_users SET password_hash = ?2 WHERE id = ?1", rusqlite::params![staff.id, self.hash]);
        let response = self
            .http
            .post(format!("{}/api/v1/auth/staff/login", self.base))
            .json(&json!({"login": staff.login, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        Auth::Session { cookie, csrf: body["csrf_token"].as_str().unwrap().to_string() }
    }

    /// A master signed in through the API: his bearer token.
    async fn master_login(&self, master: MasterId) -> Auth {
        self.world.exec("UPDATE masters SET password_hash = ?2 WHERE id = ?1", rusqlite::params![master, self.hash]);
        let phone: String = self.world.scalar("SELECT phone FROM masters WHERE id = ?1", [master]);
        let response = self
            .http
            .post(format!("{}/api/v1/auth/master/login", self.base))
            .json(&json!({"phone": phone, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        Auth::Bearer(body["token"].as_str().unwrap().to_string())
    }

    fn request(&self, method: reqwest::Method, auth: &Auth, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match auth {
            Auth::Bearer(token) => builder.bearer_auth(token),
            Auth::Session { cookie, csrf } => builder.header("cookie", cookie).header("x-csrf-token", csrf),
        }
    }

    async fn get(&self, auth: &Auth, path: &str) -> (StatusCode, Value) {
        answer(self.request(reqwest::Method::GET, auth, path).send().await.unwrap()).await
    }

    async fn post(&self, auth: &Auth, path: &str, body: Value) -> (StatusCode, Value) {
        answer(self.request(reqwest::Method::POST, auth, path).json(&body).send().await.unwrap()).await
    }

    async fn post_empty(&self, auth: &Auth, path: &str) -> (StatusCode, Value) {
        answer(self.request(reqwest::Method::POST, auth, path).send().await.unwrap()).await
    }

    /// Closes an order with a multipart form.
    async fn close(&self, auth: &Auth, order: i64, amount: Option<&str>, act: Option<(&str, &[u8])>) -> (StatusCode, Value) {
        let (content_type, body) = multipart(amount, act);
        let request = self.request(reqwest::Method::POST, auth, &format!("/api/v1/me/orders/{order}/close"));
        answer(request.header("content-type", content_type).body(body).send().await.unwrap()).await
    }

    fn tick(&self) {
        let report = engine::tick(&self.world.db, self.clock_now(), TickOptions { seed: 1, max_orders: 100 }).unwrap();
        assert!(report.ran && report.errors.is_empty(), "{report:?}");
    }

    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use fieldservice::clock::Clock;
        self.clock.now()
    }

    fn stored_files(&self) -> usize {
        std::fs::read_dir(self.files.path().join("files")).map(|d| d.count()).unwrap_or(0)
    }
}

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// A `multipart/form-data` body with an optional `amount` and an optional `act` file.
fn multipart(amount: Option<&str>, act: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "----fieldservice-test-boundary";
    let mut body = Vec::new();
    if let Some(amount) = amount {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"amount\"\r\n\r\n{amount}\r\n").as_bytes());
    }
    if let Some((name, bytes)) = act {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"act\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

fn order_form(city: i64, district: Option<i64>) -> Value {
    json!({
        "city_id": city,
        "district_id": district,
        "house": "12",
        "client_name": "Иван Петров",
        "client_phone": "8 (999) 123-45-67",
        "category": "ELECTRICS",
        "description": "Не работает розетка на кухне",
    })
}

/// The accept route resolves a bearer token in its own blocking task rather than in the guard: an unknown
/// token is still refused with 401 (also before a malformed offer id is looked at), a staff token with
/// 403, a blocked master with his reason and a revoked token with 401, and none of them changes anything.
#[tokio::test]
async fn an_accept_with_a_bad_token_or_by_a_blocked_master_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let district = w.district(moscow, "Центральный");
    let master = w.master(M::serving(moscow, &[district]));
    let order = w.order(t0(), district);
    app.tick();
    let offer: i64 = w.scalar("SELECT id FROM offers WHERE order_id = ?1 AND master_id = ?2", [order, master]);
    let token = app.master_login(master).await;
    let staff = app.staff_token(&w.staff(StaffRole::GlobalAdmin, &[]));
    let accept = format!("/api/v1/me/offers/{offer}/accept");
    let before = w.dump();

    let unknown = Auth::Bearer("no-such-token".into());
    for path in [accept.as_str(), "/api/v1/me/offers/abc/accept"] {
        let (status, body) = app.post_empty(&unknown, path).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{path}");
    }
    let (status, body) = app.post_empty(&staff, &accept).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    w.exec("UPDATE masters SET is_blocked = 1, blocked_reason = 'Жалобы клиентов' WHERE id = ?1", [master]);
    let (status, body) = app.post_empty(&token, &accept).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "master_blocked"));
    w.exec("UPDATE masters SET is_blocked = 0, blocked_reason = NULL WHERE id = ?1", [master]);
    assert_eq!(w.dump(), before, "refusals changed nothing");

    w.exec("UPDATE api_tokens SET revoked_at = 1 WHERE master_id = ?1", [master]);
    let (status, body) = app.post_empty(&token, &accept).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    assert_eq!(w.assigned(order), None);
}

#[tokio::test]
async fn an_order_lives_its_whole_life_over_http() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let spb = w.city("Санкт-Петербург");
    let district = w.district(moscow, "Центральный");
    let first = w.master(M::serving(moscow, &[district]).car());
    let second = w.master(M::serving(moscow, &[district]));
    let dispatcher = app.dispatcher().await;
    let (m1, m2) = (app.master_login(first).await, app.master_login(second).await);
    let stranger = app.staff_token(&w.staff(StaffRole::CityAdmin, &[spb]));

    // Staff create the order; the tick offers it to the better master.
    let (status, created) = app.post(&dispatcher, "/api/v1/orders", order_form(moscow, Some(district))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "SEARCHING");
    let order = created["id"].as_i64().unwrap();
    app.tick();

    // The master sees where, when and what — never the client.
    let (status, offers) = app.get(&m1, "/api/v1/me/offers").await;
    assert_eq!(status, StatusCode::OK);
    let offers = offers.as_array().unwrap().clone();
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(offers[0]["order_id"], order);
    assert_eq!(offers[0]["city"], "Москва");
    assert_eq!(offers[0]["district"], "Центральный");
    assert_eq!(offers[0]["description"], "Не работает розетка на кухне");
    let offer = offers[0]["offer_id"].as_i64().unwrap();
    let (status, card) = app.get(&m1, &format!("/api/v1/me/offers/{offer}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(card["state"], "VIEWED");
    for text in [offers[0].to_string(), card.to_string()] {
        assert!(!text.contains("9991234567") && !text.contains("Иван") && !text.contains("client"), "{text}");
    }
    // Nobody else sees that offer or the order.
    assert_eq!(app.get(&m2, &format!("/api/v1/me/offers/{offer}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post_empty(&m2, &format!("/api/v1/me/offers/{offer}/accept")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&m2, "/api/v1/me/offers").await.1, json!([]));
    assert_eq!(app.get(&m1, &format!("/api/v1/me/orders/{order}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&stranger, &format!("/api/v1/orders/{order}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&m1, &format!("/api/v1/orders/{order}")).await.0, StatusCode::FORBIDDEN);

    // Staff also offer it to the second master by hand; the first accepts, the second is too late.
    let (status, manual) = app.post(&dispatcher, &format!("/api/v1/orders/{order}/offers"), json!({"master_id": second})).await;
    assert_eq!(status, StatusCode::CREATED, "{manual}");
    let manual = manual["id"].as_i64().unwrap();
    let (status, mine) = app.post_empty(&m1, &format!("/api/v1/me/offers/{offer}/accept")).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["status"], "ASSIGNED");
    assert_eq!(mine["client_phone"], "+79991234567");
    assert_eq!(mine["client_name"], "Иван Петров");
    let (status, lost) = app.post_empty(&m2, &format!("/api/v1/me/offers/{manual}/accept")).await;
    assert_eq!((status, code(&lost)), (StatusCode::CONFLICT, "offer_taken"), "{lost}");
    assert_eq!(w.assigned(order), Some(first));
    assert_eq!(app.get(&m2, &format!("/api/v1/me/orders/{order}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post_empty(&m2, &format!("/api/v1/me/orders/{order}/en-route")).await.0, StatusCode::NOT_FOUND);
    let (_, active) = app.get(&m1, "/api/v1/me/orders").await;
    assert_eq!(active.as_array().unwrap().len(), 1);

    // En route, on site; closing too early is refused.
    let (status, early) = app.close(&m1, order, Some("3500"), Some(("act.png", PNG))).await;
    assert_eq!((status, code(&early)), (StatusCode::CONFLICT, "wrong_status"));
    assert_eq!(app.stored_files(), 0, "a refused close keeps no file");
    assert_eq!(app.post_empty(&m1, &format!("/api/v1/me/orders/{order}/en-route")).await.1["status"], "EN_ROUTE");
    let (status, again) = app.post_empty(&m1, &format!("/api/v1/me/orders/{order}/en-route")).await;
    assert_eq!((status, code(&again)), (StatusCode::CONFLICT, "wrong_status"));
    assert_eq!(app.post_empty(&m1, &format!("/api/v1/me/orders/{order}/on-site")).await.1["status"], "WORKING");

    // A text file named act.jpg is not a photo; a bad amount is refused; nothing is kept.
    let before = w.dump();
    let (status, text) = app.close(&m1, order, Some("3500"), Some(("act.jpg", b"this is not a photo at all"))).await;
    assert_eq!((status, code(&text), text["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("act")), "{text}");
    let (status, bad_amount) = app.close(&m1, order, Some("0"), Some(("act.png", PNG))).await;
    assert_eq!((status, bad_amount["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("amount")));
    let (status, no_act) = app.close(&m1, order, Some("3500"), None).await;
    assert_eq!((status, no_act["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("act")));
    let (status, _) = answer(
        app.request(reqwest::Method::POST, &m1, &format!("/api/v1/me/orders/{order}/close")).json(&json!({"amount": "3500"})).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(w.dump(), before);
    assert_eq!(app.stored_files(), 0);

    // Closed with the amount and a real photo: PAYMENT, the commission waits.
    let (status, closed) = app.close(&m1, order, Some("3500"), Some(("акт 1.png", PNG))).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "PAYMENT");
    assert_eq!(closed["total_sum_kop"], 350_000);
    assert_eq!(w.status(order), OrderStatus::Payment);
    let commission: i64 = w.scalar("SELECT amount_kop FROM commissions WHERE order_id = ?1", [order]);
    assert_eq!(commission, 175_000);
    let attachment = closed["attachments"][0]["id"].as_i64().unwrap();
    assert_eq!(closed["attachments"][0]["mime_type"], "image/png");
    assert_eq!(app.stored_files(), 1);

    // The act is served to staff of the city and to the master, with a safe disposition; to no one else.
    let path = format!("/api/v1/orders/{order}/attachments/{attachment}");
    for auth in [&dispatcher, &m1] {
        let response = app.request(reqwest::Method::GET, auth, &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"___ 1.png\"; filename*=UTF-8''%D0%B0%D0%BA%D1%82%201.png");
        assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    }
    for auth in [&m2, &stranger] {
        assert_eq!(app.get(auth, &path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.get(auth, &format!("/api/v1/orders/{order}/attachments")).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.get(&dispatcher, &format!("/api/v1/orders/{order}/attachments/{}", attachment + 1)).await.0, StatusCode::NOT_FOUND);
    let (status, card) = app.get(&dispatcher, &format!("/api/v1/orders/{order}")).await;
    assert_eq!(status, StatusCode::OK);
    let reasons: Vec<&str> = card["history"].as_array().unwrap().iter().map(|h| h["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["created_by_staff", "accepted_by_master", "master_en_route", "master_working", "master_uploaded_act"]);

    // History shows finished orders only; the notification feed is his own.
    let (_, history) = app.get(&m1, "/api/v1/me/history?filter=all").await;
    assert_eq!((history["total"].as_i64(), history["completed"].as_i64(), history["earnings"]["net_kop"].as_i64()), (Some(0), Some(0), Some(0)));
    let (status, feed) = app.get(&m1, "/api/v1/me/notifications").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed["items"][0]["event"], "new_offer");
    assert_eq!((feed["items"][0]["new"].clone(), feed["unread"].clone()), (json!(false), json!(0)), "the offer he accepted is no longer new");
    let note = feed["items"][0]["id"].as_i64().unwrap();
    assert_eq!(app.post_empty(&m2, &format!("/api/v1/me/notifications/{note}/read")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post_empty(&m1, &format!("/api/v1/me/notifications/{note}/read")).await.0, StatusCode::NO_CONTENT);
    assert!(app.get(&m1, "/api/v1/me/notifications").await.1["items"][0]["read_at"].is_string());
    w.assert_sound();
}

#[tokio::test]
async fn an_oversized_act_gets_a_json_refusal_not_a_broken_connection() {
    let app = spawn_app().await;
    let w = &app.world;
    let district = w.district(w.moscow(), "Центральный");
    let master = w.master(M::serving(w.moscow(), &[district]));
    let order = w.busy_order(t0(), district, master, OrderStatus::Working);
    let auth = app.master_login(master).await;
    let mut big = PNG.to_vec();
    big.resize(11 * 1024 * 1024, 0);
    let (status, body) = app.close(&auth, order, Some("3500"), Some(("big.png", &big))).await;
    assert_eq!((status, code(&body), body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("act")), "{body}");
    assert_eq!(w.status(order), OrderStatus::Working);
    assert_eq!(app.stored_files(), 0);
}

#[tokio::test]
async fn staff_actions_refuse_with_typed_errors_and_change_nothing() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let district = w.district(moscow, "Центральный");
    let master = w.master(M::serving(moscow, &[district]));
    let off_shift = w.master(M::serving(moscow, &[district]).off_shift());
    let dispatcher = app.dispatcher().await;
    let logist = app.staff_token(&w.staff(StaffRole::Logist, &[moscow]));
    let (_, created) = app.post(&logist, "/api/v1/orders", order_form(moscow, Some(district))).await;
    let order = created["id"].as_i64().unwrap();

    // Cancel needs a reason of 3–200 characters; a refusal changes nothing.
    let before = w.dump();
    let (status, short) = app.post(&dispatcher, &format!("/api/v1/orders/{order}/cancel"), json!({"reason": "ok"})).await;
    assert_eq!((status, code(&short), short["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("reason")));
    let (status, _) = app.post(&dispatcher, &format!("/api/v1/orders/{order}/cancel"), json!({"reason": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let Auth::Session { cookie, .. } = &dispatcher else { unreachable!() };
    let no_csrf = app.http.post(format!("{}/api/v1/orders/{order}/cancel", app.base)).header("cookie", cookie).json(&json!({"reason": "Клиент передумал"}));
    let (status, refused) = answer(no_csrf.send().await.unwrap()).await;
    assert_eq!((status, code(&refused)), (StatusCode::FORBIDDEN, "csrf_failed"));
    assert_eq!(app.post(&dispatcher, "/api/v1/orders/999999/cancel", json!({"reason": "Клиент передумал"})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(w.dump(), before);

    // Manual pick: the off-shift master needs "assign anyway"; the candidate list says why.
    let (status, candidates) = app.get(&logist, &format!("/api/v1/orders/{order}/candidates")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<i64> = candidates.as_array().unwrap().iter().map(|c| c["master_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [master, off_shift]);
    assert_eq!(candidates[1]["unavailable"], json!(["not_on_shift"]));
    let (status, unconfirmed) = app.post(&logist, &format!("/api/v1/orders/{order}/assign"), json!({"master_id": off_shift})).await;
    assert_eq!((status, code(&unconfirmed)), (StatusCode::CONFLICT, "needs_confirmation"));
    let (status, view) = app.post(&logist, &format!("/api/v1/orders/{order}/assign"), json!({"master_id": off_shift, "force": true})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!((view["status"].as_str(), view["assigned_master_id"].as_i64()), (Some("ASSIGNED"), Some(off_shift)));
    let (status, taken) = app.post(&logist, &format!("/api/v1/orders/{order}/offers"), json!({"master_id": master})).await;
    assert_eq!((status, code(&taken)), (StatusCode::CONFLICT, "already_assigned"));

    // Return to search, then auto: an offer goes out.
    let (status, view) = app.post_empty(&logist, &format!("/api/v1/orders/{order}/return")).await;
    assert_eq!((status, view["status"].as_str(), view["dist_cycle"].as_i64()), (StatusCode::OK, Some("SEARCHING"), Some(2)));
    let (status, sent) = app.post(&logist, &format!("/api/v1/orders/{order}/auto"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["master_id"], master);
    let (status, busy) = app.post(&logist, &format!("/api/v1/orders/{order}/auto"), json!({})).await;
    assert_eq!((status, code(&busy)), (StatusCode::CONFLICT, "offer_conflict"));

    // Auto on an order without a district: 409, and the escalation is kept.
    let (_, created) = app.post(&logist, "/api/v1/orders", order_form(moscow, None)).await;
    let no_district = created["id"].as_i64().unwrap();
    let (status, refused) = app.post(&logist, &format!("/api/v1/orders/{no_district}/auto"), json!({})).await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "no_district"));
    assert!(w.escalation(no_district).logist_at.is_some());

    // Cancel with a reason; again is a no-op; return from CANCELED is refused.
    let (status, view) = app.post(&logist, &format!("/api/v1/orders/{no_district}/cancel"), json!({"reason": "Клиент передумал"})).await;
    assert_eq!((status, view["status"].as_str(), view["cancel_reason"].as_str()), (StatusCode::OK, Some("CANCELED"), Some("Клиент передумал")));
    assert_eq!(app.post(&logist, &format!("/api/v1/orders/{no_district}/cancel"), json!({"reason": "Ещё раз"})).await.0, StatusCode::OK);
    let (status, refused) = app.post_empty(&logist, &format!("/api/v1/orders/{no_district}/return")).await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "wrong_status"));

    // A DEFERRED order: auto asks for confirmation; activate starts the search.
    let mut form = order_form(moscow, Some(district));
    form["defer"] = json!(true);
    let (_, created) = app.post(&logist, "/api/v1/orders", form).await;
    assert_eq!(created["status"], "DEFERRED");
    let deferred = created["id"].as_i64().unwrap();
    let (status, refused) = app.post(&logist, &format!("/api/v1/orders/{deferred}/auto"), json!({})).await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "deferred_needs_confirmation"));
    let (status, view) = app.post_empty(&logist, &format!("/api/v1/orders/{deferred}/activate")).await;
    assert_eq!((status, view["status"].as_str()), (StatusCode::OK, Some("SEARCHING")));
    let (status, refused) = app.post_empty(&logist, &format!("/api/v1/orders/{deferred}/activate")).await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "wrong_status"));

    // Guarantee: only from a CLOSED order.
    let (status, refused) = app.post_empty(&logist, &format!("/api/v1/orders/{deferred}/guarantee")).await;
    assert_eq!((status, code(&refused)), (StatusCode::CONFLICT, "guarantee_not_allowed"));
    let closed = w.closed_order(t0(), district, master, t0());
    let (status, guarantee) = app.post_empty(&logist, &format!("/api/v1/orders/{closed}/guarantee")).await;
    assert_eq!((status, guarantee["status"].as_str()), (StatusCode::CREATED, Some("GUARANTEE")), "{guarantee}");
    let (status, twice) = app.post_empty(&logist, &format!("/api/v1/orders/{closed}/guarantee")).await;
    assert_eq!((status, code(&twice)), (StatusCode::CONFLICT, "guarantee_exists"));

    // The preferred master does the guarantee visit and closes it with a PDF act only: CLOSED, no amount.
    let guarantee = guarantee["id"].as_i64().unwrap();
    let (status, _) = app.post(&logist, &format!("/api/v1/orders/{guarantee}/assign"), json!({"master_id": master})).await;
    assert_eq!(status, StatusCode::OK);
    let m = app.master_login(master).await;
    app.post_empty(&m, &format!("/api/v1/me/orders/{guarantee}/en-route")).await;
    app.post_empty(&m, &format!("/api/v1/me/orders/{guarantee}/on-site")).await;
    let (status, done) = app.close(&m, guarantee, None, Some(("act.pdf", PDF))).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!((done["status"].as_str(), done["total_sum_kop"].as_i64()), (Some("CLOSED"), Some(0)));
    assert_eq!(done["attachments"][0]["mime_type"], "application/pdf");
    let (status, history) = app.get(&m, "/api/v1/me/history?filter=closed").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let ids: Vec<i64> = history["items"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [guarantee, closed]);
    // D-23: gross, commission, the firm's payment for the guarantee visit and net, per order and in total.
    let earnings = |v: &Value| ["gross_kop", "commission_kop", "company_payment_kop", "net_kop"].map(|k| v[k].as_i64().unwrap());
    assert_eq!(history["completed"].as_i64(), Some(2));
    assert_eq!(earnings(&history["earnings"]), [150_000, 0, 250_000, 400_000], "{history}");
    assert_eq!(earnings(&history["items"][0]["earnings"]), [0, 0, 250_000, 250_000]);
    assert_eq!(app.get(&m, "/api/v1/me/history?filter=canceled").await.1["total"], 0);
    assert_eq!(app.get(&m, "/api/v1/me/history?filter=open").await.0, StatusCode::BAD_REQUEST);
    w.assert_sound();
}

#[tokio::test]
async fn the_queue_filters_and_searches_within_the_callers_cities() {
    let app = spawn_app().await;
    let w = &app.world;
    let (moscow, spb) = (w.moscow(), w.city("Санкт-Петербург"));
    let district = w.district(moscow, "Центральный");
    let master = w.master(M::serving(moscow, &[district]));
    w.exec("UPDATE masters SET full_name = 'Сергей Кузнецов' WHERE id = ?1", [master]);
    let admin = app.staff_token(&w.staff(StaffRole::GlobalAdmin, &[]));
    let spb_admin = app.staff_token(&w.staff(StaffRole::CityAdmin, &[spb]));
    let lonely = app.staff_token(&w.staff_without_city(StaffRole::Logist));

    let searching = w.order(t0(), district);
    let assigned = w.busy_order(t0(), district, master, OrderStatus::Assigned);
    let closed = w.closed_order(t0(), district, master, t0());
    let mut form = order_form(spb, None);
    form["client_phone"] = json!("+79995550000");
    // 00:30 on 11 March in Moscow time, 21:30 UTC on the 10th: the date filter uses the city's date.
    form["timeslot"] = json!({"start": "2026-03-10T21:30:00Z", "end": "2026-03-10T23:00:00Z"});
    form["category"] = json!("PLUMBING");
    let (status, created) = app.post(&admin, "/api/v1/orders", form).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let in_spb = created["id"].as_i64().unwrap();

    let ids = |page: &Value| page["items"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let (status, page) = app.get(&admin, "/api/v1/orders").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), [in_spb, assigned, searching], "newest first, queue statuses only");
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][1]["master_name"], "Сергей Кузнецов");
    assert_eq!(ids(&app.get(&admin, "/api/v1/orders?status=CLOSED").await.1), [closed]);
    assert_eq!(ids(&app.get(&admin, &format!("/api/v1/orders?city_id={moscow}")).await.1), [assigned, searching]);
    assert_eq!(ids(&app.get(&admin, "/api/v1/orders?category=PLUMBING").await.1), [in_spb]);
    assert_eq!(ids(&app.get(&admin, &format!("/api/v1/orders?master_id={master}")).await.1), [assigned]);
    assert_eq!(ids(&app.get(&admin, &format!("/api/v1/orders?id={searching}")).await.1), [searching]);
    assert_eq!(ids(&app.get(&admin, "/api/v1/orders?date=2026-03-11").await.1), [in_spb]);
    assert_eq!(ids(&app.get(&admin, "/api/v1/orders?date=2026-03-10").await.1), Vec::<i64>::new());
    let (_, paged) = app.get(&admin, "/api/v1/orders?per_page=2&page=2").await;
    assert_eq!((ids(&paged), paged["total"].as_i64()), (vec![searching], Some(3)));
    assert_eq!(ids(&app.get(&admin, "/api/v1/orders?sort=created_asc").await.1), [searching, assigned, in_spb], "oldest first");
    assert_eq!(ids(&app.get(&admin, "/api/v1/orders?sort=id_desc&per_page=2").await.1), [in_spb, assigned]);
    let (status, unknown) = app.get(&admin, "/api/v1/orders?sort=closed").await;
    assert_eq!((status, unknown["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("sort")), "{unknown}");

    // City scope: own cities only; none bound, nothing; a foreign city filter, nothing.
    assert_eq!(ids(&app.get(&spb_admin, "/api/v1/orders").await.1), [in_spb]);
    assert_eq!(ids(&app.get(&spb_admin, &format!("/api/v1/orders?city_id={moscow}")).await.1), Vec::<i64>::new());
    assert_eq!(ids(&app.get(&lonely, "/api/v1/orders").await.1), Vec::<i64>::new());

    // Malformed and out-of-range filters are 4xx, never 5xx.
    assert_eq!(app.get(&admin, "/api/v1/orders?per_page=101").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get(&admin, "/api/v1/orders?page=0").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    for far in ["%2B262142-12-31", "-0001-01-01", "1900-01-01"] {
        let (status, page) = app.get(&admin, &format!("/api/v1/orders?date={far}")).await;
        assert_eq!((status, ids(&page)), (StatusCode::OK, vec![]), "{far}");
    }
    for bad in ["status=FOO", "date=11.03.2026", "city_id=x", "category=electrics"] {
        assert_eq!(app.get(&admin, &format!("/api/v1/orders?{bad}")).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Search: by client phone digits, by id, by master name; within scope.
    let search = |q: &str| format!("/api/v1/orders/search?q={}", urlencode(q));
    let orders = |result: &Value| result["orders"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let (status, found) = app.get(&admin, &search("999 123 45 67")).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(orders(&found), [closed, assigned, searching]);
    assert_eq!(orders(&app.get(&admin, &search("8 999 555 00 00")).await.1), [in_spb]);
    assert_eq!(orders(&app.get(&spb_admin, &search("999 123 45 67")).await.1), Vec::<i64>::new());
    assert_eq!(orders(&app.get(&admin, &search(&in_spb.to_string())).await.1), [in_spb]);
    assert_eq!(orders(&app.get(&spb_admin, &search(&searching.to_string())).await.1), Vec::<i64>::new());
    let (_, by_name) = app.get(&admin, &search("кузнец")).await;
    assert_eq!(by_name["masters"][0]["id"], master);
    assert_eq!(orders(&by_name), [closed, assigned]);
    assert_eq!(app.get(&spb_admin, &search("кузнец")).await.1["masters"], json!([]));
    let (status, short) = app.get(&admin, "/api/v1/orders/search?q=12345&by=phone").await;
    assert_eq!((status, short["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("q")));
    assert!(short["error"]["message"].as_str().unwrap().contains("10"));
    assert_eq!(app.get(&admin, "/api/v1/orders/search?q=%20").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get(&admin, "/api/v1/orders/search").await.0, StatusCode::BAD_REQUEST);

    // Every route is in the OpenAPI document; closing is a multipart form.
    let doc: Value = app.http.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    for path in ["/api/v1/orders", "/api/v1/orders/search", "/api/v1/orders/{id}/auto", "/api/v1/orders/{id}/attachments/{attachment_id}", "/api/v1/me/offers/{id}/accept", "/api/v1/me/history", "/api/v1/me/notifications/{id}/read"] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert!(doc["paths"]["/api/v1/me/orders/{id}/close"]["post"]["requestBody"]["content"]["multipart/form-data"].is_object());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
