//! The demo data set (`fieldservice demo`, `fieldservice serve --demo`): districts and streets of Москва
//! and Санкт-Петербург, three staff accounts, twenty masters and orders in every status, each with the
//! history, offers, events and commission the live rules would have written.
//!
//! Everything is written in one transaction and only into an empty database. The SEARCHING orders are
//! inserted directly (not through `orders::create`, which would defer them at night) and always have an
//! on-shift master who fits, so the first scheduler tick sends offers whatever the hour.
//!
//! [`history`] then adds thirty days of past orders played through the real engine, for the reports.

pub mod history;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use crate::cities;
use crate::db::{Db, ms};
use crate::domain::{Category, CityId, DistrictId, MasterId, OrderId, OrderStatus, ShiftStatus, StaffId, StaffRole};
use crate::error::{Error, Result};
use crate::events;
use crate::money::{commissions, referrals, watchdogs};
use crate::money::requisites::{self, Requisites};
use crate::metrics;
use crate::orders::{self, Actor, GUARANTEE_BANNER};
use crate::password;
use crate::settings::Settings;
use crate::staff;
use crate::work;
use Category::{Appliances, Electrics, Handyman, Plumbing, Roadside, Windows};
use ShiftStatus::{Break, Off, On};

/// The password of every demo account, staff and masters alike.
pub const PASSWORD: &str = "demo";

/// What [`load`] created, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoSummary {
    /// The password of every demo account.
    pub password: &'static str,
    /// Staff logins.
    pub staff: Vec<DemoStaff>,
    /// Master logins (phones).
    pub masters: Vec<DemoMaster>,
    /// Districts created.
    pub districts: usize,
    /// Streets created.
    pub streets: usize,
    /// Orders per status, in the order of [`OrderStatus::ALL`]; statuses without orders are left out.
    pub orders: Vec<StatusCount>,
    /// The past thirty days, when loaded with them ([`load_with_history`]).
    pub history: Option<history::HistorySummary>,
}

impl DemoSummary {
    /// How many demo orders are in `status`.
    pub fn count(&self, status: OrderStatus) -> i64 {
        self.orders.iter().find(|c| c.status == status).map_or(0, |c| c.count)
    }
}

/// A demo staff login.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoStaff {
    /// Login.
    pub login: &'static str,
    /// Role.
    pub role: StaffRole,
    /// Bound cities (none = all, for the global admin).
    pub cities: Vec<&'static str>,
}

/// A demo master login.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoMaster {
    /// Login phone.
    pub phone: String,
    /// Full name.
    pub full_name: &'static str,
    /// City.
    pub city: &'static str,
    /// Shift state at loading.
    pub shift: ShiftStatus,
}

/// The number of orders in one status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusCount {
    /// Status.
    pub status: OrderStatus,
    /// Orders.
    pub count: i64,
}

/// True when the database holds no staff, no masters and no orders (the reference cities do not count).
pub fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM staff_users) AND NOT EXISTS (SELECT 1 FROM masters)
            AND NOT EXISTS (SELECT 1 FROM orders)",
        [],
        |r| r.get(0),
    )
}

/// Loads the demo data set at `now` in one write transaction. A database that is not empty is refused
/// (`field.database` / `rule.not_empty`) and left unchanged.
pub fn load(db: &Db, now: DateTime<Utc>) -> Result<DemoSummary> {
    // argon2 is slow in debug builds: hash once, outside the writer, and share the hash.
    let hash = password::hash(PASSWORD);
    db.write(|tx| load_into(tx, now, &hash))
}

/// Loads the demo data set at `now` and then its past thirty days ([`history`]): what `fieldservice demo` and
/// `serve --demo` give a new user, so that the reports have something to show.
pub fn load_with_history(db: &Db, now: DateTime<Utc>) -> Result<DemoSummary> {
    let mut summary = load(db, now)?;
    summary.history = Some(history::load(db, now, HISTORY_SEED)?);
    Ok(summary)
}

/// The seed of the history's randomness: every demo has the same past.
const HISTORY_SEED: u64 = 2026;

/// Loads the demo data set inside the caller's transaction, every account with `password_hash`.
pub fn load_into(conn: &Connection, now: DateTime<Utc>, password_hash: &str) -> Result<DemoSummary> {
    if !is_empty(conn)? {
        return Err(Error::Invalid { field: "database", rule: "not_empty".into() });
    }
    let mut demo = Demo::new(conn, now)?;
    let (districts, streets) = demo.create_geography()?;
    let staff = demo.create_staff(password_hash)?;
    let masters = demo.create_masters(password_hash)?;
    // Before the orders, so that their commissions carry the requisites in their snapshots.
    requisites::update(conn, now, &demo_requisites())?;
    set_demo_qr(conn, now)?;
    demo.create_orders()?;
    link_referrals(conn, &demo.masters)?;
    let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM orders GROUP BY status")?;
    let counts: HashMap<OrderStatus, i64> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let orders = OrderStatus::ALL
        .iter()
        .filter_map(|s| counts.get(s).map(|&count| StatusCount { status: *s, count }))
        .collect();
    Ok(DemoSummary { password: PASSWORD, staff, masters, districts, streets, orders, history: None })
}

/// The demo's referral chain (product.md §3.8): master 1 invited master 2, who invited master 7, who
/// invited master 8 — each link dated at the invitee's sign-up, each referrer with his code. Master 7's
/// approved commission then pays master 2 (level 1) and master 1 (level 2), as approval would have had
/// the links existed then. Added after the orders so that their ids and order stay as they were.
fn link_referrals(conn: &Connection, masters: &[MasterId]) -> Result<()> {
    const CHAIN: [(usize, usize); 3] = [(2, 1), (7, 2), (8, 7)];
    for (invitee, referrer) in CHAIN {
        let (invitee, referrer) = (masters[invitee - 1], masters[referrer - 1]);
        let signed_up: i64 = conn.query_row("SELECT created_at FROM masters WHERE id = ?1", [invitee], |r| r.get(0))?;
        referrals::ensure_code(conn, crate::db::at(signed_up), referrer)?;
        conn.execute("UPDATE masters SET referred_by_master_id = ?2 WHERE id = ?1", params![invitee, referrer])?;
        conn.execute("INSERT INTO referrals (master_id, referrer_id, created_at) VALUES (?1, ?2, ?3)", params![invitee, referrer, signed_up])?;
    }
    let approved: Vec<(i64, i64)> = conn
        .prepare("SELECT id, paid_approved_at FROM commissions WHERE status = 'APPROVED' ORDER BY paid_approved_at, id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (commission, approved_at) in approved {
        referrals::accrue(conn, crate::db::at(approved_at), commission)?;
    }
    Ok(())
}

// The data -----------------------------------------------------------------------------------------------

/// The owner's payment requisites of the demo (product.md §4.6): card and SBP.
fn demo_requisites() -> Requisites {
    Requisites {
        methods: vec!["card".into(), "sbp".into()],
        card_number: "2200700123456789".into(),
        card_holder: "ИП Демо Д. Д.".into(),
        card_bank: "Т-Банк".into(),
        sbp_phone: "+79990001122".into(),
        sbp_bank: "Т-Банк".into(),
        ..Requisites::default()
    }
}

/// The demo's SBP QR image (a real QR code of a made-up SBP link), kept in the binary rather than the
/// data directory, which the loader does not know; [`file`] serves it by this key.
const SBP_QR_KEY: &str = "00000000000000000000000000de0001";
const SBP_QR_PNG: &[u8] = include_bytes!("../../demo/sbp_qr.png");

/// The bytes of a demo file kept in the binary, by its storage key.
pub fn file(key: &str) -> Option<&'static [u8]> {
    (key == SBP_QR_KEY).then_some(SBP_QR_PNG)
}

fn set_demo_qr(conn: &Connection, now: DateTime<Utc>) -> Result<()> {
    let image = requisites::QrImage { key: SBP_QR_KEY.into(), mime_type: "image/png".into() };
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)",
        params![requisites::QR_KEY, serde_json::to_string(&image).unwrap_or_default(), ms(now)],
    )?;
    Ok(())
}

const MOSCOW: &str = "Москва";
const SPB: &str = "Санкт-Петербург";

type Districts = &'static [(&'static str, &'static [&'static str])];

/// Districts and their streets, per city. A street name occurs once per city.
const GEOGRAPHY: &[(&str, Districts)] = &[
    (
        MOSCOW,
        &[
            ("Центральный", &["Тверская улица", "Мясницкая улица", "улица Арбат", "улица Покровка", "улица Большая Дмитровка"]),
            ("Северный", &["Ленинградское шоссе", "Дмитровское шоссе", "Беломорская улица", "Фестивальная улица"]),
            ("Южный", &["Варшавское шоссе", "Каширское шоссе", "Пролетарский проспект", "Ореховый бульвар"]),
            ("Западный", &["Кутузовский проспект", "Мичуринский проспект", "Можайское шоссе", "улица Покрышкина"]),
            ("Восточный", &["Щёлковское шоссе", "Измайловский проспект", "Сиреневый бульвар", "Первомайская улица"]),
            ("Северо-Западный", &["Волоколамское шоссе", "Строгинский бульвар", "улица Свободы", "Пятницкое шоссе"]),
            ("Юго-Западный", &["Ленинский проспект", "Профсоюзная улица", "улица Гарибальди", "Новоясеневский проспект"]),
            ("Зеленоградский", &["Панфиловский проспект", "Центральный проспект", "Георгиевский проспект"]),
        ],
    ),
    (
        SPB,
        &[
            ("Адмиралтейский", &["Садовая улица", "Лермонтовский проспект", "улица Декабристов", "Вознесенский проспект"]),
            ("Василеостровский", &["Большой проспект В.О.", "Средний проспект В.О.", "7-я линия В.О.", "Наличная улица"]),
            ("Невский", &["проспект Большевиков", "Дальневосточный проспект", "улица Коллонтай", "Искровский проспект"]),
            ("Приморский", &["Комендантский проспект", "Богатырский проспект", "улица Савушкина", "проспект Испытателей"]),
            ("Московский", &["Московский проспект", "улица Победы", "Бассейная улица", "Ленинский проспект"]),
            ("Центральный", &["Невский проспект", "Литейный проспект", "улица Марата", "Суворовский проспект"]),
        ],
    ),
];

/// A demo staff account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Admin,
    Moscow,
    Logist,
}

/// Staff accounts: login, role, full name, cities.
const STAFF: [(Who, &str, StaffRole, &str, &[&str]); 3] = [
    (Who::Admin, "admin", StaffRole::GlobalAdmin, "Наталья Григорьева", &[]),
    (Who::Moscow, "moscow", StaffRole::CityAdmin, "Олег Мельников", &[MOSCOW]),
    (Who::Logist, "logist", StaffRole::Logist, "Марина Кравец", &[MOSCOW, SPB]),
];

struct MasterSeed {
    name: &'static str,
    city: &'static str,
    districts: &'static [&'static str],
    skills: &'static [Category],
    vehicle: bool,
    rating: f64,
    shift: ShiftStatus,
}

const fn m(
    name: &'static str,
    city: &'static str,
    districts: &'static [&'static str],
    skills: &'static [Category],
    vehicle: bool,
    rating: f64,
    shift: ShiftStatus,
) -> MasterSeed {
    MasterSeed { name, city, districts, skills, vehicle, rating, shift }
}

/// The masters; master `n` (1-based) has the phone +799900000nn.
const MASTERS: [MasterSeed; 20] = [
    m("Иванов Сергей Петрович", MOSCOW, &["Центральный", "Северный"], &[Electrics, Handyman], true, 4.9, On),
    m("Кузнецов Алексей Викторович", MOSCOW, &["Центральный", "Южный"], &[Plumbing, Handyman], true, 4.7, On),
    m("Смирнов Дмитрий Андреевич", MOSCOW, &["Западный", "Юго-Западный"], &[Appliances, Electrics], false, 4.8, On),
    m("Попов Андрей Николаевич", MOSCOW, &["Восточный", "Центральный"], &[Windows, Handyman], true, 4.5, On),
    m("Васильев Михаил Сергеевич", MOSCOW, &["Северный", "Северо-Западный", "Зеленоградский"], &[Roadside, Electrics], true, 5.0, On),
    m("Петров Николай Иванович", MOSCOW, &["Восточный", "Южный"], &[Plumbing], false, 4.3, On),
    m("Соколов Павел Александрович", MOSCOW, &["Северо-Западный", "Западный"], &[Appliances, Plumbing], true, 4.6, On),
    m("Михайлов Игорь Олегович", MOSCOW, &["Юго-Западный", "Южный"], &[Electrics, Windows], false, 4.4, On),
    m("Новиков Артём Дмитриевич", MOSCOW, &["Зеленоградский", "Северо-Западный"], &[Handyman, Windows], true, 4.2, On),
    m("Фёдоров Евгений Валерьевич", MOSCOW, &["Южный", "Юго-Западный", "Центральный"], &[Roadside], true, 4.8, On),
    m("Морозов Владимир Геннадьевич", MOSCOW, &["Центральный", "Восточный"], &[Appliances], false, 4.9, Off),
    m("Волков Роман Евгеньевич", MOSCOW, &["Северный", "Западный"], &[Plumbing, Electrics], true, 4.6, Off),
    m("Алексеев Константин Юрьевич", MOSCOW, &["Южный", "Восточный"], &[Handyman, Appliances], false, 4.7, Break),
    m("Лебедев Григорий Сергеевич", MOSCOW, &["Центральный", "Западный", "Юго-Западный"], &[Electrics, Plumbing, Handyman], true, 4.5, On),
    m("Семёнов Илья Максимович", SPB, &["Адмиралтейский", "Центральный"], &[Electrics, Appliances], true, 4.8, On),
    m("Егоров Денис Владимирович", SPB, &["Василеостровский", "Приморский"], &[Plumbing, Handyman], false, 4.6, On),
    m("Павлов Антон Игоревич", SPB, &["Невский", "Центральный"], &[Windows, Handyman], true, 4.4, On),
    m("Козлов Максим Романович", SPB, &["Приморский", "Московский"], &[Roadside, Electrics], true, 5.0, On),
    m("Степанов Виктор Павлович", SPB, &["Московский", "Адмиралтейский"], &[Appliances, Plumbing], false, 4.3, On),
    m("Николаев Олег Анатольевич", SPB, &["Центральный", "Невский"], &[Electrics, Windows], false, 4.7, Off),
];

/// The demo phone of master `n` (1-based).
pub fn master_phone(n: usize) -> String {
    format!("+79990000{n:03}")
}

/// How an order came into being.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Created by staff in working hours: SEARCHING.
    Searching,
    /// Created by staff and put off until the next workday start: DEFERRED.
    Deferred,
}

/// One step of an order's life after its creation.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Master `n` accepts his round-1 offer: ASSIGNED.
    Accept(usize),
    /// ASSIGNED → EN_ROUTE.
    EnRoute,
    /// EN_ROUTE → WORKING.
    Working,
    /// WORKING → PAYMENT with this total; the commission is created.
    Act(i64),
    /// The master reports the payment, staff approve the commission: PAYMENT → CLOSED.
    Approve(Who),
    /// The master presses "I paid": the commission is REPORTED.
    Report,
    /// Staff reject the reported payment with this reason: WAIT_PAY again.
    Reject(Who, &'static str),
    /// Staff cancel with this reason.
    Cancel(Who, &'static str),
}

struct OrderSeed {
    city: &'static str,
    /// A street of the city; its district is the order's. None = "address incomplete" (no district).
    street: Option<&'static str>,
    house: &'static str,
    apartment: Option<&'static str>,
    comment: Option<&'static str>,
    client: &'static str,
    phone: &'static str,
    category: Category,
    description: &'static str,
    /// Created this long before `now`.
    minutes_ago: i64,
    by: Who,
    start: Start,
    /// Visit window, minutes from `now` (a DEFERRED order gets the morning window instead).
    slot: Option<(i64, i64)>,
    /// The life after creation: minutes after creation and the step.
    steps: &'static [(i64, Step)],
}

const DAY: i64 = 24 * 60;

/// The orders, oldest first. The first one is the source of the guarantee order.
const ORDERS: &[OrderSeed] = &[
    OrderSeed {
        city: MOSCOW,
        street: Some("Тверская улица"),
        house: "12",
        apartment: Some("45"),
        comment: Some("Подъезд 2, домофон 45"),
        client: "Белова Ольга Николаевна",
        phone: "+79991000101",
        category: Electrics,
        description: "Не работают розетки на кухне, при включении чайника выбивает автомат",
        minutes_ago: 3 * DAY + 6 * 60,
        by: Who::Moscow,
        start: Start::Searching,
        slot: None,
        steps: &[(4, Step::Accept(1)), (40, Step::EnRoute), (95, Step::Working), (150, Step::Act(450_000)), (210, Step::Approve(Who::Admin))],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Строгинский бульвар"),
        house: "7",
        apartment: Some("112"),
        comment: None,
        client: "Зайцев Виктор Михайлович",
        phone: "+79991000102",
        category: Appliances,
        description: "Стиральная машина не сливает воду, на дисплее ошибка E21",
        minutes_ago: 6 * DAY,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[(6, Step::Accept(7)), (45, Step::EnRoute), (120, Step::Working), (200, Step::Act(620_000)), (260, Step::Approve(Who::Moscow))],
    },
    OrderSeed {
        city: SPB,
        street: Some("Садовая улица"),
        house: "38",
        apartment: Some("17"),
        comment: None,
        client: "Орлова Екатерина",
        phone: "+79991000103",
        category: Electrics,
        description: "Искрит выключатель в коридоре, пахнет гарью",
        minutes_ago: 2 * DAY + 3 * 60,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[(3, Step::Accept(15)), (30, Step::EnRoute), (80, Step::Working), (140, Step::Act(380_000)), (185, Step::Approve(Who::Admin))],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Щёлковское шоссе"),
        house: "44",
        apartment: Some("301"),
        comment: None,
        client: "Гусева Анна Сергеевна",
        phone: "+79991000104",
        category: Plumbing,
        description: "Засор в раковине на кухне, вода не уходит",
        minutes_ago: DAY + 2 * 60,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[(4, Step::Accept(6)), (30, Step::Cancel(Who::Logist, "Клиент перенёс ремонт и попросил отменить заявку"))],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Фестивальная улица"),
        house: "22",
        apartment: Some("64"),
        comment: None,
        client: "Тихонов Игорь",
        phone: "+79991000105",
        category: Electrics,
        description: "Мигает свет во всей квартире, иногда пропадает совсем",
        minutes_ago: 5 * 60,
        by: Who::Moscow,
        start: Start::Searching,
        slot: None,
        steps: &[(2, Step::Cancel(Who::Moscow, "Дубль заявки: клиент звонил дважды"))],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Варшавское шоссе"),
        house: "95",
        apartment: Some("230"),
        comment: None,
        client: "Медведева Светлана Петровна",
        phone: "+79991000106",
        category: Plumbing,
        description: "Течёт смеситель в ванной, капает из-под крана",
        minutes_ago: 150,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        // The act is uploaded just now, so the commission's deadline is now + 3 h.
        steps: &[(3, Step::Accept(2)), (25, Step::EnRoute), (70, Step::Working), (150, Step::Act(320_000))],
    },
    OrderSeed {
        city: SPB,
        street: Some("Комендантский проспект"),
        house: "51",
        apartment: Some("210"),
        comment: None,
        client: "Никитин Артур",
        phone: "+79991000107",
        category: Electrics,
        description: "После грозы нет света в половине квартиры, автоматы включены",
        minutes_ago: 120,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[(5, Step::Accept(18)), (25, Step::EnRoute), (60, Step::Working)],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Профсоюзная улица"),
        house: "56",
        apartment: Some("8"),
        comment: None,
        client: "Фролова Марина",
        phone: "+79991000108",
        category: Appliances,
        description: "Холодильник не морозит, компрессор щёлкает и отключается",
        minutes_ago: 100,
        by: Who::Moscow,
        start: Start::Searching,
        slot: None,
        steps: &[(5, Step::Accept(3)), (20, Step::EnRoute), (70, Step::Working)],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Измайловский проспект"),
        house: "73",
        apartment: Some("19"),
        comment: None,
        client: "Киселёв Дмитрий",
        phone: "+79991000109",
        category: Windows,
        description: "Продувает пластиковое окно в спальне: регулировка фурнитуры и замена уплотнителя",
        minutes_ago: 50,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[(6, Step::Accept(4)), (30, Step::EnRoute)],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Кутузовский проспект"),
        house: "30",
        apartment: Some("54"),
        comment: None,
        client: "Романова Елена Викторовна",
        phone: "+79991000110",
        category: Handyman,
        description: "Повесить три полки и карниз в гостиной, стены бетонные",
        minutes_ago: 40,
        by: Who::Moscow,
        start: Start::Searching,
        slot: Some((60, 180)),
        steps: &[(8, Step::Accept(14))],
    },
    OrderSeed {
        city: SPB,
        street: Some("7-я линия В.О."),
        house: "34",
        apartment: Some("5"),
        comment: None,
        client: "Виноградова Полина",
        phone: "+79991000111",
        category: Plumbing,
        description: "Подтекает радиатор отопления в комнате, капает на паркет",
        minutes_ago: 35,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[(7, Step::Accept(16))],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Панфиловский проспект"),
        house: "1106",
        apartment: None,
        comment: Some("Машина у подъезда, серый Hyundai Solaris"),
        client: "Соловьёв Андрей",
        phone: "+79991000112",
        category: Roadside,
        description: "Не заводится автомобиль, сел аккумулятор, нужно прикурить",
        minutes_ago: 25,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[(3, Step::Accept(5))],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Беломорская улица"),
        house: "18",
        apartment: Some("77"),
        comment: None,
        client: "Егорова Татьяна",
        phone: "+79991000113",
        category: Windows,
        description: "Заменить стеклопакет на балконе: трещина после удара, клиент просит приехать утром",
        minutes_ago: 15,
        by: Who::Logist,
        start: Start::Deferred,
        slot: None,
        steps: &[],
    },
    OrderSeed {
        city: MOSCOW,
        street: None,
        house: "5",
        apartment: Some("12"),
        comment: Some("(Вручную: посёлок Коммунарка, улица Александры Монаховой)"),
        client: "Карпов Алексей",
        phone: "+79991000114",
        category: Handyman,
        description: "Перевесить входную дверь: провисла и не закрывается до конца",
        minutes_ago: 7,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[],
    },
    OrderSeed {
        city: SPB,
        street: Some("Московский проспект"),
        house: "171",
        apartment: Some("46"),
        comment: None,
        client: "Борисова Алла Юрьевна",
        phone: "+79991000115",
        category: Appliances,
        description: "Духовой шкаф не греет, горит только подсветка",
        minutes_ago: 6,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Мичуринский проспект"),
        house: "19",
        apartment: Some("33"),
        comment: None,
        client: "Давыдова Ксения",
        phone: "+79991000116",
        category: Appliances,
        description: "Посудомоечная машина не набирает воду, горит индикатор крана",
        minutes_ago: 5,
        by: Who::Moscow,
        start: Start::Searching,
        slot: Some((120, 240)),
        steps: &[],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Волоколамское шоссе"),
        house: "71",
        apartment: None,
        comment: Some("Парковка у торгового центра, место 214"),
        client: "Макаров Денис",
        phone: "+79991000117",
        category: Roadside,
        description: "Спустило колесо на парковке, нужна замена на запаску",
        minutes_ago: 4,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Мясницкая улица"),
        house: "24",
        apartment: Some("9"),
        comment: None,
        client: "Полякова Вера Андреевна",
        phone: "+79991000118",
        category: Electrics,
        description: "Установить и подключить новую люстру, потолок 3 метра",
        minutes_ago: 3,
        by: Who::Moscow,
        start: Start::Searching,
        slot: None,
        steps: &[],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Каширское шоссе"),
        house: "26",
        apartment: Some("140"),
        comment: None,
        client: "Шестаков Павел",
        phone: "+79991000119",
        category: Plumbing,
        description: "Заменить унитаз: старый треснул, новый клиент уже купил",
        minutes_ago: 2,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[],
    },
    OrderSeed {
        city: SPB,
        street: Some("Литейный проспект"),
        house: "15",
        apartment: Some("3"),
        comment: None,
        client: "Лазарева Ирина",
        phone: "+79991000120",
        category: Windows,
        description: "Не закрывается балконная дверь, провисла створка",
        minutes_ago: 2,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[],
    },
    OrderSeed {
        city: MOSCOW,
        street: Some("Сиреневый бульвар"),
        house: "11",
        apartment: Some("88"),
        comment: None,
        client: "Жуков Станислав",
        phone: "+79991000121",
        category: Handyman,
        description: "Собрать шкаф-купе и комод, мебель уже доставлена",
        minutes_ago: 1,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[],
    },
];

/// Orders made after the others (their ids follow the guarantee order's) so that the finance pages show
/// a commission in every state: one reported and waiting for approval, one rejected back to WAIT_PAY, and
/// one whose deadline passed an hour ago — the watchdog run at the end of loading makes it OVERDUE and
/// blocks its master, as the live scheduler would.
const MONEY_ORDERS: &[OrderSeed] = &[
    OrderSeed {
        city: MOSCOW,
        street: Some("Панфиловский проспект"),
        house: "1105",
        apartment: Some("17"),
        comment: None,
        client: "Орлова Вероника",
        phone: "+79991000122",
        category: Windows,
        description: "Продувает пластиковое окно на кухне, нужна регулировка и замена уплотнителя",
        minutes_ago: 240,
        by: Who::Moscow,
        start: Start::Searching,
        slot: None,
        steps: &[(4, Step::Accept(9)), (30, Step::EnRoute), (80, Step::Working), (150, Step::Act(560_000)), (200, Step::Report)],
    },
    OrderSeed {
        city: SPB,
        street: Some("проспект Большевиков"),
        house: "33",
        apartment: Some("140"),
        comment: None,
        client: "Тихонов Глеб",
        phone: "+79991000123",
        category: Handyman,
        description: "Повесить три полки и карниз, стены бетонные",
        minutes_ago: 200,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        steps: &[
            (6, Step::Accept(17)),
            (20, Step::EnRoute),
            (60, Step::Working),
            (120, Step::Act(240_000)),
            (140, Step::Report),
            (170, Step::Reject(Who::Admin, "Перевод не найден: проверьте номер карты и пришлите чек")),
        ],
    },
    OrderSeed {
        city: SPB,
        street: Some("улица Победы"),
        house: "8",
        apartment: Some("52"),
        comment: None,
        client: "Гусева Алла",
        phone: "+79991000124",
        category: Plumbing,
        description: "Засор в кухонной мойке, вода не уходит",
        minutes_ago: 420,
        by: Who::Logist,
        start: Start::Searching,
        slot: None,
        // The act 4 h ago: the 3-hour deadline passed an hour ago.
        steps: &[(5, Step::Accept(19)), (30, Step::EnRoute), (90, Step::Working), (180, Step::Act(190_000))],
    },
];

/// The guarantee order: created this long ago by the city admin from the first (CLOSED) order.
const GUARANTEE_MINUTES_AGO: i64 = 6;

// Loading ------------------------------------------------------------------------------------------------

struct Demo<'c> {
    conn: &'c Connection,
    now: DateTime<Utc>,
    settings: Settings,
    cities: HashMap<&'static str, CityId>,
    /// (city, street name) → (street, district).
    streets: HashMap<(CityId, &'static str), (i64, DistrictId)>,
    districts: HashMap<(CityId, &'static str), DistrictId>,
    staff: HashMap<Who, StaffId>,
    /// Master ids, index `n - 1` for master `n`.
    masters: Vec<MasterId>,
}

impl<'c> Demo<'c> {
    fn new(conn: &'c Connection, now: DateTime<Utc>) -> Result<Self> {
        let mut cities = HashMap::new();
        for (name, _) in GEOGRAPHY {
            let id: Option<CityId> =
                conn.query_row("SELECT id FROM cities WHERE name = ?1", [name], |r| r.get(0)).optional()?;
            cities.insert(*name, id.ok_or(Error::NotFound { what: "city" })?);
        }
        Ok(Self {
            conn,
            now,
            settings: Settings::load(conn)?,
            cities,
            streets: HashMap::new(),
            districts: HashMap::new(),
            staff: HashMap::new(),
            masters: Vec::new(),
        })
    }

    fn ago(&self, minutes: i64) -> DateTime<Utc> {
        self.now - Duration::minutes(minutes)
    }

    /// Districts and streets; returns how many of each.
    fn create_geography(&mut self) -> Result<(usize, usize)> {
        let at = self.ago(60 * DAY);
        let mut district = self.conn.prepare("INSERT INTO districts (city_id, name, created_at) VALUES (?1, ?2, ?3)")?;
        let mut street =
            self.conn.prepare("INSERT INTO streets (city_id, district_id, name, created_at) VALUES (?1, ?2, ?3, ?4)")?;
        for (city_name, districts) in GEOGRAPHY {
            let city = self.cities[city_name];
            for (name, streets) in *districts {
                district.execute(params![city, name, ms(at)])?;
                let district_id = self.conn.last_insert_rowid();
                self.districts.insert((city, *name), district_id);
                for name in *streets {
                    street.execute(params![city, district_id, name, ms(at)])?;
                    let known = self.streets.insert((city, *name), (self.conn.last_insert_rowid(), district_id));
                    debug_assert!(known.is_none(), "street {name} listed twice");
                }
            }
        }
        Ok((self.districts.len(), self.streets.len()))
    }

    fn create_staff(&mut self, hash: &str) -> Result<Vec<DemoStaff>> {
        let at = self.ago(60 * DAY);
        let mut out = Vec::new();
        for (who, login, role, name, city_names) in STAFF {
            let cities: Vec<CityId> = city_names.iter().map(|c| self.cities[c]).collect();
            let id = staff::create(self.conn, at, login, hash, role, name, &cities)?;
            self.staff.insert(who, id);
            out.push(DemoStaff { login, role, cities: city_names.to_vec() });
        }
        Ok(out)
    }

    fn create_masters(&mut self, hash: &str) -> Result<Vec<DemoMaster>> {
        let admin = self.staff[&Who::Admin];
        let mut out = Vec::new();
        for (i, seed) in MASTERS.iter().enumerate() {
            let n = i + 1;
            let city = self.cities[seed.city];
            let created = self.ago((45 - i as i64) * DAY);
            let verified = created + Duration::days(1);
            let break_until = (seed.shift == Break).then(|| self.now + Duration::hours(1));
            self.conn.execute(
                "INSERT INTO masters (full_name, phone, password_hash, city_id, rating, is_active, verified, verified_at,
                     verified_by_staff_id, moderation_status, shift_status, is_on_shift, break_until, has_vehicle,
                     pdn_accepted_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, 1, ?6, ?7, 'APPROVED', ?8, ?9, ?10, ?11, ?12, ?12, ?6)",
                params![
                    seed.name,
                    master_phone(n),
                    hash,
                    city,
                    seed.rating,
                    ms(verified),
                    admin,
                    seed.shift,
                    seed.shift == On,
                    break_until.map(ms),
                    seed.vehicle,
                    ms(created),
                ],
            )?;
            let id = self.conn.last_insert_rowid();
            for skill in seed.skills {
                self.conn.execute(
                    "INSERT INTO master_skills (master_id, category, created_at) VALUES (?1, ?2, ?3)",
                    params![id, skill, ms(created)],
                )?;
            }
            for district in seed.districts {
                self.conn.execute(
                    "INSERT INTO master_districts (master_id, district_id, created_at) VALUES (?1, ?2, ?3)",
                    params![id, self.districts[&(city, *district)], ms(created)],
                )?;
            }
            self.masters.push(id);
            out.push(DemoMaster { phone: master_phone(n), full_name: seed.name, city: seed.city, shift: seed.shift });
        }
        Ok(out)
    }

    fn create_orders(&mut self) -> Result<()> {
        let mut first = None;
        for seed in ORDERS {
            let id = self.create_order(seed)?;
            first.get_or_insert(id);
        }
        let source = first.expect("the demo has orders");
        self.create_guarantee(source, Who::Moscow, self.ago(GUARANTEE_MINUTES_AGO))?;
        for seed in MONEY_ORDERS {
            self.create_order(seed)?;
        }
        watchdogs::run(self.conn, self.now)?;
        Ok(())
    }

    /// Inserts one order as staff created it, then plays its life step by step through the same
    /// transitions the live rules use, so status, version, history, offers and commission agree.
    fn create_order(&mut self, seed: &OrderSeed) -> Result<OrderId> {
        let city = self.cities[seed.city];
        let (street, district) = match seed.street {
            Some(name) => {
                let (street, district) = self.streets[&(city, name)];
                (Some(street), Some(district))
            }
            None => (None, None),
        };
        let staff = self.staff[&seed.by];
        let created = self.ago(seed.minutes_ago);
        let mut slot = seed.slot.map(|(from, to)| (self.now + Duration::minutes(from), self.now + Duration::minutes(to)));
        let (status, deferred_until, context) = match seed.start {
            Start::Searching => {
                (OrderStatus::Searching, None, json!({"staff_id": staff, "initial_status": OrderStatus::Searching}))
            }
            Start::Deferred => {
                let tz = cities::timezone(self.conn, city)?.ok_or(Error::NotFound { what: "city" })?;
                let hours = self.settings.working_hours();
                let until = hours.next_start(tz, self.now);
                slot = Some((until, until + Duration::hours(3)));
                let reason = if hours.is_open(tz, created) { "staff_deferred" } else { "outside_working_hours" };
                let context = json!({"staff_id": staff, "initial_status": OrderStatus::Deferred,
                    "deferred_reason": reason, "deferred_until": until});
                (OrderStatus::Deferred, Some(until), context)
            }
        };
        self.conn.execute(
            "INSERT INTO orders (city_id, district_id, no_district, street_id, house, apartment, address_comment,
                 client_name, client_phone, category, description, status, type, timeslot_start, timeslot_end,
                 deferred_until, created_by_staff_id, dist_since_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'NORMAL', ?13, ?14, ?15, ?16, ?17, ?17, ?17)",
            params![
                city,
                district,
                district.is_none() && cities::has_districts(self.conn, city)?,
                street,
                seed.house,
                seed.apartment,
                seed.comment,
                seed.client,
                seed.phone,
                seed.category,
                seed.description,
                status,
                slot.map(|s| ms(s.0)),
                slot.map(|s| ms(s.1)),
                deferred_until.map(ms),
                staff,
                ms(created),
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        orders::record_history(self.conn, created, id, None, status, "created_by_staff", Actor::Staff(staff), &context)?;
        for &(minutes, step) in seed.steps {
            let at = created + Duration::minutes(minutes);
            debug_assert!(at <= self.now, "a demo step lies in the future");
            self.step(id, at, step)?;
        }
        Ok(id)
    }

    /// Plays one step of an order's life at `at`.
    fn step(&mut self, id: OrderId, at: DateTime<Utc>, step: Step) -> Result<()> {
        let order = orders::load(self.conn, id)?.ok_or(Error::NotFound { what: "order" })?;
        let conn = self.conn;
        match step {
            Step::Accept(n) => {
                let master = self.masters[n - 1];
                let sent = at - Duration::seconds(45);
                let expires = sent + Duration::seconds(self.settings.distribution_sla_seconds);
                conn.execute(
                    "INSERT INTO offers (order_id, master_id, dist_cycle, round_number, state, sent_at, expires_at,
                         responded_at, viewed_at, created_at)
                     VALUES (?1, ?2, ?3, 1, 'ACCEPTED', ?4, ?5, ?6, ?7, ?4)",
                    params![id, master, order.dist_cycle, ms(sent), ms(expires), ms(at), ms(sent + Duration::seconds(20))],
                )?;
                let offer = conn.last_insert_rowid();
                events::record(conn, sent, Some(id), "engine", "offer_sent", json!({"master_id": master, "offer_id": offer, "round": 1, "until": expires}))?;
                conn.execute("UPDATE orders SET assigned_master_id = ?2 WHERE id = ?1", params![id, master])?;
                let context = json!({"master_id": master, "action": "offer_accepted", "method": "atomic_accept", "offer_id": offer});
                orders::transition(conn, at, &order, OrderStatus::Assigned, "accepted_by_master", Actor::Master(master), &context)?;
                events::record(conn, at, Some(id), "master", "offer_accepted", json!({"master_id": master, "offer_id": offer, "round": 1}))?;
                metrics::record_assignment(conn, at, &order, master, metrics::Via::MasterAccept, None);
            }
            Step::EnRoute => work::en_route(conn, at, assigned(&order)?, id)?,
            Step::Working => work::on_site(conn, at, assigned(&order)?, id)?,
            Step::Act(total) => {
                work::record_close(conn, at, &order, assigned(&order)?, total, None, 0)?;
            }
            Step::Approve(who) => {
                let (commission, created): (i64, i64) =
                    conn.query_row("SELECT id, created_at FROM commissions WHERE order_id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                // The master pressed "I paid" halfway between the act and the approval.
                let reported = crate::db::at(created + (ms(at) - created) / 2);
                commissions::report_paid(conn, reported, assigned(&order)?, commission)?;
                let staff = staff::load_active(conn, self.staff[&who])?.ok_or(Error::NotFound { what: "staff" })?;
                commissions::approve(conn, at, &staff, commission, None)?;
            }
            Step::Report => {
                let commission = conn.query_row("SELECT id FROM commissions WHERE order_id = ?1", [id], |r| r.get(0))?;
                commissions::report_paid(conn, at, assigned(&order)?, commission)?;
            }
            Step::Reject(who, reason) => {
                let commission = conn.query_row("SELECT id FROM commissions WHERE order_id = ?1", [id], |r| r.get(0))?;
                let staff = staff::load_active(conn, self.staff[&who])?.ok_or(Error::NotFound { what: "staff" })?;
                commissions::reject(conn, at, &staff, commission, reason)?;
            }
            Step::Cancel(who, reason) => {
                let staff = staff::load_active(conn, self.staff[&who])?.ok_or(Error::NotFound { what: "staff" })?;
                orders::cancel(conn, at, &staff, id, reason)?;
            }
        }
        Ok(())
    }

    /// A guarantee order from the CLOSED order `source`, waiting for its original master (who is on shift).
    fn create_guarantee(&mut self, source: OrderId, by: Who, created: DateTime<Utc>) -> Result<OrderId> {
        let staff = self.staff[&by];
        let master: MasterId = self
            .conn
            .query_row("SELECT assigned_master_id FROM orders WHERE id = ?1 AND status = 'CLOSED'", [source], |r| r.get(0))?;
        self.conn.execute(
            "INSERT INTO orders (city_id, district_id, no_district, street_id, house, apartment, address_comment, lat, lon,
                 client_name, client_phone, category, description, status, type, preferred_master_id,
                 company_payment_kop, guarantee_source_order_id, created_by_staff_id, dist_since_at, created_at, updated_at)
             SELECT city_id, district_id, no_district, street_id, house, apartment, address_comment, lat, lon,
                 client_name, client_phone, category, ?2 || char(10) || description,
                 'GUARANTEE', 'GUARANTEE', ?3, ?4, id, ?5, ?6, ?6, ?6
             FROM orders WHERE id = ?1",
            params![source, GUARANTEE_BANNER, master, self.settings.guarantee_company_payment_kop, staff, ms(created)],
        )?;
        let id = self.conn.last_insert_rowid();
        let context = json!({"staff_id": staff, "source_order_id": source, "preferred_master_id": master,
            "action": "guarantee_order_creation"});
        orders::record_history(self.conn, created, id, None, OrderStatus::Guarantee, "guarantee_created", Actor::Staff(staff), &context)?;
        Ok(id)
    }
}

/// The master of an assigned order.
fn assigned(order: &orders::Order) -> Result<MasterId> {
    order.assigned_master_id.ok_or(Error::NotFound { what: "master" })
}
