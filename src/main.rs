//! `llmserve` command line: serve, pull the default model, generate text, benchmark a model or a
//! server, advise on deployment cost, export a model.
//! Every flag is also an environment variable (`LLMSERVE_*`).

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(name = "llmserve", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("LLMSERVE_GIT_COMMIT"), ")"),
          about = "Native Rust LLM inference server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a model over an OpenAI-compatible HTTP API (default: the embedded default model).
    Serve(cli::serve::ServeArgs),
    /// Fetch the default model (SmolLM2-135M-Instruct Q4_1) into the cache.
    Pull(cli::pull::PullArgs),
    /// Generate text from a prompt, streaming it to stdout.
    Generate(cli::generate::GenerateArgs),
    /// Serving benchmarks: `bench serve` (any OpenAI-compatible server, vLLM's metrics), `bench sweep`,
    /// `bench offline` (in-process engine), `bench report` (BENCHMARKS.md vs published anchors).
    Bench(cli::bench::BenchArgs),
    /// Self-host vs API: cost per 1M tokens, monthly cost, break-even, recommendation.
    Advise(cli::advise::AdviseArgs),
    /// Measure prompt-processing and decode speed of a model.
    BenchModel(cli::bench_model::BenchModelArgs),
    /// Aggregate decode throughput of the batching engine with 1, 4, 8, 16 concurrent streams.
    BenchStreams(cli::bench_streams::BenchStreamsArgs),
    /// CUDA backend speed: decode latency/throughput by batch size, prefill throughput (feature cuda).
    #[cfg(feature = "cuda")]
    BenchGpu(cli::bench_gpu::BenchGpuArgs),
    /// Write a model in another format (Hugging Face directory).
    Export(cli::export::ExportArgs),
    /// Simulate serving a workload with the real scheduler and a step cost model (no model needed).
    Simulate(cli::simulate::SimulateArgs),
    /// Time real CPU forward steps on a grid of batch shapes and fit the simulator's cost model.
    CalibrateCostModel(cli::calibrate::CalibrateArgs),
    /// API keys for the tenants file (`keys new` prints a fresh key once and its hash line).
    Keys(cli::keys::KeysArgs),
    /// Precision / recall of the safety detectors on the labelled evaluation set.
    SafetyEval(cli::safety_eval::SafetyEvalArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => cli::serve::run(a),
        Command::Pull(a) => cli::pull::run(a),
        Command::Generate(a) => cli::generate::run(a),
        Command::Bench(a) => cli::bench::run(a),
        Command::Advise(a) => cli::advise::run(a),
        Command::BenchModel(a) => cli::bench_model::run(a),
        Command::BenchStreams(a) => cli::bench_streams::run(a),
        #[cfg(feature = "cuda")]
        Command::BenchGpu(a) => cli::bench_gpu::run(a),
        Command::Export(a) => cli::export::run(a),
        Command::Simulate(a) => cli::simulate::run(a),
        Command::CalibrateCostModel(a) => cli::calibrate::run(a),
        Command::Keys(a) => cli::keys::run(a),
        Command::SafetyEval(a) => cli::safety_eval::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
