//! Numbers written as digit groups: payment cards and US social security numbers.
//!
//! Cards (ISO/IEC 7812): 13–19 digits, either unseparated or in groups split by one space or one
//! dash used consistently, the first group of 4 digits and the others of 2–6 (4-4-4-4, 4-6-5,
//! 4-4-4-4-3 …); the first digit is a major industry identifier for cards (2–6) and the Luhn
//! check digit must verify. SSNs: `AAA-GG-SSSS` (dashes or spaces) with the SSA validity rules:
//! area not 000, 666 or 9xx; group not 00; serial not 0000. Unseparated 9-digit SSNs are not
//! recognized (indistinguishable from other numbers without context).

use super::scan::{number_start_ok, right_boundary_ok, tail_starts};

const MIN_CARD_DIGITS: usize = 13;
const MAX_CARD_DIGITS: usize = 19;
/// Longest card text: 19 digits and 18 separators.
const MAX_CARD_TEXT: usize = 37;
/// "AAA-GG-SSSS".
const SSN_TEXT: usize = 11;
const SSN_GROUPS: [usize; 3] = [3, 2, 4];

/// Digit groups parsed from a start position: `groups[i]` is a byte range, `seps[i]` the byte
/// between groups `i` and `i + 1`.
#[derive(Debug, Default)]
struct Groups {
    groups: Vec<(usize, usize)>,
    seps: Vec<u8>,
    /// The text ends right after a separator (the next group may still come).
    trailing_sep: Option<u8>,
}

impl Groups {
    fn digits(&self, k: usize) -> usize {
        self.groups[..k].iter().map(|(s, e)| e - s).sum()
    }

    fn len(&self, i: usize) -> usize {
        self.groups[i].1 - self.groups[i].0
    }

    /// Separators of the first `k` groups (and the trailing one) are all the same.
    fn consistent(&self, k: usize) -> bool {
        let mut seps = self.seps[..k.saturating_sub(1)].iter().chain(self.trailing_sep.iter());
        match seps.next() {
            None => true,
            Some(first) => seps.all(|s| s == first),
        }
    }
}

/// Parses groups of ASCII digits separated by exactly one of `seps`, from `start`, reading at
/// most `max_bytes`.
fn parse_groups(text: &str, start: usize, seps: &[u8], max_bytes: usize) -> Groups {
    let bytes = text.as_bytes();
    let limit = (start + max_bytes).min(bytes.len());
    let mut parsed = Groups::default();
    let mut i = start;
    loop {
        let group_start = i;
        while i < limit && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == group_start {
            break;
        }
        parsed.groups.push((group_start, i));
        if i < limit && seps.contains(&bytes[i]) {
            if i + 1 == bytes.len() {
                parsed.trailing_sep = Some(bytes[i]);
                break;
            }
            if i + 1 < limit && bytes[i + 1].is_ascii_digit() {
                parsed.seps.push(bytes[i]);
                i += 1;
                continue;
            }
        }
        break;
    }
    parsed
}

fn digit_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes().enumerate().filter(move |&(i, b)| b.is_ascii_digit() && number_start_ok(text, i)).map(|(i, _)| i)
}

fn luhn_ok(text: &str, start: usize, end: usize) -> bool {
    let digits = text.as_bytes()[start..end].iter().filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0'));
    // From the check digit leftwards, every second digit is doubled (and 9 subtracted above 9).
    let sum: u32 = digits.rev().enumerate().map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }).sum();
    sum.is_multiple_of(10)
}

fn card_layout_ok(g: &Groups, k: usize) -> bool {
    if k == 1 {
        return true;
    }
    g.len(0) == 4 && (1..k).all(|i| (2..=6).contains(&g.len(i))) && g.seps[..k - 1].windows(2).all(|w| w[0] == w[1])
}

fn card_prefix_ok(text: &str, start: usize) -> bool {
    matches!(text.as_bytes()[start], b'2'..=b'6')
}

pub(super) fn find_cards(text: &str, out: &mut Vec<(usize, usize)>) {
    let mut next_free = 0;
    for start in digit_starts(text) {
        if start < next_free || !card_prefix_ok(text, start) {
            continue;
        }
        let g = parse_groups(text, start, b" -", MAX_CARD_TEXT + 8);
        let found = (1..=g.groups.len()).rev().find(|&k| {
            let end = g.groups[k - 1].1;
            (MIN_CARD_DIGITS..=MAX_CARD_DIGITS).contains(&g.digits(k))
                && card_layout_ok(&g, k)
                && right_boundary_ok(text, end)
                && luhn_ok(text, start, end)
        });
        if let Some(k) = found {
            let end = g.groups[k - 1].1;
            out.push((start, end));
            next_free = end;
        }
    }
}

/// The earliest tail that could still grow into (or out of) a card number.
pub(super) fn card_hold_from(text: &str) -> usize {
    for start in tail_starts(text, MAX_CARD_TEXT + 1) {
        if !text.as_bytes()[start].is_ascii_digit() || !number_start_ok(text, start) || !card_prefix_ok(text, start) {
            continue;
        }
        let g = parse_groups(text, start, b" -", MAX_CARD_TEXT + 2);
        let reaches_end = g.trailing_sep.is_some() || g.groups.last().is_some_and(|&(_, e)| e == text.len());
        let n = g.groups.len();
        if !reaches_end || g.digits(n) > MAX_CARD_DIGITS || !g.consistent(n) {
            continue;
        }
        let separated = n > 1 || g.trailing_sep.is_some();
        let in_progress = g.trailing_sep.is_none();
        let layout_ok = !separated
            || (g.len(0) == 4 && (1..n).all(|i| g.len(i) <= 6 && (g.len(i) >= 2 || (in_progress && i == n - 1))));
        if layout_ok {
            return start;
        }
    }
    text.len()
}

fn ssn_valid(text: &str, g: &Groups) -> bool {
    let digits = |i: usize| &text[g.groups[i].0..g.groups[i].1];
    let area = digits(0);
    area != "000" && area != "666" && !area.starts_with('9') && digits(1) != "00" && digits(2) != "0000"
}

pub(super) fn find_ssns(text: &str, out: &mut Vec<(usize, usize)>) {
    let mut next_free = 0;
    for start in digit_starts(text) {
        if start < next_free {
            continue;
        }
        let g = parse_groups(text, start, b" -", SSN_TEXT + 2);
        if g.groups.len() < 3 || (0..3).any(|i| g.len(i) != SSN_GROUPS[i]) || g.seps[0] != g.seps[1] {
            continue;
        }
        let end = g.groups[2].1;
        let followed_by_group = g.seps.get(2).is_some_and(|&s| s != b' ');
        if !followed_by_group && right_boundary_ok(text, end) && ssn_valid(text, &g) {
            out.push((start, end));
            next_free = end;
        }
    }
}

/// The earliest tail that could still become an SSN, or a complete one that a following `-`
/// and digit would invalidate.
pub(super) fn ssn_hold_from(text: &str) -> usize {
    for start in tail_starts(text, SSN_TEXT + 1) {
        if !text.as_bytes()[start].is_ascii_digit() || !number_start_ok(text, start) {
            continue;
        }
        let g = parse_groups(text, start, b" -", SSN_TEXT + 2);
        let reaches_end = g.trailing_sep.is_some() || g.groups.last().is_some_and(|&(_, e)| e == text.len());
        let n = g.groups.len();
        if !reaches_end || n > 3 || !g.consistent(n) {
            continue;
        }
        let complete_groups = if g.trailing_sep.is_some() { n } else { n - 1 };
        let shape_ok = (0..n).all(|i| if i < complete_groups { g.len(i) == SSN_GROUPS[i] } else { g.len(i) <= SSN_GROUPS[i] });
        let pending_after_full = n == 3 && g.trailing_sep == Some(b' ');
        if shape_ok && !pending_after_full {
            return start;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cards(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find_cards(text, &mut out);
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    fn ssns(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find_ssns(text, &mut out);
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn luhn_valid_cards_in_common_layouts() {
        assert_eq!(cards("visa 4111 1111 1111 1111, mc 5500-0000-0000-0004"), vec!["4111 1111 1111 1111", "5500-0000-0000-0004"]);
        assert_eq!(cards("amex 3782 822463 10005."), vec!["3782 822463 10005"]);
        assert_eq!(cards("4012888888881881"), vec!["4012888888881881"]);
        assert_eq!(cards("order 12, 4111 1111 1111 1111"), vec!["4111 1111 1111 1111"]);
        assert!(cards("order 12 4111 1111 1111 1111").is_empty(), "one number, not a card");
    }

    #[test]
    fn rejects_luhn_failures_and_odd_layouts() {
        assert!(cards("4111 1111 1111 1112").is_empty());
        assert!(cards("4111 1111-1111 1111").is_empty());
        assert!(cards("411 11111 1111 1111").is_empty());
        assert!(cards("1111111111111117").is_empty(), "major industry identifier 1 is not a card");
        assert!(cards("a4111111111111111").is_empty());
    }

    #[test]
    fn ssn_rules() {
        assert_eq!(ssns("ssn 123-45-6789."), vec!["123-45-6789"]);
        assert_eq!(ssns("ssn 123 45 6789"), vec!["123 45 6789"]);
        for bad in ["000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000", "123-45-6789-1", "123-45 6789"] {
            assert!(ssns(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn holds_numbers_in_progress() {
        assert_eq!(card_hold_from("pay 4111 1111"), 4);
        assert_eq!(card_hold_from("pay 4111 1111 "), 4);
        assert_eq!(card_hold_from("year 1999 "), 10);
        assert_eq!(card_hold_from("only 411 "), 9);
        assert_eq!(ssn_hold_from("ssn 123-4"), 4);
        assert_eq!(ssn_hold_from("ssn 123-45-6789"), 4);
        assert_eq!(ssn_hold_from("ssn 123-45-6789 "), 16);
        assert_eq!(ssn_hold_from("ssn 1234"), 8);
    }
}
