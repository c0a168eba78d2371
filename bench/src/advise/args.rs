//! The flags of `llmserve advise` (each also an `LLMSERVE_ADVISE_*` environment variable) and their
//! conversion into validated [`AdviseInputs`], reading the bench result file when one is given.

use std::path::PathBuf;

use super::error::AdviseError;
use super::inputs::{
    AdviseInputs, BenchMeasurement, Compliance, DataPolicy, DataSensitivity, GpuPrices, LatencyTargets, Measurement, Mix,
    Workload,
};
use super::model::{ApiPrices, DEFAULT_INPUT_TOKEN_WEIGHT, DEFAULT_PEAK_TO_AVERAGE, DEFAULT_UTILIZATION_TARGET};
use crate::result::BenchResult;

/// Self-host vs API: cost per 1M tokens, monthly cost, break-even volume and a recommendation, from a
/// measured throughput.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct AdviseArgs {
    /// A bench result JSON (`llmserve bench serve --save-result`): the measured capacity (and latency) of
    /// one deployment. Give this or --throughput-tok-s.
    #[arg(long, value_name = "FILE", env = "LLMSERVE_ADVISE_BENCH_RESULT")]
    pub bench_result: Option<PathBuf>,
    /// Output tokens/s of one deployment, when there is no bench result (input tokens are then charged
    /// by --input-token-weight; no latency is known).
    #[arg(long, value_name = "N", env = "LLMSERVE_ADVISE_THROUGHPUT_TOK_S", allow_negative_numbers = true)]
    pub throughput_tok_s: Option<f64>,
    /// GPU price in USD per GPU-hour (cloud on-demand price, or amortised hardware plus power).
    #[arg(long, value_name = "USD", env = "LLMSERVE_ADVISE_GPU_PRICE_PER_HOUR", allow_negative_numbers = true)]
    pub gpu_price_per_hour: f64,
    /// GPUs per deployment (one server; the bench result's server used this many).
    #[arg(long, value_name = "N", default_value_t = 1, env = "LLMSERVE_ADVISE_GPUS")]
    pub gpus: u32,
    /// API price in USD per 1M input tokens.
    #[arg(long, value_name = "USD", env = "LLMSERVE_ADVISE_API_PRICE_INPUT", allow_negative_numbers = true)]
    pub api_price_input: f64,
    /// API price in USD per 1M output tokens.
    #[arg(long, value_name = "USD", env = "LLMSERVE_ADVISE_API_PRICE_OUTPUT", allow_negative_numbers = true)]
    pub api_price_output: f64,
    /// Requests per day of the workload.
    #[arg(long, value_name = "N", env = "LLMSERVE_ADVISE_DAILY_REQUESTS", allow_negative_numbers = true)]
    pub daily_requests: f64,
    /// Mean input (prompt) tokens per request of the workload.
    #[arg(long, value_name = "N", env = "LLMSERVE_ADVISE_INPUT_TOKENS", allow_negative_numbers = true)]
    pub input_tokens: f64,
    /// Mean output tokens per request of the workload.
    #[arg(long, value_name = "N", env = "LLMSERVE_ADVISE_OUTPUT_TOKENS", allow_negative_numbers = true)]
    pub output_tokens: f64,
    /// Peak request rate over the day's average (>= 1): capacity must cover the peak.
    #[arg(long, value_name = "RATIO", default_value_t = DEFAULT_PEAK_TO_AVERAGE, env = "LLMSERVE_ADVISE_PEAK_TO_AVERAGE", allow_negative_numbers = true)]
    pub peak_to_average: f64,
    /// How sensitive the prompts' data is.
    #[arg(long, value_enum, default_value_t = DataSensitivity::Internal, env = "LLMSERVE_ADVISE_DATA_SENSITIVITY")]
    pub data_sensitivity: DataSensitivity,
    /// Compliance needs (repeat the flag or separate with commas).
    #[arg(long, value_enum, value_delimiter = ',', env = "LLMSERVE_ADVISE_COMPLIANCE")]
    pub compliance: Vec<Compliance>,
    /// The API provider is contractually approved for this data (BAA signed, region pinned, DPA …).
    #[arg(long, env = "LLMSERVE_ADVISE_API_COMPLIANT")]
    pub api_compliant: bool,
    /// Target time to first token (ms), checked against the bench's p99 (median if no p99).
    #[arg(long, value_name = "MS", env = "LLMSERVE_ADVISE_LATENCY_TARGET_TTFT_MS", allow_negative_numbers = true)]
    pub latency_target_ttft_ms: Option<f64>,
    /// Target time per output token (ms), checked against the bench's p99 (median if no p99).
    #[arg(long, value_name = "MS", env = "LLMSERVE_ADVISE_LATENCY_TARGET_TPOT_MS", allow_negative_numbers = true)]
    pub latency_target_tpot_ms: Option<f64>,
    /// Plan replicas to run at most this busy at the peak, in (0, 1].
    #[arg(long, value_name = "FRACTION", default_value_t = DEFAULT_UTILIZATION_TARGET, env = "LLMSERVE_ADVISE_UTILIZATION_TARGET", allow_negative_numbers = true)]
    pub utilization_target: f64,
    /// Cost of one input token in output-token equivalents, in [0, 1] (prefill is cheaper than decode).
    #[arg(long, value_name = "W", default_value_t = DEFAULT_INPUT_TOKEN_WEIGHT, env = "LLMSERVE_ADVISE_INPUT_TOKEN_WEIGHT", allow_negative_numbers = true)]
    pub input_token_weight: f64,
    /// Print the advice as JSON instead of text.
    #[arg(long, env = "LLMSERVE_ADVISE_JSON")]
    pub json: bool,
}

impl AdviseArgs {
    /// The validated inputs: exactly one throughput source, every value in range, the bench result
    /// read and checked.
    pub fn to_inputs(&self) -> Result<AdviseInputs, AdviseError> {
        let measurement = match (&self.bench_result, self.throughput_tok_s) {
            (Some(_), Some(_)) => return Err(AdviseError::BothThroughputs),
            (None, None) => return Err(AdviseError::NoThroughput),
            (None, Some(output_tokens_per_s)) => Measurement::OutputThroughput { output_tokens_per_s },
            (Some(path), None) => {
                let result = BenchResult::read(path)?;
                Measurement::Bench(BenchMeasurement::from_result(&result, &path.display().to_string())?)
            }
        };
        let inputs = AdviseInputs {
            measurement,
            gpu: GpuPrices { usd_per_gpu_hour: self.gpu_price_per_hour, gpus_per_deployment: self.gpus },
            api: ApiPrices { input_usd_per_million: self.api_price_input, output_usd_per_million: self.api_price_output },
            workload: Workload {
                daily_requests: self.daily_requests,
                mix: Mix { input_tokens: self.input_tokens, output_tokens: self.output_tokens },
                peak_to_average: self.peak_to_average,
            },
            data: DataPolicy {
                sensitivity: self.data_sensitivity,
                compliance: self.compliance.clone(),
                api_compliant: self.api_compliant,
            },
            latency_targets: LatencyTargets { ttft_ms: self.latency_target_ttft_ms, tpot_ms: self.latency_target_tpot_ms },
            utilization_target: self.utilization_target,
            input_token_weight: self.input_token_weight,
        };
        inputs.validate()?;
        Ok(inputs)
    }
}
