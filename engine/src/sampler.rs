//! Logits processing and sampling for one request.
//!
//! Order as in vLLM's sampler: repetition penalty (prompt + output tokens; positive logits divided,
//! negative multiplied, as HF/CTRL), frequency and presence penalties (output tokens, OpenAI
//! semantics), logit bias, then greedy argmax — or temperature, min-p, top-k, top-p and a draw from the
//! renormalised distribution with a ChaCha8 RNG seeded per request (same seed, same logits → same
//! token). O(V) per step plus O(k log k) for the truncations.

use std::collections::HashMap;

use llmserve_scheduler::SamplingParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sampling state of one request.
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha8Rng,
    /// Occurrences of each token in the output so far (frequency / presence penalties).
    output_counts: HashMap<u32, u32>,
    /// Tokens of the prompt and output (repetition penalty), as a dense mask once penalties are on.
    seen: Vec<bool>,
    /// Scratch: candidate (token, logit) pairs.
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    /// `prompt` feeds the repetition penalty.
    pub fn new(params: SamplingParams, prompt: &[u32]) -> Sampler {
        let rng = match params.seed {
            Some(s) => ChaCha8Rng::seed_from_u64(s),
            None => ChaCha8Rng::from_entropy(),
        };
        let mut s = Sampler { params, rng, output_counts: HashMap::new(), seen: Vec::new(), candidates: Vec::new() };
        if s.params.repetition_penalty != 1.0 {
            for &t in prompt {
                s.mark_seen(t);
            }
        }
        s
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    fn mark_seen(&mut self, t: u32) {
        let i = t as usize;
        if i >= self.seen.len() {
            self.seen.resize(i + 1, false);
        }
        self.seen[i] = true;
    }

    /// Records a generated token (updates penalty state).
    pub fn record(&mut self, token: u32) {
        *self.output_counts.entry(token).or_insert(0) += 1;
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

    /// Processes `logits` in place and picks the next token.
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        self.process_logits(logits);
        if self.params.is_greedy() {
            return argmax(logits);
        }
        let p = &self.params;
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
        let mut r = self.rng.gen::<f32>() * total;
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
            (0..20).map(|_| s.sample(&mut logits.clone())).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(params(|p| p.top_k = 1), &[]);
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [0.1, 0.3, 0.2]), 1);
        }
    }

    #[test]
    fn top_p_and_min_p_drop_the_tail() {
        // Probabilities ≈ [0.88, 0.12, ~0]: top_p 0.5 keeps only token 0.
        let mut s = Sampler::new(params(|p| p.top_p = 0.5), &[]);
        for _ in 0..50 {
            assert_eq!(s.sample(&mut [2.0, 0.0, -20.0]), 0);
        }
        let mut s = Sampler::new(params(|p| p.min_p = 0.5), &[]);
        for _ in 0..50 {
            assert_eq!(s.sample(&mut [2.0, 0.0, 1.5]) % 2, 0);
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        let mut s = Sampler::new(params(|_| {}), &[]);
        let mut counts = [0usize; 2];
        for _ in 0..4000 {
            counts[s.sample(&mut [0.0, (3.0f32).ln()]) as usize] += 1;
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
