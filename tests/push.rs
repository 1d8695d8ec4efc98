//! Web Push (issue 11 §1) against a fake push service on 127.0.0.1: a master's browsers subscribe through
//! the API, a new offer goes out signed (VAPID) and encrypted (aes128gcm) with the offer's remaining life
//! as TTL, the fake service checks the JWT and decrypts the payload with the keys the "browser" made; a
//! 410 deletes that browser's subscription, a 5xx is retried after the back-off (the clock is moved), and
//! a master without a subscription is sent nothing. Staff see who can be reached.

mod common;

use chrono::Duration;
use common::push_service::{CONTACT, Device, PushService, app_with_push};
use common::t0;
use common::web::{Browser, WebApp, csrf_of};
use fieldservice::app::AppState;
use fieldservice::clock::Clock;
use fieldservice::demo::master_phone;
use fieldservice::jobs;
use fieldservice::notifications::DeliveryReport;
use fieldservice::{offers, staff};
use serde_json::{Value, json};

/// Demo order 18: Москва, Центральный, ELECTRICS; fits masters 1 and 14.
const ELECTRICS_SEARCHING: i64 = 18;

struct World {
    app: WebApp,
    state: AppState,
    push: PushService,
}

impl World {
    async fn start() -> Self {
        let (app, state) = app_with_push(t0()).await;
        let push = PushService::start().await;
        let world = Self { app, state, push };
        // The demo's own notifications go first: nobody had subscribed, so nothing is sent for them.
        while world.deliver().await != DeliveryReport::default() {}
        assert!(world.push.received().is_empty());
        world
    }

    async fn deliver(&self) -> DeliveryReport {
        jobs::push_step(&self.state, self.app.clock.now()).await.unwrap()
    }

    /// Staff offer `order` to `master`; the offer's id.
    fn offer(&self, order: i64, master: i64) -> i64 {
        let now = self.app.clock.now();
        self.app
            .db
            .write(|tx| {
                let admin = staff::load_active(tx, 1)?.expect("the demo admin");
                offers::manual_offer(tx, now, &admin, order, master, true)
            })
            .unwrap()
            .id
    }

    fn scalar<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        self.app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(fieldservice::error::Error::from)).unwrap()
    }
}

/// Sends a JSON request of the master's page: his session cookie and the CSRF token of his home screen.
async fn api(browser: &mut Browser, method: reqwest::Method, path: &str, body: &Value) -> reqwest::StatusCode {
    let csrf = csrf_of(&browser.get("/m").await.html).unwrap();
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", browser.base))
        .header(reqwest::header::COOKIE, browser.cookies.join("; "))
        .header("x-csrf-token", csrf)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_ne!(status, 599, "{}", response.text().await.unwrap());
    status
}

async fn subscribe(browser: &mut Browser, device: &Device) {
    assert_eq!(api(browser, reqwest::Method::POST, "/api/v1/me/push/subscriptions", &device.json()).await, 204);
}

/// The opening tag of the enable step on the home screen.
fn step_tag(html: &str) -> String {
    let at = html.find("id=\"push-enable\"").expect("the enable step");
    html[at..].split('>').next().unwrap().to_string()
}

#[tokio::test]
async fn a_new_offer_reaches_every_device_signed_and_encrypted_and_a_gone_one_is_forgotten() {
    let w = World::start().await;
    let key: Value = reqwest::get(format!("{}/api/v1/push/key", w.app.base)).await.unwrap().json().await.unwrap();
    assert_eq!(key["enabled"], true);
    let published = key["public_key"].as_str().unwrap().to_string();

    let mut master = w.app.master(&master_phone(1)).await;
    let home = master.get("/m").await;
    assert!(home.has(&format!("data-vapid-key=\"{published}\"")) && home.has("Включить уведомления"), "the enable step: {}", home.html);
    assert!(!step_tag(&home.html).contains("hidden"), "shown until he subscribes");
    let phone = Device::new(w.push.endpoint("phone"));
    let tablet = Device::new(w.push.endpoint("tablet"));
    subscribe(&mut master, &phone).await;
    subscribe(&mut master, &phone).await; // every page load sends it again: still one
    subscribe(&mut master, &tablet).await;
    assert_eq!(w.scalar::<i64>("SELECT COUNT(*) FROM push_subscriptions WHERE master_id = 1"), 2);
    assert!(step_tag(&master.get("/m").await.html).contains("hidden"), "subscribed: the step is gone (the page re-syncs)");
    w.push.answer("tablet", &[410]);

    let start = fieldservice::db::ms(t0() + Duration::hours(3));
    w.app.db.write(|tx| tx.execute("UPDATE orders SET timeslot_start = ?2, timeslot_end = ?3 WHERE id = ?1", [ELECTRICS_SEARCHING, start, start + 7_200_000]).map(drop)).unwrap();
    let offer = w.offer(ELECTRICS_SEARCHING, 1);
    w.app.clock.advance(Duration::seconds(15));
    let report = w.deliver().await;
    assert_eq!(report.delivered, 1, "{report:?}");

    let received = w.push.received();
    assert_eq!(received.len(), 2, "one request per device");
    let to_phone = received.iter().find(|r| r.path == "/push/phone").unwrap();
    w.push.check_vapid(to_phone, &published, CONTACT);
    assert_eq!(to_phone.headers["ttl"], "105", "TTL is what is left of the offer's 120 seconds");
    assert_eq!(to_phone.headers["urgency"], "high");
    assert_eq!(to_phone.headers["content-encoding"], "aes128gcm");
    let shown = phone.decrypt(&to_phone.body);
    assert_eq!(shown["url"], format!("/m/offers/{offer}"));
    assert_eq!(shown["tag"], format!("offer-{offer}"));
    assert!(shown["title"].as_str().unwrap().contains("Электрика"), "{shown}");
    let body = shown["body"].as_str().unwrap();
    assert!(body.contains("Центральный") && body.contains("1:45") && body.contains('–'), "district, slot and time left: {body}");

    assert_eq!(w.scalar::<i64>("SELECT COUNT(*) FROM push_subscriptions WHERE master_id = 1"), 1, "410 deleted the tablet");
    assert_eq!(w.scalar::<String>("SELECT endpoint FROM push_subscriptions WHERE master_id = 1"), phone.endpoint);
    assert_eq!(w.scalar::<i64>("SELECT COUNT(*) FROM order_events WHERE kind = 'push_subscription_gone'"), 1, "audited");

    // Staff see him reachable, through the API.
    let mut admin = w.app.staff("admin").await;
    let status: Value = serde_json::from_str(&admin.get("/api/v1/masters/1/push").await.html).unwrap();
    assert_eq!((status["reachable"].clone(), status["subscriptions"].clone()), (json!(true), json!(1)));
    assert!(status["last_success_at"].is_string());

    // The order goes elsewhere: the offer is withdrawn on his phone (same tag, so it replaces the offer).
    let now = w.app.clock.now();
    w.app.db.write(|tx| fieldservice::orders::cancel_offers(tx, now, ELECTRICS_SEARCHING, false).map(drop)).unwrap();
    assert_eq!(w.deliver().await.delivered, 1);
    let withdrawn = w.push.received().into_iter().last().unwrap();
    let shown = phone.decrypt(&withdrawn.body);
    assert_eq!((shown["event"].as_str(), shown["tag"].clone()), (Some("offer_withdrawn"), json!(format!("offer-{offer}"))));
    assert!(shown["title"].as_str().unwrap().contains("больше не действует"), "{shown}");

    // He logs out on the phone: its subscription goes; the next push has nowhere to go.
    assert_eq!(api(&mut master, reqwest::Method::DELETE, "/api/v1/me/push/subscriptions", &json!({"endpoint": phone.endpoint})).await, 204);
    assert_eq!(w.scalar::<i64>("SELECT COUNT(*) FROM push_subscriptions"), 0);
    let before = w.push.received().len();
    while w.deliver().await != DeliveryReport::default() {}
    assert_eq!(w.push.received().len(), before, "nothing is sent to a master without a subscription");
}

#[tokio::test]
async fn a_failing_push_service_is_asked_again_after_the_back_off_and_staff_see_the_error() {
    let w = World::start().await;
    let mut master = w.app.master(&master_phone(14)).await;
    let phone = Device::new(w.push.endpoint("flaky"));
    subscribe(&mut master, &phone).await;
    w.push.answer("flaky", &[503]);

    w.offer(ELECTRICS_SEARCHING, 14);
    assert_eq!(w.deliver().await, DeliveryReport { failed: 1, ..Default::default() });
    let (attempts, error): (i64, String) = w
        .app
        .db
        .read(|c| c.query_row("SELECT attempt_count, last_error FROM notifications_outbox WHERE master_id = 14 AND event = 'new_offer'", [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(fieldservice::error::Error::from))
        .unwrap();
    assert_eq!((attempts, error.as_str()), (1, "HTTP 503"));
    let mut admin = w.app.staff("admin").await;
    let status: Value = serde_json::from_str(&admin.get("/api/v1/masters/14/push").await.html).unwrap();
    assert_eq!(status["reachable"], false);
    assert_eq!(status["last_error"], "HTTP 503");
    let card = admin.get("/masters/14").await;
    assert!(card.has("Не получает уведомлений") && card.has("HTTP 503"), "the master card tells staff: {}", card.html);
    let order = admin.get(&format!("/orders/{ELECTRICS_SEARCHING}")).await;
    let row = |id: i64| order.html.split(&format!("data-master-id=\"{id}\"")).nth(1).map(|rest| rest.split("</tr>").next().unwrap().to_string());
    assert!(row(1).expect("master 1 is a candidate").contains("без push"), "no subscription: marked");

    assert_eq!(w.deliver().await, DeliveryReport::default(), "not asked again before the back-off");
    assert_eq!(w.push.received().len(), 1);
    w.app.clock.advance(Duration::seconds(30));
    assert_eq!(w.deliver().await, DeliveryReport { delivered: 1, ..Default::default() });
    let second = &w.push.received()[1];
    assert_eq!(second.headers["ttl"], "90", "a retried offer carries only what is left of it");
    let status: Value = serde_json::from_str(&admin.get("/api/v1/masters/14/push").await.html).unwrap();
    assert_eq!(status["reachable"], true);
    assert!(admin.get("/masters/14").await.has("Подписан на уведомления"));

    // A push service that cannot be reached at all is a failure like a 5xx.
    let mut other = w.app.master(&master_phone(1)).await;
    subscribe(&mut other, &Device::new("http://127.0.0.1:9/push/closed".into())).await;
    w.offer(ELECTRICS_SEARCHING, 1);
    let report = w.deliver().await;
    assert_eq!(report.failed, 1, "{report:?}");
}

#[tokio::test]
async fn subscriptions_are_refused_while_push_is_off_and_for_what_is_not_a_subscription() {
    let w = World::start().await;
    let mut master = w.app.master(&master_phone(1)).await;
    let mut bad = Device::new("http://10.1.2.3/push/x".into()).json();
    assert_eq!(api(&mut master, reqwest::Method::POST, "/api/v1/me/push/subscriptions", &bad).await, 422, "plain HTTP off this machine");
    bad["endpoint"] = json!(w.push.endpoint("x"));
    bad["keys"]["p256dh"] = json!("AAAA");
    assert_eq!(api(&mut master, reqwest::Method::POST, "/api/v1/me/push/subscriptions", &bad).await, 422, "not a key");
    assert_eq!(w.scalar::<i64>("SELECT COUNT(*) FROM push_subscriptions"), 0);

    let off = WebApp::start(t0()).await;
    let mut admin = off.staff("admin").await;
    assert!(admin.get("/masters/1").await.has("не задан push_contact"), "staff are told push is off");
    assert!(!off.master(&master_phone(1)).await.get("/m").await.has("push-enable"), "no enable step while push is off");
    let key: Value = reqwest::get(format!("{}/api/v1/push/key", off.base)).await.unwrap().json().await.unwrap();
    assert_eq!(key, json!({"enabled": false, "public_key": null}));
    let mut master = off.master(&master_phone(1)).await;
    let device = Device::new(w.push.endpoint("y"));
    assert_eq!(api(&mut master, reqwest::Method::POST, "/api/v1/me/push/subscriptions", &device.json()).await, 409, "push is off");
}
