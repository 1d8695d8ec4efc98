//! Fuzzy string similarity for the street search (product.md §1.2): a compact take on RapidFuzz's `WRatio`
//! — whole-string, best-window and token-order-insensitive Indel ratios, 0..100 — plus the canonical form
//! that tells near-duplicate street names apart ("Baker St." = "Baker Street", "Садовая" ≠ "Большая Садовая").

/// Longest query compared, in characters; keeps the bit-parallel LCS to one machine word per comparison.
pub const MAX_QUERY: usize = 64;

/// Street-type abbreviations and their full words, matched per token after lower-casing.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("st", "street"),
    ("str", "street"),
    ("rd", "road"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("blvd", "boulevard"),
    ("ln", "lane"),
    ("sq", "square"),
    ("ул", "улица"),
    ("пр", "проспект"),
    ("пр-т", "проспект"),
    ("просп", "проспект"),
    ("пер", "переулок"),
    ("бул", "бульвар"),
    ("б-р", "бульвар"),
    ("ш", "шоссе"),
    ("пл", "площадь"),
    ("наб", "набережная"),
    ("пр-д", "проезд"),
    ("туп", "тупик"),
];

/// Lower-case, `ё` → `е`, every run of non-alphanumerics → one space, trimmed (RapidFuzz's default processor).
pub fn process(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if c == 'ё' { 'е' } else { c };
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim_end().to_string()
}

/// [`process`] with street-type abbreviations spelled out ("пр-т Мира" → "проспект мира").
pub fn expand(text: &str) -> String {
    let lowered = text.to_lowercase().replace('ё', "е");
    let words: Vec<String> = lowered
        .split(|c: char| c.is_whitespace() || c == '.' || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| ABBREVIATIONS.iter().find(|(short, _)| *short == w).map_or_else(|| w.to_string(), |(_, full)| full.to_string()))
        .collect();
    process(&words.join(" "))
}

/// The form compared to spot near-duplicates: expanded, letters and digits only.
pub fn canonical(text: &str) -> Vec<char> {
    expand(text).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// True when two street names are near-duplicates (similarity ≥ 93 between canonical forms).
pub fn near_duplicates(a: &str, b: &str) -> bool {
    ratio(&canonical(a), &canonical(b)) >= 93.0
}

/// For each `text` character, the bit set of the positions where it occurs in `pattern` (≤ 64 characters).
fn match_bits(pattern: &[char], text: &[char]) -> Vec<u64> {
    text.iter().map(|t| pattern.iter().enumerate().filter(|(_, p)| *p == t).fold(0, |bits, (i, _)| bits | 1 << i)).collect()
}

/// Hyyrö's bit-parallel LCS over precomputed [`match_bits`]: one word operation per text character.
fn lcs_bits(bits: &[u64], pattern_len: usize) -> usize {
    let mut v = u64::MAX;
    for &matches in bits {
        let u = v & matches;
        v = v.wrapping_add(u) | v.wrapping_sub(u);
    }
    let used = if pattern_len >= 64 { u64::MAX } else { (1u64 << pattern_len) - 1 };
    (!v & used).count_ones() as usize
}

/// The length of the longest common subsequence.
fn lcs(a: &[char], b: &[char]) -> usize {
    let (pattern, text) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if pattern.len() <= 64 { lcs_bits(&match_bits(pattern, text), pattern.len()) } else { lcs_table(pattern, text) }
}

/// The textbook LCS table, one row at a time; for patterns longer than a machine word.
fn lcs_table(pattern: &[char], text: &[char]) -> usize {
    let mut row = vec![0usize; pattern.len() + 1];
    for t in text {
        let mut diagonal = 0;
        for (j, p) in pattern.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if p == t { diagonal + 1 } else { above.max(row[j]) };
            diagonal = above;
        }
    }
    row[pattern.len()]
}

/// Normalised Indel similarity, 0..100.
pub fn ratio(a: &[char], b: &[char]) -> f64 {
    let total = a.len() + b.len();
    if total == 0 { 0.0 } else { 200.0 * lcs(a, b) as f64 / total as f64 }
}

/// The best [`ratio`] of the shorter string against any same-length window of the longer one (windows may
/// hang over either end).
fn partial_ratio(a: &[char], b: &[char]) -> f64 {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let n = short.len();
    if n == 0 {
        return 0.0;
    }
    let edges = (1..n).map(|k| (0, k)).chain((1..n).map(|k| (long.len() - k, k)));
    let windows = edges.chain((0..=long.len() - n).map(|start| (start, n)));
    let similarity = |common: usize, k: usize| 200.0 * common as f64 / (n + k) as f64;
    if n > 64 {
        return windows.map(|(start, k)| similarity(lcs_table(short, &long[start..start + k]), k)).fold(0.0, f64::max);
    }
    // The needle is the same for every window: its match bits are computed once.
    let bits = match_bits(short, long);
    let mut best: f64 = 0.0;
    for (start, k) in windows {
        best = best.max(similarity(lcs_bits(&bits[start..start + k], n), k));
        if best >= 100.0 {
            break;
        }
    }
    best
}

fn tokens(text: &str) -> Vec<&str> {
    let mut words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    words.sort_unstable();
    words.dedup();
    words
}

fn chars(words: &[&str]) -> Vec<char> {
    words.join(" ").chars().collect()
}

/// Token-order-insensitive similarity: the best of sorted tokens and the shared-token comparisons.
fn token_ratio(a: &str, b: &str) -> f64 {
    let (ta, tb) = (tokens(a), tokens(b));
    let sorted = ratio(&chars(&ta), &chars(&tb));
    let common: Vec<&str> = ta.iter().filter(|w| tb.contains(w)).copied().collect();
    let only_a: Vec<&str> = ta.iter().filter(|w| !common.contains(w)).copied().collect();
    let only_b: Vec<&str> = tb.iter().filter(|w| !common.contains(w)).copied().collect();
    if common.is_empty() {
        return sorted;
    }
    if only_a.is_empty() || only_b.is_empty() {
        return 100.0;
    }
    let (sect, with_a, with_b) = (chars(&common), chars(&[&common[..], &only_a[..]].concat()), chars(&[&common[..], &only_b[..]].concat()));
    sorted.max(ratio(&sect, &with_a)).max(ratio(&sect, &with_b)).max(ratio(&with_a, &with_b))
}

/// Weighted similarity of two processed strings, 0..100, after RapidFuzz's `WRatio`: similar lengths
/// compare whole; a much longer one is searched for the best window, scaled down a little.
pub fn weighted_ratio(a: &str, b: &str) -> f64 {
    let (ca, cb): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if ca.is_empty() || cb.is_empty() {
        return 0.0;
    }
    let whole = ratio(&ca, &cb);
    let length_ratio = ca.len().max(cb.len()) as f64 / ca.len().min(cb.len()) as f64;
    if length_ratio < 1.5 {
        return whole.max(token_ratio(a, b) * 0.95);
    }
    let scale = if length_ratio < 8.0 { 0.9 } else { 0.6 };
    let partial_tokens = partial_ratio(&chars(&tokens(a)), &chars(&tokens(b)));
    whole.max(partial_ratio(&ca, &cb) * scale).max(partial_tokens * 0.95 * scale)
}

/// A search text prepared once for scoring many names.
#[derive(Debug, Clone)]
pub struct Query {
    plain: String,
    expanded: String,
}

impl Query {
    /// Prepares `text`, cut to [`MAX_QUERY`] characters.
    pub fn new(text: &str) -> Self {
        let text: String = text.chars().take(MAX_QUERY).collect();
        Self { plain: process(&text), expanded: expand(&text) }
    }

    /// True when nothing searchable was typed.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty()
    }

    /// How well a street `name` matches, 0..100: the better of the plain and the abbreviation-expanded
    /// comparison.
    pub fn score(&self, name: &str) -> f64 {
        let (plain, expanded) = (process(name), expand(name));
        let score = weighted_ratio(&self.plain, &plain);
        if self.expanded == self.plain && expanded == plain { score } else { score.max(weighted_ratio(&self.expanded, &expanded)) }
    }
}

#[cfg(test)]
fn score(query: &str, name: &str) -> f64 {
    Query::new(query).score(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn bit_parallel_lcs_agrees_with_the_table() {
        let long: String = "ab".repeat(40);
        assert_eq!(lcs(&c("kitten"), &c("sitting")), 4);
        assert_eq!(lcs(&c(&long), &c(&"ba".repeat(40))), 79);
        assert_eq!(lcs(&c("abc"), &c("")), 0);
    }

    proptest::proptest! {
        #[test]
        fn bit_parallel_lcs_matches_the_table(a in "[abcё ]{0,64}", b in "[abcё ]{0,80}") {
            let (a, b) = (c(&a), c(&b));
            let (p, t) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
            proptest::prop_assert_eq!(lcs(&a, &b), lcs_table(p, t));
        }

        #[test]
        fn partial_ratio_is_the_best_window(a in "[abc ]{1,10}", b in "[abc ]{1,30}") {
            let (a, b) = (c(&a), c(&b));
            let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
            let n = short.len();
            let mut naive: f64 = 0.0;
            for k in 1..n {
                naive = naive.max(ratio(short, &long[..k])).max(ratio(short, &long[long.len() - k..]));
            }
            for window in long.windows(n) {
                naive = naive.max(ratio(short, window));
            }
            proptest::prop_assert_eq!(partial_ratio(&a, &b), naive);
        }
    }

    #[test]
    fn a_prefix_finds_the_street() {
        assert!(score("Baker", "Baker Street") >= 85.0);
        assert!(score("ленина", "улица Ленина") >= 85.0);
        assert!(score("Ленена", "улица Ленина") >= 60.0, "a typo still matches");
        assert!(score("Baker", "Пушкинская") < 60.0);
    }

    #[test]
    fn abbreviations_are_the_same_street() {
        assert!(near_duplicates("Baker Street", "Baker St."));
        assert!(near_duplicates("пр-т Мира", "проспект Мира"));
        assert!(near_duplicates("ул. Ленина", "улица Ленина"));
        assert!(!near_duplicates("Садовая", "Большая Садовая"));
        assert!(!near_duplicates("улица Ленина", "проспект Ленина"));
        assert_eq!(score("Baker St", "Baker Street"), 100.0);
    }

    #[test]
    fn word_order_does_not_matter() {
        assert!(score("Ленина улица", "улица Ленина") >= 95.0);
    }

    #[test]
    fn long_and_odd_input_does_not_panic() {
        let long = "я".repeat(500);
        assert!(score(&long, &long) > 0.0);
        assert_eq!(score("", "Baker"), 0.0);
        assert_eq!(score("...", "Baker"), 0.0);
        let _ = score("ё-ё", &"ёж ".repeat(70));
    }
}
