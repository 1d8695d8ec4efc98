//! Issue 13's "done means" on the demo as `serve --demo` gives it (today's orders and thirty days of history
//! played through the engine): the admin's reports are filled, every export downloads in both formats and reads
//! back with the rows the database holds for the period, and the report page is photographed at 1280×800 in
//! Russian and English (target/screenshots/reports_demo/).

mod browser;
mod common;

use std::io::Cursor;

use browser::{Viewport, Window};
use calamine::{Reader, Xlsx};
use chrono::Duration;
use common::api::Api;
use common::t0;
use common::web::WebApp;
use fieldservice::db::{Db, Durability};
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn demo_with_history() -> WebApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    fieldservice::demo::load_with_history(&db, t0()).unwrap();
    WebApp::serve(db, t0(), dir).await
}

/// The last thirty days up to today, as the period picker sends them.
fn month() -> String {
    let from = (t0() - Duration::days(30)).format("%Y-%m-%d");
    let to = t0().format("%Y-%m-%d");
    format!("period=custom&from={from}&to={to}")
}

fn n(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("a number: {value}"))
}

#[tokio::test]
async fn the_demo_month_fills_the_reports_and_every_export_reads_back() {
    let app = demo_with_history().await;
    let admin = Api::staff(&app, "admin").await;
    let period = month();

    let (status, dist) = admin.get(&format!("/api/v1/reports/distribution?{period}")).await;
    assert_eq!(status, StatusCode::OK, "{dist}");
    assert!(n(&dist["created"]) > 250, "{}", dist["created"]);
    let rate = dist["offers"]["acceptance_percent"].as_f64().unwrap();
    assert!((50.0..95.0).contains(&rate), "a realistic acceptance rate: {rate}");
    assert!(n(&dist["assigned"]["engine"]) > 150 && n(&dist["assigned"]["direct"]) > 0, "{}", dist["assigned"]);
    assert!(n(&dist["search_to_accept"]["p90_seconds"]) >= n(&dist["search_to_accept"]["p50_seconds"]));
    assert!(!dist["escalations"].as_array().unwrap().is_empty() && n(&dist["cancellations"]["before_assignment"]) > 0);
    assert!(dist["guarantee"]["per_100_closed"].as_f64().unwrap() > 0.0);
    let (_, masters) = admin.get(&format!("/api/v1/reports/masters?{period}")).await;
    assert!(masters["rows"].as_array().unwrap().len() >= 10, "{masters}");
    let (_, money) = admin.get(&format!("/api/v1/reports/money?{period}")).await;
    assert!(n(&money["totals"]["revenue_kop"]) > 0 && n(&money["totals"]["approved_kop"]) > 0 && n(&money["referral"]["count"]) > 0, "{money}");

    // Each export, both formats: as many rows as the database holds for the period.
    let (start, end) = fieldservice::reports::period::Days::custom(&(t0() - Duration::days(30)).format("%Y-%m-%d").to_string(), &t0().format("%Y-%m-%d").to_string(), chrono_tz::Europe::Moscow).unwrap().bounds();
    let count = |table: &str| -> usize {
        app.db
            .read(|c| c.query_row(&format!("SELECT COUNT(*) FROM {table} WHERE created_at >= ?1 AND created_at < ?2"), [fieldservice::db::ms(start), fieldservice::db::ms(end)], |r| r.get::<_, i64>(0)).map_err(fieldservice::error::Error::from))
            .unwrap() as usize
    };
    for (file, table) in [("orders", "orders"), ("commissions", "commissions"), ("ref_rewards", "referral_rewards")] {
        let rows = count(table);
        assert!(rows > 0, "{table}");
        let response = admin.request(Method::GET, &format!("/api/v1/exports/{file}.csv?{period}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.bytes().await.unwrap();
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(&bytes[3..]);
        assert_eq!(reader.records().count(), rows, "{file}.csv");
        let response = admin.request(Method::GET, &format!("/api/v1/exports/{file}.xlsx?{period}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(response.bytes().await.unwrap().to_vec())).unwrap();
        let sheet = book.worksheet_range(file).unwrap();
        assert_eq!(sheet.rows().count(), rows + 1, "{file}.xlsx: a header and the rows");
    }

    let Some(desk) = Window::open(&app, "reports_demo", Viewport::Staff).await else { return };
    desk.sign_in("admin").await;
    for lang in ["ru", "en"] {
        desk.goto(&format!("/lang/{lang}?back=%2Freports%3F{}", period.replace('&', "%26").replace('=', "%3D"))).await;
        desk.wait_for("svg").await;
        desk.assert_no_horizontal_scroll().await;
        desk.screenshot(&format!("{lang}-1-top")).await;
        for (i, part) in ["#masters", "#money"].iter().enumerate() {
            let found = desk.execute("var e = document.querySelector(arguments[0]); if (e) { e.scrollIntoView(); } return !!e;", vec![serde_json::json!(part)]).await;
            if found == serde_json::json!(true) {
                desk.screenshot(&format!("{lang}-{}-{}", i + 2, &part[1..])).await;
            }
        }
    }
}
