//! The step cost model: how long one engine step takes, as a linear function of the batch's shape.
//!
//! ```text
//! step_seconds = c0                                   fixed per-step overhead (launches, scheduling, sync)
//!              + c_batched_step · [num_tokens > 1]    extra fixed cost of a multi-token step (GEMM path)
//!              + c_token       · num_tokens           weight streaming + dense matmuls per batched token
//!              + c_seq         · num_seqs             per-sequence overhead (metadata, attention setup)
//!              + c_logits      · num_logits           LM head + sampling per sequence that samples
//!              + c_ctx         · context_tokens       attention reads: Σ over sequences of cached + new tokens
//!              + c_prefill_ctx · prefill_attention    query·key pairs of multi-token chunks (quadratic prefill)
//! ```
//!
//! This is the roofline-style model used by LLM serving simulators (Vidur, LLMServingSim, the
//! Sarathi-Serve analysis): a step is dominated by the linear layers (∝ tokens, with a fixed cost of
//! streaming the weights once per step, i.e. `c0`), plus attention, which is ∝ the KV read for
//! decodes and ∝ query × key pairs for prefill chunks. Backends switch kernels between one token and
//! several (the CPU backend uses row dots for one token and repacks weight rows into GEMM tiles for
//! more, a fixed cost per step; GPUs switch from GEMV to GEMM kernels): `c_batched_step` prices that
//! switch, so a lone decode stream is not priced like a batch. The coefficients are fitted from timed steps
//! of a real backend (`llmserve calibrate-cost-model`, see [`super::fit`]); the model file keeps the
//! metadata of that fit (backend, model, device, threads, date, R²) and the raw samples, so it can be
//! audited and refitted.
//!
//! Complexity: O(1) per step once the shape is known; the shape is O(batch).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::fit::{fit_coefficients, FitError, FitQuality};

/// The committed fit for the CPU backend on the default model (see `docs/simulator.md`).
const CPU_DEFAULT_JSON: &str = include_str!("../../cost_models/cpu-smollm2-135m-q4_1.json");

/// The batch shape of one step: everything the cost model depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepShape {
    /// Tokens computed in the step (the flattened batch).
    pub num_tokens: usize,
    /// Sequences in the batch.
    pub num_seqs: usize,
    /// Sequences whose last token's logits are computed (they sample a token this step).
    pub num_logits: usize,
    /// Σ over sequences of (cached + new) tokens: the KV each sequence's attention reads.
    pub context_tokens: usize,
    /// Σ over sequences with more than one new token of Σ_k (cached + k), k = 1..=new: query·key
    /// pairs of prefill chunks.
    pub prefill_attention: u64,
}

impl StepShape {
    /// Adds one sequence computing `num_new` tokens on top of `num_cached`, sampling if `samples`.
    pub fn add_sequence(&mut self, num_cached: usize, num_new: usize, samples: bool) {
        if num_new == 0 {
            return;
        }
        self.num_tokens += num_new;
        self.num_seqs += 1;
        self.num_logits += usize::from(samples);
        self.context_tokens += num_cached + num_new;
        if num_new > 1 {
            let (c, n) = (num_cached as u64, num_new as u64);
            self.prefill_attention += n * c + n * (n + 1) / 2;
        }
    }

    /// The regressors in coefficient order:
    /// `[1, tokens > 1, tokens, seqs, logits, context, prefill attention]`.
    pub fn features(&self) -> [f64; NUM_FEATURES] {
        [
            1.0,
            if self.num_tokens > 1 { 1.0 } else { 0.0 },
            self.num_tokens as f64,
            self.num_seqs as f64,
            self.num_logits as f64,
            self.context_tokens as f64,
            self.prefill_attention as f64,
        ]
    }
}

/// Number of coefficients in the model.
pub const NUM_FEATURES: usize = 7;
/// Coefficient names, in [`StepShape::features`] order.
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = ["c0", "c_batched_step", "c_token", "c_seq", "c_logits", "c_ctx", "c_prefill_ctx"];

/// The model's coefficients, in seconds per unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostCoefficients {
    #[serde(default)]
    pub c0: f64,
    #[serde(default)]
    pub c_batched_step: f64,
    #[serde(default)]
    pub c_token: f64,
    #[serde(default)]
    pub c_seq: f64,
    #[serde(default)]
    pub c_logits: f64,
    #[serde(default)]
    pub c_ctx: f64,
    #[serde(default)]
    pub c_prefill_ctx: f64,
}

impl CostCoefficients {
    pub fn to_array(&self) -> [f64; NUM_FEATURES] {
        [self.c0, self.c_batched_step, self.c_token, self.c_seq, self.c_logits, self.c_ctx, self.c_prefill_ctx]
    }

    pub fn from_array(c: [f64; NUM_FEATURES]) -> Self {
        CostCoefficients { c0: c[0], c_batched_step: c[1], c_token: c[2], c_seq: c[3], c_logits: c[4], c_ctx: c[5], c_prefill_ctx: c[6] }
    }
}

/// Where a fit came from: enough to know whether it applies to a given deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostModelMeta {
    /// `cpu`, `cuda`, or `synthetic` for hand-written models.
    pub backend: String,
    /// The model the steps ran (id and weight type).
    pub model: String,
    /// The machine: CPU model and ISA, or GPU name.
    pub device: String,
    /// Compute threads (CPU backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Tokens per KV-cache block during the measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<usize>,
    /// The command that produced the file.
    #[serde(default)]
    pub fitted_by: String,
    /// Fitting method (weighting, clamping).
    #[serde(default)]
    pub method: String,
    /// UTC date of the measurement (YYYY-MM-DD).
    #[serde(default)]
    pub date: String,
    /// Anything else worth knowing (load on the machine, caveats).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

/// One timed step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostSample {
    pub shape: StepShape,
    /// Measured wall time of the step (median of repetitions).
    pub seconds: f64,
}

/// A step-time model with its provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepCostModel {
    pub meta: CostModelMeta,
    pub coefficients: CostCoefficients,
    /// Quality of the fit on its samples (absent for hand-written models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<FitQuality>,
    /// The measurements the fit used (kept for audits and refits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<CostSample>,
}

/// A cost model that cannot be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum CostModelError {
    #[error("cannot read cost model {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("cost model {origin}: {error}")]
    Parse { origin: String, error: serde_json::Error },
    #[error("cost model {origin}: coefficient {name} = {value} is invalid: {reason}")]
    Coefficient { origin: String, name: &'static str, value: f64, reason: &'static str },
    #[error(transparent)]
    Fit(#[from] FitError),
}

impl StepCostModel {
    /// A hand-written model (tests, what-if studies).
    pub fn from_coefficients(coefficients: CostCoefficients, description: &str) -> StepCostModel {
        StepCostModel {
            meta: CostModelMeta { backend: "synthetic".into(), model: description.into(), ..Default::default() },
            coefficients,
            fit: None,
            samples: Vec::new(),
        }
    }

    /// Fits a model to timed steps (see [`super::fit`]) and records its quality.
    pub fn fit(meta: CostModelMeta, samples: Vec<CostSample>) -> Result<StepCostModel, CostModelError> {
        let (coefficients, quality) = fit_coefficients(&samples)?;
        Ok(StepCostModel { meta, coefficients, fit: Some(quality), samples })
    }

    /// The committed CPU fit (SmolLM2-135M-Instruct Q4_1, 2 threads) embedded in the binary.
    pub fn cpu_default() -> Result<StepCostModel, CostModelError> {
        StepCostModel::from_json(CPU_DEFAULT_JSON, "cpu-default")
    }

    /// Parses and validates a model; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<StepCostModel, CostModelError> {
        let model: StepCostModel =
            serde_json::from_str(text).map_err(|error| CostModelError::Parse { origin: origin.to_string(), error })?;
        model.validate(origin)?;
        Ok(model)
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<StepCostModel, CostModelError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| CostModelError::Io { path: origin.clone(), error })?;
        StepCostModel::from_json(&text, &origin)
    }

    /// Pretty JSON (the committed file format).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks that every coefficient is finite and ≥ 0 and that a step takes positive time (else the
    /// simulated clock would stand still).
    pub fn validate(&self, origin: &str) -> Result<(), CostModelError> {
        let c = self.coefficients.to_array();
        for (name, value) in FEATURE_NAMES.iter().zip(c) {
            if !value.is_finite() || value < 0.0 {
                return Err(CostModelError::Coefficient { origin: origin.into(), name, value, reason: "must be finite and ≥ 0" });
            }
        }
        if self.coefficients.c0 <= 0.0 && self.coefficients.c_token <= 0.0 {
            return Err(CostModelError::Coefficient {
                origin: origin.into(),
                name: "c0",
                value: c[0],
                reason: "c0 or c_token must be > 0, or steps would take no time",
            });
        }
        Ok(())
    }

    /// Predicted duration of a step of this shape.
    pub fn step_seconds(&self, shape: &StepShape) -> f64 {
        let c = self.coefficients.to_array();
        shape.features().iter().zip(c).map(|(x, c)| x * c).sum()
    }

    /// One line describing the model (reports).
    pub fn describe(&self) -> String {
        let m = &self.meta;
        let mut s = format!("{} / {}", m.backend, m.model);
        if !m.device.is_empty() {
            s.push_str(&format!(" on {}", m.device));
        }
        if let Some(t) = m.threads {
            s.push_str(&format!(", {t} threads"));
        }
        if let Some(f) = &self.fit {
            s.push_str(&format!(" (R² {:.3}, {} samples)", f.r_squared, f.num_samples));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_accumulates_prefill_and_decode() {
        let mut s = StepShape::default();
        s.add_sequence(100, 1, true); // decode
        s.add_sequence(16, 4, false); // prefill chunk: pairs 17 + 18 + 19 + 20
        s.add_sequence(5, 0, true); // nothing scheduled: ignored
        assert_eq!(
            s,
            StepShape { num_tokens: 5, num_seqs: 2, num_logits: 1, context_tokens: 121, prefill_attention: 74 }
        );
        let m = StepCostModel::from_coefficients(
            CostCoefficients { c0: 1.0, c_batched_step: 7.0, c_token: 2.0, c_seq: 3.0, c_logits: 4.0, c_ctx: 0.5, c_prefill_ctx: 0.25 },
            "t",
        );
        assert_eq!(m.step_seconds(&s), 1.0 + 7.0 + 10.0 + 6.0 + 4.0 + 60.5 + 18.5);
        let mut one = StepShape::default();
        one.add_sequence(9, 1, true);
        assert_eq!(m.step_seconds(&one), 1.0 + 2.0 + 3.0 + 4.0 + 5.0);
    }

    #[test]
    fn embedded_cpu_model_is_valid_and_plausible() {
        let m = StepCostModel::cpu_default().unwrap();
        assert_eq!(m.meta.backend, "cpu");
        let mut decode = StepShape::default();
        decode.add_sequence(128, 1, true);
        let t = m.step_seconds(&decode);
        assert!(t > 1e-3 && t < 0.1, "single-sequence decode step {t} s");
        assert!(m.fit.as_ref().is_some_and(|f| f.r_squared > 0.9));
    }

    #[test]
    fn invalid_models_are_refused_with_the_coefficient_named() {
        let bad = r#"{"meta": {"backend": "cpu", "model": "m", "device": "d"}, "coefficients": {"c0": 0.01, "c_ctx": -1}}"#;
        let err = StepCostModel::from_json(bad, "f.json").unwrap_err().to_string();
        assert!(err.contains("f.json") && err.contains("c_ctx"), "{err}");
        let zero = r#"{"meta": {"backend": "cpu", "model": "m", "device": "d"}, "coefficients": {"c_seq": 1}}"#;
        assert!(StepCostModel::from_json(zero, "z").is_err());
        let typo = r#"{"meta": {"backend": "cpu", "model": "m", "device": "d"}, "coefficients": {"c_tok": 1}}"#;
        assert!(StepCostModel::from_json(typo, "t").unwrap_err().to_string().contains("c_tok"));
    }
}
