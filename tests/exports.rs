//! The exports of product.md §4.7 (decisions §B.20, §B.21) over HTTP, API and page, on the demo data set
//! with a few rows of known values added in 2025 (far from the demo's own days): the test cases I1–I6, the
//! XLSX read back with calamine, who may export what, the period's bounds on the operator's clock, the file
//! names, the BOM, formula neutralising and the refused ranges.

mod common;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use common::api::Api;
use common::web::WebApp;
use common::{t0, utc};
use fieldservice::config::Config;
use fieldservice::db::{Db, Durability, ms};
use fieldservice::error::Error;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The demo at `t0` with the operator's clock in `tz`.
async fn app(tz: Tz) -> WebApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    fieldservice::demo::load(&db, t0()).unwrap();
    let config = Config { data_dir: dir.path().to_path_buf(), timezone: tz, ..Config::default() };
    WebApp::serve_with(db, t0(), dir, config).await
}

fn exec(app: &WebApp, sql: &str, params: impl rusqlite::Params) -> i64 {
    app.db.write(|tx| tx.execute(sql, params).map(|_| tx.last_insert_rowid()).map_err(Error::from)).unwrap()
}

fn city(app: &WebApp, name: &str) -> i64 {
    app.db.read(|c| c.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn master(app: &WebApp, name: &str, phone: &str, city: i64) -> i64 {
    exec(app, "INSERT INTO masters (full_name, phone, city_id, created_at, updated_at) VALUES (?1, ?2, ?3, 0, 0)", rusqlite::params![name, phone, city])
}

/// A bare order of `city` created at `created`, in `status`.
fn order(app: &WebApp, city: i64, created: DateTime<Utc>, status: &str, client: (&str, &str)) -> i64 {
    exec(
        app,
        "INSERT INTO orders (city_id, client_name, client_phone, category, status, dist_since_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'PLUMBING', ?4, ?5, ?5, ?5)",
        rusqlite::params![city, client.0, client.1, status, ms(created)],
    )
}

fn history(app: &WebApp, order: i64, to: &str, reason: &str, at: DateTime<Utc>) {
    exec(app, "INSERT INTO order_status_history (order_id, to_status, reason, created_at) VALUES (?1, ?2, ?3, ?4)", rusqlite::params![order, to, reason, ms(at)]);
}

fn commission(app: &WebApp, order: i64, master: i64, amount_kop: i64, created: DateTime<Utc>) -> i64 {
    exec(
        app,
        "INSERT INTO commissions (order_id, master_id, amount_kop, rate_percent, status, deadline_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 50, 'WAIT_PAY', ?4, ?5, ?5)",
        rusqlite::params![order, master, amount_kop, ms(created) + 3 * 3_600_000, ms(created)],
    )
}

fn reward(app: &WebApp, referrer: i64, referred: i64, commission: i64, amount_kop: i64, created: DateTime<Utc>) -> i64 {
    exec(
        app,
        "INSERT INTO referral_rewards (referrer_id, referred_master_id, commission_id, level, percent, amount_kop, created_at)
         VALUES (?1, ?2, ?3, 1, 10, ?4, ?5)",
        rusqlite::params![referrer, referred, commission, amount_kop, ms(created)],
    )
}

/// The rows of §8 I1–I3: a closed order, its approved commission with a check, a level-1 reward.
struct Known {
    order: i64,
    commission: i64,
    reward: i64,
    master: i64,
    referrer: i64,
}

fn known(app: &WebApp) -> Known {
    let moscow = city(app, "Москва");
    let district = exec(app, "INSERT INTO districts (city_id, name, created_at) VALUES (?1, 'Экспортный', 0)", [moscow]);
    let street = exec(app, "INSERT INTO streets (city_id, district_id, name, created_at) VALUES (?1, ?2, 'ул. Выгрузки', 0)", [moscow, district]);
    let master = master(app, "Пётр Экспортов", "+79990001122", moscow);
    let referrer = master_referrer(app, moscow);
    let order = order(app, moscow, utc(2025, 9, 14, 12, 0, 0), "CLOSED", ("Анна", "+79991234567"));
    exec(
        app,
        "UPDATE orders SET category = 'ELECTRICS', district_id = ?2, street_id = ?3, house = '10', lat = 55.123456, lon = 37.654321,
           total_sum_kop = 350050, assigned_master_id = ?4, updated_at = ?5 WHERE id = ?1",
        rusqlite::params![order, district, street, master, ms(utc(2025, 9, 15, 11, 0, 0))],
    );
    history(app, order, "CLOSED", "", utc(2025, 9, 15, 11, 0, 0));
    let commission = commission(app, order, master, 200_000, utc(2025, 9, 15, 11, 0, 0));
    exec(
        app,
        r#"UPDATE commissions SET status = 'APPROVED', is_paid = 1, paid_amount_kop = 200000, paid_reported_at = ?2, paid_approved_at = ?3,
             pay_to_snapshot = '{"methods":["card","sbp"],"card_number_last4":"4242","sbp_phone_masked":"+71234"}' WHERE id = ?1"#,
        rusqlite::params![commission, ms(utc(2025, 9, 15, 12, 0, 0)), ms(utc(2025, 9, 15, 13, 0, 0))],
    );
    exec(
        app,
        "INSERT INTO attachments (entity_type, entity_id, file_type, storage_key, file_name, mime_type, size, document_type, created_at)
         VALUES ('COMMISSION', ?1, 'PHOTO', 'export-check', 'check.jpg', 'image/jpeg', 10, 'check', 0)",
        [commission],
    );
    let reward = reward(app, referrer, master, commission, 25_000, utc(2025, 9, 15, 13, 0, 0));
    Known { order, commission, reward, master, referrer }
}

fn master_referrer(app: &WebApp, city: i64) -> i64 {
    master(app, "Рефер Рефереров", "+79990002233", city)
}

/// A GET through the API as `who`; the status, the headers and the body.
async fn get(api: &Api, path: &str, lang: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = api.request(Method::GET, path).header("accept-language", lang).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// The CSV's rows as fields, after checking the BOM.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "the CSV starts with the UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').has_headers(false).from_reader(&bytes[3..]);
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

/// The value of `column` in the row whose first field is `id`.
fn field<'a>(rows: &'a [Vec<String>], id: i64, column: &str) -> &'a str {
    let at = rows[0].iter().position(|c| c == column).unwrap_or_else(|| panic!("no column {column}"));
    let row = rows.iter().find(|r| r[0] == id.to_string()).unwrap_or_else(|| panic!("no row {id}"));
    &row[at]
}

/// The only sheet of an XLSX: its name and its cells.
fn sheet(bytes: &[u8]) -> (String, Vec<Vec<Data>>) {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let names = book.sheet_names();
    assert_eq!(names.len(), 1, "one sheet");
    let range = book.worksheet_range(&names[0]).unwrap();
    (names[0].clone(), range.rows().map(<[Data]>::to_vec).collect())
}

fn cell<'a>(rows: &'a [Vec<Data>], id: i64, column: &str) -> &'a Data {
    let at = rows[0].iter().position(|c| c == &Data::String(column.into())).unwrap_or_else(|| panic!("no column {column}"));
    let row = rows.iter().find(|r| r[0] == Data::Float(id as f64)).unwrap_or_else(|| panic!("no row {id}"));
    row.get(at).unwrap_or(&Data::Empty)
}

const PERIOD_I: &str = "period=custom&from=2025-09-14&to=16.09.2025";

#[tokio::test]
async fn orders_export_as_section_4_7_says_in_both_formats() {
    let app = app(Tz::UTC).await;
    let k = known(&app);
    let admin = Api::staff(&app, "admin").await;

    let (status, headers, body) = get(&admin, &format!("/api/v1/exports/orders.csv?{PERIOD_I}"), "ru").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"orders_20260310T090000Z.csv\"");
    let rows = csv_rows(&body);
    assert_eq!(
        rows[0].join(";"),
        "order_id;created_at_utc;closed_at_utc;city;district;street;house;lat;lon;category;status;type;timeslot_start_utc;\
         timeslot_end_utc;late_visit;company_payment;total_sum;user_name;user_phone;master_name;master_phone;cancel_reason"
    );
    assert_eq!(rows.len(), 2, "the demo's orders are of 2026: only the known one");
    let expected = [
        ("created_at_utc", "2025-09-14T12:00:00Z"),
        ("closed_at_utc", "2025-09-15T11:00:00Z"),
        ("city", "Москва"),
        ("district", "Экспортный"),
        ("street", "ул. Выгрузки"),
        ("house", "10"),
        ("lat", "55.123456"),
        ("lon", "37.654321"),
        ("category", "ELECTRICS"),
        ("status", "CLOSED"),
        ("type", "NORMAL"),
        // No slot: 10:00–13:00 on the operator's clock (UTC here) on the day it was closed.
        ("timeslot_start_utc", "2025-09-15T10:00:00Z"),
        ("timeslot_end_utc", "2025-09-15T13:00:00Z"),
        ("late_visit", "false"),
        ("company_payment", ""),
        ("total_sum", "3500.50"),
        ("user_name", "Анна"),
        // Phones start with '+', so they are neutralised like any text a spreadsheet would run.
        ("user_phone", "'+79991234567"),
        ("master_name", "Пётр Экспортов"),
        ("master_phone", "'+79990001122"),
        ("cancel_reason", ""),
    ];
    for (column, value) in expected {
        assert_eq!(field(&rows, k.order, column), value, "{column}");
    }

    let (status, headers, body) = get(&admin, &format!("/api/v1/exports/orders.xlsx?{PERIOD_I}"), "ru").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], XLSX);
    assert_eq!(headers["content-disposition"], "attachment; filename=\"orders_20260310T090000Z.xlsx\"");
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
    let (name, cells) = sheet(&body);
    assert_eq!(name, "orders");
    assert_eq!(cells[0].len(), 22);
    assert_eq!(cell(&cells, k.order, "total_sum"), &Data::Float(3500.5));
    assert_eq!(cell(&cells, k.order, "lat"), &Data::Float(55.123456));
    assert_eq!(cell(&cells, k.order, "late_visit"), &Data::Bool(false));
    assert_eq!(cell(&cells, k.order, "company_payment"), &Data::Empty);
    assert_eq!(cell(&cells, k.order, "created_at_utc"), &Data::String("2025-09-14T12:00:00Z".into()));
    // In the XLSX the phone keeps its value; the cell is flagged as text (quote prefix) instead.
    assert_eq!(cell(&cells, k.order, "user_phone"), &Data::String("+79991234567".into()));
}

#[tokio::test]
async fn commissions_and_rewards_export_with_their_columns() {
    let app = app(Tz::UTC).await;
    let k = known(&app);
    let admin = Api::staff(&app, "admin").await;

    let (status, _, body) = get(&admin, &format!("/api/v1/exports/commissions.csv?{PERIOD_I}"), "ru").await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_rows(&body);
    assert_eq!(
        rows[0].join(";"),
        "commission_id;order_id;master_id;master_name;master_phone;amount;rate;created_at_utc;deadline_at_utc;paid_reported_at_utc;\
         paid_approved_at_utc;paid_amount;is_paid;has_checks;snapshot_methods;snapshot_card_number_last4;snapshot_sbp_phone_masked"
    );
    let expected = [
        ("order_id", k.order.to_string()),
        ("master_id", k.master.to_string()),
        ("amount", "2000.00".into()),
        ("rate", "0.50".into()),
        ("created_at_utc", "2025-09-15T11:00:00Z".into()),
        ("deadline_at_utc", "2025-09-15T14:00:00Z".into()),
        ("paid_reported_at_utc", "2025-09-15T12:00:00Z".into()),
        ("paid_approved_at_utc", "2025-09-15T13:00:00Z".into()),
        ("paid_amount", "2000.00".into()),
        ("is_paid", "true".into()),
        ("has_checks", "true".into()),
        ("snapshot_methods", "card,sbp".into()),
        ("snapshot_card_number_last4", "4242".into()),
        ("snapshot_sbp_phone_masked", "'+71234".into()),
    ];
    for (column, value) in expected {
        assert_eq!(field(&rows, k.commission, column), value, "{column}");
    }
    let (status, _, body) = get(&admin, &format!("/api/v1/exports/commissions.xlsx?{PERIOD_I}"), "ru").await;
    assert_eq!(status, StatusCode::OK);
    let (name, cells) = sheet(&body);
    assert_eq!(name, "commissions");
    assert_eq!(cell(&cells, k.commission, "has_checks"), &Data::Bool(true));
    assert_eq!(cell(&cells, k.commission, "amount"), &Data::Float(2000.0));
    assert_eq!(cell(&cells, k.commission, "rate"), &Data::Float(0.5));
    assert_eq!(cell(&cells, k.commission, "snapshot_sbp_phone_masked"), &Data::String("+71234".into()));

    let (status, headers, body) = get(&admin, &format!("/api/v1/exports/ref_rewards.csv?{PERIOD_I}"), "ru").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-disposition"].to_str().unwrap().contains("filename=\"ref_rewards_20260310T090000Z.csv\""));
    let rows = csv_rows(&body);
    assert_eq!(rows[0], ["reward_id", "master_id", "order_id", "commission_id", "level", "amount", "created_at_utc"]);
    assert_eq!(rows[1..], [vec![k.reward.to_string(), k.referrer.to_string(), k.order.to_string(), k.commission.to_string(), "1".into(), "250.00".into(), "2025-09-15T13:00:00Z".into()]]);
    let (_, _, body) = get(&admin, &format!("/api/v1/exports/ref_rewards.xlsx?{PERIOD_I}"), "ru").await;
    let (name, cells) = sheet(&body);
    assert_eq!(name, "ref_rewards");
    assert_eq!(cell(&cells, k.reward, "amount"), &Data::Float(250.0));
    assert_eq!(cell(&cells, k.reward, "master_id"), &Data::Float(k.referrer as f64));
}

#[tokio::test]
async fn a_single_day_holds_its_rows_and_its_neighbours_none() {
    // I4: the period 2025-01-15..2025-01-15 includes an order at 10:30, a commission at 12:00 and a reward
    // at 14:00 that day; rows of the 14th and the 16th stay out.
    let app = app(Tz::UTC).await;
    let moscow = city(&app, "Москва");
    let master = master(&app, "Иван Январский", "+79990003344", moscow);
    let referrer = master_referrer(&app, moscow);
    let order = order(&app, moscow, utc(2025, 1, 15, 10, 30, 0), "CLOSED", ("Олег", "89991234567"));
    let commission = commission(&app, order, master, 100_000, utc(2025, 1, 15, 12, 0, 0));
    let reward = reward(&app, referrer, master, commission, 10_000, utc(2025, 1, 15, 14, 0, 0));
    let before = order_at(&app, moscow, utc(2025, 1, 14, 23, 59, 59));
    let after = order_at(&app, moscow, utc(2025, 1, 16, 0, 0, 0));
    let admin = Api::staff(&app, "admin").await;
    let ids = |body: &[u8]| csv_rows(body)[1..].iter().map(|r| r[0].parse::<i64>().unwrap()).collect::<Vec<_>>();
    let day = "period=custom&from=15.01.2025&to=2025-01-15";
    let (_, _, body) = get(&admin, &format!("/api/v1/exports/orders.csv?{day}"), "ru").await;
    assert_eq!(ids(&body), [order]);
    let (_, _, body) = get(&admin, &format!("/api/v1/exports/commissions.csv?{day}"), "ru").await;
    assert_eq!(ids(&body), [commission]);
    let (_, _, body) = get(&admin, "/api/v1/exports/ref_rewards.csv?from=2025-01-15&to=2025-01-15", "ru").await;
    assert_eq!(ids(&body), [reward]);
    let (_, _, body) = get(&admin, "/api/v1/exports/orders.csv?from=2025-01-14&to=2025-01-16", "ru").await;
    assert_eq!(ids(&body), [before, order, after], "by created_at");
}

fn order_at(app: &WebApp, city: i64, created: DateTime<Utc>) -> i64 {
    order(app, city, created, "SEARCHING", ("Клиент", "+79995550000"))
}

#[tokio::test]
async fn days_are_the_operators_and_quick_periods_count_from_today() {
    // Moscow is UTC+3: 13 Sep 21:30Z is already the 14th, 14 Sep 21:30Z already the 15th.
    let app = app(Tz::Europe__Moscow).await;
    let moscow = city(&app, "Москва");
    let early = order_at(&app, moscow, utc(2025, 9, 13, 21, 30, 0));
    let late = order_at(&app, moscow, utc(2025, 9, 14, 21, 30, 0));
    let admin = Api::staff(&app, "admin").await;
    let (_, _, body) = get(&admin, "/api/v1/exports/orders.csv?from=2025-09-14&to=2025-09-14", "ru").await;
    let rows = csv_rows(&body);
    assert_eq!(rows[1..].iter().map(|r| r[0].parse::<i64>().unwrap()).collect::<Vec<_>>(), [early]);
    assert_ne!(early, late);
    // Today (10 Mar 2026 in Moscow) holds the demo's orders created today and nothing else.
    let today: i64 = app
        .db
        .read(|c| c.query_row("SELECT COUNT(*) FROM orders WHERE created_at >= ?1 AND created_at < ?2", [ms(utc(2026, 3, 9, 21, 0, 0)), ms(utc(2026, 3, 10, 21, 0, 0))], |r| r.get(0)).map_err(Error::from))
        .unwrap();
    let (status, _, body) = get(&admin, "/api/v1/exports/orders.csv?period=today", "ru").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv_rows(&body).len() as i64 - 1, today);
    let (_, _, body) = get(&admin, "/api/v1/exports/orders.csv", "ru").await;
    assert_eq!(csv_rows(&body).len() as i64 - 1, today, "no period = today");
}

#[tokio::test]
async fn city_admins_export_their_cities_only_and_logists_nothing() {
    // I6.
    let app = app(Tz::UTC).await;
    let (moscow, spb) = (city(&app, "Москва"), city(&app, "Санкт-Петербург"));
    let in_moscow = order_at(&app, moscow, utc(2025, 9, 14, 9, 0, 0));
    let in_spb = order_at(&app, spb, utc(2025, 9, 14, 10, 0, 0));
    let ids = |body: &[u8]| csv_rows(body)[1..].iter().map(|r| r[0].parse::<i64>().unwrap()).collect::<Vec<_>>();
    let path = |extra: &str| format!("/api/v1/exports/orders.csv?{PERIOD_I}{extra}");

    let admin = Api::staff(&app, "admin").await;
    assert_eq!(ids(&get(&admin, &path(""), "ru").await.2), [in_moscow, in_spb]);
    assert_eq!(ids(&get(&admin, &path(&format!("&city_id={spb}")), "ru").await.2), [in_spb]);

    let city_admin = Api::staff(&app, "moscow").await;
    assert_eq!(ids(&get(&city_admin, &path(""), "ru").await.2), [in_moscow]);
    let (status, _, body) = get(&city_admin, &path(&format!("&city_id={spb}")), "en").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another city is not found");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"], "not_found");

    let logist = Api::staff(&app, "logist").await;
    let (status, _, body) = get(&logist, &path(""), "en").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "forbidden");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.is_ascii() && !message.is_empty(), "in English: {message}");
    let mut logist_page = app.staff("logist").await;
    let page = logist_page.get(&format!("/exports/download?export=orders&format=csv&{PERIOD_I}")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(logist_page.get("/exports").await.status, StatusCode::FORBIDDEN);
    assert!(!logist_page.get("/").await.has("href=\"/exports\""), "no menu entry for a logist");

    // A city admin left without cities gets an empty file, never every city.
    exec(&app, "DELETE FROM staff_cities WHERE staff_id = (SELECT id FROM staff_users WHERE login = 'moscow')", []);
    for file in ["orders.csv", "commissions.csv", "ref_rewards.csv"] {
        let (status, _, body) = get(&city_admin, &format!("/api/v1/exports/{file}?{PERIOD_I}"), "ru").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(csv_rows(&body).len(), 1, "{file}: the header only");
    }
    let (_, _, body) = get(&city_admin, &format!("/api/v1/exports/orders.xlsx?{PERIOD_I}"), "ru").await;
    assert_eq!(sheet(&body).1.len(), 1, "the header only");
}

#[tokio::test]
async fn text_a_spreadsheet_would_run_is_neutralised_in_both_formats() {
    let app = app(Tz::UTC).await;
    let moscow = city(&app, "Москва");
    let order = order(&app, moscow, utc(2025, 9, 14, 9, 0, 0), "CANCELED", ("=HYPERLINK(\"http://evil\",\"x\")", "+79991112233"));
    history(&app, order, "CANCELED", "@SUM(1+1)", utc(2025, 9, 14, 10, 0, 0));
    exec(&app, "UPDATE orders SET house = '-1', address_comment = NULL WHERE id = ?1", [order]);
    let admin = Api::staff(&app, "admin").await;
    let (_, _, body) = get(&admin, &format!("/api/v1/exports/orders.csv?{PERIOD_I}"), "ru").await;
    let rows = csv_rows(&body);
    assert_eq!(field(&rows, order, "user_name"), "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(field(&rows, order, "cancel_reason"), "'@SUM(1+1)");
    assert_eq!(field(&rows, order, "house"), "'-1");
    assert_eq!(field(&rows, order, "status"), "CANCELED");
    let (_, _, body) = get(&admin, &format!("/api/v1/exports/orders.xlsx?{PERIOD_I}"), "ru").await;
    let (_, cells) = sheet(&body);
    // Text, never a formula: calamine reads the value as typed.
    assert_eq!(cell(&cells, order, "user_name"), &Data::String("=HYPERLINK(\"http://evil\",\"x\")".into()));
    assert_eq!(cell(&cells, order, "cancel_reason"), &Data::String("@SUM(1+1)".into()));
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(body)).unwrap();
    let formulas = book.worksheet_formula("orders").unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "no formula cell");
}

#[tokio::test]
async fn nonsense_periods_are_refused_in_the_callers_language() {
    let app = app(Tz::UTC).await;
    let admin = Api::staff(&app, "admin").await;
    let cases = [
        ("from=2025-09-16&to=2025-09-14", "to"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("from=14/09/2025&to=2025-09-16", "from"),
        ("from=2025-09-14", "to"),
        ("period=fortnight", "period"),
        ("period=custom", "from"),
    ];
    for (query, named) in cases {
        let (status, headers, body) = get(&admin, &format!("/api/v1/exports/orders.xlsx?{query}"), "en").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
        let error: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["field"], named, "{query}");
    }
    let (_, _, body) = get(&admin, "/api/v1/exports/orders.csv?from=2025-01-01&to=2026-01-02", "en").await;
    let message = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("366"), "{message}");
    assert_eq!(get(&admin, "/api/v1/exports/orders.csv?from=2025-01-01&to=2026-01-01", "en").await.0, StatusCode::OK, "366 days are fine");
    assert_eq!(get(&admin, "/api/v1/exports/orders.pdf", "en").await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_page_offers_the_exports_and_downloads_them() {
    let app = app(Tz::UTC).await;
    let k = known(&app);
    let mut browser = app.staff("moscow").await;
    let page = browser.get("/exports").await;
    assert_eq!(page.status, StatusCode::OK);
    for id in ["export-orders", "export-commissions", "export-ref_rewards", "format-csv", "format-xlsx", "period-today", "period-previous_month", "period-custom"] {
        assert!(page.has(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(page.has("href=\"/exports\""), "in the menu");
    assert!(!page.has("Санкт-Петербург"), "only his cities to pick");

    let response = browser.open_stream(&format!("/exports/download?export=commissions&format=xlsx&city_id=&{PERIOD_I}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"commissions_20260310T090000Z.xlsx\"");
    let (name, cells) = sheet(&response.bytes().await.unwrap());
    assert_eq!(name, "commissions");
    assert_eq!(cell(&cells, k.commission, "order_id"), &Data::Float(k.order as f64));

    let response = browser.open_stream("/exports/download?export=orders&format=csv&period=yesterday").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().starts_with(b"\xEF\xBB\xBForder_id;created_at_utc;"));

    // A refused range: the page again, the reason beside the field, the dates as typed.
    let page = browser.get("/exports/download?export=orders&format=csv&period=custom&from=2025-09-16&to=2025-09-14").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.has("id=\"to-error\"") && page.has("не раньше начала периода"), "{}", page.html);
    assert!(page.has("value=\"2025-09-16\""));
    let page = browser.get("/lang/en?back=/exports").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = browser.get("/exports/download?export=orders&format=csv&period=custom&from=2025-01-01&to=2026-06-01").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.has("a period of at most 366 days"), "{}", page.html);
}

#[tokio::test]
async fn the_document_declares_the_six_files_and_both_content_types() {
    let app = app(Tz::UTC).await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", app.base)).await.unwrap().json().await.unwrap();
    let op = &doc["paths"]["/api/v1/exports/{file}"]["get"];
    let content = op["responses"]["200"]["content"].as_object().unwrap();
    assert!(content.contains_key("text/csv") && content.contains_key(XLSX), "{content:?}");
    let file = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "file").unwrap();
    let reference = file["schema"]["$ref"].as_str().map(|r| r.trim_start_matches("#/components/schemas/"));
    let schema = reference.map_or(&file["schema"], |name| &doc["components"]["schemas"][name]);
    assert_eq!(
        schema["enum"],
        serde_json::json!(["orders.csv", "orders.xlsx", "commissions.csv", "commissions.xlsx", "ref_rewards.csv", "ref_rewards.xlsx"])
    );
    for name in ["period", "from", "to", "city_id"] {
        assert!(op["parameters"].as_array().unwrap().iter().any(|p| p["name"] == name), "{name}");
    }
}
