//! Priority scheduling (vLLM's `priority` policy): the waiting request with the LOWEST `priority`
//! value goes first (ties: earlier arrival); when blocks run out, the running request with the
//! HIGHEST value (ties: latest arrival) is preempted. SLA tiers map onto `priority` values.
//! O(queue length) per decision.

use std::collections::VecDeque;

use super::{argmax_by_key, argmin_by_key, SchedulingPolicy};
use crate::request::Request;

#[derive(Debug, Default, Clone, Copy)]
pub struct PriorityPolicy;

impl SchedulingPolicy for PriorityPolicy {
    fn name(&self) -> &'static str {
        "priority"
    }

    fn select_next(&self, waiting: &VecDeque<Request>) -> Option<usize> {
        argmin_by_key(waiting.iter(), |r| (r.priority, r.arrival_time))
    }

    fn select_victim(&self, running: &[Request]) -> usize {
        argmax_by_key(running.iter(), |r| (r.priority, r.arrival_time)).unwrap_or(0)
    }
}
