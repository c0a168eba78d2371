//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): parsing the caller's `traceparent`
//! (and `tracestate`) into a remote parent [`SpanContext`], and writing ours back.
//!
//! `traceparent` is `VERSION-TRACEID-PARENTID-FLAGS`: 2, 32, 16 and 2 lowercase hex digits.
//! Version `ff` is forbidden; all-zero trace or parent ids are invalid; uppercase hex is invalid
//! (the spec's grammar is lowercase only). A version above `00` may carry more fields after a
//! `-`, which we ignore, as the spec asks. An invalid header is never an error for the request:
//! it is ignored and the request starts a new trace. O(header length).

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// Length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// Most bytes of `tracestate` we read (the spec caps it at 32 list members; 512 chars is what
/// propagators must at least keep).
const MAX_TRACESTATE_LEN: usize = 8192;

/// Most `tracestate` list members (the spec's limit).
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// `s` as lowercase hex of exactly `s.len()` digits.
fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The parent span context named by a `traceparent` value, or `None` when it is invalid.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let value = value.trim();
    if value.len() < TRACEPARENT_LEN || !value.is_ascii() {
        return None;
    }
    let (version, rest) = (&value[..2], &value[2..]);
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    // Version 00 is exactly 55 characters; later versions may append `-more`.
    if value.len() > TRACEPARENT_LEN && (version == "00" || value.as_bytes()[TRACEPARENT_LEN] != b'-') {
        return None;
    }
    let bytes = rest.as_bytes();
    if bytes[0] != b'-' || bytes[33] != b'-' || bytes[50] != b'-' {
        return None;
    }
    let (trace_hex, span_hex, flags_hex) = (&rest[1..33], &rest[34..50], &rest[51..53]);
    if !(is_lower_hex(trace_hex) && is_lower_hex(span_hex) && is_lower_hex(flags_hex)) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_hex).ok()?;
    let span_id = SpanId::from_hex(span_hex).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags_hex, 16).ok()?;
    // Only the `sampled` bit is defined; the others are not propagated.
    let flags = TraceFlags::new(flags) & TraceFlags::SAMPLED;
    Some(SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE))
}

/// The caller's trace context from `traceparent` + `tracestate`; an invalid `tracestate` is
/// dropped, an invalid `traceparent` gives `None` (new trace).
pub fn remote_parent(headers: &HeaderMap) -> Option<SpanContext> {
    // Several `traceparent` headers are invalid (the spec: treat as absent).
    let mut values = headers.get_all("traceparent").iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let parent = parse_traceparent(first.to_str().ok()?)?;
    let state = tracestate(headers).unwrap_or(TraceState::NONE);
    Some(SpanContext::new(parent.trace_id(), parent.span_id(), parent.trace_flags(), true, state))
}

/// `tracestate` (several headers are joined with `,`, as HTTP list headers are).
fn tracestate(headers: &HeaderMap) -> Option<TraceState> {
    let mut joined = String::new();
    for v in headers.get_all("tracestate") {
        let v = v.to_str().ok()?;
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(v);
        if joined.len() > MAX_TRACESTATE_LEN {
            return None;
        }
    }
    let mut members = Vec::new();
    for member in joined.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let (key, value) = member.split_once('=')?;
        if !valid_tracestate_key(key) || !valid_tracestate_value(value) {
            return None;
        }
        members.push((key, value));
    }
    if members.is_empty() || members.len() > MAX_TRACESTATE_MEMBERS {
        return None;
    }
    TraceState::from_key_value(members).ok()
}

/// A `tracestate` key: `[a-z0-9][a-z0-9_\-*/]{0,255}`, optionally `tenant@system`.
fn valid_tracestate_key(key: &str) -> bool {
    let part = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && (s.as_bytes()[0].is_ascii_lowercase() || s.as_bytes()[0].is_ascii_digit())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match key.split_once('@') {
        Some((tenant, system)) => part(tenant, 241) && part(system, 14),
        None => part(key, 256),
    }
}

/// A `tracestate` value: 1–256 printable ASCII characters except `,` and `=`, not ending in a space.
fn valid_tracestate_value(value: &str) -> bool {
    !value.is_empty() && value.len() <= 256 && !value.ends_with(' ') && value.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

/// The `traceparent` value of `context` (version 00).
pub fn format_traceparent(context: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", context.trace_id(), context.span_id(), context.trace_flags().to_u8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn valid_headers_parse() {
        let sc = parse_traceparent(&format!("00-{TRACE}-{SPAN}-01")).expect("valid");
        assert_eq!(sc.trace_id().to_string(), TRACE);
        assert_eq!(sc.span_id().to_string(), SPAN);
        assert!(sc.is_sampled() && sc.is_remote());
        let unsampled = parse_traceparent(&format!("00-{TRACE}-{SPAN}-00")).expect("valid");
        assert!(!unsampled.is_sampled());
        // Unknown flag bits are dropped; the sampled bit stays.
        assert!(parse_traceparent(&format!("00-{TRACE}-{SPAN}-03")).expect("valid").is_sampled());
        // A later version may carry more fields after a dash.
        assert!(parse_traceparent(&format!("01-{TRACE}-{SPAN}-01-extra")).is_some());
        assert!(parse_traceparent(&format!("  00-{TRACE}-{SPAN}-01 ")).is_some());
    }

    #[test]
    fn invalid_headers_are_ignored() {
        let bad = [
            format!("ff-{TRACE}-{SPAN}-01"),                                      // forbidden version
            format!("00-{}-{SPAN}-01", "0".repeat(32)),                           // all-zero trace id
            format!("00-{TRACE}-{}-01", "0".repeat(16)),                          // all-zero span id
            format!("00-{}-{SPAN}-01", &TRACE[..31]),                             // short trace id
            format!("00-{TRACE}0-{SPAN}-01"),                                     // long trace id
            format!("00-{TRACE}-{}-01", &SPAN[..15]),                             // short span id
            format!("00-{TRACE}-{SPAN}-1"),                                       // short flags
            format!("00-{TRACE}-{SPAN}-01-extra"),                                // version 00 has no extra fields
            format!("01-{TRACE}-{SPAN}-01x"),                                     // extra field without a dash
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),                     // uppercase hex
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),                     // uppercase hex
            format!("0A-{TRACE}-{SPAN}-01"),                                      // uppercase version
            format!("00-{TRACE}-{SPAN}-0g"),                                      // not hex
            format!("00_{TRACE}_{SPAN}_01"),                                      // wrong separators
            String::new(),
            "garbage".to_string(),
            format!("00-{}-{SPAN}-01", "é".repeat(16)),                           // not ASCII
        ];
        for value in &bad {
            assert!(parse_traceparent(value).is_none(), "accepted {value:?}");
        }
    }

    #[test]
    fn headers_with_tracestate_and_duplicates() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_str(&format!("00-{TRACE}-{SPAN}-01")).unwrap());
        headers.insert("tracestate", HeaderValue::from_static("vendor=value,other=x"));
        let sc = remote_parent(&headers).expect("valid");
        assert_eq!(sc.trace_state().get("vendor"), Some("value"));
        // A broken tracestate is dropped, the parent kept.
        for broken in ["=== not a list", "Upper=1", "k=v=w", "k="] {
            headers.insert("tracestate", HeaderValue::from_static(broken));
            let sc = remote_parent(&headers).expect("still valid");
            assert_eq!(sc.trace_state().header(), "", "{broken}");
        }
        headers.insert("tracestate", HeaderValue::from_static("t@sys=a b,x=1"));
        assert_eq!(remote_parent(&headers).unwrap().trace_state().get("t@sys"), Some("a b"));
        headers.append("traceparent", HeaderValue::from_str(&format!("00-{TRACE}-{SPAN}-00")).unwrap());
        assert!(remote_parent(&headers).is_none(), "two traceparent headers are invalid");
        assert!(remote_parent(&HeaderMap::new()).is_none());
    }

    #[test]
    fn round_trip() {
        let value = format!("00-{TRACE}-{SPAN}-01");
        assert_eq!(format_traceparent(&parse_traceparent(&value).unwrap()), value);
    }
}
