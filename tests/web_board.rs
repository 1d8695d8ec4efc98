//! The live dispatch board: columns and counters over the demo orders, the city scope and filter, the
//! fragment the page swaps in, and the event stream that tells the page to do so.

mod common;

use std::time::Duration as StdDuration;

use chrono::Duration;
use common::t0;
use common::web::{Browser, WebApp};
use fieldservice::db::Db;
use fieldservice::domain::CityId;
use fieldservice::engine::escalation;
use fieldservice::offers;
use fieldservice::orders;
use fieldservice::staff::{self, Staff};
use reqwest::StatusCode;
use reqwest::header::COOKIE;

/// The demo's open orders: Moscow in progress, St Petersburg in progress, Moscow searching (22 = the
/// guarantee order), St Petersburg searching, the Moscow order without a district, the deferred one.
// 23–25 are the demo's money orders in PAYMENT: reported, rejected, overdue.
const MOSCOW_IN_PROGRESS: [i64; 6] = [6, 8, 9, 10, 12, 23];
const SPB_IN_PROGRESS: [i64; 4] = [7, 11, 24, 25];
const MOSCOW_SEARCHING: [i64; 6] = [16, 17, 18, 19, 21, 22];
const SPB_SEARCHING: [i64; 2] = [15, 20];
const NO_DISTRICT: i64 = 14;
const DEFERRED: i64 = 13;

fn city(db: &Db, name: &str) -> CityId {
    db.read(|c| -> fieldservice::error::Result<CityId> { Ok(c.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get(0))?) })
        .unwrap()
}

fn staff_member(db: &Db, login: &str) -> Staff {
    db.read(|c| -> fieldservice::error::Result<Option<Staff>> {
        let id: i64 = c.query_row("SELECT id FROM staff_users WHERE login = ?1", [login], |r| r.get(0))?;
        staff::load_active(c, id)
    })
    .unwrap()
    .unwrap()
}

/// The HTML of one board column.
fn column<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html.find(&format!("id=\"col-{name}\"")).unwrap_or_else(|| panic!("no column {name}: {html}"));
    let end = html[start..].find("</section>").unwrap() + start;
    &html[start..end]
}

/// The column's counter.
fn count(html: &str, name: &str) -> usize {
    let col = column(html, name);
    let at = col.find("data-count=\"").unwrap() + "data-count=\"".len();
    col[at..].split('"').next().unwrap().parse().unwrap()
}

fn row(id: i64) -> String {
    format!("data-order-id=\"{id}\"")
}

fn assert_column(html: &str, name: &str, ids: &[i64]) {
    let col = column(html, name);
    assert_eq!(count(html, name), ids.len(), "counter of {name}: {col}");
    for id in ids {
        assert!(col.contains(&row(*id)), "order {id} in {name}: {col}");
    }
}

#[tokio::test]
async fn the_board_sorts_the_demo_orders_into_columns_with_counters() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let page = logist.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.html;
    assert_column(html, "admin-escalated", &[]);
    assert_column(html, "logist-escalated", &[]);
    assert_column(html, "no-district", &[NO_DISTRICT]);
    assert_column(html, "deferred", &[]);
    assert_column(html, "searching", &[MOSCOW_SEARCHING.as_slice(), &SPB_SEARCHING].concat());
    assert_column(html, "in-progress", &[MOSCOW_IN_PROGRESS.as_slice(), &SPB_IN_PROGRESS].concat());
    assert!(!html.contains(&row(DEFERRED)), "the deferred order wakes tomorrow morning, not soon");
    for closed_or_canceled in [1, 2, 3, 4, 5] {
        assert!(!html.contains(&row(closed_or_canceled)));
    }
    // A row: its card link, city and district, category, created time on the city's clock, status, round.
    let searching = column(html, "searching");
    assert!(searching.contains("href=\"/orders/21\""));
    assert!(searching.contains("Москва, Восточный") && searching.contains("Мастер на час"), "{searching}");
    assert!(searching.contains("Создан: 10.03 11:59") && searching.contains("Раунд 0/2"), "{searching}");
    assert!(searching.contains("<span class=\"pill guarantee\">Гарантия</span>"), "the guarantee order is marked once, by its status: {searching}");
    assert!(!searching.contains("гарантийный"), "not twice");
    // In progress is split by status, each with its own counter.
    let in_progress = column(html, "in-progress");
    let order: Vec<usize> = ["Назначен", "Мастер в пути", "Мастер работает", "Ожидает оплаты"].iter().map(|s| in_progress.find(s).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "groups in status order: {in_progress}");
    assert!(in_progress.contains("Мастер: Кузнецов Алексей Викторович"));
    // The page lives: the script, the fragment and the stream with the board's signature.
    assert!(html.contains("/static/board.js") && html.contains("data-fragment=\"/board/fragment\""));
    assert!(html.contains("data-events=\"/board/events?since="));
}

#[tokio::test]
async fn the_board_shows_only_the_staff_members_cities_and_filters_by_one() {
    let app = WebApp::start(t0()).await;
    let spb = city(&app.db, "Санкт-Петербург");
    let moscow = city(&app.db, "Москва");
    let mut city_admin = app.staff("moscow").await;
    let own = city_admin.get("/").await;
    for id in SPB_SEARCHING.iter().chain(&SPB_IN_PROGRESS) {
        assert!(!own.has(&row(*id)), "St Petersburg order {id} is not his");
    }
    assert_column(&own.html, "searching", &MOSCOW_SEARCHING);
    assert!(!own.has("id=\"board-city\""), "one city: no filter");
    assert_eq!(city_admin.get(&format!("/?city={spb}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(city_admin.get("/?city=abc").await.status, StatusCode::NOT_FOUND);

    let mut logist = app.staff("logist").await;
    let all = logist.get("/").await;
    assert!(all.has("id=\"board-city\"") && all.has(&format!("<option value=\"{spb}\"")), "his two cities to choose from");
    assert!(!all.has("Казань"), "only his cities are offered");
    let filtered = logist.get(&format!("/?city={spb}")).await;
    assert_column(&filtered.html, "searching", &SPB_SEARCHING);
    assert_column(&filtered.html, "in-progress", &SPB_IN_PROGRESS);
    assert_column(&filtered.html, "no-district", &[]);
    assert!(filtered.has(&format!("<option value=\"{spb}\" selected")));
    assert!(filtered.has(&format!("data-fragment=\"/board/fragment?city={spb}\"")));
    assert_eq!(logist.get(&format!("/?city={moscow}")).await.status, StatusCode::OK);

    let mut admin = app.staff("admin").await;
    let everything = admin.get("/").await;
    assert!(everything.has("Казань"), "a global admin may pick any city");
    assert_column(&everything.html, "searching", &[MOSCOW_SEARCHING.as_slice(), &SPB_SEARCHING].concat());
}

#[tokio::test]
async fn escalated_orders_need_a_human_first_and_a_live_offer_shows_its_master_and_countdown() {
    let app = WebApp::start(t0()).await;
    let logist = staff_member(&app.db, "logist");
    let now = t0();
    app.db
        .write(|tx| -> fieldservice::error::Result<()> {
            let order = orders::load(tx, 17)?.unwrap();
            escalation::ensure_logist(tx, now, &order, "no_candidates")?;
            let order = orders::load(tx, 18)?.unwrap();
            escalation::ensure_logist(tx, now - Duration::minutes(11), &order, "rounds_exhausted")?;
            let order = orders::load(tx, 18)?.unwrap();
            escalation::check_admin(tx, now, &order, 10)?;
            // Смирнов (master 3) serves Западный and repairs appliances: he fits order 16.
            offers::manual_offer(tx, now - Duration::seconds(20), &logist, 16, 3, false)?;
            Ok(())
        })
        .unwrap();
    let mut browser = app.staff("logist").await;
    let html = browser.get("/").await.html;
    assert_column(&html, "logist-escalated", &[17]);
    assert_column(&html, "admin-escalated", &[18]);
    assert!(column(&html, "logist-escalated").contains("Нет свободных мастеров"));
    assert!(column(&html, "admin-escalated").contains("Раунды исчерпаны"));
    let searching = column(&html, "searching");
    assert!(searching.contains("Оффер: Смирнов Дмитрий Андреевич"), "{searching}");
    assert!(searching.contains("<span class=\"countdown\" data-left=\"100\"") && searching.contains(">1:40</span>"), "{searching}");
    assert!(searching.contains("Раунд 1/2"));
}

#[tokio::test]
async fn a_deferred_order_shows_when_it_comes_due_with_its_wake_time_on_the_city_clock() {
    let app = WebApp::start(t0()).await;
    let mut browser = app.staff("moscow").await;
    assert!(!browser.get("/").await.has(&row(DEFERRED)));
    // It wakes at 10:00 Moscow time tomorrow (07:00 UTC); 90 minutes before, it is due soon.
    app.clock.set(common::utc(2026, 3, 11, 5, 30, 0));
    let mut browser = app.staff("moscow").await;
    let html = browser.get("/").await.html;
    assert_column(&html, "deferred", &[DEFERRED]);
    assert!(column(&html, "deferred").contains("В поиск: 11.03 10:00"), "{}", column(&html, "deferred"));
}

#[tokio::test]
async fn the_fragment_is_just_the_columns_and_needs_a_signed_in_staff_member() {
    let app = WebApp::start(t0()).await;
    let spb = city(&app.db, "Санкт-Петербург");
    let mut logist = app.staff("logist").await;
    let fragment = logist.get(&format!("/board/fragment?city={spb}")).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(!fragment.has("<html") && fragment.has("id=\"col-searching\""), "{}", fragment.html);
    assert_column(&fragment.html, "searching", &SPB_SEARCHING);
    let mut city_admin = app.staff("moscow").await;
    assert_eq!(city_admin.get(&format!("/board/fragment?city={spb}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.anonymous().get("/board/fragment").await.status, StatusCode::UNAUTHORIZED);
}

/// Opens the board's event stream as `browser`.
async fn events(browser: &Browser, query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/board/events{query}", browser.base))
        .header(COOKIE, browser.cookies.join("; "))
        .send()
        .await
        .unwrap()
}

/// Reads the stream until a `refresh` event arrives, for at most a few seconds.
async fn next_refresh(stream: &mut reqwest::Response) -> bool {
    let wait = async {
        let mut seen = String::new();
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: refresh") {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(StdDuration::from_secs(5), wait).await.unwrap_or(false)
}

#[tokio::test]
async fn the_event_stream_says_refresh_after_a_change_to_the_board() {
    let app = WebApp::start(t0()).await;
    let browser = app.staff("logist").await;
    let mut stream = events(&browser, "").await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let logist = staff_member(&app.db, "logist");
    app.db.write(|tx| orders::cancel(tx, t0(), &logist, 21, "Клиент передумал")).unwrap();
    assert!(next_refresh(&mut stream).await, "an event within the debounce after the write");
    // The fragment then shows the change.
    let mut browser = browser;
    assert!(!browser.get("/board/fragment").await.has(&row(21)));
}

#[tokio::test]
async fn a_page_older_than_the_stream_is_told_at_once_and_anonymous_callers_are_refused() {
    let app = WebApp::start(t0()).await;
    let browser = app.staff("moscow").await;
    let mut stale = events(&browser, "?since=1").await;
    assert!(next_refresh(&mut stale).await, "a stale signature is answered at once");
    let anonymous = app.anonymous();
    let refused = events(&anonymous, "").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_busy_column_shows_the_oldest_fifty_counts_them_all_and_links_to_the_list() {
    let app = WebApp::start(t0()).await;
    // 60 more searching Moscow orders, copies of demo order 16, all newer than the demo's.
    app.db
        .write(|tx| {
            for i in 0..60 {
                tx.execute(
                    "INSERT INTO orders (city_id, district_id, client_phone, category, status, dist_since_at, created_at, updated_at)
                     SELECT city_id, district_id, client_phone, category, status, dist_since_at, created_at + ?1, updated_at
                     FROM orders WHERE id = 16",
                    [1_000_000 + i],
                )?;
            }
            Ok::<_, rusqlite::Error>(())
        })
        .unwrap();
    let html = app.staff("logist").await.get("/").await.html;
    let searching = column(&html, "searching");
    let total = MOSCOW_SEARCHING.len() + SPB_SEARCHING.len() + 60;
    assert_eq!(count(&html, "searching"), total);
    assert_eq!(searching.matches("data-order-id=").count(), fieldservice::board::SHOWN_PER_COLUMN);
    assert!(searching.contains(&row(16)), "the oldest are shown");
    assert!(searching.contains(&format!("…и ещё {} — в списке заказов", total - 50)) && searching.contains("href=\"/orders\""), "{searching}");
}
