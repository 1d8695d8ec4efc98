//! Masters over HTTP: invites, sign-up, moderation, search, deletion and the master's own shift and breaks,
//! against the real app on a random port over a temporary database.

#[path = "common/contract.rs"]
mod contract;

#[path = "common/dump.rs"]
mod dump;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use fieldservice::app::AppState;
use fieldservice::auth::{self, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, DbError, Durability, ms};
use fieldservice::domain::{CityId, DistrictId, MasterId, StaffRole};
use fieldservice::{check, password, staff, uploads};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

struct TestApp {
    base: String,
    db: Db,
    clock: ManualClock,
    http: reqwest::Client,
    moscow: CityId,
    spb: CityId,
    /// Districts of Москва.
    districts: Vec<DistrictId>,
    _dir: tempfile::TempDir,
}

/// A signed-in caller: a bearer token, or a session cookie with its CSRF token.
#[derive(Clone)]
enum Who {
    Bearer(String),
    Session { cookie: String, csrf: Option<String> },
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap()
}

async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    let clock = ManualClock::new(t0());
    let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    let state = AppState { db: db.clone(), clock: Arc::new(clock.clone()), config: Arc::new(config) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));
    let city = |name: &str| -> CityId {
        db.read(|c| c.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get(0)).map_err(DbError::from)).unwrap()
    };
    let (moscow, spb) = (city("Москва"), city("Санкт-Петербург"));
    let districts = db
        .write(|tx| {
            ["Арбат", "Тверской"]
                .iter()
                .map(|name| {
                    tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, ?2, ?3)", rusqlite::params![moscow, name, ms(t0())])?;
                    Ok(tx.last_insert_rowid())
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap();
    TestApp { base, db, clock, http: reqwest::Client::new(), moscow, spb, districts, _dir: dir }
}

impl TestApp {
    /// A staff member of `role` in `cities` with a bearer token.
    fn staff(&self, login: &str, role: StaffRole, cities: &[CityId]) -> Who {
        let hash = password::hash(PASSWORD);
        let token = self
            .db
            .write(|tx| {
                let id = staff::create(tx, t0(), login, &hash, role, "Сотрудник", cities)?;
                auth::create_token(tx, t0(), Owner::Staff(id), "test")
            })
            .unwrap()
            .1;
        Who::Bearer(token)
    }

    fn admin(&self) -> Who {
        self.staff("root", StaffRole::GlobalAdmin, &[])
    }

    async fn call(&self, method: Method, path: &str, who: Option<&Who>, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}/api/v1{path}", self.base));
        match who {
            Some(Who::Bearer(token)) => request = request.bearer_auth(token),
            Some(Who::Session { cookie, csrf }) => {
                request = request.header("cookie", cookie);
                if let Some(csrf) = csrf {
                    request = request.header("x-csrf-token", csrf);
                }
            }
            None => {}
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    async fn get(&self, path: &str, who: &Who) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(who), None).await
    }

    async fn post(&self, path: &str, who: &Who, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(who), Some(body)).await
    }

    async fn invite(&self, who: &Who, city: CityId) -> Value {
        let (status, invite) = self.post("/invites", who, json!({"city_id": city, "comment": "от Ивана"})).await;
        assert_eq!(status, StatusCode::CREATED, "{invite}");
        invite
    }

    /// Signs a master up through a fresh invite of Москва; returns his id.
    async fn register(&self, admin: &Who, phone: &str, last_name: &str) -> MasterId {
        let invite = self.invite(admin, self.moscow).await;
        let (status, body) = self.call(Method::POST, "/masters/register", None, Some(self.form(&invite["code"], phone, last_name))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    fn form(&self, invite: &Value, phone: &str, last_name: &str) -> Value {
        json!({
            "invite": invite,
            "last_name": last_name,
            "first_name": "пётр",
            "middle_name": "-",
            "phone": phone,
            "password": PASSWORD,
            "district_ids": [self.districts[0]],
            "has_vehicle": true,
            "skills": ["ELECTRICS", "PLUMBING"],
            "payout_method": "CARD",
            "payout_data": "1234567890123456",
            "pdn_consent": true,
        })
    }

    /// An approved master signed in with his own token.
    async fn approved(&self, admin: &Who, phone: &str, last_name: &str) -> (MasterId, Who) {
        let id = self.register(admin, phone, last_name).await;
        let (status, _) = self.post(&format!("/masters/{id}/approve"), admin, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        (id, self.master_login(phone).await)
    }

    async fn master_login(&self, phone: &str) -> Who {
        let (status, body) = self.call(Method::POST, "/auth/master/login", None, Some(json!({"phone": phone, "password": PASSWORD}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Who::Bearer(body["token"].as_str().unwrap().to_string())
    }

    fn scalar<T: rusqlite::types::FromSql>(&self, sql: &str, params: impl rusqlite::Params) -> T {
        self.db.read(|c| c.query_row(sql, params, |r| r.get(0)).map_err(DbError::from)).unwrap()
    }

    fn notifications(&self, master: MasterId) -> Vec<String> {
        self.db
            .read(|c| {
                c.prepare("SELECT event FROM notifications_outbox WHERE master_id = ?1 ORDER BY id")?
                    .query_map([master], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
                    .map_err(DbError::from)
            })
            .unwrap()
    }

    /// Every row of every table, for "a refusal changed nothing".
    fn dump(&self) -> String {
        dump::dump(&self.db, &[])
    }

    fn assert_sound(&self) {
        let problems = self.db.read(|c| check::run(c).map_err(DbError::from)).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn field(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn invite_register_approve_then_shift_and_breaks() {
    let app = spawn_app().await;
    let admin = app.staff("moscow", StaffRole::CityAdmin, &[app.moscow]);
    let invite = app.invite(&admin, app.moscow).await;
    let code_text = invite["code"].as_str().unwrap();
    assert!(code_text.len() == 8 && code_text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{code_text}");
    assert_eq!(invite["expires_at"], json!("2026-03-13T09:00:00Z"));
    let token = invite["token"].as_str().unwrap();
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM master_invites WHERE token_hash = ?1", [auth::hash_secret(token)]), 1);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM master_invites WHERE token_hash = ?1", [token]), 0, "only the hash is stored");

    // The sign-up form learns the city and its districts from the invite.
    let (status, city) = app.call(Method::POST, "/invites/inspect", None, Some(json!({"invite": token}))).await;
    assert_eq!((status, city["city_id"].as_i64()), (StatusCode::OK, Some(app.moscow)));
    assert_eq!(city["districts"].as_array().unwrap().len(), 2);

    // The code is accepted in any case.
    let form = app.form(&json!(code_text.to_lowercase()), "8 (999) 111-22-33", "иванов");
    let (status, registered) = app.call(Method::POST, "/masters/register", None, Some(form.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!(registered["status"], "PENDING");
    let id = registered["id"].as_i64().unwrap();
    let (status, card) = app.get(&format!("/masters/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["full_name"], "Иванов Пётр");
    assert_eq!(card["phone"], "+79991112233");
    assert_eq!((card["verified"].as_bool(), card["is_active"].as_bool(), card["moderation_status"].as_str()), (Some(false), Some(false), Some("PENDING")));
    assert_eq!(card["skills"], json!(["ELECTRICS", "PLUMBING"]));
    assert_eq!(card["districts"][0]["name"], "Арбат");
    assert_eq!((card["payout_method"].as_str(), card["payout_masked"].as_str()), (Some("CARD"), Some("*3456")));
    assert_eq!(card["documents_missing"], json!(["passport", "selfie"]));
    assert_eq!(app.scalar::<String>("SELECT payout_data FROM masters WHERE id = ?1", [id]), r#"{"card_number":"1234 5678 9012 3456"}"#);

    // The invite is used up.
    let again = app.form(&invite["token"], "+79991112244", "Сидоров");
    let (status, body) = app.call(Method::POST, "/masters/register", None, Some(again)).await;
    assert_eq!((status, code(&body), field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid", "invite"));
    let (_, invites) = app.get("/invites", &admin).await;
    assert_eq!((invites[0]["state"].as_str(), invites[0]["used_by_master_id"].as_i64()), (Some("used"), Some(id)));

    // Pending: signed in, but no shift until approved.
    let master = app.master_login("89991112233").await;
    let (status, body) = app.post("/me/shift/on", &master, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "master_pending"));

    let (status, card) = app.post(&format!("/masters/{id}/approve"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!((card["verified"].as_bool(), card["is_active"].as_bool(), card["moderation_status"].as_str()), (Some(true), Some(true), Some("APPROVED")));
    assert_eq!(card["verified_at"], json!("2026-03-10T09:00:00Z"));
    let (status, body) = app.post(&format!("/masters/{id}/approve"), &admin, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "state_conflict"));
    assert_eq!(app.notifications(id), ["moderation_approved"]);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM admin_audit_log WHERE master_id = ?1 AND action = 'approve_master'", [id]), 1);

    let (status, shift) = app.post("/me/shift/on", &master, json!({})).await;
    assert_eq!((status, shift["status"].as_str()), (StatusCode::OK, Some("SHIFT_ON")));
    let (status, shift) = app.post("/me/break/start", &master, json!({"minutes": 60})).await;
    assert_eq!((status, shift["status"].as_str(), shift["break_until"].as_str()), (StatusCode::OK, Some("BREAK"), Some("2026-03-10T10:00:00Z")));
    let (status, body) = app.post("/me/break/start", &master, json!({"minutes": 30})).await;
    assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "minutes"));
    app.clock.advance(Duration::minutes(50));
    let (status, shift) = app.post("/me/break/extend", &master, json!({"minutes": 15})).await;
    assert_eq!((status, shift["break_until"].as_str()), (StatusCode::OK, Some("2026-03-10T10:05:00Z")), "15 minutes from now");
    let (_, shift) = app.get("/me/shift", &master).await;
    assert_eq!(shift["status"], "BREAK");
    let (status, shift) = app.post("/me/break/end", &master, json!({})).await;
    assert_eq!((status, shift["status"].as_str(), &shift["break_until"]), (StatusCode::OK, Some("SHIFT_ON"), &Value::Null));
    let (status, body) = app.post("/me/break/end", &master, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "not_on_break"));
    let (status, shift) = app.post("/me/shift/off", &master, json!({})).await;
    assert_eq!((status, shift["status"].as_str()), (StatusCode::OK, Some("SHIFT_OFF")));
    let (status, body) = app.post("/me/break/start", &master, json!({"minutes": 15})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "shift_not_active"));

    // Each side keeps to its own routes.
    let (status, body) = app.post("/me/shift/on", &admin, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    for (method, path) in [(Method::GET, "/masters".to_string()), (Method::GET, format!("/masters/{id}")), (Method::POST, format!("/masters/{id}/approve")), (Method::GET, "/invites".into())] {
        let (status, body) = app.call(method, &path, Some(&master), Some(json!({}))).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{path}");
    }
    app.assert_sound();
}

#[tokio::test]
async fn refused_sign_ups_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin();
    let taken = app.register(&admin, "+79990000001", "Занятов").await;
    let invite = app.invite(&admin, app.moscow).await;
    let spb_district: DistrictId = app
        .db
        .write(|tx| {
            tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Невский', 0)", [app.spb])?;
            Ok::<_, rusqlite::Error>(tx.last_insert_rowid())
        })
        .unwrap();
    let good = app.form(&invite["code"], "+79990000002", "Петров");
    let with = |key: &str, value: Value| {
        let mut form = good.clone();
        form[key] = value;
        form
    };
    let cases = [
        (with("pdn_consent", json!(false)), "pdn_consent"),
        (with("last_name", json!("Petrov")), "last_name"),
        (with("first_name", json!("П")), "first_name"),
        (with("middle_name", json!("Сергеевич1")), "middle_name"),
        (with("phone", json!("12345")), "phone"),
        (with("phone", json!("8 999 000-00-01")), "phone"),
        (with("password", json!("short")), "password"),
        (with("skills", json!([])), "skills"),
        (with("payout_method", Value::Null), "payout_method"),
        (with("payout_data", json!("1234 5678")), "payout_data"),
        (with("district_ids", json!([])), "district_ids"),
        (with("district_ids", json!([spb_district])), "district_ids"),
        (with("referral_code", json!("NOSUCH01")), "referral_code"),
        (with("invite", json!("ZZZZZZZZ")), "invite"),
        (with("invite", Value::Null), "invite"),
    ];
    let before = app.dump();
    for (form, expected) in cases {
        let (status, body) = app.call(Method::POST, "/masters/register", None, Some(form)).await;
        assert_eq!((status, code(&body), field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid", expected), "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    // Wrong types are malformed input, not a server error.
    let (status, body) = app.call(Method::POST, "/masters/register", None, Some(with("skills", json!(["SINGING"])))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    assert_eq!(app.dump(), before, "refusals changed nothing");

    // Revoked and expired invites.
    let (status, _) = app.post(&format!("/invites/{}/revoke", invite["id"]), &admin, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.post(&format!("/invites/{}/revoke", invite["id"]), &admin, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "state_conflict"));
    let (status, body) = app.call(Method::POST, "/masters/register", None, Some(good.clone())).await;
    assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invite"));
    assert!(body["error"]["message"].as_str().unwrap().contains("отозвано"), "{body}");
    let fresh = app.invite(&admin, app.moscow).await;
    app.clock.advance(Duration::hours(72));
    let (status, body) = app.call(Method::POST, "/masters/register", None, Some(app.form(&fresh["code"], "+79990000002", "Петров"))).await;
    assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invite"));
    let (_, invites) = app.get("/invites", &admin).await;
    let states: Vec<&str> = invites.as_array().unwrap().iter().map(|i| i["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["expired", "revoked", "used"]);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM masters", []), 1);
    let _ = taken;
}

#[tokio::test]
async fn reject_block_unblock_limit_and_rating() {
    let app = spawn_app().await;
    let admin = app.admin();
    let pending = app.register(&admin, "+79990000010", "Отказов").await;
    let (status, body) = app.post(&format!("/masters/{pending}/reject"), &admin, json!({"reason": "  "})).await;
    assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "reason"));
    let (status, body) = app.post(&format!("/masters/{pending}/reject"), &admin, json!({"reason": "я".repeat(201)})).await;
    assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "reason"));
    let (status, card) = app.post(&format!("/masters/{pending}/reject"), &admin, json!({"reason": "Нечитаемый паспорт"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((card["moderation_status"].as_str(), card["moderation_reason"].as_str()), (Some("REJECTED"), Some("Нечитаемый паспорт")));
    assert_eq!(app.notifications(pending), ["moderation_rejected"]);
    let payload: String = app.scalar("SELECT payload FROM notifications_outbox WHERE master_id = ?1", [pending]);
    assert!(payload.contains("Нечитаемый паспорт"));

    let (id, master) = app.approved(&admin, "+79990000011", "Блоков").await;
    let (status, _) = app.post("/me/shift/on", &master, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&format!("/masters/{id}/unblock"), &admin, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "state_conflict"));
    let (status, card) = app.post(&format!("/masters/{id}/block"), &admin, json!({"reason": "Жалобы клиентов"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((card["is_blocked"].as_bool(), card["is_active"].as_bool(), card["shift"].as_str()), (Some(true), Some(false), Some("SHIFT_OFF")));
    assert_eq!(card["blocked_reason"], "Жалобы клиентов");
    // The blocked master's very next request is refused, with the reason.
    let (status, body) = app.get("/me/shift", &master).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "master_blocked"));
    assert!(body["error"]["message"].as_str().unwrap().contains("Жалобы клиентов"), "{body}");
    let (status, body) = app.post(&format!("/masters/{id}/block"), &admin, json!({"reason": "Ещё раз"})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "state_conflict"));
    let (_, blocked) = app.get("/masters?group=blocked", &admin).await;
    assert_eq!(blocked["items"][0]["id"].as_i64(), Some(id));

    let (status, card) = app.post(&format!("/masters/{id}/unblock"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((card["is_blocked"].as_bool(), card["is_active"].as_bool(), &card["blocked_reason"]), (Some(false), Some(true), &Value::Null));
    let (status, _) = app.post("/me/shift/on", &master, json!({})).await;
    assert_eq!(status, StatusCode::OK, "the same token works again");

    let before = app.dump();
    for bad in [json!({"limit": 0}), json!({"limit": 21}), json!({"limit": -3})] {
        let (status, body) = app.post(&format!("/masters/{id}/limit"), &admin, bad).await;
        assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "limit"));
    }
    let (status, body) = app.post(&format!("/masters/{id}/rating"), &admin, json!({"rating": 5.5})).await;
    assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "rating"));
    let (status, _) = app.post(&format!("/masters/{id}/limit"), &admin, json!({"limit": "many"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.dump(), before, "refusals changed nothing");

    let (status, card) = app.post(&format!("/masters/{id}/limit"), &admin, json!({"limit": 7})).await;
    assert_eq!((status, card["limit"].as_i64(), card["limit_override"].as_i64()), (StatusCode::OK, Some(7), Some(7)));
    let (_, card) = app.post(&format!("/masters/{id}/limit"), &admin, json!({"limit": null})).await;
    assert_eq!((card["limit"].as_i64(), &card["limit_override"]), (Some(5), &Value::Null), "back to the global setting");
    let (status, card) = app.post(&format!("/masters/{id}/rating"), &admin, json!({"rating": 4.25})).await;
    assert_eq!((status, card["rating"].as_f64()), (StatusCode::OK, Some(4.25)));
    assert_eq!(app.notifications(id), ["moderation_approved", "account_blocked", "account_unblocked", "limit_changed", "limit_changed"]);
    let actions: Vec<String> = app
        .db
        .read(|c| {
            c.prepare("SELECT action FROM admin_audit_log WHERE master_id = ?1 ORDER BY id")?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
                .map_err(DbError::from)
        })
        .unwrap();
    assert_eq!(actions, ["approve_master", "block_master", "unblock_master", "set_limit", "set_limit", "set_rating"]);
    app.assert_sound();
}

#[tokio::test]
async fn logists_read_only_and_foreign_cities_are_not_found() {
    let app = spawn_app().await;
    let admin = app.admin();
    let logist = app.staff("logist", StaffRole::Logist, &[app.moscow]);
    let spb_admin = app.staff("spb", StaffRole::CityAdmin, &[app.spb]);
    let id = app.register(&admin, "+79990000020", "Логистов").await;

    let (status, list) = app.get("/masters?group=moderation", &logist).await;
    assert_eq!((status, list["total"].as_i64()), (StatusCode::OK, Some(1)));
    let (status, _) = app.get(&format!("/masters/{id}"), &logist).await;
    assert_eq!(status, StatusCode::OK);
    let before = app.dump();
    for path in ["approve", "reject", "block", "unblock", "limit", "rating"] {
        let (status, body) = app.post(&format!("/masters/{id}/{path}"), &logist, json!({"reason": "нет", "limit": 3, "rating": 4.0})).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{path}");
    }
    let (status, _) = app.call(Method::DELETE, &format!("/masters/{id}"), Some(&logist), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/invites", &logist, json!({"city_id": app.moscow})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/invites", &logist).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another city's admin: the master does not exist for him.
    let (status, body) = app.get(&format!("/masters/{id}"), &spb_admin).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = app.post(&format!("/masters/{id}/approve"), &spb_admin, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::DELETE, &format!("/masters/{id}"), Some(&spb_admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/masters", &spb_admin).await;
    assert_eq!(list["total"], 0);
    let (status, body) = app.post("/invites", &spb_admin, json!({"city_id": app.moscow})).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (_, invites) = app.get("/invites", &spb_admin).await;
    assert_eq!(invites, json!([]));
    let moscow_invite: i64 = app.scalar("SELECT MAX(id) FROM master_invites", []);
    let (status, _) = app.post(&format!("/invites/{moscow_invite}/revoke"), &spb_admin, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.dump(), before, "refusals changed nothing");

    // Anonymous callers see nothing.
    let (status, body) = app.call(Method::GET, "/masters", None, None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
}

#[tokio::test]
async fn search_by_name_fragment_phone_digits_and_id_with_groups_and_skills() {
    let app = spawn_app().await;
    let admin = app.admin();
    let (ivanov, _) = app.approved(&admin, "+79161234567", "Иванов").await;
    let petrov = app.register(&admin, "+79035550011", "Петров").await;
    app.db
        .write(|tx| tx.execute("UPDATE master_skills SET category = 'WINDOWS' WHERE master_id = ?1 AND category = 'PLUMBING'", [petrov]))
        .unwrap();
    let ids = |list: &Value| -> Vec<i64> { list["items"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect() };

    let (_, all) = app.get("/masters", &admin).await;
    assert_eq!(ids(&all), [ivanov, petrov], "by full name");
    assert_eq!(all["items"][0]["limit"], 5);
    for (q, expected) in [
        ("иван", vec![ivanov]),
        ("ПЕТРОВ", vec![petrov]),
        ("Пётр", vec![ivanov, petrov]),
        ("4567", vec![ivanov]),
        ("8 903 555", vec![petrov]),
        ("+7916", vec![ivanov]),
        ("#", vec![]),
        ("Сидоров", vec![]),
    ] {
        let (status, list) = app.get(&format!("/masters?q={}", urlencode(q)), &admin).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&list), expected, "q = {q}");
    }
    let (_, by_id) = app.get(&format!("/masters?q={petrov}"), &admin).await;
    assert!(ids(&by_id).contains(&petrov));
    let (_, approved) = app.get("/masters?group=approved", &admin).await;
    assert_eq!(ids(&approved), [ivanov]);
    let (_, moderation) = app.get("/masters?group=moderation", &admin).await;
    assert_eq!(ids(&moderation), [petrov]);
    let (_, windows) = app.get("/masters?category=WINDOWS", &admin).await;
    assert_eq!(ids(&windows), [petrov]);
    let (_, page) = app.get("/masters?per_page=1&page=2", &admin).await;
    assert_eq!((ids(&page), page["total"].as_i64()), (vec![petrov], Some(2)));
    let (status, body) = app.get("/masters?per_page=1000", &admin).await;
    assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "per_page"));
    let (status, _) = app.get("/masters?group=nobody", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn delete_is_soft_with_history_and_hard_without() {
    let app = spawn_app().await;
    let admin = app.admin();
    // A passport photo as the upload endpoint stores it: a JPEG by its content.
    let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9];
    let passport = uploads::store(app._dir.path(), &jpeg, "passport.jpg").unwrap();
    let (worker, _) = app.approved(&admin, "+79990000031", "Работягин").await;
    let newcomer = app.register(&admin, "+79990000032", "Новичков").await;
    app.db
        .write(|tx| {
            tx.execute(
                "INSERT INTO orders (city_id, client_phone, category, status, assigned_master_id, dist_since_at, created_at, updated_at)
                 VALUES (?1, '+79991234567', 'ELECTRICS', 'CANCELED', ?2, 0, 0, 0)",
                rusqlite::params![app.moscow, worker],
            )?;
            tx.execute("INSERT INTO order_status_history (order_id, to_status, created_at) VALUES (?1, 'CANCELED', 0)", [tx.last_insert_rowid()])?;
            tx.execute(
                "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type, created_at)
                 VALUES ('MASTER', ?1, 'PHOTO', ?2, 'passport.jpg', 'image/jpeg', ?3, 'passport', 0)",
                rusqlite::params![newcomer, passport.storage_key, passport.size],
            )
        })
        .unwrap();
    let passport_path = uploads::path_of(app._dir.path(), &passport.storage_key).unwrap();
    assert!(passport_path.exists());
    let (_, card) = app.get(&format!("/masters/{newcomer}"), &admin).await;
    assert_eq!((card["documents"][0]["document_type"].as_str(), &card["documents_missing"]), (Some("passport"), &json!(["selfie"])));

    let (status, body) = app.call(Method::DELETE, &format!("/masters/{worker}"), Some(&admin), None).await;
    assert_eq!((status, body["deletion"].as_str()), (StatusCode::OK, Some("soft")));
    assert!(app.scalar::<bool>("SELECT is_deleted AND NOT is_active FROM masters WHERE id = ?1", [worker]));
    let (status, card) = app.get(&format!("/masters/{worker}"), &admin).await;
    assert_eq!((status, card["is_deleted"].as_bool()), (StatusCode::OK, Some(true)), "the card stays for the order history");
    let (_, list) = app.get("/masters", &admin).await;
    assert_eq!(list["total"], 1, "deleted masters are not listed");
    let (status, body) = app.post(&format!("/masters/{worker}/approve"), &admin, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "state_conflict"));
    let (status, body) = app.call(Method::POST, "/auth/master/login", None, Some(json!({"phone": "+79990000031", "password": PASSWORD}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The phone is free for a new sign-up.
    app.register(&admin, "+79990000031", "Вернулов").await;

    let (status, body) = app.call(Method::DELETE, &format!("/masters/{newcomer}"), Some(&admin), None).await;
    assert_eq!((status, body["deletion"].as_str()), (StatusCode::OK, Some("hard")));
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM masters WHERE id = ?1", [newcomer]), 0);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM master_skills WHERE master_id = ?1", [newcomer]), 0);
    assert_eq!(app.scalar::<i64>("SELECT COUNT(*) FROM attachments WHERE entity_type = 'MASTER' AND entity_id = ?1", [newcomer]), 0);
    assert!(!passport_path.exists(), "the stored file went with the rows");
    let audit: String = app.scalar("SELECT payload FROM admin_audit_log WHERE action = 'hard_delete_master'", []);
    assert!(audit.contains("Новичков"), "{audit}");
    let (status, _) = app.get(&format!("/masters/{newcomer}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.assert_sound();
}

#[tokio::test]
async fn a_staff_session_needs_its_csrf_token_to_moderate() {
    let app = spawn_app().await;
    let admin = app.admin();
    app.staff("moscow", StaffRole::CityAdmin, &[app.moscow]);
    let id = app.register(&admin, "+79990000040", "Сессионов").await;
    let response = app
        .http
        .post(format!("{}/api/v1/auth/staff/login", app.base))
        .json(&json!({"login": "moscow", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_string();
    let without = Who::Session { cookie: cookie.clone(), csrf: None };
    let before = app.dump();
    let (status, body) = app.post(&format!("/masters/{id}/approve"), &without, json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "csrf_failed"));
    assert_eq!(app.dump(), before);
    let (status, _) = app.get(&format!("/masters/{id}"), &without).await;
    assert_eq!(status, StatusCode::OK, "reading needs no token");
    let with = Who::Session { cookie, csrf: Some(csrf) };
    let (status, card) = app.post(&format!("/masters/{id}/approve"), &with, json!({})).await;
    assert_eq!((status, card["moderation_status"].as_str()), (StatusCode::OK, Some("APPROVED")));
}

#[tokio::test]
async fn the_openapi_document_lists_the_master_routes() {
    let doc = serde_json::to_value(fieldservice::app::openapi()).unwrap();
    for path in [
        "/api/v1/invites",
        "/api/v1/invites/{id}/revoke",
        "/api/v1/masters/register",
        "/api/v1/masters",
        "/api/v1/masters/{id}",
        "/api/v1/masters/{id}/approve",
        "/api/v1/masters/{id}/limit",
        "/api/v1/me/shift/on",
        "/api/v1/me/break/extend",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["paths"]["/api/v1/masters/{id}"]["delete"].is_object());
}
