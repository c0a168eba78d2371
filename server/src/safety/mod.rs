//! The safety filter chain: per-tenant profiles of ordered filters over a request's input and its
//! generated output.
//!
//! - [`filter`]: the [`filter::SafetyFilter`] trait, actions and findings; [`chain`]: running a
//!   profile (input chain, per-choice output pipeline, events and metrics); [`profile`]: profiles
//!   from configuration and the built-ins.
//! - Filters: [`input_limits`] (message count, characters, control characters), [`filters`]
//!   (injection detection and span filters over the detectors), [`moderation`] (external hook).
//! - Detectors: [`normalize`], [`injection`], [`pii`], [`words`], with [`holdback`] for streaming.
//! - [`isolation`]: special tokens only from the chat template, never from message content.
//! - [`eval`]: the labelled evaluation set runner (`llmserve safety-eval`).

pub mod chain;
pub mod eval;
pub mod filter;
pub mod filters;
pub mod holdback;
pub mod injection;
pub mod input_limits;
pub mod isolation;
pub mod moderation;
pub mod normalize;
pub mod pii;
pub mod profile;
pub mod words;
