//! Storage faults as users and monitors meet them: with the disk full a write is refused with 503 and a
//! message that says so, in the user's language, changing nothing; `/healthz` reports "degraded" with the
//! reason; the server recovers by itself once writes succeed again; and it refuses to start on a database
//! it cannot write, naming the file.

mod common;

use common::dump::dump;
use common::t0;
use common::web::WebApp;
use fieldservice::auth::{self, Owner};
use fieldservice::error::Error;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Caps the database at its present size, as a full disk would (SQLite answers `SQLITE_FULL` alike).
fn fill_the_disk(app: &WebApp) {
    app.db
        .write(|tx| -> Result<(), Error> {
            let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            tx.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .unwrap();
}

fn free_the_disk(app: &WebApp) {
    app.db.write(|tx| -> Result<(), Error> { Ok(tx.query_row("PRAGMA max_page_count = 1073741823", [], |r| r.get::<_, i64>(0)).map(drop)?) }).unwrap();
}

async fn health(http: &reqwest::Client, app: &WebApp) -> (StatusCode, Value) {
    let response = http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn with_the_disk_full_writes_answer_503_saying_so_health_is_degraded_and_it_recovers_alone() {
    let app = WebApp::start(t0()).await;
    let http = reqwest::Client::new();
    let (admin, city, district) = app
        .db
        .read(|c| {
            let admin: i64 = c.query_row("SELECT id FROM staff_users WHERE login = 'admin'", [], |r| r.get(0))?;
            let (city, district) = c.query_row(
                "SELECT d.city_id, d.id FROM districts d JOIN cities c ON c.id = d.city_id WHERE c.name = 'Москва' LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )?;
            Ok::<_, Error>((admin, city, district))
        })
        .unwrap();
    let token = app.db.write(|tx| auth::create_token(tx, t0(), Owner::Staff(admin), "faults")).unwrap().1;
    let order = json!({"city_id": city, "district_id": district, "client_phone": "+79991234567", "category": "ELECTRICS",
                       "description": "Не работает розетка на кухне", "slot": "ASAP"});
    let create = || http.post(format!("{}/api/v1/orders", app.base)).bearer_auth(&token).json(&order).send();
    let (status, healthy) = health(&http, &app).await;
    assert_eq!((status, healthy["status"].as_str()), (StatusCode::OK, Some("ok")));

    let mut dispatcher = app.staff("logist").await;
    fill_the_disk(&app);
    // Each order takes room; the pages still free fill up within a few.
    let mut refused = None;
    for _ in 0..500 {
        let response = create().await.unwrap();
        if response.status() != StatusCode::CREATED {
            refused = Some((response.status(), response.json::<Value>().await.unwrap()));
            break;
        }
    }
    let (status, body) = refused.expect("the full disk refused an order");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "disk_full");
    assert!(body["error"]["message"].as_str().unwrap().contains("на его диске нет места"), "{body}");

    let before = dump(&app.db, &[]);
    let english = http.post(format!("{}/api/v1/orders", app.base)).bearer_auth(&token).header("accept-language", "en").json(&order).send().await.unwrap();
    assert_eq!(english.status(), StatusCode::SERVICE_UNAVAILABLE);
    let english: Value = english.json().await.unwrap();
    assert!(english["error"]["message"].as_str().unwrap().contains("its disk is full"), "{english}");
    let page = dispatcher.get(&format!("/orders/new?city_id={city}")).await;
    assert_eq!(page.status, StatusCode::OK, "reading still works");
    assert_eq!(dump(&app.db, &[]), before, "a refused write changes nothing");

    let (status, degraded) = health(&http, &app).await;
    assert_eq!((status, degraded["status"].as_str(), degraded["reason"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("degraded"), Some("disk_full")));

    free_the_disk(&app);
    assert_eq!(create().await.unwrap().status(), StatusCode::CREATED, "writes succeed again without a restart");
    let (status, healthy) = health(&http, &app).await;
    assert_eq!((status, healthy["status"].as_str()), (StatusCode::OK, Some("ok")), "{healthy}");
}

/// A database file the server cannot write (here made immutable with `chattr +i`, which holds for root
/// too) stops start-up with a message naming the file, instead of a server that looks healthy and answers
/// every login with an error.
#[test]
fn it_refuses_to_start_on_a_database_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = data.join("fieldservice.db");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fieldservice"))
            .args(args)
            .current_dir(dir.path())
            .env("FIELDSERVICE_CONFIG", dir.path().join("fieldservice.toml"))
            .env("FIELDSERVICE_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap()
    };
    assert!(run(&["check"]).status.success());
    let immutable = std::process::Command::new("chattr").arg("+i").arg(&db).status();
    if !immutable.is_ok_and(|s| s.success()) {
        eprintln!("skipped: this file system does not let the test make a file immutable (chattr +i)");
        return;
    }
    let out = run(&["serve"]);
    let _ = std::process::Command::new("chattr").arg("-i").arg(&db).status();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the server must not start: {err}");
    assert!(err.contains("data/fieldservice.db") && err.contains("cannot write the database"), "{err}");
}
