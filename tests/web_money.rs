//! The money loop over HTTP on the demo data set: the master closes with "4 500", sees what he owes and
//! whom to pay, presses "I paid"; an admin approves; the order is CLOSED and can be the source of a
//! guarantee order. Also each page and /api/v1 route allowed and refused by role and city, another
//! master's commission "not found", CSRF on the forms, and refused input changing nothing.

mod common;

use common::dump::dump;
use common::samples::PNG;
use common::api::Api;
use common::t0;
use common::web::WebApp;
use fieldservice::demo::master_phone;
use fieldservice::money::format_rubles;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const WORKING_FOR_3: i64 = 8;

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str) -> T {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(fieldservice::error::Error::from)).unwrap()
}

fn exec(app: &WebApp, sql: &str) {
    app.db.write(|tx| tx.execute(sql, []).map(drop)).unwrap();
}

/// The database without what every request may touch.
fn state(app: &WebApp) -> String {
    dump(&app.db, &["sessions", "login_attempts"])
}

#[tokio::test]
async fn the_money_loop_from_close_to_closed_through_the_pages() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(3)).await;
    let close = Form::new().text("amount", "4 500").part("act", Part::bytes(PNG).file_name("act.png"));
    let closed = master.m_post_multipart(&format!("/m/orders/{WORKING_FOR_3}/close"), close).await;
    let commission: i64 = scalar(&app, "SELECT id FROM commissions WHERE order_id = 8");
    assert_eq!(closed.location, Some(format!("/m/finance/{commission}?ok=m_closed")), "{}", closed.html);
    assert_eq!(scalar::<i64>(&app, "SELECT total_sum_kop FROM orders WHERE id = 8"), 450_000);
    let amount: i64 = scalar(&app, "SELECT amount_kop FROM commissions WHERE order_id = 8");
    let rate: i64 = scalar(&app, "SELECT rate_percent FROM commissions WHERE order_id = 8");
    assert_eq!(amount, 450_000 * rate / 100);

    let pay = master.get(&format!("/m/finance/{commission}?ok=m_closed")).await;
    assert_eq!(pay.status, StatusCode::OK);
    let printed = format!("{}\u{a0}₽", format_rubles(amount));
    assert!(pay.has(&printed) && pay.has("****6789") && pay.has("+7*** *** ** 22") && pay.has("Комиссия #8 от"), "{}", pay.html);
    assert!(pay.has("id=\"deadline\"") && pay.has("class=\"countdown\"") && pay.has("id=\"i-paid\""), "{}", pay.html);
    assert!(master.get("/m/orders/8").await.has("id=\"to-pay\""), "the order in PAYMENT points to the payment");
    let home = master.get("/m").await;
    assert!(home.has("id=\"owed\"") && home.has(&format_rubles(amount)) && home.has("id=\"owed-badge\""), "{}", home.html);

    // "I paid" without the form's token changes nothing; with it the commission is REPORTED.
    let before = state(&app);
    let forged = master.post_raw(&format!("/m/finance/{commission}/paid"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(state(&app), before);
    let paid = master.m_post(&format!("/m/finance/{commission}/paid"), &[]).await;
    assert_eq!(paid.location, Some(format!("/m/finance/{commission}?ok=m_reported")));
    assert_eq!(scalar::<String>(&app, "SELECT status FROM commissions WHERE order_id = 8"), "REPORTED");

    let mut admin = app.staff("admin").await;
    let list = admin.get("/finance?status=REPORTED").await;
    assert!(list.has(&format!("/finance/{commission}")) && list.has("id=\"segment-REPORTED\""), "{}", list.html);
    let order_card = admin.get("/orders/8").await;
    assert!(order_card.has(&format!("href=\"/finance/{commission}\"")), "the order card links its commission");
    let card = admin.get(&format!("/finance/{commission}")).await;
    assert!(card.has("id=\"approve-submit\"") && card.has("id=\"reject-submit\"") && card.has(&format!("value=\"{}\"", format_rubles(amount))), "{}", card.html);

    // A bad amount is refused beside its field and changes nothing.
    let before = state(&app);
    let refused = admin.post(&format!("/finance/{commission}/approve"), &[("paid_amount", "12,345")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"paid_amount-error\"") && refused.has("value=\"12,345\""), "{}", refused.html);
    assert_eq!(state(&app), before);
    let approved = admin.post(&format!("/finance/{commission}/approve"), &[("paid_amount", "1 000")]).await;
    assert_eq!(approved.location, Some(format!("/finance/{commission}?ok=commission_approved_less")), "{}", approved.html);
    let card = admin.get(&format!("/finance/{commission}")).await;
    assert!(card.has("id=\"paid-less\"") && card.has("Оплата подтверждена") && !card.has("id=\"approve-submit\""), "{}", card.html);
    assert!(card.has("admin") && card.has("Отмечена как оплаченная → Оплата подтверждена"), "the history names the actor and the change: {}", card.html);
    assert_eq!(scalar::<String>(&app, "SELECT status FROM orders WHERE id = 8"), "CLOSED");
    assert_eq!(scalar::<i64>(&app, "SELECT paid_amount_kop FROM commissions WHERE order_id = 8"), 100_000);

    let home = master.get("/m").await;
    assert!(!home.has("id=\"owed\""), "nothing owed any more: {}", home.html);

    // D-23: his history and statistics show gross, the commission he paid and what he keeps.
    let history = master.get("/m/history?filter=closed").await;
    let (gross, paid, net) = (format_rubles(450_000), format_rubles(100_000), format_rubles(350_000));
    let row = history.html.split("data-order-id=\"8\"").nth(1).unwrap().split("</a>").next().unwrap();
    assert!(row.contains(&format!("{gross}\u{a0}₽")) && row.contains(&format!("− {paid}\u{a0}₽")) && row.contains(&format!("{net}\u{a0}₽</strong>")), "{row}");
    let stats = master.get("/m/stats").await;
    assert!(stats.has("id=\"stats-earnings\"") && stats.has(&format!("− {paid}\u{a0}₽")), "{}", stats.html);
    let api = Api::master(&app, 3).await.get("/api/v1/me/statistics").await;
    assert_eq!(api.0, StatusCode::OK);
    let totals = &api.1["earnings"];
    assert_eq!(totals["gross_kop"].as_i64().unwrap() - totals["commission_kop"].as_i64().unwrap() + totals["company_payment_kop"].as_i64().unwrap(), totals["net_kop"].as_i64().unwrap());
    assert!(api.1["month_earnings"]["net_kop"].as_i64().unwrap() >= 350_000, "{}", api.1);
    let guarantee = Api::staff(&app, "admin").await.post("/api/v1/orders/8/guarantee", json!({})).await;
    assert_eq!(guarantee.0, StatusCode::CREATED, "{:?}", guarantee.1);
}

#[tokio::test]
async fn pages_by_role_and_city_and_another_masters_commission_is_not_found() {
    let app = WebApp::start(t0()).await;
    let (commission, owner): (i64, i64) = (scalar(&app, "SELECT id FROM commissions WHERE status = 'WAIT_PAY' AND rejection_reason IS NULL"), scalar(&app, "SELECT master_id FROM commissions WHERE status = 'WAIT_PAY' AND rejection_reason IS NULL"));
    let mut logist = app.staff("logist").await;
    assert_eq!(logist.get("/finance").await.status, StatusCode::FORBIDDEN);
    assert_eq!(logist.get(&format!("/finance/{commission}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(logist.get("/settings/requisites").await.status, StatusCode::FORBIDDEN);
    let mut moscow = app.staff("moscow").await;
    assert_eq!(moscow.get(&format!("/finance/{commission}")).await.status, StatusCode::OK);
    assert_eq!(moscow.get("/settings/requisites").await.status, StatusCode::FORBIDDEN, "requisites are the global admin's");
    // Moved to Saint Petersburg only, the city admin no longer sees the Moscow commission.
    exec(&app, "UPDATE staff_cities SET city_id = (SELECT id FROM cities WHERE name = 'Санкт-Петербург') WHERE staff_id = (SELECT id FROM staff_users WHERE login = 'moscow')");
    assert_eq!(moscow.get(&format!("/finance/{commission}")).await.status, StatusCode::NOT_FOUND);
    let before = state(&app);
    assert_eq!(moscow.post(&format!("/finance/{commission}/approve"), &[]).await.status, StatusCode::NOT_FOUND);
    assert!(!moscow.get("/finance").await.has(&format!("/finance/{commission}")));
    assert_eq!(state(&app), before);

    let stranger_n = if owner == 1 { 2 } else { 1 };
    let mut stranger = app.master(&master_phone(stranger_n as usize)).await;
    assert_eq!(stranger.get(&format!("/m/finance/{commission}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(stranger.m_post(&format!("/m/finance/{commission}/paid"), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(state(&app), before);
    let api = Api::master(&app, stranger_n as usize).await;
    assert_eq!(api.get(&format!("/api/v1/me/commissions/{commission}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.post(&format!("/api/v1/me/commissions/{commission}/paid"), json!({})).await.0, StatusCode::NOT_FOUND);
    let (_, mine) = api.get("/api/v1/me/commissions").await;
    assert!(mine.as_array().unwrap().iter().all(|c| c["master_id"] == json!(stranger_n)));
}

#[tokio::test]
async fn the_api_reports_rejects_and_approves_and_refuses_by_role_and_city() {
    let app = WebApp::start(t0()).await;
    let commission: i64 = scalar(&app, "SELECT id FROM commissions WHERE status = 'WAIT_PAY' AND rejection_reason IS NULL");
    let owner: i64 = scalar(&app, "SELECT master_id FROM commissions WHERE status = 'WAIT_PAY' AND rejection_reason IS NULL");
    let master = Api::master(&app, owner as usize).await;
    let (status, owed) = master.get("/api/v1/me/owed").await;
    assert_eq!((status, owed["count"].as_i64()), (StatusCode::OK, Some(1)));
    let (_, awaiting) = master.get("/api/v1/me/commissions?tab=awaiting").await;
    assert_eq!(awaiting[0]["id"], json!(commission));
    assert_eq!(awaiting[0]["pay_to"]["card_number_last4"], json!("6789"));
    let (status, reported) = master.post(&format!("/api/v1/me/commissions/{commission}/paid"), json!({})).await;
    assert_eq!((status, reported["status"].as_str()), (StatusCode::OK, Some("REPORTED")));

    let logist = Api::staff(&app, "logist").await;
    assert_eq!(logist.get("/api/v1/commissions").await.0, StatusCode::FORBIDDEN);
    assert_eq!(logist.post(&format!("/api/v1/commissions/{commission}/approve"), json!({})).await.0, StatusCode::FORBIDDEN);
    let moscow = Api::staff(&app, "moscow").await;
    assert_eq!(moscow.put_requisites(json!({"methods": ["cash"]})).await.0, StatusCode::FORBIDDEN);
    let (status, list) = moscow.get("/api/v1/commissions?status=REPORTED").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["items"].as_array().unwrap().iter().any(|c| c["id"] == json!(commission)));

    let admin = Api::staff(&app, "admin").await;
    let before = state(&app);
    let (status, error) = admin.post(&format!("/api/v1/commissions/{commission}/reject"), json!({"reason": "no"})).await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
    let (status, error) = admin.post(&format!("/api/v1/commissions/{commission}/approve"), json!({"paid_amount": "-5"})).await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("paid_amount")));
    assert_eq!(state(&app), before, "refused input changes nothing");
    let (status, rejected) = admin.post(&format!("/api/v1/commissions/{commission}/reject"), json!({"reason": "wrong amount"})).await;
    assert_eq!((status, rejected["status"].as_str()), (StatusCode::OK, Some("WAIT_PAY")));
    let (_, feed) = master.get("/api/v1/me/notifications").await;
    assert!(feed.to_string().contains("wrong amount"), "the master is told why: {feed}");
    let (status, approved) = admin.post(&format!("/api/v1/commissions/{commission}/approve"), json!({"paid_amount": "1 600,50 ₽"})).await;
    assert_eq!((status, approved["paid_amount_kop"].as_i64()), (StatusCode::OK, Some(160_050)));
    let (status, card) = admin.get(&format!("/api/v1/commissions/{commission}")).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = card["history"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["commission_created", "commission_reported", "commission_rejected", "commission_approved"]);
    let order: i64 = scalar(&app, &format!("SELECT order_id FROM commissions WHERE id = {commission}"));
    assert_eq!(scalar::<String>(&app, &format!("SELECT status FROM orders WHERE id = {order}")), "CLOSED");
    assert_eq!(admin.get("/api/v1/commissions/999999").await.0, StatusCode::NOT_FOUND);

    // Requisites: read, refused whole, saved; the next commission snapshots them.
    let (status, requisites) = admin.get("/api/v1/settings/requisites").await;
    assert_eq!((status, requisites["card_number"].as_str()), (StatusCode::OK, Some("2200700123456789")));
    let before = state(&app);
    let (status, error) = admin.put_requisites(json!({"methods": ["card"], "card_number": "1234"})).await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("card_number")));
    assert_eq!(state(&app), before);
    let (status, saved) = admin.put_requisites(json!({"methods": ["sbp"], "sbp_phone": "8 (999) 555-11-00", "sbp_bank": "Сбер"})).await;
    assert_eq!((status, saved["sbp_phone"].as_str()), (StatusCode::OK, Some("+79995551100")));
    let (_, unchanged) = master.get(&format!("/api/v1/me/commissions/{commission}")).await;
    assert_eq!(unchanged["pay_to"]["card_number_last4"], json!("6789"), "an existing snapshot never changes");
}

#[tokio::test]
async fn commission_settings_are_on_the_settings_page_with_the_threshold_in_roubles() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let page = admin.get("/settings").await;
    assert!(page.has("id=\"commission_rate_percent\"") && page.has("value=\"7\u{a0}000\""), "{}", page.html);
    let mut pairs = form_inputs(&page.html);
    let set = |pairs: &mut Vec<(String, String)>, key: &str, value: &str| {
        pairs.iter_mut().filter(|(k, _)| k == key).for_each(|(_, v)| *v = value.to_string());
    };
    set(&mut pairs, "commission_high_threshold_kop", "8 500,50");
    set(&mut pairs, "commission_rate_percent", "45");
    let fields: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let saved = admin.post_raw("/settings", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let settings = app.db.read(fieldservice::settings::Settings::load).unwrap();
    assert_eq!((settings.commission_high_threshold_kop, settings.commission_rate_percent), (850_050, 45));

    let before = state(&app);
    set(&mut pairs, "commission_high_threshold_kop", "много");
    set(&mut pairs, "commission_rate_percent", "30");
    let fields: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = admin.post_raw("/settings", &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"commission_high_threshold_kop-error\""), "{}", refused.html);
    assert_eq!(state(&app), before, "one bad value saves nothing");
}

/// Every input of a page's forms as the browser would send it (unticked checkboxes left out).
fn form_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input").skip(1).filter_map(|tag| {
        let tag = tag.split('>').next()?;
        let attr = |name: &str| tag.split(&format!(" {name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).map(str::to_string);
        if tag.contains("type=\"checkbox\"") && !tag.contains(" checked") {
            return None;
        }
        Some((attr("name")?, attr("value").unwrap_or_default().replace("&#x20;", " ")))
    }).collect()
}

impl Api {
    async fn put_requisites(&self, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, "/api/v1/settings/requisites", Some(body)).await
    }
}


#[tokio::test]
async fn a_master_sees_the_current_requisites_in_full_on_his_page_and_in_the_api() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(5)).await;
    let finance = master.get("/m/finance").await;
    assert!(finance.has("href=\"/m/requisites\""), "the finance screen leads to the requisites: {}", finance.html);
    let page = master.get("/m/requisites").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("2200 7001 2345 6789") && page.has("+79990001122") && page.has("src=\"/m/requisites/qr\""), "{}", page.html);
    assert!(page.has("#&#60;order_id&#62;"), "the comment template is shown as text: {}", page.html);
    let qr = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().get(format!("{}/m/requisites/qr", app.base)).send().await.unwrap();
    assert_eq!(qr.status(), StatusCode::SEE_OTHER, "signed out: to the login");

    let api = Api::master(&app, 5).await;
    let (status, requisites) = api.get("/api/v1/me/requisites").await;
    assert_eq!((status, requisites["card_number"].as_str(), requisites["sbp_qr"].as_bool()), (StatusCode::OK, Some("2200700123456789"), Some(true)));

    // The owner removes the QR: the page stops showing it and the image is gone.
    exec(&app, "DELETE FROM settings WHERE key = 'owner_pay_sbp_qr'");
    assert!(!master.get("/m/requisites").await.has("/m/requisites/qr"));
    assert_eq!(master.get("/m/requisites/qr").await.status, StatusCode::NOT_FOUND);
}
