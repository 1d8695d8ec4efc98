//! Issue 12 §Plain words in a real browser at 1280×800, Russian and English: the board with 20+ orders, the
//! live event log in sentences, an order card's history and log, and the city admin page — screenshots of
//! each, no horizontal scroll, no raw codes or JSON.

mod browser;
mod common;

use browser::{Viewport, Window};
use common::t0;
use common::web::WebApp;
use fieldservice::domain::Category;
use fieldservice::error::Error;
use fieldservice::orders::{self, NewOrder};
use fieldservice::reference::{self, NewCity};

const CATEGORIES: [Category; 4] = [Category::Plumbing, Category::Electrics, Category::Handyman, Category::Appliances];

/// Twenty-four new Moscow orders over its districts, a city added and one deactivated: a busy day's log.
fn busy_day(app: &WebApp) -> i64 {
    app.db
        .write(|tx| -> Result<i64, Error> {
            let admin = fieldservice::staff::load_active(tx, 1)?.expect("the demo global admin");
            let districts: Vec<i64> = tx
                .prepare("SELECT d.id FROM districts d JOIN cities c ON c.id = d.city_id WHERE c.name = 'Москва' ORDER BY d.id")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut last = 0;
            for n in 0..24usize {
                let input = NewOrder {
                    city_id: 1,
                    district_id: Some(districts[n % districts.len()]),
                    client_phone: format!("+7999200{:04}", n),
                    category: Some(CATEGORIES[n % CATEGORIES.len()]),
                    description: Some(format!("Заявка номер {n}: нужна помощь мастера по дому")),
                    ..Default::default()
                };
                last = orders::create(tx, t0(), &admin, &input)?.id;
            }
            let city = NewCity { name: "Тобольск".into(), timezone: "Asia/Yekaterinburg".into(), aliases: vec!["Тоб".into()] };
            let added = reference::create_city(tx, t0(), &admin, &city)?;
            reference::set_city_active(tx, t0(), &admin, added.id, Some(false))?;
            Ok(last)
        })
        .unwrap()
}

#[tokio::test]
async fn the_board_the_log_the_history_and_the_cities_read_in_plain_words() {
    let app = WebApp::start(t0()).await;
    let Some(window) = Window::open(&app, "words", Viewport::Staff).await else { return };
    let order = busy_day(&app);
    browser::tick(&app);
    window.sign_in("admin").await;

    for lang in ["ru", "en"] {
        window.goto(&format!("/lang/{lang}?back=%2F%3Fcity%3D1")).await;
        window.wait_for(".board-head").await;
        window.screenshot(&format!("board_{lang}")).await;

        window.goto("/events").await;
        window.wait_for(".event-sentence").await;
        window.screenshot(&format!("events_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
        let log = window.text_of("table.event-log").await;
        for raw in ["offer_sent", "{\"", "WAIT_PAY", "SEARCHING", "city_created"] {
            assert!(!log.contains(raw), "{lang}: a raw code {raw} in the log: {log}");
        }

        window.goto(&format!("/orders/{order}")).await;
        window.wait_for("#history").await;
        window.execute("document.getElementById('history').scrollIntoView({block: 'start'}); return true;", vec![]).await;
        window.screenshot(&format!("card_history_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
        let events = window.text_of("#events").await;
        assert!(!events.contains("offer_sent") && !events.contains("{\""), "{events}");

        window.goto("/cities").await;
        window.wait_for("#add-city").await;
        window.screenshot(&format!("cities_{lang}")).await;
        window.assert_no_horizontal_scroll().await;
    }
}
