//! A master's sign-up through an invite on the phone page (/m/invite/{token}): the questionnaire opens for
//! a usable invite, sends him to moderation with his documents, shows every refusal beside its field, and
//! refuses used, expired and revoked invites and forged submissions without creating anything.

mod common;

use chrono::Duration;
use common::samples::{PNG, jpeg};
use common::dump::dump;
use common::t0;
use common::web::{Browser, Page, WebApp, csrf_of};
use fieldservice::clock::Clock;
use fieldservice::domain::CityId;
use fieldservice::error::Error;
use fieldservice::signup::{self, Invite, Registration};
use fieldservice::staff;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const PHONE: &str = "+79161234567";
const PASSWORD: &str = "секретный пароль";

fn city(app: &WebApp, name: &str) -> CityId {
    app.db.read(|c| c.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn district(app: &WebApp, city: CityId, name: &str) -> i64 {
    app.db
        .read(|c| c.query_row("SELECT id FROM districts WHERE city_id = ?1 AND name = ?2", rusqlite::params![city, name], |r| r.get(0)).map_err(Error::from))
        .unwrap()
}

/// An invite issued by the global admin through the rules.
fn invite(app: &WebApp, city: CityId) -> Invite {
    let now = app.clock.now();
    app.db
        .write(|tx| {
            let id: i64 = tx.query_row("SELECT id FROM staff_users WHERE login = 'admin'", [], |r| r.get(0))?;
            let admin = staff::load_active(tx, id)?.unwrap();
            signup::create_invite(tx, now, &admin, city, 72, Some("тест"))
        })
        .unwrap()
}

fn masters(app: &WebApp) -> i64 {
    app.db.read(|c| c.query_row("SELECT COUNT(*) FROM masters", [], |r| r.get(0)).map_err(Error::from)).unwrap()
}

/// The stored files of the app (none may be left behind by a refused sign-up).
fn stored_files(app: &WebApp) -> usize {
    std::fs::read_dir(app.dir.path().join("files")).map(|d| d.count()).unwrap_or(0)
}

/// Sends a multipart form exactly as given (the visitor is anonymous: the fixture's `post_multipart` reads
/// a staff page's token).
async fn send(browser: &mut Browser, path: &str, form: Form) -> Page {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = http.post(format!("{}{path}", browser.base)).header(COOKIE, browser.cookies.join("; ")).multipart(form).send().await.unwrap();
    let status = response.status();
    let location = response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_string());
    for value in response.headers().get_all(SET_COOKIE) {
        let pair = value.to_str().unwrap().split(';').next().unwrap().to_string();
        let name = pair.split('=').next().unwrap().to_string();
        browser.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
        if !pair.ends_with('=') {
            browser.cookies.push(pair);
        }
    }
    Page { status, location, html: response.text().await.unwrap() }
}

/// The questionnaire as a master fills it in, without the CSRF field.
fn answers(districts: &[i64]) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("pdn_consent", "on".to_string()),
        ("last_name", "петров".to_string()),
        ("first_name", "Иван".to_string()),
        ("middle_name", "Сергеевич".to_string()),
        ("phone", "8 916 123-45-67".to_string()),
        ("password", PASSWORD.to_string()),
        ("referral_code", String::new()),
        ("has_vehicle", "yes".to_string()),
        ("skills", "PLUMBING".to_string()),
        ("skills", "ELECTRICS".to_string()),
        ("payout_method", "CARD".to_string()),
        ("payout_data", "1234 5678 9012 3456".to_string()),
        ("home_location", "55.7558, 37.6173".to_string()),
    ];
    fields.extend(districts.iter().map(|d| ("district_ids", d.to_string())));
    fields
}

fn form_of(csrf: Option<&str>, fields: &[(&'static str, String)], files: &[(&'static str, &str, Vec<u8>)]) -> Form {
    let mut form = Form::new();
    if let Some(csrf) = csrf {
        form = form.text("csrf", csrf.to_string());
    }
    for (name, value) in fields {
        form = form.text(*name, value.clone());
    }
    for (name, file_name, bytes) in files {
        form = form.part(*name, Part::bytes(bytes.clone()).file_name(file_name.to_string()).mime_str("application/octet-stream").unwrap());
    }
    form
}

fn documents() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![("passport", "паспорт.png", PNG.to_vec()), ("selfie", "selfie.jpg", jpeg())]
}

/// Opens the questionnaire of `token` and sends `fields` and `files` with its CSRF token.
async fn fill_in(browser: &mut Browser, token: &str, fields: &[(&'static str, String)], files: &[(&'static str, &str, Vec<u8>)]) -> Page {
    let page = browser.get(&format!("/m/invite/{token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let csrf = csrf_of(&page.html).expect("the form carries a CSRF field");
    send(browser, &format!("/m/invite/{token}"), form_of(Some(&csrf), fields, files)).await
}

#[tokio::test]
async fn the_questionnaire_opens_for_a_valid_invite_in_russian_and_in_english() {
    let app = WebApp::start(t0()).await;
    let moscow = city(&app, "Москва");
    let invite = invite(&app, moscow);
    let mut browser = app.anonymous();
    let page = browser.get(&format!("/m/invite/{}", invite.token)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in ["Анкета мастера", "Шаг 1/9.", "Шаг 9/9.", "Москва", "Центральный", "Зеленоградский", "Сантехника", "Банковская карта"] {
        assert!(page.has(text), "{text}: {}", page.html);
    }
    for input in ["id=\"pdn_consent\"", "id=\"last_name\"", "id=\"phone\"", "id=\"password\"", "id=\"payout_data\"", "id=\"home_location\""] {
        assert!(page.has(input), "{input}");
    }
    assert!(page.has("type=\"file\" accept=\"image/*\" capture=\"environment\"") && page.has("capture=\"user\""), "camera inputs");
    assert!(page.has("id=\"signup-submit\"") && page.has("id=\"next\"") && page.has("enctype=\"multipart/form-data\""));
    assert!(!page.has("style=\"") && !page.has("<script>"), "no inline style or script (CSP)");
    assert!(browser.cookies.iter().any(|c| c.starts_with("fs_signup_csrf=")), "the double-submit token is set as a cookie");
    let token = browser.cookies.iter().find_map(|c| c.strip_prefix("fs_signup_csrf=")).unwrap().to_string();
    assert_eq!(csrf_of(&page.html).as_deref(), Some(token.as_str()), "and echoed in the form");

    browser.cookies.push("fs_lang=en".into());
    let english = browser.get(&format!("/m/invite/{}", invite.code.to_lowercase())).await;
    assert_eq!(english.status, StatusCode::OK);
    for text in ["Master questionnaire", "Step 1/9.", "I consent to the processing", "Bank card", "Plumbing", "<html lang=\"en\">"] {
        assert!(english.has(text), "{text}: {}", english.html);
    }
    assert_eq!(csrf_of(&english.html).as_deref(), Some(token.as_str()), "a second visit keeps the visitor's token");
}

#[tokio::test]
async fn a_typed_invite_code_leads_to_its_questionnaire() {
    let app = WebApp::start(t0()).await;
    let invite = invite(&app, city(&app, "Москва"));
    let mut browser = app.anonymous();
    let form = browser.get("/m/invite").await;
    assert!(form.status == StatusCode::OK && form.has("Код приглашения") && form.has("id=\"code\""), "{}", form.html);
    let typed = browser.get(&format!("/m/invite?code=+{}+", invite.code.to_lowercase())).await;
    assert_eq!(typed.location, Some(format!("/m/invite/{}", invite.code)));
    assert!(browser.get(&typed.location.unwrap()).await.has("Шаг 1/9."));
}

#[tokio::test]
async fn a_full_sign_up_sends_a_pending_master_with_his_documents_to_moderation_and_he_can_sign_in() {
    let app = WebApp::start(t0()).await;
    let moscow = city(&app, "Москва");
    let (centre, north) = (district(&app, moscow, "Центральный"), district(&app, moscow, "Северный"));
    let invite = invite(&app, moscow);
    let mut browser = app.anonymous();
    let sent = fill_in(&mut browser, &invite.token, &answers(&[centre, north]), &documents()).await;
    assert_eq!((sent.status, sent.location.as_deref()), (StatusCode::SEE_OTHER, Some("/m?ok=signed_up")), "{}", sent.html);
    assert!(!browser.cookies.iter().any(|c| c.starts_with("fs_signup_csrf=")), "the used token is dropped");
    let page = browser.get("/m?ok=signed_up").await;
    assert!(page.has("Анкета отправлена на модерацию") && page.has("id=\"moderation\"") && page.has("id=\"logout\""), "signed in at once, his questionnaire pending: {}", page.html);

    let master = app
        .db
        .read(|c| {
            c.query_row(
                "SELECT id, full_name, city_id, moderation_status, verified, is_active, has_vehicle, payout_method, payout_data, home_lat, home_lon
                 FROM masters WHERE phone = ?1",
                [PHONE],
                |r| {
                    Ok(json!({"id": r.get::<_, i64>(0)?, "name": r.get::<_, String>(1)?, "city": r.get::<_, i64>(2)?, "status": r.get::<_, String>(3)?,
                        "verified": r.get::<_, bool>(4)?, "active": r.get::<_, bool>(5)?, "car": r.get::<_, bool>(6)?, "payout": r.get::<_, String>(7)?,
                        "payout_data": r.get::<_, String>(8)?, "lat": r.get::<_, f64>(9)?, "lon": r.get::<_, f64>(10)?}))
                },
            )
            .map_err(Error::from)
        })
        .unwrap();
    assert_eq!(master["name"], "Петров Иван Сергеевич");
    assert_eq!((master["city"].as_i64(), master["status"].as_str()), (Some(moscow), Some("PENDING")));
    assert_eq!((master["verified"].as_bool(), master["active"].as_bool(), master["car"].as_bool()), (Some(false), Some(false), Some(true)));
    assert_eq!(master["payout"], "CARD");
    assert_eq!(serde_json::from_str::<Value>(master["payout_data"].as_str().unwrap()).unwrap()["card_number"], "1234 5678 9012 3456");
    assert_eq!((master["lat"].as_f64(), master["lon"].as_f64()), (Some(55.7558), Some(37.6173)));
    let id = master["id"].as_i64().unwrap();
    let rows = |sql: &'static str| app.db.read(move |c| c.prepare(sql)?.query_map([id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>().map_err(Error::from)).unwrap();
    assert_eq!(rows("SELECT category FROM master_skills WHERE master_id = ?1 ORDER BY category"), ["ELECTRICS", "PLUMBING"]);
    assert_eq!(rows("SELECT d.name FROM master_districts m JOIN districts d ON d.id = m.district_id WHERE m.master_id = ?1 ORDER BY d.name"), ["Северный", "Центральный"]);
    assert_eq!(
        rows("SELECT document_type || ' ' || mime_type || ' ' || file_name FROM attachments WHERE entity_type = 'MASTER' AND entity_id = ?1 ORDER BY document_type"),
        ["passport image/png паспорт.png", "selfie image/jpeg selfie.jpg"]
    );
    assert_eq!(stored_files(&app), 2);
    let used: Option<i64> = app.db.read(|c| c.query_row("SELECT used_by_master_id FROM master_invites WHERE id = ?1", [invite.id], |r| r.get(0)).map_err(Error::from)).unwrap();
    assert_eq!(used, Some(id), "the invite is used up");

    let http = reqwest::Client::new();
    let login = http.post(format!("{}/api/v1/auth/master/login", app.base)).json(&json!({"phone": "89161234567", "password": PASSWORD})).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK, "he signs in with the phone and password of the questionnaire");
    assert_eq!(login.json::<Value>().await.unwrap()["me"]["id"], id);

    let again = browser.get(&format!("/m/invite/{}", invite.token)).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.has("это приглашение уже использовано"), "{}", again.html);
}

#[tokio::test]
async fn a_city_without_districts_needs_none() {
    let app = WebApp::start(t0()).await;
    let kazan: CityId = app
        .db
        .read(|c| {
            c.query_row("SELECT id FROM cities WHERE is_active = 1 AND id NOT IN (SELECT city_id FROM districts) LIMIT 1", [], |r| r.get(0)).map_err(Error::from)
        })
        .unwrap();
    let invite = invite(&app, kazan);
    let mut browser = app.anonymous();
    assert!(browser.get(&format!("/m/invite/{}", invite.token)).await.has("В этом городе районы не заданы"));
    let sent = fill_in(&mut browser, &invite.token, &answers(&[]), &documents()).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    assert_eq!(masters(&app), 21);
}

#[tokio::test]
async fn refused_answers_are_shown_beside_their_fields_with_everything_typed_kept_and_nothing_created() {
    let app = WebApp::start(t0()).await;
    let moscow = city(&app, "Москва");
    let invite = invite(&app, moscow);
    let before = (masters(&app), dump(&app.db, &["login_attempts", "held_files"]));
    let mut browser = app.anonymous();
    let mut fields: Vec<_> = answers(&[]).into_iter().filter(|(k, _)| *k != "has_vehicle").collect();
    fields.iter_mut().filter(|(k, _)| *k == "last_name").for_each(|(_, v)| *v = "Petrov".into());
    fields.iter_mut().filter(|(k, _)| *k == "home_location").for_each(|(_, v)| *v = "north".into());
    fields.iter_mut().filter(|(k, _)| *k == "payout_data").for_each(|(_, v)| *v = "1234".into());
    let page = fill_in(&mut browser, &invite.token, &fields, &documents()[..1]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for (field, text) in [
        ("last_name", "от 2 до 30 русских букв"),
        ("selfie", "Селфи с паспортом: обязательное поле"),
        ("home_location", "две координаты через запятую"),
        ("payout_data", "Реквизиты для выплат: 16 цифр номера карты"),
    ] {
        assert!(page.has(&format!("id=\"{field}-error\">")), "{field}: {}", page.html);
        assert!(page.has(text), "{text}");
    }
    assert!(page.has("id=\"last_name\" name=\"last_name\" value=\"Petrov\"") && page.has("aria-invalid=\"true\" aria-describedby=\"last_name-error\""), "{}", page.html);
    assert!(page.has("Автомобиль: обязательное поле"), "the unanswered car question");
    assert!(page.has("value=\"8 916 123-45-67\"") && page.has("id=\"payout_data\" name=\"payout_data\" value=\"1234\""), "typed answers kept");
    assert!(page.has("value=\"PLUMBING\" checked") && page.has("value=\"CARD\" selected"), "choices kept");
    assert!(page.has("id=\"passport-kept\"") && page.has("паспорт.png"), "the chosen passport is kept against the form: {}", page.html);
    assert!(page.has("Выберите файл заново") && !page.has(PASSWORD), "the missing selfie and the password are asked again, never echoed");
    assert!(page.has("href=\"#last_name\""), "the summary links to the field");
    assert_eq!((masters(&app), dump(&app.db, &["login_attempts", "held_files"])), before, "nothing created");
    assert_eq!(stored_files(&app), 1, "the passport is kept for the next try");

    let taken = fill_in(&mut browser, &invite.token, &[answers(&[district(&app, moscow, "Южный")]), vec![("phone", fieldservice::demo::master_phone(1))]].concat(), &documents()).await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.has("id=\"phone-error\">Телефон: уже занят"), "a refusal of the database step: {}", taken.html);
    assert!(taken.has("id=\"passport-kept\"") && taken.has("id=\"selfie-kept\"") && !taken.has("Выберите файл заново"), "{}", taken.html);
    assert_eq!((masters(&app), stored_files(&app)), (before.0, 2), "a passport chosen again replaces the kept one; both stay kept");

    // The third try sends no files: the kept ones go with the questionnaire.
    let sent = fill_in(&mut browser, &invite.token, &answers(&[district(&app, moscow, "Южный")]), &[]).await;
    assert_eq!((sent.status, sent.location.as_deref()), (StatusCode::SEE_OTHER, Some("/m?ok=signed_up")), "{}", sent.html);
    let documents: i64 = app.db.read(|c| c.query_row("SELECT COUNT(*) FROM attachments WHERE entity_type = 'MASTER'", [], |r| r.get(0)).map_err(Error::from)).unwrap();
    let held: i64 = app.db.read(|c| c.query_row("SELECT COUNT(*) FROM held_files", [], |r| r.get(0)).map_err(Error::from)).unwrap();
    assert_eq!((documents, held, stored_files(&app)), (2, 0, 2), "the kept documents are the new master's");
}

/// The wizard's "Next" (issue 11 §3): one step's answers checked by the sign-up's own rules.
async fn check(app: &WebApp, lang: &str, fields: &[(&str, &str)]) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/m/signup/check", app.base))
        .header(reqwest::header::COOKIE, format!("fs_lang={lang}"))
        .form(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_step_check_refuses_a_wrong_answer_by_the_sign_up_rules_and_changes_nothing() {
    let app = WebApp::start(t0()).await;
    let before = dump(&app.db, &[]);
    let card = check(&app, "ru", &[("payout_method", "CARD"), ("payout_data", "2200 1234 5678")]).await;
    assert_eq!(card, json!({"errors": [{"field": "payout_data", "message": "Реквизиты для выплат: 16 цифр номера карты"}]}));
    let fixed = check(&app, "ru", &[("payout_method", "CARD"), ("payout_data", "2200 1234 5678 9010")]).await;
    assert_eq!(fixed, json!({"errors": []}));
    let names = check(&app, "en", &[("last_name", "Petrov"), ("first_name", "Иван"), ("middle_name", "")]).await;
    assert_eq!(names["errors"].as_array().unwrap().len(), 1, "{names}");
    assert_eq!(names["errors"][0]["field"], "last_name");
    assert!(names["errors"][0]["message"].as_str().unwrap().starts_with("Last name"), "in the visitor's language: {names}");
    let account = check(&app, "ru", &[("phone", "12345"), ("password", "short"), ("referral_code", "")]).await;
    let fields: Vec<&str> = account["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["phone", "password"]);
    let home = check(&app, "ru", &[("home_location", "north")]).await;
    assert_eq!(home["errors"][0]["field"], "home_location");
    assert_eq!(check(&app, "ru", &[("home_location", "")]).await, json!({"errors": []}), "the home point is optional");
    assert_eq!(dump(&app.db, &[]), before, "a check changes nothing");
}

#[tokio::test]
async fn a_questionnaire_without_consent_is_refused() {
    let app = WebApp::start(t0()).await;
    let moscow = city(&app, "Москва");
    let invite = invite(&app, moscow);
    let mut browser = app.anonymous();
    let fields: Vec<_> = answers(&[district(&app, moscow, "Южный")]).into_iter().filter(|(k, _)| *k != "pdn_consent").collect();
    let page = fill_in(&mut browser, &invite.token, &fields, &documents()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.has("id=\"pdn_consent-error\">Согласие на обработку персональных данных: без согласия регистрация невозможна"), "{}", page.html);
    assert_eq!(masters(&app), 20);
}

#[tokio::test]
async fn used_expired_revoked_and_unknown_invites_are_refused_with_their_reason() {
    let app = WebApp::start(t0()).await;
    let moscow = city(&app, "Москва");
    let south = district(&app, moscow, "Южный");
    let (used, revoked, expiring) = (invite(&app, moscow), invite(&app, moscow), invite(&app, moscow));
    let now = app.clock.now();
    app.db
        .write(|tx| {
            let form = Registration {
                invite: Some(used.code.clone()),
                last_name: "Сидоров".into(),
                first_name: "Олег".into(),
                phone: "+79160000001".into(),
                password: PASSWORD.into(),
                district_ids: vec![south],
                skills: vec![common::Category::Windows],
                payout_method: Some(fieldservice::domain::PayoutMethod::Sbp),
                payout_data: "+79160000001".into(),
                pdn_consent: true,
                ..Registration::default()
            };
            signup::register(tx, now, &form)?;
            let id: i64 = tx.query_row("SELECT id FROM staff_users WHERE login = 'admin'", [], |r| r.get(0))?;
            signup::revoke_invite(tx, now, &staff::load_active(tx, id)?.unwrap(), revoked.id)
        })
        .unwrap();
    app.clock.advance(Duration::hours(73));
    let mut browser = app.anonymous();
    for (token, reason) in [
        (used.token.as_str(), "это приглашение уже использовано"),
        (revoked.token.as_str(), "это приглашение отозвано"),
        (expiring.token.as_str(), "срок действия приглашения истёк, запросите новое"),
        ("0123456789abcdef", "Приглашение не найдено"),
    ] {
        let page = browser.get(&format!("/m/invite/{token}")).await;
        assert_eq!(page.status, StatusCode::GONE, "{reason}");
        assert!(page.has(reason) && page.has("id=\"invite-refused\"") && !page.has("id=\"signup-submit\""), "{reason}: {}", page.html);
    }
    let before = (masters(&app), dump(&app.db, &["login_attempts"]));
    let csrf = browser.cookies.iter().find_map(|c| c.strip_prefix("fs_signup_csrf=")).map(str::to_string);
    let fields = answers(&[south]);
    let page = send(&mut browser, &format!("/m/invite/{}", expiring.token), form_of(csrf.as_deref().or(Some("x")), &fields, &documents())).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.has("срок действия приглашения истёк"));
    assert_eq!((masters(&app), dump(&app.db, &["login_attempts"]), stored_files(&app)), (before.0, before.1, 0));
}

#[tokio::test]
async fn a_sign_up_without_the_forms_csrf_token_is_refused_and_nothing_created() {
    let app = WebApp::start(t0()).await;
    let moscow = city(&app, "Москва");
    let invite = invite(&app, moscow);
    let fields = answers(&[district(&app, moscow, "Южный")]);
    let path = format!("/m/invite/{}", invite.token);
    let mut browser = app.anonymous();
    let csrf = csrf_of(&browser.get(&path).await.html).unwrap();
    let before = dump(&app.db, &["login_attempts"]);

    let missing = send(&mut browser, &path, form_of(None, &fields, &documents())).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = send(&mut browser, &path, form_of(Some("00000000000000000000000000000000"), &fields, &documents())).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let mut stranger = app.anonymous();
    let no_cookie = send(&mut stranger, &path, form_of(Some(&csrf), &fields, &documents())).await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN, "a token without its cookie (another site's form) is refused");
    assert!(no_cookie.has("value=\"8 916 123-45-67\""), "the form comes back with the answers kept: {}", no_cookie.html);
    assert_eq!((dump(&app.db, &["login_attempts"]), masters(&app), stored_files(&app)), (before, 20, 0), "nothing created");

    let fresh = csrf_of(&no_cookie.html).unwrap();
    let retried = send(&mut stranger, &path, form_of(Some(&fresh), &fields, &documents())).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "the fresh token of the returned form works: {}", retried.html);
}
