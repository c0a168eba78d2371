//! Shortest prompt first: admit the waiting request with the fewest tokens left to prefill (ties:
//! earlier arrival), which minimises mean TTFT under load at the price of delaying long prompts
//! (no aging: a steady stream of short prompts can starve a long one — compare with the simulator).
//! Preempt the running request with the longest context (ties: latest arrival), the one whose
//! recompute frees the most blocks. O(queue length) per decision.

use std::collections::VecDeque;

use super::{argmax_by_key, argmin_by_key, SchedulingPolicy};
use crate::request::Request;

#[derive(Debug, Default, Clone, Copy)]
pub struct ShortestPromptFirstPolicy;

impl SchedulingPolicy for ShortestPromptFirstPolicy {
    fn name(&self) -> &'static str {
        "shortest-prompt-first"
    }

    fn select_next(&self, waiting: &VecDeque<Request>) -> Option<usize> {
        argmin_by_key(waiting.iter(), |r| (r.num_uncomputed_tokens(), r.arrival_time))
    }

    fn select_victim(&self, running: &[Request]) -> usize {
        // Never the oldest running request while others run: its victim key changes as requests are
        // served, so without this two requests could keep preempting each other (recompute loses
        // their progress). The oldest always advances, which guarantees progress.
        let skip = usize::from(running.len() > 1);
        skip + argmax_by_key(running[skip..].iter(), |r| (r.num_tokens(), r.arrival_time)).unwrap_or(0)
    }
}
