//! A master's phone in a real browser (issue 5): he signs up through an invite, is approved, goes on shift,
//! receives an offer live, accepts it and works the order through to the close with the act's photo; then
//! he loses a race for another order and is told it is already taken.

mod browser;
mod common;

use browser::{StaffSession, Viewport, Window};
use common::t0;
use common::web::WebApp;
use fieldservice::clock::Clock;
use fieldservice::domain::{Category, CityId, DistrictId, MasterId, OrderId};
use fieldservice::error::Error;
use fieldservice::offers::Offer;
use fieldservice::orders::{self, NewOrder};
use fieldservice::signup::{self, Invite};
use fieldservice::staff::{self, Staff};
use serde_json::json;

const PHONE: &str = "+79161234567";
const PASSWORD: &str = "секретный пароль";
/// Only the new master does appliances in Зеленоградский, so the scheduler's offer is his; in
/// Северо-Западный Соколов (demo master 7) does them too, so both can be offered the same order there.
const HIS_DISTRICT: &str = "Зеленоградский";
const SHARED_DISTRICT: &str = "Северо-Западный";
const RIVAL: usize = 7;

fn moscow(app: &WebApp) -> CityId {
    app.db.read(|c| c.query_row("SELECT id FROM cities WHERE name = 'Москва'", [], |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn district(app: &WebApp, city: CityId, name: &str) -> DistrictId {
    app.db
        .read(|c| c.query_row("SELECT id FROM districts WHERE city_id = ?1 AND name = ?2", rusqlite::params![city, name], |r| r.get(0)).map_err(Error::from))
        .unwrap()
}

fn master_by_phone(app: &WebApp, phone: &str) -> MasterId {
    app.db.read(|c| c.query_row("SELECT id FROM masters WHERE phone = ?1", [phone], |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn staff_member(tx: &rusqlite::Connection, login: &str) -> Result<Staff, Error> {
    let id: i64 = tx.query_row("SELECT id FROM staff_users WHERE login = ?1", [login], |r| r.get(0))?;
    Ok(staff::load_active(tx, id)?.expect("an active demo staff member"))
}

/// A Moscow invite issued by the global admin through the rules.
fn invite(app: &WebApp, city: CityId) -> Invite {
    let now = app.clock.now();
    app.db.write(|tx| signup::create_invite(tx, now, &staff_member(tx, "admin")?, city, 72, Some("браузерный тест"))).unwrap()
}

/// An appliances order in `district`, created by the logist through the rules: SEARCHING.
fn appliances_order(app: &WebApp, city: CityId, district: DistrictId, house: &str) -> OrderId {
    let now = app.clock.now();
    let form = NewOrder {
        city_id: city,
        district_id: Some(district),
        house: Some(house.into()),
        client_name: Some("Анна Белова".into()),
        client_phone: "+79035550101".into(),
        category: Some(Category::Appliances),
        description: Some("Стиральная машина не сливает воду".into()),
        slot: Some("ASAP".into()),
        ..NewOrder::default()
    };
    app.db.write(|tx| orders::create(tx, now, &staff_member(tx, "logist")?, &form)).unwrap().id
}

/// The logist offers `order` to `master` by hand.
fn manual_offer(app: &WebApp, order: OrderId, master: MasterId) -> Offer {
    let now = app.clock.now();
    app.db.write(|tx| fieldservice::offers::manual_offer(tx, now, &staff_member(tx, "logist")?, order, master, true)).unwrap()
}

fn order_status(app: &WebApp, order: OrderId) -> String {
    app.db.read(|c| c.query_row("SELECT status FROM orders WHERE id = ?1", [order], |r| r.get(0)).map_err(Error::from)).unwrap()
}

/// Fills the sign-up wizard step by step, as a master on his phone would, and sends it.
async fn sign_up(window: &Window, token: &str, districts: &[DistrictId], files: &std::path::Path) {
    window.goto(&format!("/m/invite/{token}")).await;
    window.wait_for("#step-1.current").await;
    window.tap("#pdn_consent").await;
    window.tap("#next").await;

    window.wait_for("#step-2.current").await;
    window.fill("#last_name", "Орлов").await;
    window.fill("#first_name", "Глеб").await;
    window.fill("#middle_name", "Андреевич").await;
    window.tap("#next").await;

    window.wait_for("#step-3.current").await;
    window.fill("#phone", PHONE).await;
    window.fill("#password", PASSWORD).await;
    window.tap("#next").await;

    window.wait_for("#step-4.current").await;
    for district in districts {
        window.tap(&format!("#district_ids-{district}")).await;
    }
    window.tap("#next").await;

    window.wait_for("#step-5.current").await;
    window.tap("#has_vehicle-no").await;
    window.tap("#skills-APPLIANCES").await;
    window.tap("#next").await;

    window.wait_for("#step-6.current").await;
    window.attach("#passport", &browser::png_file(files, "passport.png")).await;
    window.attach("#selfie", &browser::png_file(files, "selfie.png")).await;
    window.tap("#next").await;

    window.wait_for("#step-7.current").await;
    window.select("#payout_method", "CARD").await;
    window.fill("#payout_data", "2200 1234 5678 9010").await;
    window.tap("#next").await;

    window.wait_for("#step-8.current").await;
    window.tap("#next").await;

    window.wait_for("#step-9.current").await;
    let summary = window.text_of("#summary").await;
    assert!(summary.contains("Орлов") && summary.contains("passport.png") && summary.contains("*9010"), "the summary repeats the answers:\n{summary}");
    window.assert_no_horizontal_scroll().await;
    window.screenshot("signup_summary").await;
    window.tap("#signup-submit").await;
    window.wait_for("#moderation").await;
}

#[tokio::test]
async fn a_master_signs_up_works_an_offer_through_to_the_close_and_loses_a_race() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "master", Viewport::Mobile).await else { return };
    let city = moscow(&app);
    let (his, shared) = (district(&app, city, HIS_DISTRICT), district(&app, city, SHARED_DISTRICT));
    let files = tempfile::tempdir().unwrap();

    // Sign-up through the invite, then the admin's approval through the API.
    let invite = invite(&app, city);
    sign_up(&window, &invite.token, &[his, shared], files.path()).await;
    let master = master_by_phone(&app, PHONE);
    assert!(window.text_of("#moderation").await.contains("на модерации"), "a new master is signed in and waits for moderation");
    let can_go_on_shift = window.execute("return document.getElementById('shift-on') !== null;", vec![]).await;
    assert_eq!(can_go_on_shift, json!(false), "no shift before the approval");
    let admin = StaffSession::sign_in(&app, "admin").await;
    let (status, card) = admin.post(&format!("/api/v1/masters/{master}/approve")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "the admin approves: {card}");

    // On shift, waiting for offers.
    window.goto("/m").await;
    window.tap("#shift-on").await;
    window.wait_for("#shift-off").await;
    window.wait_for_text("Смена включена.").await;
    window.goto("/m/offers").await;
    window.wait_for("#offers #no-offers").await;
    window.mark_page().await;

    // The scheduler's offer arrives without a reload.
    let order = appliances_order(&app, city, his, "15");
    let report = browser::tick(&app);
    assert_eq!(common::sent_to(&report, order), Some(master), "the scheduler offers the order to the only fitting master");
    window.wait_for("#offers [data-offer-id]").await;
    let text = window.text_of("#offers").await;
    assert!(text.contains(&format!("#{order}")) && text.contains("Бытовая техника"), "the list shows the offer:\n{text}");
    window.assert_not_reloaded().await;
    window.assert_no_horizontal_scroll().await;
    window.screenshot("offer_list").await;

    // The card, the accept and the work.
    window.tap("#offers a.offer").await;
    window.wait_for("#accept").await;
    let card = window.text_of("main").await;
    assert!(card.contains(HIS_DISTRICT) && card.contains("Стиральная машина"), "the card shows the job:\n{card}");
    assert!(!card.contains("Анна Белова") && !card.contains("+79035550101"), "the card hides the client until the accept");
    window.assert_no_horizontal_scroll().await;
    window.screenshot("offer_card").await;
    window.tap("#accept").await;
    window.wait_for("#en-route").await;
    window.wait_for_text("Заказ ваш.").await;
    assert!(window.text_of("main").await.contains("Анна Белова"), "the accepted order shows the client");
    assert_eq!(order_status(&app, order), "ASSIGNED");
    window.tap("#en-route").await;
    window.wait_for("#on-site").await;
    assert_eq!(order_status(&app, order), "EN_ROUTE");
    window.tap("#on-site").await;
    window.wait_for("#close").await;
    assert_eq!(order_status(&app, order), "WORKING");
    window.tap("#close").await;
    window.fill("#amount", "4 500").await;
    window.attach("#act", &browser::png_file(files.path(), "act.png")).await;
    window.assert_no_horizontal_scroll().await;
    window.screenshot("close_form").await;
    window.tap("#close-submit").await;
    window.wait_for_text("Заказ закрыт!").await;
    let commission: i64 = app.db.read(|c| c.query_row("SELECT id FROM commissions WHERE order_id = ?1", [order], |r| r.get(0)).map_err(Error::from)).unwrap();
    assert_eq!(window.path().await, format!("/m/finance/{commission}?ok=m_closed"), "on to what he owes");
    let total: i64 = app.db.read(|c| c.query_row("SELECT total_sum_kop FROM orders WHERE id = ?1", [order], |r| r.get(0)).map_err(Error::from)).unwrap();
    assert_eq!((order_status(&app, order).as_str(), total), ("PAYMENT", 450_000));
    window.screenshot("closed").await;

    // A race: the logist offers another order to him and to Соколов; Соколов accepts first through the API.
    window.goto("/m/offers").await;
    window.wait_for("#offers #no-offers").await;
    window.mark_page().await;
    let contested = appliances_order(&app, city, shared, "3");
    let his_offer = manual_offer(&app, contested, master);
    let rival = master_by_phone(&app, &fieldservice::demo::master_phone(RIVAL));
    let rival_offer = manual_offer(&app, contested, rival);
    let his_card = format!("#offers a[data-offer-id='{}']", his_offer.id);
    window.wait_for(&his_card).await;
    window.assert_not_reloaded().await;
    window.tap(&his_card).await;
    window.wait_for("#accept").await;
    let token = browser::master_token(&app, &fieldservice::demo::master_phone(RIVAL), fieldservice::demo::PASSWORD).await;
    let (status, body) = browser::master_post(&app, &token, &format!("/api/v1/me/offers/{}/accept", rival_offer.id)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "Соколов accepts first: {body}");
    window.tap("#accept").await;
    window.wait_for("#message").await;
    let message = window.text_of("#message").await;
    assert_eq!(message, "Заказ уже взят другим мастером");
    let accept_left = window.execute("return document.getElementById('accept') !== null;", vec![]).await;
    assert_eq!(accept_left, json!(false), "no accept button is left on the refused card");
    let assigned: Option<MasterId> =
        app.db.read(|c| c.query_row("SELECT assigned_master_id FROM orders WHERE id = ?1", [contested], |r| r.get(0)).map_err(Error::from)).unwrap();
    assert_eq!(assigned, Some(rival));
    window.screenshot("already_taken").await;
}
