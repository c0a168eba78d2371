//! Latency targets against the bench: each given target (TTFT, TPOT) is compared with the run's p99,
//! or its median when the run computed no p99 (the check says which). A `--throughput-tok-s` figure
//! carries no latency, so targets then go unchecked, with a warning.

use std::fmt;

use serde::Serialize;

use super::inputs::{LatencyStat, LatencyTargets, MeasuredLatency, Measurement};

/// One target against one measured statistic.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencyCheck {
    /// `TTFT` or `TPOT`.
    pub metric: &'static str,
    pub stat: LatencyStat,
    pub measured_ms: f64,
    pub target_ms: f64,
    /// `measured <= target`.
    pub met: bool,
}

impl fmt::Display for LatencyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stat = match self.stat {
            LatencyStat::P99 => "p99",
            LatencyStat::Median => "median",
        };
        let verdict = if self.met { "<=" } else { ">" };
        write!(f, "{stat} {} {:.1} ms {verdict} target {:.1} ms", self.metric, self.measured_ms, self.target_ms)
    }
}

/// The checks for every target given, and warnings for those that cannot be checked or fell back to
/// the median.
pub fn latency_checks(measurement: &Measurement, targets: LatencyTargets) -> (Vec<LatencyCheck>, Vec<String>) {
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    let wanted = [("TTFT", targets.ttft_ms), ("TPOT", targets.tpot_ms)];
    let bench = match measurement {
        Measurement::Bench(b) => b,
        Measurement::OutputThroughput { .. } => {
            if wanted.iter().any(|(_, t)| t.is_some()) {
                warnings.push(
                    "latency targets not checked: --throughput-tok-s carries no latency; give --bench-result for a check"
                        .to_string(),
                );
            }
            return (checks, warnings);
        }
    };
    for (metric, target) in wanted {
        let Some(target_ms) = target else { continue };
        let measured: Option<MeasuredLatency> = if metric == "TTFT" { bench.ttft } else { bench.tpot };
        match measured {
            None => warnings.push(format!("{metric} target not checked: the bench result has neither p99 nor median {metric}")),
            Some(m) => {
                if m.stat == LatencyStat::Median {
                    warnings.push(format!(
                        "{metric} checked against the median: the bench run computed no p99 (ask the bench for the 99th percentile)"
                    ));
                }
                checks.push(LatencyCheck { metric, stat: m.stat, measured_ms: m.ms, target_ms, met: m.ms <= target_ms });
            }
        }
    }
    if !checks.is_empty() && bench.offered_request_rate.is_none() {
        warnings.push(
            "the bench sent every request at once: its latency includes queueing at saturation, so the latency check is pessimistic; bench at the planned rate per deployment for a fair latency figure"
                .to_string(),
        );
    }
    (checks, warnings)
}
