//! The exports page in a real browser at 1280×800, in Russian and English: the page as it opens (from the
//! administration menu), and a refused custom range shown beside its field. Screenshots under
//! target/screenshots/exports/.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exports_page_at_the_desk_in_both_languages() {
    let app = WebApp::start(t0()).await;
    let Some(desk) = Window::open(&app, "exports", Viewport::Staff).await else { return };
    desk.sign_in("admin").await;
    for lang in ["ru", "en"] {
        desk.goto(&format!("/lang/{lang}?back=%2F")).await;
        desk.click("#nav-admin summary").await;
        desk.wait_for("#nav-admin a[href='/exports']").await;
        desk.screenshot(&format!("{lang}-0-menu")).await;
        desk.click("#nav-admin a[href='/exports']").await;
        desk.wait_for("#export-form").await;
        assert_eq!(desk.path().await, "/exports");
        desk.assert_no_horizontal_scroll().await;
        desk.screenshot(&format!("{lang}-1-page")).await;
        desk.click("#export-commissions").await;
        desk.click("#format-xlsx").await;
        desk.fill("#from", "16.09.2025").await;
        desk.fill("#to", "2025-09-14").await;
        // Enter in a date field asks for the typed range (a download of "today" would leave the page as it was).
        desk.find("#to").await.send_keys("\u{e007}").await.unwrap();
        desk.wait_for("#to-error").await;
        assert!(desk.execute("return document.querySelector('#export-commissions').checked && document.querySelector('#format-xlsx').checked;", vec![]).await.as_bool().unwrap(), "the choices are kept");
        desk.assert_no_horizontal_scroll().await;
        desk.screenshot(&format!("{lang}-2-refused-range")).await;
    }
}
