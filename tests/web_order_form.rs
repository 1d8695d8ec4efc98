//! The new-order form: full and quick orders, refusals beside their fields, the late-ASAP question, the
//! out-of-hours deferral, files, CSRF and the city scope.

mod common;

use common::samples::PNG;
use common::web::WebApp;
use common::{t0, utc};
use fieldservice::error::Error;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

fn count(app: &WebApp, sql: &str) -> i64 {
    app.db.read(|c| Ok::<_, Error>(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

fn id_of(app: &WebApp, sql: &str) -> i64 {
    count(app, sql)
}

/// The new order's id from the redirect to its card, with the flash key.
fn created(location: Option<&str>) -> (i64, String) {
    let location = location.expect("a redirect to the card");
    let rest = location.strip_prefix("/orders/").expect("to the order card");
    let (id, flash) = rest.split_once("?ok=").expect("with a flash");
    (id.parse().unwrap(), flash.to_string())
}

struct Order {
    city: String,
    district: Option<i64>,
    street: Option<i64>,
    house: Option<String>,
    apartment: Option<String>,
    comment: Option<String>,
    client_name: String,
    client_phone: String,
    category: String,
    description: String,
    status: String,
    slot: (Option<i64>, Option<i64>),
}

fn order(app: &WebApp, id: i64) -> Order {
    app.db
        .read(|c| {
            Ok::<_, Error>(c.query_row(
                "SELECT c.name, o.district_id, o.street_id, o.house, o.apartment, o.address_comment, o.client_name, o.client_phone,
                        o.category, o.description, o.status, o.timeslot_start, o.timeslot_end
                 FROM orders o JOIN cities c ON c.id = o.city_id WHERE o.id = ?1",
                [id],
                |r| {
                    Ok(Order {
                        city: r.get(0)?,
                        district: r.get(1)?,
                        street: r.get(2)?,
                        house: r.get(3)?,
                        apartment: r.get(4)?,
                        comment: r.get(5)?,
                        client_name: r.get(6)?,
                        client_phone: r.get(7)?,
                        category: r.get(8)?,
                        description: r.get(9)?,
                        status: r.get(10)?,
                        slot: (r.get(11)?, r.get(12)?),
                    })
                },
            )?)
        })
        .unwrap()
}

fn moscow(app: &WebApp) -> String {
    id_of(app, "SELECT id FROM cities WHERE name = 'Москва'").to_string()
}

fn central(app: &WebApp) -> String {
    id_of(app, "SELECT d.id FROM districts d JOIN cities c ON c.id = d.city_id WHERE c.name = 'Москва' AND d.name = 'Центральный'").to_string()
}

fn orders(app: &WebApp) -> i64 {
    count(app, "SELECT COUNT(*) FROM orders")
}

/// A complete full-form order for Moscow, as a dispatcher types it.
fn full(city: &str, district: &str) -> Vec<(&'static str, String)> {
    vec![
        ("city_id", city.into()),
        ("district_id", district.into()),
        ("street", "Тверская улица".into()),
        ("house", "12".into()),
        ("apartment", "34".into()),
        ("address_comment", "Подъезд 2".into()),
        ("client_name", "Иван Петров".into()),
        ("client_phone", "8 (999) 123-45-67".into()),
        ("category", "ELECTRICS".into()),
        ("description", "Не работает розетка на кухне".into()),
        ("slot", "TOM:10-13".into()),
    ]
}

fn pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn set(fields: &mut [(&'static str, String)], name: &str, value: &str) {
    fields.iter_mut().find(|(k, _)| *k == name).unwrap().1 = value.into();
}

#[tokio::test]
async fn the_form_offers_the_staff_members_cities_the_districts_and_slots_of_the_chosen_one() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let form = logist.get("/orders/new").await;
    assert_eq!(form.status, StatusCode::OK);
    for id in ["city_id", "district_id", "street", "house", "client_phone", "client_name", "category", "description", "slot", "attachments"] {
        assert!(form.has(&format!("id=\"{id}\" name=\"{id}\"")), "input {id}: {}", form.html);
        assert!(form.has(&format!("<label for=\"{id}\">")), "label of {id}");
    }
    assert!(form.has("id=\"create-order\"") && form.has("enctype=\"multipart/form-data\""));
    assert!(form.has("Санкт-Петербург") && !form.has("Новосибирск"), "his two cities only");
    assert!(form.has("Центральный") && form.has("Как можно скорее (сегодня 12:00–20:00)"), "Moscow's districts and slots, Moscow time");
    assert!(!form.has("Адмиралтейский"));
    let spb = id_of(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'");
    let other = logist.get(&format!("/orders/new?city_id={spb}")).await;
    assert!(other.has("Адмиралтейский") && !other.has(">Северный<"), "St Petersburg's districts");
    let options = logist.get(&format!("/orders/new/options?city_id={spb}")).await;
    assert!(options.has("Адмиралтейский") && options.has("TOM:10-13"), "{}", options.html);
    let streets = logist.get(&format!("/orders/new/streets?city_id={}&q=Тверск", moscow(&app))).await;
    assert!(streets.has("Тверская улица"), "{}", streets.html);
    let novosibirsk = id_of(&app, "SELECT id FROM cities WHERE name = 'Новосибирск'");
    assert_eq!(logist.get(&format!("/orders/new/options?city_id={novosibirsk}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(logist.get(&format!("/orders/new/streets?city_id={novosibirsk}&q=Лен")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn choosing_another_city_without_javascript_shows_its_districts_and_keeps_what_was_typed() {
    let app = WebApp::start(t0()).await;
    let before = orders(&app);
    let mut logist = app.staff("logist").await;
    let spb = id_of(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'").to_string();
    let mut fields = full(&spb, "");
    fields.push(("step", "city".into()));
    let page = logist.post("/orders/new", &pairs(&fields)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("Адмиралтейский") && page.has("value=\"Иван Петров\""), "{}", page.html);
    assert_eq!(orders(&app), before, "nothing created");
}

#[tokio::test]
async fn a_full_order_in_working_hours_is_created_searching_with_every_field() {
    let app = WebApp::start(t0()).await;
    let before = orders(&app);
    let mut logist = app.staff("logist").await;
    let done = logist.post("/orders/new", &pairs(&full(&moscow(&app), &central(&app)))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let (id, flash) = created(done.location.as_deref());
    assert_eq!(flash, "order_created");
    assert_eq!(orders(&app), before + 1);
    let o = order(&app, id);
    let tverskaya = id_of(&app, "SELECT s.id FROM streets s JOIN cities c ON c.id = s.city_id WHERE c.name = 'Москва' AND s.name = 'Тверская улица'");
    assert_eq!((o.city.as_str(), o.district, o.street), ("Москва", Some(central(&app).parse().unwrap()), Some(tverskaya)));
    assert_eq!((o.house.as_deref(), o.apartment.as_deref(), o.comment.as_deref()), (Some("12"), Some("34"), Some("Подъезд 2")));
    assert_eq!((o.client_name.as_str(), o.client_phone.as_str()), ("Иван Петров", "+79991234567"));
    assert_eq!((o.category.as_str(), o.description.as_str(), o.status.as_str()), ("ELECTRICS", "Не работает розетка на кухне", "SEARCHING"));
    // Tomorrow 10:00–13:00 in Moscow = 07:00–10:00 UTC.
    assert_eq!(o.slot, (Some(utc(2026, 3, 11, 7, 0, 0).timestamp_millis()), Some(utc(2026, 3, 11, 10, 0, 0).timestamp_millis())));
    let card = logist.get(done.location.as_deref().unwrap()).await;
    assert!(card.status != StatusCode::OK || card.has("Заказ создан."), "the card shows the flash");
}

#[tokio::test]
async fn an_order_out_of_hours_is_created_deferred_and_the_form_warns_before() {
    let app = WebApp::start(t0()).await;
    app.clock.set(utc(2026, 3, 10, 18, 0, 0)); // 21:00 in Moscow
    let mut logist = app.staff("logist").await;
    let form = logist.get("/orders/new").await;
    assert!(form.has("нерабочее время") && form.has("создан отложенным") && !form.has("DEFERRED"), "{}", form.html);
    assert!(!form.has("Как можно скорее"), "no ASAP after the workday");
    let done = logist.post("/orders/new", &pairs(&full(&moscow(&app), &central(&app)))).await;
    let (id, flash) = created(done.location.as_deref());
    assert_eq!(flash, "order_created_deferred");
    assert_eq!(order(&app, id).status, "DEFERRED");
}

#[tokio::test]
async fn a_quick_order_needs_city_district_phone_category_and_slot_only() {
    let app = WebApp::start(t0()).await;
    let mut moscow_admin = app.staff("moscow").await;
    let form = moscow_admin.get("/orders/new?quick=1").await;
    assert!(form.has("Быстрый заказ") && !form.has("id=\"street\"") && !form.has("id=\"description\""), "{}", form.html);
    let before = orders(&app);
    let city = moscow(&app);
    let mut fields = vec![("quick", "1".to_string()), ("city_id", city), ("district_id", String::new()), ("client_phone", "9991234567".into()), ("category", "PLUMBING".into()), ("slot", "ASAP".into())];
    let refused = moscow_admin.post("/orders/new", &pairs(&fields)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"district_id-error\"") && refused.has("value=\"9991234567\""), "{}", refused.html);
    assert_eq!(orders(&app), before, "nothing created");
    set(&mut fields, "district_id", &central(&app));
    let done = moscow_admin.post("/orders/new", &pairs(&fields)).await;
    let (id, flash) = created(done.location.as_deref());
    assert_eq!(flash, "order_created");
    let o = order(&app, id);
    assert_eq!((o.status.as_str(), o.category.as_str(), o.client_phone.as_str()), ("SEARCHING", "PLUMBING", "+79991234567"));
    assert_eq!((o.description.as_str(), o.client_name.as_str(), o.street), ("", "", None));
    // ASAP at 12:00 Moscow: from now to the workday end (20:00 = 17:00 UTC).
    assert_eq!(o.slot, (Some(t0().timestamp_millis()), Some(utc(2026, 3, 10, 17, 0, 0).timestamp_millis())));
}

#[tokio::test]
async fn a_refused_field_is_shown_beside_it_with_everything_typed_kept_and_nothing_created() {
    let app = WebApp::start(t0()).await;
    let before = orders(&app);
    let mut logist = app.staff("logist").await;
    let mut fields = full(&moscow(&app), &central(&app));
    set(&mut fields, "client_phone", "+15551234567");
    let refused = logist.post("/orders/new", &pairs(&fields)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("<p class=\"field-error\" id=\"client_phone-error\">Телефон клиента: формат +7XXXXXXXXXX или 8XXXXXXXXXX</p>"), "{}", refused.html);
    assert!(refused.has("aria-describedby=\"client_phone-hint client_phone-error\" aria-invalid=\"true\""));
    for kept in ["value=\"+15551234567\"", "value=\"Иван Петров\"", "value=\"Тверская улица\"", "value=\"12\"", "Не работает розетка на кухне</textarea>"] {
        assert!(refused.has(kept), "{kept} kept");
    }
    assert!(refused.has("<option value=\"ELECTRICS\" selected>") && refused.has("<option value=\"TOM:10-13\" selected>"));
    set(&mut fields, "client_phone", "89991234567");
    set(&mut fields, "description", "коротко");
    let short = logist.post("/orders/new", &pairs(&fields)).await;
    assert!(short.has("id=\"description-error\"") && short.has("от 10 до 500 символов"), "{}", short.html);
    set(&mut fields, "description", "");
    let none = logist.post("/orders/new", &pairs(&fields)).await;
    assert!(none.has("id=\"description-error\"") && none.has("обязательное поле"), "the full form needs a description: {}", none.html);
    set(&mut fields, "description", "Не работает розетка на кухне");
    set(&mut fields, "house", "");
    set(&mut fields, "category", "");
    let no_category = logist.post("/orders/new", &pairs(&fields)).await;
    assert!(no_category.has("id=\"category-error\""), "{}", no_category.html);
    assert_eq!(orders(&app), before, "nothing created");
}

#[tokio::test]
async fn an_unknown_street_offers_the_near_ones_or_is_kept_as_typed() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let before = orders(&app);
    let mut fields = full(&moscow(&app), &central(&app));
    set(&mut fields, "street", "Тверская");
    let ask = logist.post("/orders/new", &pairs(&fields)).await;
    assert_eq!(ask.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(ask.has("id=\"street-error\"") && ask.has("type=\"radio\" name=\"street_id\"") && ask.has("Тверская улица"), "{}", ask.html);
    assert_eq!(orders(&app), before);
    set(&mut fields, "street", "Переулок Новый");
    fields.push(("street_manual", "1".into()));
    let done = logist.post("/orders/new", &pairs(&fields)).await;
    let (id, _) = created(done.location.as_deref());
    let o = order(&app, id);
    assert_eq!((o.street, o.comment.as_deref()), (None, Some("Подъезд 2 (Вручную: Переулок Новый)")));
}

#[tokio::test]
async fn a_late_asap_asks_to_confirm_tomorrow_morning_then_creates_a_deferred_order() {
    let app = WebApp::start(t0()).await;
    app.clock.set(utc(2026, 3, 10, 16, 40, 0)); // 19:40 in Moscow: working hours, but too late for ASAP
    let before = orders(&app);
    let mut logist = app.staff("logist").await;
    let mut fields = full(&moscow(&app), &central(&app));
    set(&mut fields, "slot", "ASAP");
    let asked = logist.post("/orders/new", &pairs(&fields)).await;
    assert_eq!(asked.status, StatusCode::CONFLICT);
    assert!(asked.has("id=\"confirm_late\" name=\"confirm_late\"") && asked.has("завтра 10:00–13:00"), "{}", asked.html);
    assert!(asked.has("value=\"Иван Петров\""));
    assert_eq!(orders(&app), before, "nothing created before the confirmation");
    fields.push(("confirm_late", "1".into()));
    let done = logist.post("/orders/new", &pairs(&fields)).await;
    let (id, flash) = created(done.location.as_deref());
    assert_eq!(flash, "order_created_deferred");
    let o = order(&app, id);
    assert_eq!(o.status, "DEFERRED");
    assert_eq!(o.slot, (Some(utc(2026, 3, 11, 7, 0, 0).timestamp_millis()), Some(utc(2026, 3, 11, 10, 0, 0).timestamp_millis())));
}

fn multipart(fields: &[(&'static str, String)], files: usize) -> Form {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(*k, v.clone());
    }
    for i in 0..files {
        form = form.part("attachments", Part::bytes(PNG).file_name(format!("photo{i}.png")).mime_str("image/png").unwrap());
    }
    form
}

fn stored_files(app: &WebApp) -> usize {
    std::fs::read_dir(app.dir.path().join("files")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn files_are_stored_with_the_order_and_an_eleventh_is_refused() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    let fields = full(&moscow(&app), &central(&app));
    let done = logist.post_multipart("/orders/new", multipart(&fields, 2)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let (id, _) = created(done.location.as_deref());
    assert_eq!(count(&app, &format!("SELECT COUNT(*) FROM attachments WHERE entity_type = 'ORDER' AND entity_id = {id} AND document_type = 'order_file' AND mime_type = 'image/png'")), 2);
    assert_eq!(stored_files(&app), 2);

    let before = orders(&app);
    let refused = logist.post_multipart("/orders/new", multipart(&fields, 11)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("id=\"attachments-error\"") && refused.has("не больше 10 файлов") && refused.has("выберите их ещё раз"), "{}", refused.html);
    assert!(refused.has("value=\"Иван Петров\""));
    assert_eq!((orders(&app), stored_files(&app)), (before, 2), "nothing created, nothing stored");

    let text = multipart(&fields, 0).part("attachments", Part::bytes(b"just text".to_vec()).file_name("notes.txt"));
    let wrong = logist.post_multipart("/orders/new", text).await;
    assert!(wrong.has("id=\"attachments-error\""), "{}", wrong.html);
    assert_eq!((orders(&app), stored_files(&app)), (before, 2));

    // Files go to disk as they arrive, but text is held in memory: a 100 KiB "comment" is refused.
    let mut long = fields.clone();
    long.push(("comment", "я".repeat(50 * 1024)));
    let too_long = logist.post_multipart("/orders/new", multipart(&long, 1)).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_long.html);
    assert_eq!((orders(&app), stored_files(&app)), (before, 2), "nothing created, the file received is gone");

    // A browser sends an empty part, without a name, for the file input left empty.
    let none_chosen = multipart(&fields, 0).part("attachments", Part::bytes(Vec::new()).file_name("").mime_str("application/octet-stream").unwrap());
    let created_without = logist.post_multipart("/orders/new", none_chosen).await;
    assert_eq!(created_without.status, StatusCode::SEE_OTHER, "{}", created_without.html);
    assert_eq!(stored_files(&app), 2);
}

#[tokio::test]
async fn without_the_csrf_token_nothing_is_created() {
    let app = WebApp::start(t0()).await;
    let before = orders(&app);
    let mut logist = app.staff("logist").await;
    let fields = full(&moscow(&app), &central(&app));
    assert_eq!(logist.post_raw("/orders/new", &pairs(&fields)).await.status, StatusCode::FORBIDDEN);
    let mut forged = pairs(&fields);
    forged.push(("csrf", "0000"));
    assert_eq!(logist.post_raw("/orders/new", &forged).await.status, StatusCode::FORBIDDEN);
    assert_eq!(orders(&app), before);
    assert_eq!(app.anonymous().post_raw("/orders/new", &pairs(&fields)).await.status, StatusCode::SEE_OTHER, "to the login form");
    assert_eq!(orders(&app), before);
}

#[tokio::test]
async fn a_city_outside_his_scope_is_refused_and_nothing_created() {
    let app = WebApp::start(t0()).await;
    let before = orders(&app);
    let mut logist = app.staff("logist").await;
    let novosibirsk = id_of(&app, "SELECT id FROM cities WHERE name = 'Новосибирск'").to_string();
    let mut fields = full(&novosibirsk, "");
    set(&mut fields, "street", "");
    let refused = logist.post("/orders/new", &pairs(&fields)).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(refused.has("id=\"city_id-error\""), "{}", refused.html);
    let mut moscow_admin = app.staff("moscow").await;
    let spb = id_of(&app, "SELECT id FROM cities WHERE name = 'Санкт-Петербург'").to_string();
    set(&mut fields, "city_id", &spb);
    assert_eq!(moscow_admin.post("/orders/new", &pairs(&fields)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(orders(&app), before);
}

#[tokio::test]
async fn the_form_speaks_english() {
    let app = WebApp::start(t0()).await;
    let mut logist = app.staff("logist").await;
    logist.get("/lang/en?back=/").await;
    let form = logist.get("/orders/new").await;
    assert!(form.has("New order") && form.has("As soon as possible (today 12:00–20:00)") && form.has("Tomorrow 10:00–13:00"), "{}", form.html);
    let mut fields = full(&moscow(&app), &central(&app));
    set(&mut fields, "client_phone", "12345");
    let refused = logist.post("/orders/new", &pairs(&fields)).await;
    assert!(refused.has("Client phone: format +7XXXXXXXXXX or 8XXXXXXXXXX"), "{}", refused.html);
}

/// Decisions D-20: where the city has districts the district is a required choice and "no district" is
/// one of its options, never the default; a city without districts has no district to choose and its
/// orders search the whole city.
#[tokio::test]
async fn no_district_is_a_choice_where_the_city_has_districts_and_absent_where_it_has_none() {
    let app = WebApp::start(t0()).await;
    let mut admin = app.staff("admin").await;
    let form = admin.get(&format!("/orders/new?city_id={}", moscow(&app))).await;
    assert!(form.has("<option value=\"\">Выберите район</option>") && form.has("<option value=\"none\">Без района"), "{}", form.html);
    assert!(form.has("name=\"district_id\" required") && !form.has("value=\"none\" selected"));
    let before = orders(&app);
    let mut fields = full(&moscow(&app), "");
    let unset = admin.post("/orders/new", &pairs(&fields)).await;
    assert_eq!(unset.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unset.has("id=\"district_id-error\""), "{}", unset.html);
    assert_eq!(orders(&app), before, "nothing created");
    set(&mut fields, "district_id", "none");
    let (chosen, _) = created(made(&mut admin, &pairs(&fields)).await.as_deref());
    assert_eq!(count(&app, &format!("SELECT no_district FROM orders WHERE id = {chosen}")), 1);

    let kaliningrad = id_of(&app, "SELECT id FROM cities WHERE name = 'Калининград'").to_string();
    let page = admin.get(&format!("/orders/new?city_id={kaliningrad}")).await;
    assert!(page.has("id=\"district-box\" hidden") && page.has("по всему городу"), "{}", page.html);
    let mut fields = full(&kaliningrad, "");
    set(&mut fields, "street", "Ленинский проспект");
    fields.push(("street_manual", "1".into()));
    let (citywide, _) = created(made(&mut admin, &pairs(&fields)).await.as_deref());
    assert_eq!(count(&app, &format!("SELECT no_district FROM orders WHERE id = {citywide}")), 0);
    let quick = [("quick", "1"), ("city_id", kaliningrad.as_str()), ("district_id", ""), ("client_phone", "9991234567"), ("category", "WINDOWS"), ("slot", "ASAP")];
    let (quick, _) = created(made(&mut admin, &quick).await.as_deref());
    assert_eq!(count(&app, &format!("SELECT no_district FROM orders WHERE id = {quick}")), 0);
}

/// Posts the new-order form and returns where the answer leads (the new card), showing the page if not.
async fn made(browser: &mut common::web::Browser, fields: &[(&str, &str)]) -> Option<String> {
    let page = browser.post("/orders/new", fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    page.location
}
