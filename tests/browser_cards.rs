//! Issue 12 in a real browser at 1280×800, in Russian and in English: the order list with its columns, the
//! order card (note for the master, internal notes, the client's history, only the allowed actions, the
//! cancel form on demand) and the master card with his orders — screenshots of each.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;
use fieldservice::error::Error;

/// An assigned Moscow demo order with a note for the master, an internal note and a repeat client; and its master.
fn assigned_order(app: &WebApp) -> (i64, i64) {
    app.db
        .write(|tx| -> Result<(i64, i64), Error> {
            let moscow = "(SELECT id FROM cities WHERE name = 'Москва')";
            let id: i64 = tx.query_row(
                &format!("SELECT id FROM orders WHERE status = 'ASSIGNED' AND city_id = {moscow} ORDER BY id LIMIT 1"),
                [],
                |r| r.get(0),
            )?;
            tx.execute("UPDATE orders SET master_note = 'Домофон не работает: позвонить клиенту за 10 минут, подъезд со двора.' WHERE id = ?1", [id])?;
            tx.execute(
                "INSERT INTO order_notes (order_id, staff_id, body, created_at)
                 VALUES (?1, (SELECT id FROM staff_users WHERE login = 'logist'), 'Клиент просил не звонить до 9 утра.', (SELECT created_at FROM orders WHERE id = ?1))",
                [id],
            )?;
            tx.execute(
                &format!("UPDATE orders SET client_phone = (SELECT client_phone FROM orders WHERE id = ?1)
                          WHERE id = (SELECT id FROM orders WHERE status = 'CLOSED' AND city_id = {moscow} ORDER BY id LIMIT 1)"),
                [id],
            )?;
            // The master card shows a Moscow master with finished orders, given one active order too.
            let master: i64 = tx.query_row(
                &format!("SELECT assigned_master_id FROM orders WHERE status IN ('CLOSED', 'CANCELED') AND assigned_master_id IS NOT NULL AND city_id = {moscow}
                          GROUP BY assigned_master_id ORDER BY COUNT(*) DESC LIMIT 1"),
                [],
                |r| r.get(0),
            )?;
            tx.execute("UPDATE orders SET assigned_master_id = ?2 WHERE id = ?1", [id, master])?;
            Ok((id, master))
        })
        .unwrap()
}

#[tokio::test]
async fn the_lists_the_order_card_and_the_master_card_at_1280() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "cards", Viewport::Staff).await else { return };
    browser::tick(&app);
    let (id, master) = assigned_order(&app);
    window.sign_in("logist").await;

    for lang in ["ru", "en"] {
        window.goto(&format!("/lang/{lang}?back=%2Forders")).await;
        window.wait_for("table.orders").await;
        window.screenshot(&format!("list_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
        window.goto("/orders/closed").await;
        window.wait_for("#list-explained").await;
        window.screenshot(&format!("list_closed_{lang}")).await;
        window.assert_no_horizontal_scroll().await;

        window.goto(&format!("/orders/{id}")).await;
        window.wait_for("#master-note").await;
        window.screenshot(&format!("card_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
        assert!(window.find("#action-return").await.is_displayed().await.unwrap());
        assert!(!window.find("#cancel-reason").await.is_displayed().await.unwrap(), "the cancel form waits behind its button");
        window.click("#cancel-order summary").await;
        window.wait_until("the cancel form opens", "return document.getElementById('cancel-reason').offsetParent !== null;", vec![]).await;
        window.screenshot(&format!("card_cancel_open_{lang}")).await;
        window.execute("document.getElementById('client-history').scrollIntoView({block: 'start'}); return true;", vec![]).await;
        window.screenshot(&format!("card_notes_cancel_{lang}")).await;

        window.goto(&format!("/masters/{master}")).await;
        window.wait_for("#master-orders").await;
        window.screenshot(&format!("master_card_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
    }
}

/// The master reads the note for him on his job card on a cheap phone; the staff's internal note is not there.
#[tokio::test]
async fn the_master_reads_the_note_for_him_on_his_phone() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "cards_phone", Viewport::SmallPhone).await else { return };
    browser::tick(&app);
    let (id, master) = assigned_order(&app);
    let phone: String = app.db.read(|c| c.query_row("SELECT phone FROM masters WHERE id = ?1", [master], |r| r.get(0)).map_err(Error::from)).unwrap();
    window.sign_in_master(&phone, fieldservice::demo::PASSWORD).await;
    for lang in ["ru", "en"] {
        window.goto(&format!("/lang/{lang}?back=%2Fm%2Forders%2F{id}")).await;
        window.wait_for("#master-note").await;
        window.execute("document.getElementById('master-note').scrollIntoView({block: 'center'}); return true;", vec![]).await;
        window.screenshot(&format!("job_note_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
        let text = window.text_of("main").await;
        assert!(text.contains("Домофон не работает") && !text.contains("не звонить до 9 утра"), "{text}");
    }
}
