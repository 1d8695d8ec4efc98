//! The reports of issue 13 on a known day built through the real rules with the moved clock: orders created,
//! offered by the engine, accepted, declined, let expire, escalated, offered by staff, assigned directly,
//! canceled, deferred and woken, closed and paid. Every figure is asserted through the API (validated
//! against the OpenAPI document) and on the page, and the scope per role.

mod browser;
mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::api::Api;
use common::web::WebApp;
use common::*;
use fieldservice::domain::{MasterId, OrderId, OrderStatus, StaffRole};
use fieldservice::money::commissions;
use fieldservice::money::watchdogs;
use fieldservice::staff::Staff;
use fieldservice::work::{self, StoredFile};
use fieldservice::{orders, password, staff};
use reqwest::StatusCode;
use serde_json::Value;

/// The day of the dataset, 2026-03-10 on the operator's clock (Moscow), as the reports are asked for it.
const DAY: &str = "period=custom&from=2026-03-10&to=2026-03-10";

/// Offers each master was sent and how each ended, as the test made them: (sent, accepted, declined, expired).
type Tally = BTreeMap<MasterId, (i64, i64, i64, i64)>;

struct Day {
    w: World,
    tally: Tally,
    d: i64,
}

fn at(minutes: i64, seconds: i64) -> DateTime<Utc> {
    t0() + mins(minutes) + secs(seconds)
}

fn act() -> StoredFile {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let key = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    StoredFile { storage_key: format!("report-act-{key}"), file_name: "act.jpg".into(), mime_type: "image/jpeg".into(), size: 2048 }
}

impl Day {
    /// The engine offers the order created now; returns the master it was offered to.
    fn offered(&mut self, now: DateTime<Utc>, order: OrderId) -> (MasterId, i64) {
        self.w.tick(now);
        let offer = self.w.open_offer(order);
        self.tally.entry(offer.master_id).or_default().0 += 1;
        (offer.master_id, offer.id)
    }

    fn accept(&mut self, now: DateTime<Utc>, master: MasterId, offer: i64) {
        self.w.accept(now, master, offer).unwrap();
        self.tally.entry(master).or_default().1 += 1;
    }

    /// An order created at `minutes` after t0, offered by the engine and accepted `after` seconds later.
    fn accepted(&mut self, minutes: i64, after: i64) -> (OrderId, MasterId) {
        let order = self.w.order(at(minutes, 0), self.d);
        let (master, offer) = self.offered(at(minutes, 0), order);
        self.accept(at(minutes, after), master, offer);
        (order, master)
    }

    /// The master works the order and closes it with `amount` at `now`; returns the commission.
    fn close(&self, now: DateTime<Utc>, order: OrderId, master: MasterId, amount: &str) -> i64 {
        self.w.db.write(|tx| work::en_route(tx, now, master, order)).unwrap();
        self.w.db.write(|tx| work::on_site(tx, now, master, order)).unwrap();
        let closed = self.w.db.write(|tx| work::close(tx, now, master, order, Some(amount), &act(), &work::Extras::default())).unwrap();
        closed.commission_id.unwrap()
    }
}

/// A staff member who can sign in with the demo password.
fn staff_member(w: &World, login: &str, role: StaffRole, cities: &[i64]) -> Staff {
    let hash = password::hash(fieldservice::demo::PASSWORD);
    let id = w.write(|tx| staff::create(tx, t0(), login, &hash, role, "Сотрудник", cities)).unwrap();
    w.load_staff(id)
}

/// The day: see the comments for what each order goes through; with `history`, the six days before it
/// have a few orders each too (offered, one declined, accepted, closed and paid), for the screenshots.
fn build(history: bool) -> (Day, Staff) {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    w.masters(3, M::serving(msk, &[d]));
    let boss = staff_member(&w, "boss", StaffRole::GlobalAdmin, &[]);
    let mut day = Day { w, tally: Tally::new(), d };
    for k in (1..=6i64).rev().filter(|_| history) {
        for j in 0..(k % 3 + 2) {
            let minutes = -1440 * k + 20 * j;
            let order = day.w.order(at(minutes, 0), d);
            let (mut master, mut offer) = day.offered(at(minutes, 0), order);
            if j == 0 {
                day.w.decline(at(minutes, 5), master, offer).unwrap();
                (master, offer) = day.offered(at(minutes, 15), order);
            }
            day.accept(at(minutes, 20 + 9 * k + 13 * j), master, offer);
            let commission = day.close(at(minutes + 10, 0), order, master, &format!("{}", 1500 + 700 * j + 100 * k));
            day.w.write(|tx| commissions::approve(tx, at(minutes + 15, 0), &boss, commission, None)).unwrap();
        }
    }

    // A deferred order: created at 09:00 Moscow, before the working day; it wakes at 10:00 on a tick 20 s
    // late, is offered at once and canceled (its offer is withdrawn: not in the acceptance rate).
    let early = day.w.order(t0() - mins(180), d);
    assert_eq!(day.w.status(early), OrderStatus::Deferred);
    let woke = t0() - mins(120) + secs(20);
    let (_, _) = day.offered(woke, early);
    day.w.write(|tx| orders::cancel(tx, woke + secs(5), &boss, early, "клиент передумал")).unwrap();

    // O1: accepted after 30 s.
    let (o1, m1) = day.accepted(0, 30);
    // O2: declined after 10 s; the next tick offers round 2, accepted 75 s after the order was created.
    let o2 = day.w.order(at(2, 0), d);
    let (declined_by, first) = day.offered(at(2, 0), o2);
    day.w.decline(at(2, 10), declined_by, first).unwrap();
    day.tally.get_mut(&declined_by).unwrap().2 += 1;
    let (m2, second) = day.offered(at(2, 15), o2);
    day.accept(at(2, 75), m2, second);
    // O3: accepted after 40 s.
    let (o3, m3) = day.accepted(5, 40);
    // O7: both rounds lapse unanswered (2 expiries) → escalated to the logists, "rounds exhausted"; then
    // assigned directly by the admin before the admin escalation.
    let o7 = day.w.order(at(8, 0), d);
    day.offered(at(8, 0), o7);
    let mut t = at(10, 0);
    let mut rounds = 1;
    while day.w.events(o7, "escalation_logist").is_empty() {
        day.w.tick(t);
        if let Some(offer) = day.w.offers(o7).into_iter().find(|f| f.state.is_open() && f.round_number > rounds) {
            day.tally.entry(offer.master_id).or_default().0 += 1;
            rounds = offer.round_number;
        }
        t += secs(15);
        assert!(t < at(16, 0), "O7 escalates within the SLA of two rounds");
    }
    for offer in day.w.offers(o7) {
        day.tally.entry(offer.master_id).or_default().3 += 1;
    }
    let free = day.w.masters(1, M::serving(day.w.moscow(), &[d]))[0];
    day.w.write(|tx| orders::assign_directly(tx, at(15, 0), &boss, o7, free, true)).unwrap();
    // O4: no district → escalated to the logists at once, to the admins 10 minutes later; the admin offers
    // it to a master at +11 min, who accepts 20 s later (680 s from searching to accepted).
    let o4 = day.w.order_without_district(at(16, 0), msk);
    day.w.tick(at(16, 0));
    let mut t = at(26, 0);
    while day.w.events(o4, "escalation_admin").is_empty() {
        day.w.tick(t);
        t += secs(15);
        assert!(t < at(28, 0), "O4 escalates to the admins after 10 minutes");
    }
    let manual = day.w.manual_offer(at(27, 0), &boss, o4, m1, true).unwrap();
    day.tally.entry(m1).or_default().0 += 1;
    day.accept(at(27, 20), m1, manual.id);
    // O5: assigned directly, then canceled with its master.
    let o5 = day.w.order(at(30, 0), d);
    day.w.write(|tx| orders::assign_directly(tx, at(31, 0), &boss, o5, free, true)).unwrap();
    day.w.write(|tx| orders::cancel(tx, at(32, 0), &boss, o5, "клиент передумал")).unwrap();
    // O6: offered, then canceled before anyone answered (the offer is withdrawn).
    let o6 = day.w.order(at(35, 0), d);
    day.offered(at(35, 0), o6);
    day.w.write(|tx| orders::cancel(tx, at(35, 30), &boss, o6, "клиент передумал")).unwrap();
    // O8, O9, O10: accepted after 50, 60 and 20 s.
    let (o8, m8) = day.accepted(40, 50);
    day.accepted(45, 60);
    day.accepted(50, 20);

    // Money: O1 3000 ₽ and O2 5000 ₽ closed and paid (O1's master was brought by a referrer: 10 % of 1500 ₽);
    // O3 4000 ₽ reported paid, not approved; O8 2000 ₽ never paid and overdue by the evening.
    let referrer = day.w.masters(1, M::serving(msk, &[d]))[0];
    day.w.exec("INSERT INTO referrals (master_id, referrer_id, created_at) VALUES (?1, ?2, 0)", [m1, referrer]);
    let c1 = day.close(at(60, 0), o1, m1, "3000");
    let c2 = day.close(at(61, 0), o2, m2, "5000");
    let c3 = day.close(at(62, 0), o3, m3, "4000");
    day.close(at(63, 0), o8, m8, "2000");
    day.w.write(|tx| commissions::report_paid(tx, at(70, 0), m3, c3)).unwrap();
    day.w.write(|tx| commissions::approve(tx, at(80, 0), &boss, c1, None)).unwrap();
    day.w.write(|tx| commissions::approve(tx, at(81, 0), &boss, c2, None)).unwrap();
    let overdue = day.w.write(|tx| Ok(watchdogs::run(tx, at(300, 0))?)).unwrap().overdue;
    assert_eq!(overdue.len(), 1, "O8's commission is past its 3-hour deadline");
    // A guarantee revisit of O1's work.
    day.w.guarantee(at(310, 0), o1).unwrap();
    (day, boss)
}

/// Reads a number out of a JSON value.
fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_day_gives_each_figure_through_the_api_and_the_page() {
    let (day, _boss) = build(false);
    let msk = day.w.moscow();
    let spb = day.w.city("Санкт-Петербург");
    staff_member(&day.w, "msk-admin", StaffRole::CityAdmin, &[msk]);
    staff_member(&day.w, "spb-admin", StaffRole::CityAdmin, &[spb]);
    staff_member(&day.w, "loner", StaffRole::CityAdmin, &[msk]);
    day.w.exec("DELETE FROM staff_cities WHERE staff_id = (SELECT id FROM staff_users WHERE login = 'loner')", []);
    staff_member(&day.w, "dispatcher", StaffRole::Logist, &[msk]);
    let app = WebApp::serve(day.w.db.clone(), at(600, 0), tempfile::tempdir().unwrap()).await;
    let boss = Api::staff(&app, "boss").await;

    let (status, dist) = boss.get(&format!("/api/v1/reports/distribution?{DAY}")).await;
    assert_eq!(status, StatusCode::OK, "{dist}");
    assert_eq!((dist["first"].as_str(), dist["last"].as_str()), (Some("2026-03-10"), Some("2026-03-10")));
    // 12 orders: the deferred one, O1–O10 and the guarantee revisit.
    assert_eq!(n(&dist["created"]), 12);
    assert_eq!(n(&dist["days"][0]["created"]), 12);
    // 12 offers sent; 7 accepted, 1 declined, 2 lapsed → 7 / 10 = 70 % (87.5 % if expiries were left out);
    // the 2 withdrawn with their canceled orders do not count.
    let offers = &dist["offers"];
    assert_eq!((n(&offers["sent"]), n(&offers["accepted"]), n(&offers["declined"]), n(&offers["expired"]), n(&offers["canceled"])), (12, 7, 1, 2, 2));
    assert_eq!(offers["acceptance_percent"].as_f64(), Some(70.0));
    // Assigned: 6 by the engine's offers, 1 by the admin's offer (O4), 2 directly (O7, O5).
    let a = &dist["assigned"];
    assert_eq!((n(&a["engine"]), n(&a["manual_offer"]), n(&a["direct"])), (6, 1, 2));
    // Searching → accepted: 20, 30, 40, 50, 60, 75, 680 s → median 50 s, p90 680 s.
    let s = &dist["search_to_accept"];
    assert_eq!((n(&s["count"]), n(&s["p50_seconds"]), n(&s["p90_seconds"])), (7, 50, 680));
    assert_eq!((n(&dist["days"][0]["accept_p50_seconds"]), n(&dist["days"][0]["accept_p90_seconds"])), (50, 680));
    // Rounds of the accepted offers: six in round 1, O2 in round 2 → mean 8 / 7 = 1.1.
    assert_eq!(dist["rounds"], serde_json::json!([{"round": 1, "orders": 6}, {"round": 2, "orders": 1}]));
    assert_eq!(dist["rounds_mean"].as_f64(), Some(1.1));
    // Escalations: O4 to the logists and the admins (no district), O7 to the logists (rounds exhausted).
    let why: BTreeMap<&str, (i64, i64)> =
        dist["escalations"].as_array().unwrap().iter().map(|e| (e["reason"].as_str().unwrap(), (n(&e["logist"]), n(&e["admin"])))).collect();
    assert_eq!(why, BTreeMap::from([("no_district", (1, 1)), ("rounds_exhausted", (1, 0))]));
    // The deferred order: put off once, woken 20 s after its time.
    let d = &dist["deferred"];
    assert_eq!((n(&d["deferred"]), n(&d["woken"]), n(&d["wake_delay"]["p50_seconds"]), n(&d["wake_delay_max_seconds"])), (1, 1, 20, 20));
    // Canceled: the deferred order and O6 before assignment, O5 after.
    assert_eq!((n(&dist["cancellations"]["before_assignment"]), n(&dist["cancellations"]["after_assignment"])), (2, 1));
    // Guarantee: O1 and O2 closed, one revisit → 50 per 100 closed.
    let g = &dist["guarantee"];
    assert_eq!((n(&g["closed"]), n(&g["revisits"]), g["per_100_closed"].as_f64()), (2, 1, Some(50.0)));

    let (status, masters) = boss.get(&format!("/api/v1/reports/masters?{DAY}&sort=offers&dir=desc")).await;
    assert_eq!(status, StatusCode::OK, "{masters}");
    let rows = masters["rows"].as_array().unwrap();
    let offered: Vec<i64> = rows.iter().map(|r| n(&r["offers"])).collect();
    assert!(offered.windows(2).all(|w| w[0] >= w[1]), "sorted by offers, most first: {offered:?}");
    for (master, (sent, accepted, declined, expired)) in &day.tally {
        let row = rows.iter().find(|r| n(&r["master_id"]) == *master).unwrap_or_else(|| panic!("master {master} in {masters}"));
        assert_eq!((n(&row["offers"]), n(&row["accepted"]), n(&row["declined"]), n(&row["expired"])), (*sent, *accepted, *declined, *expired), "master {master}");
    }
    let total = |key: &str| rows.iter().map(|r| n(&r[key])).sum::<i64>();
    assert_eq!((total("offers"), total("accepted"), total("declined"), total("expired")), (12, 7, 1, 2));
    // Jobs closed (O1, O2) with 8 000 ₽; commissions 1 500 + 2 500 paid, 2 000 + 1 000 owed, 1 000 overdue.
    assert_eq!((total("closed"), total("revenue_kop")), (2, 800_000));
    assert_eq!((total("paid_kop"), total("owed_kop"), total("overdue_kop"), total("revisits")), (400_000, 300_000, 100_000, 1));

    let (status, money) = boss.get(&format!("/api/v1/reports/money?{DAY}")).await;
    assert_eq!(status, StatusCode::OK, "{money}");
    let t = &money["totals"];
    assert_eq!(
        (n(&t["closed"]), n(&t["revenue_kop"]), n(&t["accrued_kop"]), n(&t["approved_kop"]), n(&t["outstanding_kop"]), n(&t["overdue_kop"])),
        (2, 800_000, 700_000, 400_000, 300_000, 100_000)
    );
    assert_eq!(money["days"][0]["figures"]["revenue_kop"], t["revenue_kop"]);
    assert_eq!((money["cities"].as_array().unwrap().len(), n(&money["cities"][0]["city_id"])), (1, msk));
    assert_eq!((n(&money["referral"]["count"]), n(&money["referral"]["accrued_kop"])), (1, 15_000));

    // Scope: a city admin of Moscow sees the same; of St Petersburg sees nothing and Moscow is "not found";
    // one without cities sees nothing; a logist is refused.
    let msk_admin = Api::staff(&app, "msk-admin").await;
    let (_, mine) = msk_admin.get(&format!("/api/v1/reports/distribution?{DAY}")).await;
    assert_eq!(mine["offers"], dist["offers"]);
    let (_, filtered) = boss.get(&format!("/api/v1/reports/money?{DAY}&city_id={spb}")).await;
    assert_eq!(n(&filtered["totals"]["revenue_kop"]), 0, "another city's filter counts nothing of Moscow");
    let spb_admin = Api::staff(&app, "spb-admin").await;
    let (_, theirs) = spb_admin.get(&format!("/api/v1/reports/distribution?{DAY}")).await;
    assert_eq!((n(&theirs["created"]), n(&theirs["offers"]["sent"])), (0, 0));
    let (status, _) = spb_admin.get(&format!("/api/v1/reports/money?{DAY}&city_id={msk}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, none) = Api::staff(&app, "loner").await.get(&format!("/api/v1/reports/masters?{DAY}")).await;
    assert_eq!(none["rows"], serde_json::json!([]), "an empty scope gives nothing, never everything");
    let (status, _) = Api::staff(&app, "dispatcher").await.get(&format!("/api/v1/reports/money?{DAY}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Dates that make no sense are refused with the field named.
    let (status, refused) = boss.get("/api/v1/reports/distribution?period=custom&from=2026-03-10&to=2026-03-01").await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("to")));
    let (status, _) = boss.get("/api/v1/reports/masters?period=custom&from=2025-01-01&to=2026-01-02").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "over 366 days");

    // The page shows the same figures with its charts, in the admin menu; a logist is refused it.
    let mut page = app.staff("boss").await;
    let html = page.get(&format!("/reports?{DAY}")).await;
    assert_eq!(html.status, StatusCode::OK, "{}", html.html);
    assert!(html.has(r#"href="/reports""#), "the admin menu links the page");
    assert!(html.has(r#"<dd id="fig-acceptance">70.0 %</dd>"#), "{}", html.html);
    assert!(html.has(r#"<dd id="fig-created">12</dd>"#) && html.has(r#"<td class="num" id="offers-expired">2</td>"#));
    assert!(html.has(r#"<dd id="fig-accept-p50">50 с</dd>"#) && html.has(r#"<dd id="fig-accept-p90">11 мин 20 с</dd>"#));
    assert!(html.has(r#"id="escalation-no_district"><td>Нет района</td><td class="num">1</td><td class="num">1</td>"#));
    assert!(html.has("<dd id=\"fig-revenue\">8\u{a0}000"), "{}", html.html);
    assert_eq!(html.html.matches("<svg class=\"chart\"").count(), 5, "created, shares, p50/p90, revenue, accrued");
    let sorted = page.get(&format!("/reports?{DAY}&sort=name&dir=asc")).await;
    assert!(sorted.has(r#"aria-sort="ascending"><a href="/reports?period=custom&#38;from=2026-03-10&#38;to=2026-03-10&#38;sort=name&#38;dir=desc#masters""#), "{}", sorted.html);
    let tricky = rows[0]["master_id"].as_i64().unwrap();
    app.db.write(|tx| Ok::<_, fieldservice::error::Error>(tx.execute("UPDATE masters SET full_name = '=HYPERLINK(1)' WHERE id = ?1", [tricky])?)).unwrap();
    let csv = page.get(&format!("/reports/csv?{DAY}&table=masters")).await;
    assert!(csv.html.contains(&format!("\n{tricky};'=HYPERLINK(1);")), "a name is never a formula: {}", csv.html);
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.html.starts_with("\u{feff}ID мастера;Мастер;Предложений;"), "{}", csv.html);
    assert_eq!(csv.html.lines().count(), 1 + rows.len());
    let days_csv = page.get(&format!("/reports/csv?{DAY}&table=days")).await;
    assert!(days_csv.html.contains("2026-03-10;12;6;1;2;50;680"), "{}", days_csv.html);
    let bad = page.get("/reports?period=custom&from=2026-03-10&to=2026-03-01").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has(r#"id="to-error""#), "the refusal sits beside its field");
    let mut dispatcher = app.staff("dispatcher").await;
    assert_eq!(dispatcher.get("/reports").await.status, StatusCode::FORBIDDEN);
    assert!(!dispatcher.get("/").await.has(r#"href="/reports""#), "no menu entry for a logist");
}

/// The page at a desk, 1280×800, in Russian and English, over the last 7 days of the dataset: the top with
/// the period picker and the distribution charts, the masters table, the money charts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_at_the_desk_in_both_languages() {
    let (day, _boss) = build(true);
    let app = WebApp::serve(day.w.db.clone(), at(600, 0), tempfile::tempdir().unwrap()).await;
    let Some(desk) = browser::Window::open(&app, "reports", browser::Viewport::Staff).await else { return };
    desk.sign_in("boss").await;
    for lang in ["ru", "en"] {
        desk.goto(&format!("/lang/{lang}?back=%2Freports%3Fperiod%3Dlast_7_days")).await;
        desk.wait_for("#distribution svg.chart").await;
        desk.assert_no_horizontal_scroll().await;
        desk.screenshot(&format!("{lang}-1-distribution")).await;
        for (n, section) in [(2, "table-offers"), (3, "masters"), (4, "money")] {
            desk.execute(&format!("document.getElementById('{section}').scrollIntoView();"), vec![]).await;
            desk.screenshot(&format!("{lang}-{n}-{section}")).await;
        }
    }
}
