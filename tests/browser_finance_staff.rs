//! The staff finance pages in a real browser at 1280×800, in Russian and English: the list grouped by period
//! with its filters, a filtered list, the bulk approval preview, the commission card with the master's block
//! and the block form, and the overdue alert in the feed. Screenshots under target/screenshots/finance_staff/.

mod browser;
mod common;

use browser::{Viewport, Window};
use chrono::Duration;
use common::t0;
use common::web::WebApp;
use fieldservice::db::ms;
use fieldservice::error::Error;
use fieldservice::money::watchdogs;

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str) -> T {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(Error::from)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finance_pages_at_the_desk_in_both_languages() {
    let app = WebApp::start(t0()).await;
    // Spread the approved commissions over today, yesterday and two months ago, and let the one unpaid commission run late.
    let offsets = [0, 1, 60];
    app.db
        .write(|tx| {
            let ids: Vec<i64> = tx.prepare("SELECT id FROM commissions WHERE status = 'APPROVED' ORDER BY id")?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            for (i, id) in ids.iter().enumerate() {
                tx.execute("UPDATE commissions SET created_at = ?2 WHERE id = ?1", [*id, ms(t0() - Duration::days(offsets[i % offsets.len()]) - Duration::hours(1))])?;
            }
            // The one of yesterday is reported again: bulk approval over 3 days has it to show.
            tx.execute("UPDATE commissions SET status = 'REPORTED', paid_amount_kop = NULL, paid_approved_at = NULL, is_paid = 0 WHERE id = ?1", [ids[1]])?;
            Ok::<_, Error>(())
        })
        .unwrap();
    let late: i64 = scalar(&app, "SELECT id FROM commissions WHERE status = 'WAIT_PAY' ORDER BY id LIMIT 1");
    let deadline: i64 = scalar(&app, &format!("SELECT deadline_at FROM commissions WHERE id = {late}"));
    app.db.write(|tx| watchdogs::run(tx, fieldservice::db::at(deadline) + Duration::minutes(1)).map_err(Error::from)).unwrap();
    let approved: i64 = scalar(&app, "SELECT c.id FROM commissions c JOIN masters m ON m.id = c.master_id WHERE c.status = 'APPROVED' AND m.is_blocked = 0 ORDER BY c.id LIMIT 1");

    let Some(desk) = Window::open(&app, "finance_staff", Viewport::Staff).await else { return };
    desk.sign_in("admin").await;
    for lang in ["ru", "en"] {
        desk.goto(&format!("/lang/{lang}?back=%2Ffinance%3Fstatus%3DAPPROVED")).await;
        desk.wait_for("#group-today").await;
        desk.wait_for("#group-older").await;
        desk.assert_no_horizontal_scroll().await;
        desk.screenshot(&format!("{lang}-1-list-grouped")).await;
        desk.select("#period", "month").await;
        desk.click("#filter-submit").await;
        desk.wait_for("#filter-reset").await;
        assert!(desk.execute("return document.querySelector('#group-older') === null;", vec![]).await.as_bool().unwrap(), "the period filter leaves the older ones out");
        desk.screenshot(&format!("{lang}-2-list-filtered")).await;
        desk.select("#bulk-days", "3").await;
        desk.click("#bulk-preview").await;
        desk.wait_for("#bulk-submit").await;
        desk.assert_no_horizontal_scroll().await;
        desk.screenshot(&format!("{lang}-3-bulk-preview")).await;
        desk.goto(&format!("/finance/{late}")).await;
        desk.wait_for("#master-blocked").await;
        desk.screenshot(&format!("{lang}-4-card-overdue-blocked")).await;
        desk.goto(&format!("/finance/{approved}")).await;
        desk.wait_for("#block-submit").await;
        desk.assert_no_horizontal_scroll().await;
        desk.execute("document.querySelector('#block').scrollIntoView();", vec![]).await;
        desk.screenshot(&format!("{lang}-5-card-block-form")).await;
        desk.goto("/alerts").await;
        desk.wait_for(".alert-commission").await;
        desk.assert_no_horizontal_scroll().await;
        desk.screenshot(&format!("{lang}-6-alerts")).await;
        let master: i64 = scalar(&app, &format!("SELECT master_id FROM commissions WHERE id = {late}"));
        desk.goto(&format!("/masters/{master}")).await;
        desk.wait_for("#master-money").await;
        desk.execute("document.querySelector('#master-money').scrollIntoView();", vec![]).await;
        desk.screenshot(&format!("{lang}-7-master-money")).await;
    }
}
