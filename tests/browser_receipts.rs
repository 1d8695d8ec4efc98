//! The SBP QR and a receipt in a real browser: on a cheap phone (360×740) a master closes his job, sees the
//! QR large enough to scan from another phone, and uploads a photo of his transfer; an admin sees it on
//! the commission card at 1280×800. Russian and English. Screenshots under target/screenshots/receipts/.

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

/// The QR image has loaded and is drawn at least 240 px wide.
async fn qr_is_scannable(window: &Window) {
    window
        .wait_until("the QR image to load", "const img = document.querySelector('#pay-qr img'); return img.complete && img.naturalWidth > 0;", vec![])
        .await;
    let width = window.execute("return document.querySelector('#pay-qr img').getBoundingClientRect().width;", vec![]).await;
    assert!(width.as_f64().unwrap() >= 240.0, "the QR is drawn {width} px wide");
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_sees_the_qr_and_uploads_a_receipt_and_the_admin_sees_it() {
    let app = WebApp::start(t0()).await;
    let Some(phone) = Window::open(&app, "receipts", Viewport::SmallPhone).await else { return };
    phone.sign_in_master(&master_phone(3), PASSWORD).await;
    phone.goto("/m/orders/8/close").await;
    phone.fill("#amount", "4 500").await;
    let files = tempfile::tempdir().unwrap();
    phone.attach("#act", &browser::png_file(files.path(), "act.png")).await;
    phone.tap("#close-submit").await;
    phone.wait_for("#i-paid").await;
    let commission: i64 = scalar(&app, "SELECT id FROM commissions WHERE order_id = 8");
    qr_is_scannable(&phone).await;
    phone.assert_no_horizontal_scroll().await;
    phone.execute("document.querySelector('#pay-qr').scrollIntoView({ block: 'center' }); return true;", vec![]).await;
    phone.screenshot("1-pay-qr-ru").await;

    phone.attach("#receipt", &browser::png_file(files.path(), "перевод.png")).await;
    phone.tap("#receipt-submit").await;
    phone.wait_for(".receipts li").await;
    assert!(phone.text_of("#receipts").await.contains("перевод.png"));
    assert_eq!(scalar::<i64>(&app, &format!("SELECT has_checks FROM commissions WHERE id = {commission}")), 1);
    phone.assert_no_horizontal_scroll().await;
    phone.assert_clear_of_the_tabs("#receipt-submit").await;
    phone.screenshot("2-receipt-uploaded-ru").await;

    phone.goto(&format!("/lang/en?back=/m/finance/{commission}")).await;
    phone.wait_for("#receipts").await;
    assert!(phone.text_of("#receipts-title").await.contains("Payment receipts"), "the card speaks English");
    qr_is_scannable(&phone).await;
    phone.assert_no_horizontal_scroll().await;
    phone.execute("document.querySelector('#pay-qr').scrollIntoView({ block: 'center' }); return true;", vec![]).await;
    phone.screenshot("3-pay-qr-en").await;
    phone.execute("window.scrollTo(0, document.body.scrollHeight); return true;", vec![]).await;
    phone.screenshot("4-receipts-en").await;

    let Some(desk) = Window::open(&app, "receipts", Viewport::Staff).await else { return };
    desk.sign_in("admin").await;
    desk.goto(&format!("/finance/{commission}")).await;
    desk.wait_for(".receipts li a").await;
    desk.wait_until("the receipt's thumbnail to load", "const img = document.querySelector('.receipts img.thumb'); return img.complete && img.naturalWidth > 0;", vec![]).await;
    qr_is_scannable(&desk).await;
    desk.assert_no_horizontal_scroll().await;
    desk.execute("document.querySelector('#receipts').scrollIntoView({ block: 'center' }); return true;", vec![]).await;
    desk.screenshot("5-staff-card-ru").await;
    desk.goto(&format!("/lang/en?back=/finance/{commission}")).await;
    desk.wait_for(".receipts li a").await;
    desk.execute("document.querySelector('#receipts').scrollIntoView({ block: 'center' }); return true;", vec![]).await;
    desk.screenshot("6-staff-card-en").await;
    desk.goto("/settings/requisites").await;
    desk.wait_for("#current-qr img").await;
    desk.execute("document.querySelector('#qr').scrollIntoView({ block: 'start' }); return true;", vec![]).await;
    desk.screenshot("7-requisites-qr-en").await;
    desk.goto("/lang/ru?back=/settings/requisites").await;
    desk.wait_for("#current-qr img").await;
    desk.execute("document.querySelector('#qr').scrollIntoView({ block: 'start' }); return true;", vec![]).await;
    desk.screenshot("8-requisites-qr-ru").await;
}
