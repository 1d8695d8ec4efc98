//! The administration pages: staff, settings, alerts, the live event log, cities and districts.

mod common;

use common::dump::dump;
use common::t0;
use common::web::{Browser, WebApp};
use fieldservice::db::DbError;
use reqwest::StatusCode;
use serde_json::json;

/// The one value `sql` selects.
fn one<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str, params: impl rusqlite::Params) -> T {
    app.db.read(|c| c.query_row(sql, params, |r| r.get(0)).map_err(DbError::from)).unwrap()
}

/// Everything but the sessions (each request slides its session).
fn snapshot(app: &WebApp) -> String {
    dump(&app.db, &["sessions"])
}

fn staff_id(app: &WebApp, login: &str) -> i64 {
    one(app, "SELECT id FROM staff_users WHERE login = ?1", [login])
}

fn city_id(app: &WebApp, name: &str) -> i64 {
    one(app, "SELECT id FROM cities WHERE name = ?1", [name])
}

/// The password shown once on a staff page.
fn shown_password(html: &str) -> String {
    let at = html.find("id=\"new-password\">").expect("a password is shown") + "id=\"new-password\">".len();
    html[at..].split('<').next().unwrap().to_string()
}

async fn sign_in(app: &WebApp, login: &str, password: &str) -> StatusCode {
    let mut browser: Browser = app.anonymous();
    browser.post_raw("/login", &[("login", login), ("password", password)]).await.status
}

#[tokio::test]
async fn staff_and_settings_are_for_the_global_admin_only() {
    let app = WebApp::start(t0()).await;
    for login in ["logist", "moscow"] {
        let mut browser = app.staff(login).await;
        for path in ["/staff", "/settings"] {
            let page = browser.get(path).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{login} on {path}");
            assert!(page.has("Недостаточно прав"));
        }
        let before = snapshot(&app);
        assert_eq!(browser.post("/settings", &[("distribution_rounds", "5")]).await.status, StatusCode::FORBIDDEN);
        assert_eq!(browser.post("/staff", &[("login", "intruder"), ("role", "GLOBAL_ADMIN")]).await.status, StatusCode::FORBIDDEN);
        assert_eq!(snapshot(&app), before);
    }
    let mut admin = app.staff("admin").await;
    let staff = admin.get("/staff").await;
    assert_eq!(staff.status, StatusCode::OK);
    assert!(staff.has("logist") && staff.has("moscow") && staff.has("Москва, Санкт-Петербург") && staff.has("(вы)"), "{}", staff.html);
    assert!(admin.get("/settings").await.has("value=\"120\""));

    // The administration pages sit under one menu of the top bar; a logist, with one of them, has no menu.
    assert!(staff.has("id=\"nav-admin\"") && staff.has("<summary class=\"current\">Управление</summary>"), "{}", staff.html);
    let board = app.staff("logist").await.get("/").await;
    assert!(!board.has("id=\"nav-admin\"") && board.has("href=\"/events\""), "{}", board.html);

    // Safe defaults in the add form: the least powerful role, and no city until the admin picks one.
    let form = staff.html.split("action=\"/staff\" class=\"card form\"").nth(1).expect("the add form");
    assert!(form.contains("<option value=\"LOGIST\" selected>"), "{form}");
    assert!(!form.contains("checked"), "no city chosen in advance: {form}");
    assert!(form.contains("type=\"checkbox\" name=\"city_ids\"") && form.contains("data-filter-list=\"city_ids-list\""), "{form}");
}

#[tokio::test]
async fn a_staff_member_is_added_with_a_password_made_up_and_shown_once() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let moscow = city_id(&app, "Москва").to_string();
    let added = admin.post("/staff", &[("login", "Dispatcher2"), ("full_name", "Орлова Анна"), ("role", "LOGIST"), ("city_ids", &moscow), ("password", "")]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.html);
    let password = shown_password(&added.html);
    assert_eq!(password.len(), 16);
    assert!(added.has("dispatcher2") && added.has("Орлова Анна"));
    assert_eq!(sign_in(&app, "dispatcher2", &password).await, StatusCode::SEE_OTHER);
    assert!(!admin.get("/staff").await.has(&password), "shown once");

    let typed = admin.post("/staff", &[("login", "cityboss"), ("role", "CITY_ADMIN"), ("city_ids", &moscow), ("password", "long enough 1")]).await;
    assert_eq!(typed.location.as_deref(), Some("/staff?ok=staff_added"));
    assert_eq!(sign_in(&app, "cityboss", "long enough 1").await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_bad_new_staff_member_is_refused_beside_the_field_with_the_form_kept() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let before = snapshot(&app);
    let no_city = admin.post("/staff", &[("login", "nocity"), ("full_name", "Без Города"), ("role", "LOGIST")]).await;
    assert_eq!(no_city.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_city.has("id=\"city_ids-error\""), "{}", no_city.html);
    assert!(no_city.has("value=\"nocity\"") && no_city.has("value=\"Без Города\""));
    let taken = admin.post("/staff", &[("login", "logist"), ("role", "GLOBAL_ADMIN")]).await;
    assert!(taken.has("id=\"login-error\""), "{}", taken.html);
    let short = admin.post("/staff", &[("login", "shorty"), ("role", "GLOBAL_ADMIN"), ("password", "short")]).await;
    assert!(short.has("id=\"password-error\""), "{}", short.html);
    assert_eq!(snapshot(&app), before);
}

#[tokio::test]
async fn nobody_deactivates_himself_and_a_deactivated_member_is_refused_until_activated() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let me = staff_id(&app, "admin");
    assert!(!admin.get("/staff").await.has(&format!("action=\"/staff/{me}/deactivate\"")), "no button for himself");
    let before = snapshot(&app);
    let refused = admin.post(&format!("/staff/{me}/deactivate"), &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.has("вы не можете заблокировать себя"), "{}", refused.html);
    assert_eq!(snapshot(&app), before);

    let mut logist = app.staff("logist").await;
    let id = staff_id(&app, "logist");
    let done = admin.post(&format!("/staff/{id}/deactivate"), &[]).await;
    assert_eq!(done.location.as_deref(), Some("/staff?ok=staff_deactivated"));
    assert!(!one::<bool>(&app, "SELECT is_active FROM staff_users WHERE id = ?1", [id]));
    assert_ne!(logist.get("/").await.status, StatusCode::OK, "his session is refused");
    admin.post(&format!("/staff/{id}/activate"), &[]).await;
    assert!(one::<bool>(&app, "SELECT is_active FROM staff_users WHERE id = ?1", [id]));
    assert_eq!(sign_in(&app, "logist", "demo").await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn cities_are_changed_and_a_password_reset_ends_the_sessions() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let id = staff_id(&app, "logist");
    let spb = city_id(&app, "Санкт-Петербург");
    let empty = admin.post(&format!("/staff/{id}/cities"), &[]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.has(&format!("id=\"cities-{id}-error\"")), "{}", empty.html);
    admin.post(&format!("/staff/{id}/cities"), &[("city_ids", &spb.to_string())]).await;
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM staff_cities WHERE staff_id = ?1", [id]), 1);
    assert!(admin.get("/staff").await.has("<td>Санкт-Петербург</td>"));

    let mut logist = app.staff("logist").await;
    let reset = admin.post(&format!("/staff/{id}/password"), &[]).await;
    assert_eq!(reset.status, StatusCode::OK);
    let password = shown_password(&reset.html);
    assert_eq!(logist.get("/").await.status, StatusCode::SEE_OTHER, "his session ended");
    assert_eq!(sign_in(&app, "logist", "demo").await, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&app, "logist", &password).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn bad_settings_are_shown_beside_their_fields_and_nothing_is_saved() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let before = snapshot(&app);
    let fields = [
        ("working_hours_start", "10:00"),
        ("working_hours_end", "20:00"),
        ("distribution_tick_seconds", "15"),
        ("distribution_sla_seconds", "5"),
        ("distribution_rounds", "3"),
        ("escalate_to_admin_after_min", "10"),
        ("distribution_log_topn", "10"),
        ("no_candidates_grace_seconds", "120"),
        ("citywide_fallback", "false"),
        ("guarantee_autoblock_on_refusal", "false"),
        ("max_active_orders", "5"),
        ("support_contact", "+7 495 000-00-00"),
        ("support_faq_url", ""),
        ("commission_rate_percent", "50"),
        ("commission_high_rate_percent", "40"),
        ("commission_high_threshold_kop", "7 000"),
        ("commission_deadline_hours", "3"),
        ("unblock_on_commission_paid", "true"),
    ];
    let refused = admin.post("/settings", &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"distribution_sla_seconds-error\"") && refused.has("от 10 до 3600"), "{}", refused.html);
    assert!(refused.has("value=\"5\"") && refused.has("value=\"3\"") && refused.has("value=\"+7 495 000-00-00\""), "typed values kept");
    let mut late = fields.to_vec();
    late[0] = ("working_hours_start", "21:00");
    late[3] = ("distribution_sla_seconds", "120");
    let hours = admin.post("/settings", &late).await;
    assert!(hours.has("id=\"working_hours_end-error\""), "{}", hours.html);
    assert_eq!(admin.post_raw("/settings", &[("distribution_rounds", "4")]).await.status, StatusCode::FORBIDDEN, "no CSRF token");
    let mut script = good_sla(&fields);
    script[12] = ("support_faq_url", "javascript:alert(1)");
    let link = admin.post("/settings", &script).await;
    assert_eq!(link.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(link.has("id=\"support_faq_url-error\"") && link.has("https://"), "{}", link.html);
    assert_eq!(snapshot(&app), before);

    let good = good_sla(&fields);
    let saved = admin.post("/settings", &good).await;
    assert_eq!(saved.location.as_deref(), Some("/settings?ok=settings_saved"));
    let stored = |key: &str| one::<String>(&app, "SELECT value FROM settings WHERE key = ?1", [key]);
    assert_eq!((stored("distribution_sla_seconds"), stored("distribution_rounds"), stored("citywide_fallback")), ("180".into(), "3".into(), "false".into()));
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM settings WHERE key = 'no_candidates_grace_seconds'", []), 0, "untouched: it follows the SLA");
    let page = admin.get("/settings?ok=settings_saved").await;
    assert!(page.has("Настройки сохранены.") && page.has("value=\"180\"") && !page.has("id=\"citywide_fallback\" name=\"citywide_fallback\" value=\"true\" checked"));
}

/// The settings form of the test above with a valid SLA.
fn good_sla<'a>(fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut good = fields.to_vec();
    good[3] = ("distribution_sla_seconds", "180");
    good
}

/// Raises an escalation alert for the first Moscow order, to Moscow's dispatchers and admins.
fn raise_alert(app: &WebApp) -> (i64, i64) {
    let moscow = city_id(app, "Москва");
    let order: i64 = one(app, "SELECT id FROM orders WHERE city_id = ?1 ORDER BY id LIMIT 1", [moscow]);
    let alert = app
        .db
        .write(|tx| {
            let recipients = fieldservice::alerts::logist_recipients(tx, moscow)?;
            fieldservice::alerts::raise(tx, t0(), "escalation_logist", Some(order), Some(moscow), &json!({"reason": "no_candidates", "category": "PLUMBING"}), &recipients)
        })
        .unwrap();
    (order, alert)
}

#[tokio::test]
async fn the_alert_feed_links_to_orders_and_is_marked_read() {
    let app = WebApp::start(t0()).await;
    let (order, alert) = raise_alert(&app);
    app.db.write(|tx| fieldservice::alerts::raise(tx, t0(), "unassigned_backlog", None, Some(city_id(&app, "Москва")), &json!({"count": 3}), &[staff_id(&app, "logist")])).unwrap();
    let mut logist = app.staff("logist").await;
    let feed = logist.get("/alerts").await;
    assert_eq!(feed.status, StatusCode::OK);
    assert!(feed.has("Эскалация логистам") && feed.has(&format!("href=\"/orders/{order}\"")) && feed.has("нет доступных мастеров"), "{}", feed.html);
    assert!(feed.has("Незакреплённые заявки: 3") && feed.has("10.03.2026 12:00 (Europe/Moscow)"), "{}", feed.html);
    assert!(feed.has("id=\"alerts-badge\""));

    let before = snapshot(&app);
    assert_eq!(logist.post_raw(&format!("/alerts/{alert}/read"), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app), before);
    let read = logist.post(&format!("/alerts/{alert}/read"), &[]).await;
    assert_eq!(read.location.as_deref(), Some("/alerts?ok=alert_read"));
    let id = staff_id(&app, "logist");
    assert!(one::<bool>(&app, "SELECT read_at IS NOT NULL FROM staff_alert_recipients WHERE alert_id = ?1 AND staff_id = ?2", [alert, id]));
    assert!(!logist.get("/alerts?unread=1").await.has("Эскалация логистам"));
    logist.post("/alerts/read-all", &[]).await;
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM staff_alert_recipients WHERE staff_id = ?1 AND read_at IS NULL", [id]), 0);
    assert!(!logist.get("/alerts").await.has("id=\"alerts-badge\""));
}

#[tokio::test]
async fn the_event_log_shows_the_staff_members_cities_and_only_the_global_admin_clears_it() {
    let app = WebApp::start(t0()).await;
    let spb_order: i64 = one(&app, "SELECT e.order_id FROM order_events e JOIN orders o ON o.id = e.order_id JOIN cities c ON c.id = o.city_id WHERE c.name = 'Санкт-Петербург' LIMIT 1", []);
    let mut moscow = app.staff("moscow").await;
    let own = moscow.get("/events").await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.has("title=\"Europe/Moscow\"") && !own.has(&format!("href=\"/orders/{spb_order}\"")), "{}", own.html);
    assert!(!own.has("action=\"/events/clear\""));
    let mut logist = app.staff("logist").await;
    assert!(logist.get("/events").await.has(&format!("href=\"/orders/{spb_order}\"")));
    let engine = logist.get("/events?source=engine").await;
    assert!(engine.has("распределение") && !engine.has("<td>персонал</td>"), "{}", engine.html);

    let before = snapshot(&app);
    assert_eq!(logist.post("/events/clear", &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app), before);
    let mut admin = app.staff("admin").await;
    assert!(admin.get("/events").await.has("data-confirm="));
    let kept: i64 = one(&app, "SELECT COUNT(*) FROM order_events", []);
    let cleared = admin.post("/events/clear", &[]).await;
    assert_eq!(cleared.location.as_deref(), Some("/events?ok=events_cleared"));
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM order_events", []), kept, "the order cards keep their events");
    assert_eq!(one::<i64>(&app, "SELECT COUNT(*) FROM admin_audit_log WHERE action = 'clear_event_log'", []), 1);
    assert!(admin.get("/events").await.has("Событий нет."));
}

#[tokio::test]
async fn a_city_admin_adds_and_renames_districts_and_adds_streets_of_his_city_only() {
    let app = WebApp::start(t0()).await;
    let (moscow_id, spb) = (city_id(&app, "Москва"), city_id(&app, "Санкт-Петербург"));
    let mut logist = app.staff("logist").await;
    assert_eq!(logist.get("/cities").await.status, StatusCode::FORBIDDEN);
    let before = snapshot(&app);
    assert_eq!(logist.post(&format!("/cities/{moscow_id}/districts"), &[("name", "Новый")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app), before);

    let mut moscow = app.staff("moscow").await;
    let cities = moscow.get("/cities").await;
    assert!(cities.has("Москва") && cities.has("Europe/Moscow") && !cities.has("Санкт-Петербург"), "{}", cities.html);
    assert_eq!(moscow.get(&format!("/cities/{spb}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(moscow.post(&format!("/cities/{spb}/districts"), &[("name", "Чужой")]).await.status, StatusCode::NOT_FOUND);

    let added = moscow.post(&format!("/cities/{moscow_id}/districts"), &[("name", "Новомосковский")]).await;
    assert_eq!(added.location, Some(format!("/cities/{moscow_id}?ok=district_added")));
    let taken = moscow.post(&format!("/cities/{moscow_id}/districts"), &[("name", "Центральный")]).await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.has("id=\"new-district-error\"") && taken.has("value=\"Центральный\""), "{}", taken.html);

    let district: i64 = one(&app, "SELECT id FROM districts WHERE name = 'Новомосковский'", []);
    moscow.post(&format!("/cities/{moscow_id}/districts/{district}"), &[("name", "Троицкий")]).await;
    assert_eq!(one::<String>(&app, "SELECT name FROM districts WHERE id = ?1", [district]), "Троицкий");
    let clash = moscow.post(&format!("/cities/{moscow_id}/districts/{district}"), &[("name", "Южный")]).await;
    assert!(clash.has(&format!("id=\"district-{district}-error\"")), "{}", clash.html);

    let street = moscow.post(&format!("/cities/{moscow_id}/streets"), &[("name", "Калужское шоссе"), ("district_id", &district.to_string())]).await;
    assert_eq!(street.location, Some(format!("/cities/{moscow_id}?ok=street_added")));
    let page = moscow.get(&format!("/cities/{moscow_id}?ok=street_added")).await;
    assert!(page.has("Улица добавлена.") && page.has("<td>Калужское шоссе</td><td>Троицкий</td>"), "{}", page.html);
}

#[tokio::test]
async fn the_admin_pages_speak_english() {
    let app = WebApp::start(t0()).await;
    raise_alert(&app);
    let mut admin = app.staff("admin").await;
    admin.get("/lang/en").await;
    let checks = [
        ("/staff", "Add a staff member"),
        ("/settings", "Working hours"),
        ("/alerts", "Escalated to dispatchers"),
        ("/events", "Clear the log"),
        ("/cities", "Local time now"),
    ];
    for (path, text) in checks {
        let page = admin.get(path).await;
        assert!(page.has(text), "{path}: {}", page.html);
    }
}
