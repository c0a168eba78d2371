//! `llmserve bench serve | sweep | offline | report`: the serving benchmark (any OpenAI-compatible
//! server, vLLM's metric definitions), load sweeps with plots, the in-process engine throughput
//! benchmark, and the BENCHMARKS.md report against published anchors. The work is in the
//! `llmserve-bench` crate; this file resolves the tokenizer and dispatches.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use llmserve_bench::dataset::PromptTokenizer;
use llmserve_models::default_model;
use llmserve_models::gguf::GgufFile;
use llmserve_models::tokenizer::Tokenizer;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Benchmark a running OpenAI-compatible server (llmserve, vLLM, llama-server, SGLang) like `vllm bench serve`.
    Serve(llmserve_bench::runner::ServeArgs),
    /// The same workload at several request rates or concurrencies: one table, one JSON, plots.
    Sweep(llmserve_bench::sweep::SweepArgs),
    /// Throughput of the engine in-process, every request at once, no HTTP (like `vllm bench throughput`).
    Offline(super::bench_offline::OfflineArgs),
    /// Render BENCHMARKS.md's generated section: our result files next to the published anchors.
    Report(llmserve_bench::report::ReportArgs),
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.command {
        BenchCommand::Serve(a) => {
            llmserve_bench::runner::run_serve(&a, load_prompt_tokenizer(&a.tokenizer)?)?;
        }
        BenchCommand::Sweep(a) => {
            llmserve_bench::sweep::run_sweep(&a, load_prompt_tokenizer(&a.serve.tokenizer)?)?;
        }
        BenchCommand::Offline(a) => super::bench_offline::run(a)?,
        BenchCommand::Report(a) => println!("{}", llmserve_bench::report::run(&a)?),
    }
    Ok(())
}

/// The model's tokenizer as the benchmark's prompt builder sees it: no BOS/EOS added (the server adds
/// them), special tokens never parsed from text.
pub struct ModelPromptTokenizer(pub Tokenizer);

impl PromptTokenizer for ModelPromptTokenizer {
    fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = self.0.encode(text, false).unwrap_or_default();
        if self.0.add_bos() && self.0.bos_id().is_some() && ids.first() == self.0.bos_id().as_ref() {
            ids.remove(0);
        }
        if self.0.add_eos() && self.0.eos_id().is_some() && ids.last() == self.0.eos_id().as_ref() {
            ids.pop();
        }
        ids
    }
    fn decode(&self, ids: &[u32]) -> String {
        self.0.decode(ids, true).unwrap_or_default()
    }
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn is_special(&self, id: u32) -> bool {
        self.0.is_special(id)
    }
}

/// `default` (the default model's, fetched if missing), a .gguf file, or a directory with tokenizer.json.
pub fn load_prompt_tokenizer(spec: &str) -> Result<Arc<dyn PromptTokenizer>> {
    let path = if spec == "default" {
        let path = default_model::cached_path();
        if !path.is_file() {
            eprintln!("default model not found at {}; fetching it for its tokenizer", path.display());
            super::pull::pull_default(false)?;
        }
        path
    } else {
        Path::new(spec).to_path_buf()
    };
    let tokenizer = if path.is_dir() {
        Tokenizer::from_hf_dir(&path)?
    } else {
        let file = GgufFile::open(&path).with_context(|| format!("--tokenizer {spec}: not a directory with tokenizer.json nor a readable .gguf file"))?;
        Tokenizer::from_gguf(&file.metadata)?
    };
    Ok(Arc::new(ModelPromptTokenizer(tokenizer)))
}
