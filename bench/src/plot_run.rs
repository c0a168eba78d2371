//! The plot of one `bench serve` run (`--plot DIR`): `latency_cdf.png`, the cumulative distribution of
//! TTFT, TPOT, ITL and E2EL — for each latency in ms (log scale, x) the share of requests (of gaps, for
//! ITL) at or below it (y) — so the median, the tail and the spread of all four read off one chart.
//! Drawn like the sweep plots ([`crate::plot`]: same font lookup and palette).

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::plot::{ensure_font, PlotError, PALETTE, SIZE};
use crate::result::{BenchResult, LatencyMetric};


/// The per-request (per-gap for ITL) values of a metric in ms, sorted; TPOT as vLLM defines it, for
/// requests with more than one output token.
pub fn samples_ms(r: &BenchResult, metric: LatencyMetric) -> Vec<f64> {
    let ok = |i: usize| r.errors.get(i).is_none_or(|e| e.is_empty());
    let mut v: Vec<f64> = match metric {
        LatencyMetric::Ttft => (0..r.ttfts.len()).filter(|&i| ok(i)).map(|i| r.ttfts[i] * 1e3).collect(),
        LatencyMetric::Itl => r.itls.iter().flatten().map(|s| s * 1e3).collect(),
        LatencyMetric::E2el | LatencyMetric::Tpot => (0..r.ttfts.len())
            .filter(|&i| ok(i))
            .filter_map(|i| {
                let e2el = r.ttfts[i] + r.itls.get(i).map_or(0.0, |g| g.iter().sum::<f64>());
                match metric {
                    LatencyMetric::E2el => Some(e2el * 1e3),
                    _ => {
                        let n = *r.output_lens.get(i)?;
                        (n > 1).then(|| (e2el - r.ttfts[i]) / (n - 1) as f64 * 1e3)
                    }
                }
            })
            .collect(),
    };
    v.retain(|x| x.is_finite() && *x > 0.0);
    v.sort_by(f64::total_cmp);
    v
}

/// Writes `latency_cdf.png` into `out_dir` (created if missing).
pub fn plot_run(r: &BenchResult, out_dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    ensure_font()?;
    std::fs::create_dir_all(out_dir).map_err(|e| PlotError::Io(out_dir.to_path_buf(), e))?;
    let path = out_dir.join("latency_cdf.png");
    draw_cdf(r, &path)?;
    Ok(vec![path])
}

fn draw_cdf(r: &BenchResult, path: &Path) -> Result<(), PlotError> {
    let series: Vec<(LatencyMetric, Vec<f64>)> =
        LatencyMetric::ALL.into_iter().map(|m| (m, samples_ms(r, m))).filter(|(_, v)| !v.is_empty()).collect();
    let lo = series.iter().map(|(_, v)| v[0]).fold(f64::INFINITY, f64::min);
    let hi = series.iter().map(|(_, v)| v[v.len() - 1]).fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo * 0.8, hi * 1.25) } else { (0.1, 10.0) };
    let draw_err = |e: String| PlotError::Draw(path.to_path_buf(), e);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
    let title = format!("{}: latency distribution ({} requests, {} dataset, rate {})", r.label, r.num_prompts, r.dataset_name, r.request_rate);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
        .map_err(|e| draw_err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .x_label_formatter(&|x: &f64| if *x < 1.0 { format!("{x:.1}") } else { format!("{x:.0}") })
        .y_desc("share of requests at or below (ITL: of gaps)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    for (i, (metric, values)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let n = values.len() as f64;
        // A step function: at each value the share jumps from k/n to (k+1)/n.
        let points: Vec<(f64, f64)> =
            values.iter().enumerate().flat_map(|(k, &x)| [(x, k as f64 / n), (x, (k + 1) as f64 / n)]).collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(3)))
            .map_err(|e| draw_err(e.to_string()))?
            .label(format!("{} (median {:.0} ms)", metric.key().to_uppercase(), crate::metrics::percentile(values, 50.0)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    root.present().map_err(|e| draw_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{RequestRate, TokenCountSource};

    fn result() -> BenchResult {
        BenchResult {
            date: "20261127-000000".into(),
            label: "llmserve".into(),
            backend: "openai".into(),
            base_url: "http://x".into(),
            endpoint: "/v1/completions".into(),
            model_id: "m".into(),
            hardware: "h".into(),
            hardware_class: "cpu-2core-epyc".into(),
            dataset_name: "random".into(),
            num_prompts: 3,
            request_rate: RequestRate::Infinite,
            burstiness: 1.0,
            max_concurrency: None,
            ignore_eos: true,
            seed: 0,
            duration: 2.0,
            completed: 2,
            failed: 1,
            total_input_tokens: 20,
            total_output_tokens: 5,
            request_throughput: 1.0,
            request_goodput: None,
            goodput_slo_ms: Default::default(),
            output_throughput: 2.5,
            total_token_throughput: 12.5,
            output_token_source: TokenCountSource::ServerUsage,
            latency_ms: Default::default(),
            input_lens: vec![10, 10, 0],
            output_lens: vec![4, 1, 0],
            ttfts: vec![0.5, 0.25, 0.0],
            itls: vec![vec![0.1, 0.2, 0.3], vec![], vec![]],
            errors: vec![String::new(), String::new(), "HTTP 500".into()],
        }
    }

    #[test]
    fn samples_follow_the_metric_definitions() {
        let r = result();
        assert_eq!(samples_ms(&r, LatencyMetric::Ttft), vec![250.0, 500.0], "the failed request is left out");
        let e2el = samples_ms(&r, LatencyMetric::E2el);
        assert!((e2el[0] - 250.0).abs() < 1e-9 && (e2el[1] - 1100.0).abs() < 1e-9, "{e2el:?}");
        // TPOT of the 4-token request only: (1.1 − 0.5) / 3 s.
        let tpot = samples_ms(&r, LatencyMetric::Tpot);
        assert_eq!(tpot.len(), 1);
        assert!((tpot[0] - 200.0).abs() < 1e-9);
        assert_eq!(samples_ms(&r, LatencyMetric::Itl).len(), 3);
    }

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let files = match plot_run(&result(), dir.path()) {
            Ok(f) => f,
            Err(e @ PlotError::FontNotFound { .. }) => {
                eprintln!("skipped: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let bytes = std::fs::read(&files[0]).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 5_000);
    }
}
