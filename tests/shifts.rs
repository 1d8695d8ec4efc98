//! A master's shift and breaks (product.md §8 L1–L4, distribution.md §11) and what they mean for offers.

mod common;

use common::*;
use fieldservice::domain::ShiftStatus;
use fieldservice::masters;

#[test]
fn l1_expired_breaks_put_the_master_off_shift() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let long_gone = w.master(M::serving(msk, &[d]).on_break_until(t0() - mins(10)));
    let resting = w.master(M::serving(msk, &[d]).on_break_until(t0() + mins(20)));
    let working = w.master(M::serving(msk, &[d]));
    let just_now = w.master(M::serving(msk, &[d]).on_break_until(t0()));

    let mut changed = w.write(|tx| Ok(masters::expire_breaks(tx, t0())?)).unwrap();
    changed.sort();
    assert_eq!(changed, vec![long_gone, just_now], "a break ending exactly now is over");
    for m in [long_gone, just_now] {
        let row = w.master_row(m);
        assert_eq!((row.shift, row.is_on_shift, row.break_until), (ShiftStatus::Off, false, None));
    }
    let row = w.master_row(resting);
    assert_eq!((row.shift, row.break_until), (ShiftStatus::Break, Some(t0() + mins(20))));
    assert_eq!(w.master_row(working).shift, ShiftStatus::On);
    assert!(w.write(|tx| Ok(masters::expire_breaks(tx, t0())?)).unwrap().is_empty(), "a second run changes nothing");
    w.assert_sound();
}

#[test]
fn l2_one_reminder_per_break_end() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let soon = w.master(M::serving(msk, &[d]));
    let later = w.master(M::serving(msk, &[d]));
    w.write(|tx| masters::start_break(tx, t0() - mins(6), soon, 15)).unwrap(); // ends in 9 min
    w.write(|tx| masters::start_break(tx, t0() - mins(30), later, 60)).unwrap(); // ends in 30 min
    let remind = |now| w.write(|tx| Ok(masters::remind_breaks(tx, now)?)).unwrap();

    assert_eq!(remind(t0()), vec![soon]);
    let reminders = w.notifications(soon, "break_reminder");
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0]["minutes_left"], 9);
    assert!(w.notifications(later, "break_reminder").is_empty());
    assert!(remind(t0() + mins(1)).is_empty(), "no duplicate for the same break end");
    assert_eq!(w.notifications(soon, "break_reminder").len(), 1);

    // Extended to +60 min: nothing due; later shortened to 15 min from then: reminded again.
    w.write(|tx| masters::extend_break(tx, t0() + mins(2), soon, 60)).unwrap();
    assert!(remind(t0() + mins(2)).is_empty());
    w.write(|tx| masters::extend_break(tx, t0() + mins(10), soon, 15)).unwrap(); // ends at +25 min
    assert!(remind(t0() + mins(14)).is_empty(), "11 minutes left: not yet");
    assert_eq!(remind(t0() + mins(16)), vec![soon]);
    let reminders = w.notifications(soon, "break_reminder");
    assert_eq!(reminders.len(), 2);
    assert_eq!(reminders[1]["minutes_left"], 9);
}

#[test]
fn l3_shift_on_needs_an_unblocked_approved_account() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let blocked = w.master(M::serving(msk, &[d]).off_shift().blocked("долг"));
    let pending = w.master(M::serving(msk, &[d]).pending());
    let approved = w.master(M::serving(msk, &[d]).off_shift());
    let on = |m| w.write(|tx| masters::shift_on(tx, t0(), m));

    let err = assert_code(on(blocked), "master_blocked");
    assert!(matches!(err, fieldservice::error::Error::MasterBlocked { ref reason } if reason == "долг"));
    assert_code(on(pending), "master_pending");
    assert_eq!(w.master_row(blocked).shift, ShiftStatus::Off);
    assert_eq!(w.master_row(pending).shift, ShiftStatus::Off);

    let state = on(approved).unwrap();
    assert_eq!((state.status, state.break_until), (ShiftStatus::On, None));
    let row = w.master_row(approved);
    assert_eq!((row.shift, row.is_on_shift), (ShiftStatus::On, true));
}

#[test]
fn l4_breaks_start_end_and_extend_from_now() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let m = w.master(M::serving(msk, &[d]).off_shift());

    assert_code(w.write(|tx| masters::start_break(tx, t0(), m, 60)), "shift_not_active");
    assert_code(w.write(|tx| masters::end_break(tx, t0(), m)), "not_on_break");
    w.write(|tx| masters::shift_on(tx, t0(), m)).unwrap();

    let state = w.write(|tx| masters::start_break(tx, t0(), m, 60)).unwrap();
    assert_eq!((state.status, state.break_until), (ShiftStatus::Break, Some(t0() + mins(60))));
    let row = w.master_row(m);
    assert_eq!((row.shift, row.is_on_shift, row.break_until), (ShiftStatus::Break, false, Some(t0() + mins(60))));
    assert_code(w.write(|tx| masters::start_break(tx, t0() + mins(1), m, 15)), "shift_not_active");

    let state = w.write(|tx| masters::end_break(tx, t0() + mins(5), m)).unwrap();
    assert_eq!((state.status, state.break_until), (ShiftStatus::On, None));
    assert_code(w.write(|tx| masters::extend_break(tx, t0() + mins(5), m, 15)), "not_on_break");

    w.write(|tx| masters::start_break(tx, t0() + mins(10), m, 120)).unwrap();
    let state = w.write(|tx| masters::extend_break(tx, t0() + mins(20), m, 15)).unwrap();
    assert_eq!(state.break_until, Some(t0() + mins(35)), "counted from now, not from the old end");
    assert_eq!(w.master_row(m).break_until, Some(t0() + mins(35)));

    assert_code(w.write(|tx| masters::start_break(tx, t0() + mins(21), m, 7)), "invalid");
    assert_code(w.write(|tx| masters::extend_break(tx, t0() + mins(21), m, 7)), "invalid");
    w.write(|tx| masters::shift_off(tx, t0() + mins(22), m)).unwrap();
    let row = w.master_row(m);
    assert_eq!((row.shift, row.is_on_shift, row.break_until), (ShiftStatus::Off, false, None));
    w.assert_sound();
}

#[test]
fn a_master_on_break_gets_no_offer_until_he_is_back() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let m = w.master(M::serving(msk, &[d]));
    w.write(|tx| masters::start_break(tx, t0() - mins(1), m, 15)).unwrap();
    let o = w.order(t0(), d);

    assert!(w.tick(t0()).offers_sent.is_empty());
    assert!(w.tick(t0() + secs(30)).offers_sent.is_empty());
    w.write(|tx| masters::end_break(tx, t0() + secs(40), m)).unwrap();
    let report = w.tick(t0() + secs(45));
    assert_eq!(sent_to(&report, o), Some(m));
}

#[test]
fn a_master_off_shift_gets_no_offer_and_going_off_keeps_his_live_offer() {
    let w = World::new();
    let msk = w.moscow();
    let d = w.district(msk, "Центральный");
    let m = w.master(M::serving(msk, &[d]));
    let first = w.order(t0(), d);
    w.tick(t0());
    let offer = w.open_offer(first);
    w.write(|tx| masters::shift_off(tx, t0() + secs(5), m)).unwrap();
    let second = w.order(t0() + secs(10), d);
    assert!(w.tick(t0() + secs(10)).offers_sent.is_empty(), "off shift: no new offers");
    assert!(w.offers(second).is_empty());
    // Going off shift does not take back an offer he already holds, and accept does not re-check the shift.
    w.accept(t0() + secs(20), m, offer.id).unwrap();
    assert_eq!(w.assigned(first), Some(m));
}
