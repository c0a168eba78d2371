//! `llmserve export --format hf --out DIR`: write a model as a Hugging Face directory (config.json,
//! safetensors, tokenizer files), dequantizing GGUF weights.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use llmserve_kernels::DType;
use llmserve_models::export::{export_hf, HfExportOptions};

use super::model_args::ModelArgs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Hugging Face directory: config.json + safetensors + tokenizer.json.
    Hf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportDtype {
    F32,
    Bf16,
    F16,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, value_enum, default_value = "hf")]
    pub format: ExportFormat,
    /// Output directory (created; must be empty if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// Storage type of the exported weights.
    #[arg(long, value_enum, default_value = "bf16")]
    pub dtype: ExportDtype,
    /// Largest safetensors shard in bytes (bigger models are sharded with an index).
    #[arg(long = "max-shard-bytes", default_value_t = 4 << 30)]
    pub max_shard_bytes: u64,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let model = args.model.load()?;
    let dtype = match args.dtype {
        ExportDtype::F32 => DType::F32,
        ExportDtype::Bf16 => DType::BF16,
        ExportDtype::F16 => DType::F16,
    };
    let ExportFormat::Hf = args.format;
    let written = export_hf(&model, &args.out, &HfExportOptions { dtype, max_shard_bytes: args.max_shard_bytes })?;
    for f in &written {
        println!("{}", f.display());
    }
    Ok(())
}
