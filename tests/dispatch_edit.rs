//! Issue 12, the dispatcher's day: editing an order after creation (decisions D-24), the staff's internal
//! notes, and the client's history — over the API and on the staff pages, the real app on a temporary
//! database, the clock moved by hand.

mod common;

use std::sync::Arc;

use common::dump::dump;
use common::web::{Browser, WebApp};
use common::{M, World, contract, t0};
use fieldservice::app::AppState;
use fieldservice::auth::{self as accounts, Owner};
use fieldservice::clock::ManualClock;
use fieldservice::config::Config;
use fieldservice::domain::{Category, MasterId, OfferState, OrderStatus, StaffRole};
use fieldservice::engine::{self, TickOptions};
use fieldservice::orders::NewOrder;
use fieldservice::password;
use fieldservice::staff::Staff;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

struct TestApp {
    world: World,
    clock: ManualClock,
    base: String,
    http: reqwest::Client,
    _files: tempfile::TempDir,
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
    TestApp { world, clock, base, http: reqwest::Client::new(), _files: files }
}

impl TestApp {
    fn token(&self, staff: &Staff) -> String {
        self.world.write(|tx| accounts::create_token(tx, t0(), Owner::Staff(staff.id), "test")).unwrap().1
    }

    async fn master_token(&self, master: MasterId) -> String {
        let hash = password::hash(PASSWORD);
        self.world.exec("UPDATE masters SET password_hash = ?2 WHERE id = ?1", rusqlite::params![master, hash]);
        let phone: String = self.world.scalar("SELECT phone FROM masters WHERE id = ?1", [master]);
        let (status, body) = self.call(reqwest::Method::POST, "", "/api/v1/auth/master/login", Some(json!({"phone": phone, "password": PASSWORD}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    async fn call(&self, method: reqwest::Method, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header("accept-language", "ru");
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn patch(&self, token: &str, order: i64, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PATCH, token, &format!("/api/v1/orders/{order}"), Some(body)).await
    }

    fn tick(&self) {
        use fieldservice::clock::Clock;
        let report = engine::tick(&self.world.db, self.clock.now(), TickOptions { seed: 1, max_orders: 100 }).unwrap();
        assert!(report.ran && report.errors.is_empty(), "{report:?}");
    }

    fn snapshot(&self) -> String {
        dump(&self.world.db, &["login_attempts", "sessions", "api_tokens"])
    }

    /// The context of the order's last history row.
    fn last_history(&self, order: i64) -> (String, Option<i64>, Value) {
        let (reason, staff, context): (String, Option<i64>, String) = self.world.read(|c| {
            c.query_row(
                "SELECT reason, changed_by_staff_id, context FROM order_status_history WHERE order_id = ?1 ORDER BY id DESC LIMIT 1",
                [order],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        });
        (reason, staff, serde_json::from_str(&context).unwrap())
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn change<'a>(context: &'a Value, field: &str) -> &'a Value {
    context["changes"].as_array().unwrap().iter().find(|c| c["field"] == field).unwrap_or_else(|| panic!("no change of {field}: {context}"))
}

/// Every row of D-24: what each status lets staff change, what it refuses (changing nothing), the history
/// row of an edit with old → new and the actor, and the assigned master's notice.
#[tokio::test]
async fn each_status_allows_the_fields_of_d24_and_refuses_the_rest_changing_nothing() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let center = w.district(moscow, "Центральный");
    let north = w.district(moscow, "Северный");
    let master = w.master(M::serving(moscow, &[center]).skills(&[Category::Electrics, Category::Plumbing]));
    let admin = w.staff(StaffRole::GlobalAdmin, &[]);
    let token = app.token(&admin);

    // SEARCHING: everything but the city and the type.
    let searching = w.order(t0(), center);
    let (status, body) = app
        .patch(&token, searching, json!({"category": "PLUMBING", "district_id": north, "client_name": "Анна Смирнова", "house": "7а", "description": "Течёт смеситель в ванной"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["category"].as_str(), body["district"].as_str(), body["house"].as_str()), (Some("PLUMBING"), Some("Северный"), Some("7а")));
    let (reason, actor, context) = app.last_history(searching);
    assert_eq!((reason.as_str(), actor), ("edited", Some(admin.id)));
    assert_eq!((change(&context, "category")["old"].as_str(), change(&context, "category")["new"].as_str()), (Some("ELECTRICS"), Some("PLUMBING")));
    assert_eq!((change(&context, "district")["old"].as_str(), change(&context, "district")["new"].as_str()), (Some("Центральный"), Some("Северный")));
    assert_eq!(change(&context, "client_name")["old"], "Иван Петров");
    assert_eq!(context["changes"].as_array().unwrap().len(), 5, "one row lists every changed field: {context}");
    assert_eq!(w.scalar::<i64, _>("SELECT COUNT(*) FROM order_status_history WHERE order_id = ?1 AND reason = 'edited'", [searching]), 1);
    assert_eq!(w.events(searching, "order_edited").len(), 1);
    // The same values again change nothing and write nothing.
    let rows = w.scalar::<i64, _>("SELECT COUNT(*) FROM order_status_history", []);
    let (status, _) = app.patch(&token, searching, json!({"category": "PLUMBING"})).await;
    assert_eq!((status, w.scalar::<i64, _>("SELECT COUNT(*) FROM order_status_history", [])), (StatusCode::OK, rows));

    // DEFERRED and GUARANTEE: before assignment too.
    let deferred = w.create(t0(), &NewOrder { defer: true, ..w.form(moscow, Some(center)) }).unwrap().id;
    assert_eq!(w.status(deferred), OrderStatus::Deferred);
    let (status, body) = app.patch(&token, deferred, json!({"category": "PLUMBING", "slot": "TOM:16-19"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let wakes: i64 = w.scalar("SELECT deferred_until - timeslot_start FROM orders WHERE id = ?1", [deferred]);
    assert_eq!(wakes, 0, "a deferred order wakes at its new visit window");
    let source = w.closed_order(t0() - chrono::Duration::days(3), center, master, t0() - chrono::Duration::days(2));
    let guarantee = w.guarantee(t0(), source).unwrap().id;
    let (status, body) = app.patch(&token, guarantee, json!({"district_id": north})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // ASSIGNED, EN_ROUTE, WORKING: client, address, description, slot, files — and the master is told.
    for step in [OrderStatus::Assigned, OrderStatus::EnRoute, OrderStatus::Working] {
        let order = w.busy_order(t0(), center, master, step);
        let before = app.snapshot();
        for refused in [json!({"category": "PLUMBING"}), json!({"district_id": north}), json!({"no_district": true})] {
            let (status, body) = app.patch(&token, order, refused.clone()).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"), "{step:?} {refused}");
            assert_eq!(body["error"]["message"], "Район: в этом статусе заказа не меняется".replace("Район", if refused.get("category").is_some() { "Категория" } else { "Район" }));
        }
        assert_eq!(app.snapshot(), before, "{step:?}: a refused edit changes nothing");
        let notices = w.notifications(master, "order_changed").len();
        let (status, body) = app.patch(&token, order, json!({"client_phone": "8 916 000-11-22", "apartment": "15", "slot": "TOM:10-13"})).await;
        assert_eq!(status, StatusCode::OK, "{step:?}: {body}");
        assert_eq!(body["client_phone"], "+79160001122");
        assert_eq!(w.status(order), step, "an edit never moves the status");
        let told = w.notifications(master, "order_changed");
        assert_eq!(told.len(), notices + 1, "{step:?}: the master is notified");
        assert_eq!(told.last().unwrap()["order_id"], order);
    }

    // PAYMENT: only the description and files.
    let payment = w.busy_order(t0(), center, master, OrderStatus::Payment);
    let before = app.snapshot();
    for refused in [json!({"client_name": "Пётр"}), json!({"slot": "TOM:10-13"}), json!({"house": "1"})] {
        let (status, body) = app.patch(&token, payment, refused.clone()).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"), "{refused}");
    }
    assert_eq!(app.snapshot(), before);
    let (status, _) = app.patch(&token, payment, json!({"description": "Заменить розетку и выключатель"})).await;
    assert_eq!(status, StatusCode::OK);

    // CLOSED and CANCELED: nothing.
    let canceled = w.order(t0(), center);
    w.set_status(t0(), canceled, OrderStatus::Canceled);
    let before = app.snapshot();
    for order in [source, canceled] {
        let (status, body) = app.patch(&token, order, json!({"description": "Другое описание заказа"})).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "wrong_status"), "{body}");
    }
    assert_eq!(app.snapshot(), before);
}

/// The creation rules apply to an edit; a stale version is 409; another city's order is 404 — and none
/// of them changes anything.
#[tokio::test]
async fn bad_input_a_stale_version_and_a_foreign_order_are_refused_changing_nothing() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let center = w.district(moscow, "Центральный");
    let order = w.order(t0(), center);
    let version: i64 = w.scalar("SELECT version FROM orders WHERE id = ?1", [order]);
    let token = app.token(&w.staff(StaffRole::GlobalAdmin, &[]));
    let spb = w.city("Санкт-Петербург");
    let other = app.token(&w.staff(StaffRole::Logist, &[spb]));
    let before = app.snapshot();
    for (body, field) in [
        (json!({"description": "коротко"}), "description"),
        (json!({"client_phone": "12345"}), "client_phone"),
        (json!({"client_name": "R2-D2"}), "client_name"),
        (json!({"house": "12345678901"}), "house"),
        (json!({"slot": "NOPE"}), "slot"),
        (json!({"district_id": 999_999}), "district_id"),
        (json!({"street_id": 999_999}), "street_id"),
    ] {
        let (status, answer) = app.patch(&token, order, body.clone()).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {answer}");
    }
    let (status, answer) = app.patch(&token, order, json!({"city_id": 2})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the city never changes: {answer}");
    let (status, answer) = app.patch(&token, order, json!({"version": version - 1, "description": "Новое описание заказа"})).await;
    assert_eq!((status, code(&answer)), (StatusCode::CONFLICT, "conflict"));
    let (status, _) = app.patch(&other, order, json!({"description": "Новое описание заказа"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.snapshot(), before);
    let (status, answer) = app.patch(&token, order, json!({"version": version, "description": "Новое описание заказа"})).await;
    assert_eq!((status, answer["version"].as_i64()), (StatusCode::OK, Some(version + 1)));
}

/// D-24 with D-17: a new category while an offer is open cancels the offer and starts a new cycle; the
/// next tick offers the order again — also to the master who merely had the cancelled offer.
#[tokio::test]
async fn a_category_change_with_an_open_offer_cancels_it_and_the_next_tick_offers_again_in_a_new_cycle() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let center = w.district(moscow, "Центральный");
    let master = w.master(M::serving(moscow, &[center]).skills(&[Category::Electrics, Category::Plumbing]));
    let order = w.order(t0(), center);
    app.tick();
    let first = w.open_offer(order);
    assert_eq!((first.master_id, first.dist_cycle), (master, 1));
    let token = app.token(&w.staff(StaffRole::GlobalAdmin, &[]));
    app.clock.advance(chrono::Duration::seconds(30));
    let (status, body) = app.patch(&token, order, json!({"category": "PLUMBING"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["dist_cycle"].as_i64(), body["status"].as_str()), (Some(2), Some("SEARCHING")));
    assert_eq!(w.offer(order, first.id).state, OfferState::Canceled);
    let (_, _, context) = app.last_history(order);
    assert_eq!((context["cycle"].as_i64(), context["offers_canceled"].as_i64()), (Some(2), Some(1)));
    app.clock.advance(chrono::Duration::seconds(5));
    app.tick();
    let again = w.open_offer(order);
    assert_eq!((again.master_id, again.dist_cycle, again.round_number), (master, 2, 1));
}

/// Notes: staff of the order's city read and add them; a master never sees them, neither through his
/// API nor on his pages.
#[tokio::test]
async fn notes_are_a_staff_thread_that_masters_never_see() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let center = w.district(moscow, "Центральный");
    let master = w.master(M::serving(moscow, &[center]));
    let order = w.busy_order(t0(), center, master, OrderStatus::Assigned);
    let logist = w.staff(StaffRole::Logist, &[moscow]);
    let token = app.token(&logist);
    let secret = "Клиент ругался, предложить скидку 10%";
    let (status, note) = app.call(reqwest::Method::POST, &token, &format!("/api/v1/orders/{order}/notes"), Some(json!({"text": secret}))).await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!((note["text"].as_str(), note["staff_id"].as_i64()), (Some(secret), Some(logist.id)));
    let before = app.snapshot();
    for text in [String::new(), "   ".into(), "я".repeat(2001)] {
        let (status, body) = app.call(reqwest::Method::POST, &token, &format!("/api/v1/orders/{order}/notes"), Some(json!({"text": text}))).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("text")), "{body}");
    }
    assert_eq!(app.snapshot(), before);
    let (status, _) = app.call(reqwest::Method::POST, &token, &format!("/api/v1/orders/{order}/notes"), Some(json!({"text": "я".repeat(2000)}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, notes) = app.call(reqwest::Method::GET, &token, &format!("/api/v1/orders/{order}/notes"), None).await;
    assert_eq!((status, notes.as_array().map(Vec::len)), (StatusCode::OK, Some(2)));
    assert_eq!(notes[0]["text"], secret);

    let spb = app.token(&w.staff(StaffRole::Logist, &[w.city("Санкт-Петербург")]));
    let (status, _) = app.call(reqwest::Method::GET, &spb, &format!("/api/v1/orders/{order}/notes"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mine = app.master_token(master).await;
    let (status, _) = app.call(reqwest::Method::GET, &mine, &format!("/api/v1/orders/{order}/notes"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for path in [format!("/api/v1/me/orders/{order}"), "/api/v1/me/orders".into(), "/api/v1/me/notifications".into()] {
        let (status, body) = app.call(reqwest::Method::GET, &mine, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!body.to_string().contains("скидку"), "{path} shows a staff note: {body}");
    }
}

/// The client's history by normalised phone, only in the caller's cities, newest first.
#[tokio::test]
async fn the_clients_history_is_found_by_any_spelling_of_the_phone_within_the_callers_cities() {
    let app = spawn_app().await;
    let w = &app.world;
    let moscow = w.moscow();
    let center = w.district(moscow, "Центральный");
    let spb = w.city("Санкт-Петербург");
    let master = w.master(M::serving(moscow, &[center]));
    let closed = w.closed_order(t0() - chrono::Duration::days(5), center, master, t0() - chrono::Duration::days(4));
    let current = w.order(t0(), center);
    let elsewhere = w.create(t0(), &w.form(spb, None)).unwrap().id;
    let stranger = w.create(t0(), &NewOrder { client_phone: "+79990000000".into(), ..w.form(moscow, Some(center)) }).unwrap().id;
    let ids = |body: &Value| body["orders"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect::<Vec<_>>();

    let moscow_logist = app.token(&w.staff(StaffRole::Logist, &[moscow]));
    let (status, body) = app.call(reqwest::Method::GET, &moscow_logist, "/api/v1/clients/8%20(999)%20123-45-67/orders", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phone"], "+79991234567");
    assert_eq!(ids(&body), vec![current, closed], "newest first, only Moscow's, not another client's ({stranger})");
    let closed_row = &body["orders"][1];
    assert_eq!((closed_row["status"].as_str(), closed_row["total_sum_kop"].as_i64(), closed_row["master_id"].as_i64()), (Some("CLOSED"), Some(150_000), Some(master)));

    let admin = app.token(&w.staff(StaffRole::GlobalAdmin, &[]));
    let (_, body) = app.call(reqwest::Method::GET, &admin, "/api/v1/clients/+79991234567/orders", None).await;
    assert_eq!(ids(&body), vec![elsewhere, current, closed]);
    let (status, body) = app.call(reqwest::Method::GET, &admin, "/api/v1/clients/12345/orders", None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("phone")), "{body}");
}

// --- the staff pages ---------------------------------------------------------------------------------------

fn sql(db: &fieldservice::db::Db, statement: &str) {
    db.write(|tx| -> fieldservice::error::Result<()> { Ok(tx.execute_batch(statement)?) }).unwrap();
}

fn text(db: &fieldservice::db::Db, query: &str) -> String {
    db.read(|c| -> fieldservice::error::Result<String> { Ok(c.query_row(query, [], |r| r.get(0))?) }).unwrap()
}

/// A searching demo order in Moscow, and its phone shared with a closed one (a repeat client).
fn searching_demo_order(app: &WebApp) -> (i64, i64) {
    let id: i64 = app
        .db
        .read(|c| -> fieldservice::error::Result<i64> {
            Ok(c.query_row("SELECT id FROM orders WHERE status = 'SEARCHING' AND city_id = (SELECT id FROM cities WHERE name = 'Москва') ORDER BY id LIMIT 1", [], |r| r.get(0))?)
        })
        .unwrap();
    let closed: i64 = app
        .db
        .read(|c| -> fieldservice::error::Result<i64> {
            Ok(c.query_row("SELECT id FROM orders WHERE status = 'CLOSED' AND city_id = (SELECT id FROM cities WHERE name = 'Москва') ORDER BY id LIMIT 1", [], |r| r.get(0))?)
        })
        .unwrap();
    sql(&app.db, &format!("UPDATE orders SET client_phone = (SELECT client_phone FROM orders WHERE id = {id}) WHERE id = {closed}"));
    (id, closed)
}

async fn follow(browser: &mut Browser, page: &common::web::Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    browser.get(page.location.as_deref().unwrap()).await.html
}

/// The card's Edit opens the form prefilled with the fields the status allows; saving writes the history
/// row the card then shows; a refused edit shows the form again with the message and changes nothing.
#[tokio::test]
async fn the_edit_form_is_prefilled_shows_only_what_the_status_allows_and_saves_into_the_history() {
    let app = WebApp::start(t0()).await;
    let (id, _) = searching_demo_order(&app);
    let mut logist = app.staff("logist").await;
    let card = logist.get(&format!("/orders/{id}")).await;
    assert!(card.has(&format!("href=\"/orders/{id}/edit\"")), "the card offers Edit");
    let form = logist.get(&format!("/orders/{id}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    for input in ["name=\"category\"", "name=\"district_id\"", "name=\"client_phone\"", "name=\"house\"", "name=\"slot\"", "name=\"attachments\"", "name=\"version\""] {
        assert!(form.has(input), "{input} on a searching order's form");
    }
    let description = text(&app.db, &format!("SELECT description FROM orders WHERE id = {id}"));
    assert!(form.has(description.split(' ').next().unwrap()), "prefilled with the description");

    let before = dump(&app.db, &["login_attempts", "sessions", "api_tokens"]);
    let csrf = logist.csrf(&format!("/orders/{id}/edit")).await;
    let refused = logist.post_raw(&format!("/orders/{id}/edit"), &[("csrf", &csrf), ("description", "коротко")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"description-error\"") && refused.has("коротко"), "the form again, with the message and the text kept");
    assert_eq!(dump(&app.db, &["login_attempts", "sessions", "api_tokens"]), before);

    let saved = logist.post_raw(&format!("/orders/{id}/edit"), &[("csrf", &csrf), ("category", "PLUMBING"), ("apartment", "77")]).await;
    let html = follow(&mut logist, &saved).await;
    assert!(html.contains("Изменения сохранены"));
    assert!(html.contains("Квартира:</span>") && html.contains("→ 77"), "the change is listed");
    assert!(html.contains("Категория:</span>") && html.contains("→ Сантехника"), "category old → new in the history");

    // Assigned: category and district are not on the form; the API-equivalent post of one is refused.
    sql(&app.db, &format!("UPDATE orders SET status = 'ASSIGNED', assigned_master_id = (SELECT id FROM masters ORDER BY id LIMIT 1) WHERE id = {id}"));
    let form = logist.get(&format!("/orders/{id}/edit")).await;
    assert!(!form.has("name=\"category\"") && !form.has("name=\"district_id\"") && form.has("name=\"client_phone\""));
    let refused = logist.post_raw(&format!("/orders/{id}/edit"), &[("csrf", &csrf), ("category", "WINDOWS")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("в этом статусе заказа не меняется"));
    sql(&app.db, &format!("UPDATE orders SET status = 'CLOSED' WHERE id = {id}"));
    let closed = logist.get(&format!("/orders/{id}/edit")).await;
    assert_eq!(closed.status, StatusCode::CONFLICT);
    assert!(!logist.get(&format!("/orders/{id}")).await.has(&format!("href=\"/orders/{id}/edit\"")));
}

/// The card shows the notes thread and the client's other orders (a repeat client marked); the new-order
/// form's fragment shows the same history; masters' pages never show a note.
#[tokio::test]
async fn the_card_shows_notes_and_the_clients_history_and_the_form_fragment_too() {
    let app = WebApp::start(t0()).await;
    let (id, closed) = searching_demo_order(&app);
    let mut logist = app.staff("logist").await;
    let added = logist.post(&format!("/orders/{id}/notes"), &[("text", "Перезвонить клиенту после 18:00")]).await;
    let html = follow(&mut logist, &added).await;
    assert!(html.contains("Заметка добавлена") && html.contains("Перезвонить клиенту после 18:00"));
    assert!(html.contains("Повторный клиент") && html.contains(&format!("href=\"/orders/{closed}\"")));
    let refused = logist.post(&format!("/orders/{id}/notes"), &[("text", " ")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"note-error\""));

    let phone = text(&app.db, &format!("SELECT client_phone FROM orders WHERE id = {id}"));
    let fragment = logist.get(&format!("/orders/new/client?phone={}", phone.replace('+', "%2B"))).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.has(&format!("href=\"/orders/{closed}\"")) && fragment.has("Повторный клиент"), "{}", fragment.html);
    let none = logist.get("/orders/new/client?phone=%2B79990009999").await;
    assert!(none.html.trim().is_empty());

    // A master's own job with a note on it: his pages never show the note.
    let (job, phone): (i64, String) = app
        .db
        .read(|c| -> fieldservice::error::Result<(i64, String)> {
            Ok(c.query_row(
                "SELECT o.id, m.phone FROM orders o JOIN masters m ON m.id = o.assigned_master_id WHERE o.status = 'ASSIGNED' ORDER BY o.id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    let added = logist.post(&format!("/orders/{job}/notes"), &[("text", "Секрет: клиент конфликтный")]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let mut master = app.master(&phone).await;
    for path in [format!("/m/orders/{job}"), "/m/orders".into(), "/m".into(), "/m/notifications".into()] {
        let page = master.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.has("Секрет"), "{path} shows a staff note");
    }

}
