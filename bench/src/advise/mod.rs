//! `llmserve advise`: the deployment cost advisor. From a measured throughput (a bench result, or an
//! output tokens/s figure) of ONE deployment, GPU and API prices, the daily volume and token mix, the
//! data's sensitivity and compliance needs and latency targets, it computes the cost per 1M tokens
//! self-hosted and on the API, the monthly cost of each (and of a hybrid: a base-load fleet with API
//! overflow), the break-even volume, and a recommendation (self-host / API / hybrid) with its reasons.
//!
//! - [`args`]: the flags → validated [`inputs`] ([`error`] names a bad flag and its range).
//! - [`model`]: every formula and constant (capacity scaling by token-equivalents, replicas, costs,
//!   break-even, overflow); [`rules`]: the four ordered recommendation rules; [`latency`]: targets vs
//!   the bench's p99; [`report`]: [`advise`] puts it together; [`render`]: the text table.
//!
//! All of it is O(1) arithmetic. `docs/cost-advisor.md` states every formula, rule and threshold.

pub mod args;
pub mod error;
pub mod inputs;
pub mod latency;
pub mod model;
pub mod render;
pub mod report;
pub mod rules;
#[cfg(test)]
mod tests;

pub use args::AdviseArgs;
pub use error::AdviseError;
pub use inputs::AdviseInputs;
pub use report::{advise, Advice};
pub use rules::{Choice, Recommendation, RuleId};

/// `llmserve advise`: the advice as text, or as pretty JSON with `--json`, ready to print.
pub fn run(args: &AdviseArgs) -> Result<String, AdviseError> {
    let advice = advise(&args.to_inputs()?);
    if args.json {
        Ok(serde_json::to_string_pretty(&advice)? + "\n")
    } else {
        Ok(render::text(&advice))
    }
}
