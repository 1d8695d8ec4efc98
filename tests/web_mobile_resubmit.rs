//! A rejected master fixes his questionnaire and sends it again from the phone page (/m/resubmit): the
//! home screen offers it, the form opens with his answers on file, a corrected one goes back to moderation,
//! a refused one shows why beside the field and changes nothing; nobody else can use it — not an approved
//! or pending master, not a forged form, not another master.

mod common;

use common::samples::PNG;
use common::dump::dump;
use common::t0;
use common::web::{Browser, WebApp, csrf_of};
use fieldservice::clock::Clock;
use fieldservice::demo::master_phone;
use fieldservice::domain::{Category, PayoutMethod};
use fieldservice::error::Error;
use fieldservice::signup::{self, Correction};
use fieldservice::{moderation, staff};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

/// Demo master 11 (src/demo.rs): Морозов Владимир Геннадьевич, Москва, Центральный and Восточный,
/// APPLIANCES, no car, off shift.
const MOROZOV: i64 = 11;
/// Demo master 12: Волков Роман Евгеньевич, Москва, off shift.
const VOLKOV: i64 = 12;

fn scalar<T: rusqlite::types::FromSql>(app: &WebApp, sql: &str) -> T {
    app.db.read(|c| c.query_row(sql, [], |r| r.get(0)).map_err(Error::from)).unwrap()
}

fn exec(app: &WebApp, sql: &str) {
    app.db.write(|tx| tx.execute(sql, []).map(drop)).unwrap();
}

fn stored_files(app: &WebApp) -> usize {
    std::fs::read_dir(app.dir.path().join(fieldservice::uploads::FILES_DIR)).map_or(0, |d| d.count())
}

/// The database without what every request may touch (sessions slide, logins are counted).
fn state(app: &WebApp) -> String {
    dump(&app.db, &["sessions", "login_attempts"])
}

/// The global admin rejects `master` with `reason` through the rule, after the master was given card
/// requisites to see prefilled.
fn reject(app: &WebApp, master: i64, reason: &str) {
    exec(app, &format!("UPDATE masters SET payout_method = 'CARD', payout_data = '{{\"card_number\":\"1111 2222 3333 4444\"}}' WHERE id = {master}"));
    let now = app.clock.now();
    app.db
        .write(|tx| {
            let admin = staff::load_active(tx, 1)?.expect("the demo admin");
            moderation::reject(tx, now, &admin, master, reason)
        })
        .unwrap();
}

fn district(app: &WebApp, name: &str) -> i64 {
    scalar(app, &format!("SELECT d.id FROM districts d JOIN cities c ON c.id = d.city_id WHERE c.name = 'Москва' AND d.name = '{name}'"))
}

fn skills_of(app: &WebApp, master: i64) -> String {
    scalar(app, &format!("SELECT group_concat(category, ',') FROM (SELECT category FROM master_skills WHERE master_id = {master} ORDER BY category)"))
}

/// The corrected questionnaire (without the CSRF field): Morozov's answers with `skills`.
fn answers(app: &WebApp, skills: &[&str]) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("pdn_consent", "on".to_string()),
        ("last_name", "Морозов".to_string()),
        ("first_name", "Владимир".to_string()),
        ("middle_name", "Геннадьевич".to_string()),
        ("district_ids", district(app, "Центральный").to_string()),
        ("district_ids", district(app, "Восточный").to_string()),
        ("has_vehicle", "yes".to_string()),
        ("payout_method", "CARD".to_string()),
        ("payout_data", "1111 2222 3333 4444".to_string()),
        ("home_location", "55.75, 37.61".to_string()),
    ];
    fields.extend(skills.iter().map(|s| ("skills", s.to_string())));
    fields
}

fn with(fields: &[(&'static str, String)], name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    fields.iter().map(|(n, v)| (*n, if *n == name { value.to_string() } else { v.clone() })).collect()
}

fn form_of(fields: &[(&'static str, String)], passport: bool) -> Form {
    let mut form = Form::new();
    for (name, value) in fields {
        form = form.text(*name, value.clone());
    }
    if passport {
        form = form.part("passport", Part::bytes(PNG.to_vec()).file_name("паспорт.png").mime_str("application/octet-stream").unwrap());
    }
    form
}

async fn resubmit(browser: &mut Browser, fields: &[(&'static str, String)], passport: bool) -> common::web::Page {
    browser.m_post_multipart("/m/resubmit", form_of(fields, passport)).await
}

#[tokio::test]
async fn a_rejected_master_fixes_his_questionnaire_and_it_goes_back_to_moderation() {
    let app = WebApp::start(t0()).await;
    reject(&app, MOROZOV, "нечитаемое фото паспорта");
    let mut morozov = app.master(&master_phone(11)).await;

    let home = morozov.get("/m").await;
    assert!(home.has("Анкета отклонена") && home.has("нечитаемое фото паспорта"), "{}", home.html);
    assert!(home.has("href=\"/m/resubmit\"") && home.has("Исправить и отправить заново"), "the button: {}", home.html);

    let form = morozov.get("/m/resubmit").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    for prefilled in [
        "value=\"Морозов\"",
        "value=\"Владимир\"",
        "value=\"Геннадьевич\"",
        "value=\"1111 2222 3333 4444\"",
        "value=\"CARD\" selected",
        "id=\"fixed-phone\">+79990000011<",
        "Москва",
    ] {
        assert!(form.has(prefilled), "{prefilled}: {}", form.html);
    }
    assert!(form.has("id=\"skills-APPLIANCES\" name=\"skills\" value=\"APPLIANCES\" checked"), "his skill is ticked");
    assert!(form.has(&format!("value=\"{}\" checked", district(&app, "Восточный"))), "his district is ticked");
    assert!(form.has("id=\"has_vehicle-no\" name=\"has_vehicle\" value=\"no\" required checked"), "no car");
    assert!(!form.has("id=\"password\"") && !form.has("id=\"referral_code\""), "phone and password are not asked again");
    assert!(form.has("action=\"/m/resubmit\"") && form.has("data-draft=\"\""), "posts to itself and keeps no browser draft");
    assert_eq!(csrf_of(&form.html), csrf_of(&home.html), "the form carries his session's CSRF token");

    let sent = resubmit(&mut morozov, &answers(&app, &["APPLIANCES", "PLUMBING"]), true).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    assert_eq!(sent.location.as_deref(), Some("/m?ok=m_resubmitted"));
    let (status, reason, vehicle, home_lat): (String, Option<String>, bool, Option<f64>) = app
        .db
        .read(|c| {
            c.query_row("SELECT moderation_status, moderation_reason, has_vehicle, home_lat FROM masters WHERE id = 11", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(Error::from)
        })
        .unwrap();
    assert_eq!((status.as_str(), reason, vehicle, home_lat), ("PENDING", None, true, Some(55.75)));
    assert_eq!(skills_of(&app, MOROZOV), "APPLIANCES,PLUMBING");
    let passport: String = scalar(&app, "SELECT file_name FROM attachments WHERE entity_type = 'MASTER' AND entity_id = 11 AND document_type = 'passport'");
    assert_eq!((passport.as_str(), stored_files(&app)), ("паспорт.png", 1), "the new passport is his document");

    let home = morozov.get("/m?ok=m_resubmitted").await;
    assert!(home.has("Анкета отправлена на модерацию заново") && home.has("Анкета на модерации"), "{}", home.html);
    assert!(!home.has("href=\"/m/resubmit\""), "nothing to fix while pending");
}

#[tokio::test]
async fn a_new_document_replaces_the_old_one_and_the_old_file_goes() {
    let app = WebApp::start(t0()).await;
    reject(&app, MOROZOV, "селфи размыто");
    let mut morozov = app.master(&master_phone(11)).await;
    assert_eq!(resubmit(&mut morozov, &answers(&app, &["APPLIANCES"]), true).await.status, StatusCode::SEE_OTHER);
    reject(&app, MOROZOV, "паспорт не тот");
    assert_eq!(resubmit(&mut morozov, &answers(&app, &["APPLIANCES"]), true).await.status, StatusCode::SEE_OTHER);
    let passports: i64 = scalar(&app, "SELECT COUNT(*) FROM attachments WHERE entity_type = 'MASTER' AND entity_id = 11 AND document_type = 'passport'");
    assert_eq!((passports, stored_files(&app)), (1, 1), "one passport row and one file");

    reject(&app, MOROZOV, "ещё раз");
    assert_eq!(resubmit(&mut morozov, &answers(&app, &["APPLIANCES"]), false).await.status, StatusCode::SEE_OTHER);
    assert_eq!(stored_files(&app), 1, "no file chosen: the passport on file stays");
}

#[tokio::test]
async fn a_refused_answer_is_shown_beside_its_field_with_everything_typed_kept_and_nothing_changed() {
    let app = WebApp::start(t0()).await;
    reject(&app, MOROZOV, "нет навыков");
    let mut morozov = app.master(&master_phone(11)).await;
    let before = state(&app);

    let typed = with(&answers(&app, &[]), "last_name", "Морозов-Новый");
    let refused = resubmit(&mut morozov, &typed, true).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(refused.has("id=\"error-summary\"") && refused.has("выберите хотя бы один"), "{}", refused.html);
    let skills_group = &refused.html[refused.html.find("id=\"skills\"").unwrap()..];
    let group_end = skills_group.find("</fieldset>").unwrap();
    assert!(skills_group[..group_end].contains("class=\"field-error\""), "the error sits in the skills group");
    assert!(refused.has("value=\"Морозов-Новый\"") && refused.has("value=\"55.75, 37.61\"") && refused.has("id=\"has_vehicle-yes\" name=\"has_vehicle\" value=\"yes\" required checked"));
    assert!(refused.has("action=\"/m/resubmit\"") && refused.has("id=\"choose-again\""), "the same form again");

    let bad_card = resubmit(&mut morozov, &with(&answers(&app, &["APPLIANCES"]), "payout_data", "1234"), true).await;
    assert_eq!(bad_card.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_card.has("id=\"payout_data-error\"") && bad_card.has("16 цифр номера карты"), "{}", bad_card.html);
    assert!(bad_card.has("value=\"1234\""), "the card number typed is kept");

    let bad_name = resubmit(&mut morozov, &with(&answers(&app, &["APPLIANCES"]), "first_name", "Vladimir"), false).await;
    assert!(bad_name.has("id=\"first_name-error\""), "{}", bad_name.html);
    let bad_district = resubmit(&mut morozov, &with(&answers(&app, &["APPLIANCES"]), "district_ids", "999999"), false).await;
    assert!(bad_district.has("неизвестное значение"), "{}", bad_district.html);

    assert_eq!(state(&app), before, "nothing changed");
    assert_eq!(stored_files(&app), 0, "the refused passports were removed again");
}

#[tokio::test]
async fn approved_and_pending_masters_cannot_resubmit() {
    let app = WebApp::start(t0()).await;
    let mut approved = app.master(&master_phone(1)).await;
    assert!(!approved.get("/m").await.has("href=\"/m/resubmit\""));
    let before = state(&app);
    let page = approved.get("/m/resubmit").await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.html);
    assert!(page.has("только отклонённую анкету"), "{}", page.html);
    let posted = resubmit(&mut approved, &answers(&app, &["PLUMBING"]), true).await;
    assert_eq!(posted.status, StatusCode::CONFLICT, "{}", posted.html);
    assert_eq!((state(&app), stored_files(&app)), (before.clone(), 0), "nothing changed, no file left");

    exec(&app, "UPDATE masters SET moderation_status = 'PENDING', verified = 0 WHERE id = 11");
    let mut pending = app.master(&master_phone(11)).await;
    let before = state(&app);
    assert_eq!(pending.get("/m/resubmit").await.status, StatusCode::CONFLICT);
    let posted = resubmit(&mut pending, &answers(&app, &["PLUMBING"]), false).await;
    assert_eq!(posted.status, StatusCode::CONFLICT);
    assert!(posted.has("только отклонённую анкету"));
    assert_eq!(state(&app), before, "nothing changed");
}

#[tokio::test]
async fn a_resubmission_without_his_csrf_token_is_refused_and_changes_nothing() {
    let app = WebApp::start(t0()).await;
    reject(&app, MOROZOV, "нечитаемое фото паспорта");
    let mut morozov = app.master(&master_phone(11)).await;
    let before = state(&app);
    let missing = morozov.post_multipart_raw("/m/resubmit", form_of(&answers(&app, &["PLUMBING"]), true)).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.html);
    let wrong = morozov.post_multipart_raw("/m/resubmit", form_of(&answers(&app, &["PLUMBING"]), true).text("csrf", "not-his-token")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!((state(&app), stored_files(&app)), (before, 0), "nothing changed, nothing stored");

    let anonymous = app.anonymous().get("/m/resubmit").await;
    assert_eq!((anonymous.status, anonymous.location.as_deref()), (StatusCode::SEE_OTHER, Some("/m")), "signed out: to the login");
}

#[tokio::test]
async fn a_master_resubmits_only_his_own_questionnaire() {
    let app = WebApp::start(t0()).await;
    reject(&app, MOROZOV, "нечитаемое фото паспорта");
    reject(&app, VOLKOV, "нет селфи");
    let morozov_before = dump(&app.db, &["sessions", "login_attempts", "masters", "master_skills", "master_districts"]);
    let morozov_row = |app: &WebApp| -> String {
        scalar(app, "SELECT full_name || moderation_status || moderation_reason || has_vehicle FROM masters WHERE id = 11")
    };
    let (row, skills) = (morozov_row(&app), skills_of(&app, MOROZOV));

    let mut volkov = app.master(&master_phone(12)).await;
    let form = volkov.get("/m/resubmit").await;
    assert!(form.has("value=\"Волков\"") && !form.has("Морозов"), "his own answers, not another's");
    let mut fields = with(&answers(&app, &["WINDOWS"]), "last_name", "Волков");
    fields = with(&fields, "first_name", "Роман");
    fields = with(&fields, "middle_name", "Евгеньевич");
    assert_eq!(resubmit(&mut volkov, &fields, false).await.status, StatusCode::SEE_OTHER);

    assert_eq!(skills_of(&app, VOLKOV), "WINDOWS");
    assert_eq!(scalar::<String>(&app, "SELECT moderation_status FROM masters WHERE id = 12"), "PENDING");
    assert_eq!((morozov_row(&app), skills_of(&app, MOROZOV)), (row, skills), "Morozov is untouched");
    assert_eq!(dump(&app.db, &["sessions", "login_attempts", "masters", "master_skills", "master_districts"]), morozov_before);
}

#[tokio::test]
async fn the_form_speaks_english_when_chosen() {
    let app = WebApp::start(t0()).await;
    reject(&app, MOROZOV, "blurry passport");
    let mut morozov = app.master(&master_phone(11)).await;
    morozov.cookies.push("fs_lang=en".into());
    assert!(morozov.get("/m").await.has("Fix and resubmit"));
    let form = morozov.get("/m/resubmit").await;
    assert!(form.has("Fix the questionnaire") && form.has("Submit again") && form.has("Your phone and password stay as they are."), "{}", form.html);
}

/// The rule itself, without the page: only a rejected master, checked like the sign-up, his city's
/// districts only.
#[tokio::test]
async fn the_rule_checks_the_answers_like_the_sign_up_and_only_for_a_rejected_master() {
    let app = WebApp::start(t0()).await;
    let now = app.clock.now();
    let correction = Correction {
        pdn_consent: true,
        last_name: "морозов".into(),
        first_name: "Владимир".into(),
        middle_name: Some("-".into()),
        district_ids: vec![district(&app, "Южный")],
        has_vehicle: false,
        skills: vec![Category::Windows, Category::Windows],
        payout_method: Some(PayoutMethod::Sbp),
        payout_data: "8 916 000-00-01".into(),
        home_location: String::new(),
    };
    let run = |master: i64, form: &Correction| app.db.write(|tx| signup::resubmit(tx, now, master, form));

    assert!(matches!(run(MOROZOV, &correction), Err(Error::StateConflict { why: "not_rejected" })), "approved");
    reject(&app, MOROZOV, "причина");
    let refused = |form: Correction| match run(MOROZOV, &form) {
        Err(Error::Invalid { field, rule }) => format!("{field}:{rule}"),
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(Correction { pdn_consent: false, ..correction.clone() }), "pdn_consent:consent");
    assert_eq!(refused(Correction { district_ids: vec![], ..correction.clone() }), "district_ids:at_least_one");
    let spb: i64 = scalar(&app, "SELECT d.id FROM districts d JOIN cities c ON c.id = d.city_id WHERE c.name <> 'Москва' LIMIT 1");
    assert_eq!(refused(Correction { district_ids: vec![spb], ..correction.clone() }), "district_ids:unknown");
    assert_eq!(refused(Correction { payout_method: None, ..correction.clone() }), "payout_method:required");
    assert_eq!(refused(Correction { home_location: "north".into(), ..correction.clone() }), "home_location:lat_lon");

    run(MOROZOV, &correction).unwrap();
    let on_file = app.db.read(|c| signup::on_file(c, MOROZOV)).unwrap();
    assert_eq!(on_file.moderation, fieldservice::domain::ModerationStatus::Pending);
    assert_eq!((on_file.last_name.as_str(), on_file.first_name.as_str(), on_file.middle_name.as_str()), ("Морозов", "Владимир", ""));
    assert_eq!((on_file.skills, on_file.payout_data.as_str(), on_file.home_location.as_str()), (vec![Category::Windows], "+79160000001", ""));
    assert_eq!(on_file.district_ids, vec![district(&app, "Южный")]);
    assert_eq!(scalar::<Option<String>>(&app, "SELECT moderation_reason FROM masters WHERE id = 11"), None);
    assert!(matches!(run(MOROZOV, &correction), Err(Error::StateConflict { why: "not_rejected" })), "pending now");
}
