//! E-mail addresses, RFC 5321-ish: `local@domain.tld` with an ASCII dot-atom local part
//! (letters, digits, `._%+-`, at most 64 bytes) and a domain of at least two labels (each 1–63
//! letters, digits or inner hyphens), the last one alphabetic and at least 2 letters long.
//! Quoted local parts and internationalized addresses are not recognized.

use super::scan::{is_wordish, left_boundary_ok, next_char};

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

pub(super) fn find(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices('@') {
        let Some(start) = local_start(bytes, at) else { continue };
        if !left_boundary_ok(text, start) {
            continue;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let glued = next_char(text, end).is_some_and(|c| is_wordish(c) || c == '@');
        if !glued && valid_domain(&bytes[at + 1..end]) {
            out.push((start, end));
        }
    }
}

/// Start of the local part ending at the `@` at `at`: the whole run of local characters, minus
/// leading dots; `None` when empty or longer than 64 bytes.
fn local_start(bytes: &[u8], at: usize) -> Option<usize> {
    let mut start = at;
    while start > 0 && is_local(bytes[start - 1]) {
        start -= 1;
        if at - start > MAX_LOCAL {
            return None;
        }
    }
    while start < at && bytes[start] == b'.' {
        start += 1;
    }
    (start < at).then_some(start)
}

fn valid_domain(domain: &[u8]) -> bool {
    if domain.len() > MAX_DOMAIN {
        return false;
    }
    let labels: Vec<&[u8]> = domain.split(|&b| b == b'.').collect();
    let Some(tld) = labels.last() else { return false };
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.len() <= 63 && l[0] != b'-' && l[l.len() - 1] != b'-')
        && tld.len() >= 2
        && tld.iter().all(|b| b.is_ascii_alphabetic())
}

/// Earliest start of a tail that is a local part in progress ("jane"), or a local part and `@`
/// with a domain in progress ("jane@exa", "jane@example.com" which could still grow).
pub(super) fn hold_from(text: &str) -> usize {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut hold = n;
    let mut d = n;
    while d > 0 && is_domain(bytes[d - 1]) && n - d <= MAX_DOMAIN {
        d -= 1;
    }
    if d > 0 && bytes[d - 1] == b'@' && n - d <= MAX_DOMAIN {
        if let Some(start) = local_start(bytes, d - 1) {
            hold = start;
        }
    }
    let mut s = n;
    while s > 0 && is_local(bytes[s - 1]) && n - s <= MAX_LOCAL {
        s -= 1;
    }
    let run_continues = s > 0 && is_local(bytes[s - 1]);
    if s < n && !run_continues {
        hold = hold.min(s);
    }
    hold
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn finds_addresses() {
        assert_eq!(found("write to john.smith@example.com."), vec!["john.smith@example.com"]);
        assert_eq!(found("<a_b-c+tag%x@sub-1.mail.example.org>"), vec!["a_b-c+tag%x@sub-1.mail.example.org"]);
        assert_eq!(found("x@y.io, z@w.de"), vec!["x@y.io", "z@w.de"]);
    }

    #[test]
    fn rejects_non_addresses() {
        assert!(found("@handle and user@localhost and a@b.c and a@-b.com and a@b.123").is_empty());
        assert!(found("é@example.com").is_empty());
        assert!(found("éa@example.com").is_empty());
        assert!(found("a@example.comé").is_empty());
        assert!(found(&format!("{}@example.com", "a".repeat(65))).is_empty());
    }

    #[test]
    fn holds_addresses_in_progress() {
        assert_eq!(hold_from("mail jane"), 5);
        assert_eq!(hold_from("mail jane@"), 5);
        assert_eq!(hold_from("mail jane@example.com"), 5);
        assert_eq!(hold_from("mail jane@example.com "), 22);
        assert_eq!(hold_from("done. "), 6);
    }
}
