//! Benchmarks of serving, with vLLM's metric definitions (`vllm bench serve`) so our numbers and
//! theirs mean the same thing, and what turns runs into decisions:
//!
//! - [`result`]: the result files (vLLM's field names); [`metrics`]: the metric math on request timelines.
//! - [`arrival`]: when requests are sent (Poisson / gamma with burstiness, or all at once).
//! - [`dataset`]: the prompts (random, ShareGPT, synthetic ShareGPT-shaped, shared prefixes).
//! - [`client`]: one streaming request to an OpenAI-compatible server and its timeline.
//! - [`runner`]: `bench serve`, a whole run (arrivals, concurrency cap, progress bar) → [`result::BenchResult`];
//!   [`table`]: vLLM's printed summary; [`hardware`]: what the result says about the machine.
//! - [`sweep`]: `bench sweep`, several loads → one table and plots ([`plot`] for sweeps, [`plot_run`]
//!   for one run).
//! - [`anchors`]: published numbers of other engines; [`report`]: BENCHMARKS.md from runs + anchors.
//! - [`advise`]: self-host vs API cost advisor from a measured throughput.

pub mod advise;
pub mod anchors;
pub mod arrival;
pub mod client;
pub mod dataset;
pub mod hardware;
pub mod metrics;
pub mod plot;
pub mod plot_run;
pub mod report;
pub mod result;
pub mod runner;
pub mod sweep;
pub mod table;
