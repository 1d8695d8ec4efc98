//! The referral program over HTTP on the demo (master 1 invited master 2, who invited 7, who invited 8;
//! master 7's approved commission paid 2 and 1): `GET /api/v1/me/referral` for the master himself only,
//! `GET /api/v1/masters/{id}/referral` for staff of his city (404 outside it), the master's page in both
//! languages, his notification feed, the staff card's section, and a sign-up through the invitation link
//! that ends with the `referrals` row.

mod common;

use common::samples::{PNG, jpeg};
use common::t0;
use common::web::{Browser, Page, WebApp, csrf_of};
use fieldservice::clock::Clock;
use fieldservice::demo::{PASSWORD, master_phone};
use fieldservice::domain::{MasterId, StaffRole};
use fieldservice::error::Error;
use fieldservice::{password, signup, staff};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str, p: impl rusqlite::Params) -> T {
    app.db.read(|c| c.query_row(sql, p, |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn id_of(app: &WebApp, n: usize) -> MasterId {
    scalar(app, "SELECT id FROM masters WHERE phone = ?1", [master_phone(n)])
}

/// A bearer token of the demo master `n`.
async fn master_token(app: &WebApp, n: usize) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/master/login", app.base))
        .json(&json!({ "phone": master_phone(n), "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

/// A staff member's session cookie from the API login.
async fn staff_cookie(app: &WebApp, login: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/staff/login", app.base))
        .json(&json!({ "login": login, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "staff login {login}");
    response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
}

/// A city admin of Saint Petersburg only (the demo has none), password `demo`.
fn spb_admin(app: &WebApp) {
    let hash = password::hash(PASSWORD);
    let now = app.clock.now();
    app.db
        .write(|tx| {
            let spb: i64 = tx.query_row("SELECT id FROM cities WHERE name = 'Санкт-Петербург'", [], |r| r.get(0))?;
            staff::create(tx, now, "spb", &hash, StaffRole::CityAdmin, "Ирина Петербургская", &[spb])
        })
        .unwrap();
}

enum Auth<'a> {
    None,
    Bearer(&'a str),
    Cookie(&'a str),
}

async fn get(app: &WebApp, path: &str, auth: Auth<'_>) -> (StatusCode, Value) {
    let request = reqwest::Client::new().get(format!("{}/api/v1{path}", app.base));
    let request = match auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Cookie(cookie) => request.header(COOKIE, cookie),
    };
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_master_reads_only_his_own_referral_screen_and_his_code_stays() {
    let app = WebApp::start(t0()).await;
    let (one, two, seven) = (id_of(&app, 1), id_of(&app, 2), id_of(&app, 7));
    let token = master_token(&app, 2).await;
    let (status, body) = get(&app, "/me/referral", Auth::Bearer(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = body["code"].as_str().unwrap().to_string();
    assert_eq!(body["master_id"], json!(two));
    assert_eq!(body["link"], json!(format!("{}/m/signup?ref={code}", app.base)));
    assert_eq!(body["referrer"]["id"], json!(one));
    assert_eq!((body["invited_count"].clone(), body["pending_count"].clone()), (json!(1), json!(0)));
    assert_eq!(body["invitees"][0]["id"], json!(seven));
    let paid: i64 = scalar(&app, "SELECT paid_amount_kop FROM commissions WHERE master_id = ?1 AND status = 'APPROVED'", [seven]);
    assert_eq!(body["levels"][0], json!({"level": 1, "percent": 10, "count": 1, "amount_kop": (paid * 10 + 50) / 100}));
    assert_eq!(body["latest"][0]["status"], json!("ACCRUED"));
    let (_, again) = get(&app, "/me/referral", Auth::Bearer(&token)).await;
    assert_eq!(again["code"], json!(code), "the code never changes");

    // Master 1 sees his level-2 reward; nobody reads another master's screen.
    let (_, first) = get(&app, "/me/referral", Auth::Bearer(&master_token(&app, 1).await)).await;
    assert_eq!(first["levels"][1]["count"], json!(1));
    assert_eq!(get(&app, &format!("/masters/{one}/referral"), Auth::Bearer(&token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&app, "/me/referral", Auth::None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn staff_read_a_masters_referral_part_within_their_cities() {
    let app = WebApp::start(t0()).await;
    spb_admin(&app);
    let (two, spb_master) = (id_of(&app, 2), id_of(&app, 15));
    for login in ["admin", "moscow", "logist"] {
        let (status, body) = get(&app, &format!("/masters/{two}/referral"), Auth::Cookie(&staff_cookie(&app, login).await)).await;
        assert_eq!((status, body["invited_count"].clone()), (StatusCode::OK, json!(1)), "{login}: {body}");
    }
    let spb = staff_cookie(&app, "spb").await;
    let (status, body) = get(&app, &format!("/masters/{two}/referral"), Auth::Cookie(&spb)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "a Moscow master is not his");
    assert_eq!(get(&app, &format!("/masters/{spb_master}/referral"), Auth::Cookie(&spb)).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/masters/999999/referral", Auth::Cookie(&spb)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/me/referral", Auth::Cookie(&spb)).await.0, StatusCode::FORBIDDEN, "staff have no own screen");
    // Staff reading a card make no code for the master.
    let eight = id_of(&app, 8);
    let (_, body) = get(&app, &format!("/masters/{eight}/referral"), Auth::Cookie(&staff_cookie(&app, "admin").await)).await;
    assert_eq!((body["code"].clone(), body["referrer"]["id"].clone()), (Value::Null, json!(id_of(&app, 7))));
}

#[tokio::test]
async fn the_master_page_in_both_languages_his_feed_and_the_staff_card() {
    let app = WebApp::start(t0()).await;
    let mut master = app.master(&master_phone(2)).await;
    let home = master.get("/m").await;
    assert!(home.has("href=\"/m/referral\""), "the menu leads there");
    let page = master.get("/m/referral").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let code: String = scalar(&app, "SELECT referral_code FROM masters WHERE id = ?1", [id_of(&app, 2)]);
    for text in ["Реферальная программа", code.as_str(), &format!("/m/signup?ref={code}"), "10 %", "5 %", "не выплачиваются", "data-share=", "Соколов Павел", "Иванов Сергей"] {
        assert!(page.has(text), "{text}");
    }
    let feed = master.get("/m/notifications").await;
    assert!(feed.has("Начислен реферальный бонус") && feed.has("уровень 1"), "{}", feed.html);
    master.cookies.push("fs_lang=en".into());
    let page = master.get("/m/referral").await;
    for text in ["Referral program", "Rewards are virtual", "Share the invitation", "Level 1: 10 %", "310\u{a0}₽ (rewards: 1)"] {
        assert!(page.has(text), "{text}");
    }
    let raw_key = |html: &str| html.match_indices("referral.").any(|(i, _)| html[i + 9..].starts_with(|c: char| c.is_ascii_lowercase()));
    assert!(!raw_key(&page.html), "no raw keys: {}", page.html);
    let feed = master.get("/m/notifications").await;
    assert!(feed.has("Referral reward accrued") && feed.has("level 1"));

    let two = id_of(&app, 2);
    let mut admin = app.staff("admin").await;
    let card = admin.get(&format!("/masters/{two}")).await;
    for text in ["id=\"referral\"", code.as_str(), &format!("href=\"/masters/{}\"", id_of(&app, 1)), &format!("href=\"/masters/{}\"", id_of(&app, 7)), "id=\"referral-rewards\""] {
        assert!(card.has(text), "{text}");
    }
    spb_admin(&app);
    let mut spb = app.staff("spb").await;
    assert_eq!(spb.get(&format!("/masters/{two}")).await.status, StatusCode::NOT_FOUND);
}

/// Sends a multipart form as the anonymous visitor, keeping the cookies.
async fn send(browser: &mut Browser, path: &str, form: Form) -> Page {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = http.post(format!("{}{path}", browser.base)).header(COOKIE, browser.cookies.join("; ")).multipart(form).send().await.unwrap();
    let status = response.status();
    let location = response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_string());
    Page { status, location, html: response.text().await.unwrap() }
}

fn questionnaire(csrf: &str, district: i64, referral: &str) -> Form {
    let fields = [
        ("csrf", csrf.to_string()),
        ("pdn_consent", "on".into()),
        ("last_name", "Петров".into()),
        ("first_name", "Иван".into()),
        ("phone", "+79161234567".into()),
        ("password", "секретный пароль".into()),
        ("referral_code", referral.into()),
        ("has_vehicle", "yes".into()),
        ("skills", "PLUMBING".into()),
        ("payout_method", "CARD".into()),
        ("payout_data", "1234 5678 9012 3456".into()),
        ("district_ids", district.to_string()),
    ];
    let mut form = Form::new();
    for (name, value) in fields {
        form = form.text(name, value);
    }
    form.part("passport", Part::bytes(PNG.to_vec()).file_name("p.png")).part("selfie", Part::bytes(jpeg()).file_name("s.jpg"))
}

#[tokio::test]
async fn a_newcomer_signs_up_through_the_invitation_link_and_becomes_a_referral() {
    let app = WebApp::start(t0()).await;
    let two = id_of(&app, 2);
    let now = app.clock.now();
    let code = app.db.write(|tx| fieldservice::money::referrals::ensure_code(tx, now, two)).unwrap();
    let (invite, district) = app
        .db
        .write(|tx| {
            let moscow: i64 = tx.query_row("SELECT id FROM cities WHERE name = 'Москва'", [], |r| r.get(0))?;
            let district: i64 = tx.query_row("SELECT id FROM districts WHERE city_id = ?1 AND name = 'Центральный'", [moscow], |r| r.get(0))?;
            let admin = staff::load_active(tx, 1)?.unwrap();
            Ok::<_, Error>((signup::create_invite(tx, now, &admin, moscow, 72, None)?, district))
        })
        .unwrap();
    let mut newcomer = app.anonymous();
    let landing = newcomer.get(&format!("/m/signup?ref={}", code.to_lowercase())).await;
    assert_eq!(landing.status, StatusCode::OK);
    assert!(landing.has(&format!("name=\"ref\" value=\"{code}\"")) && landing.has("id=\"referral-notice\""), "{}", landing.html);
    // He types the dispatcher's invite code into that form: the referral code goes along.
    let typed = newcomer.get(&format!("/m/invite?code={}&ref={code}", invite.code)).await;
    assert_eq!(typed.location.as_deref(), Some(format!("/m/invite/{}?ref={code}", invite.code).as_str()));
    let form = newcomer.get(&format!("/m/invite/{}?ref={code}", invite.code)).await;
    assert!(form.has(&format!("value=\"{code}\"")), "the code is filled in");
    let csrf = csrf_of(&form.html).unwrap();

    let before = scalar::<i64>(&app, "SELECT COUNT(*) FROM masters", []);
    let refused = send(&mut newcomer, &format!("/m/invite/{}", invite.code), questionnaire(&csrf, district, "ZZZZ9999")).await;
    assert!(refused.has("код не найден"), "{}", refused.html);
    assert_eq!(scalar::<i64>(&app, "SELECT COUNT(*) FROM masters", []), before, "refused input creates nothing");

    let sent = send(&mut newcomer, &format!("/m/invite/{}", invite.code), questionnaire(&csrf, district, &code)).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let new: i64 = scalar(&app, "SELECT id FROM masters WHERE phone = '+79161234567'", []);
    assert_eq!(scalar::<i64>(&app, "SELECT referrer_id FROM referrals WHERE master_id = ?1", [new]), two);
    assert_eq!(scalar::<Option<i64>>(&app, "SELECT referred_by_master_id FROM masters WHERE id = ?1", [new]), Some(two));
    assert_eq!(scalar::<i64>(&app, "SELECT COUNT(*) FROM notifications_outbox WHERE master_id = ?1 AND event = 'referral_registered'", [two]), 1);
    // He is pending on his referrer's screen.
    let (_, screen) = get(&app, "/me/referral", Auth::Bearer(&master_token(&app, 2).await)).await;
    assert_eq!((screen["invited_count"].clone(), screen["pending_count"].clone()), (json!(2), json!(1)));
}
