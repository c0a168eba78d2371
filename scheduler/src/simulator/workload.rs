//! Workloads for the simulator: what arrives when, how long its prompt is and how many tokens it
//! generates, with optional priority, tenant and shared prompt prefix.
//!
//! # File format
//! Either a JSON array of request objects, or JSON Lines (one object per line; blank lines are
//! skipped). The first non-blank character decides: `[` means a JSON array. Fields:
//!
//! | field           | type                          | default | meaning                                     |
//! |-----------------|-------------------------------|---------|---------------------------------------------|
//! | `arrival_time`  | seconds (float ≥ 0)           | 0       | when the request reaches the server         |
//! | `prompt_tokens` | integer ≥ 1                   | —       | prompt length (includes any shared prefix)  |
//! | `output_tokens` | integer ≥ 1                   | —       | tokens generated (EOS is ignored)           |
//! | `priority`      | integer                       | 0       | lower is served first (`priority` policy)   |
//! | `tenant`        | string                        | none    | who is billed (`fair-share`, breakdowns)    |
//! | `shared_prefix` | `{"group": u32, "len": n}`    | none    | first `len` prompt tokens equal those of every other request of `group` |
//!
//! Unknown fields are errors (a typo must not silently fall back to a default). Errors name the
//! line (JSONL, or the JSON parser's line) and the field.
//!
//! # Token ids
//! The scheduler needs real token ids only for prefix caching (block hashes). They are derived
//! deterministically from the seed, the request's index and the position, with a marker token that
//! makes every request's prompt differ from every other's at its first non-shared position: the
//! marker is the request index (high bit clear) after the shared prefix, and every group prefix starts
//! with `0x8000_0000 | group`. So prompts never share a full block unless they belong to the same
//! prefix group, and then they share exactly the blocks inside the common prefix.
//!
//! Complexity: parsing is linear in the file; token materialisation O(prompt tokens).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Largest request index / prefix group that the marker scheme supports (31 bits).
pub const MAX_MARKER: u64 = 0x7fff_ffff;

/// A shared prompt prefix: every request of `group` starts with the same `len` tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedPrefix {
    /// Which prefix (a system prompt, a few-shot template, a document…).
    pub group: u32,
    /// Tokens of the prompt that come from the shared prefix (≤ `prompt_tokens`).
    pub len: usize,
}

/// One request of a workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRequest {
    /// Seconds since the start of the run at which the request arrives.
    #[serde(default)]
    pub arrival_time: f64,
    /// Prompt length in tokens, shared prefix included.
    pub prompt_tokens: usize,
    /// Tokens to generate; the simulated model never emits EOS, so exactly this many are produced
    /// (unless the context length `max_model_len` is reached first).
    pub output_tokens: usize,
    /// Scheduling priority, lower first.
    #[serde(default)]
    pub priority: i32,
    /// Tenant for fair share and per-tenant metrics; `None` is reported as `"default"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Prefix shared with other requests of the same group (exercises the prefix cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_prefix: Option<SharedPrefix>,
}

/// A workload that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read workload file {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("workload {origin}, line {line}: {message}")]
    Parse { origin: String, line: usize, message: String },
    #[error("workload {origin}, request {index}{}: {field} = {value} is invalid: {reason}", line_suffix(*.line))]
    Invalid { origin: String, index: usize, line: Option<usize>, field: &'static str, value: String, reason: String },
    #[error("workload {origin} has no requests")]
    Empty { origin: String },
    #[error("synthetic workload: {parameter} = {value} is invalid: {reason}")]
    Parameter { parameter: &'static str, value: String, reason: String },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

impl WorkloadRequest {
    /// A request arriving at `arrival_time` with default priority, no tenant, no shared prefix.
    pub fn new(arrival_time: f64, prompt_tokens: usize, output_tokens: usize) -> WorkloadRequest {
        WorkloadRequest { arrival_time, prompt_tokens, output_tokens, priority: 0, tenant: None, shared_prefix: None }
    }

    /// The tenant name used in reports (`"default"` for anonymous requests, like the scheduler).
    pub fn tenant_name(&self) -> &str {
        self.tenant.as_deref().unwrap_or("default")
    }

    /// Prompt token ids of the request with position `index` in its workload (see the module docs).
    pub fn prompt_token_ids(&self, index: usize, seed: u64) -> Vec<u32> {
        let mut ids = Vec::with_capacity(self.prompt_tokens);
        let mut unique_start = 0;
        if let Some(prefix) = self.shared_prefix {
            let len = prefix.len.min(self.prompt_tokens);
            for pos in 0..len {
                ids.push(if pos == 0 {
                    0x8000_0000 | (prefix.group & 0x7fff_ffff)
                } else {
                    mix_token(seed, DOMAIN_PREFIX, u64::from(prefix.group), pos as u64)
                });
            }
            unique_start = len;
        }
        for pos in unique_start..self.prompt_tokens {
            ids.push(if pos == unique_start {
                (index as u64 & MAX_MARKER) as u32
            } else {
                mix_token(seed, DOMAIN_PROMPT, index as u64, pos as u64)
            });
        }
        ids
    }
}

/// The dummy token sampled for request `index` as its `position`-th output token. Never an EOS id:
/// simulated requests carry no EOS ids and ignore EOS.
pub fn output_token_id(seed: u64, index: usize, position: usize) -> u32 {
    mix_token(seed, DOMAIN_OUTPUT, index as u64, position as u64)
}

const DOMAIN_PREFIX: u64 = 0x5052_4546_4958; // "PREFIX"
const DOMAIN_PROMPT: u64 = 0x5052_4f4d_5054; // "PROMPT"
const DOMAIN_OUTPUT: u64 = 0x4f55_5450_5554; // "OUTPUT"

/// SplitMix64's finaliser: a bijective 64-bit mixer (Steele, Lea & Flood, 2014).
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn mix_token(seed: u64, domain: u64, a: u64, b: u64) -> u32 {
    let h = splitmix64(seed ^ splitmix64(domain ^ splitmix64(a ^ splitmix64(b))));
    (h >> 32) as u32
}

/// Parses a workload from text (JSON array or JSONL, see the module docs) and validates it.
/// `origin` names the source in errors (a file path, `"<stdin>"`…).
pub fn parse_workload(text: &str, origin: &str) -> Result<Vec<WorkloadRequest>, WorkloadError> {
    let trimmed = text.trim_start();
    let (requests, lines) = if trimmed.starts_with('[') {
        let requests: Vec<WorkloadRequest> = serde_json::from_str(text).map_err(|e| parse_error(origin, 0, &e))?;
        let n = requests.len();
        (requests, vec![None; n])
    } else {
        let mut requests = Vec::new();
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let request: WorkloadRequest = serde_json::from_str(line).map_err(|e| parse_error(origin, i, &e))?;
            requests.push(request);
            lines.push(Some(i + 1));
        }
        (requests, lines)
    };
    validate_workload(&requests, origin, &lines)?;
    Ok(requests)
}

/// Reads and validates a workload file.
pub fn load_workload(path: &Path) -> Result<Vec<WorkloadRequest>, WorkloadError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| WorkloadError::Io { path: origin.clone(), error })?;
    parse_workload(&text, &origin)
}

/// The workload as JSON Lines (the format [`parse_workload`] reads back).
pub fn to_jsonl(requests: &[WorkloadRequest]) -> String {
    let mut out = String::new();
    for r in requests {
        // Serialising plain data with finite floats cannot fail.
        if let Ok(line) = serde_json::to_string(r) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// A serde_json error as a `Parse` error; `line_offset` is added to the parser's 1-based line.
fn parse_error(origin: &str, line_offset: usize, e: &serde_json::Error) -> WorkloadError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    let message = if e.column() > 0 { format!("{message} (column {})", e.column()) } else { message };
    WorkloadError::Parse { origin: origin.to_string(), line: line_offset + e.line(), message }
}

/// Checks every request's values; `lines[i]` is request `i`'s line where known.
pub fn validate_workload(requests: &[WorkloadRequest], origin: &str, lines: &[Option<usize>]) -> Result<(), WorkloadError> {
    if requests.is_empty() {
        return Err(WorkloadError::Empty { origin: origin.to_string() });
    }
    for (index, r) in requests.iter().enumerate() {
        let invalid = |field: &'static str, value: String, reason: &str| WorkloadError::Invalid {
            origin: origin.to_string(),
            index,
            line: lines.get(index).copied().flatten(),
            field,
            value,
            reason: reason.to_string(),
        };
        if index as u64 > MAX_MARKER {
            return Err(invalid("index", index.to_string(), "workloads are limited to 2^31 requests"));
        }
        if !r.arrival_time.is_finite() || r.arrival_time < 0.0 {
            return Err(invalid("arrival_time", r.arrival_time.to_string(), "must be a finite number of seconds ≥ 0"));
        }
        if r.prompt_tokens == 0 {
            return Err(invalid("prompt_tokens", "0".into(), "must be at least 1"));
        }
        if r.output_tokens == 0 {
            return Err(invalid("output_tokens", "0".into(), "must be at least 1 (TTFT needs a first token)"));
        }
        if let Some(prefix) = r.shared_prefix {
            if prefix.len > r.prompt_tokens {
                return Err(invalid(
                    "shared_prefix.len",
                    prefix.len.to_string(),
                    &format!("must not exceed prompt_tokens = {}", r.prompt_tokens),
                ));
            }
            if u64::from(prefix.group) > MAX_MARKER {
                return Err(invalid("shared_prefix.group", prefix.group.to_string(), "must be below 2^31"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_and_json_array_parse_with_defaults() {
        let jsonl = r#"{"arrival_time": 0.5, "prompt_tokens": 10, "output_tokens": 3}

{"prompt_tokens": 20, "output_tokens": 4, "priority": -1, "tenant": "a", "shared_prefix": {"group": 2, "len": 16}}
"#;
        let w = parse_workload(jsonl, "t").unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0], WorkloadRequest::new(0.5, 10, 3));
        assert_eq!(w[1].shared_prefix, Some(SharedPrefix { group: 2, len: 16 }));
        assert_eq!(w[1].tenant_name(), "a");
        let array = format!("[{}]", to_jsonl(&w).trim_end().replace('\n', ","));
        assert_eq!(parse_workload(&array, "t").unwrap(), w);
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let text = "{\"prompt_tokens\": 3, \"output_tokens\": 1}\n\n{\"prompt_tokens\": 3}\n";
        let err = parse_workload(text, "w.jsonl").unwrap_err().to_string();
        assert!(err.contains("w.jsonl, line 3") && err.contains("output_tokens"), "{err}");

        let text = "{\"prompt_tokens\": 3, \"output_tokens\": 1, \"prio\": 2}";
        let err = parse_workload(text, "w").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("prio"), "{err}");

        let text = "{\"prompt_tokens\": 3, \"output_tokens\": 1}\n{\"prompt_tokens\": 4, \"output_tokens\": 1, \"shared_prefix\": {\"group\": 0, \"len\": 9}}";
        let err = parse_workload(text, "w").unwrap_err().to_string();
        assert!(err.contains("request 1 (line 2)") && err.contains("shared_prefix.len = 9"), "{err}");

        let text = "[{\"prompt_tokens\": 3, \"output_tokens\": 1},\n {\"prompt_tokens\": 0, \"output_tokens\": 1}]";
        let err = parse_workload(text, "w").unwrap_err().to_string();
        assert!(err.contains("request 1") && err.contains("prompt_tokens = 0"), "{err}");

        let text = "[{\"prompt_tokens\": 3, \"output_tokens\": 1},\n {\"prompt_tokens\": \"x\"}]";
        let err = parse_workload(text, "w").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("invalid type"), "{err}");

        assert!(matches!(parse_workload("  \n", "w"), Err(WorkloadError::Empty { .. })));
        let err = parse_workload("{\"arrival_time\": -1, \"prompt_tokens\": 3, \"output_tokens\": 1}", "w").unwrap_err();
        assert!(err.to_string().contains("arrival_time = -1"), "{err}");
    }

    #[test]
    fn token_ids_share_exactly_the_group_prefix() {
        let mut a = WorkloadRequest::new(0.0, 40, 1);
        a.shared_prefix = Some(SharedPrefix { group: 7, len: 32 });
        let mut b = a.clone();
        b.prompt_tokens = 50;
        let (ta, tb) = (a.prompt_token_ids(0, 9), b.prompt_token_ids(1, 9));
        assert_eq!(ta.len(), 40);
        assert_eq!(tb.len(), 50);
        assert_eq!(ta[..32], tb[..32]);
        assert_ne!(ta[32], tb[32]);
        // Different groups and ungrouped requests differ at position 0.
        let mut c = a.clone();
        c.shared_prefix = Some(SharedPrefix { group: 8, len: 32 });
        assert_ne!(c.prompt_token_ids(2, 9)[0], ta[0]);
        let plain = WorkloadRequest::new(0.0, 40, 1);
        assert_ne!(plain.prompt_token_ids(0, 9)[0], plain.prompt_token_ids(1, 9)[0]);
        assert_ne!(plain.prompt_token_ids(0, 9)[0], ta[0]);
        // Deterministic for a seed, different across seeds.
        assert_eq!(plain.prompt_token_ids(3, 1), plain.prompt_token_ids(3, 1));
        assert_ne!(plain.prompt_token_ids(3, 1)[1..], plain.prompt_token_ids(3, 2)[1..]);
    }
}
