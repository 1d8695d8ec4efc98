//! The staff side of finance over HTTP on the demo data set (product.md §4.4–§4.5, decisions §B.6, §B.17,
//! §B.20): the list's filters, search and counts by role and city; bulk approval ("approved n, failed m",
//! one failure keeping the others, global admins only); blocking the master from the commission card; the
//! overdue alert, once and to the admins of the city only; the money on the order and master cards; and
//! migration 3 keeping the alerts and their recipients of an older database.

mod common;

use chrono::Duration;
use common::dump::dump;
use common::t0;
use common::web::WebApp;
use fieldservice::db::{Db, Durability, ms};
use fieldservice::demo::PASSWORD;
use fieldservice::error::Error;
use fieldservice::money::watchdogs;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str) -> T {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn ids(app: &WebApp, sql: &str) -> Vec<i64> {
    app.db.read(|c| c.prepare(sql)?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>().map_err(Error::from)).unwrap()
}

fn exec(app: &WebApp, sql: &str) {
    app.db.write(|tx| tx.execute_batch(sql)).unwrap();
}

fn state(app: &WebApp) -> String {
    dump(&app.db, &["sessions", "login_attempts"])
}

/// A staff JSON client: the session cookie and its CSRF token.
struct Api {
    base: String,
    cookie: String,
    csrf: String,
    http: reqwest::Client,
}

impl Api {
    async fn staff(app: &WebApp, login: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http.post(format!("{}/api/v1/auth/staff/login", app.base)).json(&json!({"login": login, "password": PASSWORD})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        Self { base: app.base.clone(), cookie, csrf: body["csrf_token"].as_str().unwrap().to_string(), http }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response =
            self.http.post(format!("{}{path}", self.base)).header("cookie", &self.cookie).header("x-csrf-token", &self.csrf).json(&body).send().await.unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }
}

/// The unpaid commissions of Moscow orders (the `moscow` city admin's).
const MOSCOW_WAIT_PAY: &str = "FROM commissions c JOIN orders o ON o.id = c.order_id JOIN cities ci ON ci.id = o.city_id WHERE ci.name = 'Москва' AND c.status = 'WAIT_PAY'";

fn counts(list: &Value) -> i64 {
    list["counts"].as_array().unwrap().iter().map(|c| c["count"].as_i64().unwrap()).sum()
}

fn item_ids(list: &Value) -> Vec<i64> {
    list["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn filters_search_and_counts_follow_the_role_and_the_city() {
    let app = WebApp::start(t0()).await;
    let total: i64 = scalar(&app, "SELECT COUNT(*) FROM commissions");
    assert!(total >= 3, "the demo has commissions");
    // One commission moves to Saint Petersburg and two months back.
    let far: i64 = scalar(&app, "SELECT MAX(id) FROM commissions");
    let (status, master): (String, i64) = app.db.read(|c| c.query_row("SELECT status, master_id FROM commissions WHERE id = ?1", [far], |r| Ok((r.get(0)?, r.get(1)?))).map_err(Error::from)).unwrap();
    let spb: i64 = scalar(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'");
    exec(&app, &format!(
        "UPDATE orders SET city_id = {spb} WHERE id = (SELECT order_id FROM commissions WHERE id = {far});
         UPDATE commissions SET created_at = {} WHERE id = {far};",
        ms(t0() - Duration::days(60))
    ));

    let admin = Api::staff(&app, "admin").await;
    let (code, all) = admin.get("/api/v1/commissions").await;
    assert_eq!((code, counts(&all)), (StatusCode::OK, total), "{all}");
    let in_city = |name: &str| format!("SELECT COUNT(*) FROM commissions c JOIN orders o ON o.id = c.order_id JOIN cities ci ON ci.id = o.city_id WHERE ci.name = '{name}'");
    let (spb_total, moscow_total): (i64, i64) = (scalar(&app, &in_city("Санкт-Петербург")), scalar(&app, &in_city("Москва")));
    let (_, spb_only) = admin.get(&format!("/api/v1/commissions?status={status}&city_id={spb}")).await;
    assert!(item_ids(&spb_only).contains(&far));
    assert_eq!(counts(&spb_only), spb_total, "the counts honour the city filter");
    let (_, one) = admin.get(&format!("/api/v1/commissions?status={status}&city_id={spb}&q={far}")).await;
    assert_eq!((item_ids(&one), counts(&one)), (vec![far], 1));
    assert_eq!(one["groups"], json!([{"period": "older", "count": 1}]));
    let (_, searched) = admin.get(&format!("/api/v1/commissions?status={status}&q=%23{far}")).await;
    assert_eq!((item_ids(&searched), counts(&searched)), (vec![far], 1));
    let order: i64 = scalar(&app, &format!("SELECT order_id FROM commissions WHERE id = {far}"));
    let (_, by_order) = admin.get(&format!("/api/v1/commissions?status={status}&q={order}")).await;
    assert!(item_ids(&by_order).contains(&far), "an order id finds its commission");
    let (_, today) = admin.get(&format!("/api/v1/commissions?status={status}&period=today")).await;
    assert!(!item_ids(&today).contains(&far));
    let (_, older) = admin.get(&format!("/api/v1/commissions?status={status}&period=older")).await;
    assert_eq!(item_ids(&older), vec![far]);
    let (_, his) = admin.get(&format!("/api/v1/commissions?master_id={master}")).await;
    let his_total: i64 = scalar(&app, &format!("SELECT COUNT(*) FROM commissions WHERE master_id = {master}"));
    assert_eq!(counts(&his), his_total);
    let (code, refused) = admin.get("/api/v1/commissions?q=abc").await;
    assert_eq!((code, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("q")));

    // The Moscow admin never sees it, not even in the counts, nor by its city.
    let moscow = Api::staff(&app, "moscow").await;
    let (_, mine) = moscow.get("/api/v1/commissions").await;
    assert_eq!(counts(&mine), moscow_total);
    let (_, probe) = moscow.get(&format!("/api/v1/commissions?status={status}&q={far}")).await;
    assert_eq!((item_ids(&probe), counts(&probe)), (vec![], 0));
    assert_eq!(moscow.get(&format!("/api/v1/commissions?city_id={spb}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(Api::staff(&app, "logist").await.get("/api/v1/commissions").await.0, StatusCode::FORBIDDEN);

    // The pages: grouped, filtered, searched.
    let mut admin_page = app.staff("admin").await;
    let page = admin_page.get(&format!("/finance?status={status}&city_id={spb}&q={far}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("id=\"group-older\"") && page.has(&format!("href=\"/finance/{far}\"")) && page.has(&format!("<option value=\"{spb}\" selected>")), "{}", page.html);
    assert!(page.has(&format!("id=\"count-{status}\">1<")), "{}", page.html);
    let refused = admin_page.get("/finance?q=abc").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"q-error\"") && refused.has("value=\"abc\""), "{}", refused.html);
    let mut moscow_page = app.staff("moscow").await;
    let page = moscow_page.get(&format!("/finance?status={status}&q={far}")).await;
    assert!(!page.has(&format!("href=\"/finance/{far}\"")) && page.has(&format!("id=\"count-{status}\">0<")), "{}", page.html);
    assert!(!page.has("Санкт-Петербург") && !page.has("id=\"bulk-form\""), "no foreign city to choose, no bulk approval");
    assert_eq!(moscow_page.get(&format!("/finance?city_id={spb}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bulk_approval_reports_n_and_m_and_one_failure_keeps_the_others() {
    let app = WebApp::start(t0()).await;
    // The unpaid one (its order in PAYMENT) and two approved ones made unpaid again.
    let good: i64 = scalar(&app, "SELECT id FROM commissions WHERE status <> 'APPROVED' ORDER BY id LIMIT 1");
    let approved = ids(&app, "SELECT id FROM commissions WHERE status = 'APPROVED' ORDER BY id");
    assert!(approved.len() >= 2, "the demo has approved commissions: {approved:?}");
    let (broken, waiting) = (approved[0], approved[1]);
    exec(&app, &format!(
        "UPDATE commissions SET created_at = {old};
         UPDATE commissions SET paid_amount_kop = NULL, paid_approved_at = NULL, approved_by_staff_id = NULL, is_paid = 0 WHERE id IN ({broken}, {waiting});
         UPDATE commissions SET status = 'REPORTED', created_at = {now} WHERE id IN ({good}, {broken});
         UPDATE commissions SET status = 'WAIT_PAY', created_at = {now} WHERE id = {waiting};
         UPDATE orders SET status = 'CANCELED' WHERE id = (SELECT order_id FROM commissions WHERE id = {broken});",
        old = ms(t0() - Duration::days(20)),
        now = ms(t0()),
    ));

    let before = state(&app);
    for login in ["moscow", "logist"] {
        let api = Api::staff(&app, login).await;
        assert_eq!(api.post("/api/v1/commissions/bulk-approve", json!({"days": 1})).await.0, StatusCode::FORBIDDEN, "{login}");
        let mut page = app.staff(login).await;
        assert_eq!(page.get("/finance/bulk-approve?days=1&statuses=REPORTED").await.status, StatusCode::FORBIDDEN);
        assert_eq!(page.post("/finance/bulk-approve", &[("days", "1"), ("statuses", "REPORTED")]).await.status, StatusCode::FORBIDDEN);
    }
    let admin = Api::staff(&app, "admin").await;
    let (code, refused) = admin.post("/api/v1/commissions/bulk-approve", json!({"days": 5})).await;
    assert_eq!((code, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("days")));
    let (code, refused) = admin.post("/api/v1/commissions/bulk-approve", json!({"days": 3, "statuses": ["OVERDUE"]})).await;
    assert_eq!((code, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("statuses")));
    assert_eq!(state(&app), before, "refused input changes nothing");

    // REPORTED by default: the good one is approved and its order closed, the broken one named.
    let (code, outcome) = admin.post("/api/v1/commissions/bulk-approve", json!({"days": 1})).await;
    assert_eq!(code, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["approved"], json!([good]));
    assert_eq!(outcome["failed"].as_array().unwrap().len(), 1);
    assert_eq!((outcome["failed"][0]["commission_id"].as_i64(), outcome["failed"][0]["code"].as_str()), (Some(broken), Some("wrong_status")));
    let status_of = |id: i64| scalar::<String>(&app, &format!("SELECT status FROM commissions WHERE id = {id}"));
    assert_eq!((status_of(good), status_of(broken), status_of(waiting)), ("APPROVED".into(), "REPORTED".into(), "WAIT_PAY".into()));
    assert_eq!(scalar::<String>(&app, &format!("SELECT o.status FROM orders o JOIN commissions c ON c.order_id = o.id WHERE c.id = {good}")), "CLOSED");
    assert_eq!(scalar::<i64>(&app, "SELECT COUNT(*) FROM admin_audit_log WHERE action = 'bulk_approve_commissions'"), 1);

    // Through the pages, with WAIT_PAY ticked: a preview, then the confirmed run.
    let mut page = app.staff("admin").await;
    assert!(page.get("/finance").await.has("id=\"bulk-form\""));
    let preview = page.get("/finance/bulk-approve?days=1&statuses=REPORTED&statuses=WAIT_PAY").await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.has("id=\"bulk-submit\"") && preview.has("Подтвердить 2") && preview.has("data-confirm="), "{}", preview.html);
    let done = page.post("/finance/bulk-approve", &[("days", "1"), ("statuses", "REPORTED"), ("statuses", "WAIT_PAY")]).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.has("Подтверждено: 1, ошибок: 1.") && done.has(&format!("data-commission-id=\"{broken}\"")), "{}", done.html);
    assert_eq!(status_of(waiting), "APPROVED");
}

#[tokio::test]
async fn the_commission_card_blocks_the_master_with_a_reason() {
    let app = WebApp::start(t0()).await;
    let id: i64 = scalar(&app, &format!("SELECT c.id {MOSCOW_WAIT_PAY} AND EXISTS (SELECT 1 FROM masters m WHERE m.id = c.master_id AND m.is_blocked = 0) LIMIT 1"));
    let master: i64 = scalar(&app, &format!("SELECT master_id FROM commissions WHERE id = {id}"));
    let mut admin = app.staff("moscow").await;
    let card = admin.get(&format!("/finance/{id}")).await;
    assert!(card.has("id=\"master-not-blocked\"") && card.has("id=\"block-submit\""), "{}", card.html);

    let before = state(&app);
    let refused = admin.post(&format!("/finance/{id}/block"), &[("reason", "  ")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"block-reason-error\""), "{}", refused.html);
    assert_eq!(admin.post_raw(&format!("/finance/{id}/block"), &[("reason", "не платит")]).await.status, StatusCode::FORBIDDEN, "CSRF");
    assert_eq!(state(&app), before);

    let blocked = admin.post(&format!("/finance/{id}/block"), &[("reason", "не платит комиссию")]).await;
    assert_eq!(blocked.location, Some(format!("/finance/{id}?ok=master_block")), "{}", blocked.html);
    let row: (bool, String) = app.db.read(|c| c.query_row("SELECT is_blocked, blocked_reason FROM masters WHERE id = ?1", [master], |r| Ok((r.get(0)?, r.get(1)?))).map_err(Error::from)).unwrap();
    assert_eq!(row, (true, "не платит комиссию".to_string()));
    assert_eq!(scalar::<i64>(&app, &format!("SELECT COUNT(*) FROM admin_audit_log WHERE action = 'block_master' AND master_id = {master}")), 1);
    let card = admin.get(&format!("/finance/{id}")).await;
    assert!(card.has("id=\"master-blocked\"") && card.has("не платит комиссию") && !card.has("id=\"block-submit\""), "{}", card.html);

    // Outside his cities the card and the action are "not found".
    exec(&app, &format!("UPDATE orders SET city_id = (SELECT id FROM cities WHERE name = 'Санкт-Петербург') WHERE id = (SELECT order_id FROM commissions WHERE id = {id})"));
    assert_eq!(admin.post(&format!("/finance/{id}/block"), &[("reason", "ещё раз")]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_overdue_commission_alerts_the_admins_of_its_city_once() {
    let app = WebApp::start(t0()).await;
    let id: i64 = scalar(&app, &format!("SELECT c.id {MOSCOW_WAIT_PAY} ORDER BY c.id LIMIT 1"));
    let deadline: i64 = scalar(&app, &format!("SELECT deadline_at FROM commissions WHERE id = {id}"));
    let spb: i64 = scalar(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'");
    let _spb_admin = app.db.write(|tx| fieldservice::staff::create(tx, t0(), "spbadmin", "x", fieldservice::domain::StaffRole::CityAdmin, "Пётр", &[spb])).unwrap();
    let late = fieldservice::db::at(deadline) + Duration::minutes(1);
    for run in 0..2 {
        app.db.write(|tx| watchdogs::run(tx, late + Duration::minutes(run)).map_err(Error::from)).unwrap();
    }
    let alerts = ids(&app, &format!("SELECT id FROM staff_alerts WHERE kind = 'commission_overdue' AND json_extract(payload, '$.commission_id') = {id}"));
    assert_eq!(alerts.len(), 1, "one alert, however often the watchdog runs");
    let recipients: Vec<String> = app
        .db
        .read(|c| {
            c.prepare("SELECT s.login FROM staff_alert_recipients r JOIN staff_users s ON s.id = r.staff_id WHERE r.alert_id = ?1 ORDER BY s.login")?
                .query_map([alerts[0]], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
                .map_err(Error::from)
        })
        .unwrap();
    assert_eq!(recipients, ["admin", "moscow"], "the global admin and the city's admin; not the logist, not another city's admin");

    let mut moscow = app.staff("moscow").await;
    let feed = moscow.get("/alerts").await;
    assert!(feed.has("Просрочка комиссии") && feed.has(&format!("href=\"/finance/{id}\"")) && feed.has(&format!("Комиссия #{id}")), "{}", feed.html);
    moscow.get("/lang/en?back=%2Falerts").await;
    let feed = moscow.get("/alerts").await;
    assert!(feed.has("Commission overdue") && feed.has(&format!("Commission #{id}")) && feed.has("Open the commission"), "{}", feed.html);
    let mut logist = app.staff("logist").await;
    assert!(!logist.get("/alerts").await.has(&format!("href=\"/finance/{id}\"")));
    let card = moscow.get(&format!("/finance/{id}")).await;
    assert!(card.has("id=\"master-blocked\"") && card.has("commission payment overdue"), "{}", card.html);
}

#[tokio::test]
async fn the_order_and_master_cards_show_the_money_to_admins_only() {
    let app = WebApp::start(t0()).await;
    let (id, order, master): (i64, i64, i64) =
        app.db.read(|c| c.query_row(&format!("SELECT c.id, c.order_id, c.master_id {MOSCOW_WAIT_PAY} ORDER BY c.id LIMIT 1"), [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(Error::from)).unwrap();
    exec(&app, &format!("UPDATE commissions SET status = 'OVERDUE' WHERE id = {id}"));
    let mut admin = app.staff("moscow").await;
    let order_card = admin.get(&format!("/orders/{order}")).await;
    assert!(order_card.has(&format!("href=\"/finance/{id}\"")) && order_card.has("id=\"order-commission-deadline\"") && order_card.has("Просрочена"), "{}", order_card.html);
    let master_card = admin.get(&format!("/masters/{master}")).await;
    assert!(master_card.has("id=\"master-money\"") && master_card.has("id=\"master-owed\"") && master_card.has("id=\"master-overdue\""), "{}", master_card.html);
    assert!(master_card.has(&format!("href=\"/finance/{id}\"")) && master_card.has("id=\"master-commissions\""), "{}", master_card.html);
    let mut logist = app.staff("logist").await;
    assert!(!logist.get(&format!("/masters/{master}")).await.has("id=\"master-money\""), "a logist sees no money");
    assert!(!logist.get(&format!("/orders/{order}")).await.has("id=\"order-commission\""));
}

/// A database of schema 2 holding an alert with two recipients (one read) upgrades to 3 with both rows kept,
/// the foreign keys valid and the new kind accepted.
#[test]
fn migration_3_keeps_the_alerts_and_their_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../schema.sql")).unwrap();
        conn.execute_batch(include_str!("../src/db/migrations/0002_citywide_orders.sql")).unwrap();
        conn.execute_batch(
            "INSERT INTO staff_users (id, login, password_hash, full_name, role, created_at, updated_at) VALUES (1, 'aa', 'h', 'A', 'GLOBAL_ADMIN', 0, 0), (2, 'bb', 'h', 'B', 'GLOBAL_ADMIN', 0, 0);
             INSERT INTO staff_alerts (id, kind, payload, created_at) VALUES (7, 'unassigned_backlog', '{\"count\":3}', 5);
             INSERT INTO staff_alert_recipients (alert_id, staff_id, read_at) VALUES (7, 1, NULL), (7, 2, 9);
             PRAGMA user_version = 2;",
        )
        .unwrap();
        assert!(conn.execute("INSERT INTO staff_alerts (kind, created_at) VALUES ('commission_overdue', 1)", []).is_err(), "the old CHECK refuses the kind");
    }
    let db = Db::open(&path, Durability::Normal).unwrap();
    db.write(|tx| -> Result<(), Error> {
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        assert_eq!(version, fieldservice::db::SCHEMA_VERSION);
        let rows: Vec<(i64, i64, Option<i64>)> = tx
            .prepare("SELECT alert_id, staff_id, read_at FROM staff_alert_recipients ORDER BY staff_id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        assert_eq!(rows, [(7, 1, None), (7, 2, Some(9))]);
        assert_eq!(tx.query_row("SELECT payload FROM staff_alerts WHERE id = 7", [], |r| r.get::<_, String>(0))?, "{\"count\":3}");
        let broken: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        assert_eq!(broken, 0);
        let parent: String = tx.query_row("SELECT \"table\" FROM pragma_foreign_key_list('staff_alert_recipients') WHERE \"from\" = 'alert_id'", [], |r| r.get(0))?;
        assert_eq!(parent, "staff_alerts");
        let indexes: i64 = tx.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('staff_alerts_order', 'staff_alerts_created', 'staff_alert_recipients_staff')", [], |r| r.get(0))?;
        assert_eq!(indexes, 3);
        tx.execute("INSERT INTO staff_alerts (id, kind, created_at) VALUES (8, 'commission_overdue', 1)", [])?;
        tx.execute("INSERT INTO staff_alert_recipients (alert_id, staff_id) VALUES (8, 1)", [])?;
        // The foreign key is live: deleting an alert removes its recipients, an unknown alert is refused.
        tx.execute("DELETE FROM staff_alerts WHERE id = 7", [])?;
        assert_eq!(tx.query_row("SELECT COUNT(*) FROM staff_alert_recipients WHERE alert_id = 7", [], |r| r.get::<_, i64>(0))?, 0);
        assert!(tx.execute("INSERT INTO staff_alert_recipients (alert_id, staff_id) VALUES (99, 1)", []).is_err());
        Ok(())
    })
    .unwrap();
}
