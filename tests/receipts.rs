//! Payment receipts and the SBP QR image over HTTP on the demo data set: the master sees the snapshot's QR
//! and uploads, opens and deletes receipts on his commission card; staff open them on the finance card;
//! the global admin uploads, replaces and removes the QR on the requisites editor and through the API.
//! Each route allowed and refused by role and city, another master's receipt and QR "not found", content
//! checks, CSRF on the forms, refused input changing nothing, and snapshots keeping the QR they were made
//! with when it is replaced.

mod common;

use common::dump::dump;
use common::samples::{PDF, PNG, jpeg};
use common::api::Api;
use common::t0;
use common::web::{Browser, WebApp};
use fieldservice::demo::master_phone;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::json;

/// Demo order 8 is WORKING for demo master 3.
const WORKING_FOR_3: i64 = 8;

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str) -> T {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(fieldservice::error::Error::from)).unwrap()
}

fn exec(app: &WebApp, sql: &str) {
    app.db.write(|tx| tx.execute(sql, []).map(drop)).unwrap();
}

/// The database without what every request may touch, and the stored files' names.
fn state(app: &WebApp) -> String {
    let mut files: Vec<String> = std::fs::read_dir(app.dir.path().join("files"))
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    files.sort();
    format!("{}\nfiles: {files:?}", dump(&app.db, &["sessions", "login_attempts"]))
}

fn file(bytes: &[u8], name: &str) -> Part {
    Part::bytes(bytes.to_vec()).file_name(name.to_string())
}

/// Master 3 closes demo order 8 with "4 500" through his page; the new commission's id.
async fn close_order_8(app: &WebApp, master: &mut Browser) -> i64 {
    let close = Form::new().text("amount", "4 500").part("act", file(PNG, "act.png"));
    let closed = master.m_post_multipart(&format!("/m/orders/{WORKING_FOR_3}/close"), close).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.html);
    scalar(app, "SELECT id FROM commissions WHERE order_id = 8")
}

/// A GET's status, type and bytes.
async fn fetch(browser: &mut Browser, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = reqwest::Client::new().get(format!("{}{path}", browser.base)).header("cookie", browser.cookies.join("; ")).send().await.unwrap();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (response.status(), kind, response.bytes().await.unwrap().to_vec())
}

fn snapshot_qr_key(app: &WebApp, commission: i64) -> Option<String> {
    scalar(app, &format!("SELECT json_extract(pay_to_snapshot, '$.sbp_qr_image.key') FROM commissions WHERE id = {commission}"))
}

#[tokio::test]
async fn a_master_uploads_receipts_on_his_card_and_staff_open_them() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(3)).await;
    let commission = close_order_8(&app, &mut master).await;
    let card_path = format!("/m/finance/{commission}");

    // The pay screen shows the snapshot's QR, served to him only.
    let card = master.get(&format!("{card_path}?ok=m_closed")).await;
    assert!(card.has("id=\"pay-qr\"") && card.has(&format!("src=\"{card_path}/qr\"")), "{}", card.html);
    assert!(card.has("accept=\"image/*,application/pdf\"") && card.has("id=\"receipts-none\""), "{}", card.html);
    let (status, kind, bytes) = fetch(&mut master, &format!("{card_path}/qr")).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "image/png"));
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG image");

    // Without the form's token, with a text file named .jpg, or with nothing: nothing changes.
    let before = state(&app);
    let forged = master.post_multipart_raw(&format!("{card_path}/receipts"), Form::new().part("receipt", file(PDF, "check.pdf"))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let text = master.m_post_multipart(&format!("{card_path}/receipts"), Form::new().part("receipt", file(b"not a photo at all", "check.jpg"))).await;
    assert_eq!(text.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.has("id=\"receipt-error\"") && text.has("Чек"), "the refusal names the receipt: {}", text.html);
    // One good and one bad file: neither is kept.
    let mixed = Form::new().part("receipt", file(PDF, "check.pdf")).part("receipt", file(b"plain text", "scan.png"));
    assert_eq!(master.m_post_multipart(&format!("{card_path}/receipts"), mixed).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let empty = master.m_post_multipart(&format!("{card_path}/receipts"), Form::new().part("receipt", Part::bytes(Vec::new()).file_name(""))).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(state(&app), before, "refused uploads change nothing, on disk either");

    // A PDF and a photo at once.
    let both = Form::new().part("receipt", file(PDF, "перевод.pdf")).part("receipt", file(&jpeg(), "screen.jpg"));
    let added = master.m_post_multipart(&format!("{card_path}/receipts"), both).await;
    assert_eq!(added.location, Some(format!("{card_path}?ok=m_receipt_added")), "{}", added.html);
    assert_eq!(scalar::<i64>(&app, &format!("SELECT has_checks FROM commissions WHERE id = {commission}")), 1);
    let ids: Vec<i64> = app.db.read(|c| {
        let mut stmt = c.prepare(&format!("SELECT id FROM attachments WHERE entity_type = 'COMMISSION' AND entity_id = {commission} AND document_type = 'check' ORDER BY id"))?;
        stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>().map_err(fieldservice::error::Error::from)
    }).unwrap();
    assert_eq!(ids.len(), 2);
    let (pdf, photo) = (ids[0], ids[1]);
    let events: i64 = scalar(&app, "SELECT COUNT(*) FROM order_events WHERE order_id = 8 AND kind = 'commission_receipt_added' AND source = 'master'");
    assert_eq!(events, 2, "each upload is a money event");
    let card = master.get(&card_path).await;
    assert!(card.has(&format!("id=\"receipt-{pdf}\"")) && card.has("перевод.pdf") && card.has(&format!("<img class=\"thumb\" src=\"{card_path}/receipts/{photo}\"")), "{}", card.html);
    let (status, kind, bytes) = fetch(&mut master, &format!("{card_path}/receipts/{pdf}")).await;
    assert_eq!((status, kind.as_str(), bytes.as_slice()), (StatusCode::OK, "application/pdf", PDF));

    // Another master reaches neither his receipts nor his QR nor his forms.
    let mut stranger = app.master(&master_phone(1)).await;
    let before = state(&app);
    for path in [format!("{card_path}/receipts/{pdf}"), format!("{card_path}/qr"), card_path.clone()] {
        assert_eq!(stranger.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let upload = stranger.m_post_multipart(&format!("{card_path}/receipts"), Form::new().part("receipt", file(PDF, "x.pdf"))).await;
    assert_eq!(upload.status, StatusCode::NOT_FOUND);
    assert_eq!(stranger.m_post(&format!("{card_path}/receipts/{pdf}/delete"), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(state(&app), before);

    // Staff with finance access open them from the card; a logist, or a city admin of another city, cannot.
    let mut admin = app.staff("admin").await;
    let staff_card = admin.get(&format!("/finance/{commission}")).await;
    assert!(staff_card.has(&format!("href=\"/finance/{commission}/receipts/{pdf}\"")) && staff_card.has("id=\"pay-qr\""), "{}", staff_card.html);
    assert!(staff_card.has("Загружен чек"), "the history shows the upload: {}", staff_card.html);
    let (status, _, bytes) = fetch(&mut admin, &format!("/finance/{commission}/receipts/{photo}")).await;
    assert_eq!((status, bytes), (StatusCode::OK, jpeg()));
    assert_eq!(fetch(&mut admin, &format!("/finance/{commission}/qr")).await.0, StatusCode::OK);
    assert_eq!(fetch(&mut admin, &format!("/finance/{commission}/receipts/999999")).await.0, StatusCode::NOT_FOUND);
    let mut logist = app.staff("logist").await;
    assert_eq!(fetch(&mut logist, &format!("/finance/{commission}/receipts/{pdf}")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(fetch(&mut logist, &format!("/finance/{commission}/qr")).await.0, StatusCode::FORBIDDEN);
    let mut moscow = app.staff("moscow").await;
    assert_eq!(fetch(&mut moscow, &format!("/finance/{commission}/receipts/{pdf}")).await.0, StatusCode::OK);
    exec(&app, "UPDATE staff_cities SET city_id = (SELECT id FROM cities WHERE name = 'Санкт-Петербург') WHERE staff_id = (SELECT id FROM staff_users WHERE login = 'moscow')");
    assert_eq!(fetch(&mut moscow, &format!("/finance/{commission}/receipts/{pdf}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(&mut moscow, &format!("/finance/{commission}/qr")).await.0, StatusCode::NOT_FOUND);

    // He deletes one (not without the token); the flag follows what is left.
    let before = state(&app);
    assert_eq!(master.post_raw(&format!("{card_path}/receipts/{pdf}/delete"), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(state(&app), before);
    let deleted = master.m_post(&format!("{card_path}/receipts/{pdf}/delete"), &[]).await;
    assert_eq!(deleted.location, Some(format!("{card_path}?ok=m_receipt_removed")));
    assert_eq!(master.get(&format!("{card_path}/receipts/{pdf}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(scalar::<i64>(&app, &format!("SELECT has_checks FROM commissions WHERE id = {commission}")), 1);

    // Once approved, receipts can be neither added nor deleted.
    assert_eq!(admin.post(&format!("/finance/{commission}/approve"), &[]).await.status, StatusCode::SEE_OTHER);
    let before = state(&app);
    let late = master.m_post_multipart(&format!("{card_path}/receipts"), Form::new().part("receipt", file(PDF, "late.pdf"))).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.html);
    assert_eq!(master.m_post(&format!("{card_path}/receipts/{photo}/delete"), &[]).await.status, StatusCode::CONFLICT);
    assert_eq!(state(&app), before);
    let card = master.get(&card_path).await;
    assert!(!card.has("id=\"receipt-form\"") && !card.has("/delete\"") && card.has(&format!("id=\"receipt-{photo}\"")), "{}", card.html);
}

#[tokio::test]
async fn receipts_through_the_api_by_role_and_city() {
    let app = WebApp::start(t0()).await;
    let commission: i64 = scalar(&app, "SELECT id FROM commissions WHERE status = 'WAIT_PAY' ORDER BY id LIMIT 1");
    let owner: i64 = scalar(&app, &format!("SELECT master_id FROM commissions WHERE id = {commission}"));
    let master = Api::master(&app, owner as usize).await;
    let path = format!("/api/v1/me/commissions/{commission}/receipts");

    let before = state(&app);
    let (status, error) = master.upload(reqwest::Method::POST, &path, b"hello, I am text", "check.jpg").await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("file")), "{error}");
    assert_eq!(state(&app), before, "a refused upload keeps nothing");
    let (status, receipt) = master.upload(reqwest::Method::POST, &path, PDF, "check.pdf").await;
    assert_eq!((status, receipt["mime_type"].as_str()), (StatusCode::CREATED, Some("application/pdf")), "{receipt}");
    let id = receipt["id"].as_i64().unwrap();
    let (status, list) = master.get(&path).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    assert_eq!(master.bytes(&format!("{path}/{id}")).await, (StatusCode::OK, PDF.to_vec()));
    let (status, qr) = master.bytes(&format!("/api/v1/me/commissions/{commission}/qr")).await;
    assert!(status == StatusCode::OK && qr.starts_with(b"\x89PNG"), "the demo snapshot carries the demo QR");

    let stranger_n = if owner == 1 { 2 } else { 1 };
    let stranger = Api::master(&app, stranger_n).await;
    let before = state(&app);
    assert_eq!(stranger.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stranger.bytes(&format!("{path}/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stranger.bytes(&format!("/api/v1/me/commissions/{commission}/qr")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stranger.upload(reqwest::Method::POST, &path, PDF, "x.pdf").await.0, StatusCode::NOT_FOUND);
    assert_eq!(stranger.delete(&format!("{path}/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(state(&app), before);

    let staff_path = format!("/api/v1/commissions/{commission}/receipts");
    let admin = Api::staff(&app, "admin").await;
    let (status, list) = admin.get(&staff_path).await;
    assert_eq!((status, list[0]["file_name"].as_str()), (StatusCode::OK, Some("check.pdf")));
    assert_eq!(admin.bytes(&format!("{staff_path}/{id}")).await, (StatusCode::OK, PDF.to_vec()));
    assert_eq!(admin.bytes(&format!("/api/v1/commissions/{commission}/qr")).await.0, StatusCode::OK);
    let (status, card) = admin.get(&format!("/api/v1/commissions/{commission}")).await;
    assert_eq!((status, card["receipts"][0]["id"].as_i64()), (StatusCode::OK, Some(id)));
    assert_eq!(card["commission"]["pay_to"]["sbp_qr"], json!(true));
    let logist = Api::staff(&app, "logist").await;
    assert_eq!(logist.get(&staff_path).await.0, StatusCode::FORBIDDEN);
    assert_eq!(logist.bytes(&format!("{staff_path}/{id}")).await.0, StatusCode::FORBIDDEN);
    let moscow = Api::staff(&app, "moscow").await;
    assert_eq!(moscow.get(&staff_path).await.0, StatusCode::OK);
    exec(&app, "UPDATE staff_cities SET city_id = (SELECT id FROM cities WHERE name = 'Санкт-Петербург') WHERE staff_id = (SELECT id FROM staff_users WHERE login = 'moscow')");
    assert_eq!(moscow.get(&staff_path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(moscow.bytes(&format!("{staff_path}/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(moscow.bytes(&format!("/api/v1/commissions/{commission}/qr")).await.0, StatusCode::NOT_FOUND);

    let (status, _) = master.delete(&format!("{path}/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(scalar::<i64>(&app, &format!("SELECT has_checks FROM commissions WHERE id = {commission}")), 0);
    assert_eq!(master.delete(&format!("{path}/{id}")).await.0, StatusCode::NOT_FOUND);
    let removed: i64 = scalar(&app, "SELECT COUNT(*) FROM order_events WHERE kind = 'commission_receipt_removed'");
    assert_eq!(removed, 1, "the deletion is a money event");
}

#[tokio::test]
async fn replacing_the_qr_never_changes_an_existing_snapshot() {
    let app = WebApp::start(t0()).await;
    let demo_commission: i64 = scalar(&app, "SELECT id FROM commissions WHERE status = 'WAIT_PAY' ORDER BY id LIMIT 1");
    let demo_key = snapshot_qr_key(&app, demo_commission).expect("demo commissions carry the demo QR");
    let admin_api = Api::staff(&app, "admin").await;
    let (_, demo_qr) = admin_api.bytes(&format!("/api/v1/commissions/{demo_commission}/qr")).await;

    // The editor: refused without the token, for a text file or a PDF (only images), and changing nothing.
    let mut admin = app.staff("admin").await;
    let editor = admin.get("/settings/requisites").await;
    assert!(editor.has("id=\"current-qr\"") && editor.has("id=\"qr-remove\""), "{}", editor.html);
    let before = state(&app);
    let forged = admin.post_multipart_raw("/settings/requisites/qr", Form::new().part("sbp_qr", file(PNG, "qr.png"))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let text = admin.post_multipart("/settings/requisites/qr", Form::new().part("sbp_qr", file(b"not an image", "qr.png"))).await;
    assert_eq!(text.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.has("id=\"sbp_qr-error\""), "{}", text.html);
    let pdf = admin.post_multipart("/settings/requisites/qr", Form::new().part("sbp_qr", file(PDF, "qr.pdf"))).await;
    assert_eq!(pdf.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(pdf.has("PNG, JPEG или WebP"), "{}", pdf.html);
    assert_eq!(admin.post_raw("/settings/requisites/qr/delete", &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(state(&app), before);
    let mut moscow = app.staff("moscow").await;
    assert_eq!(moscow.post_multipart("/settings/requisites/qr", Form::new().part("sbp_qr", file(PNG, "qr.png"))).await.status, StatusCode::FORBIDDEN);
    assert_eq!(fetch(&mut moscow, "/settings/requisites/qr").await.0, StatusCode::FORBIDDEN);
    assert_eq!(state(&app), before);

    // A new QR through the page: new commissions snapshot it, the demo one keeps its own.
    let saved = admin.post_multipart("/settings/requisites/qr", Form::new().part("sbp_qr", file(PNG, "qr.png"))).await;
    assert_eq!(saved.location.as_deref(), Some("/settings/requisites?ok=qr_saved"), "{}", saved.html);
    assert_eq!(fetch(&mut admin, "/settings/requisites/qr").await.2, PNG);
    let mut master = app.master(&master_phone(3)).await;
    let commission = close_order_8(&app, &mut master).await;
    let first_key = snapshot_qr_key(&app, commission).expect("the new commission has the new QR");
    assert_ne!(first_key, demo_key);
    assert_eq!(fetch(&mut master, &format!("/m/finance/{commission}/qr")).await.2, PNG);
    assert_eq!(admin_api.bytes(&format!("/api/v1/commissions/{demo_commission}/qr")).await.1, demo_qr);

    // Replaced through the API by a JPEG: the earlier file stays, as the commission references it.
    let jpeg = jpeg();
    let (status, requisites) = admin_api.upload(reqwest::Method::PUT, "/api/v1/settings/requisites/qr", &jpeg, "qr.jpg").await;
    assert_eq!((status, requisites["sbp_qr"].as_bool()), (StatusCode::OK, Some(true)), "{requisites}");
    assert_eq!(admin_api.bytes("/api/v1/settings/requisites/qr").await, (StatusCode::OK, jpeg.clone()));
    assert!(app.dir.path().join("files").join(&first_key).is_file(), "a referenced QR file is never deleted");
    assert_eq!(fetch(&mut master, &format!("/m/finance/{commission}/qr")).await.2, PNG, "his snapshot keeps its QR");
    let current: String = scalar(&app, "SELECT json_extract(value, '$.key') FROM settings WHERE key = 'owner_pay_sbp_qr'");

    // Refused through the API: a PDF, a text file; changing nothing. A city admin may not.
    let before = state(&app);
    let (status, error) = admin_api.upload(reqwest::Method::PUT, "/api/v1/settings/requisites/qr", PDF, "qr.pdf").await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("file")), "{error}");
    let (status, _) = admin_api.upload(reqwest::Method::PUT, "/api/v1/settings/requisites/qr", b"text", "qr.png").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let moscow_api = Api::staff(&app, "moscow").await;
    assert_eq!(moscow_api.upload(reqwest::Method::PUT, "/api/v1/settings/requisites/qr", PNG, "qr.png").await.0, StatusCode::FORBIDDEN);
    assert_eq!(moscow_api.delete("/api/v1/settings/requisites/qr").await.0, StatusCode::FORBIDDEN);
    assert_eq!(state(&app), before);

    // Removed: the unreferenced current file goes; new commissions get none; snapshots keep theirs.
    let (status, requisites) = admin_api.delete("/api/v1/settings/requisites/qr").await;
    assert_eq!((status, requisites["sbp_qr"].as_bool()), (StatusCode::OK, Some(false)));
    assert!(!app.dir.path().join("files").join(&current).exists(), "an unreferenced QR file is removed");
    assert_eq!(admin_api.bytes("/api/v1/settings/requisites/qr").await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(&mut master, &format!("/m/finance/{commission}/qr")).await.2, PNG);
    let editor = admin.get("/settings/requisites").await;
    assert!(editor.has("id=\"no-qr\"") && !editor.has("id=\"qr-remove\""), "{}", editor.html);
    let events: i64 = scalar(&app, "SELECT COUNT(*) FROM order_events WHERE kind IN ('requisites_qr_set', 'requisites_qr_removed') AND source = 'staff'");
    assert_eq!(events, 3, "each change of the QR is audited");
}
