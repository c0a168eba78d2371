//! Least-squares fit of the step cost model's coefficients to timed steps.
//!
//! Method:
//! 1. **Relative weighting.** Step times span three orders of magnitude (a 1-sequence decode vs a
//!    512-token prefill); plain least squares would fit the big steps and ignore the small ones, yet
//!    decode steps dominate a serving run. Each row is divided by its measured time, so the fit
//!    minimises Σ ((ŷ − y) / y)², the squared *relative* error.
//! 2. **Normal equations in f64.** Columns are scaled to unit norm (the regressors range from 1 to
//!    ~10⁶), `XᵀX` (at most 6 × 6) is formed and solved by Cholesky decomposition. A column that is zero
//!    in every sample (e.g. no prefill samples) is left out and its coefficient is 0.
//! 3. **Non-negative clamping.** A negative coefficient has no physical meaning (work never makes a
//!    step faster) and would predict negative times for some shapes. If the solution has one, the
//!    most negative coefficient is fixed at 0, its column removed, and the fit repeated (an active-set
//!    step in the spirit of Lawson–Hanson NNLS) until all are ≥ 0. Clamped coefficients are listed in
//!    [`FitQuality::clamped`].
//!
//! Quality is reported on the unweighted data: R² = 1 − SS_res / SS_tot, and the mean and maximum
//! relative error |ŷ − y| / y. Complexity: O(samples · k² + k³) per pass, k ≤ 6, at most k passes.

use serde::{Deserialize, Serialize};

use super::cost_model::{CostCoefficients, CostSample, FEATURE_NAMES, NUM_FEATURES};

/// How well the fitted model reproduces the samples it was fitted to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitQuality {
    pub num_samples: usize,
    /// Coefficient of determination on the measured step times.
    pub r_squared: f64,
    /// Mean of |predicted − measured| / measured.
    pub mean_relative_error: f64,
    /// Largest |predicted − measured| / measured.
    pub max_relative_error: f64,
    /// Coefficients forced to 0 (negative in the unconstrained fit, or no signal in the samples).
    #[serde(default)]
    pub clamped: Vec<String>,
}

/// Samples that cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("cost-model fit: {given} samples are too few, at least {needed} are needed")]
    TooFewSamples { given: usize, needed: usize },
    #[error("cost-model fit: sample {index} has step time {seconds} s; times must be finite and > 0")]
    BadSample { index: usize, seconds: f64 },
    #[error("cost-model fit: the samples cannot separate {features}: vary the batch shapes more (they are collinear)")]
    Singular { features: String },
}

/// Fits the coefficients (see the module docs).
pub fn fit_coefficients(samples: &[CostSample]) -> Result<(CostCoefficients, FitQuality), FitError> {
    for (index, s) in samples.iter().enumerate() {
        if !(s.seconds.is_finite() && s.seconds > 0.0) {
            return Err(FitError::BadSample { index, seconds: s.seconds });
        }
    }
    let rows: Vec<[f64; NUM_FEATURES]> = samples.iter().map(|s| s.shape.features()).collect();
    let mut active: Vec<usize> = (0..NUM_FEATURES).filter(|&j| rows.iter().any(|r| r[j] != 0.0)).collect();
    let mut clamped: Vec<String> = (0..NUM_FEATURES).filter(|j| !active.contains(j)).map(|j| FEATURE_NAMES[j].to_string()).collect();
    if samples.len() < active.len() + 1 {
        return Err(FitError::TooFewSamples { given: samples.len(), needed: active.len() + 1 });
    }
    let coefficients = loop {
        let beta = solve_relative(&rows, samples, &active)?;
        let worst = beta.iter().enumerate().filter(|(_, &b)| b < 0.0).min_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
        match worst {
            Some(i) if active.len() > 1 => {
                clamped.push(FEATURE_NAMES[active[i]].to_string());
                active.remove(i);
            }
            _ => {
                let mut c = [0.0; NUM_FEATURES];
                for (&j, &b) in active.iter().zip(&beta) {
                    c[j] = b.max(0.0);
                }
                break c;
            }
        }
    };
    let quality = quality(&rows, samples, &coefficients, clamped);
    Ok((CostCoefficients::from_array(coefficients), quality))
}

/// Weighted least squares over the `active` columns; returns their coefficients.
fn solve_relative(rows: &[[f64; NUM_FEATURES]], samples: &[CostSample], active: &[usize]) -> Result<Vec<f64>, FitError> {
    let k = active.len();
    // Row i scaled by 1 / y_i; target 1.
    let weighted: Vec<Vec<f64>> = rows.iter().zip(samples).map(|(r, s)| active.iter().map(|&j| r[j] / s.seconds).collect()).collect();
    let norms: Vec<f64> = (0..k).map(|j| weighted.iter().map(|r| r[j] * r[j]).sum::<f64>().sqrt()).collect();
    let mut a = vec![vec![0.0; k]; k];
    let mut b = vec![0.0; k];
    for r in &weighted {
        let x: Vec<f64> = r.iter().zip(&norms).map(|(v, n)| v / n).collect();
        for (p, &xp) in x.iter().enumerate() {
            b[p] += xp;
            for (q, &xq) in x.iter().enumerate() {
                a[p][q] += xp * xq;
            }
        }
    }
    let z = cholesky_solve(a, b).ok_or_else(|| FitError::Singular {
        features: active.iter().map(|&j| FEATURE_NAMES[j]).collect::<Vec<_>>().join(", "),
    })?;
    Ok(z.iter().zip(&norms).map(|(z, n)| z / n).collect())
}

/// Solves `a x = b` for symmetric positive definite `a` (Cholesky, `a = L Lᵀ`). `None` when a pivot
/// is not clearly positive (the system is singular to working precision).
pub(crate) fn cholesky_solve(a: Vec<Vec<f64>>, b: Vec<f64>) -> Option<Vec<f64>> {
    let k = b.len();
    let mut l = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|m| l[i][m] * l[j][m]).sum();
            if i == j {
                let d = a[i][i] - sum;
                let positive = d > 1e-12 * a[i][i].abs().max(1e-300);
                if !positive {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - sum) / l[j][j];
            }
        }
    }
    // L y = b, then Lᵀ x = y.
    let mut y = vec![0.0; k];
    for i in 0..k {
        y[i] = (b[i] - (0..i).map(|m| l[i][m] * y[m]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        x[i] = (y[i] - (i + 1..k).map(|m| l[m][i] * x[m]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

fn quality(rows: &[[f64; NUM_FEATURES]], samples: &[CostSample], c: &[f64; NUM_FEATURES], clamped: Vec<String>) -> FitQuality {
    let predict = |r: &[f64; NUM_FEATURES]| r.iter().zip(c).map(|(x, c)| x * c).sum::<f64>();
    let n = samples.len() as f64;
    let mean = samples.iter().map(|s| s.seconds).sum::<f64>() / n;
    let (mut ss_res, mut ss_tot, mut rel_sum, mut rel_max) = (0.0, 0.0, 0.0, 0.0f64);
    for (r, s) in rows.iter().zip(samples) {
        let e = predict(r) - s.seconds;
        ss_res += e * e;
        ss_tot += (s.seconds - mean).powi(2);
        let rel = e.abs() / s.seconds;
        rel_sum += rel;
        rel_max = rel_max.max(rel);
    }
    FitQuality {
        num_samples: samples.len(),
        r_squared: if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { 1.0 },
        mean_relative_error: rel_sum / n,
        max_relative_error: rel_max,
        clamped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::cost_model::{StepCostModel, StepShape};
    use rand::{Rng, SeedableRng};

    fn grid() -> Vec<StepShape> {
        let mut shapes = Vec::new();
        for b in [1, 2, 4, 8, 16, 32] {
            for ctx in [32, 256, 1024] {
                let mut s = StepShape::default();
                (0..b).for_each(|_| s.add_sequence(ctx, 1, true));
                shapes.push(s);
            }
        }
        for n in [16, 64, 256, 512] {
            for (cached, logits) in [(0, true), (256, false), (1024, true)] {
                let mut s = StepShape::default();
                s.add_sequence(cached, n, logits);
                shapes.push(s);
            }
        }
        for n in [64, 256] {
            let mut s = StepShape::default();
            s.add_sequence(0, n, false);
            (0..8).for_each(|_| s.add_sequence(300, 1, true));
            shapes.push(s);
        }
        shapes
    }

    #[test]
    fn recovers_known_coefficients_from_noisy_samples() {
        let truth = CostCoefficients { c0: 4e-3, c_batched_step: 6e-3, c_token: 2.5e-3, c_seq: 5e-5, c_logits: 1.5e-3, c_ctx: 2e-7, c_prefill_ctx: 3e-8 };
        let model = StepCostModel::from_coefficients(truth, "truth");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let samples: Vec<CostSample> = grid()
            .into_iter()
            .map(|shape| CostSample { shape, seconds: model.step_seconds(&shape) * (1.0 + 0.002 * (rng.gen::<f64>() - 0.5)) })
            .collect();
        let (fit, q) = fit_coefficients(&samples).unwrap();
        for (name, (got, want)) in FEATURE_NAMES.iter().zip(fit.to_array().iter().zip(truth.to_array())) {
            // c_seq is ~1 % of a step here, so ±0.1 % noise moves it a lot; the others are tight.
            let tolerance = if *name == "c_seq" { 0.5 } else { 0.05 };
            assert!((got - want).abs() <= tolerance * want, "{name}: fitted {got:e}, true {want:e}");
        }
        assert!(q.r_squared > 0.999 && q.max_relative_error < 0.01, "{q:?}");
        assert!(q.clamped.is_empty());

        // Exact samples: exact recovery.
        let exact: Vec<CostSample> = grid().into_iter().map(|shape| CostSample { shape, seconds: model.step_seconds(&shape) }).collect();
        let (fit, _) = fit_coefficients(&exact).unwrap();
        for (got, want) in fit.to_array().iter().zip(truth.to_array()) {
            assert!((got - want).abs() <= 1e-6 * want, "{got:e} vs {want:e}");
        }
    }

    #[test]
    fn negative_coefficients_are_clamped_and_collinear_samples_are_refused() {
        // Times that FALL with the number of sequences push the unconstrained c_seq below 0.
        let truth = CostCoefficients { c0: 1e-3, c_batched_step: 2e-3, c_token: 1e-3, c_logits: 1e-4, c_ctx: 1e-7, ..Default::default() };
        let model = StepCostModel::from_coefficients(truth, "truth");
        let samples: Vec<CostSample> = grid()
            .into_iter()
            .map(|shape| CostSample { shape, seconds: model.step_seconds(&shape) - 2e-4 * shape.num_seqs as f64 })
            .collect();
        let (fit, q) = fit_coefficients(&samples).unwrap();
        assert!(fit.to_array().iter().all(|&c| c >= 0.0), "{fit:?}");
        assert_eq!(fit.c_seq, 0.0);
        assert!(q.clamped.contains(&"c_seq".to_string()), "{q:?}");

        // Decode-only samples cannot tell tokens, sequences and logits apart (one token per
        // sequence): the error says so instead of returning arbitrary coefficients.
        let decode_only: Vec<CostSample> = samples.iter().copied().filter(|s| s.shape.prefill_attention == 0).collect();
        let err = fit_coefficients(&decode_only).unwrap_err().to_string();
        assert!(err.contains("c_token") && err.contains("collinear"), "{err}");
    }

    #[test]
    fn bad_inputs_are_reported() {
        let s = CostSample { shape: StepShape { num_tokens: 1, num_seqs: 1, ..Default::default() }, seconds: 0.0 };
        assert_eq!(fit_coefficients(&[s]), Err(FitError::BadSample { index: 0, seconds: 0.0 }));
        let s = CostSample { seconds: 1.0, ..s };
        assert!(matches!(fit_coefficients(&[s]), Err(FitError::TooFewSamples { .. })));
        // Every sample the same shape: tokens and seqs cannot be told apart from the intercept.
        let err = fit_coefficients(&[s; 8]).unwrap_err();
        assert!(matches!(err, FitError::Singular { .. }), "{err:?}");
        assert!(cholesky_solve(vec![vec![4.0, 2.0], vec![2.0, 3.0]], vec![2.0, 1.0]).is_some_and(|x| (x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12));
    }
}
