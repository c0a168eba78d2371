//! `llmserve bench sweep`: the same workload at several loads — request rates, or concurrency caps
//! with every request sent at once — one run after the other against the same server, then one
//! table, one result file ([`SweepResult`]) and the plots of every latency and throughput vs load.

use std::path::PathBuf;
use std::sync::Arc;

use crate::dataset::PromptTokenizer;
use crate::result::{RequestRate, SweepAxis, SweepPoint, SweepResult};
use crate::runner::{prepare, run_once, write_json, BenchError, ServeArgs};

#[derive(clap::Args, Clone, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Request rates to run (req/s, comma-separated; `inf` allowed), with --max-concurrency as given.
    #[arg(long = "request-rates", value_delimiter = ',', conflicts_with = "concurrencies")]
    pub request_rates: Vec<RequestRate>,
    /// Concurrency caps to run (comma-separated), every request sent at once (rate inf).
    #[arg(long = "concurrencies", value_delimiter = ',')]
    pub concurrencies: Vec<usize>,
    /// Seconds to wait between runs (lets the server's queues drain and its caches settle).
    #[arg(long = "pause", default_value_t = 2.0)]
    pub pause: f64,
}

/// One level of a sweep: its position on the axis, the arrival rate and the concurrency cap.
type Load = (f64, RequestRate, Option<usize>);

impl SweepArgs {
    fn loads(&self) -> Result<(SweepAxis, Vec<Load>), BenchError> {
        match (self.request_rates.is_empty(), self.concurrencies.is_empty()) {
            (false, true) => Ok((
                SweepAxis::RequestRate,
                self.request_rates
                    .iter()
                    .map(|&r| (r.as_f64(), r, self.serve.max_concurrency))
                    .collect(),
            )),
            (true, false) => {
                if self.concurrencies.contains(&0) {
                    return Err(BenchError::Invalid("--concurrencies must all be at least 1".into()));
                }
                Ok((SweepAxis::MaxConcurrency, self.concurrencies.iter().map(|&c| (c as f64, RequestRate::Infinite, Some(c))).collect()))
            }
            _ => Err(BenchError::Invalid("bench sweep needs --request-rates R1,R2,… or --concurrencies C1,C2,…".into())),
        }
    }
}

pub fn run_sweep(args: &SweepArgs, tokenizer: Arc<dyn PromptTokenizer>) -> Result<SweepResult, BenchError> {
    let (axis, mut loads) = args.loads()?;
    if !(args.pause.is_finite() && args.pause >= 0.0) {
        return Err(BenchError::Invalid("--pause must be a non-negative number of seconds".into()));
    }
    if axis == SweepAxis::RequestRate {
        let top = loads.iter().map(|l| l.0).filter(|r| r.is_finite()).fold(0.0, f64::max);
        // An infinite rate has no place on a numeric axis: it is plotted at twice the largest finite rate.
        for l in &mut loads {
            if l.0.is_infinite() {
                l.0 = if top > 0.0 { 2.0 * top } else { 1.0 };
                eprintln!("note: rate inf is plotted at {} on the rate axis", l.0);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| BenchError::Invalid(format!("starting the async runtime: {e}")))?;
    let sweep = rt.block_on(async {
        let prepared = prepare(&args.serve, tokenizer).await?;
        let mut points = Vec::with_capacity(loads.len());
        for (i, &(load, rate, cap)) in loads.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_secs_f64(args.pause)).await;
            }
            let result = run_once(&args.serve, &prepared, rate, cap).await?;
            eprintln!(
                "{} load {load}: {:.2} req/s, {:.1} output tok/s, median TTFT {:.0} ms, {} failed",
                args.serve.label,
                result.request_throughput,
                result.output_throughput,
                result.latency(crate::result::LatencyMetric::Ttft, crate::result::Stat::Median).unwrap_or(0.0),
                result.failed
            );
            points.push(SweepPoint { load, result });
        }
        Ok::<_, BenchError>(SweepResult { label: args.serve.label.clone(), axis, points })
    })?;
    print!("{}", crate::table::sweep_table(&sweep, &args.serve.percentiles));
    if let Some(path) = &args.serve.result_json {
        write_json(path, &sweep)?;
    }
    if let Some(dir) = &args.serve.plot {
        let written: Vec<PathBuf> = crate::plot::plot_sweeps(std::slice::from_ref(&sweep), dir, &args.serve.percentiles)?;
        for p in written {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(sweep)
}
