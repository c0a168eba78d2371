//! Scheduling policies: who is admitted next and who is preempted when blocks run out.
//!
//! The scheduler's algorithm (budget, chunked prefill, block allocation, preemption by recompute)
//! is fixed; a policy only answers two questions — "which waiting request next?" and "which running
//! request gives up its blocks?" — and may keep its own accounting through the `on_*` hooks.
//!
//! To add a policy: write one file in this directory implementing [`SchedulingPolicy`], add a
//! variant to [`PolicyKind`] with its name in [`PolicyKind::ALL`] and a line in
//! [`PolicyKind::build`]. The CLI (`--policy`), the simulator and the config parser pick it up.
//!
//! Queue conventions the policies can rely on: `waiting` holds preempted requests at the front (most
//! recently preempted first), then new requests in arrival order; `running` is in admission order.

mod fair_share;
mod fcfs;
mod priority;
mod shortest_prompt_first;

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::request::Request;

pub use fair_share::FairSharePolicy;
pub use fcfs::FcfsPolicy;
pub use priority::PriorityPolicy;
pub use shortest_prompt_first::ShortestPromptFirstPolicy;

/// Admission and preemption decisions.
pub trait SchedulingPolicy: Send + fmt::Debug {
    /// The policy's registry name.
    fn name(&self) -> &'static str;

    /// Index into `waiting` of the request to admit next; `None` if `waiting` is empty.
    fn select_next(&self, waiting: &VecDeque<Request>) -> Option<usize>;

    /// Index into `running` (non-empty) of the request to preempt.
    fn select_victim(&self, running: &[Request]) -> usize;

    /// A request entered the scheduler.
    fn on_added(&mut self, _request: &Request) {}

    /// `num_tokens` tokens of `request` were scheduled this step (called before the request's
    /// `num_computed_tokens` is advanced, so `is_prefilling` describes this step's work).
    fn on_scheduled(&mut self, _request: &Request, _num_tokens: usize) {}

    /// A request left the scheduler (finished or aborted).
    fn on_finished(&mut self, _request: &Request) {}
}

/// The registry of policies (config files, CLI flags and the simulator use these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// First come, first served; the latest admitted request is preempted first.
    Fcfs,
    /// Lowest `priority` value first (ties by arrival); the highest value is preempted first.
    Priority,
    /// Tenant fair share (virtual token counters): the least-served tenant goes next, the most-served
    /// tenant is preempted first.
    FairShare,
    /// Shortest prompt first (ties by arrival); the longest running context is preempted first.
    ShortestPromptFirst,
}

impl PolicyKind {
    /// Every policy with its name, in the order they are listed to users.
    pub const ALL: [(PolicyKind, &'static str); 4] = [
        (PolicyKind::Fcfs, "fcfs"),
        (PolicyKind::Priority, "priority"),
        (PolicyKind::FairShare, "fair-share"),
        (PolicyKind::ShortestPromptFirst, "shortest-prompt-first"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(kind, _)| *kind == self).map_or("?", |(_, name)| name)
    }

    /// A fresh policy instance (its accounting starts empty).
    pub fn build(self) -> Box<dyn SchedulingPolicy> {
        match self {
            PolicyKind::Fcfs => Box::new(FcfsPolicy),
            PolicyKind::Priority => Box::new(PriorityPolicy),
            PolicyKind::FairShare => Box::new(FairSharePolicy::default()),
            PolicyKind::ShortestPromptFirst => Box::new(ShortestPromptFirstPolicy),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown policy name; lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduling policy {given:?}; known policies: {known}")]
pub struct UnknownPolicy {
    pub given: String,
    pub known: String,
}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match wanted.as_str() {
            "fifo" => "fcfs",
            "spf" | "sjf" | "shortest-job-first" => "shortest-prompt-first",
            "fair" | "fairshare" => "fair-share",
            other => other,
        };
        PolicyKind::ALL.iter().find(|(_, name)| *name == alias).map(|(kind, _)| *kind).ok_or_else(|| UnknownPolicy {
            given: s.to_string(),
            known: PolicyKind::ALL.iter().map(|(_, name)| *name).collect::<Vec<_>>().join(", "),
        })
    }
}

/// Index of the minimum of `key` over `items` (first one on ties).
pub(crate) fn argmin_by_key<'a, T: 'a, K: PartialOrd>(items: impl Iterator<Item = &'a T>, key: impl Fn(&T) -> K) -> Option<usize> {
    let mut best: Option<(usize, K)> = None;
    for (i, item) in items.enumerate() {
        let k = key(item);
        if best.as_ref().is_none_or(|(_, b)| k < *b) {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

/// Index of the maximum of `key` over `items` (last one on ties: the most recently admitted).
pub(crate) fn argmax_by_key<'a, T: 'a, K: PartialOrd>(items: impl Iterator<Item = &'a T>, key: impl Fn(&T) -> K) -> Option<usize> {
    let mut best: Option<(usize, K)> = None;
    for (i, item) in items.enumerate() {
        let k = key(item);
        if best.as_ref().is_none_or(|(_, b)| k >= *b) {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for (kind, name) in PolicyKind::ALL {
            assert_eq!(name.parse::<PolicyKind>().unwrap(), kind);
            assert_eq!(kind.build().name(), name);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        }
        assert_eq!("SJF".parse::<PolicyKind>().unwrap(), PolicyKind::ShortestPromptFirst);
        let err = "lottery".parse::<PolicyKind>().unwrap_err().to_string();
        assert!(err.contains("lottery") && err.contains("fair-share"), "{err}");
    }
}
