//! The master's close report (issue 11 §2): a note for the office and up to five before/after photos sent
//! with the close through the JSON API, declared in the OpenAPI document, refused when over the limits, and
//! shown on the staff order card.

mod common;

use common::samples::PNG;
use common::t0;
use common::web::WebApp;
use fieldservice::demo::{PASSWORD, master_phone};
use fieldservice::error::Error;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

/// Demo order 8 is WORKING for master 3 (src/demo.rs).
const WORKING_FOR_3: i64 = 8;

async fn token(app: &WebApp, phone: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/master/login", app.base))
        .json(&json!({ "phone": phone, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

async fn close(app: &WebApp, token: &str, form: Form) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/me/orders/{WORKING_FOR_3}/close", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

fn count(app: &WebApp, sql: &'static str) -> i64 {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn stored_files(app: &WebApp) -> usize {
    std::fs::read_dir(app.dir.path().join("files")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn a_close_through_the_api_carries_a_note_and_photos_that_staff_see_on_the_order_card() {
    let app = WebApp::start(t0()).await;
    let master = token(&app, &master_phone(3)).await;
    let act = || Part::bytes(PNG).file_name("act.png");
    let photo = |name: &str| Part::bytes(PNG).file_name(name.to_string());

    let six = (0..6).fold(Form::new().text("amount", "4 500").part("act", act()), |f, i| f.part("photos", photo(&format!("p{i}.png"))));
    let (status, body) = close(&app, &master, six).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("photos")), "{body}");
    let long = Form::new().text("amount", "4 500").text("note", "я".repeat(1001)).part("act", act());
    let (status, body) = close(&app, &master, long).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("note")), "{body}");
    let pdf = Form::new().text("amount", "4 500").part("act", act()).part("photos", Part::bytes(b"%PDF-1.4 x".to_vec()).file_name("p.pdf"));
    let (status, body) = close(&app, &master, pdf).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("photos")), "{body}");
    assert_eq!((count(&app, "SELECT COUNT(*) FROM attachments WHERE entity_id = 8"), stored_files(&app)), (0, 0), "refusals keep nothing");

    let good = Form::new()
        .text("amount", "4 500")
        .text("note", "Заменил сливной насос.\nСтарый отдал клиенту.")
        .part("act", act())
        .part("photos", photo("до.png"))
        .part("photos", photo("после.png"));
    let (status, order) = close(&app, &master, good).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!((order["status"].as_str(), order["total_sum_kop"].as_i64()), (Some("PAYMENT"), Some(450_000)), "{order}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM attachments WHERE entity_id = 8 AND document_type = 'work_photo'"), 2);
    let event: String = app.db.read(|c| c.query_row("SELECT detail FROM order_events WHERE order_id = 8 AND kind = 'closed'", [], |r| r.get(0)).map_err(Error::from)).unwrap();
    assert!(event.contains("\"photos\":2") && event.contains("Заменил сливной насос"), "the close is audited with its report: {event}");

    for (login, lang) in [("admin", "ru"), ("logist", "en")] {
        let mut staff = app.staff(login).await;
        staff.cookies.push(format!("fs_lang={lang}"));
        let card = staff.get(&format!("/orders/{WORKING_FOR_3}")).await;
        assert_eq!(card.status, StatusCode::OK);
        assert!(card.has("id=\"close-note\"") && card.has("Заменил сливной насос.\nСтарый отдал клиенту."), "{}", card.html);
        assert!(card.has("до.png") && card.has("после.png"), "the photos are listed: {}", card.html);
        let (note, photo) = if lang == "ru" { ("Комментарий мастера при закрытии", "фото работы") } else { ("note on closing", "work photo") };
        assert!(card.has(note) && card.has(photo) && !card.has(">work_photo"), "{lang}: {}", card.html);
    }

    let doc: Value = reqwest::get(format!("{}/api/openapi.json", app.base)).await.unwrap().json().await.unwrap();
    let form = &doc["paths"]["/api/v1/me/orders/{id}/close"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"];
    let form = match form["$ref"].as_str() {
        Some(reference) => &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()],
        None => form,
    };
    assert_eq!(form["properties"]["note"]["maxLength"], 1000, "{form}");
    assert_eq!(form["properties"]["photos"]["maxItems"], 5, "{form}");
}

#[tokio::test]
async fn an_act_kept_for_a_close_that_never_came_is_forgotten_after_a_day() {
    use fieldservice::clock::Clock;
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(3)).await;
    let path = format!("/m/orders/{WORKING_FOR_3}/close");
    let refused = master.m_post_multipart(&path, Form::new().text("amount", "abc").part("act", Part::bytes(PNG).file_name("act.png"))).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((count(&app, "SELECT COUNT(*) FROM held_files"), stored_files(&app)), (1, 1));
    let soon = app.clock.now() + chrono::Duration::hours(23);
    assert!(app.db.write(|tx| fieldservice::uploads::forget_held(tx, soon)).unwrap().is_empty(), "kept for a day");
    let later = app.clock.now() + chrono::Duration::hours(25);
    let forgotten = app.db.write(|tx| fieldservice::uploads::forget_held(tx, later)).unwrap();
    assert_eq!((forgotten.len(), count(&app, "SELECT COUNT(*) FROM held_files")), (1, 0));
    assert!(!master.get(&path).await.has("id=\"act-kept\""), "the form no longer offers it");
}
