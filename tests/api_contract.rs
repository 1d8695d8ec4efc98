//! The API as a contract, walked from its own OpenAPI document:
//! - the authorisation matrix: every route × every kind of caller, with city scope and ownership;
//! - fuzzing: for every operation, malformed, missing, oversized and wrong-typed input gets a 4xx JSON
//!   error — never a 5xx — and changes nothing in the database.

#[path = "common/contract.rs"]
mod contract;

#[path = "common/dump.rs"]
mod dump;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use fieldservice::app::AppState;
use fieldservice::auth::{self, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::db::{Db, Durability};
use fieldservice::domain::StaffRole;
use fieldservice::error::Error;
use fieldservice::staff;
use proptest::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    GlobalAdmin,
    CityAdmin,
    Logist,
    Master,
}

const EVERYONE: [Who; 5] = [Who::Anonymous, Who::GlobalAdmin, Who::CityAdmin, Who::Logist, Who::Master];

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Public,
    SignedIn,
    Staff,
    Admins,
    GlobalAdmin,
    Master,
    StaffOrAssignedMaster,
}

impl Policy {
    fn allows(self, who: Who) -> bool {
        use Who::*;
        match self {
            Policy::Public => true,
            Policy::SignedIn => who != Anonymous,
            Policy::Staff => matches!(who, GlobalAdmin | CityAdmin | Logist),
            Policy::Admins => matches!(who, GlobalAdmin | CityAdmin),
            Policy::GlobalAdmin => who == GlobalAdmin,
            Policy::Master => who == Master,
            Policy::StaffOrAssignedMaster => who != Anonymous,
        }
    }
}

/// The policy of every route; a route missing here fails the test, so each new route gets classified.
fn policy(method: &str, path: &str) -> Option<Policy> {
    use Policy::*;
    let p = path.trim_start_matches("/api/v1");
    Some(match (method, p) {
        ("POST", "/auth/staff/login" | "/auth/master/login" | "/masters/register" | "/invites/inspect") | ("GET", "/push/key") => Public,
        ("POST", "/auth/logout") | ("GET", "/auth/me" | "/cities" | "/cities/{id}/districts") => SignedIn,
        ("GET", "/settings" | "/staff") | ("PUT", "/settings" | "/staff/{id}/cities") | ("POST", "/staff" | "/staff/{id}/activate" | "/staff/{id}/deactivate") => {
            GlobalAdmin
        }
        // Cities themselves: added, listed with the inactive ones, deactivated (issue 12).
        ("POST", "/cities") | ("GET", "/cities/all") | ("PATCH", "/cities/{id}") => GlobalAdmin,
        ("GET" | "PUT", "/settings/requisites") | ("GET" | "PUT" | "DELETE", "/settings/requisites/qr") => GlobalAdmin,
        ("POST", "/cities/{id}/districts" | "/cities/{id}/streets" | "/invites" | "/invites/{id}/revoke") | ("GET", "/invites") => Admins,
        // Finance: global and city admins; logists none (decisions §B.20).
        (_, p) if p.starts_with("/commissions") => Admins,
        // Exports: admins, a city admin for his own cities (decisions §B.20).
        ("GET", "/exports/{file}") => Admins,
        // Reports show money: admins only, like finance (issue 13).
        ("GET", "/reports/distribution" | "/reports/masters" | "/reports/money") => Admins,
        ("POST", "/masters/{id}/approve" | "/masters/{id}/reject" | "/masters/{id}/block" | "/masters/{id}/unblock" | "/masters/{id}/limit" | "/masters/{id}/rating")
        | ("DELETE", "/masters/{id}") => Admins,
        ("GET", "/orders/{id}/attachments" | "/orders/{id}/attachments/{attachment_id}") => StaffOrAssignedMaster,
        // A master's documents: staff of his city (a logist too) on the card; the master himself under /me/.
        ("GET", "/masters/{id}/documents/{attachment_id}") => Staff,
        ("GET" | "POST", "/me/documents") | ("GET", "/me/documents/{attachment_id}") => Master,
        (_, p) if p.starts_with("/me/") => Master,
        (_, p) if p.starts_with("/orders") || p.starts_with("/masters") || p.starts_with("/alerts") || p.starts_with("/tokens") || p.starts_with("/clients") => Staff,
        ("GET", "/cities/{id}/streets" | "/cities/{id}/slots") => Staff,
        _ => return None,
    })
}

/// A fresh installation with two cities and people in each.
struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    base: String,
    http: reqwest::Client,
    moscow: i64,
    spb: i64,
    order_a: i64,
    order_b: i64,
    master_a: i64,
    master_b: i64,
    offer_a: i64,
    offer_b: i64,
    spare_master: i64,
    spare_staff: i64,
    people: BTreeMap<&'static str, Owner>,
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap()
}

fn insert_master(tx: &rusqlite::Transaction<'_>, phone: &str, city: i64, district: i64) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO masters (full_name, phone, city_id, is_active, verified, moderation_status, shift_status, is_on_shift, created_at, updated_at)
         VALUES ('Иванов Иван', ?1, ?2, 1, 1, 'APPROVED', 'SHIFT_ON', 1, 0, 0)",
        rusqlite::params![phone, city],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute("INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, 'ELECTRICS', 0)", [id])?;
    tx.execute("INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, 0)", [id, district])?;
    Ok(id)
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    let clock = ManualClock::new(now());
    let state = AppState { db: db.clone(), clock: Arc::new(clock), config: Arc::new(Config::default()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(contract::serve(listener, state, std::future::pending()));
    let built = db
        .write(|tx| -> Result<_, Error> {
            let city = |name: &str| tx.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get::<_, i64>(0));
            let (moscow, spb) = (city("Москва")?, city("Санкт-Петербург")?);
            let district = |city: i64| -> rusqlite::Result<i64> {
                tx.execute("INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Центральный', 0)", [city])?;
                Ok(tx.last_insert_rowid())
            };
            let (da, db_) = (district(moscow)?, district(spb)?);
            let admin = staff::create(tx, now(), "admin", "x", StaffRole::GlobalAdmin, "Admin", &[])?;
            let city_admin = staff::create(tx, now(), "moscow", "x", StaffRole::CityAdmin, "Moscow", &[moscow])?;
            let logist = staff::create(tx, now(), "logist", "x", StaffRole::Logist, "Logist", &[moscow])?;
            let spare_staff = staff::create(tx, now(), "spare", "x", StaffRole::Logist, "Spare", &[moscow])?;
            let master_a = insert_master(tx, "+79990000001", moscow, da)?;
            let master_b = insert_master(tx, "+79990000002", spb, db_)?;
            let spare_master = insert_master(tx, "+79990000003", moscow, da)?;
            let admin_staff = staff::load_active(tx, admin)?.unwrap();
            let order = |city: i64, district: i64| {
                let input = fieldservice::orders::NewOrder {
                    city_id: city,
                    district_id: Some(district),
                    client_phone: "+79991234567".into(),
                    category: Some(fieldservice::domain::Category::Electrics),
                    description: Some("Не работает розетка в кухне".into()),
                    ..Default::default()
                };
                fieldservice::orders::create(tx, now(), &admin_staff, &input).map(|c| c.id)
            };
            let (order_a, order_b) = (order(moscow, da)?, order(spb, db_)?);
            let offer = |order: i64, master: i64| {
                let loaded = fieldservice::orders::load(tx, order)?.unwrap();
                fieldservice::offers::send(tx, now(), 3600, &loaded, master, 1, None).map(|o| o.id)
            };
            let (offer_a, offer_b) = (offer(order_a, master_a)?, offer(order_b, master_b)?);
            let people = BTreeMap::from([
                ("admin", Owner::Staff(admin)),
                ("moscow", Owner::Staff(city_admin)),
                ("logist", Owner::Staff(logist)),
                ("master", Owner::Master(master_a)),
            ]);
            Ok((moscow, spb, order_a, order_b, master_a, master_b, offer_a, offer_b, spare_master, spare_staff, people))
        })
        .unwrap();
    let (moscow, spb, order_a, order_b, master_a, master_b, offer_a, offer_b, spare_master, spare_staff, people) = built;
    Fixture { _dir: dir, db, base, http: reqwest::Client::new(), moscow, spb, order_a, order_b, master_a, master_b, offer_a, offer_b, spare_master, spare_staff, people }
}

impl Fixture {
    /// A fresh bearer token for `who` (logout revokes the token it is called with).
    fn token(&self, who: Who) -> Option<String> {
        let key = match who {
            Who::Anonymous => return None,
            Who::GlobalAdmin => "admin",
            Who::CityAdmin => "moscow",
            Who::Logist => "logist",
            Who::Master => "master",
        };
        let owner = self.people[key];
        Some(self.db.write(|tx| auth::create_token(tx, now(), owner, "test")).unwrap().1)
    }

    /// The path with its ids filled: objects of the caller's own city (`own`) or of the other city.
    fn fill(&self, path: &str, own: bool) -> String {
        let (order, master, city, offer) =
            if own { (self.order_a, self.master_a, self.moscow, self.offer_a) } else { (self.order_b, self.master_b, self.spb, self.offer_b) };
        let p = path.trim_start_matches("/api/v1");
        let id = if p.starts_with("/orders/") {
            order
        } else if p == "/masters/{id}" && own {
            // DELETE must not remove the master the other checks sign in as.
            self.spare_master
        } else if p.starts_with("/masters/") {
            master
        } else if p.starts_with("/cities/") {
            city
        } else if p.starts_with("/me/offers/") {
            offer
        } else if p.starts_with("/staff/") {
            self.spare_staff
        } else {
            999_999
        };
        path.replace("{id}", &id.to_string()).replace("{attachment_id}", "999999").replace("{receipt_id}", "999999").replace("{phone}", "89991234567").replace("{file}", "orders.csv")
    }

    async fn call(&self, method: &str, path: &str, who: Who, body: Option<&Value>) -> reqwest::Response {
        let mut request = self.http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", self.base));
        if let Some(token) = self.token(who) {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// Every row of every table but the login journal and sessions, as text.
    fn dump(&self) -> String {
        dump::dump(&self.db, &["login_attempts", "sessions", "api_tokens"])
    }
}

async fn openapi(f: &Fixture) -> Value {
    f.http.get(format!("{}/api/openapi.json", f.base)).send().await.unwrap().json().await.unwrap()
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn is_json_error(status: StatusCode, body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v["error"]["code"].is_string() && v["error"]["message"].is_string()) || status == StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_lets_in_exactly_the_callers_its_role_allows() {
    let probe = fixture().await;
    let doc = openapi(&probe).await;
    let mut unclassified = Vec::new();
    let mut failures = Vec::new();
    for (method, path, _) in operations(&doc) {
        let Some(policy) = policy(&method, &path) else {
            unclassified.push(format!("{method} {path}"));
            continue;
        };
        for who in EVERYONE {
            // A fresh installation per call: one call's effects (a delete, a deactivation) never leak.
            let f = fixture().await;
            let url = f.fill(&path, true);
            let response = f.call(&method, &url, who, Some(&json!({}))).await;
            let status = response.status();
            let allowed = policy.allows(who);
            let ok = if allowed {
                !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            } else if who == Who::Anonymous {
                status == StatusCode::UNAUTHORIZED
            } else {
                status == StatusCode::FORBIDDEN
            };
            if !ok || status.is_server_error() {
                failures.push(format!("{method} {url} as {who:?}: {status} (allowed: {allowed})"));
            }
        }
    }
    assert!(unclassified.is_empty(), "routes without a policy in this test: {unclassified:#?}");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn city_scoped_staff_and_masters_get_404_for_objects_that_are_not_theirs() {
    let probe = fixture().await;
    let doc = openapi(&probe).await;
    let mut failures = Vec::new();
    for (method, path, _) in operations(&doc) {
        let p = path.trim_start_matches("/api/v1");
        let scoped = p.starts_with("/orders/{id}") || p.starts_with("/masters/{id}") || p.starts_with("/cities/{id}/streets")
            || p.starts_with("/cities/{id}/slots")
            || (p.starts_with("/cities/{id}/districts") && method == "POST");
        let owned = p.starts_with("/me/offers/{id}");
        for who in [Who::CityAdmin, Who::Logist, Who::Master] {
            let applies = match who {
                Who::Master => owned,
                _ => scoped && policy(&method, &path).is_some_and(|pol| pol.allows(who)),
            };
            if !applies {
                continue;
            }
            let f = fixture().await;
            let before = f.dump();
            let url = f.fill(&path, false);
            let status = f.call(&method, &url, who, Some(&json!({}))).await.status();
            if status != StatusCode::NOT_FOUND {
                failures.push(format!("{method} {url} as {who:?}: {status}, expected 404"));
            }
            if f.dump() != before {
                failures.push(format!("{method} {url} as {who:?} changed the database"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The JSON schema of an operation's request body, `$ref`s resolved.
fn body_schema(doc: &Value, op: &Value) -> Option<Value> {
    let schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
    if schema.is_null() {
        return None;
    }
    Some(resolve(doc, &schema))
}

fn resolve(doc: &Value, schema: &Value) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema.clone(),
    }
}

/// Bad variants of a body: broken JSON text, wrong top-level types, and per field missing, null,
/// wrong-typed, oversized and out-of-range values.
fn bad_bodies(schema: &Value) -> Vec<(String, String)> {
    let mut out = vec![
        ("truncated JSON".to_string(), "{\"".to_string()),
        ("array".into(), "[]".into()),
        ("null".into(), "null".into()),
        ("string".into(), "\"x\"".into()),
        ("empty".into(), String::new()),
    ];
    let Some(properties) = schema["properties"].as_object() else { return out };
    let base: serde_json::Map<String, Value> = properties.keys().map(|k| (k.clone(), Value::String(String::new()))).collect();
    for (name, property) in properties {
        let kind = property["type"].as_str().unwrap_or("");
        let mut variants: Vec<(&str, Option<Value>)> = vec![("missing", None), ("null", Some(Value::Null)), ("object", Some(json!({"a": 1})))];
        match kind {
            "string" => variants.extend([("number", Some(json!(12345))), ("oversized", Some(Value::String("ж".repeat(200_000))))]),
            "integer" | "number" => variants.extend([("text", Some(json!("x"))), ("huge", Some(json!(1e300))), ("negative", Some(json!(-1))), ("fraction", Some(json!(0.5)))]),
            "boolean" => variants.push(("text", Some(json!("yes please")))),
            "array" => variants.extend([("text", Some(json!("x"))), ("long", Some(Value::Array(vec![json!(1); 10_000])))]),
            _ => variants.push(("number", Some(json!(7)))),
        }
        for (label, value) in variants {
            let mut body = base.clone();
            match value {
                Some(v) => body.insert(name.clone(), v),
                None => body.remove(name),
            };
            out.push((format!("{name}: {label}"), Value::Object(body).to_string()));
        }
    }
    out
}

/// The caller a fuzzed operation is sent as: one who passes authorisation, so the input itself is tested.
fn caller_for(method: &str, path: &str) -> Who {
    match policy(method, path) {
        Some(Policy::Master) => Who::Master,
        Some(Policy::Public) => Who::Anonymous,
        _ => Who::GlobalAdmin,
    }
}

async fn send_raw(f: &Fixture, method: &str, url: &str, who: Who, body: &str) -> (StatusCode, String) {
    let mut request = f.http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{url}", f.base)).header("content-type", "application/json").body(body.to_string());
    if let Some(token) = f.token(who) {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_missing_oversized_and_wrong_typed_input_is_a_4xx_json_error_and_changes_nothing() {
    let f = fixture().await;
    let doc = openapi(&f).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let who = caller_for(&method, &path);
        let url = f.fill(&path, true);
        let mut cases: Vec<(String, String, String)> = Vec::new();
        if let Some(schema) = body_schema(&doc, &op) {
            cases.extend(bad_bodies(&schema).into_iter().map(|(label, body)| (label, url.clone(), body)));
        }
        if path.contains("{id}") {
            for bad in ["abc", "-1", "99999999999999999999999", "1.5", "%00"] {
                cases.push((format!("id {bad}"), path.replace("{id}", bad).replace("{attachment_id}", "1"), "{}".into()));
            }
        }
        if method == "GET" {
            for query in ["page=x", "per_page=-5", "status=NOPE", "city_id=abc", "date=2026-13-45", "limit=100000000000000000000", "unread=maybe", "q=%FF%FE"] {
                cases.push((format!("query {query}"), format!("{url}?{query}"), String::new()));
            }
        }
        for (label, target, body) in cases {
            let before = f.dump();
            let (status, text) = send_raw(&f, &method, &target, who, &body).await;
            checked += 1;
            if status.is_server_error() {
                failures.push(format!("{method} {target} [{label}] → {status}: {text:.200}"));
            } else if status.is_client_error() {
                if !is_json_error(status, &text) {
                    failures.push(format!("{method} {target} [{label}] → {status} without a JSON error: {text:.200}"));
                }
                if f.dump() != before {
                    failures.push(format!("{method} {target} [{label}] → {status} but the database changed"));
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} cases ran");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,16}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Random JSON values, also under the real field names, for every operation with a body: never a 5xx.
#[test]
fn random_json_bodies_never_cause_a_server_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let f = runtime.block_on(fixture());
    let doc = runtime.block_on(openapi(&f));
    let targets: Vec<(String, String, Vec<String>)> = operations(&doc)
        .into_iter()
        .filter_map(|(method, path, op)| {
            let schema = body_schema(&doc, &op)?;
            let fields = schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
            Some((method.clone(), f.fill(&path, true), fields))
        })
        .collect();
    assert!(targets.len() > 15, "the API has bodies to fuzz");
    let config = ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(values in prop::collection::vec(arbitrary_json(), 12), pick in 0usize..1000)| {
        let (method, url, fields) = &targets[pick % targets.len()];
        let mut body = serde_json::Map::new();
        for (field, value) in fields.iter().zip(values.iter()) {
            body.insert(field.clone(), value.clone());
        }
        let who = caller_for(method, &format!("/api/v1{}", url.trim_start_matches("/api/v1")));
        let (status, text) = runtime.block_on(send_raw(&f, method, url, who, &Value::Object(body).to_string()));
        prop_assert!(!status.is_server_error(), "{} {} → {}: {}", method, url, status, text);
    });
}

/// The document names every value of the domain's enumerations as the wire spells it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_enum_has_the_wire_values() {
    use fieldservice::domain::{ActorType, Category, ModerationStatus, OfferState, OrderStatus, OrderType, PayoutMethod, ShiftStatus};
    fn names<T: std::fmt::Display>(all: &[T]) -> Vec<Value> {
        all.iter().map(|v| json!(v.to_string())).collect()
    }
    let f = fixture().await;
    let doc = openapi(&f).await;
    let schemas = &doc["components"]["schemas"];
    let expected = [
        ("OrderStatus", names(OrderStatus::ALL)),
        ("OrderType", names(OrderType::ALL)),
        ("Category", names(Category::ALL)),
        ("OfferState", names(OfferState::ALL)),
        ("ActorType", names(ActorType::ALL)),
        ("ShiftStatus", names(ShiftStatus::ALL)),
        ("ModerationStatus", names(ModerationStatus::ALL)),
        ("StaffRole", names(StaffRole::ALL)),
        ("PayoutMethod", names(PayoutMethod::ALL)),
    ];
    for (name, values) in expected {
        if let Some(schema) = schemas.get(name) {
            assert_eq!(schema["enum"], Value::Array(values), "{name}");
        }
    }
    assert!(schemas["OrderStatus"]["enum"].as_array().unwrap().contains(&json!("SEARCHING")));
    assert!(schemas["StaffRole"]["enum"].as_array().unwrap().contains(&json!("GLOBAL_ADMIN")));

    // A value taken from the document is accepted as input (the validating server checks the body too).
    let district: i64 = f.db.read(|c| Ok::<_, Error>(c.query_row("SELECT id FROM districts WHERE city_id = ?1", [f.moscow], |r| r.get(0))?)).unwrap();
    let category = schemas["Category"]["enum"][0].clone();
    let body = json!({"city_id": f.moscow, "district_id": district, "client_phone": "+79991234568", "category": category, "description": "Искрит розетка"});
    let response = f.call("POST", "/api/v1/orders", Who::GlobalAdmin, Some(&body)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
}

/// Every `$ref` of the document resolves and no two operations share an id, so generators accept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_self_contained_and_its_operation_ids_are_unique() {
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| if k == "$ref" { out.extend(v.as_str().map(str::to_string)) } else { refs(v, out) }),
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let f = fixture().await;
    let doc = openapi(&f).await;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    let dangling: Vec<&String> = found.iter().filter(|r| doc.pointer(r.trim_start_matches('#')).is_none()).collect();
    assert!(dangling.is_empty(), "unresolvable references: {dangling:?}");
    let mut ids: Vec<String> = operations(&doc).iter().filter_map(|(_, _, op)| op["operationId"].as_str().map(str::to_string)).collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate operationIds");
    assert_eq!(count, operations(&doc).len(), "every operation has an id");
}

/// A method a path does not serve is 405 for everyone, before any authorisation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_a_path_does_not_serve_answer_405() {
    let f = fixture().await;
    for (method, path) in [("TRACE", "/api/v1/orders"), ("DELETE", "/api/v1/orders"), ("PATCH", "/api/v1/auth/me"), ("PUT", "/api/v1/staff"), ("TRACE", "/api/v1/auth/staff/login")] {
        for who in [Who::Anonymous, Who::Master, Who::GlobalAdmin] {
            let status = f.call(method, path, who, None).await.status();
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} as {who:?}");
        }
    }
}

/// The validating server's check itself: what it exists to catch, it catches.
#[test]
fn the_contract_check_flags_answers_and_accepted_bodies_off_the_document() {
    use axum::http::{HeaderMap, HeaderValue, header};
    let mut json_headers = HeaderMap::new();
    json_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let none = (&HeaderMap::new(), &axum::body::Bytes::new());
    let bytes = |v: Value| axum::body::Bytes::from(v.to_string());
    let c = contract::contract();

    let undocumented = contract::violations(c, "GET", "/api/v1/orders/1", None, none, (StatusCode::IM_A_TEAPOT, &json_headers, &bytes(json!({}))));
    assert!(undocumented.iter().any(|v| v.contains("not among the documented")), "{undocumented:?}");

    let off_schema = json!({"error": {"code": 5, "message": "x"}});
    let wrong = contract::violations(c, "GET", "/api/v1/orders/1", None, none, (StatusCode::NOT_FOUND, &json_headers, &bytes(off_schema)));
    assert!(wrong.iter().any(|v| v.contains("does not match its schema")), "{wrong:?}");

    let camel = bytes(json!({"city_id": 1, "client_phone": "+79991234567", "category": "Electrics"}));
    let created = bytes(json!({"id": 1}));
    let accepted = contract::violations(c, "POST", "/api/v1/orders", None, (&json_headers, &camel), (StatusCode::CREATED, &json_headers, &created));
    assert!(accepted.iter().any(|v| v.contains("accepted (201 Created) a request body the document forbids")), "{accepted:?}");

    let staff = bytes(json!({"login": "ivan", "password": "x", "role": "LOGIST", "full_name": "Ivan", "city_ids": []}));
    let refusal = bytes(json!({"error": {"code": "invalid", "message": "x", "field": "cities"}}));
    let named = contract::violations(c, "POST", "/api/v1/staff", None, (&json_headers, &staff), (StatusCode::UNPROCESSABLE_ENTITY, &json_headers, &refusal));
    assert!(named.iter().any(|v| v.contains("none of the operation's inputs")), "{named:?}");
}

/// A value `schema` allows, as plain as it gets: the first enum value, the lower bound, one item; an
/// object with its required properties, or with all of them when `all`.
fn example(doc: &Value, schema: &Value, all: bool) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(option) = schema[combinator].as_array().and_then(|o| o.iter().find(|s| s["type"] != "null")) {
            return example(doc, option, all);
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").unwrap_or("null"),
        _ if schema["properties"].is_object() => "object",
        _ => "string",
    };
    match kind {
        "object" => {
            let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let properties = schema["properties"].as_object().into_iter().flatten();
            Value::Object(properties.filter(|(name, _)| all || required.contains(&name.as_str())).map(|(name, s)| (name.clone(), example(doc, s, all))).collect())
        }
        "array" => json!([example(doc, &schema["items"], all)]),
        "integer" | "number" => json!(schema["minimum"].as_i64().map_or(1, |min| min.max(1))),
        "boolean" => json!(false),
        "null" => Value::Null,
        _ => match schema["format"].as_str() {
            Some("date") => json!("2026-03-11"),
            Some("date-time") => json!("2026-03-11T09:00:00Z"),
            _ => json!("Иванов"),
        },
    }
}

/// Requests the document allows are never refused as malformed: for every operation a body with the
/// required properties and one with all of them, and every query parameter with a value of its schema,
/// get anything but 400 (the validating server turns a 400 for a valid body into 599) — and no 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_document_allows_are_not_refused_as_malformed() {
    let f = fixture().await;
    let doc = openapi(&f).await;
    let mut failures = Vec::new();
    let mut sent = 0;
    for (method, path, op) in operations(&doc) {
        let who = caller_for(&method, &path);
        let url = f.fill(&path, true);
        if let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
            for all in [false, true] {
                let body = example(&doc, &Value::Object(schema.clone()), all);
                let (status, text) = send_raw(&f, &method, &url, who, &body.to_string()).await;
                sent += 1;
                if status == StatusCode::BAD_REQUEST || status.is_server_error() {
                    failures.push(format!("{method} {url} {body} → {status}: {text:.300}"));
                }
            }
        }
        for param in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "query") {
            let value = match example(&doc, &param["schema"], false) {
                Value::String(text) => text,
                other => other.to_string(),
            };
            let name = param["name"].as_str().unwrap();
            // A required query parameter (the search's `q`) goes along with each of the others.
            let required: String = op["parameters"].as_array().into_iter().flatten().filter(|p| p["required"] == true && p["name"] != name).map(|p| format!("&{}=1", p["name"].as_str().unwrap())).collect();
            let target = format!("{url}?{name}={}{required}", urlencode(&value));
            let (status, text) = send_raw(&f, &method, &target, who, "").await;
            sent += 1;
            if status == StatusCode::BAD_REQUEST || status.is_server_error() {
                failures.push(format!("{method} {target} → {status}: {text:.300}"));
            }
        }
    }
    assert!(sent > 40, "only {sent} requests");
    assert!(failures.is_empty(), "{} refused:\n{}", failures.len(), failures.join("\n"));
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
