//! The model-selection arguments shared by every subcommand that loads a model:
//! `--model <path|default>`, `--weights file|random`, `--seed`, `--weights-dtype`, `--tokenizer`,
//! `--threads`, `--activations`, `--device`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use llmserve_engine::cuda::{Device, ResolvedDevice};
use llmserve_engine::{CpuBackend, CpuBackendConfig};
use llmserve_kernels::DType;
use llmserve_models::config::LlamaConfig;
use llmserve_models::default_model;
use llmserve_models::llama::MatmulPrecision;
use llmserve_models::model::{LoadedModel, ModelSource};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WeightsKind {
    /// Read weights from the model file or directory.
    File,
    /// Deterministic random weights for the config given by --model (a config.json or HF directory).
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SyntheticDtype {
    F32,
    F16,
    Bf16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q4K,
    Q6K,
}

impl From<SyntheticDtype> for DType {
    fn from(d: SyntheticDtype) -> DType {
        match d {
            SyntheticDtype::F32 => DType::F32,
            SyntheticDtype::F16 => DType::F16,
            SyntheticDtype::Bf16 => DType::BF16,
            SyntheticDtype::Q8_0 => DType::Q8_0,
            SyntheticDtype::Q4_0 => DType::Q4_0,
            SyntheticDtype::Q4_1 => DType::Q4_1,
            SyntheticDtype::Q4K => DType::Q4K,
            SyntheticDtype::Q6K => DType::Q6K,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Activations {
    /// 8-bit matmul inputs everywhere with integer dot products (fastest; llama.cpp's numerics).
    Int8,
    /// Higher precision for the Q|K|V projection input, 8-bit elsewhere (about half llama.cpp's logit error).
    Balanced,
    /// f32 matmul inputs everywhere (slowest; matches a float64 forward to ~1e-4).
    F32,
}

#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// A .gguf file, a Hugging Face directory, `default` (the embedded default model, fetched if
    /// missing), or with --weights random a config.json.
    #[arg(long, env = "LLMSERVE_MODEL", default_value = "default")]
    pub model: String,
    /// Where weights come from.
    #[arg(long, env = "LLMSERVE_WEIGHTS", value_enum, default_value = "file")]
    pub weights: WeightsKind,
    /// Seed of random weights.
    #[arg(long = "weights-seed", env = "LLMSERVE_WEIGHTS_SEED", default_value_t = 0)]
    pub weights_seed: u64,
    /// Storage type of random weights.
    #[arg(long = "weights-dtype", env = "LLMSERVE_WEIGHTS_DTYPE", value_enum, default_value = "q8-0")]
    pub weights_dtype: SyntheticDtype,
    /// Tokenizer directory (tokenizer.json) for random weights.
    #[arg(long, env = "LLMSERVE_TOKENIZER")]
    pub tokenizer: Option<PathBuf>,
    /// Compute threads (0 = one per core).
    #[arg(long, env = "LLMSERVE_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Matmul activation precision on the CPU.
    #[arg(long, env = "LLMSERVE_ACTIVATIONS", value_enum, default_value = "balanced")]
    pub activations: Activations,
    /// Backend: cuda (error when unavailable), cpu, or auto (CUDA when usable, else the CPU).
    #[arg(long, env = "LLMSERVE_DEVICE", default_value = "cpu")]
    pub device: Device,
}

impl ModelArgs {
    /// Resolves `--model` to a source, pulling the default model if needed.
    pub fn source(&self) -> Result<ModelSource> {
        match self.weights {
            WeightsKind::Random => {
                let p = PathBuf::from(&self.model);
                let cfg_path = if p.is_dir() { p.join("config.json") } else { p };
                let config = LlamaConfig::from_hf_json_file(&cfg_path)?;
                Ok(ModelSource::Synthetic {
                    config: Box::new(config),
                    seed: self.weights_seed,
                    dtype: self.weights_dtype.into(),
                    tokenizer_dir: self.tokenizer.clone(),
                })
            }
            WeightsKind::File if self.model == "default" => {
                let path = default_model::cached_path();
                if !path.is_file() {
                    eprintln!("default model not found at {}; fetching it", path.display());
                    crate::cli::pull::pull_default(false)?;
                }
                Ok(ModelSource::Gguf(path))
            }
            WeightsKind::File => Ok(ModelSource::from_path(&PathBuf::from(&self.model))?),
        }
    }

    pub fn load(&self) -> Result<LoadedModel> {
        let source = self.source()?;
        LoadedModel::load(&source).with_context(|| format!("loading model {}", self.model))
    }

    pub fn precision(&self) -> MatmulPrecision {
        match self.activations {
            Activations::Int8 => MatmulPrecision::FAST,
            Activations::Balanced => MatmulPrecision::BALANCED,
            Activations::F32 => MatmulPrecision::EXACT,
        }
    }

    /// Resolves `--device` on this build and machine (`cuda` without the feature or a GPU is an
    /// error naming why; `auto` falls back to the CPU with a log line).
    pub fn resolve_device(&self) -> Result<ResolvedDevice> {
        Ok(self.device.resolve()?)
    }

    /// Loads the model and builds a CPU backend with a KV cache of `kv_cache_tokens`. The
    /// single-sequence commands (`generate`, `bench-model`) run on the CPU backend; `--device cuda`
    /// is refused with the reason (GPU runs: `llmserve bench-gpu`, and the server in a later issue).
    pub fn cpu_backend(&self, model: &LoadedModel, kv_cache_tokens: usize) -> Result<CpuBackend> {
        match (self.device, self.resolve_device()?) {
            (_, ResolvedDevice::Cpu) => {}
            (Device::Auto, ResolvedDevice::Cuda) => eprintln!("device auto: this command runs on the CPU backend"),
            (_, ResolvedDevice::Cuda) => {
                bail!("--device cuda: this command runs on the CPU backend only so far; use `llmserve bench-gpu` for the CUDA backend")
            }
        }
        if kv_cache_tokens == 0 {
            bail!("the KV cache needs at least one token");
        }
        let llama = model.build_llama(self.precision())?;
        let cfg = CpuBackendConfig { threads: self.threads, kv_cache_tokens, ..Default::default() };
        Ok(CpuBackend::new(llama, &cfg)?)
    }
}
