//! Web Push on a 390×844 phone in real Chromium (issue 11 §1): the home screen's "turn on notifications"
//! step in Russian and English, the tap (headless Chromium has no push service, so the page may only
//! report that it could not subscribe), a subscription injected through the page's own route, after
//! which the server renders the step hidden; the iPhone guidance in Support; the staff master card's push section.
//! Screenshots under target/screenshots/push/.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::push_service::{Device, app_with_push};
use common::t0;
use fieldservice::demo::{PASSWORD, master_phone};
use serde_json::json;

async fn scroll_to(window: &Window, css: &str) {
    window.execute("document.querySelector(arguments[0]).scrollIntoView({ block: 'center' }); return true;", vec![json!(css)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enable_step_on_a_phone_and_the_push_section_of_the_master_card() {
    let (app, _) = app_with_push(t0()).await;
    let Some(phone) = Window::open(&app, "push", Viewport::Mobile).await else { return };
    phone.sign_in_master(&master_phone(1), PASSWORD).await;
    phone.wait_until("the enable step shown", "return !document.querySelector('#push-enable').hidden;", vec![]).await;
    assert!(phone.text_of("#push-enable").await.contains("Включить уведомления"));
    phone.assert_no_horizontal_scroll().await;
    phone.screenshot("ru-1-enable-step").await;

    // The tap asks for permission and subscribes; headless Chromium has no push service, so whichever way
    // it ends, the page says so.
    phone.tap("#push-enable-button").await;
    phone
        .wait_until(
            "the tap's outcome shown",
            "return ['#push-enabled', '#push-failed', '#push-denied'].some(function (id) { return !document.querySelector(id).hidden; });",
            vec![],
        )
        .await;
    phone.screenshot("ru-2-after-tap").await;

    phone.goto("/lang/en?back=%2Fm").await;
    phone.wait_for("#push-enable").await;
    phone.execute("document.querySelector('#push-enable').hidden = false; document.querySelector('#push-enable-button').hidden = false; ['#push-failed', '#push-denied'].forEach(function (id) { document.querySelector(id).hidden = true; }); return true;", vec![]).await;
    assert!(phone.text_of("#push-enable").await.contains("Turn on notifications"));
    phone.screenshot("en-1-enable-step").await;

    // A subscription through the page's own route (as m.js sends it): the step is gone on the next load.
    let sent = phone.subscribe_through_page(&Device::new("http://127.0.0.1:9/push/browser".into()).json()).await;
    assert_eq!(sent, json!(204));
    // The server now renders the step hidden; the page shows it again only on a browser that itself
    // has no subscription (this headless one has none: the injected endpoint is not its own).
    let home = phone.execute("var xhr = new XMLHttpRequest(); xhr.open('GET', '/m', false); xhr.send(); return xhr.responseText;", vec![]).await;
    let home = home.as_str().unwrap();
    let at = home.find("id=\"push-enable\"").unwrap();
    assert!(home[at..].split('>').next().unwrap().contains("hidden"), "subscribed: rendered hidden");

    phone.goto("/m/support").await;
    scroll_to(&phone, "#iphone").await;
    assert!(phone.text_of("#iphone").await.contains("Home Screen"));
    phone.screenshot("en-3-support-iphone").await;
    phone.goto("/lang/ru?back=%2Fm%2Fsupport").await;
    scroll_to(&phone, "#iphone").await;
    assert!(phone.text_of("#iphone").await.contains("«Домой»"));
    phone.screenshot("ru-3-support-iphone").await;

    let Some(desk) = Window::open(&app, "push", Viewport::Staff).await else { return };
    desk.sign_in("admin").await;
    desk.goto("/masters/1").await;
    desk.wait_for("#push").await;
    scroll_to(&desk, "#push").await;
    desk.assert_no_horizontal_scroll().await;
    desk.screenshot("card-ru").await;
    desk.goto("/lang/en?back=%2Fmasters%2F1").await;
    scroll_to(&desk, "#push").await;
    assert!(desk.text_of("#push").await.contains("Devices"));
    desk.screenshot("card-en").await;
    desk.goto("/orders/18").await;
    scroll_to(&desk, "#candidates").await;
    desk.screenshot("candidates-en").await;
}
