//! Logits processing and sampling for one request.
//!
//! Order as in vLLM's sampler: repetition penalty (prompt + output tokens; positive logits divided,
//! negative multiplied, as HF/CTRL), frequency and presence penalties (output tokens, OpenAI
//! semantics), logit bias, then greedy argmax — or temperature, min-p, top-k, top-p and a draw from the
//! renormalised distribution. O(V) per step plus O(k log k) for the truncations.
//!
//! Reproducibility: the random draw for output token `k` comes from a ChaCha8 stream derived from
//! `(seed, k)` only (stream `k` of the seed's key), not from a generator that advanced through the
//! earlier tokens. A request preempted by recompute is rebuilt with [`Sampler::with_history`] from its
//! prompt and the outputs it already has, and continues with exactly the draws it would have made
//! without the preemption (vLLM keeps per-request generators for the same reason; deriving them from
//! the position makes the state stateless to rebuild).

use std::collections::HashMap;
use std::sync::Arc;

use llmserve_scheduler::SamplingParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sampling state of one request.
pub struct Sampler {
    /// Shared with the scheduler's request (no copy of stop lists or logit bias per sampler).
    params: Arc<SamplingParams>,
    /// The request's seed, or one drawn from entropy when the request has none: every draw is
    /// derived from it and the output index.
    seed: u64,
    /// Output tokens recorded so far; the index of the next token, which picks its RNG stream.
    num_outputs: u64,
    /// Occurrences of each token in the output so far (frequency / presence penalties).
    output_counts: HashMap<u32, u32>,
    /// Tokens of the prompt and output (repetition penalty), as a dense mask once penalties are on.
    seen: Vec<bool>,
    /// Scratch: candidate (token, weight) pairs, reused across steps.
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    /// A sampler for a fresh request; `prompt` feeds the repetition penalty.
    pub fn new(params: impl Into<Arc<SamplingParams>>, prompt: &[u32]) -> Sampler {
        Sampler::with_history(params, prompt, &[])
    }

    /// A sampler for a request that already generated `output` (resumed after preemption): penalty
    /// state and the RNG position are as if it had sampled `output` itself.
    pub fn with_history(params: impl Into<Arc<SamplingParams>>, prompt: &[u32], output: &[u32]) -> Sampler {
        let params = params.into();
        let seed = params.seed.unwrap_or_else(rand::random);
        let mut s = Sampler { params, seed, num_outputs: 0, output_counts: HashMap::new(), seen: Vec::new(), candidates: Vec::new() };
        if s.params.repetition_penalty != 1.0 {
            for &t in prompt {
                s.mark_seen(t);
            }
        }
        for &t in output {
            s.record(t);
        }
        s
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Output tokens recorded so far.
    pub fn num_outputs(&self) -> u64 {
        self.num_outputs
    }

    fn mark_seen(&mut self, t: u32) {
        let i = t as usize;
        if i >= self.seen.len() {
            self.seen.resize(i + 1, false);
        }
        self.seen[i] = true;
    }

    /// Records a generated token (updates penalty state and moves to the next RNG stream).
    pub fn record(&mut self, token: u32) {
        self.num_outputs += 1;
        if self.params.frequency_penalty != 0.0 || self.params.presence_penalty != 0.0 {
            *self.output_counts.entry(token).or_insert(0) += 1;
        }
        if self.params.repetition_penalty != 1.0 {
            self.mark_seen(token);
        }
    }

    /// Applies penalties and logit bias in place.
    pub fn process_logits(&self, logits: &mut [f32]) {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            for (i, &seen) in self.seen.iter().enumerate() {
                if seen && i < logits.len() {
                    let l = &mut logits[i];
                    *l = if *l > 0.0 { *l / p.repetition_penalty } else { *l * p.repetition_penalty };
                }
            }
        }
        if p.frequency_penalty != 0.0 || p.presence_penalty != 0.0 {
            for (&t, &n) in &self.output_counts {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l -= p.frequency_penalty * n as f32 + p.presence_penalty;
                }
            }
        }
        for (&t, &b) in &p.logit_bias {
            if let Some(l) = logits.get_mut(t as usize) {
                *l += b;
            }
        }
    }

    /// The generator of output token `k`: stream `k` of the seed's ChaCha8 key.
    fn rng_for_output(&self, k: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(k);
        rng
    }

    /// Processes `logits` in place and picks the next token (call [`Sampler::record`] with it).
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        self.process_logits(logits);
        if self.params.is_greedy() {
            return argmax(logits);
        }
        let p = Arc::clone(&self.params);
        let inv_t = 1.0 / p.temperature;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        self.candidates.clear();
        self.candidates.extend(logits.iter().enumerate().map(|(i, &l)| (i as u32, ((l - max) * inv_t).exp())));
        // min-p: relative to the most likely token (whose weight is exp(0) = 1).
        if p.min_p > 0.0 {
            self.candidates.retain(|&(_, w)| w >= p.min_p);
        }
        if p.top_k > 0 && (p.top_k as usize) < self.candidates.len() {
            let k = p.top_k as usize;
            self.candidates.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            self.candidates.truncate(k);
        }
        if p.top_p < 1.0 {
            self.candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let total: f32 = self.candidates.iter().map(|c| c.1).sum();
            let mut cum = 0.0;
            let mut keep = self.candidates.len();
            for (i, c) in self.candidates.iter().enumerate() {
                cum += c.1 / total;
                if cum >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            self.candidates.truncate(keep.max(1));
        }
        let total: f32 = self.candidates.iter().map(|c| c.1).sum();
        if !(total > 0.0 && total.is_finite()) {
            return argmax(logits);
        }
        let mut r = self.rng_for_output(self.num_outputs).gen::<f32>() * total;
        for &(t, w) in &self.candidates {
            if r < w {
                return t;
            }
            r -= w;
        }
        self.candidates.last().map(|c| c.0).unwrap_or_else(|| argmax(logits))
    }
}

/// Index of the largest logit (first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(f: impl FnOnce(&mut SamplingParams)) -> SamplingParams {
        let mut p = SamplingParams { seed: Some(1), ..Default::default() };
        f(&mut p);
        p
    }

    #[test]
    fn greedy_picks_argmax_after_bias() {
        let mut s = Sampler::new(params(|p| {
            p.temperature = 0.0;
            p.logit_bias.insert(2, 10.0);
        }), &[]);
        assert_eq!(s.sample(&mut [1.0, 5.0, 0.0]), 2);
    }

    #[test]
    fn same_seed_same_tokens() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |seed| {
            let mut s = Sampler::new(params(|p| p.seed = Some(seed)), &[]);
            (0..20)
                .map(|_| {
                    let t = s.sample(&mut logits.clone());
                    s.record(t);
                    t
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // Successive draws differ (the stream advances with the output index).
        let tokens = run(7);
        assert!(tokens.iter().any(|&t| t != tokens[0]), "{tokens:?}");
    }

    #[test]
    fn resumed_sampler_continues_the_same_draws() {
        // A request preempted after 7 tokens and rebuilt from its history draws what it would have
        // drawn without the preemption, penalties included.
        let logits: Vec<f32> = (0..64).map(|i| (i as f32 * 0.61).cos() * 2.0).collect();
        let p = params(|p| {
            p.seed = Some(42);
            p.repetition_penalty = 1.3;
            p.frequency_penalty = 0.4;
        });
        let prompt = [3u32, 5, 8];
        let mut whole = Sampler::new(p.clone(), &prompt);
        let mut tokens = Vec::new();
        for _ in 0..16 {
            let t = whole.sample(&mut logits.clone());
            whole.record(t);
            tokens.push(t);
        }
        let mut resumed = Sampler::with_history(p, &prompt, &tokens[..7]);
        assert_eq!(resumed.num_outputs(), 7);
        for &want in &tokens[7..] {
            let t = resumed.sample(&mut logits.clone());
            resumed.record(t);
            assert_eq!(t, want);
        }
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(params(|p| p.top_k = 1), &[]);
        for _ in 0..20 {
            let t = s.sample(&mut [0.1, 0.3, 0.2]);
            s.record(t);
            assert_eq!(t, 1);
        }
    }

    #[test]
    fn top_p_and_min_p_drop_the_tail() {
        // Probabilities ≈ [0.88, 0.12, ~0]: top_p 0.5 keeps only token 0.
        let mut s = Sampler::new(params(|p| p.top_p = 0.5), &[]);
        for _ in 0..50 {
            let t = s.sample(&mut [2.0, 0.0, -20.0]);
            s.record(t);
            assert_eq!(t, 0);
        }
        let mut s = Sampler::new(params(|p| p.min_p = 0.5), &[]);
        let mut drawn = [false; 3];
        for _ in 0..50 {
            let t = s.sample(&mut [2.0, 0.0, 1.5]);
            s.record(t);
            drawn[t as usize] = true;
        }
        // p(2)/p(0) = e^-0.5 ≈ 0.61 ≥ 0.5 survives; p(1)/p(0) = e^-2 does not.
        assert_eq!(drawn, [true, false, true]);
    }

    #[test]
    fn sampling_follows_the_distribution() {
        let mut s = Sampler::new(params(|_| {}), &[]);
        let mut counts = [0usize; 2];
        for _ in 0..4000 {
            let t = s.sample(&mut [0.0, (3.0f32).ln()]);
            s.record(t);
            counts[t as usize] += 1;
        }
        let frac = counts[1] as f64 / 4000.0;
        assert!((frac - 0.75).abs() < 0.03, "{frac}");
    }

    #[test]
    fn penalties_change_logits_as_specified() {
        let mut s = Sampler::new(params(|p| {
            p.repetition_penalty = 2.0;
            p.frequency_penalty = 0.5;
            p.presence_penalty = 0.25;
        }), &[0]);
        s.record(1);
        s.record(1);
        let mut l = [4.0, -2.0, 1.0];
        s.process_logits(&mut l);
        assert_eq!(l[0], 2.0); // prompt token, positive: divided
        assert_eq!(l[1], -2.0 * 2.0 - 0.5 * 2.0 - 0.25); // output token twice: multiplied, then penalties
        assert_eq!(l[2], 1.0);
    }
}
