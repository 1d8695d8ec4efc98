//! The referral screens in a real browser: the master's /m/referral on a cheap phone (360×740) in Russian
//! and English — code, link, "share", the terms, the rewards — and the referral section of the staff
//! master card at 1280×800. Screenshots under target/screenshots/referral/.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;
use fieldservice::demo::{PASSWORD, master_phone};
use fieldservice::error::Error;
use serde_json::json;

fn master_id(app: &WebApp, n: usize) -> i64 {
    app.db.read(|c| c.query_row("SELECT id FROM masters WHERE phone = ?1", [master_phone(n)], |r| r.get(0)).map_err(Error::from)).unwrap()
}

/// Scrolls the element at `css` to the top of the screen (below the bar).
async fn scroll_to(window: &Window, css: &str) {
    window.execute("document.querySelector(arguments[0]).scrollIntoView({ block: 'start' }); window.scrollBy(0, -60); return true;", vec![json!(css)]).await;
}


async fn shoot_the_screen(phone: &Window, lang: &str) {
    phone.wait_for("#referral-code").await;
    phone.assert_no_horizontal_scroll().await;
    phone.screenshot(&format!("{lang}-1-code")).await;
    scroll_to(phone, "#referral-terms").await;
    phone.screenshot(&format!("{lang}-2-terms")).await;
    scroll_to(phone, "#referral-latest").await;
    phone.screenshot(&format!("{lang}-3-rewards")).await;
    phone.assert_clear_of_the_tabs("#referral-invitees").await;
    phone.screenshot(&format!("{lang}-4-invitees")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_referral_screen_on_a_small_phone_and_the_staff_card() {
    let app = WebApp::start(t0()).await;
    let Some(phone) = Window::open(&app, "referral", Viewport::SmallPhone).await else { return };
    // The invitation link opens the invite-code form, which carries the referral code on.
    phone.goto("/m/signup?ref=07557AE9").await;
    phone.wait_for("#referral-notice").await;
    phone.assert_no_horizontal_scroll().await;
    phone.screenshot("ru-0-invitation-link").await;
    phone.sign_in_master(&master_phone(2), PASSWORD).await;
    scroll_to(&phone, "#menu-referral").await;
    phone.screenshot("ru-0-menu").await;
    phone.tap("#menu-referral").await;
    shoot_the_screen(&phone, "ru").await;
    let code = phone.text_of("#referral-code").await;
    assert!(code.len() == 8 && code.chars().all(|c| c.is_ascii_hexdigit()), "{code}");
    assert!(phone.text_of("#invitation").await.contains(&format!("/m/signup?ref={code}")));
    // The script shows "share"; with no share sheet in headless Chromium it copies or selects the text.
    phone.tap("#share").await;
    phone
        .wait_until(
            "the invitation copied or selected for copying",
            "return document.activeElement.id === 'invitation' || document.querySelector('#share').textContent.trim() === 'Скопировано';",
            vec![],
        )
        .await;

    phone.goto("/lang/en?back=%2Fm%2Freferral").await;
    shoot_the_screen(&phone, "en").await;
    assert!(phone.text_of("#referral-virtual").await.contains("virtual"));
    phone.goto("/m/signup?ref=07557AE9").await;
    phone.wait_for("#referral-notice").await;
    phone.screenshot("en-0-invitation-link").await;

    let Some(desk) = Window::open(&app, "referral", Viewport::Staff).await else { return };
    desk.sign_in("admin").await;
    desk.goto(&format!("/masters/{}", master_id(&app, 2))).await;
    desk.wait_for("#referral").await;
    scroll_to(&desk, "#referral").await;
    desk.assert_no_horizontal_scroll().await;
    desk.screenshot("card-ru").await;
    desk.goto(&format!("/lang/en?back=%2Fmasters%2F{}", master_id(&app, 2))).await;
    desk.wait_for("#referral").await;
    scroll_to(&desk, "#referral").await;
    desk.screenshot("card-en").await;
    assert!(desk.text_of("#referral-invitees").await.contains("Соколов"));
}
