//! The master pages of the staff UI: lists, card, moderation actions and invites, allowed and refused.

mod common;

use common::dump::dump;
use common::t0;
use common::web::WebApp;
use fieldservice::db::DbError;
use fieldservice::demo::master_phone;
use reqwest::StatusCode;

/// The one value `sql` selects.
fn one<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str, params: impl rusqlite::Params) -> T {
    app.db.read(|c| c.query_row(sql, params, |r| r.get(0)).map_err(DbError::from)).unwrap()
}

/// The id of demo master `n`.
fn master(app: &WebApp, n: usize) -> i64 {
    one(app, "SELECT id FROM masters WHERE phone = ?1", [master_phone(n)])
}

/// A column of a master's row.
fn column<T: rusqlite::types::FromSql>(app: &WebApp, id: i64, column: &str) -> T {
    one(app, &format!("SELECT {column} FROM masters WHERE id = ?1"), [id])
}

/// Everything but the sessions (each request slides its session).
fn snapshot(app: &WebApp) -> String {
    dump(&app.db, &["sessions"])
}

/// Turns demo master `n` into a questionnaire waiting for moderation.
fn make_pending(app: &WebApp, n: usize) -> i64 {
    let id = master(app, n);
    app.db
        .write(|tx| tx.execute("UPDATE masters SET verified = 0, is_active = 0, moderation_status = 'PENDING', shift_status = 'SHIFT_OFF', is_on_shift = 0 WHERE id = ?1", [id]))
        .unwrap();
    id
}

#[tokio::test]
async fn the_lists_show_masters_by_group_with_skill_filter_search_and_pages() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let first = logist.get("/masters").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.has("Найдено: 20") && first.has("Страница 1 из 2"), "{}", first.html);
    assert!(first.has("Алексеев Константин Юрьевич") && first.has("href=\"/masters?page=2\""));
    let second = logist.get("/masters?page=2").await;
    assert!(second.has("Страница 2 из 2") && !second.has("Алексеев Константин Юрьевич"));

    let roadside = logist.get("/masters?category=ROADSIDE").await;
    assert!(roadside.has("Найдено: 3") && roadside.has("Васильев Михаил Сергеевич") && roadside.has("Козлов Максим Романович"), "{}", roadside.html);
    assert!(!roadside.has("Иванов Сергей Петрович"));
    let search = logist.get("/masters?q=%D0%BA%D1%83%D0%B7%D0%BD%D0%B5%D1%86").await;
    assert!(search.has("Найдено: 1") && search.has("Кузнецов Алексей Викторович"));
    let by_phone = logist.get(&format!("/masters?q={}", &master_phone(7)[8..])).await;
    assert!(by_phone.has("Соколов Павел Александрович"), "{}", by_phone.html);

    assert!(logist.get("/masters?group=moderation").await.has("Мастеров не найдено."));
    make_pending(&app, 3);
    let moderation = logist.get("/masters?group=moderation").await;
    assert!(moderation.has("Найдено: 1") && moderation.has("Смирнов Дмитрий Андреевич") && moderation.has("на модерации"), "{}", moderation.html);
    assert!(!logist.get("/masters?group=approved").await.has("Смирнов Дмитрий Андреевич"));

    let mut moscow = app.staff("moscow").await;
    let own = moscow.get("/masters").await;
    assert!(own.has("Найдено: 14") && !own.has("Семёнов Илья Максимович"), "a city admin sees his city only: {}", own.html);
}

#[tokio::test]
async fn a_logist_reads_the_card_without_actions_and_a_forged_action_changes_nothing() {
    let app = WebApp::start(t0()).await;
    let id = master(&app, 1);
    let mut logist = app.staff("logist").await;
    let card = logist.get(&format!("/masters/{id}")).await;
    assert_eq!(card.status, StatusCode::OK);
    assert!(card.has("Иванов Сергей Петрович") && card.has("Северный, Центральный"), "{}", card.html);
    assert!(card.has("Europe/Moscow") && card.has(&master_phone(1)) && card.has("Не хватает"));
    assert!(!card.has(&format!("action=\"/masters/{id}/block\"")), "no action buttons for a logist");

    let before = snapshot(&app);
    let forged = logist.post(&format!("/masters/{id}/block"), &[("reason", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.has("Недостаточно прав"), "{}", forged.html);
    assert_eq!(snapshot(&app), before, "a refused block changes nothing");
    assert!(!column::<bool>(&app, id, "is_blocked"));
}

#[tokio::test]
async fn a_city_admin_cannot_open_a_master_of_another_city() {
    let app = WebApp::start(t0()).await;
    let spb = master(&app, 15);
    let mut moscow = app.staff("moscow").await;
    assert_eq!(moscow.get(&format!("/masters/{spb}")).await.status, StatusCode::NOT_FOUND);
    let before = snapshot(&app);
    assert_eq!(moscow.post(&format!("/masters/{spb}/block"), &[("reason", "x")]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(snapshot(&app), before);
}

#[tokio::test]
async fn an_action_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = WebApp::start(t0()).await;
    let id = master(&app, 2);
    let mut admin = app.staff("admin").await;
    let before = snapshot(&app);
    let page = admin.post_raw(&format!("/masters/{id}/block"), &[("reason", "no token")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app), before);
}

#[tokio::test]
async fn block_and_unblock_with_a_reason_show_on_the_card() {
    let app = WebApp::start(t0()).await;
    let id = master(&app, 2);
    let mut moscow = app.staff("moscow").await;
    let done = moscow.post(&format!("/masters/{id}/block"), &[("reason", "Жалобы клиентов")]).await;
    assert_eq!((done.status, done.location.clone()), (StatusCode::SEE_OTHER, Some(format!("/masters/{id}?ok=master_block"))));
    assert!(column::<bool>(&app, id, "is_blocked") && !column::<bool>(&app, id, "is_active"));
    let card = moscow.get(done.location.as_deref().unwrap()).await;
    assert!(card.has("Мастер заблокирован.") && card.has("Жалобы клиентов") && card.has(&format!("action=\"/masters/{id}/unblock\"")), "{}", card.html);

    let again = moscow.post(&format!("/masters/{id}/unblock"), &[]).await;
    assert_eq!(again.location, Some(format!("/masters/{id}?ok=master_unblock")));
    assert!(!column::<bool>(&app, id, "is_blocked") && column::<bool>(&app, id, "is_active"));
}

#[tokio::test]
async fn a_reject_without_a_reason_is_shown_beside_the_field_and_changes_nothing() {
    let app = WebApp::start(t0()).await;
    let id = make_pending(&app, 4);
    let mut moscow = app.staff("moscow").await;
    let before = snapshot(&app);
    let refused = moscow.post(&format!("/masters/{id}/reject"), &[("reason", "  ")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"reject-reason-error\"") && refused.has("Причина"), "{}", refused.html);
    assert!(refused.has("aria-describedby=\"reject-reason-error\""));
    assert_eq!(snapshot(&app), before);

    let rejected = moscow.post(&format!("/masters/{id}/reject"), &[("reason", "Нечитаемый паспорт")]).await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER);
    assert_eq!(column::<String>(&app, id, "moderation_status"), "REJECTED");
    assert!(moscow.get(&format!("/masters/{id}")).await.has("Нечитаемый паспорт"));
}

#[tokio::test]
async fn approve_limit_and_rating_are_saved_and_bad_numbers_are_shown_beside_their_fields() {
    let app = WebApp::start(t0()).await;
    let id = make_pending(&app, 5);
    let mut admin = app.staff("admin").await;
    assert!(admin.get(&format!("/masters/{id}")).await.has(&format!("action=\"/masters/{id}/approve\"")));
    let approved = admin.post(&format!("/masters/{id}/approve"), &[]).await;
    assert_eq!(approved.location, Some(format!("/masters/{id}?ok=master_approve")));
    assert!(column::<bool>(&app, id, "verified") && column::<bool>(&app, id, "is_active"));
    let twice = admin.post(&format!("/masters/{id}/approve"), &[]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "already approved: the card says so");

    let before = snapshot(&app);
    let too_big = admin.post(&format!("/masters/{id}/limit"), &[("limit", "25")]).await;
    assert_eq!(too_big.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_big.has("id=\"limit-error\"") && too_big.has("value=\"25\""), "{}", too_big.html);
    let not_a_number = admin.post(&format!("/masters/{id}/rating"), &[("rating", "abc")]).await;
    assert!(not_a_number.has("id=\"rating-error\"") && not_a_number.has("value=\"abc\""));
    assert_eq!(snapshot(&app), before);

    admin.post(&format!("/masters/{id}/limit"), &[("limit", "7")]).await;
    assert_eq!(column::<Option<i64>>(&app, id, "max_active_orders_override"), Some(7));
    admin.post(&format!("/masters/{id}/rating"), &[("rating", "4,25")]).await;
    assert_eq!(column::<f64>(&app, id, "rating"), 4.25);
    admin.post(&format!("/masters/{id}/limit"), &[("limit", "")]).await;
    assert_eq!(column::<Option<i64>>(&app, id, "max_active_orders_override"), None, "empty = the global limit again");
}

#[tokio::test]
async fn delete_is_soft_for_a_master_with_history_and_hard_otherwise() {
    let app = WebApp::start(t0()).await;
    let (with_history, without): (i64, i64) = app
        .db
        .read(|c| {
            let pick = |has: bool| {
                c.query_row(
                    &format!(
                        "SELECT id FROM masters m WHERE {} (EXISTS (SELECT 1 FROM orders WHERE assigned_master_id = m.id OR preferred_master_id = m.id)
                         OR EXISTS (SELECT 1 FROM offers WHERE master_id = m.id) OR EXISTS (SELECT 1 FROM commissions WHERE master_id = m.id)) ORDER BY id LIMIT 1",
                        if has { "" } else { "NOT" }
                    ),
                    [],
                    |r| r.get::<_, i64>(0),
                )
            };
            Ok::<_, DbError>((pick(true)?, pick(false)?))
        })
        .unwrap();
    let mut admin = app.staff("admin").await;
    assert!(admin.get(&format!("/masters/{with_history}")).await.has("data-confirm="));
    let soft = admin.post(&format!("/masters/{with_history}/delete"), &[]).await;
    assert_eq!(soft.location.as_deref(), Some("/masters?ok=master_deleted_soft"));
    assert!(column::<bool>(&app, with_history, "is_deleted"));
    let card = admin.get(&format!("/masters/{with_history}")).await;
    assert!(card.has("удалён") && !card.has(&format!("action=\"/masters/{with_history}/delete\"")));

    let hard = admin.post(&format!("/masters/{without}/delete"), &[]).await;
    assert_eq!(hard.location.as_deref(), Some("/masters?ok=master_deleted_hard"));
    assert!(admin.get("/masters?ok=master_deleted_hard").await.has("Мастер удалён полностью."));
    assert_eq!(admin.get(&format!("/masters/{without}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invites_are_issued_with_a_one_time_link_listed_and_revoked() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    assert_eq!(logist.get("/invites").await.status, StatusCode::FORBIDDEN);

    let mut moscow = app.staff("moscow").await;
    let form = moscow.get("/invites").await;
    assert!(form.has("Москва") && !form.has("Санкт-Петербург"), "his cities only: {}", form.html);
    let city: i64 = one(&app, "SELECT id FROM cities WHERE name = 'Москва'", []);
    let issued = moscow.post("/invites", &[("city_id", &city.to_string()), ("ttl_hours", "24"), ("comment", "для Петрова")]).await;
    assert_eq!(issued.status, StatusCode::OK);
    let (code, id): (String, i64) = (one(&app, "SELECT code FROM master_invites", []), one(&app, "SELECT id FROM master_invites", []));
    assert!(issued.has(&format!("{}/m/invite/", app.base)) && issued.has(&format!("id=\"invite-code\">{code}<")), "{}", issued.html);
    assert!(issued.has("11.03.2026 12:00 (Europe/Moscow)"), "expiry on the city's clock: {}", issued.html);

    let list = moscow.get("/invites").await;
    assert!(list.has(&code) && list.has("для Петрова") && !list.has("/m/invite/"), "the link is never shown again");

    let bad = moscow.post("/invites", &[("city_id", &city.to_string()), ("ttl_hours", "1000")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("id=\"ttl_hours-error\"") && bad.has("value=\"1000\""));

    let before = snapshot(&app);
    assert_eq!(moscow.post_raw(&format!("/invites/{id}/revoke"), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app), before);
    let revoked = moscow.post(&format!("/invites/{id}/revoke"), &[]).await;
    assert_eq!(revoked.location.as_deref(), Some("/invites?ok=invite_revoked"));
    assert!(one::<bool>(&app, "SELECT revoked_at IS NOT NULL FROM master_invites WHERE id = ?1", [id]));
    let again = moscow.post(&format!("/invites/{id}/revoke"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.has("приглашение уже отозвано"), "{}", again.html);
}

#[tokio::test]
async fn the_master_pages_speak_english() {
    let app = WebApp::start(t0()).await;
    let id = master(&app, 1);
    let mut admin = app.staff("admin").await;
    admin.get("/lang/en").await;
    let list = admin.get("/masters").await;
    assert!(list.has("Approved") && list.has("Average check") && list.has("Page 1 of 2"), "{}", list.html);
    let card = admin.get(&format!("/masters/{id}")).await;
    assert!(card.has("Rejection reason") && card.has("Delete master") && !card.has("Заблокировать"), "{}", card.html);
    assert!(admin.get("/invites").await.has("Issue invite"));
}
