//! Money as people type it and as the product prints it (decisions D-22): one parser for every amount a
//! person enters, stored as integer kopecks — no float anywhere on the path.

use crate::error::{Result, invalid};

/// The largest amount accepted: 9 999 999.99 ₽.
pub const MAX_KOP: i64 = 999_999_999;

/// Characters accepted between groups of thousands: space, no-break space, thin spaces.
const SEPARATORS: [char; 4] = [' ', '\u{a0}', '\u{2009}', '\u{202f}'];

/// Currency marks accepted after the number (longest first, so "руб." is not read as "руб" + ".").
const SUFFIXES: [&str; 4] = ["₽", "руб.", "руб", "р."];

/// Parses an amount typed into `field`: `4500`, `4 500`, `4 500,50`, `4500.50`, `4 500 ₽`. Thousands
/// separators must group by three; the kopecks are 1–2 digits after `,` or `.`; 0 … 9 999 999.99.
/// Anything else is refused naming the field.
pub fn parse_amount(field: &'static str, text: &str) -> Result<i64> {
    let refuse = || invalid(field, "amount");
    let mut rest = text.trim_matches(|c: char| c.is_whitespace());
    for suffix in SUFFIXES {
        if let Some(number) = rest.strip_suffix(suffix) {
            rest = number.trim_end_matches(|c: char| c.is_whitespace());
            break;
        }
    }
    let (whole, kopecks) = match rest.find([',', '.']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let groups: Vec<&str> = whole.split(SEPARATORS).collect();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let grouped = groups.len() == 1 || (groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
    if !groups.iter().all(|g| digits(g)) || !grouped {
        return Err(refuse());
    }
    let whole: String = groups.concat();
    let kop = match kopecks {
        None => 0,
        Some(k) if (1..=2).contains(&k.len()) && digits(k) => format!("{k:0<2}").parse::<i64>().map_err(|_| refuse())?,
        Some(_) => return Err(refuse()),
    };
    // More than 7 integer digits (after leading zeros) is out of range; parsing cannot overflow below that.
    let significant = whole.trim_start_matches('0');
    if significant.len() > 7 {
        return Err(refuse());
    }
    let rubles: i64 = if significant.is_empty() { 0 } else { significant.parse().map_err(|_| refuse())? };
    Ok(rubles * 100 + kop)
}

/// Kopecks as the product prints roubles: "3 500" or "4 999,99", groups split by a no-break space.
pub fn format_rubles(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let kopecks = kopecks.abs();
    let whole = (kopecks / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    match kopecks % 100 {
        0 => format!("{sign}{grouped}"),
        k => format!("{sign}{grouped},{k:02}"),
    }
}

/// `amount × percent / 100`, rounded half-up to a kopeck (amounts are never negative).
pub fn percent_of(amount_kop: i64, percent: i64) -> i64 {
    (amount_kop * percent + 50) / 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(text: &str) -> i64 {
        parse_amount("amount", text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn the_forms_people_type_and_the_product_prints() {
        assert_eq!(ok("4500"), 450_000);
        assert_eq!(ok("4 500"), 450_000);
        assert_eq!(ok("4\u{a0}500,50"), 450_050);
        assert_eq!(ok("4\u{2009}500"), 450_000);
        assert_eq!(ok("4\u{202f}500.5"), 450_050);
        assert_eq!(ok("4500.50"), 450_050);
        assert_eq!(ok("4 500 ₽"), 450_000);
        assert_eq!(ok("4500₽"), 450_000);
        assert_eq!(ok("4 500 руб"), 450_000);
        assert_eq!(ok("4 500 руб."), 450_000);
        assert_eq!(ok("4500 р."), 450_000);
        assert_eq!(ok("  0 "), 0);
        assert_eq!(ok("9 999 999,99"), MAX_KOP);
        assert_eq!(ok("3 250,50"), 325_050);
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for bad in ["", "-5", "abc", "12,345", "4 50", "45 000 0", "4,500.00", "10 000 000", "1e3", "4 500 $", "4500,", ",50", "+5", "4  500", "₽"] {
            let err = parse_amount("paid_amount", bad).expect_err(bad);
            assert_eq!(err.to_string(), "invalid paid_amount: amount", "{bad:?}");
        }
    }

    #[test]
    fn percentages_round_half_up_to_a_kopeck() {
        assert_eq!(percent_of(300_000, 50), 150_000);
        assert_eq!(percent_of(400_000, 40), 160_000);
        assert_eq!(percent_of(1_005, 10), 101);
        assert_eq!(percent_of(1_004, 10), 100);
        assert_eq!(percent_of(1, 50), 1);
    }

    proptest! {
        #[test]
        fn what_the_product_prints_reads_back(kop in 0..=MAX_KOP) {
            prop_assert_eq!(parse_amount("amount", &format_rubles(kop)).unwrap(), kop);
            prop_assert_eq!(parse_amount("amount", &format!("{} ₽", format_rubles(kop))).unwrap(), kop);
            prop_assert_eq!(parse_amount("amount", &format!("{}.{:02}", kop / 100, kop % 100)).unwrap(), kop);
            let thin = format_rubles(kop).replace('\u{a0}', "\u{2009}");
            prop_assert_eq!(parse_amount("amount", &thin).unwrap(), kop);
        }

        #[test]
        fn three_decimals_negatives_and_too_much_are_refused(rub in 0i64..10_000_000, k in 0i64..1000) {
            let three_decimals = format!("{rub},{k:03}");
            let negative = format!("-{rub}");
            let too_much = (rub + 10_000_000).to_string();
            prop_assert!(parse_amount("amount", &three_decimals).is_err());
            prop_assert!(parse_amount("amount", &negative).is_err());
            prop_assert!(parse_amount("amount", &too_much).is_err());
        }

        #[test]
        fn half_up_never_drifts_more_than_half_a_kopeck(amount in 0..=MAX_KOP, percent in 0i64..=100) {
            let exact = amount * percent; // in hundredths of a kopeck
            let rounded = percent_of(amount, percent) * 100;
            prop_assert!(rounded - exact <= 50 && exact - rounded < 50);
        }
    }
}
