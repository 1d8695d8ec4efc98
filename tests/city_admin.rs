//! Cities as a global admin keeps them (issue 12 §Safe defaults): adding one with an IANA time zone and aliases,
//! deactivating and reactivating it through the page and /api/v1, each audited; a deactivated city leaves the
//! pickers for new orders and masters while its orders keep it. New master invites default to the inviter's
//! first city.

mod common;

use common::api::Api;
use common::dump::dump;
use common::t0;
use common::web::WebApp;
use fieldservice::db::DbError;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn one<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str, params: impl rusqlite::Params) -> T {
    app.db.read(|c| c.query_row(sql, params, |r| r.get(0)).map_err(DbError::from)).unwrap()
}

/// The cities and the event log: what a city action changes.
fn snapshot(app: &WebApp) -> String {
    dump(&app.db, &["sessions"]).split("\n== ").filter(|t| t.starts_with("cities ") || t.starts_with("order_events ")).collect()
}

#[tokio::test]
async fn a_global_admin_adds_a_city_with_its_zone_and_aliases_and_a_wrong_zone_is_refused() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let page = admin.get("/cities").await;
    assert!(page.has("id=\"add-city\"") && page.has("<option value=\"Asia/Yekaterinburg\">"), "{}", page.html);

    let before = snapshot(&app);
    let refused = admin.post("/cities", &[("name", "Тобольск"), ("timezone", "Asia/Nowhere"), ("aliases", "")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", &refused.html[..refused.html.len().min(3000)]);
    assert!(refused.has("id=\"city-timezone-error\"") && refused.has("value=\"Тобольск\""), "{}", refused.html);
    assert_eq!(snapshot(&app), before, "a refused city changes nothing");
    let taken = admin.post("/cities", &[("name", "москва"), ("timezone", "Europe/Moscow")]).await;
    assert!(taken.has("id=\"city-name-error\""), "{}", taken.html);

    let added = admin.post("/cities", &[("name", "Тобольск"), ("timezone", "Asia/Yekaterinburg"), ("aliases", "Тоб, Сибирская столица")]).await;
    assert_eq!(added.location.as_deref(), Some("/cities?ok=city_added"));
    let list = admin.get("/cities").await;
    assert!(list.has("Тобольск") && list.has("Тоб, Сибирская столица"), "{}", list.html);
    let api = Api::staff(&app, "admin").await;
    let (status, found) = api.get("/api/v1/cities?q=%D0%A2%D0%BE%D0%B1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found[0]["name"], "Тобольск", "the alias finds it in the pickers: {found}");
    assert_eq!(found[0]["timezone"], "Asia/Yekaterinburg");
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM order_events WHERE kind = 'city_created' AND order_id IS NULL", []), 1);
    let log = admin.get("/events").await;
    assert!(log.has("Добавлен город Тобольск (Asia/Yekaterinburg).") && log.has("Админ: "), "{}", log.html);

    let (status, made) = api.post("/api/v1/cities", json!({"name": "Нягань", "timezone": "Asia/Yekaterinburg", "aliases": ["Нягань-1"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["is_active"], true);
    let (status, bad) = api.post("/api/v1/cities", json!({"name": "Икс", "timezone": "Mars/Olympus"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
}

#[tokio::test]
async fn only_the_global_admin_manages_cities() {
    let app = WebApp::start(t0()).await;
    let before = snapshot(&app);
    for login in ["moscow", "logist"] {
        let api = Api::staff(&app, login).await;
        assert_eq!(api.post("/api/v1/cities", json!({"name": "Икс", "timezone": "Europe/Moscow"})).await.0, StatusCode::FORBIDDEN, "{login}");
        assert_eq!(api.send(Method::PATCH, "/api/v1/cities/1", Some(json!({"is_active": false}))).await.0, StatusCode::FORBIDDEN, "{login}");
        assert_eq!(api.get("/api/v1/cities/all").await.0, StatusCode::FORBIDDEN, "{login}");
    }
    let mut city_admin = app.staff("moscow").await;
    assert!(!city_admin.get("/cities").await.has("id=\"add-city\""));
    assert_eq!(city_admin.post("/cities", &[("name", "Икс"), ("timezone", "Europe/Moscow")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(city_admin.post("/cities/1/active", &[("is_active", "false")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app), before);
}

#[tokio::test]
async fn a_deactivated_city_leaves_the_pickers_but_its_orders_keep_it() {
    let app = WebApp::start(t0()).await;
    let spb: i64 = one(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'", []);
    let order: i64 = one(&app, "SELECT id FROM orders WHERE city_id = ?1 LIMIT 1", [spb]);
    let api = Api::staff(&app, "admin").await;

    let (status, city) = api.send(Method::PATCH, &format!("/api/v1/cities/{spb}"), Some(json!({"is_active": false}))).await;
    assert_eq!(status, StatusCode::OK, "{city}");
    assert_eq!(city["is_active"], false);
    let (_, pickers) = api.get("/api/v1/cities").await;
    assert!(pickers.as_array().unwrap().iter().all(|c| c["id"] != spb), "gone from the pickers");
    let (_, all) = api.get("/api/v1/cities/all").await;
    assert!(all.as_array().unwrap().iter().any(|c| c["id"] == spb && c["is_active"] == false), "{all}");
    let (status, kept) = api.get(&format!("/api/v1/orders/{order}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept["order"]["city_id"], spb, "the order keeps its city: {kept}");
    assert_eq!(kept["order"]["city"], "Санкт-Петербург");
    let mut admin = app.staff("admin").await;
    assert!(admin.get("/cities").await.has("Отключён"));
    assert!(admin.get("/events").await.has("Город Санкт-Петербург отключён"));
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM order_events WHERE kind = 'city_deactivated'", []), 1);

    // Deactivating again changes nothing and writes no second row.
    api.send(Method::PATCH, &format!("/api/v1/cities/{spb}"), Some(json!({"is_active": false}))).await;
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM order_events WHERE kind = 'city_deactivated'", []), 1);

    let back = admin.post(&format!("/cities/{spb}/active"), &[("is_active", "true")]).await;
    assert_eq!(back.location.as_deref(), Some("/cities?ok=city_reactivated"));
    let (_, pickers) = api.get("/api/v1/cities").await;
    assert!(pickers.as_array().unwrap().iter().any(|c| c["id"] == spb));
    assert_eq!(api.send(Method::PATCH, "/api/v1/cities/99999", Some(json!({"is_active": false}))).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_invite_defaults_to_the_inviters_first_city() {
    let app = WebApp::start(t0()).await;
    let first: i64 = one(&app, "SELECT MIN(sc.city_id) FROM staff_cities sc JOIN staff_users s ON s.id = sc.staff_id WHERE s.login = 'moscow'", []);
    let mut city_admin = app.staff("moscow").await;
    let page = city_admin.get("/invites").await;
    assert!(page.has(&format!("<option value=\"{first}\" selected>")), "{}", page.html);
    let mut global = app.staff("admin").await;
    assert!(global.get("/invites").await.has("<option value=\"\" selected>"), "a global admin bound to no city chooses one");
}
