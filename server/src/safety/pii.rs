//! PII detection and redaction for model output: e-mail addresses, phone numbers, US social
//! security numbers, payment card numbers, IPv4/IPv6 addresses and IBANs.
//!
//! Each kind is a small hand-written scanner with its validation rule (Luhn for cards, the SSA
//! area/group/serial rules for SSNs, ISO 13616 mod-97 for IBANs, `std::net::Ipv6Addr` for IPv6),
//! in the spirit of Microsoft Presidio's pattern recognizers (pattern + checksum + context-free
//! boundary rules). Scanners are hand-written rather than regexes because each also answers the
//! streaming question "could the tail of this text still become a match?"
//! ([`SpanDetector::hold_from`]), which needs the grammar spelled out.
//!
//! Overlaps between kinds are resolved by specificity (e-mail, IBAN, card, IPv6, SSN, IPv4,
//! phone), then length: a Luhn-valid card is never also reported as a phone.
//! Complexity: O(n) per kind; candidates are bounded in length.

mod email;
mod iban;
mod ip;
mod numbers;
mod phone;
mod scan;

use std::fmt;
use std::str::FromStr;

use super::holdback::{apply_spans, hold_before_straddling, Span, SpanDetector};

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Phone,
    Ssn,
    PaymentCard,
    Ipv4,
    Ipv6,
    Iban,
}

impl PiiKind {
    pub const ALL: [PiiKind; 7] =
        [PiiKind::Email, PiiKind::Phone, PiiKind::Ssn, PiiKind::PaymentCard, PiiKind::Ipv4, PiiKind::Ipv6, PiiKind::Iban];

    /// The snake_case name used in configs, metrics and [`Span::kind`].
    pub fn as_str(&self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Ssn => "ssn",
            PiiKind::PaymentCard => "payment_card",
            PiiKind::Ipv4 => "ipv4",
            PiiKind::Ipv6 => "ipv6",
            PiiKind::Iban => "iban",
        }
    }

    /// The text a match is replaced with.
    pub fn placeholder(&self) -> &'static str {
        match self {
            PiiKind::Email => "[EMAIL]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::Ssn => "[SSN]",
            PiiKind::PaymentCard => "[CARD]",
            PiiKind::Ipv4 => "[IPV4]",
            PiiKind::Ipv6 => "[IPV6]",
            PiiKind::Iban => "[IBAN]",
        }
    }

    /// Overlap priority: lower wins.
    fn specificity_rank(&self) -> u8 {
        match self {
            PiiKind::Email => 0,
            PiiKind::Iban => 1,
            PiiKind::PaymentCard => 2,
            PiiKind::Ipv6 => 3,
            PiiKind::Ssn => 4,
            PiiKind::Ipv4 => 5,
            PiiKind::Phone => 6,
        }
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PII kind name in a config that is not one of [`PiiKind::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PII kind {0:?}: expected one of email, phone, ssn, payment_card, ipv4, ipv6, iban")]
pub struct UnknownPiiKind(pub String);

impl FromStr for PiiKind {
    type Err = UnknownPiiKind;

    fn from_str(s: &str) -> Result<PiiKind, UnknownPiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownPiiKind(s.to_string()))
    }
}

/// One raw match of one kind, before overlap resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    start: usize,
    end: usize,
    kind: PiiKind,
}

/// Finds the enabled PII kinds in text.
#[derive(Debug, Clone)]
pub struct PiiDetector {
    /// Enabled kinds, deduplicated.
    kinds: Vec<PiiKind>,
}

/// The longest match any kind can report: an e-mail of 64 + 1 + 253 bytes, rounded up.
const MAX_PII_SPAN_BYTES: usize = 320;

impl PiiDetector {
    pub fn new(kinds: &[PiiKind]) -> PiiDetector {
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        PiiDetector { kinds }
    }

    /// A detector for every kind.
    pub fn all() -> PiiDetector {
        PiiDetector::new(&PiiKind::ALL)
    }

    /// The enabled kinds.
    pub fn kinds(&self) -> &[PiiKind] {
        &self.kinds
    }

    /// Matches: non-overlapping, sorted by start.
    pub fn find(&self, text: &str) -> Vec<Span> {
        self.find_kinds(text)
            .into_iter()
            .map(|c| Span { start: c.start, end: c.end, kind: c.kind.as_str(), replacement: c.kind.placeholder().to_string() })
            .collect()
    }

    /// `text` with every match replaced by its placeholder, and the kind of each replacement.
    pub fn redact(&self, text: &str) -> (String, Vec<PiiKind>) {
        let candidates = self.find_kinds(text);
        let kinds = candidates.iter().map(|c| c.kind).collect();
        let spans: Vec<Span> = candidates
            .iter()
            .map(|c| Span { start: c.start, end: c.end, kind: c.kind.as_str(), replacement: c.kind.placeholder().to_string() })
            .collect();
        (apply_spans(text, &spans).text, kinds)
    }

    fn find_kinds(&self, text: &str) -> Vec<Candidate> {
        resolve_overlaps(self.candidates(text))
    }

    /// Every kind's matches, before overlap resolution.
    fn candidates(&self, text: &str) -> Vec<Candidate> {
        let mut candidates = Vec::new();
        for kind in &self.kinds {
            let before = candidates.len();
            let mut ranges = Vec::new();
            match kind {
                PiiKind::Email => email::find(text, &mut ranges),
                PiiKind::Phone => phone::find(text, &mut ranges),
                PiiKind::Ssn => numbers::find_ssns(text, &mut ranges),
                PiiKind::PaymentCard => numbers::find_cards(text, &mut ranges),
                PiiKind::Ipv4 => ip::find_ipv4(text, &mut ranges),
                PiiKind::Ipv6 => ip::find_ipv6(text, &mut ranges),
                PiiKind::Iban => iban::find(text, &mut ranges),
            }
            candidates.extend(ranges.into_iter().map(|(start, end)| Candidate { start, end, kind: *kind }));
            debug_assert!(candidates[before..].iter().all(|c| c.start < c.end));
        }
        candidates
    }
}

/// Keeps the most specific, then longest, candidate of each overlapping group; sorted by start.
fn resolve_overlaps(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by_key(|c| (c.kind.specificity_rank(), std::cmp::Reverse(c.end - c.start), c.start));
    let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len());
    for c in candidates {
        if kept.iter().all(|k| c.end <= k.start || k.end <= c.start) {
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| c.start);
    kept
}

impl SpanDetector for PiiDetector {
    fn find(&self, text: &str) -> Vec<Span> {
        PiiDetector::find(self, text)
    }

    /// The earliest tail any kind could still extend, moved back before every candidate that
    /// straddles it: overlap resolution may still change the fate of such a candidate (a phone
    /// displaced by an IPv4 address that the next character invalidates).
    fn hold_from(&self, text: &str) -> usize {
        let hold = self
            .kinds
            .iter()
            .map(|kind| match kind {
                PiiKind::Email => email::hold_from(text),
                PiiKind::Phone => phone::hold_from(text),
                PiiKind::Ssn => numbers::ssn_hold_from(text),
                PiiKind::PaymentCard => numbers::card_hold_from(text),
                PiiKind::Ipv4 => ip::ipv4_hold_from(text),
                PiiKind::Ipv6 => ip::ipv6_hold_from(text),
                PiiKind::Iban => iban::hold_from(text),
            })
            .min()
            .unwrap_or(text.len());
        hold_before_straddling(hold, &self.candidates(text).iter().map(|c| (c.start, c.end)).collect::<Vec<_>>())
    }

    fn max_span_len(&self) -> usize {
        MAX_PII_SPAN_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::holdback::tests::check_stream;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    fn kinds_in(text: &str) -> Vec<(&'static str, String)> {
        PiiDetector::all().find(text).into_iter().map(|s| (s.kind, text[s.start..s.end].to_string())).collect()
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in PiiKind::ALL {
            assert_eq!(kind.as_str().parse::<PiiKind>(), Ok(kind));
        }
        assert!("credit_card".parse::<PiiKind>().is_err());
        assert_eq!(PiiKind::PaymentCard.placeholder(), "[CARD]");
    }

    #[test]
    fn redacts_each_kind() {
        let text = "Mail jane.doe+x@mail.example.co.uk, call +44 20 7946 0958, SSN 123-45-6789, \
                    card 4111 1111 1111 1111, host 192.168.1.20 or 2001:db8::8a2e:370:7334, \
                    IBAN DE89 3704 0044 0532 0130 00.";
        let (redacted, kinds) = PiiDetector::all().redact(text);
        assert_eq!(
            redacted,
            "Mail [EMAIL], call [PHONE], SSN [SSN], card [CARD], host [IPV4] or [IPV6], IBAN [IBAN]."
        );
        assert_eq!(
            kinds,
            vec![PiiKind::Email, PiiKind::Phone, PiiKind::Ssn, PiiKind::PaymentCard, PiiKind::Ipv4, PiiKind::Ipv6, PiiKind::Iban]
        );
    }

    #[test]
    fn only_enabled_kinds() {
        let d = PiiDetector::new(&[PiiKind::Email]);
        let (redacted, _) = d.redact("a@b.io 4111111111111111");
        assert_eq!(redacted, "[EMAIL] 4111111111111111");
    }

    #[test]
    fn card_is_not_also_a_phone() {
        assert_eq!(kinds_in("4111-1111-1111-1111"), vec![("payment_card", "4111-1111-1111-1111".into())]);
        assert_eq!(kinds_in("::ffff:10.0.0.1"), vec![("ipv6", "::ffff:10.0.0.1".into())]);
    }

    #[test]
    fn no_match_inside_longer_words() {
        assert!(kinds_in("x4111111111111111").is_empty());
        assert!(kinds_in("v1.2.3.4").is_empty());
        assert!(kinds_in("ab123-45-6789").is_empty());
        assert_eq!(kinds_in("手机号是13800138000，谢谢"), vec![("phone", "13800138000".into())]);
    }

    #[test]
    fn odd_unicode_never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let pieces = ["@", "é", "+", "(", ")", "1", "4", " ", "-", ".", ":", "DE", "ﬀ", "\u{200B}", "𝟙", "٣", "a", "::"];
        for _ in 0..3000 {
            let text: String = (0..rng.gen_range(0..30)).map(|_| pieces[rng.gen_range(0..pieces.len())]).collect();
            let d = PiiDetector::all();
            let spans = d.find(&text);
            assert!(spans.windows(2).all(|w| w[0].end <= w[1].start));
            assert!(spans.iter().all(|s| text.is_char_boundary(s.start) && text.is_char_boundary(s.end)));
            let h = SpanDetector::hold_from(&d, &text);
            assert!(text.is_char_boundary(h));
        }
    }

    #[test]
    fn endless_candidate_is_released_at_the_cap() {
        let mut redactor = crate::safety::holdback::StreamRedactor::new(Arc::new(PiiDetector::all()));
        let mut out = String::new();
        for _ in 0..200 {
            out.push_str(&redactor.push("abcde").text);
            assert!(redactor.held_len() <= MAX_PII_SPAN_BYTES);
        }
        out.push_str(&redactor.push(" done x@y.io ").text);
        out.push_str(&redactor.finish().text);
        assert_eq!(out, format!("{} done [EMAIL] ", "abcde".repeat(200)));
    }

    #[test]
    fn hold_from_is_minimal_on_prose() {
        let d = PiiDetector::all();
        let text = "The meeting moved to Tuesday at noon, bring the slides. ";
        assert_eq!(SpanDetector::hold_from(&d, text), text.len());
        let text = "Write to jane";
        assert_eq!(SpanDetector::hold_from(&d, text), "Write to ".len());
        let text = "Call +44 20 79";
        assert_eq!(SpanDetector::hold_from(&d, text), "Call ".len());
        let text = "Pay with 4111 1111";
        assert_eq!(SpanDetector::hold_from(&d, text), "Pay with ".len());
    }

    #[test]
    fn streaming_matches_whole_text_redaction() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let pieces = [
            "jane.doe@example.com", "a@b.co", "+1 (555) 123-4567", "555-123-4567", "020 7946 0958", "123-45-6789",
            "4111 1111 1111 1111", "4111111111111111", "5500-0000-0000-0004", "10.0.0.1", "1.2.3.4.5",
            "2001:db8::1", "fe80::1:2", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "hello", "the",
            " ", " ", ", ", ". ", "\n", "2023", "7", "-", "@", "+", "(", "é", "数据", ":", "x", "13800138000",
            "139-1234-5678", "手机号是", "2001:db8:1:2::7:6e8:9:8080", "ISBN 0-306-40615-2", "06 12 34 56 78", "::1",
        ];
        let detector: Arc<dyn SpanDetector> = Arc::new(PiiDetector::all());
        for _ in 0..1500 {
            let text: String = (0..rng.gen_range(0..16)).map(|_| pieces[rng.gen_range(0..pieces.len())]).collect();
            check_stream(Arc::clone(&detector), &text, &mut rng);
        }
    }
}
