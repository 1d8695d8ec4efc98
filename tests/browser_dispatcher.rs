//! The dispatcher's day in a real browser (issue 4): the logist creates an order through the new-order
//! form, sees it on the board searching, and the board follows the scheduler's offer and the master's
//! accept live, without a reload.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;
use fieldservice::error::Error;
use serde_json::json;

/// A Moscow district and one of its streets in the demo data (src/demo.rs); Иванов and Лебедев, on shift,
/// do electrics there.
const DISTRICT: &str = "Центральный";
const STREET: &str = "Мясницкая улица";

fn moscow_district(app: &WebApp) -> (i64, i64) {
    app.db
        .read(|c| {
            c.query_row(
                "SELECT d.city_id, d.id FROM districts d JOIN cities c ON c.id = d.city_id WHERE c.name = 'Москва' AND d.name = ?1",
                [DISTRICT],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(Error::from)
        })
        .unwrap()
}

/// The order's open offer: its id and the master's id, phone and name.
fn open_offer(app: &WebApp, order: i64) -> (i64, i64, String, String) {
    app.db
        .read(|c| {
            c.query_row(
                "SELECT f.id, m.id, m.phone, m.full_name FROM offers f JOIN masters m ON m.id = f.master_id
                 WHERE f.order_id = ?1 AND f.state IN ('SENT', 'VIEWED')",
                [order],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(Error::from)
        })
        .unwrap()
}

/// Scrolls the board's column to the row at `css` for the screenshot, again if a live refresh swaps the
/// columns meanwhile, until the row is inside its column's view.
async fn show(window: &Window, css: &str) {
    let script = "const row = document.querySelector(arguments[0]); row.scrollIntoView({ block: 'center' });
                  const body = row.closest('.board-col-body').getBoundingClientRect(), r = row.getBoundingClientRect();
                  return r.top >= body.top && r.bottom <= body.bottom;";
    window.wait_until(&format!("{css} scrolled into view"), script, vec![json!(css)]).await;
}

#[tokio::test]
async fn a_logist_creates_an_order_and_the_board_follows_its_offer_and_accept_live() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "dispatcher", Viewport::Staff).await else { return };
    let (city, district) = moscow_district(&app);

    window.sign_in("logist").await;
    window.goto("/orders/new").await;
    window.wait_for("#create-order").await;
    if window.find("#city_id").await.prop("value").await.unwrap().as_deref() != Some(city.to_string().as_str()) {
        window.select("#city_id", &city.to_string()).await;
    }
    window.wait_for(&format!("#district_id option[value='{district}']")).await;
    window.select("#district_id", &district.to_string()).await;
    window.fill("#street", STREET).await;
    window.fill("#house", "7").await;
    window.fill("#client_phone", "8 916 555-12-34").await;
    window.fill("#client_name", "Ольга Смирнова").await;
    window.select("#category", "ELECTRICS").await;
    window.fill("#description", "Искрит розетка в прихожей, выбивает автомат").await;
    window.select("#slot", "ASAP").await;
    window.execute("window.scrollTo(0, 0); return true;", vec![]).await;
    window.screenshot("new_order_form").await;
    window.assert_no_horizontal_scroll().await;
    window.click("#create-order").await;

    window.wait_for_text("Заказ создан.").await;
    let path = window.path().await;
    let order: i64 = path
        .strip_prefix("/orders/")
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the form lands on the new order's card, not on {path}"));
    let heading = window.text_of("h1").await;
    assert!(heading.contains(&format!("#{order}")), "the card is the new order's: {heading}");
    let card = window.text_of("main").await;
    assert!(card.contains(STREET) && card.contains("Ольга Смирнова"), "the card shows what was typed:\n{card}");
    let (status, street): (String, Option<i64>) = app
        .db
        .read(|c| c.query_row("SELECT status, street_id FROM orders WHERE id = ?1", [order], |r| Ok((r.get(0)?, r.get(1)?))).map_err(Error::from))
        .unwrap();
    assert_eq!(status, "SEARCHING");
    assert!(street.is_some(), "a street typed exactly as a known one is the known street");
    window.screenshot("order_card").await;

    window.goto("/").await;
    let row = format!("#col-searching [data-order-id='{order}']");
    window.wait_for(&row).await;
    assert!(window.text_of(&row).await.contains(DISTRICT), "the searching row names the district");
    window.mark_page().await;

    browser::tick(&app);
    let (offer, master, phone, name) = open_offer(&app, order);
    window.wait_for(&format!("{row} .countdown")).await;
    let text = window.text_of(&row).await;
    assert!(text.contains(&name), "the row names the master holding the offer ({name}):\n{text}");
    assert!(text.contains("Оффер:"), "the row says an offer is out:\n{text}");
    window.assert_not_reloaded().await;
    let fits = window.execute("return document.documentElement.scrollHeight <= innerHeight;", vec![]).await;
    assert_eq!(fits, json!(true), "the board fits the window: only its columns scroll");
    show(&window, &row).await;
    window.screenshot("board").await;

    let token = browser::master_token(&app, &phone, fieldservice::demo::PASSWORD).await;
    let (status, body) = browser::master_post(&app, &token, &format!("/api/v1/me/offers/{offer}/accept")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "the master accepts: {body}");
    assert_eq!(body["id"], json!(order));

    let assigned = format!("#col-in-progress [data-order-id='{order}']");
    window.wait_for(&assigned).await;
    let text = window.text_of(&assigned).await;
    assert!(text.contains(&name) && text.contains("Мастер:"), "the in-progress row names the master:\n{text}");
    let still_searching = window.execute("return document.querySelector(arguments[0]) !== null;", vec![json!(row)]).await;
    assert_eq!(still_searching, json!(false), "the order left the searching column");
    window.assert_not_reloaded().await;
    let assigned_to: Option<i64> = app
        .db
        .read(|c| c.query_row("SELECT assigned_master_id FROM orders WHERE id = ?1", [order], |r| r.get(0)).map_err(Error::from))
        .unwrap();
    assert_eq!(assigned_to, Some(master));
    show(&window, &assigned).await;
    window.screenshot("board_assigned").await;
}

/// The add-staff form at 1280×800 in both languages: LOGIST chosen, no city ticked, and the city list narrowed
/// by typing instead of Ctrl-clicking through 78 names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_adds_staff_with_a_searchable_city_list() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "dispatcher", Viewport::Staff).await else { return };
    window.sign_in("admin").await;
    for lang in ["ru", "en"] {
        window.goto(&format!("/lang/{lang}?back=%2Fstaff")).await;
        window.wait_for("#city_ids .city-filter").await;
        window.fill("#city_ids .city-filter", if lang == "ru" { "сан" } else { "Сан" }).await;
        let shown = window
            .execute("return [...document.querySelectorAll('#city_ids-list li')].filter((li) => !li.hidden).map((li) => li.textContent.trim());", vec![])
            .await;
        let shown: Vec<String> = serde_json::from_value(shown).unwrap();
        assert!(!shown.is_empty() && shown.iter().all(|name| name.to_lowercase().contains("сан")), "{shown:?}");
        window.execute("document.querySelector('#city_ids').scrollIntoView({block: 'center'});", vec![]).await;
        window.assert_no_horizontal_scroll().await;
        window.screenshot(&format!("staff_form_{lang}")).await;
    }
}
