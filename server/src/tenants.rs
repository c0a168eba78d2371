//! Tenants: who may call the API ([`TenantConfig`]), the TOML file that lists them
//! ([`TenantsFile`]), and the immutable lookup the server authenticates against ([`TenantRegistry`]).
//!
//! A tenant is a name, one or more API keys (stored as SHA-256 hashes only, see [`crate::auth`]),
//! optional per-minute limits (enforced by [`crate::rate_limit`]), a scheduler priority, the models
//! it may use and the safety profile its requests are filtered with. The limit names follow
//! OpenAI's per-organization limits (requests / tokens per minute); the concurrency cap follows
//! TGI's `max_concurrent_requests`. vLLM and TGI have no tenants or per-key limits at all (vLLM has a
//! single shared `--api-key`, TGI none), so there is nothing there to copy.
//!
//! The registry is a snapshot: the server swaps a new one in wholesale when the file is reloaded,
//! so a request sees one consistent configuration. Authentication hashes the presented token once
//! and compares it with every stored hash in constant time (O(keys), no early exit).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use subtle::ConditionallySelectable;

use crate::auth::{ApiKeyHash, ApiKeyHashError};

/// Name of the tenant [`TenantRegistry::single_key`] makes and of the default safety profile.
pub const DEFAULT_NAME: &str = "default";

/// Longest tenant name (names appear in metrics labels and log lines).
pub const MAX_TENANT_NAME_LEN: usize = 64;

/// One tenant as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    /// Unique; `[A-Za-z0-9_.-]{1,64}`. The only identity that appears in logs, metrics and errors.
    pub name: String,
    /// Hashes of the tenant's keys (several, so a key can be rotated without downtime).
    pub api_key_hashes: Vec<ApiKeyHash>,
    /// Requests admitted per minute; `None` = unlimited.
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute (prompt + `max_tokens` reserved at admission, reconciled at the end).
    pub tokens_per_minute: Option<u64>,
    /// Requests of this tenant in flight at once.
    pub max_concurrent_requests: Option<u32>,
    /// Scheduler priority: lower runs first (fed to the priority / fair-share policies).
    pub priority: i32,
    /// Served-model names this tenant may use; `"*"` means all.
    pub allowed_models: Vec<String>,
    /// Safety profile name (one from the file's `[safety_profiles]` or a built-in one).
    pub safety_profile: String,
}

impl TenantConfig {
    /// Whether this tenant may use the served model `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.iter().any(|m| m == "*" || m == model)
    }
}

/// What is wrong with a tenants file or tenant list. Every variant names the origin (the file's
/// path) and, where it applies, the tenant and field; none ever contains a key or a whole hash.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    #[error("{origin}: cannot read the tenants file: {source}")]
    Read { origin: String, source: std::io::Error },
    #[error("{origin}{}: {message}", location(.line, .column))]
    Syntax { origin: String, line: Option<usize>, column: Option<usize>, message: String },
    #[error("{origin}: no tenants are configured; add at least one [[tenants]] table")]
    NoTenants { origin: String },
    #[error("{origin}: tenant name {name:?} is invalid: {reason}")]
    BadName { origin: String, name: String, reason: &'static str },
    #[error("{origin}: tenant `{name}` is defined twice; tenant names must be unique")]
    DuplicateName { origin: String, name: String },
    #[error("{origin}: tenant `{tenant}` has no API keys; list at least one hash in `api_keys`")]
    NoKeys { origin: String, tenant: String },
    #[error("{origin}: tenant `{tenant}`, api_keys[{index}]: {source}")]
    BadKey { origin: String, tenant: String, index: usize, source: ApiKeyHashError },
    #[error("{origin}: the same API key hash ({hash:?}) is listed for tenant `{first}` and tenant `{second}`; a key must identify one tenant")]
    DuplicateKey { origin: String, hash: ApiKeyHash, first: String, second: String },
    #[error("{origin}: tenant `{tenant}`: `{field}` must be greater than 0 (leave it out for no limit)")]
    ZeroLimit { origin: String, tenant: String, field: &'static str },
    #[error("{origin}: tenant `{tenant}`: `{field}` {reason}")]
    InvalidField { origin: String, tenant: String, field: &'static str, reason: &'static str },
}

fn location(line: &Option<usize>, column: &Option<usize>) -> String {
    match (*line, *column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// The tenants file (TOML). See the module documentation and [`TenantsFile::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct TenantsFile {
    /// Whether `GET /metrics` also needs an API key (default false).
    pub protect_metrics: bool,
    pub tenants: Vec<TenantConfig>,
    /// `[safety_profiles.<name>]` tables, opaque here (the safety module parses them).
    pub safety_profiles: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    protect_metrics: bool,
    #[serde(default)]
    tenants: Vec<RawTenant>,
    #[serde(default)]
    safety_profiles: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: String,
    #[serde(default)]
    api_keys: Vec<String>,
    requests_per_minute: Option<u32>,
    tokens_per_minute: Option<u64>,
    max_concurrent_requests: Option<u32>,
    #[serde(default)]
    priority: i32,
    allowed_models: Option<Vec<String>>,
    safety_profile: Option<String>,
}

impl TenantsFile {
    /// Parses and validates the text of a tenants file; `origin` (usually the path) prefixes every
    /// error. Unknown fields, bad names, duplicate names or keys, tenants without keys and zero
    /// limits are errors.
    pub fn parse(text: &str, origin: &str) -> Result<TenantsFile, TenantsError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_column(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            TenantsError::Syntax { origin: origin.to_string(), line, column, message: e.message().trim().to_string() }
        })?;
        let mut tenants = Vec::with_capacity(raw.tenants.len());
        for t in raw.tenants {
            let mut api_key_hashes = Vec::with_capacity(t.api_keys.len());
            for (index, key) in t.api_keys.iter().enumerate() {
                let hash = key.parse::<ApiKeyHash>().map_err(|source| TenantsError::BadKey {
                    origin: origin.to_string(),
                    tenant: t.name.clone(),
                    index,
                    source,
                })?;
                api_key_hashes.push(hash);
            }
            tenants.push(TenantConfig {
                name: t.name,
                api_key_hashes,
                requests_per_minute: t.requests_per_minute,
                tokens_per_minute: t.tokens_per_minute,
                max_concurrent_requests: t.max_concurrent_requests,
                priority: t.priority,
                allowed_models: t.allowed_models.unwrap_or_else(|| vec!["*".to_string()]),
                safety_profile: t.safety_profile.unwrap_or_else(|| DEFAULT_NAME.to_string()),
            });
        }
        validate_tenants(&tenants, origin)?;
        Ok(TenantsFile { protect_metrics: raw.protect_metrics, tenants, safety_profiles: raw.safety_profiles })
    }

    /// Reads and parses the tenants file at `path` (errors name the path).
    pub fn load(path: &Path) -> Result<TenantsFile, TenantsError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TenantsError::Read { origin: origin.clone(), source })?;
        TenantsFile::parse(&text, &origin)
    }

    /// The registry of this file's tenants.
    pub fn registry(&self) -> Result<TenantRegistry, TenantsError> {
        TenantRegistry::from_tenants(self.tenants.clone())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_TENANT_NAME_LEN {
        Some("it is longer than 64 characters")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        Some("only ASCII letters, digits, `_`, `.` and `-` are allowed")
    } else {
        None
    }
}

/// Every rule a tenant list must satisfy (shared by the file parser and [`TenantRegistry`]).
fn validate_tenants(tenants: &[TenantConfig], origin: &str) -> Result<(), TenantsError> {
    let origin_s = || origin.to_string();
    if tenants.is_empty() {
        return Err(TenantsError::NoTenants { origin: origin_s() });
    }
    let mut names = HashSet::with_capacity(tenants.len());
    let mut key_owner: HashMap<ApiKeyHash, &str> = HashMap::new();
    for t in tenants {
        if let Some(reason) = name_problem(&t.name) {
            return Err(TenantsError::BadName { origin: origin_s(), name: t.name.clone(), reason });
        }
        if !names.insert(t.name.as_str()) {
            return Err(TenantsError::DuplicateName { origin: origin_s(), name: t.name.clone() });
        }
        if t.api_key_hashes.is_empty() {
            return Err(TenantsError::NoKeys { origin: origin_s(), tenant: t.name.clone() });
        }
        for hash in &t.api_key_hashes {
            if let Some(first) = key_owner.insert(*hash, &t.name) {
                return Err(TenantsError::DuplicateKey {
                    origin: origin_s(),
                    hash: *hash,
                    first: first.to_string(),
                    second: t.name.clone(),
                });
            }
        }
        let zero = |field| TenantsError::ZeroLimit { origin: origin_s(), tenant: t.name.clone(), field };
        if t.requests_per_minute == Some(0) {
            return Err(zero("requests_per_minute"));
        }
        if t.tokens_per_minute == Some(0) {
            return Err(zero("tokens_per_minute"));
        }
        if t.max_concurrent_requests == Some(0) {
            return Err(zero("max_concurrent_requests"));
        }
        let invalid = |field, reason| TenantsError::InvalidField { origin: origin_s(), tenant: t.name.clone(), field, reason };
        if t.allowed_models.is_empty() {
            return Err(invalid("allowed_models", "is empty, so the tenant could use no model; use [\"*\"] for all"));
        }
        if t.allowed_models.iter().any(|m| m.is_empty()) {
            return Err(invalid("allowed_models", "contains an empty model name"));
        }
        if t.safety_profile.is_empty() {
            return Err(invalid("safety_profile", "is empty; leave it out for the default profile"));
        }
    }
    Ok(())
}

/// The tenants the server authenticates against: an immutable snapshot, replaced wholesale when
/// the tenants file is reloaded.
#[derive(Debug, Clone)]
pub struct TenantRegistry {
    /// In file order.
    tenants: Vec<Arc<TenantConfig>>,
    /// Name → index into `tenants`.
    by_name: HashMap<String, usize>,
    /// Every key hash with the index of its tenant; scanned whole on each authentication.
    keys: Vec<(ApiKeyHash, usize)>,
}

impl TenantRegistry {
    /// Validates `tenants` (same rules as the file) and indexes them.
    pub fn from_tenants(tenants: Vec<TenantConfig>) -> Result<TenantRegistry, TenantsError> {
        validate_tenants(&tenants, "tenant list")?;
        Ok(TenantRegistry::index(tenants))
    }

    fn index(tenants: Vec<TenantConfig>) -> TenantRegistry {
        let tenants: Vec<Arc<TenantConfig>> = tenants.into_iter().map(Arc::new).collect();
        let by_name = tenants.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        let keys = tenants.iter().enumerate().flat_map(|(i, t)| t.api_key_hashes.iter().map(move |h| (*h, i))).collect();
        TenantRegistry { tenants, by_name, keys }
    }

    /// One tenant named `default` with the single key `key`: no limits, every model, the default
    /// safety profile (the `--api-key` mode).
    pub fn single_key(key: &str) -> TenantRegistry {
        TenantRegistry::index(vec![TenantConfig {
            name: DEFAULT_NAME.to_string(),
            api_key_hashes: vec![ApiKeyHash::of_key(key)],
            requests_per_minute: None,
            tokens_per_minute: None,
            max_concurrent_requests: None,
            priority: 0,
            allowed_models: vec!["*".to_string()],
            safety_profile: DEFAULT_NAME.to_string(),
        }])
    }

    /// The tenant owning `token`, or `None`. The token is hashed once and compared with EVERY
    /// stored hash in constant time, selecting the match without a branch, so the time taken does
    /// not depend on which key matched or whether any did.
    pub fn authenticate(&self, token: &str) -> Option<Arc<TenantConfig>> {
        let presented = ApiKeyHash::of_key(token);
        const NONE: u64 = u64::MAX;
        let mut found = NONE;
        for (hash, index) in &self.keys {
            let candidate = *index as u64;
            found = u64::conditional_select(&found, &candidate, hash.ct_eq_choice(&presented));
        }
        if found == NONE {
            return None;
        }
        usize::try_from(found).ok().and_then(|i| self.tenants.get(i)).cloned()
    }

    /// The tenant named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<TenantConfig>> {
        self.by_name.get(name).and_then(|&i| self.tenants.get(i)).cloned()
    }

    /// Every tenant, in configuration order.
    pub fn tenants(&self) -> impl Iterator<Item = &Arc<TenantConfig>> {
        self.tenants.iter()
    }

    /// Number of tenants.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Whether there are no tenants (never true for a validated registry).
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(key: &str) -> String {
        ApiKeyHash::of_key(key).to_string()
    }

    fn example() -> String {
        format!(
            r#"
# optional: require an API key for GET /metrics too (default false)
protect_metrics = true

[[tenants]]
name = "acme"
api_keys = ["{}", "{}"]
requests_per_minute = 600
tokens_per_minute = 200000
max_concurrent_requests = 32
priority = 0
allowed_models = ["*"]
safety_profile = "strict"

[[tenants]]
name = "beta.team-1"
api_keys = ["{}"]
priority = 5
allowed_models = ["smollm2"]

[safety_profiles.strict]
block_categories = ["violence"]
[safety_profiles.strict.pii]
redact = true
"#,
            hash("acme-1"),
            hash("acme-2"),
            hash("beta")
        )
    }

    fn tenant(name: &str, keys: &[&str]) -> TenantConfig {
        TenantConfig {
            name: name.to_string(),
            api_key_hashes: keys.iter().map(|k| ApiKeyHash::of_key(k)).collect(),
            requests_per_minute: None,
            tokens_per_minute: None,
            max_concurrent_requests: None,
            priority: 0,
            allowed_models: vec!["*".to_string()],
            safety_profile: "default".to_string(),
        }
    }

    #[test]
    fn the_example_parses() {
        let file = TenantsFile::parse(&example(), "tenants.toml").expect("example parses");
        assert!(file.protect_metrics);
        assert_eq!(file.tenants.len(), 2);
        let acme = &file.tenants[0];
        assert_eq!(acme.name, "acme");
        assert_eq!(acme.api_key_hashes, vec![ApiKeyHash::of_key("acme-1"), ApiKeyHash::of_key("acme-2")]);
        assert_eq!((acme.requests_per_minute, acme.tokens_per_minute, acme.max_concurrent_requests), (Some(600), Some(200_000), Some(32)));
        assert_eq!(acme.safety_profile, "strict");
        assert!(acme.allows_model("anything"));
        let beta = &file.tenants[1];
        assert_eq!((beta.requests_per_minute, beta.tokens_per_minute, beta.max_concurrent_requests), (None, None, None));
        assert_eq!(beta.priority, 5);
        assert_eq!(beta.safety_profile, "default");
        assert!(beta.allows_model("smollm2") && !beta.allows_model("llama"));
        let strict = &file.safety_profiles["strict"];
        assert!(strict.contains_key("block_categories") && strict.contains_key("pii"));
        let registry = file.registry().expect("registry");
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn defaults_when_fields_are_absent() {
        let text = format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{}\"]\n", hash("k"));
        let file = TenantsFile::parse(&text, "t.toml").expect("parses");
        assert!(!file.protect_metrics);
        assert!(file.safety_profiles.is_empty());
        assert_eq!(file.tenants[0].allowed_models, vec!["*"]);
        assert_eq!(file.tenants[0].priority, 0);
    }

    fn parse_err(text: &str) -> String {
        match TenantsFile::parse(text, "conf/tenants.toml") {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => {
                let m = e.to_string();
                assert!(m.starts_with("conf/tenants.toml"), "origin missing: {m}");
                m
            }
        }
    }

    #[test]
    fn validation_errors_name_the_problem() {
        let k = hash("k");
        let k2 = hash("k2");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\nrate = 5\n"));
        assert!(m.contains("unknown field") && m.contains("`rate`") && m.contains(":4:"), "{m}");
        let m = parse_err(&format!("protect = true\n[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\n"));
        assert!(m.contains("`protect`") && m.contains(":1:"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\n[[tenants]]\nname = \"a\"\napi_keys = [\"{k2}\"]\n"));
        assert!(m.contains("`a`") && m.contains("defined twice"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\n[[tenants]]\nname = \"b\"\napi_keys = [\"{k2}\", \"{k}\"]\n"));
        assert!(m.contains("`a`") && m.contains("`b`") && m.contains("same API key"), "{m}");
        assert!(!m.contains(&k[7..]), "whole hash leaked: {m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\ntokens_per_minute = 0\n"));
        assert!(m.contains("`a`") && m.contains("tokens_per_minute") && m.contains("greater than 0"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\nrequests_per_minute = 0\n"));
        assert!(m.contains("requests_per_minute"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\nmax_concurrent_requests = 0\n"));
        assert!(m.contains("max_concurrent_requests"), "{m}");
        let m = parse_err("[[tenants]]\nname = \"a\"\napi_keys = []\n");
        assert!(m.contains("`a`") && m.contains("no API keys"), "{m}");
        let m = parse_err("[[tenants]]\nname = \"a\"\n");
        assert!(m.contains("no API keys"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a b\"\napi_keys = [\"{k}\"]\n"));
        assert!(m.contains("\"a b\"") && m.contains("letters"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"\"\napi_keys = [\"{k}\"]\n"));
        assert!(m.contains("empty"), "{m}");
        let long = "x".repeat(65);
        let m = parse_err(&format!("[[tenants]]\nname = \"{long}\"\napi_keys = [\"{k}\"]\n"));
        assert!(m.contains("64"), "{m}");
        let m = parse_err("protect_metrics = true\n");
        assert!(m.contains("no tenants"), "{m}");
        let m = parse_err("[[tenants]]\nname = \"a\"\napi_keys = [\"sk-llmserve-oops\"]\n");
        assert!(m.contains("`a`") && m.contains("api_keys[0]") && m.contains("sha256:") && !m.contains("oops"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\nallowed_models = []\n"));
        assert!(m.contains("allowed_models"), "{m}");
        let m = parse_err(&format!("[[tenants]]\nname = \"a\"\napi_keys = [\"{k}\"]\nrequests_per_minute = -5\n"));
        assert!(m.contains(":4:"), "{m}");
        let m = parse_err("[[tenants]\n");
        assert!(m.contains(":1:"), "{m}");
    }

    #[test]
    fn load_names_the_path() {
        let e = TenantsFile::load(Path::new("/nonexistent/llmserve-tenants.toml")).expect_err("missing file");
        assert!(e.to_string().contains("/nonexistent/llmserve-tenants.toml"), "{e}");
    }

    #[test]
    fn authenticate_finds_the_right_tenant() {
        let registry = TenantRegistry::from_tenants(vec![
            tenant("a", &["a1", "a2"]),
            tenant("b", &["b1"]),
            tenant("c", &["c1", "c2", "c3"]),
        ])
        .expect("valid");
        for (key, name) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("c1", "c"), ("c3", "c")] {
            assert_eq!(registry.authenticate(key).map(|t| t.name.clone()).as_deref(), Some(name), "{key}");
        }
        for wrong in ["", "a", "a3", "B1", "c1 "] {
            assert!(registry.authenticate(wrong).is_none(), "{wrong:?}");
        }
        assert_eq!(registry.get("b").map(|t| t.name.clone()).as_deref(), Some("b"));
        assert!(registry.get("z").is_none());
        assert_eq!(registry.tenants().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(registry.len(), 3);
    }

    #[test]
    fn registry_validates_like_the_file() {
        assert!(matches!(TenantRegistry::from_tenants(vec![]), Err(TenantsError::NoTenants { .. })));
        let e = TenantRegistry::from_tenants(vec![tenant("a", &["k"]), tenant("b", &["k"])]).expect_err("dup key");
        assert!(matches!(&e, TenantsError::DuplicateKey { first, second, .. } if first == "a" && second == "b"), "{e}");
        let mut t = tenant("a", &["k"]);
        t.requests_per_minute = Some(0);
        assert!(matches!(TenantRegistry::from_tenants(vec![t]), Err(TenantsError::ZeroLimit { field: "requests_per_minute", .. })));
    }

    #[test]
    fn single_key_and_generated_keys_authenticate() {
        let registry = TenantRegistry::single_key("secret");
        let t = registry.authenticate("secret").expect("authenticates");
        assert_eq!(t.name, "default");
        assert_eq!((t.requests_per_minute, t.tokens_per_minute, t.max_concurrent_requests), (None, None, None));
        assert!(t.allows_model("any"));
        assert!(registry.authenticate("Secret").is_none());

        let (key, key_hash) = crate::auth::generate_api_key();
        let text = format!("[[tenants]]\nname = \"gen\"\napi_keys = [\"{key_hash}\"]\n");
        let registry = TenantsFile::parse(&text, "t.toml").and_then(|f| f.registry()).expect("valid");
        assert_eq!(registry.authenticate(&key).map(|t| t.name.clone()).as_deref(), Some("gen"));
    }
}
