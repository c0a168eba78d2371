//! Benchmarks of serving, with vLLM's metric definitions (`vllm bench serve`) so our numbers and
//! theirs mean the same thing, and what turns runs into decisions:
//!
//! - [`result`]: the result files (vLLM's field names); [`metrics`]: the metric math on request timelines.
//! - [`arrival`]: when requests are sent (Poisson / gamma with burstiness, or all at once).
//! - [`dataset`]: the prompts (random, ShareGPT, synthetic ShareGPT-shaped, shared prefixes).
//! - [`client`]: one streaming request to an OpenAI-compatible server and its timeline.
//! - [`runner`]: a whole run (arrivals, concurrency cap, progress bar) → [`result::BenchResult`].
//! - [`sweep`]: several loads → one table; [`plot`]: PNG plots of sweeps.
//! - [`anchors`]: published numbers of other engines; [`report`]: BENCHMARKS.md from runs + anchors.
//! - [`advise`]: self-host vs API cost advisor from a measured throughput.

pub mod advise;
pub mod anchors;
pub mod plot;
pub mod report;
pub mod result;
