//! Phone numbers (ITU-T E.123 / E.164 written forms): 7–15 digits in groups separated by one
//! space, dash or dot, a group possibly in parentheses. To tell phones from years, quantities
//! and dates, a match needs one of:
//! - a `+` country-code prefix: `+44 20 7946 0958`, `+1 (555) 123-4567`, `+442079460958`;
//! - a parenthesized first group of 2–5 digits: `(555) 123-4567`, `(030) 1234 5678`;
//! - the North American 3-3-4 layout, optionally after `1`, with one separator used
//!   consistently: `555-123-4567`, `555.123.4567`, `1-800-555-0199`;
//! - a national trunk prefix `0` with consistent separators, groups of 2+ digits (the first of
//!   2–5) and 9–12 digits, not in the SSN layout 3-2-4: `020 7946 0958`, `06 12 34 56 78`;
//! - a Chinese mobile number (`1[3-9]` and 9 more digits): `13800138000`, `139-1234-5678`.
//!
//! The longest group prefix satisfying a rule is the match.

use super::scan::{left_boundary_ok, number_start_ok, right_boundary_ok, tail_starts};

const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;
/// Longest phone text read: 15 digits, 14 separators, `+` and parentheses.
const MAX_TEXT: usize = 40;
const NANP: [usize; 3] = [3, 3, 4];
const NANP_WITH_1: [usize; 4] = [1, 3, 3, 4];
const CN_MOBILE: [usize; 3] = [3, 4, 4];
const CN_MOBILE_DIGITS: usize = 11;
const SSN_LAYOUT: [usize; 3] = [3, 2, 4];

#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    digits: usize,
    paren: bool,
}

/// What the text ends with when a parse reaches its end between groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Nothing,
    Plus,
    Separator(u8),
    /// "(" or "(55": a parenthesized group in progress.
    OpenParen { digits: usize },
}

#[derive(Debug)]
struct Parse {
    plus: bool,
    groups: Vec<Group>,
    /// Separator before `groups[i + 1]`; `None` when adjacent to a parenthesis: "(555)123".
    seps: Vec<Option<u8>>,
    pending: Pending,
    /// The parse consumed the text up to its end.
    reached_end: bool,
}

impl Parse {
    fn digits(&self, k: usize) -> usize {
        self.groups[..k].iter().map(|g| g.digits).sum()
    }

    fn same_separator(&self, k: usize) -> bool {
        let trailing = match self.pending {
            Pending::Separator(c) => Some(Some(c)),
            _ => None,
        };
        let mut seps = self.seps[..k.saturating_sub(1)].iter().copied().chain(trailing);
        match seps.next() {
            None => true,
            Some(None) => false,
            Some(first) => seps.all(|s| s == first),
        }
    }
}

fn parse(text: &str, start: usize) -> Parse {
    let bytes = text.as_bytes();
    let len = bytes.len();
    let limit = (start + MAX_TEXT).min(len);
    let mut p = Parse { plus: false, groups: Vec::new(), seps: Vec::new(), pending: Pending::Nothing, reached_end: false };
    let mut i = start;
    if bytes[i] == b'+' {
        p.plus = true;
        i += 1;
        if i == len {
            p.pending = Pending::Plus;
            p.reached_end = true;
            return p;
        }
    }
    loop {
        let paren = i < limit && bytes[i] == b'(';
        let digits_start = i + usize::from(paren);
        let mut j = digits_start;
        while j < limit && bytes[j].is_ascii_digit() {
            j += 1;
        }
        let digits = j - digits_start;
        if paren {
            if j == len {
                p.pending = Pending::OpenParen { digits };
                p.reached_end = true;
                return p;
            }
            if digits == 0 || j >= limit || bytes[j] != b')' {
                return p;
            }
            j += 1;
        } else if digits == 0 {
            return p;
        }
        p.groups.push(Group { start: i, end: j, digits, paren });
        i = j;
        if i == len {
            p.reached_end = true;
            return p;
        }
        if i >= limit {
            return p;
        }
        let c = bytes[i];
        if matches!(c, b' ' | b'-' | b'.') {
            if i + 1 == len {
                p.pending = Pending::Separator(c);
                p.reached_end = true;
                return p;
            }
            if i + 1 < limit && (bytes[i + 1].is_ascii_digit() || bytes[i + 1] == b'(') {
                p.seps.push(Some(c));
                i += 1;
                continue;
            }
            return p;
        }
        if c == b'(' || (paren && c.is_ascii_digit()) {
            p.seps.push(None);
            continue;
        }
        return p;
    }
}

fn first_digit_is(text: &str, g: &Group, d: u8) -> bool {
    text.as_bytes().get(g.start + usize::from(g.paren)) == Some(&d)
}

/// `1` then `3`–`9` (as far as the group goes): a Chinese mobile prefix.
fn cn_mobile_prefix(text: &str, g: &Group) -> bool {
    let bytes = text.as_bytes();
    first_digit_is(text, g, b'1') && (g.digits < 2 || matches!(bytes.get(g.start + 1), Some(b'3'..=b'9')))
}

/// The trunk-prefix layout: groups of 2+ digits, the first of 2–5, not the SSN layout.
fn national_layout_ok(lens: &[usize], complete: usize) -> bool {
    lens != SSN_LAYOUT
        && lens.first().is_some_and(|&g0| g0 <= 5 && (g0 >= 2 || complete == 0))
        && lens.iter().take(complete).all(|&len| len >= 2)
}

/// Whether the first `k` groups form a phone number under one of the rules.
fn rule_ok(text: &str, p: &Parse, k: usize) -> bool {
    let digits = p.digits(k);
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
        return false;
    }
    let g = &p.groups[..k];
    if p.plus {
        return k == 1 || g[0].digits <= 3;
    }
    if g[0].paren && (2..=5).contains(&g[0].digits) && k >= 2 {
        return true;
    }
    let seps = &p.seps[..k - 1];
    if g.iter().any(|g| g.paren) || seps.iter().any(Option::is_none) || !seps.windows(2).all(|w| w[0] == w[1]) {
        return false;
    }
    let lens: Vec<usize> = g.iter().map(|g| g.digits).collect();
    lens == NANP
        || (lens == NANP_WITH_1 && first_digit_is(text, &g[0], b'1'))
        || ((lens == CN_MOBILE || lens == [CN_MOBILE_DIGITS]) && cn_mobile_prefix(text, &g[0]))
        || (k >= 2 && first_digit_is(text, &g[0], b'0') && (9..=12).contains(&digits) && national_layout_ok(&lens, k))
}

/// Whether more text could still complete or extend a phone number from this parse.
fn prefix_viable(text: &str, p: &Parse) -> bool {
    if !p.reached_end {
        return false;
    }
    let n = p.groups.len();
    let in_paren = matches!(p.pending, Pending::OpenParen { .. });
    let open_digits = match p.pending {
        Pending::OpenParen { digits } => digits,
        _ => 0,
    };
    if p.digits(n) + open_digits > MAX_DIGITS {
        return false;
    }
    if p.plus {
        let separated = n > 1 || matches!(p.pending, Pending::Separator(_)) || in_paren;
        return n == 0 || !separated || p.groups[0].digits <= 3;
    }
    if n == 0 {
        return in_paren && open_digits <= 5;
    }
    if p.groups[0].paren {
        return (2..=5).contains(&p.groups[0].digits);
    }
    if in_paren || p.groups.iter().any(|g| g.paren) || !p.same_separator(n) {
        return false;
    }
    let complete = if matches!(p.pending, Pending::Separator(_)) { n } else { n - 1 };
    let fits = |target: &[usize]| {
        let room = if complete == n { n < target.len() } else { n <= target.len() };
        room && p.groups.iter().enumerate().all(|(i, g)| if i < complete { g.digits == target[i] } else { g.digits <= target[i] })
    };
    let g0 = &p.groups[0];
    let lens: Vec<usize> = p.groups.iter().map(|g| g.digits).collect();
    fits(&NANP)
        || (fits(&NANP_WITH_1) && first_digit_is(text, g0, b'1'))
        || ((fits(&CN_MOBILE) || fits(&[CN_MOBILE_DIGITS])) && cn_mobile_prefix(text, g0))
        || (first_digit_is(text, g0, b'0') && p.digits(n) <= 12 && national_layout_ok(&lens, complete))
}

fn start_ok(text: &str, at: usize) -> bool {
    let bytes = text.as_bytes();
    match bytes[at] {
        b'+' | b'(' => left_boundary_ok(text, at) && !(at > 0 && bytes[at - 1].is_ascii_digit()),
        b'0'..=b'9' => number_start_ok(text, at) && !(at > 0 && matches!(bytes[at - 1], b'+' | b'(')),
        _ => false,
    }
}

pub(super) fn find(text: &str, out: &mut Vec<(usize, usize)>) {
    let mut next_free = 0;
    for start in 0..text.len() {
        if start < next_free || !start_ok(text, start) {
            continue;
        }
        let p = parse(text, start);
        let found = (1..=p.groups.len()).rev().find(|&k| rule_ok(text, &p, k) && right_boundary_ok(text, p.groups[k - 1].end));
        if let Some(k) = found {
            let end = p.groups[k - 1].end;
            out.push((start, end));
            next_free = end;
        }
    }
}

/// The earliest tail that could still become, extend or stop being a phone number.
pub(super) fn hold_from(text: &str) -> usize {
    tail_starts(text, MAX_TEXT)
        .find(|&start| start_ok(text, start) && prefix_viable(text, &parse(text, start)))
        .unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn international_and_national_formats() {
        for phone in [
            "+44 20 7946 0958",
            "+1 (555) 123-4567",
            "+442079460958",
            "+49-30-1234567",
            "+33 1 23 45 67 89",
            "+7 (495) 123-45-67",
            "+44 (0)20 7946 0958",
            "(555) 123-4567",
            "(555)123-4567",
            "555-123-4567",
            "555.123.4567",
            "1-800-555-0199",
            "020 7946 0958",
            "06 12 34 56 78",
            "13800138000",
            "139-1234-5678",
        ] {
            assert_eq!(phones(&format!("call {phone}.")), vec![phone], "{phone}");
        }
    }

    #[test]
    fn plain_numbers_are_not_phones() {
        for text in [
            "in 2023 we sold 1234567 units",
            "dates 2023-10-05 and 01-02-2023",
            "1 000 000 000",
            "version 1.2.3.4",
            "ratio 555-1234",
            "id 555-123-45678",
            "x555-123-4567",
            "+12",
            "12:30",
            "555-123 4567",
            "ISBN 0-306-40615-2",
            "000-12-3456",
            "12345678901",
        ] {
            assert!(phones(text).is_empty(), "{text}: {:?}", phones(text));
        }
    }

    #[test]
    fn holds_numbers_in_progress() {
        assert_eq!(hold_from("call +44 20 79"), 5);
        assert_eq!(hold_from("call +"), 5);
        assert_eq!(hold_from("call (55"), 5);
        assert_eq!(hold_from("call 555-12"), 5);
        assert_eq!(hold_from("call 555-123-4567"), 5);
        assert_eq!(hold_from("at 5 "), 5);
        assert_eq!(hold_from("in 2023"), 7);
        assert_eq!(hold_from("at 10 "), 6);
    }
}
