//! The browser tests' own smoke: headless Chromium signs in through the staff login form, sees the board,
//! switches the language, and a phone-sized screen shows a page without sideways scrolling.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;

#[tokio::test]
async fn a_dispatcher_signs_in_through_the_form_and_switches_the_board_to_english() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "staff_smoke", Viewport::Staff).await else { return };

    window.goto("/").await;
    window.wait_for("#login").await;
    assert!(window.path().await.starts_with("/login"), "an anonymous visitor is sent to the login form");
    window.screenshot("login").await;

    window.fill("#login", "logist").await;
    window.fill("#password", "demo").await;
    window.click("button[type=submit]").await;
    window.wait_for_text("logist · логист").await;
    assert_eq!(window.path().await, "/");
    assert!(window.text_of("header.top nav").await.contains("Заказы"), "the role's navigation is shown");

    window.click("header.top a.lang").await;
    window.wait_for_text("logist · dispatcher").await;
    assert_eq!(window.path().await, "/", "the language switch comes back to the same page");
    let nav = window.text_of("header.top nav").await;
    assert!(nav.contains("Board") && nav.contains("Orders"), "the navigation is in English: {nav}");
    window.screenshot("board").await;
}

#[tokio::test]
async fn the_status_page_fits_a_phone_screen() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "mobile_smoke", Viewport::Mobile).await else { return };

    window.goto("/status").await;
    window.wait_for_text("Field Service").await;
    let width = window.execute("return window.innerWidth;", vec![]).await;
    assert_eq!(width, 390, "the phone's screen is 390 CSS pixels wide");
    window.assert_no_horizontal_scroll().await;
    window.screenshot("status").await;
}
