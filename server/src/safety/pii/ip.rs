//! IP addresses. IPv4: a dotted quad of decimal octets 0–255 that is a whole run of digits and
//! dots (not part of a longer dotted number such as the version 1.2.3.4.5, not glued to a word
//! such as v1.2.3.4); a trailing sentence dot is allowed. IPv6: a run of hex digits, colons and
//! dots with at least two colons that `std::net::Ipv6Addr` parses (full, `::`-compressed, or
//! with an embedded IPv4 tail).

use std::net::Ipv6Addr;
use std::str::FromStr;

use super::scan::{left_boundary_ok, right_boundary_ok};

/// Longest run that can still hold an IPv6 address: 45 characters (eight groups, or six and a
/// dotted quad), an unbracketed `:port` of up to 6, and a trailing sentence dot.
const MAX_IPV6_RUN: usize = 45 + 6 + 1;
/// Longest run of digits and dots that can still become an IPv4 address ("255.255.255.255.").
const MAX_IPV4_RUN: usize = 16;

fn is_ipv4_char(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

fn is_ipv6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Maximal runs of bytes satisfying `member`: `(start, end)` pairs.
fn runs(bytes: &[u8], member: fn(u8) -> bool) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !member(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && member(bytes[i]) {
            i += 1;
        }
        Some((start, i))
    })
}

fn is_ipv4(s: &[u8]) -> bool {
    let parts: Vec<&[u8]> = s.split(|&b| b == b'.').collect();
    parts.len() == 4 && parts.iter().all(|p| is_octet(p))
}

fn is_octet(p: &[u8]) -> bool {
    !p.is_empty() && p.len() <= 3 && p.iter().fold(0u32, |v, &d| v * 10 + u32::from(d - b'0')) <= 255
}

pub(super) fn find_ipv4(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    for (start, end) in runs(bytes, is_ipv4_char) {
        if bytes[start] == b'.' || !left_boundary_ok(text, start) {
            continue;
        }
        let mut trimmed = end;
        while bytes[trimmed - 1] == b'.' {
            trimmed -= 1;
        }
        let boundary = trimmed < end || right_boundary_ok(text, end);
        if boundary && is_ipv4(&bytes[start..trimmed]) {
            out.push((start, trimmed));
        }
    }
}

/// The tail run of digits and dots, if it is (or could still become, or could still stop being)
/// an IPv4 address.
pub(super) fn ipv4_hold_from(text: &str) -> usize {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut start = n;
    while start > 0 && is_ipv4_char(bytes[start - 1]) && n - start <= MAX_IPV4_RUN {
        start -= 1;
    }
    let whole_run = start == 0 || !is_ipv4_char(bytes[start - 1]);
    if start == n || !whole_run || bytes[start] == b'.' || !left_boundary_ok(text, start) {
        return n;
    }
    let run = &bytes[start..];
    let parts: Vec<&[u8]> = run.split(|&b| b == b'.').collect();
    let trimmed = {
        let mut t = run.len();
        while t > 0 && run[t - 1] == b'.' {
            t -= 1;
        }
        &run[..t]
    };
    let (last, complete) = parts.split_last().map_or((&[][..], &[][..]), |(l, c)| (*l, c));
    let prefix_viable = parts.len() <= 4 && complete.iter().all(|p| is_octet(p)) && (last.is_empty() || is_octet(last));
    if prefix_viable || is_ipv4(trimmed) {
        start
    } else {
        n
    }
}

pub(super) fn find_ipv6(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    for (start, end) in runs(bytes, is_ipv6_char) {
        let mut trimmed = end;
        while trimmed > start && bytes[trimmed - 1] == b'.' {
            trimmed -= 1;
        }
        let candidate = &text[start..trimmed];
        let colons = candidate.bytes().filter(|&b| b == b':').count();
        if colons < 2 || candidate.contains(":::") || !candidate.bytes().any(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        if !left_boundary_ok(text, start) || !(trimmed < end || right_boundary_ok(text, end)) {
            continue;
        }
        if Ipv6Addr::from_str(candidate).is_ok() {
            out.push((start, trimmed));
        } else if let Some(address_end) = without_port(candidate) {
            out.push((start, start + address_end));
        }
    }
}

/// An address followed by an unbracketed `:port` ("…:6e8:8080"): the address's length.
fn without_port(candidate: &str) -> Option<usize> {
    let (address, port) = candidate.rsplit_once(':')?;
    let port_ok = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    let address_ok = address.contains("::") && address.bytes().any(|b| b.is_ascii_hexdigit());
    (port_ok && address_ok && Ipv6Addr::from_str(address).is_ok()).then_some(address.len())
}

/// The tail run of hex digits, colons and dots, if more characters could still make it an
/// address or stop it being one ("…::10.0.0.1:2" reads as an address and port until "001:…"
/// follows): any run with a colon, or a hex group just begun, short enough to become one.
pub(super) fn ipv6_hold_from(text: &str) -> usize {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut start = n;
    while start > 0 && is_ipv6_char(bytes[start - 1]) && n - start <= MAX_IPV6_RUN {
        start -= 1;
    }
    let whole_run = start == 0 || !is_ipv6_char(bytes[start - 1]);
    if start == n || !whole_run || !left_boundary_ok(text, start) {
        return n;
    }
    let run = &text[start..];
    let plausible = run.len() <= MAX_IPV6_RUN && !run.contains(":::") && (run.contains(':') || run.len() <= 4);
    if plausible {
        start
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find_ipv4(text, &mut out);
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    fn v6(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find_ipv6(text, &mut out);
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn ipv4_addresses_but_not_versions() {
        assert_eq!(v4("ping 10.0.0.1."), vec!["10.0.0.1"]);
        assert_eq!(v4("(192.168.1.254:8080)"), vec!["192.168.1.254"]);
        assert!(v4("version 1.2.3.4.5").is_empty());
        assert!(v4("v1.2.3.4 and 1.2.3 and 256.1.1.1 and 1.2.3.4a").is_empty());
        assert!(v4("3.14").is_empty());
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(v6("addr 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok"), vec!["2001:0db8:85a3:0000:0000:8a2e:0370:7334"]);
        assert_eq!(v6("lo ::1, net fe80::1ff:fe23:4567:890a."), vec!["::1", "fe80::1ff:fe23:4567:890a"]);
        assert_eq!(v6("[::ffff:192.0.2.128]:80"), vec!["::ffff:192.0.2.128"]);
        assert_eq!(v6("http://2001:db8:1:2::7:6e8:9:8080/"), vec!["2001:db8:1:2::7:6e8:9"]);
        assert!(v6("at 12:30:45, mac 00:1a:2b:3c:4d:5e, std::vec, a:::b, :::1").is_empty());
    }

    #[test]
    fn holds_addresses_in_progress() {
        assert_eq!(ipv4_hold_from("ip 10.0."), 3);
        assert_eq!(ipv4_hold_from("ip 10.0.0.1"), 3);
        assert_eq!(ipv4_hold_from("ip 10.0.0.1."), 3);
        assert_eq!(ipv4_hold_from("v 1.2.3.4.5"), 11);
        assert_eq!(ipv4_hold_from("ip 10.0.0.1 "), 12);
        assert_eq!(ipv6_hold_from("at fe80::"), 3);
        assert_eq!(ipv6_hold_from("at fe80:: "), 10);
    }
}
