//! The master's mobile page `/m/`: sign-in, the home screen by account state, shift and breaks, live
//! offers with accept and decline, active orders with the close upload, history, statistics,
//! notifications, support and the PWA files — each allowed and refused, over real HTTP.

mod common;

use std::time::Duration as StdDuration;

use chrono::Duration;
use common::samples::PNG;
use common::dump::dump;
use common::t0;
use common::web::{Browser, WebApp};
use fieldservice::clock::Clock;
use fieldservice::db::ms;
use fieldservice::demo::master_phone;
use fieldservice::offers;
use fieldservice::settings::Settings;
use fieldservice::staff;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

/// Demo orders and masters used below (src/demo.rs): master n has id n.
const ELECTRICS_SEARCHING: i64 = 18; // Москва, Центральный, ELECTRICS: fits masters 1 and 14
const ASSIGNED_TO_14: i64 = 10;
const WORKING_FOR_3: i64 = 8;
const CLOSED_BY_1: i64 = 1;

/// Staff send an offer of `order` to `master` (as the global admin, through the rule).
fn offer(app: &WebApp, order: i64, master: i64) -> i64 {
    let now = app.clock.now();
    app.db
        .write(|tx| {
            let admin = staff::load_active(tx, 1)?.expect("the demo admin");
            offers::manual_offer(tx, now, &admin, order, master, true)
        })
        .unwrap()
        .id
}

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str) -> T {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(fieldservice::error::Error::from)).unwrap()
}

fn exec(app: &WebApp, sql: &str) {
    app.db.write(|tx| tx.execute(sql, []).map(drop)).unwrap();
}

fn stored_files(app: &WebApp) -> usize {
    std::fs::read_dir(app.dir.path().join(fieldservice::uploads::FILES_DIR)).map_or(0, |d| d.count())
}

/// The database without what every request may touch (sessions slide, logins are counted).
fn state(app: &WebApp) -> String {
    dump(&app.db, &["sessions", "login_attempts"])
}

async fn english(app: &WebApp, phone: &str) -> Browser {
    let mut browser = app.master(phone).await;
    browser.cookies.push("fs_lang=en".into());
    browser
}

#[tokio::test]
async fn an_anonymous_visitor_gets_the_login_form_and_a_master_signs_in_by_phone() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.anonymous();
    let form = browser.get("/m").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.has("id=\"phone\"") && form.has("id=\"password\"") && form.has("id=\"sign-in\""), "{}", form.html);
    assert_eq!(browser.get("/m/offers").await.location.as_deref(), Some("/m"), "a screen sends him to sign in");

    let wrong = browser.post_raw("/m/login", &[("phone", "8 999 000-00-01"), ("password", "nope")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.has("id=\"login-error\"") && wrong.has("value=\"8 999 000-00-01\""), "the phone is kept: {}", wrong.html);
    assert!(browser.cookies.is_empty());

    let ok = browser.post_raw("/m/login", &[("phone", "8 999 000-00-01"), ("password", "demo")]).await;
    assert_eq!((ok.status, ok.location.as_deref()), (StatusCode::SEE_OTHER, Some("/m")));
    let home = browser.get("/m").await;
    assert!(home.has("Иванов Сергей Петрович") && home.has("на смене") && home.has("id=\"shift-off\""), "{}", home.html);
    assert!(home.has("href=\"/m/offers\"") && home.has("href=\"/m/orders\"") && home.has("href=\"/m/stats\""));

    let out = browser.m_post("/m/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/m"));
    assert!(browser.get("/m").await.has("id=\"sign-in\""), "signed out");
}

#[tokio::test]
async fn master_logins_are_throttled_like_staff_logins() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.anonymous();
    for _ in 0..5 {
        browser.post_raw("/m/login", &[("phone", &master_phone(2)), ("password", "nope")]).await;
    }
    let locked = browser.post_raw("/m/login", &[("phone", &master_phone(2)), ("password", "demo")]).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.has("12:15"), "{}", locked.html);
}

#[tokio::test]
async fn staff_sessions_cannot_use_the_masters_page_nor_masters_the_staff_pages() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    for path in ["/m", "/m/offers", "/m/orders/10", "/m/history"] {
        let page = logist.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(logist.get("/m").await.has("href=\"/\""), "points staff to their pages");
    let mut master = app.master(&master_phone(1)).await;
    assert_eq!(master.get("/").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_blocked_master_sees_the_reason_and_a_deleted_one_that_the_account_is_gone() {
    let app = WebApp::start(t0()).await;
    let now = app.clock.now();
    app.db.write(|tx| Settings::update(tx, now, &[("support_contact", "+7 495 000-00-00")]).map(drop)).unwrap();
    let mut signed_in = app.master(&master_phone(2)).await;
    exec(&app, "UPDATE masters SET is_blocked = 1, is_active = 0, blocked_reason = 'долг по комиссии' WHERE id = 2");
    let blocked = signed_in.get("/m/offers").await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert!(blocked.has("Аккаунт заблокирован") && blocked.has("долг по комиссии") && blocked.has("+7 495 000-00-00"), "{}", blocked.html);

    let mut fresh = app.anonymous();
    let login = fresh.post_raw("/m/login", &[("phone", &master_phone(2)), ("password", "demo")]).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    assert!(login.has("долг по комиссии"), "{}", login.html);
    assert!(fresh.cookies.is_empty(), "no session for a blocked master");

    let mut gone = app.master(&master_phone(3)).await;
    exec(&app, "UPDATE masters SET is_deleted = 1 WHERE id = 3");
    let deleted = gone.get("/m").await;
    assert_eq!(deleted.status, StatusCode::FORBIDDEN);
    assert!(deleted.has("Аккаунт удалён"), "{}", deleted.html);
}

#[tokio::test]
async fn pending_and_rejected_masters_see_their_state_and_cannot_start_a_shift() {
    let app = WebApp::start(t0()).await;
    exec(&app, "UPDATE masters SET moderation_status = 'PENDING', verified = 0, shift_status = 'SHIFT_OFF', is_on_shift = 0 WHERE id = 11");
    let mut pending = app.master(&master_phone(11)).await;
    let home = pending.get("/m").await;
    assert!(home.has("Анкета на модерации") && !home.has("id=\"shift-on\""), "{}", home.html);
    let before = state(&app);
    let refused = pending.m_post("/m/shift/on", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.has("id=\"message\"") && refused.has("модерации"), "{}", refused.html);
    assert_eq!(state(&app), before, "nothing changed");

    exec(&app, "UPDATE masters SET moderation_status = 'REJECTED', moderation_reason = 'нечитаемое фото паспорта' WHERE id = 11");
    let rejected = pending.get("/m").await;
    assert!(rejected.has("Анкета отклонена") && rejected.has("нечитаемое фото паспорта") && rejected.has("id=\"support\""), "{}", rejected.html);
}

#[tokio::test]
async fn shift_on_breaks_with_the_ten_minute_reminder_extend_end_early_and_shift_off() {
    let app = WebApp::start(t0()).await;
    let shift = |app: &WebApp| scalar::<String>(app, "SELECT shift_status FROM masters WHERE id = 11");
    let mut master = app.master(&master_phone(11)).await;
    assert!(master.get("/m").await.has("id=\"shift-on\""));

    let refused = master.m_post("/m/break/start", &[("minutes", "15")]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.has("Смена не активна"), "{}", refused.html);

    let on = master.m_post("/m/shift/on", &[]).await;
    assert_eq!(on.location.as_deref(), Some("/m?ok=m_shift_on"));
    assert_eq!(shift(&app), "SHIFT_ON");
    assert!(master.get("/m?ok=m_shift_on").await.has("Смена включена"));

    let bad = master.m_post("/m/break/start", &[("minutes", "45")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("15 минут, 1 час или 2 часа"), "{}", bad.html);

    master.m_post("/m/break/start", &[("minutes", "60")]).await;
    assert_eq!(shift(&app), "BREAK");
    assert_eq!(scalar::<i64>(&app, "SELECT break_until FROM masters WHERE id = 11"), ms(t0() + Duration::minutes(60)));
    let on_break = master.get("/m").await;
    assert!(on_break.has("id=\"shift-state\"") && on_break.has("перерыв до 13:00"), "the bar, Moscow time: {}", on_break.html);
    assert!(!on_break.has("id=\"break-reminder\""));

    app.clock.advance(Duration::minutes(52));
    let soon = master.get("/m/orders").await;
    assert!(soon.has("id=\"break-reminder\"") && soon.has("через 8 мин"), "the reminder on every screen: {}", soon.html);

    master.m_post("/m/break/extend", &[("minutes", "15")]).await;
    assert_eq!(scalar::<i64>(&app, "SELECT break_until FROM masters WHERE id = 11"), ms(t0() + Duration::minutes(52 + 15)), "from now");
    master.m_post("/m/break/end", &[]).await;
    assert_eq!(shift(&app), "SHIFT_ON");
    let off = master.m_post("/m/shift/off", &[]).await;
    assert_eq!(off.location.as_deref(), Some("/m?ok=m_shift_off"));
    assert_eq!(shift(&app), "SHIFT_OFF");
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = WebApp::start(t0()).await;
    let offer_id = offer(&app, ELECTRICS_SEARCHING, 1);
    let mut master = app.master(&master_phone(1)).await;
    let mut worker = app.master(&master_phone(3)).await;
    let before = state(&app);
    for (path, fields) in [
        ("/m/shift/off", vec![]),
        ("/m/break/start", vec![("minutes", "15")]),
        (&*format!("/m/offers/{offer_id}/accept"), vec![]),
        (&*format!("/m/offers/{offer_id}/decline"), vec![("confirm", "yes")]),
        ("/m/logout", vec![]),
    ] {
        let refused = master.post_raw(path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.has("href=\"/m\""), "the refusal is a page of the master's, leading home: {}", refused.html);
        let mut forged = fields.clone();
        forged.push(("csrf", "0000"));
        assert_eq!(master.post_raw(path, &forged).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let form = Form::new().text("amount", "3500").part("act", Part::bytes(PNG).file_name("act.png"));
    let close = worker.post_multipart_raw(&format!("/m/orders/{WORKING_FOR_3}/close"), form).await;
    assert_eq!(close.status, StatusCode::FORBIDDEN);
    assert_eq!(state(&app), before, "nothing changed");
    assert_eq!(stored_files(&app), 0, "no file kept");
}

#[tokio::test]
async fn offers_show_no_client_open_as_viewed_and_the_second_master_to_accept_hears_already_taken() {
    let app = WebApp::start(t0()).await;
    let first = offer(&app, ELECTRICS_SEARCHING, 1);
    let second = offer(&app, ELECTRICS_SEARCHING, 14);
    let mut m1 = app.master(&master_phone(1)).await;
    let mut m14 = app.master(&master_phone(14)).await;
    let client_phone: String = scalar(&app, "SELECT client_phone FROM orders WHERE id = 18");
    let client_name: String = scalar(&app, "SELECT client_name FROM orders WHERE id = 18");

    let list = m1.get("/m/offers").await;
    assert!(list.has("id=\"offers\"") && list.has(&format!("data-offer-id=\"{first}\"")), "{}", list.html);
    assert!(!list.has(&format!("data-offer-id=\"{second}\"")), "never another master's offer");
    assert!(list.has("data-left=\"120\"") && list.has("Электрика"), "countdown and category: {}", list.html);
    assert!(!list.has(&client_phone) && !list.has(&client_name));

    let card = m1.get(&format!("/m/offers/{first}")).await;
    assert_eq!(card.status, StatusCode::OK);
    assert!(card.has("id=\"accept\"") && card.has("id=\"decline\"") && card.has("#18"), "{}", card.html);
    assert!(!card.has(&client_phone) && !card.has(&client_name), "the client is hidden until the order is his");
    assert_eq!(scalar::<String>(&app, &format!("SELECT state FROM offers WHERE id = {first}")), "VIEWED");
    assert_eq!(m1.get(&format!("/m/offers/{second}")).await.status, StatusCode::NOT_FOUND, "another master's offer");

    let won = m14.m_post(&format!("/m/offers/{second}/accept"), &[]).await;
    assert_eq!(won.location.as_deref(), Some("/m/orders/18?ok=m_accepted"));
    let order = m14.get("/m/orders/18?ok=m_accepted").await;
    assert!(order.has("Заказ ваш") && order.has(&format!("href=\"tel:{client_phone}\"")) && order.has(&client_name), "{}", order.html);
    assert!(order.has("id=\"en-route\""));

    let lost = m1.m_post(&format!("/m/offers/{first}/accept"), &[]).await;
    assert_eq!(lost.status, StatusCode::CONFLICT);
    assert!(lost.has("id=\"message\"") && lost.has("Заказ уже взят другим мастером"), "{}", lost.html);
    assert!(!lost.has("id=\"accept\""), "no stale accept button");
    assert_eq!(m1.get("/m/orders/18").await.status, StatusCode::NOT_FOUND, "his rival's order");
    assert!(!m1.get("/m/offers").await.has(&format!("data-offer-id=\"{first}\"")), "gone from his list");
}

#[tokio::test]
async fn declining_asks_first_and_an_expired_offer_cannot_be_accepted() {
    let app = WebApp::start(t0()).await;
    let offer_id = offer(&app, ELECTRICS_SEARCHING, 1);
    let mut master = app.master(&master_phone(1)).await;
    let offer_state = |app: &WebApp| scalar::<String>(app, &format!("SELECT state FROM offers WHERE id = {offer_id}"));

    let ask = master.m_post(&format!("/m/offers/{offer_id}/decline"), &[]).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.has("id=\"decline-confirm\"") && ask.has("Отклонить предложение заказа #18") && ask.has("id=\"decline-cancel\""), "{}", ask.html);
    assert_eq!(offer_state(&app), "VIEWED", "not declined before the confirmation");
    let declined = master.m_post(&format!("/m/offers/{offer_id}/decline"), &[("confirm", "yes")]).await;
    assert_eq!(declined.location.as_deref(), Some("/m/offers?ok=m_declined"));
    assert_eq!(offer_state(&app), "DECLINED");
    let again = master.m_post(&format!("/m/offers/{offer_id}/accept"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.has("Вы уже отклонили этот заказ"), "{}", again.html);

    let capped = offer(&app, ELECTRICS_SEARCHING, 14);
    exec(&app, "UPDATE masters SET max_active_orders_override = 1 WHERE id = 14");
    let mut other = app.master(&master_phone(14)).await;
    let limit = other.m_post(&format!("/m/offers/{capped}/accept"), &[]).await;
    assert_eq!(limit.status, StatusCode::CONFLICT);
    assert!(limit.has("id=\"message\"") && limit.has("(1/1)") && !limit.has("id=\"accept\""), "his order 10 fills the limit: {}", limit.html);
    exec(&app, "UPDATE masters SET max_active_orders_override = NULL WHERE id = 14");
    exec(&app, &format!("UPDATE offers SET state = 'DECLINED', responded_at = sent_at WHERE id = {capped}"));

    let late = offer(&app, ELECTRICS_SEARCHING, 14);
    app.clock.advance(Duration::seconds(121));
    let card = other.get(&format!("/m/offers/{late}")).await;
    assert_eq!(card.status, StatusCode::CONFLICT);
    assert!(card.has("Время истекло") && !card.has("id=\"accept\""), "{}", card.html);
    let accept = other.m_post(&format!("/m/offers/{late}/accept"), &[]).await;
    assert!(accept.has("id=\"message\"") && accept.has("Время истекло"), "{}", accept.html);
    assert!(scalar::<Option<i64>>(&app, "SELECT assigned_master_id FROM orders WHERE id = 18").is_none());
}

#[tokio::test]
async fn the_offer_stream_sends_the_new_offer_within_two_seconds() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(1)).await;
    let mut stream = master.open_stream("/m/offers/events").await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let first = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(first.contains("event: offers") && first.contains("id=\"no-offers\""), "the list at once: {first}");

    let other = offer(&app, ELECTRICS_SEARCHING, 14);
    let mine = offer(&app, ELECTRICS_SEARCHING, 1);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(2);
    while !seen.contains(&format!("data-offer-id=\"{mine}\"")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("an event within 2 s").unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!seen.contains(&format!("data-offer-id=\"{other}\"")), "only his own offers: {seen}");

    app.db.write(|tx| tx.execute(&format!("UPDATE offers SET state = 'EXPIRED', responded_at = sent_at WHERE id = {mine}"), []).map(drop)).unwrap();
    let chunk = tokio::time::timeout(StdDuration::from_secs(2), stream.chunk()).await.expect("the expiry within 2 s").unwrap().unwrap();
    let text = String::from_utf8(chunk.to_vec()).unwrap();
    assert!(text.contains("event: offers") && !text.contains("data-offer-id"), "{text}");
}

#[tokio::test]
async fn an_active_order_goes_en_route_on_site_and_another_master_never_sees_it() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(14)).await;
    let mut stranger = app.master(&master_phone(2)).await;
    let status = |app: &WebApp| scalar::<String>(app, &format!("SELECT status FROM orders WHERE id = {ASSIGNED_TO_14}"));

    let list = master.get("/m/orders").await;
    assert!(list.has(&format!("href=\"/m/orders/{ASSIGNED_TO_14}\"")), "{}", list.html);
    assert!(!stranger.get("/m/orders").await.has(&format!("href=\"/m/orders/{ASSIGNED_TO_14}\"")));
    assert_eq!(stranger.get(&format!("/m/orders/{ASSIGNED_TO_14}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(stranger.m_post(&format!("/m/orders/{ASSIGNED_TO_14}/en-route"), &[]).await.status, StatusCode::NOT_FOUND);

    let card = master.get(&format!("/m/orders/{ASSIGNED_TO_14}")).await;
    assert!(card.has("href=\"tel:+7") && card.has("https://yandex.ru/maps/?text=") && card.has("data-copy=\""), "{}", card.html);
    assert!(card.has("id=\"en-route\"") && !card.has("id=\"on-site\""));

    let early = master.m_post(&format!("/m/orders/{ASSIGNED_TO_14}/on-site"), &[]).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert!(early.has("id=\"message\""), "{}", early.html);
    assert_eq!(status(&app), "ASSIGNED");

    let go = master.m_post(&format!("/m/orders/{ASSIGNED_TO_14}/en-route"), &[]).await;
    assert_eq!(go.location.as_deref(), Some(&*format!("/m/orders/{ASSIGNED_TO_14}?ok=m_en_route")));
    assert_eq!(status(&app), "EN_ROUTE");
    assert!(master.get(&format!("/m/orders/{ASSIGNED_TO_14}")).await.has("id=\"on-site\""));
    master.m_post(&format!("/m/orders/{ASSIGNED_TO_14}/on-site"), &[]).await;
    assert_eq!(status(&app), "WORKING");
    assert!(master.get(&format!("/m/orders/{ASSIGNED_TO_14}")).await.has("id=\"close\""));
}

#[tokio::test]
async fn closing_asks_the_amount_and_the_act_and_a_refused_close_keeps_what_was_typed_and_the_act() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(3)).await;
    let path = format!("/m/orders/{WORKING_FOR_3}/close");
    let form = master.get(&path).await;
    assert!(form.has("id=\"amount\"") && form.has("id=\"act\"") && form.has("id=\"close-submit\"") && form.has("multipart/form-data"), "{}", form.html);
    assert!(form.has("id=\"note\"") && form.has("id=\"photos\"") && form.has("form=\"close-form\""), "the note, the photos, the button in the dock: {}", form.html);

    // A mistyped amount is refused, but the chosen act is kept for the next try (issue 11 §2).
    let bad_amount = Form::new().text("amount", "12,345").text("note", "Заменил насос").part("act", Part::bytes(PNG).file_name("act.png"));
    let refused = master.m_post_multipart(&path, bad_amount).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("value=\"12,345\"") && refused.has("id=\"amount-error\"") && refused.has(">Заменил насос</textarea>"), "{}", refused.html);
    assert!(refused.has("id=\"act-kept\"") && refused.has("act.png"), "the act is shown as kept: {}", refused.html);
    assert_eq!(stored_files(&app), 1, "the refused close keeps the act");
    assert!(master.get(&path).await.has("id=\"act-kept\""), "kept across a reload of the form");

    let not_a_photo = Form::new().text("amount", "3500").part("act", Part::bytes(b"plain text".to_vec()).file_name("act.txt"));
    let refused = master.m_post_multipart(&path, not_a_photo).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("value=\"3500\"") && refused.has("id=\"act-error\"") && refused.has("фото"), "{}", refused.html);
    let long_note = Form::new().text("amount", "3500").text("note", "я".repeat(1001));
    let refused = master.m_post_multipart(&path, long_note).await;
    assert!(refused.status == StatusCode::UNPROCESSABLE_ENTITY && refused.has("id=\"note-error\"") && refused.has("1000"), "{}", refused.html);
    let six = (0..6).fold(Form::new().text("amount", "3500"), |f, i| f.part("photos", Part::bytes(PNG).file_name(format!("p{i}.png"))));
    let refused = master.m_post_multipart(&path, six).await;
    assert!(refused.status == StatusCode::UNPROCESSABLE_ENTITY && refused.has("id=\"photos-error\""), "{}", refused.html);
    let pdf_photo = Form::new().text("amount", "3500").part("photos", Part::bytes(b"%PDF-1.4 x".to_vec()).file_name("p.pdf"));
    let refused = master.m_post_multipart(&path, pdf_photo).await;
    assert!(refused.status == StatusCode::UNPROCESSABLE_ENTITY && refused.has("id=\"photos-error\""), "{}", refused.html);
    assert_eq!(scalar::<String>(&app, "SELECT status FROM orders WHERE id = 8"), "WORKING");
    assert_eq!(stored_files(&app), 1, "refused photos are removed, the kept act stays");

    let mut stranger = app.master(&master_phone(2)).await;
    let foreign = Form::new().text("amount", "3500").part("act", Part::bytes(PNG).file_name("act.png"));
    assert_eq!(stranger.m_post_multipart(&path, foreign).await.status, StatusCode::NOT_FOUND);
    assert_eq!(stored_files(&app), 1);

    // The next try sends no act: the kept one closes the order, with the amount as the app prints it.
    let good = Form::new()
        .text("amount", "4 500")
        .text("note", "Заменил насос.\nКлиент доволен.")
        .part("photos", Part::bytes(PNG).file_name("before.png"))
        .part("photos", Part::bytes(PNG).file_name("after.png"));
    let closed = master.m_post_multipart(&path, good).await;
    let commission: i64 = scalar(&app, "SELECT id FROM commissions WHERE order_id = 8");
    assert_eq!(closed.location, Some(format!("/m/finance/{commission}?ok=m_closed")), "on to what he owes: {}", closed.html);
    assert_eq!(scalar::<String>(&app, "SELECT status FROM orders WHERE id = 8"), "PAYMENT");
    assert_eq!(scalar::<i64>(&app, "SELECT total_sum_kop FROM orders WHERE id = 8"), 450_000);
    assert_eq!(scalar::<String>(&app, "SELECT note FROM order_close_notes WHERE order_id = 8"), "Заменил насос.\nКлиент доволен.");
    assert_eq!(scalar::<i64>(&app, "SELECT COUNT(*) FROM attachments WHERE entity_id = 8 AND document_type = 'work_photo'"), 2);
    assert_eq!(scalar::<i64>(&app, "SELECT COUNT(*) FROM held_files"), 0, "nothing is held once the close went through");
    assert_eq!(stored_files(&app), 3);
    let file: i64 = scalar(&app, "SELECT id FROM attachments WHERE entity_type = 'ORDER' AND entity_id = 8 AND document_type = 'act'");
    let card = master.get("/m/orders/8?ok=m_closed").await;
    assert!(card.has("Заказ закрыт") && card.has("4\u{a0}500\u{a0}₽") && card.has(&format!("/m/orders/8/files/{file}")), "{}", card.html);
    assert_eq!(master.get(&format!("/m/orders/8/files/{file}")).await.status, StatusCode::OK, "his own act");
    assert_eq!(stranger.get(&format!("/m/orders/8/files/{file}")).await.status, StatusCode::NOT_FOUND, "never another master's file");
}

#[tokio::test]
async fn a_guarantee_order_closes_with_the_act_only() {
    let app = WebApp::start(t0()).await;
    let guarantee: i64 = scalar(&app, "SELECT id FROM orders WHERE type = 'GUARANTEE'");
    let master_id: i64 = scalar(&app, &format!("SELECT preferred_master_id FROM orders WHERE id = {guarantee}"));
    let offer_id = offer(&app, guarantee, master_id);
    let mut master = app.master(&master_phone(master_id as usize)).await;
    assert!(master.m_post(&format!("/m/offers/{offer_id}/accept"), &[]).await.status.is_redirection());
    master.m_post(&format!("/m/orders/{guarantee}/en-route"), &[]).await;
    master.m_post(&format!("/m/orders/{guarantee}/on-site"), &[]).await;
    let form = master.get(&format!("/m/orders/{guarantee}/close")).await;
    assert!(!form.has("id=\"amount\"") && form.has("id=\"act\""), "{}", form.html);
    let act = Form::new().part("act", Part::bytes(PNG).file_name("act.png"));
    let closed = master.m_post_multipart(&format!("/m/orders/{guarantee}/close"), act).await;
    assert_eq!(closed.location.as_deref(), Some(&*format!("/m/orders/{guarantee}?ok=m_closed_guarantee")));
    assert_eq!(scalar::<String>(&app, &format!("SELECT status FROM orders WHERE id = {guarantee}")), "CLOSED");
}

#[tokio::test]
async fn history_with_earnings_statistics_notifications_and_support() {
    let app = WebApp::start(t0()).await;
    let now = app.clock.now();
    app.db
        .write(|tx| Settings::update(tx, now, &[("support_contact", "Telegram @fs_support"), ("support_faq_url", "https://example.org/faq")]).map(drop))
        .unwrap();
    let mut master = app.master(&master_phone(1)).await;

    let history = master.get("/m/history").await;
    assert!(history.has(&format!("href=\"/m/orders/{CLOSED_BY_1}\"")) && history.has("4\u{a0}500") && history.has("id=\"earnings\""), "{}", history.html);
    assert!(!master.get("/m/history?filter=canceled").await.has(&format!("href=\"/m/orders/{CLOSED_BY_1}\"")));
    assert!(master.get("/m/history?filter=closed").await.has(&format!("href=\"/m/orders/{CLOSED_BY_1}\"")));
    let old = master.get(&format!("/m/orders/{CLOSED_BY_1}")).await;
    assert!(old.has("Закрыт") && !old.has("id=\"en-route\"") && !old.has("id=\"close\""), "a finished order has no next action");
    assert!(!app.master(&master_phone(2)).await.get("/m/history").await.has(&format!("href=\"/m/orders/{CLOSED_BY_1}\"")));

    let stats = master.get("/m/stats").await;
    assert!(stats.has("id=\"stats\"") && stats.has("До 10 заказов осталось 9"), "{}", stats.html);

    let offer_id = offer(&app, ELECTRICS_SEARCHING, 1);
    let home = master.get("/m").await;
    assert!(home.has("id=\"unread\""), "the badge: {}", home.html);
    let feed = master.get("/m/notifications").await;
    assert!(feed.has("Новое предложение заказа") && feed.has("#18"), "{}", feed.html);
    let note: i64 = scalar(&app, &format!("SELECT id FROM notifications_outbox WHERE master_id = 1 AND event = 'new_offer' AND payload LIKE '%\"offer_id\":{offer_id}%'"));
    let mut stranger = app.master(&master_phone(2)).await;
    assert_eq!(stranger.m_post(&format!("/m/notifications/{note}/read"), &[]).await.status, StatusCode::NOT_FOUND);
    let read = master.m_post(&format!("/m/notifications/{note}/read"), &[]).await;
    assert_eq!(read.location.as_deref(), Some("/m/notifications?ok=m_read"));
    assert!(scalar::<Option<i64>>(&app, &format!("SELECT read_at FROM notifications_outbox WHERE id = {note}")).is_some());

    let support = master.get("/m/support").await;
    assert!(support.has("Telegram @fs_support") && support.has("https://example.org/faq"), "{}", support.html);
}

/// The bell's count of new notifications on the home screen (0 when it shows none).
fn bell(home: &common::web::Page) -> i64 {
    home.html.split("id=\"unread\">").nth(1).map_or(0, |rest| rest.split('<').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn an_offer_that_lapsed_is_no_longer_new_in_the_feed() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(1)).await;
    let before = bell(&master.get("/m").await);
    let offer_id = offer(&app, ELECTRICS_SEARCHING, 1);
    assert_eq!(bell(&master.get("/m").await), before + 1, "a live offer is new");
    let item = |feed: &common::web::Page| {
        let at = feed.html.find(&format!("#{ELECTRICS_SEARCHING}<")).expect("the offer's notice in the feed");
        let start = feed.html[..at].rfind("<article").unwrap();
        feed.html[start..at].to_string()
    };
    assert!(item(&master.get("/m/notifications").await).contains("unread"), "shown as new while it lives");

    app.clock.advance(Duration::seconds(121));
    let now = app.clock.now();
    fieldservice::engine::tick(&app.db, now, fieldservice::engine::TickOptions { seed: 1, max_orders: 100 }).unwrap();
    assert_eq!(scalar::<String>(&app, &format!("SELECT state FROM offers WHERE id = {offer_id}")), "EXPIRED");
    let reoffered: i64 = scalar(&app, "SELECT COUNT(*) FROM offers WHERE master_id = 1 AND state = 'SENT'");
    assert_eq!(bell(&master.get("/m").await), before + reoffered, "the lapsed offer no longer counts");
    assert!(!item(&master.get("/m/notifications").await).contains("unread"), "nor is it shown as new");
}

#[tokio::test]
async fn every_screen_speaks_english_when_chosen() {
    let app = WebApp::start(t0()).await;
    offer(&app, ELECTRICS_SEARCHING, 1);
    let mut master = english(&app, &master_phone(1)).await;
    let home = master.get("/m").await;
    assert!(home.has("lang=\"en\"") && home.has("End shift") && home.has("Take a break") && home.has("New orders"), "{}", home.html);
    assert!(master.get("/m/offers").await.has("Electrics"));
    assert!(master.get("/m/orders").await.has("Active orders"));
    assert!(master.get("/m/history").await.has("Orders completed"));
    assert!(master.get("/m/stats").await.has("more orders to reach 10"));
    let feed = master.get("/m/notifications").await;
    assert!(feed.has("New order") && feed.has(" Mar "), "dates in the English short form (10 Mar 12:00): {}", feed.html);
    assert!(master.get("/m/support").await.has("FAQ: temporarily unavailable"));
    let mut anonymous = app.anonymous();
    anonymous.cookies.push("fs_lang=en".into());
    assert!(anonymous.get("/m").await.has("Master sign-in"));
    assert!(anonymous.get("/m/offline").await.has("Orders cannot be accepted"));
}

#[tokio::test]
async fn the_page_installs_as_an_app_and_works_offline_only_as_a_notice() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.anonymous();
    let manifest: serde_json::Value = serde_json::from_str(&browser.get("/m/manifest.webmanifest").await.html).unwrap();
    assert_eq!(manifest["start_url"], "/m/");
    assert_eq!(manifest["display"], "standalone");
    assert!(manifest["name"].as_str().unwrap().contains("Field Service"));
    let icons: Vec<&str> = manifest["icons"].as_array().unwrap().iter().map(|i| i["sizes"].as_str().unwrap()).collect();
    assert!(icons.contains(&"192x192") && icons.contains(&"512x512"));
    for icon in ["/static/m/icon.svg", "/static/m/icon-192.png", "/static/m/icon-512.png"] {
        assert_eq!(browser.get(icon).await.status, StatusCode::OK, "{icon}");
    }
    let worker = browser.get("/m/sw.js").await;
    assert_eq!(worker.status, StatusCode::OK);
    assert!(worker.has("/m/offline") && worker.has("navigate"), "{}", worker.html);
    let offline = browser.get("/m/offline").await;
    assert!(offline.has("Без связи заказы нельзя принять"), "{}", offline.html);
    let login = browser.get("/m").await;
    assert!(login.has("/m/manifest.webmanifest") && !login.has("style=\"") && !login.has("<script>"), "no inline styles or scripts");
}
