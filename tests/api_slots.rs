//! Visit slots over HTTP (product.md §2.5, §8 A5–A8): the options of a city on its clock, and an order
//! created with a slot code — a late ASAP is refused until staff confirm tomorrow morning, DEFERRED.

mod common;

use std::sync::Arc;

use common::{M, World, t0, utc};
use common::contract;
use fieldservice::app::AppState;
use fieldservice::auth::{self as accounts, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::domain::StaffRole;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct TestApp {
    world: World,
    clock: ManualClock,
    base: String,
    http: reqwest::Client,
}

async fn spawn_app() -> TestApp {
    let world = World::new();
    let clock = ManualClock::new(t0());
    let state = AppState { db: world.db.clone(), clock: Arc::new(clock.clone()), config: Arc::new(Config::default()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));
    TestApp { world, clock, base, http: reqwest::Client::new() }
}

impl TestApp {
    fn token(&self, owner: Owner) -> String {
        self.world.write(|tx| accounts::create_token(tx, t0(), owner, "test")).unwrap().1
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).header("accept-language", "en");
        let response = request.json(&body).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    fn orders(&self) -> i64 {
        self.world.scalar("SELECT COUNT(*) FROM orders", [])
    }
}

fn codes(options: &Value) -> Vec<&str> {
    options.as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap()).collect()
}

fn order_form(city: i64, district: i64, extra: Value) -> Value {
    let mut form = json!({
        "city_id": city,
        "district_id": district,
        "house": "12",
        "client_phone": "8 (999) 123-45-67",
        "category": "ELECTRICS",
        "description": "Не работает розетка на кухне",
    });
    form.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    form
}

#[tokio::test]
async fn slot_options_follow_the_citys_clock_and_its_scope() {
    let app = spawn_app().await;
    let w = &app.world;
    let (moscow, spb) = (w.moscow(), w.city("Санкт-Петербург"));
    let district = w.district(moscow, "Центральный");
    let logist = app.token(Owner::Staff(w.staff(StaffRole::Logist, &[moscow]).id));
    let stranger = app.token(Owner::Staff(w.staff(StaffRole::Logist, &[spb]).id));
    let master = app.token(Owner::Master(w.master(M::serving(moscow, &[district]))));
    let path = format!("/api/v1/cities/{moscow}/slots");

    app.clock.set(utc(2026, 3, 10, 11, 30, 0)); // 14:30 in Moscow (A7)
    let (status, options) = app.get(&logist, &path).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    assert_eq!(codes(&options), ["ASAP", "TODAY:16-19", "TOM:10-13", "TOM:13-16", "TOM:16-19"]);
    assert_eq!((options[1]["start"].as_str(), options[1]["end"].as_str()), (Some("2026-03-10T13:00:00Z"), Some("2026-03-10T16:00:00Z")));

    app.clock.set(utc(2026, 3, 10, 17, 15, 0)); // 20:15 in Moscow
    assert_eq!(codes(&app.get(&logist, &path).await.1), ["TOM:10-13", "TOM:13-16", "TOM:16-19"]);

    assert_eq!(app.get(&stranger, &path).await.0, StatusCode::NOT_FOUND, "a foreign city is not found");
    assert_eq!(app.get(&logist, "/api/v1/cities/999999/slots").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&master, &path).await.0, StatusCode::FORBIDDEN, "staff only");
}

#[tokio::test]
async fn a_late_asap_needs_confirmation_and_then_waits_for_tomorrow_morning() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let district = w.district(moscow, "Центральный");
    let logist = app.token(Owner::Staff(w.staff(StaffRole::Logist, &[moscow]).id));
    app.clock.set(utc(2026, 3, 10, 16, 31, 0)); // 19:31 in Moscow (A5): still inside the working window

    let (status, options) = app.get(&logist, &format!("/api/v1/cities/{moscow}/slots")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(codes(&options), ["ASAP", "TOM:10-13", "TOM:13-16", "TOM:16-19"]);

    let before = w.dump();
    let (status, refusal) = app.post(&logist, "/api/v1/orders", order_form(moscow, district, json!({"slot": "ASAP"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
    assert_eq!(refusal["error"]["code"], "late_asap");
    assert_eq!(refusal["error"]["message"], "It is late; the master can come tomorrow 10:00–13:00. Continue?");
    assert_eq!((app.orders(), w.dump()), (0, before), "nothing was created");

    let (status, refusal) = app.post(&logist, "/api/v1/orders", order_form(moscow, district, json!({"slot": "TODAY:16-19"}))).await;
    assert_eq!((status, refusal["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("slot")), "{refusal}");
    assert!(refusal["error"]["message"].as_str().unwrap().contains("ended"), "{refusal}");
    let both = json!({"slot": "TOM:10-13", "timeslot": {"start": "2026-03-11T07:00:00Z", "end": "2026-03-11T10:00:00Z"}});
    let (status, refusal) = app.post(&logist, "/api/v1/orders", order_form(moscow, district, both)).await;
    assert_eq!((status, refusal["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("slot")), "{refusal}");
    assert_eq!(app.orders(), 0);

    let confirmed = json!({"slot": "ASAP", "confirm_late": true});
    let (status, created) = app.post(&logist, "/api/v1/orders", order_form(moscow, district, confirmed)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "DEFERRED");
    assert_eq!(created["deferred_until"], "2026-03-11T07:00:00Z");
    let id = created["id"].as_i64().unwrap();
    let (_, card) = app.get(&logist, &format!("/api/v1/orders/{id}")).await;
    assert_eq!(card["order"]["timeslot_start"], "2026-03-11T07:00:00Z");
    assert_eq!(card["order"]["timeslot_end"], "2026-03-11T10:00:00Z");
    assert_eq!(card["history"][0]["context"]["deferred_reason"], "late_asap");
}

#[tokio::test]
async fn an_asap_order_in_the_day_searches_with_a_window_until_the_workday_end() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let district = w.district(moscow, "Центральный");
    let logist = app.token(Owner::Staff(w.staff(StaffRole::Logist, &[moscow]).id));
    app.clock.set(utc(2026, 3, 10, 8, 20, 0)); // 11:20 in Moscow (A8)

    let (status, created) = app.post(&logist, "/api/v1/orders", order_form(moscow, district, json!({"slot": "ASAP"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "SEARCHING");
    let (_, card) = app.get(&logist, &format!("/api/v1/orders/{}", created["id"])).await;
    assert_eq!(card["order"]["timeslot_start"], "2026-03-10T08:20:00Z");
    assert_eq!(card["order"]["timeslot_end"], "2026-03-10T17:00:00Z");

    let (status, created) = app.post(&logist, "/api/v1/orders", order_form(moscow, district, json!({"slot": "TOM:16-19"}))).await;
    assert_eq!((status, &created["status"]), (StatusCode::CREATED, &json!("SEARCHING")), "{created}");
    let (status, refusal) = app.post(&logist, "/api/v1/orders", order_form(moscow, district, json!({"slot": "SOON"}))).await;
    assert_eq!((status, refusal["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("slot")), "{refusal}");
}
