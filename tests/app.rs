//! The HTTP server started in-process on a random port over a temporary database.

#[path = "common/contract.rs"]
mod contract;

use std::sync::Arc;

use fieldservice::app::AppState;
use fieldservice::clock::{Clock, SystemClock};
use fieldservice::config::Config;
use fieldservice::db::{Db, Durability};

#[tokio::test]
async fn healthz_reports_the_schema_and_the_status_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("fs.db"), Durability::Normal).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState { db, clock, config: Arc::new(Config::default()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(contract::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let health: serde_json::Value = reqwest::get(format!("{base}/healthz")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["schema_version"], fieldservice::db::SCHEMA_VERSION);
    assert_eq!(health["orders_searching"], 0);

    let page = reqwest::get(format!("{base}/status")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Field Service"));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
