//! The order card: its fields, contacts, history, offers and event log, and every staff action on it —
//! done, refused for the order's status, confirmed, without a CSRF token, and on another city's order.

mod common;

use common::dump::dump;
use common::t0;
use common::web::{Browser, WebApp};
use fieldservice::db::Db;
use fieldservice::domain::OrderStatus;
use fieldservice::engine::{self, TickOptions};
use reqwest::StatusCode;

fn snapshot(db: &Db) -> String {
    dump(db, &["login_attempts", "sessions", "api_tokens"])
}

fn status(db: &Db, id: i64) -> OrderStatus {
    db.read(|c| -> fieldservice::error::Result<OrderStatus> { Ok(c.query_row("SELECT status FROM orders WHERE id = ?1", [id], |r| r.get(0))?) })
        .unwrap()
}

fn sql(db: &Db, statement: &str) {
    db.write(|tx| -> fieldservice::error::Result<()> { Ok(tx.execute_batch(statement)?) }).unwrap();
}

fn count(db: &Db, query: &str) -> i64 {
    db.read(|c| -> fieldservice::error::Result<i64> { Ok(c.query_row(query, [], |r| r.get(0))?) }).unwrap()
}

/// Follows a done action's redirect to the card with its flash.
async fn follow(browser: &mut Browser, page: &common::web::Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    browser.get(page.location.as_deref().unwrap()).await.html
}

#[tokio::test]
async fn the_card_shows_the_fields_contacts_history_offers_and_events_on_the_city_clock() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let card = logist.get("/orders/10").await;
    assert_eq!(card.status, StatusCode::OK);
    for text in [
        "Заказ #10",
        "Романова Елена Викторовна",
        "href=\"tel:+79991000110\"",
        "data-copy=\"+79991000110\"",
        "Кутузовский проспект, 30, кв. 54",
        "Мастер на час",
        "Повесить три полки",
        "10.03.2026 13:00–15:00 (Europe/Moscow)",
        "Лебедев Григорий Сергеевич (#14)",
        "href=\"tel:+79990000014\"",
        "Поиск мастера → Назначен",
        "Мастер: Лебедев Григорий Сергеевич (#14)",
        "Админ: Олег Мельников",
        "принят мастером",
        "Оффер отправлен",
        "Лебедев Григорий Сергеевич (#14) принял оффер (раунд 1).",
        "Время по часовому поясу Europe/Moscow",
    ] {
        assert!(card.has(text), "{text}: {}", card.html);
    }
    assert!(card.has("action=\"/orders/10/return\"") && card.has("data-confirm="), "return to search with a confirmation");
    assert!(card.has("action=\"/orders/10/cancel\""));
    assert!(!card.has("action=\"/orders/10/auto\"") && !card.has("id=\"candidates\""), "an assigned order is not assigned again");
    assert!(!card.has("action=\"/orders/10/activate\"") && !card.has("action=\"/orders/10/guarantee\""));

    let searching = logist.get("/orders/16").await;
    assert!(searching.has("action=\"/orders/16/auto\"") && searching.has("id=\"candidates\""));
    assert!(searching.has("Смирнов Дмитрий Андреевич") && searching.has("action=\"/orders/16/offer\""), "{}", searching.html);
    let closed = logist.get("/orders/2").await;
    assert!(closed.has("action=\"/orders/2/guarantee\"") && !closed.has("action=\"/orders/2/cancel\""));
    assert!(closed.has("Сумма") && closed.has("6\u{a0}200\u{a0}₽"));
    assert_eq!(logist.get("/orders/999").await.status, StatusCode::NOT_FOUND);
    assert_eq!(logist.get("/orders/abc").await.status, StatusCode::NOT_FOUND);
    assert_eq!(logist.get("/orders/16/candidates").await.location.as_deref(), Some("/orders/16#candidates"));
    assert_eq!(app.anonymous().get("/orders/16").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn another_citys_order_is_not_found_to_look_at_or_to_act_on() {
    let app = WebApp::start(t0()).await;
    let mut moscow = app.staff("moscow").await;
    assert_eq!(moscow.get("/orders/15").await.status, StatusCode::NOT_FOUND, "a St Petersburg order");
    let before = snapshot(&app.db);
    for (path, fields) in [
        ("/orders/15/cancel", vec![("reason", "Не наш город")]),
        ("/orders/15/auto", vec![]),
        ("/orders/15/offer", vec![("master_id", "15")]),
        ("/orders/15/return", vec![]),
    ] {
        assert_eq!(moscow.post(path, &fields).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(snapshot(&app.db), before);
}

#[tokio::test]
async fn auto_distribution_sends_an_offer_or_says_why_not_and_asks_before_waking_a_deferred_order() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let done = logist.post("/orders/16/auto", &[]).await;
    assert_eq!(done.location.as_deref(), Some("/orders/16?ok=order_auto_offer_sent"));
    let card = follow(&mut logist, &done).await;
    assert!(card.contains("Оффер отправлен лучшему кандидату") && card.contains("class=\"countdown\" data-left=\"120\""), "{card}");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM offers WHERE order_id = 16 AND state = 'SENT'"), 1);

    let refused = logist.post("/orders/14/auto", &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.has("role=\"alert\"") && refused.has("Район не указан. Автораспределение невозможно"), "{}", refused.html);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM orders WHERE id = 14 AND dist_escalated_logist_at IS NOT NULL"), 1, "escalated");

    let before = snapshot(&app.db);
    let ask = logist.post("/orders/13/auto", &[]).await;
    assert_eq!(ask.status, StatusCode::CONFLICT);
    assert!(ask.has("name=\"confirm_deferred\" value=\"1\"") && ask.has("Да, распределить сейчас"), "{}", ask.html);
    assert_eq!(snapshot(&app.db), before, "nothing changes before the confirmation");
    let confirmed = logist.post("/orders/13/auto", &[("confirm_deferred", "1")]).await;
    assert_eq!(confirmed.location.as_deref(), Some("/orders/13?ok=order_auto_offer_sent"));
    assert_eq!(status(&app.db, 13), OrderStatus::Searching);

    let assigned = logist.post("/orders/10/auto", &[]).await;
    assert_eq!(assigned.status, StatusCode::CONFLICT);
    assert!(assigned.has("Заказ уже назначен другому мастеру"));
}

#[tokio::test]
async fn a_manual_offer_to_an_unavailable_master_shows_the_reasons_and_goes_out_once_confirmed() {
    let app = WebApp::start(t0()).await;
    // Васильев (master 5) serves Северо-Западный and does roadside help, but has gone off shift.
    sql(&app.db, "UPDATE masters SET shift_status = 'SHIFT_OFF', is_on_shift = 0 WHERE id = 5");
    let mut logist = app.staff("logist").await;
    let card = logist.get("/orders/17").await;
    let row = &card.html[card.html.find("data-master-id=\"5\"").expect("he is a candidate")..];
    assert!(row[..row.find("</tr>").unwrap()].contains("не на смене"), "{row}");

    let before = snapshot(&app.db);
    let ask = logist.post("/orders/17/offer", &[("master_id", "5")]).await;
    assert_eq!(ask.status, StatusCode::CONFLICT);
    assert!(ask.has("Мастер сейчас недоступен") && ask.has("<li>не на смене</li>"), "{}", ask.html);
    assert!(ask.has("action=\"/orders/17/offer\"") && ask.has("name=\"force\" value=\"1\"") && ask.has("Всё равно отправить"));
    assert_eq!(snapshot(&app.db), before);
    let sent = logist.post("/orders/17/offer", &[("master_id", "5"), ("force", "1")]).await;
    assert_eq!(sent.location.as_deref(), Some("/orders/17?ok=order_offer_sent"));
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM offers WHERE order_id = 17 AND master_id = 5 AND state = 'SENT'"), 1);

    // A master of another district does not fit at all: no confirmation can help.
    let unfit = logist.post("/orders/17/offer", &[("master_id", "10")]).await;
    assert_eq!(unfit.status, StatusCode::CONFLICT);
    assert!(unfit.has("Мастер не подходит") && unfit.has("не работает в районе заказа") && !unfit.has("name=\"force\""), "{}", unfit.html);
    assert_eq!(logist.post("/orders/17/offer", &[("master_id", "x")]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn direct_assignment_asks_for_confirmation_too_and_an_assigned_order_is_refused() {
    let app = WebApp::start(t0()).await;
    sql(&app.db, "UPDATE masters SET shift_status = 'SHIFT_OFF', is_on_shift = 0 WHERE id = 6");
    let mut logist = app.staff("logist").await;
    let ask = logist.post("/orders/19/assign", &[("master_id", "6")]).await;
    assert_eq!(ask.status, StatusCode::CONFLICT);
    assert!(ask.has("action=\"/orders/19/assign\"") && ask.has("Всё равно назначить"), "{}", ask.html);
    assert_eq!(status(&app.db, 19), OrderStatus::Searching);
    let done = logist.post("/orders/19/assign", &[("master_id", "6"), ("force", "1")]).await;
    let card = follow(&mut logist, &done).await;
    assert!(card.contains("Мастер назначен") && card.contains("Петров Николай Иванович (#6)"));
    assert_eq!(status(&app.db, 19), OrderStatus::Assigned);

    let before = snapshot(&app.db);
    let again = logist.post("/orders/19/assign", &[("master_id", "2"), ("force", "1")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.has("Заказ уже назначен другому мастеру"));
    assert_eq!(snapshot(&app.db), before);
}

#[tokio::test]
async fn return_activate_and_guarantee_act_when_the_status_allows_and_explain_when_not() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let returned = logist.post("/orders/10/return", &[]).await;
    let card = follow(&mut logist, &returned).await;
    assert!(card.contains("Заказ возвращён в поиск") && card.contains("Назначен → Поиск мастера"), "{card}");
    assert_eq!(status(&app.db, 10), OrderStatus::Searching);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM orders WHERE id = 10 AND assigned_master_id IS NULL AND dist_cycle = 2"), 1);

    let before = snapshot(&app.db);
    let paid = logist.post("/orders/6/return", &[]).await;
    assert_eq!(paid.status, StatusCode::CONFLICT);
    assert!(paid.has("Действие недоступно: заказ в статусе «Ожидает оплаты»"), "{}", paid.html);
    let not_deferred = logist.post("/orders/16/activate", &[]).await;
    assert!(not_deferred.has("Действие недоступно: заказ в статусе «Поиск мастера»"));
    let twice = logist.post("/orders/1/guarantee", &[]).await;
    assert!(twice.has("Гарантийная заявка уже создана"), "{}", twice.html);
    let open = logist.post("/orders/16/guarantee", &[]).await;
    assert_eq!(open.status, StatusCode::CONFLICT);
    assert_eq!(snapshot(&app.db), before, "refusals change nothing");

    let activated = logist.post("/orders/13/activate", &[]).await;
    assert!(follow(&mut logist, &activated).await.contains("Заказ переведён в поиск мастера"));
    assert_eq!(status(&app.db, 13), OrderStatus::Searching);

    let guarantee = logist.post("/orders/2/guarantee", &[]).await;
    assert_eq!(guarantee.location.as_deref(), Some("/orders/26?ok=order_guarantee_created"));
    let new_card = follow(&mut logist, &guarantee).await;
    assert!(new_card.contains("Заказ #26") && new_card.contains("Гарантийная заявка успешно создана"));
    assert!(new_card.contains("href=\"/orders/2\"") && new_card.contains("Соколов Павел Александрович (#7)"), "source and its master");
}

#[tokio::test]
async fn cancel_needs_a_reason_beside_the_field_and_a_csrf_token() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let before = snapshot(&app.db);
    let forged = logist.post_raw("/orders/16/cancel", &[("reason", "Клиент передумал")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let empty = logist.post("/orders/16/cancel", &[("reason", "  ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.has("id=\"cancel-error\"") && empty.has("aria-invalid=\"true\"") && empty.has("Причина: от 3 до 200 символов"), "{}", empty.html);
    let short = logist.post("/orders/16/cancel", &[("reason", "no")]).await;
    assert!(short.has(">no</textarea>"), "what was typed is kept");
    assert_eq!(snapshot(&app.db), before);

    let done = logist.post("/orders/16/cancel", &[("reason", "Клиент передумал")]).await;
    let card = follow(&mut logist, &done).await;
    assert!(card.contains("Заказ отменён") && card.contains("Клиент передумал") && !card.contains("action=\"/orders/16/cancel\""));
    assert_eq!(status(&app.db, 16), OrderStatus::Canceled);
    let closed = logist.post("/orders/2/cancel", &[("reason", "Поздно")]).await;
    assert!(closed.has("Действие недоступно: заказ в статусе «Закрыт»"), "{}", closed.html);
}

#[tokio::test]
async fn the_event_log_explains_why_the_guarantee_master_was_skipped() {
    let app = WebApp::start(t0()).await;
    sql(&app.db, "UPDATE masters SET shift_status = 'SHIFT_OFF', is_on_shift = 0 WHERE id = 1");
    engine::tick(&app.db, t0(), TickOptions { seed: 1, max_orders: 100 }).unwrap();
    let mut logist = app.staff("logist").await;
    let card = logist.get("/orders/22").await;
    assert!(card.has("Мастер по гарантии Иванов Сергей Петрович (#1) пропущен: не на смене."), "{}", card.html);
    assert!(card.has("Найдено подходящих мастеров:") && card.has("Первые в очереди:"));
}
