//! Safety profiles: a named, ordered chain of filters with their actions, chosen per tenant. The
//! built-in profiles (`default`, `strict`, `off`) need no configuration; a tenants file may define
//! more (or redefine these) under `[safety_profiles.NAME]`:
//!
//! ```toml
//! [safety_profiles.strict]
//! log_content = false                      # log offending text in safety events (default false)
//! order = ["input_limits", "injection", "sensitive_words", "moderation", "pii"]   # optional
//! input_limits = { max_messages = 100, max_characters = 50000, control_characters = true }
//! injection = { action = "block", flag_threshold = 0.5, block_threshold = 0.8 }
//! pii = { action = "redact", kinds = ["email", "phone", "ssn", "payment_card", "ipv4", "ipv6", "iban"] }
//! sensitive_words = { action = "redact", files = ["words/en.txt", "words/zh.txt"], input = false, output = true }
//! moderation = { url = "http://127.0.0.1:9000/v1/moderations", api_key_env = "MODERATION_KEY", input = true,
//!                output = false, timeout_ms = 2000, on_error = "fail_open", action = "block" }
//! ```
//! A section present enables its filter; `input_limits` is always in the chain (defaults 100
//! messages, 50,000 characters) unless the profile sets `input_limits = false`. Relative word-list
//! paths are resolved against the tenants file's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::filter::{SafetyAction, SafetyFilter};
use super::filters::{InjectionFilter, SpanFilter};
use super::input_limits::{InputLimits, InputLimitsFilter};
use super::moderation::{ModerationConfig, ModerationHook};
use super::pii::{PiiDetector, PiiKind};
use super::words::SensitiveWords;

/// A compiled profile: filters in the order they run.
pub struct SafetyProfile {
    pub name: String,
    /// Whether safety log events may include the offending text (default: never).
    pub log_content: bool,
    pub filters: Vec<Arc<dyn SafetyFilter>>,
    /// The moderation hook, when it also checks output (called by the generation, asynchronously).
    pub output_moderation: Option<Arc<ModerationHook>>,
}

impl std::fmt::Debug for SafetyProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.filters.iter().map(|x| x.name()).collect();
        f.debug_struct("SafetyProfile").field("name", &self.name).field("filters", &names).finish()
    }
}

impl SafetyProfile {
    /// Whether any filter changes or cuts generated text (then logprobs, which would show the raw
    /// tokens, are refused).
    pub fn alters_output(&self) -> bool {
        self.filters.iter().any(|f| {
            (f.output_filter().is_some() || f.moderates_output()) && matches!(f.action(), SafetyAction::Block | SafetyAction::Redact)
        })
    }

    /// Whether any filter looks at output.
    pub fn inspects_output(&self) -> bool {
        self.filters.iter().any(|f| f.output_filter().is_some() || f.moderates_output())
    }
}

/// Why a profile could not be built.
#[derive(Debug, thiserror::Error)]
#[error("safety profile `{profile}`: {reason}")]
pub struct ProfileError {
    pub profile: String,
    pub reason: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProfileSpec {
    #[serde(default)]
    log_content: bool,
    order: Option<Vec<String>>,
    input_limits: Option<InputLimitsSetting>,
    injection: Option<InjectionSpec>,
    pii: Option<PiiSpec>,
    sensitive_words: Option<WordsSpec>,
    moderation: Option<ModerationSpec>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum InputLimitsSetting {
    Enabled(bool),
    Limits(InputLimitsSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputLimitsSpec {
    max_messages: Option<usize>,
    max_characters: Option<usize>,
    control_characters: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InjectionSpec {
    action: Option<String>,
    flag_threshold: Option<f32>,
    block_threshold: Option<f32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PiiSpec {
    action: Option<String>,
    kinds: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WordsSpec {
    action: Option<String>,
    files: Vec<PathBuf>,
    input: Option<bool>,
    output: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModerationSpec {
    url: String,
    api_key_env: Option<String>,
    model: Option<String>,
    input: Option<bool>,
    output: Option<bool>,
    timeout_ms: Option<u64>,
    on_error: Option<String>,
    action: Option<String>,
    output_interval_chars: Option<usize>,
}

/// Filter names in their default order.
const DEFAULT_ORDER: &[&str] = &["input_limits", "injection", "sensitive_words", "moderation", "pii"];

/// Names of the built-in profiles.
pub const BUILTIN_PROFILES: &[&str] = &["default", "strict", "off"];

fn action(profile: &str, filter: &str, value: Option<&str>, default: SafetyAction, allowed: &[SafetyAction]) -> Result<SafetyAction, ProfileError> {
    let chosen = match value {
        None => default,
        Some(v) => v.parse().map_err(|e: String| ProfileError { profile: profile.into(), reason: format!("{filter}.action: {e}") })?,
    };
    if !allowed.contains(&chosen) {
        let names: Vec<&str> = allowed.iter().map(SafetyAction::as_str).collect();
        return Err(ProfileError { profile: profile.into(), reason: format!("{filter}.action `{chosen}` is not one of {}", names.join(", ")) });
    }
    Ok(chosen)
}

/// The built-in profile `name`: `default` = input limits + injection flagged; `strict` = input
/// limits + injection blocked + every PII kind redacted in output; `off` = no filter.
pub fn builtin(name: &str) -> Option<SafetyProfile> {
    let injection = |action| -> Arc<dyn SafetyFilter> { Arc::new(InjectionFilter::new(action, None, None)) };
    let limits = || -> Arc<dyn SafetyFilter> { Arc::new(InputLimitsFilter(InputLimits::default())) };
    let filters: Vec<Arc<dyn SafetyFilter>> = match name {
        "default" => vec![limits(), injection(SafetyAction::Flag)],
        "strict" => vec![
            limits(),
            injection(SafetyAction::Block),
            Arc::new(SpanFilter::pii(PiiDetector::all(), SafetyAction::Redact)),
        ],
        "off" => Vec::new(),
        _ => return None,
    };
    Some(SafetyProfile { name: name.to_string(), log_content: false, filters, output_moderation: None })
}

/// Builds the profile `name` from its TOML table; relative paths resolve against `base_dir`.
pub fn compile(name: &str, table: &toml::Table, base_dir: &Path) -> Result<SafetyProfile, ProfileError> {
    let err = |reason: String| ProfileError { profile: name.to_string(), reason };
    let spec: ProfileSpec = toml::Value::Table(table.clone()).try_into().map_err(|e: toml::de::Error| err(e.message().to_string()))?;
    let order: Vec<String> = match &spec.order {
        Some(order) => {
            for f in order {
                if !DEFAULT_ORDER.contains(&f.as_str()) {
                    return Err(err(format!("order: unknown filter `{f}`; filters are {}", DEFAULT_ORDER.join(", "))));
                }
            }
            order.clone()
        }
        None => DEFAULT_ORDER.iter().map(|s| s.to_string()).collect(),
    };
    let all = [SafetyAction::Block, SafetyAction::Redact, SafetyAction::Flag, SafetyAction::Allow];
    let input_only = [SafetyAction::Block, SafetyAction::Flag, SafetyAction::Allow];
    let mut built: BTreeMap<&str, Arc<dyn SafetyFilter>> = BTreeMap::new();
    let limits = match &spec.input_limits {
        Some(InputLimitsSetting::Enabled(false)) => None,
        None | Some(InputLimitsSetting::Enabled(true)) => Some(InputLimits::default()),
        Some(InputLimitsSetting::Limits(l)) => {
            let d = InputLimits::default();
            let limits = InputLimits {
                max_messages: l.max_messages.unwrap_or(d.max_messages),
                max_characters: l.max_characters.unwrap_or(d.max_characters),
                reject_control_characters: l.control_characters.unwrap_or(d.reject_control_characters),
            };
            if limits.max_messages == 0 || limits.max_characters == 0 {
                return Err(err("input_limits: max_messages and max_characters must be at least 1".into()));
            }
            Some(limits)
        }
    };
    if let Some(limits) = limits {
        built.insert("input_limits", Arc::new(InputLimitsFilter(limits)));
    }
    if let Some(i) = &spec.injection {
        let a = action(name, "injection", i.action.as_deref(), SafetyAction::Flag, &input_only)?;
        for (what, t) in [("flag_threshold", i.flag_threshold), ("block_threshold", i.block_threshold)] {
            if let Some(t) = t {
                if !(0.0..=1.0).contains(&t) {
                    return Err(err(format!("injection.{what} = {t} is outside 0..=1")));
                }
            }
        }
        built.insert("injection", Arc::new(InjectionFilter::new(a, i.flag_threshold, i.block_threshold)));
    }
    if let Some(p) = &spec.pii {
        let a = action(name, "pii", p.action.as_deref(), SafetyAction::Redact, &all)?;
        let kinds = match &p.kinds {
            None => PiiKind::ALL.to_vec(),
            Some(ks) => ks
                .iter()
                .map(|k| k.parse::<PiiKind>().map_err(|_| err(format!("pii.kinds: unknown kind `{k}`"))))
                .collect::<Result<Vec<_>, _>>()?,
        };
        built.insert("pii", Arc::new(SpanFilter::pii(PiiDetector::new(&kinds), a)));
    }
    if let Some(w) = &spec.sensitive_words {
        let a = action(name, "sensitive_words", w.action.as_deref(), SafetyAction::Redact, &all)?;
        let files: Vec<PathBuf> = w.files.iter().map(|f| if f.is_absolute() { f.clone() } else { base_dir.join(f) }).collect();
        let words = SensitiveWords::from_files(&files).map_err(|e| err(format!("sensitive_words: {e}")))?;
        let (input, output) = (w.input.unwrap_or(false), w.output.unwrap_or(true));
        if a == SafetyAction::Redact && input && !output {
            return Err(err("sensitive_words: action `redact` applies to output; set output = true or use block/flag for input".into()));
        }
        built.insert("sensitive_words", Arc::new(SpanFilter::words(words, a, input, output)));
    }
    let mut output_moderation = None;
    if let Some(m) = &spec.moderation {
        let a = action(name, "moderation", m.action.as_deref(), SafetyAction::Block, &input_only)?;
        let fail_closed = match m.on_error.as_deref().unwrap_or("fail_open") {
            "fail_open" => false,
            "fail_closed" => true,
            other => return Err(err(format!("moderation.on_error `{other}`: expected fail_open or fail_closed"))),
        };
        let api_key = match &m.api_key_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|_| err(format!("moderation.api_key_env: environment variable `{var}` is not set")))?),
        };
        if !(m.url.starts_with("http://") || m.url.starts_with("https://")) {
            return Err(err(format!("moderation.url `{}` must start with http:// or https://", m.url)));
        }
        let config = ModerationConfig {
            url: m.url.clone(),
            api_key,
            model: m.model.clone(),
            check_input: m.input.unwrap_or(true),
            check_output: m.output.unwrap_or(false),
            timeout: Duration::from_millis(m.timeout_ms.unwrap_or(2000).max(1)),
            fail_closed,
            action: a,
            output_interval_chars: m.output_interval_chars.unwrap_or(512).max(1),
        };
        let hook = Arc::new(ModerationHook::new(config).map_err(err)?);
        if hook.config().check_output {
            output_moderation = Some(Arc::clone(&hook));
        }
        built.insert("moderation", hook);
    }
    let mut filters = Vec::with_capacity(built.len());
    for f in &order {
        if let Some(filter) = built.remove(f.as_str()) {
            filters.push(filter);
        }
    }
    // Filters configured but left out of an explicit order still run, last, in the default order.
    for f in DEFAULT_ORDER {
        if let Some(filter) = built.remove(f) {
            filters.push(filter);
        }
    }
    Ok(SafetyProfile { name: name.to_string(), log_content: spec.log_content, filters, output_moderation })
}

/// Every profile a tenants file can name: the built-ins, overridden or extended by `tables`.
pub fn compile_all(tables: &BTreeMap<String, toml::Table>, base_dir: &Path) -> Result<BTreeMap<String, Arc<SafetyProfile>>, ProfileError> {
    let mut profiles = BTreeMap::new();
    for name in BUILTIN_PROFILES {
        if let Some(p) = builtin(name) {
            profiles.insert(name.to_string(), Arc::new(p));
        }
    }
    for (name, table) in tables {
        profiles.insert(name.clone(), Arc::new(compile(name, table, base_dir)?));
    }
    Ok(profiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    fn names(p: &SafetyProfile) -> Vec<&'static str> {
        p.filters.iter().map(|f| f.name()).collect()
    }

    #[test]
    fn builtins() {
        assert_eq!(names(&builtin("default").unwrap()), vec!["input_limits", "injection"]);
        let strict = builtin("strict").unwrap();
        assert_eq!(names(&strict), vec!["input_limits", "injection", "pii"]);
        assert!(strict.alters_output());
        assert!(!builtin("default").unwrap().alters_output());
        assert!(builtin("off").unwrap().filters.is_empty());
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn configured_profile_in_order() {
        let p = compile(
            "p",
            &table("order = [\"pii\", \"injection\"]\ninjection = { action = \"block\" }\npii = { kinds = [\"email\"], action = \"flag\" }\ninput_limits = { max_messages = 3 }"),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(names(&p), vec!["pii", "injection", "input_limits"]);
        assert!(!p.alters_output());
    }

    #[test]
    fn bad_profiles_say_why() {
        let e = |t: &str| compile("p", &table(t), Path::new(".")).unwrap_err().to_string();
        assert!(e("injection = { action = \"redact\" }").contains("injection.action `redact`"), "{}", e("injection = { action = \"redact\" }"));
        assert!(e("pii = { kinds = [\"dna\"] }").contains("unknown kind `dna`"));
        assert!(e("bogus = 1").contains("bogus"));
        assert!(e("order = [\"x\"]").contains("unknown filter `x`"));
        assert!(e("moderation = { url = \"ftp://x\" }").contains("http://"));
        assert!(e("moderation = { url = \"http://x\", on_error = \"maybe\" }").contains("fail_open"));
        assert!(e("injection = { block_threshold = 2.0 }").contains("outside"));
        assert!(e("sensitive_words = { files = [\"/nonexistent/words.txt\"] }").contains("sensitive_words"));
        assert!(e("input_limits = { max_messages = 0 }").contains("at least 1"));
    }
}
