//! The order lists: the queue with its filters, search and pages, the warranty and closed lists, the city
//! scope and the English texts.

mod common;

use common::t0;
use common::web::{Page, WebApp};
use fieldservice::error::Error;
use reqwest::StatusCode;

fn ids(app: &WebApp, sql: &str) -> Vec<i64> {
    app.db
        .read(|c| {
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok::<_, Error>(rows)
        })
        .unwrap()
}

fn one(app: &WebApp, sql: &str) -> i64 {
    ids(app, sql)[0]
}

/// The order ids a list page links to, in page order.
fn listed(page: &Page) -> Vec<i64> {
    page.html
        .split("<td><a href=\"/orders/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn the_queue_lists_the_queue_statuses_of_his_cities_newest_first_linking_to_the_cards() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let queue = admin.get("/orders?per_page=100").await;
    assert_eq!(queue.status, StatusCode::OK);
    let expected = ids(&app, "SELECT id FROM orders WHERE status IN ('SEARCHING','ASSIGNED','EN_ROUTE','WORKING','PAYMENT','GUARANTEE','DEFERRED') ORDER BY created_at DESC, id DESC");
    assert!(!expected.is_empty());
    assert_eq!(listed(&queue), expected);
    assert!(queue.has("(Europe/Moscow)") && queue.has("<th scope=\"col\">"), "times name the city's zone");

    let mut moscow = app.staff("moscow").await;
    let own = moscow.get("/orders?per_page=100").await;
    let moscow_only = ids(&app, "SELECT o.id FROM orders o JOIN cities c ON c.id = o.city_id WHERE c.name = 'Москва' AND o.status IN ('SEARCHING','ASSIGNED','EN_ROUTE','WORKING','PAYMENT','GUARANTEE','DEFERRED') ORDER BY o.created_at DESC, o.id DESC");
    assert_eq!(listed(&own), moscow_only);
    assert!(!own.has("Санкт-Петербург"), "a Moscow-only user never sees St Petersburg");
    let spb_order = one(&app, "SELECT o.id FROM orders o JOIN cities c ON c.id = o.city_id WHERE c.name = 'Санкт-Петербург' LIMIT 1");
    let spb = one(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'");
    assert!(listed(&moscow.get(&format!("/orders?city_id={spb}")).await).is_empty());
    assert!(listed(&moscow.get(&format!("/orders?q={spb_order}&by=id")).await).is_empty());
    assert!(listed(&moscow.get(&format!("/orders?id={spb_order}")).await).is_empty());
}

#[tokio::test]
async fn filters_narrow_the_queue_and_are_kept_in_the_form() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let spb = one(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'");
    let page = logist.get(&format!("/orders?city_id={spb}&per_page=100")).await;
    let expected = ids(&app, &format!("SELECT id FROM orders WHERE city_id = {spb} AND status IN ('SEARCHING','ASSIGNED','EN_ROUTE','WORKING','PAYMENT','GUARANTEE','DEFERRED') ORDER BY created_at DESC, id DESC"));
    assert_eq!(listed(&page), expected);
    assert!(page.has(&format!("<option value=\"{spb}\" selected>")));

    let deferred = logist.get("/orders?status=DEFERRED&per_page=100").await;
    assert_eq!(listed(&deferred), ids(&app, "SELECT id FROM orders WHERE status = 'DEFERRED' ORDER BY created_at DESC, id DESC"));
    assert!(deferred.has("<option value=\"DEFERRED\" selected>"));

    let closed = logist.get("/orders?status=CLOSED&category=ELECTRICS&per_page=100").await;
    assert_eq!(listed(&closed), ids(&app, "SELECT id FROM orders WHERE status = 'CLOSED' AND category = 'ELECTRICS' ORDER BY created_at DESC, id DESC"));

    let master = one(&app, "SELECT assigned_master_id FROM orders WHERE assigned_master_id IS NOT NULL AND status IN ('ASSIGNED','EN_ROUTE','WORKING','PAYMENT') LIMIT 1");
    let his = logist.get(&format!("/orders?master_id={master}&per_page=100")).await;
    assert_eq!(listed(&his), ids(&app, &format!("SELECT id FROM orders WHERE assigned_master_id = {master} AND status IN ('SEARCHING','ASSIGNED','EN_ROUTE','WORKING','PAYMENT','GUARANTEE','DEFERRED') ORDER BY created_at DESC, id DESC")));
    assert!(his.has(&format!("id=\"master_id\" name=\"master_id\" value=\"{master}\"")));

    let slot = one(&app, "SELECT id FROM orders WHERE timeslot_start IS NOT NULL AND status = 'SEARCHING' LIMIT 1");
    let day = app.db.read(|c| Ok::<_, Error>(c.query_row(&format!("SELECT date(timeslot_start / 1000 + 3 * 3600, 'unixepoch') FROM orders WHERE id = {slot}"), [], |r| r.get::<_, String>(0))?)).unwrap();
    let on_day = logist.get(&format!("/orders?date={day}&per_page=100")).await;
    assert!(listed(&on_day).contains(&slot), "the Moscow-local date of the slot");

    let bad = logist.get("/orders?date=tomorrow&master_id=x7").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("id=\"master_id-error\"") || bad.has("id=\"date-error\""), "{}", bad.html);
    assert!(bad.has("value=\"tomorrow\"") && bad.has("value=\"x7\""), "typed values kept");
}

#[tokio::test]
async fn pages_hold_the_chosen_number_of_rows_and_link_to_each_other() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let all = ids(&app, "SELECT id FROM orders WHERE status IN ('SEARCHING','ASSIGNED','EN_ROUTE','WORKING','PAYMENT','GUARANTEE','DEFERRED') ORDER BY created_at DESC, id DESC");
    assert!(all.len() > 10, "the demo has more than one page");
    // 50 rows unless another size is chosen (issue 12).
    assert_eq!(listed(&admin.get("/orders").await), all[..all.len().min(50)]);
    let first = admin.get("/orders?per_page=10").await;
    assert_eq!(listed(&first), all[..10]);
    let pages = all.len().div_ceil(10);
    assert!(first.has(&format!("Страница 1 из {pages}")) && first.has("href=\"/orders?per_page=10&#38;page=2\" rel=\"next\""), "{}", first.html);
    let second = admin.get("/orders?per_page=10&page=2").await;
    assert_eq!(listed(&second), all[10..all.len().min(20)]);
    assert!(second.has("rel=\"prev\""));
    let filtered = admin.get("/orders?category=ELECTRICS&per_page=25").await;
    assert!(!filtered.has("rel=\"next\"") || filtered.has("category=ELECTRICS&#38;per_page=25&#38;page=2"));
    let too_big = admin.get("/orders?per_page=1000").await;
    assert_eq!(too_big.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_big.has("id=\"per_page-error\""));
}

#[tokio::test]
async fn the_search_finds_orders_by_id_and_client_phone_and_masters_with_their_orders() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let order = one(&app, "SELECT id FROM orders WHERE status = 'SEARCHING' LIMIT 1");
    let by_id = logist.get(&format!("/orders?q={order}&by=id")).await;
    assert_eq!(listed(&by_id), vec![order]);
    assert!(by_id.has("Результаты поиска") && by_id.has(&format!("value=\"{order}\"")));

    let phone: String = app.db.read(|c| Ok::<_, Error>(c.query_row(&format!("SELECT client_phone FROM orders WHERE id = {order}"), [], |r| r.get(0))?)).unwrap();
    let spaced = format!("8 {} {} {}", &phone[2..5], &phone[5..8], &phone[8..]);
    let by_phone = logist.get(&format!("/orders?q={}&by=phone", urlencode(&spaced))).await;
    assert!(listed(&by_phone).contains(&order), "{}", by_phone.html);
    let short = logist.get("/orders?q=12345&by=phone").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.has("id=\"q-error\"") && short.has("минимум 10 цифр"));

    let (master, name): (i64, String) = app
        .db
        .read(|c| Ok::<_, Error>(c.query_row("SELECT m.id, m.full_name FROM masters m JOIN orders o ON o.assigned_master_id = m.id LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?))
        .unwrap();
    let surname = name.split_whitespace().next().unwrap().to_string();
    let by_master = logist.get(&format!("/orders?q={}&by=master", urlencode(&surname))).await;
    assert!(by_master.has(&format!("href=\"/masters/{master}\"")), "{}", by_master.html);
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)]).unwrap().trim_start_matches("q=").to_string()
}

#[tokio::test]
async fn the_warranty_and_closed_lists_split_the_closed_orders() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let cutoff = t0().timestamp_millis() - 14 * 24 * 3600 * 1000;
    let warranty = ids(&app, &format!("SELECT id FROM orders WHERE status = 'CLOSED' AND type = 'NORMAL' AND closed_at > {cutoff} ORDER BY closed_at DESC, id DESC"));
    // "Closed" holds every finished order: the ones under warranty too, and those awaiting the commission.
    let closed = ids(&app, "SELECT id FROM orders WHERE status IN ('CLOSED', 'PAYMENT') ORDER BY closed_at DESC, id DESC");
    assert!(!warranty.is_empty() || !closed.is_empty(), "the demo has closed orders");
    let page = admin.get("/orders/warranty?per_page=100").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(listed(&page), warranty);
    if !warranty.is_empty() {
        assert!(page.has("Гарантия: ") && page.has(" дн."), "{}", page.html);
    }
    assert!(page.has("href=\"/orders/warranty\" aria-current=\"page\""));
    let page = admin.get("/orders/closed?per_page=100").await;
    assert_eq!(listed(&page), closed);
    if !closed.is_empty() {
        assert!(page.has("Закрыт (Europe/"), "{}", page.html);
    }
    assert!(warranty.iter().all(|id| closed.contains(id)));
    // Later the warranty is over: the warranty list is empty, the closed list the same.
    app.clock.advance(chrono::Duration::days(30));
    let mut admin = app.staff("admin").await;
    assert!(listed(&admin.get("/orders/warranty").await).is_empty());
    assert_eq!(listed(&admin.get("/orders/closed?per_page=100").await), closed);
}

#[tokio::test]
async fn the_lists_speak_english() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    logist.get("/lang/en?back=/").await;
    let page = logist.get("/orders").await;
    assert!(page.has("Queue") && page.has("Under warranty") && page.has("Visit (Europe/") && page.has("Page 1 of"), "{}", page.html);
    app.clock.advance(chrono::Duration::days(30));
    let mut logist = app.staff("logist").await;
    logist.get("/lang/en?back=/").await;
    let closed = logist.get("/orders/closed").await;
    assert!(closed.has("Closed (Europe/"), "{}", closed.html);
}

#[tokio::test]
async fn a_page_stays_fast_with_ten_thousand_orders() {
    let app = WebApp::start(t0()).await;
    app.db
        .write(|tx| {
            tx.execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
                 INSERT INTO orders (city_id, district_id, street_id, house, client_phone, category, status, dist_since_at, created_at, updated_at, closed_at)
                 SELECT o.city_id, o.district_id, o.street_id, o.house, o.client_phone, o.category,
                        CASE WHEN i % 2 = 0 THEN 'SEARCHING' ELSE 'CLOSED' END, o.created_at, o.created_at - i, o.created_at, o.created_at - i
                 FROM n, (SELECT * FROM orders WHERE status = 'SEARCHING' LIMIT 1) o",
            )?;
            Ok::<_, Error>(())
        })
        .unwrap();
    let mut admin = app.staff("admin").await;
    for path in ["/orders?page=400", "/orders/warranty?page=300", "/orders/closed", "/orders?q=9991234567"] {
        let started = std::time::Instant::now();
        let page = admin.get(path).await;
        assert!(page.status == StatusCode::OK, "{path}: {}", page.status);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{path} took {:?}", started.elapsed());
    }
}

const QUEUE: &str = "status IN ('SEARCHING','ASSIGNED','EN_ROUTE','WORKING','PAYMENT','GUARANTEE','DEFERRED')";

#[tokio::test]
async fn every_queue_sort_orders_the_rows_and_is_chosen_in_the_form() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let status_rank = "CASE status WHEN 'SEARCHING' THEN 0 WHEN 'ASSIGNED' THEN 1 WHEN 'EN_ROUTE' THEN 2 WHEN 'WORKING' THEN 3 WHEN 'PAYMENT' THEN 4 WHEN 'GUARANTEE' THEN 5 ELSE 6 END";
    let status_order = format!("{status_rank}, created_at DESC, id DESC");
    for (sort, order) in [
        ("created", "created_at DESC, id DESC"),
        ("created_asc", "created_at, id"),
        ("slot", "timeslot_start IS NULL, timeslot_start, id"),
        ("slot_desc", "timeslot_start IS NULL, timeslot_start DESC, id DESC"),
        ("id", "id"),
        ("id_desc", "id DESC"),
        ("status", status_order.as_str()),
    ] {
        let page = admin.get(&format!("/orders?sort={sort}&per_page=100")).await;
        assert_eq!(page.status, StatusCode::OK, "{sort}");
        let expected = ids(&app, &format!("SELECT id FROM orders WHERE {QUEUE} ORDER BY {order}"));
        assert!(expected.len() > 10, "the demo has enough orders to tell the orders apart");
        assert_eq!(listed(&page), expected, "{sort}");
        assert!(page.has(&format!("<option value=\"{sort}\" selected>")), "{sort}");
    }
    // The demo queue has orders with and without a slot, so "without a slot last" is put to the test.
    let slotted = one(&app, &format!("SELECT COUNT(*) FROM orders WHERE {QUEUE} AND timeslot_start IS NOT NULL"));
    let unslotted = one(&app, &format!("SELECT COUNT(*) FROM orders WHERE {QUEUE} AND timeslot_start IS NULL"));
    assert!(slotted > 1 && unslotted > 0, "{slotted} with a slot, {unslotted} without");
}

#[tokio::test]
async fn the_sort_is_kept_in_the_pager_and_the_headers_keep_the_filters() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let by_slot = ids(&app, &format!("SELECT id FROM orders WHERE {QUEUE} ORDER BY timeslot_start IS NULL, timeslot_start, id"));
    let first = admin.get("/orders?sort=slot&per_page=10").await;
    assert_eq!(listed(&first), by_slot[..10]);
    assert!(first.has("href=\"/orders?per_page=10&#38;sort=slot&#38;page=2\" rel=\"next\""), "{}", first.html);
    let second = admin.get("/orders?sort=slot&per_page=10&page=2").await;
    assert_eq!(listed(&second), by_slot[10..by_slot.len().min(20)]);
    assert!(second.has("href=\"/orders?per_page=10&#38;sort=slot&#38;page=1\" rel=\"prev\""));

    // The sorted column says so and its header reverses the order; the others pick theirs; both keep the filters.
    let page = admin.get("/orders?category=ELECTRICS&per_page=25&sort=slot&page=1").await;
    assert!(page.has("<th scope=\"col\" aria-sort=\"ascending\"><a class=\"sort\" href=\"/orders?category=ELECTRICS&#38;per_page=25&#38;sort=slot_desc\">"), "{}", page.html);
    assert!(page.has("href=\"/orders?category=ELECTRICS&#38;per_page=25&#38;sort=id\">№</a>"));
    assert!(page.has("href=\"/orders?category=ELECTRICS&#38;per_page=25&#38;sort=status\">"));
    assert_eq!(page.html.matches("aria-sort=").count(), 1);
    let by_id = admin.get("/orders?sort=id").await;
    assert!(by_id.has("<th scope=\"col\" aria-sort=\"ascending\"><a class=\"sort\" href=\"/orders?sort=id_desc\">№</a>"), "{}", by_id.html);
    let reversed = admin.get("/orders?sort=id_desc").await;
    assert!(reversed.has("<th scope=\"col\" aria-sort=\"descending\"><a class=\"sort\" href=\"/orders?sort=id\">№</a>"));
    // Newest first is no column: no header claims the order.
    assert!(!admin.get("/orders").await.has("aria-sort="));
    // A search keeps its own order: plain headers.
    let order = one(&app, "SELECT id FROM orders WHERE status = 'SEARCHING' LIMIT 1");
    assert!(!admin.get(&format!("/orders?q={order}&by=id")).await.has("class=\"sort\""));
}

#[tokio::test]
async fn every_closed_sort_orders_the_closed_lists() {
    let app = WebApp::start(t0()).await;
    // A month later every closed order is in the closed list.
    app.clock.advance(chrono::Duration::days(30));
    let mut admin = app.staff("admin").await;
    for (sort, order) in [
        ("closed", "closed_at DESC, id DESC"),
        ("closed_asc", "closed_at IS NULL, closed_at, id"),
        ("amount", "total_sum_kop DESC, id DESC"),
        ("amount_asc", "total_sum_kop, id"),
        ("id", "id"),
        ("id_desc", "id DESC"),
    ] {
        let page = admin.get(&format!("/orders/closed?sort={sort}&per_page=100")).await;
        assert_eq!(page.status, StatusCode::OK, "{sort}");
        let expected = ids(&app, &format!("SELECT id FROM orders WHERE status IN ('CLOSED', 'PAYMENT') ORDER BY {order}"));
        assert!(expected.len() > 1, "the demo has closed orders");
        assert_eq!(listed(&page), expected, "{sort}");
        assert!(page.has(&format!("<option value=\"{sort}\" selected>")), "{sort}");
    }
    let by_amount = admin.get("/orders/closed?sort=amount").await;
    assert!(by_amount.has("Сумма") && by_amount.has("\u{a0}₽</td>"), "what was paid is shown: {}", by_amount.html);
    assert!(by_amount.has("<th scope=\"col\" aria-sort=\"descending\"><a class=\"sort\" href=\"/orders/closed?sort=amount_asc\">Сумма</a>"), "{}", by_amount.html);
    let default = admin.get("/orders/closed").await;
    assert!(default.has("<th scope=\"col\" aria-sort=\"descending\"><a class=\"sort\" href=\"/orders/closed?sort=closed_asc\">"), "{}", default.html);
    assert!(!default.has("<option value=\"slot\""), "the closed lists offer their own sorts");
}

#[tokio::test]
async fn the_warranty_list_sorts_too() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let cutoff = t0().timestamp_millis() - 14 * 24 * 3600 * 1000;
    let oldest_first = ids(&app, &format!("SELECT id FROM orders WHERE status = 'CLOSED' AND type = 'NORMAL' AND closed_at > {cutoff} ORDER BY closed_at, id"));
    let page = admin.get("/orders/warranty?sort=closed_asc&per_page=100").await;
    assert_eq!(listed(&page), oldest_first);
    if !oldest_first.is_empty() {
        assert!(page.has("aria-sort=\"ascending\"><a class=\"sort\" href=\"/orders/warranty?per_page=100&#38;sort=closed\">"), "{}", page.html);
    }
}

#[tokio::test]
async fn an_unknown_sort_is_shown_beside_the_sort_field() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    for path in ["/orders?sort=price", "/orders?sort=closed", "/orders/closed?sort=slot", "/orders/warranty?sort=o.id%3B%20DROP%20TABLE%20orders"] {
        let page = logist.get(path).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(page.has("id=\"sort-error\"") && page.has("Сортировка: неизвестное значение"), "{path}: {}", page.html);
        assert!(page.has("aria-describedby=\"sort-error\""), "{path}");
        assert!(listed(&page).is_empty(), "{path}");
    }
    assert!(ids(&app, "SELECT COUNT(*) FROM orders")[0] > 0, "the table is still there");
}
