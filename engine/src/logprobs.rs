//! Log-probabilities of tokens under one row of logits (OpenAI `logprobs` / `top_logprobs`, and
//! prompt scoring).
//!
//! Follows vLLM's default `raw_logprobs` mode: the distribution is the log-softmax of the model's raw
//! logits, before penalties, logit bias and temperature. The normaliser is a numerically stable
//! log-sum-exp (maximum subtracted, `exp` in f32, the sum accumulated in f64, so a 150k-entry
//! vocabulary loses nothing to rounding). The `k` most likely tokens come from one pass that keeps a
//! sorted list of at most `k` candidates — no sort of the vocabulary.
//!
//! Cost per row: O(V) for the normaliser plus O(V + insertions · k) for the top-k (k ≤ 20); nothing
//! is computed for requests that do not ask for logprobs. `PromptLogprobsAccumulator` gathers a
//! prompt's entries, which arrive over several steps with chunked prefill (and again after a
//! preemption), until the prompt is complete.

use llmserve_scheduler::TokenLogprob;

/// `ln Σ exp(row)`, stable for any finite row (`-inf` for an empty row).
pub fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = row.iter().map(|&x| f64::from((x - max).exp())).sum();
    max + sum.ln() as f32
}

/// The `k` largest entries of `row` as `(index, value)`, largest first; equal values keep the lower
/// index first. One pass with a sorted candidate list of at most `k` entries.
pub fn top_k(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k.min(row.len()) + 1);
    if k == 0 {
        return best;
    }
    for (i, &x) in row.iter().enumerate() {
        if best.len() == k && best.last().is_some_and(|&(_, worst)| x <= worst) {
            continue;
        }
        // After every candidate with a value >= x: equal values stay in index order.
        let at = best.partition_point(|&(_, v)| v >= x);
        best.insert(at, (i as u32, x));
        best.truncate(k);
    }
    best
}

/// The logprob of `token` under `row`'s raw log-softmax and the `k` most likely tokens.
///
/// `row` must be the unmodified logits (callers copy it before the sampler changes it in place).
pub fn token_logprob(row: &[f32], token: u32, k: usize) -> TokenLogprob {
    let normaliser = log_sum_exp(row);
    let logprob = row.get(token as usize).map_or(f32::NEG_INFINITY, |&x| x - normaliser);
    let top = top_k(row, k).into_iter().map(|(id, x)| (id, x - normaliser)).collect();
    TokenLogprob { token_id: token, logprob, top }
}

/// One sample's prompt logprobs while they arrive: entry `i` is prompt token `i`'s logprob given
/// tokens `0..i` (entry 0 never has one).
#[derive(Debug)]
pub(crate) struct PromptLogprobsAccumulator {
    /// `[prompt_len]`; emptied when handed out.
    entries: Vec<Option<TokenLogprob>>,
    /// Positions `1..prompt_len` not received yet.
    num_missing: usize,
    /// Whether [`PromptLogprobsAccumulator::take_complete`] already handed them out.
    delivered: bool,
}

impl PromptLogprobsAccumulator {
    pub(crate) fn new(prompt_len: usize) -> PromptLogprobsAccumulator {
        PromptLogprobsAccumulator { entries: vec![None; prompt_len], num_missing: prompt_len.saturating_sub(1), delivered: false }
    }

    /// Records `entries[j]` as prompt token `first + j`'s logprob. Positions already received
    /// (recomputed after a preemption) and positions outside the prompt are ignored.
    pub(crate) fn add(&mut self, first: usize, entries: Vec<TokenLogprob>) {
        if self.delivered {
            return;
        }
        for (position, entry) in (first..).zip(entries) {
            if position == 0 {
                continue;
            }
            let Some(slot) = self.entries.get_mut(position) else { break };
            if slot.is_none() {
                *slot = Some(entry);
                self.num_missing -= 1;
            }
        }
    }

    /// The whole prompt's entries, once, as soon as every position has arrived.
    pub(crate) fn take_complete(&mut self) -> Option<Vec<Option<TokenLogprob>>> {
        if self.delivered || self.num_missing > 0 {
            return None;
        }
        self.delivered = true;
        Some(std::mem::take(&mut self.entries))
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Plain f64 log-softmax of every entry.
    fn reference_log_softmax(row: &[f32]) -> Vec<f64> {
        let max = row.iter().map(|&x| x as f64).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        row.iter().map(|&x| x as f64 - max - sum.ln()).collect()
    }

    fn random_row(rng: &mut ChaCha8Rng, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| (rng.gen::<f32>() - 0.5) * scale).collect()
    }

    #[test]
    fn token_logprobs_match_an_f64_reference_on_random_rows() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (len, scale) in [(1, 1.0), (7, 4.0), (300, 20.0), (50_000, 30.0), (50_000, 1e-3)] {
            let mut row = random_row(&mut rng, len, scale);
            // Large offsets must not overflow the exponentials.
            row.iter_mut().for_each(|x| *x += 500.0);
            let want = reference_log_softmax(&row);
            for _ in 0..5 {
                let token = rng.gen_range(0..len) as u32;
                let k = rng.gen_range(0..=20usize);
                let got = token_logprob(&row, token, k);
                assert_eq!(got.token_id, token);
                assert!((got.logprob as f64 - want[token as usize]).abs() < 1e-4, "len {len}: {} vs {}", got.logprob, want[token as usize]);
                // Top k: the k largest reference values, in order.
                let mut order: Vec<usize> = (0..len).collect();
                order.sort_by(|&a, &b| want[b].total_cmp(&want[a]).then(a.cmp(&b)));
                assert_eq!(got.top.len(), k.min(len));
                for (&(id, lp), &expect) in got.top.iter().zip(&order) {
                    assert_eq!(id as usize, expect, "len {len} k {k}");
                    assert!((lp as f64 - want[expect]).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn probabilities_sum_to_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let row = random_row(&mut rng, 1000, 10.0);
        let lse = log_sum_exp(&row);
        let total: f64 = row.iter().map(|&x| ((x - lse) as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
    }

    #[test]
    fn top_k_breaks_ties_by_lower_id_and_handles_small_rows() {
        assert_eq!(top_k(&[1.0, 3.0, 3.0, 2.0, 3.0], 3), vec![(1, 3.0), (2, 3.0), (4, 3.0)]);
        assert_eq!(top_k(&[1.0, 3.0, 3.0, 2.0, 3.0], 4), vec![(1, 3.0), (2, 3.0), (4, 3.0), (3, 2.0)]);
        assert_eq!(top_k(&[0.5, 0.25], 20), vec![(0, 0.5), (1, 0.25)]);
        assert!(top_k(&[0.5, 0.25], 0).is_empty());
    }

    fn entry(token_id: u32) -> TokenLogprob {
        TokenLogprob { token_id, logprob: -(token_id as f32), top: Vec::new() }
    }

    #[test]
    fn prompt_accumulator_completes_once_and_ignores_repeats() {
        let mut acc = PromptLogprobsAccumulator::new(5);
        acc.add(1, vec![entry(1), entry(2)]);
        assert!(acc.take_complete().is_none());
        // A recompute after preemption sends positions 1..3 again (different values are ignored).
        acc.add(1, vec![entry(9), entry(9), entry(3)]);
        assert!(acc.take_complete().is_none());
        acc.add(4, vec![entry(4), entry(5)]);
        let all = acc.take_complete().expect("complete");
        assert_eq!(all, vec![None, Some(entry(1)), Some(entry(2)), Some(entry(3)), Some(entry(4))]);
        assert!(acc.take_complete().is_none(), "handed out once");
        // A one-token prompt is complete from the start.
        assert_eq!(PromptLogprobsAccumulator::new(1).take_complete(), Some(vec![None]));
    }
}
