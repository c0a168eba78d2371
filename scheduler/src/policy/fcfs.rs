//! First come, first served (vLLM's default): admit in queue order (preempted requests first, then
//! arrivals); preempt the most recently admitted running request. O(1) per decision.

use std::collections::VecDeque;

use super::SchedulingPolicy;
use crate::request::Request;

#[derive(Debug, Default, Clone, Copy)]
pub struct FcfsPolicy;

impl SchedulingPolicy for FcfsPolicy {
    fn name(&self) -> &'static str {
        "fcfs"
    }

    fn select_next(&self, waiting: &VecDeque<Request>) -> Option<usize> {
        (!waiting.is_empty()).then_some(0)
    }

    fn select_victim(&self, running: &[Request]) -> usize {
        running.len() - 1
    }
}
