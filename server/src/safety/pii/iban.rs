//! International bank account numbers (ISO 13616): two uppercase country letters, two check
//! digits and up to 30 uppercase letters or digits, written compact or in groups of four split by
//! single spaces. The length must match the country's (table below, from the SWIFT IBAN
//! registry; other countries: 15–34) and the mod-97 check (ISO 7064 MOD 97-10) must give 1.
//! Lowercase IBANs are not recognized.

use super::scan::{left_boundary_ok, right_boundary_ok, tail_starts};

const MIN_LEN: usize = 15;
const MAX_LEN: usize = 34;
/// Longest IBAN text: 34 characters and 8 spaces.
const MAX_TEXT: usize = 42;

/// IBAN lengths of common countries (SWIFT IBAN registry).
const COUNTRY_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24), (b"AE", 23), (b"AT", 20), (b"AZ", 28), (b"BA", 20), (b"BE", 16), (b"BG", 22), (b"BH", 22),
    (b"BR", 29), (b"CH", 21), (b"CR", 22), (b"CY", 28), (b"CZ", 24), (b"DE", 22), (b"DK", 18), (b"DO", 28),
    (b"EE", 20), (b"EG", 29), (b"ES", 24), (b"FI", 18), (b"FO", 18), (b"FR", 27), (b"GB", 22), (b"GE", 22),
    (b"GI", 23), (b"GL", 18), (b"GR", 27), (b"HR", 21), (b"HU", 28), (b"IE", 22), (b"IL", 23), (b"IS", 26),
    (b"IT", 27), (b"JO", 30), (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LI", 21), (b"LT", 20), (b"LU", 20),
    (b"LV", 21), (b"MC", 27), (b"MD", 24), (b"ME", 22), (b"MK", 19), (b"MR", 27), (b"MT", 31), (b"MU", 30),
    (b"NL", 18), (b"NO", 15), (b"PK", 24), (b"PL", 28), (b"PS", 29), (b"PT", 25), (b"QA", 29), (b"RO", 24),
    (b"RS", 22), (b"SA", 24), (b"SE", 24), (b"SI", 19), (b"SK", 24), (b"SM", 27), (b"TN", 24), (b"TR", 26),
    (b"UA", 29), (b"VG", 24), (b"XK", 20),
];

fn country_length(country: &[u8]) -> Option<usize> {
    COUNTRY_LENGTHS.iter().find(|(c, _)| c.as_slice() == country).map(|(_, len)| *len)
}

fn is_body(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// The compact characters of an IBAN-shaped run from `start`: byte offsets of each character.
/// A space is allowed only after a complete group of four; `ends_with_space` is set when the
/// text ends right after such a space.
fn compact_positions(text: &str, start: usize) -> (Vec<usize>, bool) {
    let bytes = text.as_bytes();
    let limit = (start + MAX_TEXT + 1).min(bytes.len());
    let mut positions = Vec::with_capacity(MAX_LEN);
    let mut i = start;
    while i < limit {
        let b = bytes[i];
        let expected_ok = match positions.len() {
            0 | 1 => b.is_ascii_uppercase(),
            2 | 3 => b.is_ascii_digit(),
            _ => is_body(b),
        };
        if expected_ok && positions.len() < MAX_LEN + 1 {
            positions.push(i);
            i += 1;
        } else if b == b' ' && positions.len().is_multiple_of(4) && !positions.is_empty() && bytes.get(i + 1).is_none_or(|&n| is_body(n)) {
            if i + 1 == bytes.len() {
                return (positions, true);
            }
            i += 1;
        } else {
            break;
        }
    }
    (positions, false)
}

fn mod97_ok(text: &str, positions: &[usize]) -> bool {
    let bytes = text.as_bytes();
    let rotated = positions[4..].iter().chain(&positions[..4]).map(|&p| bytes[p]);
    let mut remainder: u32 = 0;
    for b in rotated {
        let value = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    remainder == 1
}

fn start_ok(text: &str, at: usize) -> bool {
    text.as_bytes()[at].is_ascii_uppercase() && left_boundary_ok(text, at)
}

pub(super) fn find(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut next_free = 0;
    for start in 0..bytes.len() {
        if start < next_free || !start_ok(text, start) {
            continue;
        }
        let (positions, _) = compact_positions(text, start);
        if positions.len() < MIN_LEN {
            continue;
        }
        let lengths: Vec<usize> = match country_length(&bytes[start..start + 2]) {
            Some(len) => vec![len],
            None => (MIN_LEN..=MAX_LEN).rev().collect(),
        };
        let found = lengths.into_iter().find(|&len| {
            len <= positions.len() && right_boundary_ok(text, positions[len - 1] + 1) && mod97_ok(text, &positions[..len])
        });
        if let Some(len) = found {
            let end = positions[len - 1] + 1;
            out.push((start, end));
            next_free = end;
        }
    }
}

/// The earliest tail that is an IBAN in progress ("DE89 3704", or a complete one that one more
/// character would make too long).
pub(super) fn hold_from(text: &str) -> usize {
    let bytes = text.as_bytes();
    for start in tail_starts(text, MAX_TEXT + 1) {
        if !start_ok(text, start) {
            continue;
        }
        let (positions, ends_with_space) = compact_positions(text, start);
        let reaches_end = ends_with_space || positions.last().is_some_and(|&p| p + 1 == bytes.len());
        let max_len = if positions.len() >= 2 { country_length(&bytes[start..start + 2]).unwrap_or(MAX_LEN) } else { MAX_LEN };
        if reaches_end && positions.len() <= max_len {
            return start;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ibans(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn valid_ibans_grouped_and_compact() {
        assert_eq!(ibans("IBAN DE89 3704 0044 0532 0130 00."), vec!["DE89 3704 0044 0532 0130 00"]);
        assert_eq!(ibans("to GB82WEST12345698765432 today"), vec!["GB82WEST12345698765432"]);
        assert_eq!(ibans("NO93 8601 1117 947 and"), vec!["NO93 8601 1117 947"]);
        assert_eq!(ibans("BE68 5390 0754 7034 AB"), vec!["BE68 5390 0754 7034"]);
    }

    #[test]
    fn checksum_and_shape_failures() {
        assert!(ibans("DE89 3704 0044 0532 0130 01").is_empty());
        assert!(ibans("de89 3704 0044 0532 0130 00").is_empty());
        assert!(ibans("XDE89370400440532013000").is_empty());
        assert!(ibans("DE89370400440532013000X").is_empty());
    }

    #[test]
    fn holds_ibans_in_progress() {
        assert_eq!(hold_from("to DE89 37"), 3);
        assert_eq!(hold_from("to DE89 3704 "), 3);
        assert_eq!(hold_from("to US "), 6);
        assert_eq!(hold_from("to the"), 6);
    }
}
