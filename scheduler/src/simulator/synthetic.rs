//! Synthetic workloads: Poisson arrivals, ShareGPT-like lengths, tenant and priority mixes, shared
//! prefixes — all drawn from one seeded ChaCha8 stream, so a seed fixes the workload exactly.
//!
//! Arrivals follow vLLM's `benchmark_serving.py`: the first request at t = 0, then exponential gaps
//! of mean `1 / request_rate` (a Poisson process); `request_rate = inf` sends everything at t = 0.
//!
//! Lengths: the `sharegpt` preset is a log-normal fit to the ShareGPT conversations vLLM's benchmark
//! samples (prompt: median 140, σ 1.1; output: median 121, σ 0.9), filtered like vLLM filters ShareGPT
//! (prompt and output ≥ 4 tokens, prompt ≤ 1024, prompt + output ≤ 2048), which gives means of about
//! 202 prompt and 179 output tokens. Other distributions: `fixed:N`, `uniform:MIN:MAX`,
//! `lognormal:MEDIAN:SIGMA[:MAX]`.
//!
//! Per request, in this order: the gap to the previous arrival, the prompt and output lengths
//! (rejection-sampled against the filter), the tenant, the priority, the prefix group. A request of
//! a prefix group gets the group's `prefix_len` tokens PREPENDED to its sampled prompt (like a
//! system prompt). O(num_requests).

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::workload::{SharedPrefix, WorkloadError, WorkloadRequest, MAX_MARKER};

/// Log-normal parameters of the `sharegpt` preset (see the module docs).
const SHAREGPT_PROMPT: (f64, f64) = (140.0, 1.1);
const SHAREGPT_OUTPUT: (f64, f64) = (121.0, 0.9);
/// vLLM's ShareGPT filter.
const SHAREGPT_MIN_LEN: usize = 4;
const SHAREGPT_MAX_PROMPT: usize = 1024;
const SHAREGPT_MAX_TOTAL: usize = 2048;
/// Rejection-sampling attempts before giving up on a distribution that never fits.
const MAX_ATTEMPTS: usize = 10_000;

/// How a length (prompt or output tokens) is drawn.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthDistribution {
    /// The ShareGPT-like preset (different parameters for prompts and outputs; vLLM's filter).
    ShareGpt,
    /// Always `n` tokens.
    Fixed(usize),
    /// Uniform in `[min, max]`.
    Uniform { min: usize, max: usize },
    /// `round(exp(N(ln median, sigma²)))`, redrawn while outside `[1, max]`.
    LogNormal { median: f64, sigma: f64, max: usize },
}

impl fmt::Display for LengthDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LengthDistribution::ShareGpt => write!(f, "sharegpt"),
            LengthDistribution::Fixed(n) => write!(f, "fixed:{n}"),
            LengthDistribution::Uniform { min, max } => write!(f, "uniform:{min}:{max}"),
            LengthDistribution::LogNormal { median, sigma, max } => write!(f, "lognormal:{median}:{sigma}:{max}"),
        }
    }
}

impl FromStr for LengthDistribution {
    type Err = WorkloadError;

    /// `sharegpt`, `fixed:N`, `uniform:MIN:MAX`, `lognormal:MEDIAN:SIGMA[:MAX]` (MAX defaults to
    /// 16 × MEDIAN).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| WorkloadError::Parameter {
            parameter: "length distribution",
            value: s.to_string(),
            reason: format!("{reason}; expected sharegpt, fixed:N, uniform:MIN:MAX or lognormal:MEDIAN:SIGMA[:MAX]"),
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        let int = |p: &str| p.trim().parse::<usize>().map_err(|_| bad(&format!("{p:?} is not a non-negative integer")));
        let float = |p: &str| p.trim().parse::<f64>().map_err(|_| bad(&format!("{p:?} is not a number")));
        let dist = match parts.as_slice() {
            ["sharegpt"] => LengthDistribution::ShareGpt,
            ["fixed", n] => LengthDistribution::Fixed(int(n)?),
            ["uniform", min, max] => LengthDistribution::Uniform { min: int(min)?, max: int(max)? },
            ["lognormal", median, sigma] => {
                let median = float(median)?;
                LengthDistribution::LogNormal { median, sigma: float(sigma)?, max: (16.0 * median).ceil().max(1.0) as usize }
            }
            ["lognormal", median, sigma, max] => LengthDistribution::LogNormal { median: float(median)?, sigma: float(sigma)?, max: int(max)? },
            _ => return Err(bad("unknown form")),
        };
        dist.validate().map_err(|reason| bad(&reason))?;
        Ok(dist)
    }
}

impl LengthDistribution {
    fn validate(&self) -> Result<(), String> {
        match *self {
            LengthDistribution::ShareGpt => Ok(()),
            LengthDistribution::Fixed(0) => Err("a length must be at least 1".into()),
            LengthDistribution::Fixed(_) => Ok(()),
            LengthDistribution::Uniform { min, max } if min == 0 || min > max => Err(format!("need 1 ≤ min ≤ max, got {min}..{max}")),
            LengthDistribution::Uniform { .. } => Ok(()),
            LengthDistribution::LogNormal { median, sigma, max } => {
                if !(median.is_finite() && median >= 1.0) {
                    return Err(format!("median must be ≥ 1, got {median}"));
                }
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(format!("sigma must be ≥ 0, got {sigma}"));
                }
                if (max as f64) < median {
                    return Err(format!("max {max} is below the median {median}"));
                }
                Ok(())
            }
        }
    }

    /// One draw; `sharegpt` is the preset for `role`.
    fn sample(&self, rng: &mut ChaCha8Rng, role: Role) -> usize {
        match *self {
            LengthDistribution::ShareGpt => {
                let (median, sigma) = match role {
                    Role::Prompt => SHAREGPT_PROMPT,
                    Role::Output => SHAREGPT_OUTPUT,
                };
                lognormal(rng, median, sigma).round().max(1.0) as usize
            }
            LengthDistribution::Fixed(n) => n,
            LengthDistribution::Uniform { min, max } => rng.gen_range(min..=max),
            LengthDistribution::LogNormal { median, sigma, max } => {
                for _ in 0..MAX_ATTEMPTS {
                    let x = lognormal(rng, median, sigma).round();
                    if x >= 1.0 && x <= max as f64 {
                        return x as usize;
                    }
                }
                median.round() as usize
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Prompt,
    Output,
}

/// A standard normal draw (Box–Muller; one of the pair is discarded to keep the stream simple).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    (median.ln() + sigma * standard_normal(rng)).exp()
}

/// A value with a relative weight (`--tenants a:0.8,b:0.2`, `--priorities 0:1,1:3`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Share<T> {
    pub value: T,
    pub weight: f64,
}

/// Parses `name:weight,name:weight,…` (weights need not sum to 1; they are normalised). A bare
/// `name` has weight 1.
pub fn parse_shares<T: FromStr>(s: &str, parameter: &'static str) -> Result<Vec<Share<T>>, WorkloadError> {
    let bad = |reason: String| WorkloadError::Parameter { parameter, value: s.to_string(), reason };
    let mut shares = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, weight) = match item.rsplit_once(':') {
            Some((name, w)) => {
                let weight = w.trim().parse::<f64>().map_err(|_| bad(format!("weight {w:?} of {name:?} is not a number")))?;
                (name.trim(), weight)
            }
            None => (item, 1.0),
        };
        if !(weight.is_finite() && weight > 0.0) {
            return Err(bad(format!("weight of {name:?} must be a positive number, got {weight}")));
        }
        let value = name.parse::<T>().map_err(|_| bad(format!("{name:?} is not a valid value")))?;
        shares.push(Share { value, weight });
    }
    if shares.is_empty() {
        return Err(bad("expected name:weight[,name:weight…]".into()));
    }
    Ok(shares)
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, shares: &'a [Share<T>]) -> Option<&'a T> {
    let total: f64 = shares.iter().map(|s| s.weight).sum();
    let mut x = rng.gen::<f64>() * total;
    for share in shares {
        if x < share.weight {
            return Some(&share.value);
        }
        x -= share.weight;
    }
    shares.last().map(|s| &s.value)
}

/// A fraction of requests share one of `num_groups` prefixes of `prefix_len` tokens.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrefixSharing {
    pub num_groups: u32,
    pub prefix_len: usize,
    /// Probability that a request belongs to a group (groups are equally likely).
    pub fraction: f64,
}

/// Parameters of a synthetic workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyntheticWorkload {
    pub num_requests: usize,
    /// Requests per second (Poisson); `f64::INFINITY` = all at t = 0.
    pub request_rate: f64,
    pub prompt_len: LengthDistribution,
    pub output_len: LengthDistribution,
    /// Tenant mix; empty = anonymous requests.
    pub tenants: Vec<Share<String>>,
    /// Priority mix; empty = priority 0.
    pub priorities: Vec<Share<i32>>,
    pub prefix: Option<PrefixSharing>,
    pub seed: u64,
}

impl Default for SyntheticWorkload {
    fn default() -> Self {
        SyntheticWorkload {
            num_requests: 1000,
            request_rate: f64::INFINITY,
            prompt_len: LengthDistribution::ShareGpt,
            output_len: LengthDistribution::ShareGpt,
            tenants: Vec::new(),
            priorities: Vec::new(),
            prefix: None,
            seed: 0,
        }
    }
}

impl SyntheticWorkload {
    fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |parameter, value: String, reason: &str| Err(WorkloadError::Parameter { parameter, value, reason: reason.into() });
        if self.num_requests == 0 || self.num_requests as u64 > MAX_MARKER {
            return bad("num_requests", self.num_requests.to_string(), "must be between 1 and 2^31 - 1");
        }
        if self.request_rate.is_nan() || self.request_rate <= 0.0 {
            return bad("request_rate", self.request_rate.to_string(), "must be > 0 requests/s (or inf)");
        }
        for d in [&self.prompt_len, &self.output_len] {
            if let Err(reason) = d.validate() {
                return bad("length distribution", d.to_string(), &reason);
            }
        }
        if let Some(p) = &self.prefix {
            if p.num_groups == 0 || u64::from(p.num_groups) > MAX_MARKER {
                return bad("prefix groups", p.num_groups.to_string(), "must be between 1 and 2^31 - 1");
            }
            if p.prefix_len == 0 {
                return bad("prefix length", "0".into(), "must be at least 1");
            }
            if !(0.0..=1.0).contains(&p.fraction) {
                return bad("prefix fraction", p.fraction.to_string(), "must be in [0, 1]");
            }
        }
        Ok(())
    }

    /// Draws the workload (deterministic for `seed`).
    pub fn generate(&self) -> Result<Vec<WorkloadRequest>, WorkloadError> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut time = 0.0;
        let mut requests = Vec::with_capacity(self.num_requests);
        for i in 0..self.num_requests {
            if i > 0 && self.request_rate.is_finite() {
                let u: f64 = 1.0 - rng.gen::<f64>();
                time += -u.ln() / self.request_rate;
            }
            let (prompt, output) = self.sample_lengths(&mut rng)?;
            let tenant = pick(&mut rng, &self.tenants).cloned();
            let priority = pick(&mut rng, &self.priorities).copied().unwrap_or(0);
            let mut request = WorkloadRequest { arrival_time: time, prompt_tokens: prompt, output_tokens: output, priority, tenant, shared_prefix: None };
            if let Some(p) = &self.prefix {
                let joins = rng.gen::<f64>() < p.fraction;
                let group = rng.gen_range(0..p.num_groups);
                if joins {
                    request.prompt_tokens += p.prefix_len;
                    request.shared_prefix = Some(SharedPrefix { group, len: p.prefix_len });
                }
            }
            requests.push(request);
        }
        Ok(requests)
    }

    fn sample_lengths(&self, rng: &mut ChaCha8Rng) -> Result<(usize, usize), WorkloadError> {
        let sharegpt = self.prompt_len == LengthDistribution::ShareGpt || self.output_len == LengthDistribution::ShareGpt;
        for _ in 0..MAX_ATTEMPTS {
            let prompt = self.prompt_len.sample(rng, Role::Prompt);
            let output = self.output_len.sample(rng, Role::Output);
            let fits = !sharegpt
                || (prompt >= SHAREGPT_MIN_LEN
                    && output >= SHAREGPT_MIN_LEN
                    && prompt <= SHAREGPT_MAX_PROMPT
                    && prompt + output <= SHAREGPT_MAX_TOTAL);
            if fits {
                return Ok((prompt, output));
            }
        }
        Err(WorkloadError::Parameter {
            parameter: "length distribution",
            value: format!("prompt {}, output {}", self.prompt_len, self.output_len),
            reason: format!(
                "with sharegpt, lengths must pass vLLM's filter (≥ {SHAREGPT_MIN_LEN} each, prompt ≤ {SHAREGPT_MAX_PROMPT}, total ≤ {SHAREGPT_MAX_TOTAL}); no draw did"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharegpt_preset_has_the_benchmark_means_and_is_deterministic() {
        let cfg = SyntheticWorkload { num_requests: 20_000, seed: 3, ..Default::default() };
        let w = cfg.generate().unwrap();
        assert_eq!(w, cfg.generate().unwrap());
        let n = w.len() as f64;
        let mean_prompt = w.iter().map(|r| r.prompt_tokens as f64).sum::<f64>() / n;
        let mean_output = w.iter().map(|r| r.output_tokens as f64).sum::<f64>() / n;
        assert!((mean_prompt - 202.0).abs() < 10.0, "mean prompt {mean_prompt}");
        assert!((mean_output - 179.0).abs() < 8.0, "mean output {mean_output}");
        assert!(w.iter().all(|r| r.prompt_tokens >= 4 && r.prompt_tokens <= 1024 && r.prompt_tokens + r.output_tokens <= 2048));
        assert!(w.iter().all(|r| r.arrival_time == 0.0));
        let other = SyntheticWorkload { seed: 4, ..cfg }.generate().unwrap();
        assert_ne!(w, other);
    }

    #[test]
    fn poisson_arrivals_tenants_priorities_and_prefixes() {
        let cfg = SyntheticWorkload {
            num_requests: 10_000,
            request_rate: 5.0,
            prompt_len: "fixed:10".parse().unwrap(),
            output_len: "uniform:1:3".parse().unwrap(),
            tenants: parse_shares("a:0.8,b:0.2", "tenants").unwrap(),
            priorities: parse_shares("0:1,1:3", "priorities").unwrap(),
            prefix: Some(PrefixSharing { num_groups: 4, prefix_len: 32, fraction: 0.5 }),
            seed: 1,
        };
        let w = cfg.generate().unwrap();
        assert_eq!(w[0].arrival_time, 0.0);
        let rate = (w.len() - 1) as f64 / w.last().unwrap().arrival_time;
        assert!((rate - 5.0).abs() < 0.3, "rate {rate}");
        assert!(w.windows(2).all(|p| p[0].arrival_time <= p[1].arrival_time));
        let frac = |f: &dyn Fn(&WorkloadRequest) -> bool| w.iter().filter(|r| f(r)).count() as f64 / w.len() as f64;
        assert!((frac(&|r| r.tenant.as_deref() == Some("a")) - 0.8).abs() < 0.03);
        assert!((frac(&|r| r.priority == 1) - 0.75).abs() < 0.03);
        assert!((frac(&|r| r.shared_prefix.is_some()) - 0.5).abs() < 0.03);
        for r in &w {
            let expected = if r.shared_prefix.is_some() { 42 } else { 10 };
            assert_eq!(r.prompt_tokens, expected);
            assert!((1..=3).contains(&r.output_tokens));
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = "gaussian:3".parse::<LengthDistribution>().unwrap_err().to_string();
        assert!(err.contains("gaussian:3") && err.contains("fixed:N"), "{err}");
        assert!("uniform:5:2".parse::<LengthDistribution>().is_err());
        assert!("fixed:0".parse::<LengthDistribution>().is_err());
        assert_eq!("lognormal:100:0.5".parse::<LengthDistribution>().unwrap(), LengthDistribution::LogNormal { median: 100.0, sigma: 0.5, max: 1600 });
        let err = parse_shares::<String>("a:0.8,b:x", "tenants").unwrap_err().to_string();
        assert!(err.contains("tenants") && err.contains("\"x\""), "{err}");
        assert!(parse_shares::<i32>("high:1", "priorities").is_err());
        assert!(parse_shares::<String>("a:-1", "tenants").is_err());
        let cfg = SyntheticWorkload { request_rate: 0.0, ..Default::default() };
        assert!(cfg.generate().unwrap_err().to_string().contains("request_rate"));
    }
}
