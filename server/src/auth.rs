//! API-key authentication primitives: the stored form of a key ([`ApiKeyHash`], SHA-256), key
//! generation ([`generate_api_key`]), `Authorization: Bearer` parsing ([`bearer_token`]) and the
//! constant-time comparison ([`constant_time_eq`]) the tenant registry authenticates with.
//!
//! The scheme is OpenAI's: clients send `Authorization: Bearer sk-…`, and a missing or unknown key
//! is a 401. vLLM (`--api-key`, one shared key compared in plain) and TGI (no auth at all) have
//! nothing per tenant to follow, so the storage follows common practice for API tokens: the server
//! keeps only SHA-256 hashes (the keys are 256 random bits, so a fast hash is enough; no salt or
//! KDF is needed for high-entropy secrets), a leaked tenants file reveals no key, and neither keys
//! nor full hashes are ever printed ([`ApiKeyHash`]'s `Debug` shows 8 hex digits).
//!
//! Complexity: hashing is O(key length); parsing is O(header length).

use std::fmt;
use std::str::FromStr;

use axum::http::{header, HeaderMap};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Prefix of every key [`generate_api_key`] makes (recognizable in secret scanners, like `sk-`).
pub const API_KEY_PREFIX: &str = "sk-llmserve-";

/// Prefix of the textual form of an [`ApiKeyHash`] (names the algorithm, so it can change later).
pub const HASH_PREFIX: &str = "sha256:";

/// The SHA-256 digest of an API key: the only form in which the server stores a key.
///
/// `Display` / `FromStr` use `sha256:<64 lowercase hex>` (the tenants file format); `Debug` prints
/// only the first 8 hex digits so hashes never end up whole in logs. `PartialEq` is NOT constant
/// time: it is for configuration checks (duplicate keys); authentication uses [`constant_time_eq`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyHash([u8; 32]);

impl ApiKeyHash {
    /// Hashes a key as presented by a client.
    pub fn of_key(key: &str) -> ApiKeyHash {
        ApiKeyHash(Sha256::digest(key.as_bytes()).into())
    }

    /// Wraps a raw digest.
    pub fn from_bytes(bytes: [u8; 32]) -> ApiKeyHash {
        ApiKeyHash(bytes)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality as a `subtle::Choice` (no branch on the result).
    pub(crate) fn ct_eq_choice(&self, other: &ApiKeyHash) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

/// Why a `sha256:<hex>` string is not a key hash. Never echoes the string (it may be a pasted key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyHashError {
    #[error("an API key hash must start with `sha256:` (store the hash `llmserve keys new` prints, never the key itself)")]
    MissingPrefix,
    #[error("an API key hash must have 64 hex digits after `sha256:`, found {found}")]
    WrongLength { found: usize },
    #[error("an API key hash has a non-hex character at hex digit {position} (expected 0-9, a-f)")]
    BadHex { position: usize },
}

impl FromStr for ApiKeyHash {
    type Err = ApiKeyHashError;

    fn from_str(s: &str) -> Result<ApiKeyHash, ApiKeyHashError> {
        let hex = s.strip_prefix(HASH_PREFIX).ok_or(ApiKeyHashError::MissingPrefix)?;
        // Count chars, not bytes, so a multi-byte character is reported sensibly.
        let found = hex.chars().count();
        if found != 64 || hex.len() != 64 {
            return Err(ApiKeyHashError::WrongLength { found });
        }
        let digits = hex.as_bytes();
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let hi = hex_value(digits[2 * i]).ok_or(ApiKeyHashError::BadHex { position: 2 * i })?;
            let lo = hex_value(digits[2 * i + 1]).ok_or(ApiKeyHashError::BadHex { position: 2 * i + 1 })?;
            *byte = (hi << 4) | lo;
        }
        Ok(ApiKeyHash(bytes))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HASH_PREFIX)?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HASH_PREFIX}{:02x}{:02x}{:02x}{:02x}…", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// Makes a new API key: `sk-llmserve-` + 43 characters of URL-safe base64 (no padding) of 32
/// bytes from the operating system's CSPRNG. Returns the key (shown once to the operator) and the
/// hash to put in the tenants file.
pub fn generate_api_key() -> (String, ApiKeyHash) {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let key = format!("{API_KEY_PREFIX}{}", base64_url_no_pad(&secret));
    let hash = ApiKeyHash::of_key(&key);
    (key, hash)
}

/// RFC 4648 §5 base64 ("URL and filename safe" alphabet), without `=` padding.
pub fn base64_url_no_pad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // 1 input byte → 2 output chars, 2 → 3, 3 → 4.
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// Why a request carries no usable bearer token. The messages never echo the header's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("missing `Authorization` header; send `Authorization: Bearer <api key>`")]
    Missing,
    #[error("malformed `Authorization` header; expected exactly one header of the form `Bearer <api key>`")]
    Malformed,
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1): the scheme is case-insensitive,
/// followed by exactly one space and a non-empty token of visible ASCII (no spaces). More than one
/// `Authorization` header is malformed (ambiguous which one to trust).
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(BearerError::Missing)?;
    if values.next().is_some() {
        return Err(BearerError::Malformed);
    }
    let text = value.to_str().map_err(|_| BearerError::Malformed)?;
    let (scheme, token) = text.split_at_checked(7).ok_or(BearerError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer ") {
        return Err(BearerError::Malformed);
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BearerError::Malformed);
    }
    Ok(token)
}

/// Equality of two hashes in time independent of where they differ (via `subtle`).
pub fn constant_time_eq(a: &ApiKeyHash, b: &ApiKeyHash) -> bool {
    a.ct_eq_choice(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hash_display_parse_round_trip() {
        let h = ApiKeyHash::of_key("sk-test");
        let text = h.to_string();
        assert!(text.starts_with("sha256:") && text.len() == 7 + 64, "{text}");
        assert_eq!(text.parse::<ApiKeyHash>(), Ok(h));
        assert_eq!(text.to_uppercase().replace("SHA256:", "sha256:").parse::<ApiKeyHash>(), Ok(h));
        // Known vector: SHA-256("abc").
        assert_eq!(
            ApiKeyHash::of_key("abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_parse_errors_name_the_problem() {
        let good = ApiKeyHash::of_key("k").to_string();
        let hex = &good[7..];
        assert_eq!(hex.parse::<ApiKeyHash>(), Err(ApiKeyHashError::MissingPrefix));
        assert_eq!(format!("sha1:{hex}").parse::<ApiKeyHash>(), Err(ApiKeyHashError::MissingPrefix));
        assert_eq!(format!("sha256:{}", &hex[..63]).parse::<ApiKeyHash>(), Err(ApiKeyHashError::WrongLength { found: 63 }));
        assert_eq!(format!("sha256:{hex}0").parse::<ApiKeyHash>(), Err(ApiKeyHashError::WrongLength { found: 65 }));
        assert_eq!("sha256:".parse::<ApiKeyHash>(), Err(ApiKeyHashError::WrongLength { found: 0 }));
        let bad = format!("sha256:{}g{}", &hex[..10], &hex[11..]);
        assert_eq!(bad.parse::<ApiKeyHash>(), Err(ApiKeyHashError::BadHex { position: 10 }));
        // A multi-byte character: no panic, a length or hex error.
        let multi = format!("sha256:é{}", &hex[2..]);
        assert!(multi.parse::<ApiKeyHash>().is_err());
        let multi = format!("sha256:é{}", &hex[1..]);
        assert!(multi.parse::<ApiKeyHash>().is_err());
        assert!(ApiKeyHashError::WrongLength { found: 63 }.to_string().contains("63"));
    }

    #[test]
    fn debug_shows_only_a_prefix() {
        let h = ApiKeyHash::of_key("abc");
        let debug = format!("{h:?}");
        assert_eq!(debug, "sha256:ba7816bf…");
    }

    #[test]
    fn base64_url_known_vectors() {
        // RFC 4648 §10 (padding removed), plus bytes that use the URL-safe characters.
        let cases: [(&[u8], &str); 9] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
            (&[0xfb, 0xff, 0xbf], "-_-_"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64_url_no_pad(input), expected, "{input:?}");
        }
        assert_eq!(base64_url_no_pad(&[0u8; 32]).len(), 43);
    }

    #[test]
    fn generated_keys_have_the_format_and_differ() {
        let (key, hash) = generate_api_key();
        let body = key.strip_prefix(API_KEY_PREFIX).expect("prefix");
        assert_eq!(body.len(), 43);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{key}");
        assert_eq!(ApiKeyHash::of_key(&key), hash);
        let (other, _) = generate_api_key();
        assert_ne!(key, other);
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).expect("test header"));
        }
        map
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&headers(&["Bearer sk-abc"])), Ok("sk-abc"));
        assert_eq!(bearer_token(&headers(&["bearer sk-abc"])), Ok("sk-abc"));
        assert_eq!(bearer_token(&headers(&["BEARER sk-abc"])), Ok("sk-abc"));
        assert_eq!(bearer_token(&headers(&[])), Err(BearerError::Missing));
        for bad in ["Bearer", "Bearer ", "Bearer  sk-abc", "Bearer sk abc", "Basic dXNlcjpwYXNz", "Bearersk-abc", "sk-abc", "Bearer\tsk"] {
            assert_eq!(bearer_token(&headers(&[bad])), Err(BearerError::Malformed), "{bad:?}");
        }
        assert_eq!(bearer_token(&headers(&["Bearer a", "Bearer b"])), Err(BearerError::Malformed));
        let mut map = HeaderMap::new();
        map.insert(header::AUTHORIZATION, HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("opaque bytes"));
        assert_eq!(bearer_token(&map), Err(BearerError::Malformed));
        assert!(!BearerError::Malformed.to_string().contains("sk-"));
    }

    #[test]
    fn constant_time_eq_compares() {
        let a = ApiKeyHash::of_key("a");
        let b = ApiKeyHash::of_key("b");
        assert!(constant_time_eq(&a, &a));
        assert!(!constant_time_eq(&a, &b));
    }
}
