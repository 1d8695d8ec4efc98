//! Issue 12, the dispatcher's cards: the note for the master (he sees it, never the internal notes), an
//! order's files added and removed over the API, the master card with his orders, the order lists and the
//! order card's actions per status — the real app on a temporary database, the clock moved by hand.

mod common;

use common::samples;
use common::web::{Browser, WebApp};
use common::{M, World, t0};
use fieldservice::auth::{self as accounts, Owner};
use fieldservice::domain::{DistrictId, MasterId, OrderStatus, StaffRole};
use fieldservice::orders::NewOrder;
use fieldservice::password;
use fieldservice::staff::Staff;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NOTE: &str = "Домофон не работает, звонить клиенту за 10 минут";
const SECRET: &str = "Клиент скандальный, предложить скидку";

struct TestApp {
    w: World,
    app: WebApp,
    http: reqwest::Client,
}

async fn start() -> TestApp {
    let w = World::new();
    let app = WebApp::serve(w.db.clone(), t0(), tempfile::tempdir().unwrap()).await;
    TestApp { w, app, http: reqwest::Client::new() }
}

impl TestApp {
    fn token(&self, staff: &Staff) -> String {
        self.w.write(|tx| accounts::create_token(tx, t0(), Owner::Staff(staff.id), "test")).unwrap().1
    }

    async fn master_token(&self, master: MasterId) -> String {
        let hash = password::hash(fieldservice::demo::PASSWORD);
        self.w.exec("UPDATE masters SET password_hash = ?2 WHERE id = ?1", rusqlite::params![master, hash]);
        let phone: String = self.w.scalar("SELECT phone FROM masters WHERE id = ?1", [master]);
        let body = json!({"phone": phone, "password": fieldservice::demo::PASSWORD});
        let (status, body) = self.call(Method::POST, "", "/api/v1/auth/master/login", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    async fn master_browser(&self, master: MasterId) -> Browser {
        self.master_token(master).await;
        let phone: String = self.w.scalar("SELECT phone FROM masters WHERE id = ?1", [master]);
        self.app.master(&phone).await
    }

    async fn staff_browser(&self, staff: &Staff, lang: &str) -> Browser {
        let hash = password::hash(fieldservice::demo::PASSWORD);
        self.w.exec("UPDATE staff_users SET password_hash = ?2 WHERE id = ?1", rusqlite::params![staff.id, hash]);
        let mut browser = self.app.staff(&staff.login).await;
        browser.get(&format!("/lang/{lang}?back=/")).await;
        browser
    }

    async fn call(&self, method: Method, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.app.base)).header("accept-language", "ru");
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    async fn upload(&self, token: &str, order: i64, name: &str, bytes: &[u8]) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string());
        let form = reqwest::multipart::Form::new().part("file", part);
        let request = self.http.post(format!("{}/api/v1/orders/{order}/attachments", self.app.base)).bearer_auth(token).multipart(form);
        read(request.send().await.unwrap()).await
    }

    /// The reason and the context of the order's last history row.
    fn last_history(&self, order: i64) -> (String, Value) {
        let (reason, context): (String, String) = self.w.read(|c| {
            c.query_row("SELECT reason, context FROM order_status_history WHERE order_id = ?1 ORDER BY id DESC LIMIT 1", [order], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        });
        (reason, serde_json::from_str(&context).unwrap())
    }

    fn files(&self, order: i64) -> i64 {
        self.w.scalar("SELECT COUNT(*) FROM attachments WHERE entity_type = 'ORDER' AND entity_id = ?1", [order])
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn change<'a>(context: &'a Value, field: &str) -> &'a Value {
    context["changes"].as_array().unwrap().iter().find(|c| c["field"] == field).unwrap_or_else(|| panic!("no change of {field}: {context}"))
}

/// The note for the master: set at creation, seen by the offered master on the offer and by the assigned
/// one on the job (API and /m pages), changed by an edit into the history; the internal notes never reach him.
#[tokio::test]
async fn the_master_sees_the_note_for_him_and_never_the_internal_notes() {
    let t = start().await;
    let moscow = t.w.moscow();
    let center = t.w.district(moscow, "Центральный");
    let master = t.w.master(M::serving(moscow, &[center]));
    let logist = t.w.staff(StaffRole::Logist, &[moscow]);
    let token = t.token(&logist);
    let form = |note: &str| {
        json!({"city_id": moscow, "district_id": center, "house": "12", "client_phone": "+79991234567", "category": "ELECTRICS",
               "description": "Не работает розетка на кухне", "master_note": note})
    };
    let orders_before: i64 = t.w.scalar("SELECT COUNT(*) FROM orders", []);
    let (status, body) = t.call(Method::POST, &token, "/api/v1/orders", Some(form(&"я".repeat(1001)))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("master_note")), "{body}");
    assert_eq!(t.w.scalar::<i64, _>("SELECT COUNT(*) FROM orders", []), orders_before, "a refused order is not created");
    let (status, created) = t.call(Method::POST, &token, "/api/v1/orders", Some(form(NOTE))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let order = created["id"].as_i64().unwrap();
    let (status, _) = t.call(Method::POST, &token, &format!("/api/v1/orders/{order}/notes"), Some(json!({"text": SECRET}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, card) = t.call(Method::GET, &token, &format!("/api/v1/orders/{order}"), None).await;
    assert_eq!(card["order"]["master_note"], NOTE);

    t.w.tick(t0());
    let mine = t.master_token(master).await;
    let (status, offers) = t.call(Method::GET, &mine, "/api/v1/me/offers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(offers[0]["master_note"], NOTE, "{offers}");
    let offer = offers[0]["offer_id"].as_i64().unwrap();
    let mut phone = t.master_browser(master).await;
    let page = phone.get(&format!("/m/offers/{offer}")).await;
    assert!(page.has(NOTE) && page.has("Заметка для мастера"), "{}", page.html);
    assert!(!page.has(SECRET));

    let (status, body) = t.call(Method::POST, &mine, &format!("/api/v1/me/offers/{offer}/accept"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, job) = t.call(Method::GET, &mine, &format!("/api/v1/me/orders/{order}"), None).await;
    assert_eq!(job["master_note"], NOTE);
    let page = phone.get(&format!("/m/orders/{order}")).await;
    assert!(page.has(NOTE) && !page.has(SECRET), "{}", page.html);

    let changed = "Код домофона 45К";
    let (status, body) = t.call(Method::PATCH, &token, &format!("/api/v1/orders/{order}"), Some(json!({"master_note": changed}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (reason, context) = t.last_history(order);
    assert_eq!(reason, "edited");
    assert_eq!((&change(&context, "master_note")["old"], &change(&context, "master_note")["new"]), (&json!(NOTE), &json!(changed)));
    for path in [format!("/api/v1/me/orders/{order}"), "/api/v1/me/orders".into(), "/api/v1/me/notifications".into()] {
        let (status, body) = t.call(Method::GET, &mine, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!body.to_string().contains("скидку"), "{path} shows an internal note: {body}");
    }
    let (_, job) = t.call(Method::GET, &mine, &format!("/api/v1/me/orders/{order}"), None).await;
    assert_eq!(job["master_note"], changed);
    let (status, _) = t.call(Method::PATCH, &token, &format!("/api/v1/orders/{order}"), Some(json!({"master_note": ""}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, job) = t.call(Method::GET, &mine, &format!("/api/v1/me/orders/{order}"), None).await;
    assert_eq!(job["master_note"], Value::Null, "an empty note clears it");

    // The staff forms carry the field.
    let mut staff = t.staff_browser(&logist, "ru").await;
    assert!(staff.get("/orders/new").await.has("name=\"master_note\""));
    assert!(staff.get(&format!("/orders/{order}/edit")).await.has("name=\"master_note\""));
}

/// Files over the API: added and removed as edits (one history row each), refused in CLOSED and CANCELED
/// with nothing changed, a wrong type refused, another order's or the master's files not removable here.
#[tokio::test]
async fn an_orders_files_are_added_and_removed_through_the_api_and_audited() {
    let t = start().await;
    let moscow = t.w.moscow();
    let center = t.w.district(moscow, "Центральный");
    let master = t.w.master(M::serving(moscow, &[center]));
    let order = t.w.busy_order(t0(), center, master, OrderStatus::Assigned);
    let logist = t.w.staff(StaffRole::Logist, &[moscow]);
    let token = t.token(&logist);

    let (status, file) = t.upload(&token, order, "schema.png", samples::PNG).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!((file["file_name"].as_str(), file["document_type"].as_str()), (Some("schema.png"), Some("order_file")));
    let (reason, context) = t.last_history(order);
    assert_eq!((reason.as_str(), &change(&context, "files")["new"]), ("edited", &json!(["schema.png"])));
    assert_eq!(context["staff_id"], logist.id);
    let (_, listed) = t.call(Method::GET, &token, &format!("/api/v1/orders/{order}/attachments"), None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let (status, body) = t.upload(&token, order, "notes.txt", b"just some text, not a photo").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("file")), "{body}");
    assert_eq!(t.files(order), 1);
    let (status, _) = t.call(Method::DELETE, &token, &format!("/api/v1/orders/{order}/attachments/999999"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let id = file["id"].as_i64().unwrap();
    let (status, body) = t.call(Method::DELETE, &token, &format!("/api/v1/orders/{order}/attachments/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(t.files(order), 0);
    let (_, context) = t.last_history(order);
    assert_eq!((&change(&context, "files")["old"], &change(&context, "files")["new"]), (&json!(["schema.png"]), &json!([])));

    // Closed and cancelled orders keep their files as they are.
    let (status, kept) = t.upload(&token, order, "act.pdf", samples::PDF).await;
    assert_eq!(status, StatusCode::CREATED);
    t.w.set_status(t0(), order, OrderStatus::Closed);
    let (status, body) = t.upload(&token, order, "late.png", samples::PNG).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("wrong_status")), "{body}");
    let kept = kept["id"].as_i64().unwrap();
    let (status, _) = t.call(Method::DELETE, &token, &format!("/api/v1/orders/{order}/attachments/{kept}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(t.files(order), 1);
    let canceled = t.w.order(t0(), center);
    t.w.set_status(t0(), canceled, OrderStatus::Canceled);
    let (status, _) = t.upload(&token, canceled, "late.png", samples::PNG).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(t.files(canceled), 0);

    // Staff of another city see no such order.
    let spb = t.token(&t.w.staff(StaffRole::Logist, &[t.w.city("Санкт-Петербург")]));
    let other = t.w.order(t0(), center);
    let (status, _) = t.upload(&spb, other, "x.png", samples::PNG).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(t.files(other), 0);
}

/// The master card lists his active and his latest finished orders, with his load and shift now; the API
/// gives the same, only to staff of his city.
#[tokio::test]
async fn the_master_card_shows_his_orders_load_and_shift() {
    let t = start().await;
    let moscow = t.w.moscow();
    let center = t.w.district(moscow, "Центральный");
    let master = t.w.master(M::serving(moscow, &[center]));
    let working = t.w.busy_order(t0(), center, master, OrderStatus::Working);
    let paying = t.w.busy_order(t0(), center, master, OrderStatus::Payment);
    let closed: Vec<i64> = (0..11).map(|n| t.w.closed_order(t0(), center, master, t0() + chrono::Duration::minutes(n))).collect();
    let canceled = t.w.busy_order(t0(), center, master, OrderStatus::Assigned);
    t.w.set_status(t0() + chrono::Duration::hours(1), canceled, OrderStatus::Canceled);
    let admin = t.w.staff(StaffRole::CityAdmin, &[moscow]);
    let token = t.token(&admin);

    let (status, orders) = t.call(Method::GET, &token, &format!("/api/v1/masters/{master}/orders"), None).await;
    assert_eq!(status, StatusCode::OK, "{orders}");
    let ids = |list: &Value| list.as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let mut active = ids(&orders["active"]);
    active.sort();
    assert_eq!(active, vec![working, paying]);
    let recent = ids(&orders["recent"]);
    assert_eq!(recent.len(), 10, "the last ten finished");
    assert_eq!(recent[0], canceled, "the latest first");
    assert!(!recent.contains(&closed[0]), "the oldest of eleven closed is left out");
    let (_, card) = t.call(Method::GET, &token, &format!("/api/v1/masters/{master}"), None).await;
    assert_eq!((card["active_orders"].as_i64(), card["shift_state"]["status"].as_str()), (Some(2), Some("SHIFT_ON")), "{card}");
    let spb = t.token(&t.w.staff(StaffRole::Logist, &[t.w.city("Санкт-Петербург")]));
    let (status, _) = t.call(Method::GET, &spb, &format!("/api/v1/masters/{master}/orders"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mut browser = t.staff_browser(&admin, "ru").await;
    let page = browser.get(&format!("/masters/{master}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("id=\"master-load\">2/"), "{}", page.html);
    assert!(page.has("id=\"master-shift\">на смене<"), "{}", page.html);
    for id in [working, paying, canceled, closed[10]] {
        assert!(page.has(&format!("href=\"/orders/{id}\"")), "#{id} is linked");
    }
    assert!(!page.has(&format!("href=\"/orders/{}\"", closed[0])));
}

/// Each status shows only the actions it allows; the cancel form waits behind a button.
#[tokio::test]
async fn the_order_card_offers_only_the_actions_the_status_allows() {
    let t = start().await;
    let moscow = t.w.moscow();
    let center = t.w.district(moscow, "Центральный");
    let master = t.w.master(M::serving(moscow, &[center]));
    let searching = t.w.order(t0(), center);
    let no_district = t.w.order_without_district(t0(), moscow);
    let deferred = t.w.create(t0(), &NewOrder { defer: true, ..t.w.form(moscow, Some(center)) }).unwrap().id;
    let assigned = t.w.busy_order(t0(), center, master, OrderStatus::Assigned);
    let payment = t.w.busy_order(t0(), center, master, OrderStatus::Payment);
    let closed = t.w.closed_order(t0(), center, master, t0());
    let canceled = t.w.order(t0(), center);
    t.w.set_status(t0(), canceled, OrderStatus::Canceled);
    let logist = t.w.staff(StaffRole::Logist, &[moscow]);
    let mut browser = t.staff_browser(&logist, "ru").await;

    let all = ["edit-order", "action-auto", "action-pick", "action-activate", "action-return", "action-guarantee", "cancel-order"];
    let cases: [(i64, &[&str]); 7] = [
        (searching, &["edit-order", "action-auto", "action-pick", "cancel-order"]),
        (no_district, &["edit-order", "action-pick", "cancel-order"]),
        (deferred, &["edit-order", "action-auto", "action-pick", "action-activate", "cancel-order"]),
        (assigned, &["edit-order", "action-return", "cancel-order"]),
        (payment, &["edit-order"]),
        (closed, &["action-guarantee"]),
        (canceled, &[]),
    ];
    for (order, shown) in cases {
        let page = browser.get(&format!("/orders/{order}")).await;
        assert_eq!(page.status, StatusCode::OK);
        for action in all {
            assert_eq!(page.has(&format!("id=\"{action}\"")), shown.contains(&action), "#{order}: {action}");
        }
        if shown.contains(&"cancel-order") {
            assert!(page.has("<details class=\"card-cancel\" id=\"cancel-order\">"), "the cancel form is closed until asked for");
        }
    }
    // A refused cancel opens the form with its message.
    let page = browser.post(&format!("/orders/{searching}/cancel"), &[("reason", "x")]).await;
    assert!(page.has("id=\"cancel-order\" open"), "{}", page.html);
}

fn district_orders(t: &TestApp, district: DistrictId, count: usize) -> Vec<i64> {
    (0..count).map(|_| t.w.order(t0(), district)).collect()
}

/// The lists: 50 rows unless chosen, client, master and amount columns, the zone named once in the header;
/// a just-closed order and one awaiting the commission are under "Closed"; the warranty list says what it is.
#[tokio::test]
async fn the_lists_show_fifty_rows_their_columns_and_just_closed_orders() {
    let t = start().await;
    let moscow = t.w.moscow();
    let center = t.w.district(moscow, "Центральный");
    let master = t.w.master(M::serving(moscow, &[center]));
    district_orders(&t, center, 55);
    let just_closed = t.w.closed_order(t0(), center, master, t0());
    let paying = t.w.busy_order(t0(), center, master, OrderStatus::Payment);
    let logist = t.w.staff(StaffRole::Logist, &[moscow]);
    let mut browser = t.staff_browser(&logist, "ru").await;

    let page = browser.get("/orders").await;
    assert_eq!(page.html.matches("<tr>").count() - 1, 50, "50 rows and the header");
    assert!(page.has("<option value=\"50\" selected>") && page.has("<option value=\"20\"") && page.has("<option value=\"100\""));
    for column in ["Клиент", "Мастер", "Сумма", "Визит (Europe/Moscow)"] {
        assert!(page.has(column), "{column}");
    }
    assert!(!page.has("<span class=\"muted zone\">"), "no zone on the rows of one city");
    assert_eq!(browser.get("/orders?per_page=20").await.html.matches("<tr>").count() - 1, 20);

    let closed = browser.get("/orders/closed").await;
    for id in [just_closed, paying] {
        assert!(closed.has(&format!("href=\"/orders/{id}\"")), "#{id} is under Closed");
    }
    assert!(closed.has("id=\"list-explained\""));
    let warranty = browser.get("/orders/warranty").await;
    assert!(warranty.has(&format!("href=\"/orders/{just_closed}\"")) && !warranty.has(&format!("href=\"/orders/{paying}\"")));
    assert!(warranty.has("Закрытые заказы, по которым ещё действует гарантия"), "{}", warranty.html);
}
