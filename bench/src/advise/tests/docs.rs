//! The example in `docs/cost-advisor.md` is the real output of its command: regenerate the doc's block
//! from this test's output when the model changes.

use clap::Parser;

use super::super::args::AdviseArgs;
use super::super::run;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: AdviseArgs,
}

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cost-advisor.md"));

/// The documented command, without the leading `llmserve`.
const COMMAND: &str = "advise --throughput-tok-s 2400 --gpu-price-per-hour 2.50 --api-price-input 0.50 --api-price-output 1.50 --daily-requests 500000 --input-tokens 800 --output-tokens 250 --peak-to-average 2.5";

#[test]
fn doc_example_is_the_real_output() {
    let cli = Cli::try_parse_from(COMMAND.split_whitespace()).expect("the documented command parses");
    let out = run(&cli.args).expect("advice");
    assert!(DOC.contains(&format!("llmserve {COMMAND}")), "docs/cost-advisor.md must show the command");
    assert!(DOC.contains(&out), "docs/cost-advisor.md's example is stale; the output now is:\n{out}");
}
