//! `llmserve advise`: self-host vs API cost from a measured throughput (the `llmserve-bench` crate's
//! advisor; this file prints its report).

use anyhow::Result;

pub use llmserve_bench::advise::AdviseArgs;

pub fn run(args: AdviseArgs) -> Result<()> {
    print!("{}", llmserve_bench::advise::run(&args)?);
    Ok(())
}
