//! `llmserve safety-eval`: runs the injection and PII detectors over the labelled evaluation set
//! (`server/safety-eval/`) and prints precision / recall per category.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct SafetyEvalArgs {
    /// Folder with injection.jsonl, benign.jsonl, pii.jsonl and pii-negative.jsonl.
    #[arg(long, env = "LLMSERVE_SAFETY_EVAL_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/server/safety-eval"))]
    pub dir: PathBuf,
}

pub fn run(args: SafetyEvalArgs) -> Result<()> {
    let report = llmserve_server::safety::eval::run_eval(&args.dir)
        .with_context(|| format!("evaluating the safety detectors on {}", args.dir.display()))?;
    println!("{report}");
    Ok(())
}
