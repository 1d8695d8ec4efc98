//! Reference data, staff management, settings and the staff alert feed over HTTP, with roles and city scope.

#[path = "common/contract.rs"]
mod contract;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use fieldservice::app::AppState;
use fieldservice::auth::{self, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, DbError, Durability};
use fieldservice::domain::{CityId, StaffRole};
use fieldservice::{alerts, password, staff};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

struct TestApp {
    base: String,
    db: Db,
    http: reqwest::Client,
    moscow: CityId,
    spb: CityId,
    /// Bearer tokens: global admin, city admins of Moscow and of St Petersburg, a Moscow logist, a master.
    admin: String,
    msk_admin: String,
    spb_admin: String,
    logist: String,
    master: String,
    _dir: tempfile::TempDir,
}

async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap();
    let state = AppState { db: db.clone(), clock: Arc::new(ManualClock::new(now)), config: Arc::new(Config::default()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));
    let hash = password::hash(PASSWORD);
    let city = |name: &str| {
        let name = name.to_string();
        db.read(move |c| c.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get::<_, i64>(0)).map_err(DbError::from)).unwrap()
    };
    let (moscow, spb) = (city("Москва"), city("Санкт-Петербург"));
    let tokens = db
        .write(|tx| {
            let mut tokens = Vec::new();
            for (login, role, cities) in [
                ("admin", StaffRole::GlobalAdmin, vec![]),
                ("msk_admin", StaffRole::CityAdmin, vec![moscow]),
                ("spb_admin", StaffRole::CityAdmin, vec![spb]),
                ("logist", StaffRole::Logist, vec![moscow]),
            ] {
                let id = staff::create(tx, now, login, &hash, role, login, &cities)?;
                tokens.push(auth::create_token(tx, now, Owner::Staff(id), "test")?.1);
            }
            tx.execute("INSERT INTO masters (full_name, phone, city_id, created_at, updated_at) VALUES ('Мастер', '+79990000001', ?1, 0, 0)", [moscow])?;
            tokens.push(auth::create_token(tx, now, Owner::Master(tx.last_insert_rowid()), "test")?.1);
            Ok::<_, fieldservice::error::Error>(tokens)
        })
        .unwrap();
    let [admin, msk_admin, spb_admin, logist, master] = <[String; 5]>::try_from(tokens).unwrap();
    TestApp { base, db, http: reqwest::Client::new(), moscow, spb, admin, msk_admin, spb_admin, logist, master, _dir: dir }
}

impl TestApp {
    /// Sends a request as the holder of `token`; returns the status and the JSON body (Null when empty).
    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(token, Method::GET, path, None).await
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::POST, path, Some(body)).await
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::PUT, path, Some(body)).await
    }

    fn count(&self, sql: &'static str) -> i64 {
        self.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(DbError::from)).unwrap()
    }
}

fn url_query(path: &str, q: &str) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://x{path}"), &[("q", q)]).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap())
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap()).collect()
}

/// The `(status, code, field)` of a refusal.
fn refusal((status, body): (StatusCode, Value)) -> (StatusCode, String, String) {
    let text = |key: &str| body["error"][key].as_str().unwrap_or_default().to_string();
    (status, text("code"), text("field"))
}

#[tokio::test]
async fn city_search_follows_aliases_and_the_callers_cities() {
    let app = spawn_app().await;
    let (status, all) = app.get(&app.admin, "/api/v1/cities").await;
    assert_eq!(status, StatusCode::OK);
    let all_names = names(&all);
    assert_eq!(all_names.len(), 78);
    assert!(all_names.is_sorted(), "alphabetical");
    assert_eq!(all[0]["timezone"].as_str().map(|tz| tz.contains('/')), Some(true));

    let (_, piter) = app.get(&app.admin, &url_query("/api/v1/cities", "Питер")).await;
    assert_eq!(names(&piter), ["Санкт-Петербург"]);
    assert_eq!(piter[0]["timezone"], "Europe/Moscow");
    let (_, ekb) = app.get(&app.admin, &url_query("/api/v1/cities", "екб")).await;
    assert_eq!(names(&ekb), ["Екатеринбург"]);
    let (_, rostov) = app.get(&app.admin, &url_query("/api/v1/cities", "ростов-на—дону")).await;
    assert_eq!(names(&rostov), ["Ростов на Дону"]);
    let (_, novo) = app.get(&app.admin, &url_query("/api/v1/cities", "ново")).await;
    assert!(names(&novo).contains(&"Новосибирск") && names(&novo).is_sorted() && names(&novo).len() > 1);

    // A logist of Moscow sees Moscow only; St Petersburg stays hidden even by its alias.
    let (_, mine) = app.get(&app.logist, "/api/v1/cities").await;
    assert_eq!(names(&mine), ["Москва"]);
    let (_, hidden) = app.get(&app.logist, &url_query("/api/v1/cities", "Питер")).await;
    assert_eq!(names(&hidden), Vec::<&str>::new());

    // A master may list every city (he picks one at sign-up); anonymous callers may not.
    let (status, for_master) = app.get(&app.master, "/api/v1/cities").await;
    assert_eq!((status, names(&for_master).len()), (StatusCode::OK, 78));
    let anonymous = app.http.get(format!("{}/api/v1/cities", app.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn districts_are_added_by_admins_of_the_city_and_listed_alphabetically() {
    let app = spawn_app().await;
    let path = format!("/api/v1/cities/{}/districts", app.moscow);
    let (status, created) = app.post(&app.admin, &path, json!({"name": "Центральный"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((created["name"].as_str(), created["city_id"].as_i64()), (Some("Центральный"), Some(app.moscow)));
    assert_eq!(app.post(&app.msk_admin, &path, json!({"name": "  Арбат "})).await.0, StatusCode::CREATED);

    let (_, listed) = app.get(&app.logist, &path).await;
    assert_eq!(names(&listed), ["Арбат", "Центральный"]);
    assert_eq!(names(&app.get(&app.master, &path).await.1), ["Арбат", "Центральный"]);

    assert_eq!(refusal(app.post(&app.msk_admin, &path, json!({"name": "Арбат"})).await), (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into(), "name".into()));
    assert_eq!(refusal(app.post(&app.admin, &path, json!({"name": "  "})).await), (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into(), "name".into()));
    assert_eq!(refusal(app.post(&app.admin, &path, json!({"name": "я".repeat(121)})).await).2, "name");
    assert_eq!(refusal(app.post(&app.logist, &path, json!({"name": "Лефортово"})).await).0, StatusCode::FORBIDDEN);
    assert_eq!(refusal(app.post(&app.master, &path, json!({"name": "Лефортово"})).await).0, StatusCode::FORBIDDEN);
    // Another city's admin learns nothing: the city is "not found", for reading and for writing.
    assert_eq!(refusal(app.post(&app.spb_admin, &path, json!({"name": "Лефортово"})).await), (StatusCode::NOT_FOUND, "not_found".into(), String::new()));
    assert_eq!(app.get(&app.spb_admin, &path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&app.admin, "/api/v1/cities/999999/districts").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&app.admin, "/api/v1/cities/abc/districts").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM districts"), 2, "refusals changed nothing");
}

#[tokio::test]
async fn street_search_is_fuzzy_and_drops_near_duplicates() {
    let app = spawn_app().await;
    let streets = format!("/api/v1/cities/{}/streets", app.moscow);
    let (_, district) = app.post(&app.admin, &format!("/api/v1/cities/{}/districts", app.moscow), json!({"name": "Центр"})).await;
    for (name, district_id) in [("Baker Street", district["id"].clone()), ("Baker St.", Value::Null), ("Пушкинская", Value::Null), ("улица Ленина", Value::Null)] {
        let (status, street) = app.post(&app.msk_admin, &streets, json!({"name": name, "district_id": district_id})).await;
        assert_eq!(status, StatusCode::CREATED, "{street}");
    }

    let (status, found) = app.get(&app.logist, &url_query(&streets, "Baker")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&found), ["Baker Street"], "A13: once, and not \"Baker St.\"");
    assert!(found[0]["score"].as_u64().unwrap() >= 60);
    assert_eq!(found[0]["district_id"], district["id"]);
    assert_eq!(names(&app.get(&app.logist, &url_query(&streets, "ленена")).await.1), ["улица Ленина"], "a typo still finds it");
    assert_eq!(names(&app.get(&app.logist, &url_query(&streets, "zzz")).await.1), Vec::<&str>::new());
    assert_eq!(names(&app.get(&app.logist, &streets).await.1), Vec::<&str>::new(), "nothing typed, nothing found");

    assert_eq!(refusal(app.post(&app.msk_admin, &streets, json!({"name": "Пушкинская"})).await).2, "name", "same name, same (no) district");
    assert_eq!(app.post(&app.msk_admin, &streets, json!({"name": "Пушкинская", "district_id": district["id"]})).await.0, StatusCode::CREATED);
    let (_, spb_district) = app.post(&app.admin, &format!("/api/v1/cities/{}/districts", app.spb), json!({"name": "Невский"})).await;
    assert_eq!(refusal(app.post(&app.admin, &streets, json!({"name": "Невская", "district_id": spb_district["id"]})).await).2, "district_id");
    assert_eq!(app.post(&app.logist, &streets, json!({"name": "Тверская"})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&app.spb_admin, &url_query(&streets, "Baker")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&app.master, &url_query(&streets, "Baker")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM streets"), 5);
}

#[tokio::test]
async fn a_global_admin_manages_staff_and_a_deactivated_one_is_refused_at_once() {
    let app = spawn_app().await;
    let new = |login: &str, password: &str, cities: Vec<CityId>| json!({"login": login, "password": password, "role": "LOGIST", "full_name": "Иван Петров", "city_ids": cities});

    assert_eq!(refusal(app.post(&app.admin, "/api/v1/staff", new("ivan", "short", vec![app.moscow])).await).2, "password");
    assert_eq!(refusal(app.post(&app.admin, "/api/v1/staff", new("ivan", PASSWORD, vec![])).await).2, "city_ids");
    assert_eq!(refusal(app.post(&app.admin, "/api/v1/staff", new("Logist", PASSWORD, vec![app.moscow])).await).2, "login");
    assert_eq!(refusal(app.post(&app.admin, "/api/v1/staff", new("ivan", PASSWORD, vec![999_999])).await).2, "city_ids");
    assert_eq!(app.post(&app.msk_admin, "/api/v1/staff", new("ivan", PASSWORD, vec![app.moscow])).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM staff_users"), 4, "refusals changed nothing");

    let (status, ivan) = app.post(&app.admin, "/api/v1/staff", new("Иван", PASSWORD, vec![app.spb, app.moscow, app.spb])).await;
    assert_eq!(status, StatusCode::CREATED, "{ivan}");
    let mut cities = vec![app.moscow, app.spb];
    cities.sort();
    assert_eq!((ivan["login"].as_str(), ivan["role"].as_str(), ivan["is_active"].as_bool()), (Some("иван"), Some("LOGIST"), Some(true)));
    assert_eq!(ivan["cities"], json!(cities));
    let id = ivan["id"].as_i64().unwrap();

    // He signs in with the login as typed by the admin.
    let login = app.http.post(format!("{}/api/v1/auth/staff/login", app.base)).json(&json!({"login": "ИВАН", "password": PASSWORD})).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let me = || app.http.get(format!("{}/api/v1/auth/me", app.base)).header("cookie", &cookie).send();
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);

    let (_, listed) = app.get(&app.admin, "/api/v1/staff").await;
    assert_eq!(listed[0]["login"], "иван", "newest first");
    assert_eq!(app.get(&app.admin, "/api/v1/staff?role=CITY_ADMIN").await.1.as_array().unwrap().len(), 2);
    assert_eq!(app.get(&app.logist, "/api/v1/staff").await.0, StatusCode::FORBIDDEN);

    let (status, off) = app.post(&app.admin, &format!("/api/v1/staff/{id}/deactivate"), json!({})).await;
    assert_eq!((status, off["is_active"].as_bool()), (StatusCode::OK, Some(false)));
    let refused = me().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "account_disabled");

    let admin_id = app.get(&app.admin, "/api/v1/auth/me").await.1["id"].as_i64().unwrap();
    let (status, body) = app.post(&app.admin, &format!("/api/v1/staff/{admin_id}/deactivate"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("state_conflict")));
    assert!(body["error"]["message"].as_str().unwrap().contains("заблокировать себя"), "{body}");
    assert_eq!(app.post(&app.admin, "/api/v1/staff/999999/deactivate", json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&app.admin, "/api/v1/auth/me").await.0, StatusCode::OK, "still active");

    // Re-activated, he signs in afresh: the old session stays dead.
    assert_eq!(app.post(&app.admin, &format!("/api/v1/staff/{id}/activate"), json!({})).await.1["is_active"], true);
    assert_eq!(me().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let (status, moved) = app.put(&app.admin, &format!("/api/v1/staff/{id}/cities"), json!({"city_ids": [app.spb]})).await;
    assert_eq!((status, moved["cities"].clone()), (StatusCode::OK, json!([app.spb])));
    assert_eq!(refusal(app.put(&app.admin, &format!("/api/v1/staff/{id}/cities"), json!({"city_ids": []})).await).2, "city_ids");
    assert_eq!(app.put(&app.msk_admin, &format!("/api/v1/staff/{id}/cities"), json!({"city_ids": [app.moscow]})).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn settings_are_validated_as_a_whole_and_only_for_global_admins() {
    let app = spawn_app().await;
    let (status, settings) = app.get(&app.admin, "/api/v1/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((settings["working_hours_start"].as_str(), settings["distribution_sla_seconds"].as_i64()), (Some("10:00"), Some(120)));

    let (status, body) = app.put(&app.admin, "/api/v1/settings", json!({"distribution_rounds": "3", "distribution_sla_seconds": "5"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("distribution_sla_seconds")));
    assert!(body["error"]["message"].as_str().unwrap().contains("10"), "names the range: {body}");
    assert_eq!(refusal(app.put(&app.admin, "/api/v1/settings", json!({"no_such_key": "1"})).await).2, "setting");
    assert_eq!(refusal(app.put(&app.admin, "/api/v1/settings", json!({"working_hours_start": "21:00"})).await).2, "working_hours_end");
    assert_eq!(app.put(&app.admin, "/api/v1/settings", json!({"distribution_rounds": [3]})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        refusal(app.put(&app.admin, "/api/v1/settings", json!({"support_faq_url": "javascript:alert(1)"})).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into(), "support_faq_url".into())
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM settings"), 0, "nothing saved");

    let (status, saved) = app.put(&app.admin, "/api/v1/settings", json!({"distribution_rounds": 3, "working_hours_start": "9:05", "citywide_fallback": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((saved["distribution_rounds"].as_i64(), saved["working_hours_start"].as_str(), saved["citywide_fallback"].as_bool()), (Some(3), Some("09:05"), Some(false)));
    assert_eq!(app.get(&app.admin, "/api/v1/settings").await.1, saved);

    assert_eq!(app.get(&app.msk_admin, "/api/v1/settings").await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.put(&app.logist, "/api/v1/settings", json!({"distribution_rounds": "1"})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&app.master, "/api/v1/settings").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn each_staff_member_sees_only_the_alerts_delivered_to_him() {
    let app = spawn_app().await;
    let id_of = |login: &'static str| app.db.read(move |c| c.query_row("SELECT id FROM staff_users WHERE login = ?1", [login], |r| r.get::<_, i64>(0)).map_err(DbError::from)).unwrap();
    let (logist, spb_admin) = (id_of("logist"), id_of("spb_admin"));
    let now = Utc::now();
    let (mine, theirs) = app
        .db
        .write(|tx| {
            let mine = alerts::raise(tx, now, "unassigned_backlog", None, Some(app.moscow), &json!({"count": 3}), &[logist])?;
            let theirs = alerts::raise(tx, now, "unassigned_backlog", None, Some(app.spb), &json!({"count": 1}), &[spb_admin])?;
            Ok::<_, rusqlite::Error>((mine, theirs))
        })
        .unwrap();

    let (status, feed) = app.get(&app.logist, "/api/v1/alerts?unread=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed.as_array().unwrap().len(), 1);
    assert_eq!((feed[0]["id"].as_i64(), feed[0]["kind"].as_str(), feed[0]["payload"]["count"].as_i64()), (Some(mine), Some("unassigned_backlog"), Some(3)));
    assert!(feed[0]["read_at"].is_null());

    assert_eq!(app.post(&app.logist, &format!("/api/v1/alerts/{theirs}/read"), json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post(&app.logist, &format!("/api/v1/alerts/{mine}/read"), json!({})).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&app.logist, "/api/v1/alerts?unread=true").await.1, json!([]));
    let (_, all) = app.get(&app.logist, "/api/v1/alerts").await;
    assert!(all[0]["read_at"].is_string());
    assert_eq!(app.get(&app.spb_admin, "/api/v1/alerts?unread=true").await.1[0]["id"].as_i64(), Some(theirs), "his stays unread");

    assert_eq!(refusal(app.get(&app.logist, "/api/v1/alerts?limit=0").await).2, "limit");
    assert_eq!(app.get(&app.master, "/api/v1/alerts").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_openapi_document_lists_these_routes() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    for path in [
        "/api/v1/cities",
        "/api/v1/cities/{id}/districts",
        "/api/v1/cities/{id}/streets",
        "/api/v1/staff",
        "/api/v1/staff/{id}/deactivate",
        "/api/v1/staff/{id}/activate",
        "/api/v1/staff/{id}/cities",
        "/api/v1/settings",
        "/api/v1/alerts",
        "/api/v1/alerts/{id}/read",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert_eq!(doc["components"]["schemas"]["Settings"]["properties"]["working_hours_start"]["type"], "string");
}
