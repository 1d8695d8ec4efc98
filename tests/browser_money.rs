//! The money loop in a real browser: a master closes his job with "4 500" on the phone (390×844), sees
//! the amount, whom to pay and the deadline, and presses "I paid"; an admin approves it at 1280×800; the
//! order is CLOSED and the master's home shows nothing owed. Screenshots under target/screenshots/money/.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;
use fieldservice::demo::{PASSWORD, master_phone};
use fieldservice::error::Error;

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str) -> T {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(Error::from)).unwrap()
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_pays_on_the_phone_and_an_admin_approves_on_the_desk() {
    let app = WebApp::start(t0()).await;
    let Some(phone) = Window::open(&app, "money", Viewport::Mobile).await else { return };
    phone.sign_in_master(&master_phone(3), PASSWORD).await;
    phone.goto("/m/orders/8/close").await;
    phone.fill("#amount", "4 500").await;
    let files = tempfile::tempdir().unwrap();
    phone.attach("#act", &browser::png_file(files.path(), "act.png")).await;
    phone.tap("#close-submit").await;
    phone.wait_for("#i-paid").await;
    let amount: i64 = scalar(&app, "SELECT amount_kop FROM commissions WHERE order_id = 8");
    let printed = fieldservice::money::format_rubles(amount).replace('\u{a0}', " ");
    let shown = phone.text_of("#commission-amount").await.replace('\u{a0}', " ");
    assert!(shown.contains(&printed), "{shown} shows {printed}");
    assert!(phone.text_of("#pay-card").await.contains("****6789"));
    phone.assert_no_horizontal_scroll().await;
    phone.assert_clear_of_the_tabs("#i-paid").await;
    phone.screenshot("1-pay-screen").await;
    phone.tap("#i-paid").await;
    phone.wait_for("#reported").await;
    phone.goto("/m").await;
    phone.wait_for("#owed").await;
    phone.assert_no_horizontal_scroll().await;
    phone.screenshot("2-home-owes").await;

    let Some(desk) = Window::open(&app, "money", Viewport::Staff).await else { return };
    desk.sign_in("admin").await;
    desk.goto("/finance?status=REPORTED").await;
    desk.assert_no_horizontal_scroll().await;
    desk.screenshot("3-finance-reported").await;
    let commission: i64 = scalar(&app, "SELECT id FROM commissions WHERE order_id = 8");
    desk.click(&format!("a[href='/finance/{commission}']")).await;
    desk.wait_for("#approve-submit").await;
    desk.screenshot("4-commission-card").await;
    desk.click("#approve-submit").await;
    desk.wait_for("#commission-paid").await;
    desk.assert_no_horizontal_scroll().await;
    desk.screenshot("5-approved").await;
    assert_eq!(scalar::<String>(&app, "SELECT status FROM orders WHERE id = 8"), "CLOSED");
    desk.goto("/orders/8").await;
    desk.wait_for("#order-commission").await;

    phone.goto("/m").await;
    phone.wait_for("#logout").await;
    assert!(phone.execute("return document.querySelector('#owed') === null;", vec![]).await.as_bool().unwrap(), "nothing owed");
}

/// D-23 on a cheap phone: the history and the statistics show gross, commission and net; and the current
/// requisites screen — in both languages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_sees_what_he_keeps_in_history_and_statistics() {
    let app = WebApp::start(t0()).await;
    let Some(phone) = Window::open(&app, "money", Viewport::SmallPhone).await else { return };
    // Master 1 closed the demo's first order and did its guarantee visit's source job.
    phone.sign_in_master(&master_phone(1), PASSWORD).await;
    for lang in ["ru", "en"] {
        phone.goto(&format!("/lang/{lang}?back=%2Fm%2Fhistory%3Ffilter%3Dclosed")).await;
        phone.wait_for("#earnings").await;
        phone.assert_no_horizontal_scroll().await;
        phone.screenshot(&format!("6-history-{lang}")).await;
        phone.goto("/m/stats").await;
        phone.wait_for("#stats-earnings").await;
        phone.assert_no_horizontal_scroll().await;
        phone.assert_clear_of_the_tabs("#motivation").await;
        phone.screenshot(&format!("7-stats-{lang}")).await;
        if lang == "en" {
            let net = phone.text_of("#stats-earnings tr.net").await;
            assert!(net.contains("Net") && net.contains('₽'), "{net}");
        }
        phone.goto("/m/requisites").await;
        phone.wait_for("#requisites-qr img").await;
        phone.assert_no_horizontal_scroll().await;
        phone.screenshot(&format!("8-requisites-{lang}")).await;
    }
}
