//! The external moderation hook: the request's input and/or the generated output are POSTed to an
//! OpenAI-compatible `/v1/moderations` endpoint (OpenAI's own, or a self-hosted Llama Guard /
//! ShieldGemma behind the same API) and a `flagged` result is acted on like any other finding.
//!
//! Wire format (OpenAI's moderation API): request `{"input": ["text", …], "model": "…"}`, response
//! `{"results": [{"flagged": bool, "categories": {"name": bool, …}}, …]}` — flagged when any result
//! is. Every call has a timeout; a timeout, a transport error or a non-2xx answer is
//! "unavailable", and the profile's failure mode decides: fail-open lets the text through (counted
//! and logged), fail-closed refuses the request (503) or stops the output.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;

use super::filter::{InputFinding, InputText, SafetyAction, SafetyFilter};

/// Where and how to call the moderation service.
#[derive(Clone, Debug)]
pub struct ModerationConfig {
    /// Full URL of the endpoint (`https://api.openai.com/v1/moderations`).
    pub url: String,
    /// Bearer token sent to it (read from an environment variable named in the profile).
    pub api_key: Option<String>,
    /// `model` field of the request, when the service needs one.
    pub model: Option<String>,
    pub check_input: bool,
    pub check_output: bool,
    pub timeout: Duration,
    /// On failure refuse (true) or let through (false).
    pub fail_closed: bool,
    pub action: SafetyAction,
    /// Streamed output is checked each time this many more characters were generated, and at the
    /// end. Text sent before a flagged check has left the server (documented limit).
    pub output_interval_chars: usize,
}

/// What the service said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModerationVerdict {
    Clean,
    /// Flagged, with the categories the service marked true.
    Flagged(Vec<String>),
}

#[derive(Deserialize)]
struct ModerationResponse {
    results: Vec<ModerationResult>,
}

#[derive(Deserialize)]
struct ModerationResult {
    flagged: bool,
    #[serde(default)]
    categories: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The hook: a configured HTTP client (connection pool shared by every request).
pub struct ModerationHook {
    config: ModerationConfig,
    client: reqwest::Client,
}

impl ModerationHook {
    pub fn new(config: ModerationConfig) -> Result<ModerationHook, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("cannot build the moderation HTTP client: {e}"))?;
        Ok(ModerationHook { config, client })
    }

    pub fn config(&self) -> &ModerationConfig {
        &self.config
    }

    /// Asks the service about `texts`; `Err` says why it could not answer (for logs, never
    /// containing the texts).
    pub async fn moderate(&self, texts: &[&str]) -> Result<ModerationVerdict, String> {
        let mut body = serde_json::json!({ "input": texts });
        if let Some(model) = &self.config.model {
            body["model"] = serde_json::Value::String(model.clone());
        }
        let mut request = self.client.post(&self.config.url).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} ms", self.config.timeout.as_millis())
            } else {
                format!("request failed: {}", e.without_url())
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the service answered HTTP {status}"));
        }
        let parsed: ModerationResponse =
            response.json().await.map_err(|e| format!("unreadable answer: {}", e.without_url()))?;
        if parsed.results.is_empty() {
            return Err("the answer has no results".into());
        }
        let flagged = parsed.results.iter().any(|r| r.flagged);
        if !flagged {
            return Ok(ModerationVerdict::Clean);
        }
        let mut categories: Vec<String> = parsed
            .results
            .iter()
            .flat_map(|r| r.categories.iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k.clone()))
            .collect();
        categories.sort();
        categories.dedup();
        Ok(ModerationVerdict::Flagged(categories))
    }
}

impl SafetyFilter for ModerationHook {
    fn name(&self) -> &'static str {
        "moderation"
    }
    fn action(&self) -> SafetyAction {
        self.config.action
    }
    fn block_code(&self) -> &'static str {
        "content_filter"
    }
    fn check_input<'a>(&'a self, input: &'a [InputText]) -> BoxFuture<'a, InputFinding> {
        Box::pin(async move {
            if !self.config.check_input || input.is_empty() {
                return InputFinding::Clean;
            }
            let texts: Vec<&str> = input.iter().map(|t| t.text.as_str()).collect();
            match self.moderate(&texts).await {
                Ok(ModerationVerdict::Clean) => InputFinding::Clean,
                Ok(ModerationVerdict::Flagged(categories)) => InputFinding::Found {
                    category: categories.first().cloned().unwrap_or_else(|| "flagged".into()),
                    score: None,
                    param: None,
                    message: if categories.is_empty() {
                        "the input was flagged by the moderation service".to_string()
                    } else {
                        format!("the input was flagged by the moderation service ({})", categories.join(", "))
                    },
                },
                Err(reason) => InputFinding::Unavailable(reason),
            }
        })
    }
    fn moderates_output(&self) -> bool {
        self.config.check_output
    }
    fn fails_closed(&self) -> bool {
        self.config.fail_closed
    }
}
