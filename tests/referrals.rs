//! The referral program at the service level with the moved clock (product.md §3.8, §8 group H): rewards
//! of level 1 and 2 on approval, once, rounded half-up, none for nothing; the referrer told; the code made
//! once and kept; the screen's counts, levels and months; the staff's city rules; the sign-up refusals.

mod common;

use chrono::Duration;
use common::{M, World, t0};
use fieldservice::domain::{MasterId, OrderStatus, StaffRole};
use fieldservice::error::Error;
use fieldservice::i18n::Lang;
use fieldservice::money::commissions;
use fieldservice::money::referrals::{self, Accrued};
use fieldservice::signup::{self, Registration};

struct Program {
    w: World,
    district: i64,
}

impl Program {
    fn new() -> Self {
        let w = World::new();
        let district = w.district(w.moscow(), "Центральный");
        Self { w, district }
    }

    fn master(&self) -> MasterId {
        self.w.master(M::serving(self.w.moscow(), &[self.district]))
    }

    /// `invitee` signed up with `referrer`'s code.
    fn link(&self, invitee: MasterId, referrer: MasterId) {
        self.w.exec("UPDATE masters SET referred_by_master_id = ?2 WHERE id = ?1", [invitee, referrer]);
        self.w.exec("INSERT INTO referrals (master_id, referrer_id, created_at) VALUES (?1, ?2, 0)", [invitee, referrer]);
    }

    /// A closed job of `master` whose commission is `amount_kop` (the 50 % rate of a low average).
    fn commission(&self, master: MasterId, amount_kop: i64) -> i64 {
        let order = self.w.busy_order(t0(), self.district, master, OrderStatus::Payment);
        self.w.exec("UPDATE orders SET total_sum_kop = ?2 WHERE id = ?1", [order, amount_kop * 2]);
        let id = self.w.write(|tx| commissions::create(tx, t0(), order)).unwrap().unwrap();
        assert_eq!(self.w.scalar::<i64, _>("SELECT amount_kop FROM commissions WHERE id = ?1", [id]), amount_kop);
        id
    }

    fn approve(&self, at: chrono::DateTime<chrono::Utc>, commission: i64, paid: Option<i64>) {
        self.w.write(|tx| commissions::approve(tx, at, &self.w.admin, commission, paid)).unwrap();
    }

    /// (referrer, referred, level, percent, amount) of every reward, oldest first.
    fn rewards(&self) -> Vec<(i64, i64, i64, i64, i64)> {
        self.w.read(|c| {
            c.prepare("SELECT referrer_id, referred_master_id, level, percent, amount_kop FROM referral_rewards ORDER BY id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect()
        })
    }

    /// The payloads of `master`'s notifications of `event`.
    fn told(&self, master: MasterId, event: &str) -> Vec<serde_json::Value> {
        self.w.read(|c| {
            c.prepare("SELECT payload FROM notifications_outbox WHERE master_id = ?1 AND event = ?2 ORDER BY id")?
                .query_map(rusqlite::params![master, event], |r| r.get::<_, String>(0))?
                .map(|p| p.map(|p| serde_json::from_str(&p).unwrap()))
                .collect()
        })
    }

    fn screen(&self, master: MasterId) -> referrals::Referral {
        self.w.write(|tx| referrals::for_master(tx, t0(), master, "https://fs.example", chrono_tz::Europe::Moscow)).unwrap()
    }
}

#[test]
fn h1_a_commission_pays_level_1_ten_and_level_2_five_percent_once() {
    let p = Program::new();
    let (payer, l1, l2) = (p.master(), p.master(), p.master());
    p.link(payer, l1);
    p.link(l1, l2);
    let c = p.commission(payer, 100_000);
    p.approve(t0(), c, None);
    assert_eq!(p.rewards(), vec![(l1, payer, 1, 10, 10_000), (l2, payer, 2, 5, 5_000)]);
    // Again: by the rule itself and by approving again — nothing new, nobody told twice.
    assert_eq!(p.w.write(|tx| referrals::accrue(tx, t0() + Duration::hours(1), c)).unwrap(), Vec::<Accrued>::new());
    p.approve(t0() + Duration::hours(2), c, None);
    assert_eq!(p.rewards().len(), 2);
    assert_eq!(p.told(l1, "referral_reward_accrued").len(), 1);
    let order: i64 = p.w.scalar("SELECT order_id FROM commissions WHERE id = ?1", [c]);
    let logged: i64 = p.w.scalar("SELECT COUNT(*) FROM order_events WHERE order_id = ?1 AND kind = 'referral_reward_accrued'", [order]);
    assert_eq!(logged, 2, "each reward is in the order's log");
}

#[test]
fn h2_the_rewards_are_of_the_paid_amount_rounded_half_up() {
    let p = Program::new();
    let (payer, l1, l2) = (p.master(), p.master(), p.master());
    p.link(payer, l1);
    p.link(l1, l2);
    let c = p.commission(payer, 80_000);
    p.approve(t0(), c, Some(75_050));
    assert_eq!(p.rewards(), vec![(l1, payer, 1, 10, 7_505), (l2, payer, 2, 5, 3_753)]);
}

#[test]
fn h3_no_referrer_or_nothing_paid_gives_nothing_and_each_accrual_is_told() {
    let p = Program::new();
    let alone = p.master();
    p.approve(t0(), p.commission(alone, 100_000), None);
    let (free, referrer) = (p.master(), p.master());
    p.link(free, referrer);
    p.approve(t0(), p.commission(free, 100_000), Some(0));
    // 0,04 ₽ paid: level 1 is 0,00 (half-up of 0,004) — nothing either.
    p.approve(t0(), p.commission(free, 100_000), Some(4));
    assert_eq!(p.rewards(), vec![]);
    assert!(p.told(referrer, "referral_reward_accrued").is_empty());

    let c = p.commission(free, 150_000);
    p.approve(t0(), c, None);
    let order: i64 = p.w.scalar("SELECT order_id FROM commissions WHERE id = ?1", [c]);
    let told = p.told(referrer, "referral_reward_accrued");
    assert_eq!(told, vec![serde_json::json!({"commission_id": c, "order_id": order, "level": 1, "amount_kop": 15_000})]);
}

#[test]
fn a_master_twice_in_the_chain_is_rewarded_once() {
    let p = Program::new();
    // A loop made by hand (sign-up cannot make one): payer → a → payer.
    let (payer, a) = (p.master(), p.master());
    p.link(payer, a);
    p.link(a, payer);
    p.approve(t0(), p.commission(payer, 100_000), None);
    assert_eq!(p.rewards(), vec![(a, payer, 1, 10, 10_000)], "the payer earns nothing from his own commission");
}

#[test]
fn h5_the_code_is_made_on_the_first_visit_and_never_changes() {
    let p = Program::new();
    let (m, other) = (p.master(), p.master());
    assert_eq!(p.w.scalar::<Option<String>, _>("SELECT referral_code FROM masters WHERE id = ?1", [m]), None);
    let first = p.screen(m);
    let code = first.code.clone().unwrap();
    assert!(code.len() == 8 && code.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)), "{code}");
    assert_eq!(first.link.as_deref(), Some(format!("https://fs.example/m/signup?ref={code}").as_str()));
    let later = p.w.write(|tx| referrals::for_master(tx, t0() + Duration::days(40), m, "", chrono_tz::Europe::Moscow)).unwrap();
    assert_eq!(later.code.as_deref(), Some(code.as_str()));
    assert_ne!(p.screen(other).code, Some(code.clone()), "each master has his own");
    let pending = p.w.master(M::serving(p.w.moscow(), &[p.district]).pending());
    let refused = p.w.write(|tx| referrals::for_master(tx, t0(), pending, "", chrono_tz::Europe::Moscow));
    assert!(matches!(refused, Err(Error::MasterPending)), "only an approved master invites");
    assert_eq!(p.w.scalar::<Option<String>, _>("SELECT referral_code FROM masters WHERE id = ?1", [pending]), None);
    let audited: i64 = p.w.scalar("SELECT COUNT(*) FROM order_events WHERE kind = 'referral_code_created' AND json_extract(detail, '$.master_id') = ?1", [m]);
    assert_eq!(audited, 1, "made once, audited once");
}

#[test]
fn the_screen_counts_invitees_levels_months_and_the_latest() {
    let p = Program::new();
    let (me, mine, pending, theirs) = (p.master(), p.master(), p.w.master(M::serving(p.w.moscow(), &[p.district]).pending()), p.master());
    p.link(mine, me);
    p.link(pending, me);
    p.link(theirs, mine);
    // November 30th, 22:00 UTC is already December 1st in Moscow.
    let november = common::utc(2026, 11, 30, 20, 0, 0);
    let december = common::utc(2026, 11, 30, 22, 0, 0);
    p.approve(november, p.commission(mine, 100_000), None);
    p.approve(december, p.commission(theirs, 100_000), None);
    p.approve(december + Duration::days(3), p.commission(mine, 50_050), None);
    let s = p.screen(me);
    assert_eq!((s.invited_count, s.pending_count), (2, 1));
    assert_eq!(s.invitees.iter().map(|i| (i.id, i.verified)).collect::<Vec<_>>(), vec![(pending, false), (mine, true)], "newest first");
    let levels: Vec<_> = s.levels.iter().map(|l| (l.level, l.percent, l.count, l.amount_kop)).collect();
    assert_eq!(levels, vec![(1, 10, 2, 10_000 + 5_005), (2, 5, 1, 5_000)]);
    let months: Vec<_> = s.months.iter().map(|m| (m.label(), m.count, m.amount_kop)).collect();
    assert_eq!(months, vec![("12.2026".to_string(), 2, 5_000 + 5_005), ("11.2026".to_string(), 1, 10_000)]);
    assert_eq!((s.total_count, s.total_kop), (3, 20_005));
    assert_eq!(s.latest.iter().map(|w| (w.level, w.amount_kop)).collect::<Vec<_>>(), vec![(1, 5_005), (2, 5_000), (1, 10_000)], "newest first");
    assert_eq!(s.latest[0].referred_name, p.w.scalar::<String, _>("SELECT full_name FROM masters WHERE id = ?1", [mine]));
    assert_eq!(p.screen(mine).referrer.map(|r| r.id), Some(me));
}

#[test]
fn staff_read_a_masters_referral_part_within_their_cities_without_making_a_code() {
    let p = Program::new();
    let m = p.master();
    let spb = p.w.city("Санкт-Петербург");
    let view = |staff: &fieldservice::staff::Staff| p.w.read(|c| Ok::<_, rusqlite::Error>(referrals::for_staff(c, staff, m, "", chrono_tz::Europe::Moscow)));
    let logist = p.w.staff(StaffRole::Logist, &[p.w.moscow()]);
    assert_eq!(view(&logist).unwrap().code, None, "staff reading makes no code");
    assert!(view(&p.w.admin).is_ok());
    assert!(matches!(view(&p.w.staff(StaffRole::CityAdmin, &[spb])), Err(Error::NotFound { what: "master" })));
    assert!(matches!(view(&p.w.staff(StaffRole::Logist, &[spb])), Err(Error::NotFound { .. })));
    assert_eq!(p.w.scalar::<Option<String>, _>("SELECT referral_code FROM masters WHERE id = ?1", [m]), None);
}

#[test]
fn h4_sign_up_refuses_a_malformed_or_unknown_code_in_words_people_understand() {
    let p = Program::new();
    let referrer = p.master();
    let code = p.screen(referrer).code.unwrap();
    let invite = p.w.write(|tx| signup::create_invite(tx, t0(), &p.w.admin, p.w.moscow(), 72, None)).unwrap();
    let form = |referral: &str| Registration {
        invite: Some(invite.code.clone()),
        last_name: "Петров".into(),
        first_name: "Иван".into(),
        phone: "+79161234567".into(),
        password: "секретный пароль".into(),
        district_ids: vec![p.district],
        skills: vec![fieldservice::domain::Category::Plumbing],
        payout_method: Some(fieldservice::domain::PayoutMethod::Card),
        payout_data: "1234 5678 9012 3456".into(),
        referral_code: Some(referral.into()),
        pdn_consent: true,
        ..Registration::default()
    };
    let refused = |referral: &str| {
        let error = signup::prepare(&form(referral)).and_then(|f| p.w.write(|tx| signup::register_prepared(tx, t0(), &f))).unwrap_err();
        assert!(matches!(error, Error::Invalid { field: "referral_code", .. }), "{error:?}");
        (error.message(Lang::Ru), error.message(Lang::En))
    };
    let before = p.w.dump();
    assert_eq!(refused("ABC"), ("Реферальный код: неверный формат кода — нужно 8 латинских букв или цифр".into(), "Referral code: wrong code format — 8 Latin letters or digits are needed".into()));
    assert_eq!(refused("ZZZZ9999"), ("Реферальный код: код не найден — проверьте его у пригласившего мастера".into(), "Referral code: code not found — check it with the master who invited you".into()));
    assert_eq!(p.w.dump(), before, "refusals change nothing");

    let prepared = signup::prepare(&form(&code.to_lowercase())).unwrap();
    let new = p.w.write(|tx| signup::register_prepared(tx, t0(), &prepared)).unwrap().id;
    assert_eq!(p.w.scalar::<Option<i64>, _>("SELECT referred_by_master_id FROM masters WHERE id = ?1", [new]), Some(referrer));
    assert_eq!(p.w.scalar::<i64, _>("SELECT COUNT(*) FROM referrals WHERE master_id = ?1 AND referrer_id = ?2", [new, referrer]), 1);
    assert_eq!(p.told(referrer, "referral_registered").len(), 1);
}
