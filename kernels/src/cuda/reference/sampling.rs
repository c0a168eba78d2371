//! Reference logits processing and sampling with the device kernels' exact semantics (sampling.cu):
//! thresholds found by sorting here instead of bisection, the draw by a sequential prefix sum in
//! vocabulary order. [`SampleTrace`] keeps the intermediate values so a device result can be judged
//! with a float-rounding slack ([`SampleTrace::admits`]) instead of demanding bit-equal sums.

use crate::cuda::shapes::{LogitBiasEntry, PenaltyEntry, RowSamplingParams};

/// Repetition / frequency / presence penalties (apply_penalties).
pub fn apply_penalties(logits: &mut [f32], vocab: usize, params: &[RowSamplingParams], entries: &[PenaltyEntry]) {
    for e in entries {
        let (row, token) = (e.row as usize, e.token as usize);
        if row >= params.len() || token >= vocab {
            continue;
        }
        let p = &params[row];
        let l = &mut logits[row * vocab + token];
        if p.repetition_penalty != 1.0 {
            *l = if *l > 0.0 { *l / p.repetition_penalty } else { *l * p.repetition_penalty };
        }
        if e.output_count > 0 {
            *l -= p.frequency_penalty * e.output_count as f32 + p.presence_penalty;
        }
    }
}

/// Logit bias (apply_logit_bias).
pub fn apply_logit_bias(logits: &mut [f32], vocab: usize, num_rows: usize, entries: &[LogitBiasEntry]) {
    for e in entries {
        let (row, token) = (e.row as usize, e.token as usize);
        if row < num_rows && token < vocab {
            logits[row * vocab + token] += e.bias;
        }
    }
}

/// Index of the largest non-NaN logit, first on ties; 0 if there is none above -inf.
pub fn argmax(logits: &[f32]) -> (usize, f32) {
    let mut best = (0usize, f32::NEG_INFINITY);
    let mut found = false;
    for (i, &v) in logits.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
            found = true;
        }
    }
    if !found {
        best.0 = 0;
    }
    best
}

/// Everything the sampling decision of one row depends on.
#[derive(Clone, Debug)]
pub struct SampleTrace {
    pub token: u32,
    pub greedy: bool,
    /// `exp((l - max) / T)` (empty for greedy rows).
    pub weights: Vec<f32>,
    /// Tokens with `w >= tau && w > 0` are kept.
    pub tau: f32,
    /// Sum of the kept weights.
    pub total: f32,
    /// The draw target `uniform * total`.
    pub r: f32,
}

impl SampleTrace {
    /// Whether a device kernel's `token` is consistent with this row up to relative rounding `eps`:
    /// greedy rows need the same token; a sampled token must be kept and `r` must fall in its
    /// prefix-sum interval, where weights within `eps` of `tau` may count as kept or not and sums may
    /// differ by `eps * total` (the device sums in another order).
    pub fn admits(&self, token: u32, eps: f32) -> bool {
        if self.greedy {
            return token == self.token;
        }
        let t = token as usize;
        let Some(&w) = self.weights.get(t) else { return false };
        let sure = |x: f32| x > 0.0 && x >= self.tau * (1.0 + eps);
        let maybe = |x: f32| x > 0.0 && x >= self.tau * (1.0 - eps);
        if !maybe(w) {
            return false;
        }
        let ambiguous: f64 = self.weights.iter().filter(|&&x| maybe(x) && !sure(x)).map(|&x| x as f64).sum();
        let slack = (eps * self.total) as f64 + ambiguous;
        let lo: f64 = self.weights[..t].iter().filter(|&&x| sure(x)).map(|&x| x as f64).sum();
        let hi: f64 = self.weights[..t].iter().filter(|&&x| maybe(x)).map(|&x| x as f64).sum::<f64>() + w as f64;
        let r = self.r as f64;
        lo - slack <= r && r < hi + slack
    }
}

/// The sampling threshold of a row's weights (see sampling.cu): `max(min_p, k-th largest, top-p cut)`.
pub fn threshold(weights: &[f32], p: &RowSamplingParams) -> f32 {
    let mut tau = if p.min_p > 0.0 { p.min_p } else { 0.0 };
    let mut sorted: Vec<f32> = weights.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    if p.top_k > 0 && (p.top_k as usize) < weights.len() {
        tau = tau.max(sorted[p.top_k as usize - 1]);
    }
    if p.top_p < 1.0 {
        let kept: Vec<f32> = sorted.iter().copied().filter(|&w| w >= tau).collect();
        let s0: f32 = kept.iter().sum();
        let target = p.top_p * s0;
        let mut cum = 0.0f32;
        for &w in &kept {
            cum += w;
            if cum >= target {
                tau = tau.max(w);
                break;
            }
        }
    }
    tau
}

/// Samples one row of processed logits (sample_tokens).
pub fn sample_row(logits: &[f32], p: &RowSamplingParams) -> SampleTrace {
    let (best_i, best) = argmax(logits);
    let greedy_trace = SampleTrace { token: best_i as u32, greedy: true, weights: Vec::new(), tau: 0.0, total: 0.0, r: 0.0 };
    if p.temperature == 0.0 || best == f32::NEG_INFINITY {
        return greedy_trace;
    }
    let inv_t = 1.0 / p.temperature;
    let weights: Vec<f32> = logits
        .iter()
        .map(|&l| {
            let w = ((l - best) * inv_t).exp();
            if w.is_nan() {
                0.0
            } else {
                w
            }
        })
        .collect();
    let tau = threshold(&weights, p);
    let kept = |w: f32| w >= tau && w > 0.0;
    let total: f32 = weights.iter().copied().filter(|&w| kept(w)).sum();
    let r = p.uniform * total;
    let mut cum = 0.0f32;
    let mut token = None;
    let mut last = None;
    for (i, &w) in weights.iter().enumerate() {
        if !kept(w) {
            continue;
        }
        last = Some(i);
        let next = cum + w;
        if cum <= r && r < next {
            token = Some(i);
            break;
        }
        cum = next;
    }
    let token = token.or(last).unwrap_or(best_i) as u32;
    SampleTrace { token, greedy: false, weights, tau, total, r }
}

/// Samples every row of `logits` `[rows, vocab]`.
pub fn sample_rows(logits: &[f32], vocab: usize, params: &[RowSamplingParams]) -> Vec<SampleTrace> {
    logits.chunks_exact(vocab).zip(params).map(|(row, p)| sample_row(row, p)).collect()
}
