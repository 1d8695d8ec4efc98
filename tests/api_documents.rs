//! A master's questionnaire documents over HTTP: a PENDING master uploads his passport and selfie, staff of
//! his city (a logist too) download them, and everyone else gets "not found"; a file that is not what it
//! claims to be is refused without leaving anything behind.

#[path = "common/contract.rs"]
mod contract;

#[path = "common/dump.rs"]
mod dump;
#[path = "common/samples.rs"]
mod samples;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use fieldservice::app::AppState;
use fieldservice::auth::{self, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, DbError, Durability, ms};
use fieldservice::domain::{CityId, DistrictId, MasterId, StaffRole};
use fieldservice::{password, staff};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use samples::{PDF, PNG, jpeg};

const PASSWORD: &str = "correct horse";

struct TestApp {
    base: String,
    db: Db,
    http: reqwest::Client,
    moscow: CityId,
    spb: CityId,
    district: DistrictId,
    dir: tempfile::TempDir,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap()
}

async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    let state = AppState { db: db.clone(), clock: Arc::new(ManualClock::new(t0())), config: Arc::new(config) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));
    let city = |name: &str| -> CityId {
        db.read(|c| c.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get(0)).map_err(DbError::from)).unwrap()
    };
    let (moscow, spb) = (city("Москва"), city("Санкт-Петербург"));
    let district = db
        .write(|tx| {
            tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Арбат', ?2)", rusqlite::params![moscow, ms(t0())])?;
            Ok::<_, rusqlite::Error>(tx.last_insert_rowid())
        })
        .unwrap();
    TestApp { base, db, http: reqwest::Client::new(), moscow, spb, district, dir }
}

impl TestApp {
    /// A bearer token of a new staff member of `role` in `cities`.
    fn staff(&self, login: &str, role: StaffRole, cities: &[CityId]) -> String {
        let hash = password::hash(PASSWORD);
        self.db
            .write(|tx| {
                let id = staff::create(tx, t0(), login, &hash, role, "Сотрудник", cities)?;
                auth::create_token(tx, t0(), Owner::Staff(id), "test")
            })
            .unwrap()
            .1
    }

    fn request(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/api/v1{path}", self.base)).bearer_auth(token)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        answer(self.request(Method::GET, path, token).send().await.unwrap()).await
    }

    /// Signs a master up through an invite of Москва (he stays PENDING) and signs him in; his id and token.
    async fn pending_master(&self, admin: &str, phone: &str) -> (MasterId, String) {
        let (status, invite) = answer(self.request(Method::POST, "/invites", admin).json(&json!({"city_id": self.moscow})).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{invite}");
        let form = json!({
            "invite": invite["code"], "last_name": "Петров", "first_name": "Пётр", "phone": phone, "password": PASSWORD,
            "district_ids": [self.district], "skills": ["ELECTRICS"], "payout_method": "CARD",
            "payout_data": "1234567890123456", "pdn_consent": true,
        });
        let registered = self.http.post(format!("{}/api/v1/masters/register", self.base)).json(&form).send().await.unwrap();
        let (status, registered) = answer(registered).await;
        assert_eq!((status, registered["status"].as_str()), (StatusCode::CREATED, Some("PENDING")), "{registered}");
        let login = self.http.post(format!("{}/api/v1/auth/master/login", self.base)).json(&json!({"phone": phone, "password": PASSWORD}));
        let (status, body) = answer(login.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "a pending master signs in: {body}");
        (registered["id"].as_i64().unwrap(), body["token"].as_str().unwrap().to_string())
    }

    /// Uploads a document as a multipart form; `kind` and `file` are left out when `None`.
    async fn upload(&self, token: &str, kind: Option<&str>, file: Option<(&str, &[u8])>) -> (StatusCode, Value) {
        let (content_type, body) = multipart(kind, file);
        answer(self.request(Method::POST, "/me/documents", token).header("content-type", content_type).body(body).send().await.unwrap()).await
    }

    /// The names in the files directory, sorted.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("files"))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Every row of every table but the login journal and tokens, for "a refusal changed nothing".
    fn dump(&self) -> String {
        dump::dump(&self.db, &["login_attempts", "api_tokens"])
    }
}

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A `multipart/form-data` body with an optional `kind` and an optional `file`.
fn multipart(kind: Option<&str>, file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "----fieldservice-test-boundary";
    let mut body = Vec::new();
    if let Some(kind) = kind {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n").as_bytes());
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

fn error(body: &Value) -> (&str, &str) {
    (body["error"]["code"].as_str().unwrap_or_default(), body["error"]["field"].as_str().unwrap_or_default())
}

#[tokio::test]
async fn a_pending_master_uploads_passport_and_selfie_and_staff_of_his_city_download_them() {
    let app = spawn_app().await;
    let admin = app.staff("root", StaffRole::GlobalAdmin, &[]);
    let logist = app.staff("logist", StaffRole::Logist, &[app.moscow]);
    let stranger = app.staff("spb", StaffRole::CityAdmin, &[app.spb]);
    let (id, master) = app.pending_master(&admin, "+79991112233").await;
    let (_, other_master) = app.pending_master(&admin, "+79991112244").await;

    let (status, card) = app.get(&format!("/masters/{id}"), &admin).await;
    assert_eq!((status, card["documents_missing"].clone()), (StatusCode::OK, json!(["passport", "selfie"])));
    assert_eq!(app.get("/me/documents", &master).await, (StatusCode::OK, json!([])));

    let (status, passport) = app.upload(&master, Some("passport"), Some(("паспорт 1.png", PNG))).await;
    assert_eq!(status, StatusCode::CREATED, "{passport}");
    assert_eq!((passport["document_type"].as_str(), passport["mime_type"].as_str()), (Some("passport"), Some("image/png")));
    let (status, selfie) = app.upload(&master, Some("selfie"), Some(("selfie.jpg", &jpeg()))).await;
    assert_eq!(status, StatusCode::CREATED, "{selfie}");
    assert_eq!(selfie["mime_type"], "image/jpeg");

    let (status, card) = app.get(&format!("/masters/{id}"), &logist).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(card["documents_missing"], json!([]));
    assert_eq!(card["documents"].as_array().unwrap().len(), 2);
    let (_, mine) = app.get("/me/documents", &master).await;
    assert_eq!(mine, json!([passport, selfie]));
    assert_eq!(app.files().len(), 2);

    // A logist of his city downloads with the headers of any download.
    let passport_id = passport["id"].as_i64().unwrap();
    let response = app.request(Method::GET, &format!("/masters/{id}/documents/{passport_id}"), &logist).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("content-disposition"), "attachment; filename=\"_______ 1.png\"; filename*=UTF-8''%D0%BF%D0%B0%D1%81%D0%BF%D0%BE%D1%80%D1%82%201.png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);

    // The master downloads his own; nobody else finds it.
    let response = app.request(Method::GET, &format!("/me/documents/{passport_id}"), &master).send().await.unwrap();
    assert_eq!((response.status(), response.headers()["x-content-type-options"].to_str().unwrap()), (StatusCode::OK, "nosniff"));
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    let (status, body) = app.get(&format!("/me/documents/{passport_id}"), &other_master).await;
    assert_eq!((status, error(&body).0), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = app.get(&format!("/masters/{id}/documents/{passport_id}"), &other_master).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the staff route is not for masters");
    let (status, body) = app.get(&format!("/masters/{id}/documents/{passport_id}"), &stranger).await;
    assert_eq!((status, error(&body).0), (StatusCode::NOT_FOUND, "not_found"));
    let selfie_id = selfie["id"].as_i64().unwrap();
    let (status, _) = app.get(&format!("/masters/{id}/documents/{selfie_id}"), &stranger).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A new passport (a PDF now) replaces the old one, row and file.
    let (status, new_passport) = app.upload(&master, Some("passport"), Some(("passport.pdf", PDF))).await;
    assert_eq!((status, new_passport["mime_type"].as_str()), (StatusCode::CREATED, Some("application/pdf")), "{new_passport}");
    let (_, mine) = app.get("/me/documents", &master).await;
    assert_eq!(mine, json!([selfie, new_passport]));
    assert_eq!(app.files().len(), 2, "the replaced file is gone");
    let (status, _) = app.get(&format!("/me/documents/{passport_id}"), &master).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_document_that_is_not_what_it_claims_is_refused_and_leaves_nothing() {
    let app = spawn_app().await;
    let admin = app.staff("root", StaffRole::GlobalAdmin, &[]);
    let (_, master) = app.pending_master(&admin, "+79991112233").await;
    let (status, _) = app.upload(&master, Some("passport"), Some(("passport.png", PNG))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (dump, files) = (app.dump(), app.files());

    let mut big = PNG.to_vec();
    big.resize(10 * 1024 * 1024 + 1, 0);
    let refusals = [
        (Some("selfie"), Some(("selfie.pdf", PDF)), "file"),
        (Some("passport"), Some(("passport.jpg", b"just text, not a photo".as_slice())), "file"),
        (Some("passport"), Some(("big.png", big.as_slice())), "file"),
        (Some("passport"), None, "file"),
        (None, Some(("passport.png", PNG)), "kind"),
        (Some("diploma"), Some(("diploma.png", PNG)), "kind"),
    ];
    for (kind, file, field) in refusals {
        let (status, body) = app.upload(&master, kind, file).await;
        assert_eq!((status, error(&body)), (StatusCode::UNPROCESSABLE_ENTITY, ("invalid", field)), "{kind:?}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.contains("rule.") && !m.contains("field.")), "{body}");
        assert_eq!(app.dump(), dump, "{kind:?} changed the database");
        assert_eq!(app.files(), files, "{kind:?} left a file");
    }
    let (status, body) = app.upload(&master, Some("selfie"), Some(("selfie.pdf", PDF))).await;
    assert_eq!(body["error"]["message"], "Файл: нужна фотография: JPEG, PNG, WebP или HEIC", "{status}");

    // Not a form at all: 400.
    let response = app.request(Method::POST, "/me/documents", &master).json(&json!({"kind": "passport"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.dump(), dump);
}

#[tokio::test]
async fn documents_are_listed_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/api/v1/me/documents"]["post"]["requestBody"]["content"]["multipart/form-data"].is_object());
    assert!(doc["paths"]["/api/v1/me/documents"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/me/documents/{attachment_id}"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/masters/{id}/documents/{attachment_id}"]["get"].is_object());
}
