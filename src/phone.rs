//! The one phone normaliser for clients and masters (decisions §B.24).

/// `+7XXXXXXXXXX` from 10 digits, or 11 digits starting with 7 or 8; `None` for anything else.
pub fn normalize(raw: &str) -> Option<String> {
    if raw.chars().any(|c| !(c.is_ascii_digit() || " +-()".contains(c))) {
        return None;
    }
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    match digits.len() {
        10 => Some(format!("+7{digits}")),
        11 if digits.starts_with('7') || digits.starts_with('8') => Some(format!("+7{}", &digits[1..])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn russian_numbers_in_any_common_spelling() {
        assert_eq!(normalize("8 (999) 123-45-67").as_deref(), Some("+79991234567"));
        assert_eq!(normalize("79991234567").as_deref(), Some("+79991234567"));
        assert_eq!(normalize("+7 999 123 45 67").as_deref(), Some("+79991234567"));
        assert_eq!(normalize("9991234567").as_deref(), Some("+79991234567"));
    }

    #[test]
    fn foreign_short_and_garbled_numbers_are_refused() {
        for raw in ["+15551234567", "12345", "", "8999123456a", "69991234567"] {
            assert_eq!(normalize(raw), None, "{raw}");
        }
    }
}
