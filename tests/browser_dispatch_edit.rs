//! Issue 12 in a real browser at 1280×800: a dispatcher edits a searching order's category and slot
//! through the card's Edit, sees the change in the history and the new cycle, adds a note, and reads the
//! client's history — in Russian and in English, with screenshots of the edit form and the card.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;
use fieldservice::error::Error;

/// A searching Moscow demo order with an open offer, whose client also has a closed order (a repeat client).
fn searching_order(app: &WebApp) -> i64 {
    app.db
        .write(|tx| -> Result<i64, Error> {
            let moscow = "(SELECT id FROM cities WHERE name = 'Москва')";
            let id: i64 = tx.query_row(
                &format!("SELECT o.id FROM orders o JOIN offers f ON f.order_id = o.id AND f.state IN ('SENT', 'VIEWED')
                          WHERE o.status = 'SEARCHING' AND o.city_id = {moscow} ORDER BY o.id LIMIT 1"),
                [],
                |r| r.get(0),
            )?;
            tx.execute(
                &format!("UPDATE orders SET client_phone = (SELECT client_phone FROM orders WHERE id = ?1)
                          WHERE id = (SELECT id FROM orders WHERE status = 'CLOSED' AND city_id = {moscow} ORDER BY id LIMIT 1)"),
                [id],
            )?;
            Ok(id)
        })
        .unwrap()
}

#[tokio::test]
async fn a_dispatcher_edits_a_searching_order_adds_a_note_and_reads_the_clients_history() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "dispatch_edit", Viewport::Staff).await else { return };
    browser::tick(&app);
    let id = searching_order(&app);
    window.sign_in("logist").await;

    for lang in ["ru", "en"] {
        window.goto(&format!("/lang/{lang}?back=%2Forders%2F{id}")).await;
        window.wait_for("#edit-order").await;
        window.click("#edit-order").await;
        window.wait_for("#edit-form").await;
        window.screenshot(&format!("edit_form_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
        let category = if lang == "ru" { "PLUMBING" } else { "APPLIANCES" };
        window.select("#category", category).await;
        window.select("#slot", "TOM:16-19").await;
        window.fill("#apartment", if lang == "ru" { "12" } else { "14" }).await;
        window.click("#save-order").await;
        window.wait_for(".changes").await;
        window.fill("#note-text", if lang == "ru" { "Клиент просит позвонить за час до визита" } else { "Call the client an hour before the visit" }).await;
        window.click(".note-form button[type=submit]").await;
        window.wait_for(".notes li").await;
        window.wait_for("#repeat-client").await;
        window.execute("document.getElementById('client-history').scrollIntoView({block: 'start'}); return true;", vec![]).await;
        window.screenshot(&format!("card_notes_history_{lang}")).await;
        window.execute("document.getElementById('history').scrollIntoView({block: 'start'}); return true;", vec![]).await;
        window.screenshot(&format!("card_edit_history_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
    }
    let cycle: i64 = app.db.read(|c| c.query_row("SELECT dist_cycle FROM orders WHERE id = ?1", [id], |r| r.get(0)).map_err(Error::from)).unwrap();
    assert_eq!(cycle, 2, "the category change cancelled the open offer and started a new cycle");
    browser::tick(&app);
    // The board shows the order searching again in its new cycle (the category change started it).
    window.goto("/").await;
    let card = window.text_of(&format!("li.board-order[data-order-id='{id}']")).await;
    assert!(card.contains("Round 1/") && card.contains("cycle 2") && card.contains("Offer:"), "the new cycle on the board: {card} (cycle {})", app.db.read(|c| c.query_row("SELECT dist_cycle FROM orders WHERE id = ?1", [id], |r| r.get::<_, i64>(0)).map_err(Error::from)).unwrap());
    window.screenshot("board_new_cycle_en").await;
    window.goto(&format!("/orders/{id}#offers")).await;
    window.wait_for("#offers").await;
    window.screenshot("card_offers_new_cycle_en").await;
}
