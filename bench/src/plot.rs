//! PNG plots of sweeps (`llmserve bench report`): latency and throughput against load, one line per
//! server (a colour per sweep label) and per statistic (a dash pattern and marker per median / pN),
//! drawn with plotters' bitmap backend. Files: `ttft.png`, `tpot.png`, `itl.png`, `e2el.png`,
//! `throughput.png` (output tok/s) and `request_throughput.png` (req/s), 1000×600 px.
//!
//! plotters draws text with ab_glyph and finds no system fonts by itself: a TTF is loaded from
//! `$LLMSERVE_PLOT_FONT` or the usual install paths of DejaVu Sans / Liberation Sans / Arial and
//! registered once per process as the `sans-serif` family.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::result::{format_percentile, LatencyMetric, Stat, SweepAxis, SweepResult};

/// Environment variable naming a TTF/OTF file to draw text with.
pub const FONT_ENV: &str = "LLMSERVE_PLOT_FONT";

/// Where common systems install a sans-serif TTF, in the order tried.
pub const COMMON_FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

pub(crate) const SIZE: (u32, u32) = (1000, 600);
const FONT: &str = "sans-serif";

/// One colour per sweep label (Tableau 10), in label order.
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("no sweeps to plot")]
    NoSweeps,
    #[error("all sweeps in one plot must share the load axis: `{first_label}` varies {first}, `{other_label}` varies {other}")]
    AxisMismatch { first_label: String, first: &'static str, other_label: String, other: &'static str },
    #[error("sweep `{label}` has a load that is not a finite number ({load}); it cannot be placed on the axis")]
    NonFiniteLoad { label: String, load: f64 },
    #[error("{FONT_ENV} names {0}, which does not exist")]
    FontEnvMissing(PathBuf),
    #[error("no font found for the plots; tried: {tried}. Install fonts-dejavu-core (Debian/Ubuntu; dejavu-sans-fonts on Fedora, ttf-dejavu on Arch) or set {FONT_ENV} to a .ttf file")]
    FontNotFound { tried: String },
    #[error("{0} is not a font file plotters can read (TTF/OTF expected)")]
    InvalidFont(PathBuf),
    #[error("reading font {0}: {1}")]
    FontIo(PathBuf, #[source] std::io::Error),
    #[error("creating {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("drawing {0}: {1}")]
    Draw(PathBuf, String),
}

/// Chooses the font file: `$LLMSERVE_PLOT_FONT` when set (it must exist: an explicit choice is never
/// silently replaced), else the first of `common` that exists. Takes both as parameters so tests need
/// not touch the process environment.
pub fn locate_font(env_value: Option<OsString>, common: &[&str]) -> Result<PathBuf, PlotError> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if path.is_file() { Ok(path) } else { Err(PlotError::FontEnvMissing(path)) };
    }
    common
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| PlotError::FontNotFound { tried: common.join(", ") })
}

/// The font registered for this process (registration leaks the file's bytes once: plotters keeps
/// `&'static` font data).
static REGISTERED_FONT: Mutex<Option<PathBuf>> = Mutex::new(None);

pub(crate) fn ensure_font() -> Result<(), PlotError> {
    let mut registered = REGISTERED_FONT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if registered.is_some() {
        return Ok(());
    }
    let path = locate_font(std::env::var_os(FONT_ENV), COMMON_FONT_PATHS)?;
    let bytes = std::fs::read(&path).map_err(|e| PlotError::FontIo(path.clone(), e))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font(FONT, FontStyle::Normal, bytes).map_err(|_| PlotError::InvalidFont(path.clone()))?;
    *registered = Some(path);
    Ok(())
}

/// The statistics drawn for latency plots: the median, then each requested percentile (50 is the
/// median and is not drawn twice).
fn statistics(percentiles: &[f64]) -> Vec<Stat> {
    let mut stats = vec![Stat::Median];
    for &p in percentiles {
        if p != 50.0 && !stats.contains(&Stat::Percentile(p)) {
            stats.push(Stat::Percentile(p));
        }
    }
    stats
}

/// Reads one throughput field of a run.
type ThroughputOf = fn(&crate::result::BenchResult) -> f64;

/// One line of a chart.
struct Series {
    name: String,
    color: RGBColor,
    /// Index of the statistic: picks the dash pattern and the marker.
    style: usize,
    points: Vec<(f64, f64)>,
}

/// Writes the plots of `sweeps` into `out_dir` (created if missing) and returns the files written.
/// Latency plots get one line per sweep label × statistic (median and each of `percentiles` present in
/// the results); a statistic no point carries is left out.
pub fn plot_sweeps(sweeps: &[SweepResult], out_dir: &Path, percentiles: &[f64]) -> Result<Vec<PathBuf>, PlotError> {
    let first = sweeps.first().ok_or(PlotError::NoSweeps)?;
    for sweep in sweeps {
        if sweep.axis != first.axis {
            return Err(PlotError::AxisMismatch {
                first_label: first.label.clone(),
                first: first.axis.label(),
                other_label: sweep.label.clone(),
                other: sweep.axis.label(),
            });
        }
        if let Some(p) = sweep.points.iter().find(|p| !p.load.is_finite()) {
            return Err(PlotError::NonFiniteLoad { label: sweep.label.clone(), load: p.load });
        }
    }
    ensure_font()?;
    std::fs::create_dir_all(out_dir).map_err(|e| PlotError::Io(out_dir.to_path_buf(), e))?;

    let axis = first.axis;
    let stats = statistics(percentiles);
    let mut written = Vec::new();
    for metric in LatencyMetric::ALL {
        let mut series = Vec::new();
        for (i, sweep) in sweeps.iter().enumerate() {
            for (s, stat) in stats.iter().enumerate() {
                let points = sorted_points(sweep, |r| r.latency(metric, *stat));
                if !points.is_empty() {
                    let name = format!("{} {}", sweep.label, stat_name(*stat));
                    series.push(Series { name, color: PALETTE[i % PALETTE.len()], style: s, points });
                }
            }
        }
        let path = out_dir.join(format!("{}.png", metric.key()));
        let title = format!("{}: {} vs load", metric.key().to_uppercase(), metric.title());
        draw_chart(&path, &title, axis, &format!("{} (ms)", metric.key().to_uppercase()), &series)?;
        written.push(path);
    }
    let throughputs: [(&str, &str, &str, ThroughputOf); 2] = [
        ("throughput.png", "Output token throughput vs load", "output throughput (tok/s)", |r| r.output_throughput),
        ("request_throughput.png", "Request throughput vs load", "request throughput (req/s)", |r| {
            r.request_throughput
        }),
    ];
    for (file, title, y_desc, value) in throughputs {
        let series: Vec<Series> = sweeps
            .iter()
            .enumerate()
            .map(|(i, sweep)| Series {
                name: sweep.label.clone(),
                color: PALETTE[i % PALETTE.len()],
                style: 0,
                points: sorted_points(sweep, |r| Some(value(r))),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        let path = out_dir.join(file);
        draw_chart(&path, title, axis, y_desc, &series)?;
        written.push(path);
    }
    Ok(written)
}

fn stat_name(stat: Stat) -> String {
    match stat {
        Stat::Percentile(p) => format!("p{}", format_percentile(p)),
        other => other.key(),
    }
}

/// (load, value) of every point that has the value, by increasing load.
fn sorted_points(sweep: &SweepResult, value: impl Fn(&crate::result::BenchResult) -> Option<f64>) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> =
        sweep.points.iter().filter_map(|p| value(&p.result).filter(|v| v.is_finite()).map(|v| (p.load, v))).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// How the load axis is drawn: loads spanning 8× or more (1, 2, 4 … 64) go on a log₂ axis so the low
/// loads are not crowded into the left edge.
#[derive(Clone, Copy, Debug, PartialEq)]
enum XScale {
    Linear { lo: f64, hi: f64 },
    Log2 { lo: f64, hi: f64 },
}

impl XScale {
    fn of(series: &[Series]) -> XScale {
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if !lo.is_finite() {
            return XScale::Linear { lo: 0.0, hi: 1.0 };
        }
        if lo > 0.0 && hi / lo >= 8.0 {
            return XScale::Log2 { lo: lo / 1.2, hi: hi * 1.2 };
        }
        if (hi - lo).abs() < f64::EPSILON {
            let pad = (lo.abs() * 0.1).max(1.0);
            return XScale::Linear { lo: lo - pad, hi: hi + pad };
        }
        let pad = (hi - lo) * 0.05;
        XScale::Linear { lo: lo - pad, hi: hi + pad }
    }

    /// Where `x` lies across the plotting area, 0 = left edge, 1 = right edge.
    fn fraction(&self, x: f64) -> f64 {
        match *self {
            XScale::Linear { lo, hi } => (x - lo) / (hi - lo),
            XScale::Log2 { lo, hi } => (x.ln() - lo.ln()) / (hi.ln() - lo.ln()),
        }
    }
}

/// The plotting area in pixels, approximately (image minus margins, caption and label areas): used
/// only to size the legend against the data.
const PLOT_AREA: (f64, f64) = (SIZE.0 as f64 - 2.0 * 20.0 - 90.0, SIZE.1 as f64 - 2.0 * 20.0 - 45.0 - 60.0);
const LEGEND_FONT: u32 = 17;
const LEGEND_AREA: u32 = 42;

/// The legend's corner and the top of the y axis: the first corner (upper left, upper right, lower
/// right, lower left) whose box covers no line, else upper left with the y axis raised until the
/// legend fits above every line.
fn legend_layout(series: &[Series], scale: XScale) -> (SeriesLabelPosition, f64) {
    let y_top = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0_f64, f64::max);
    let y_top = if y_top > 0.0 { y_top * 1.08 } else { 1.0 };
    let longest = series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64;
    let width = (10.0 * 2.0 + LEGEND_AREA as f64 + longest * LEGEND_FONT as f64 * 0.6) / PLOT_AREA.0;
    let height = (10.0 * 2.0 + series.len() as f64 * LEGEND_FONT as f64 * 1.3) / PLOT_AREA.1;
    // Samples along every line, as fractions of the plotting area.
    let mut samples = Vec::new();
    for s in series {
        for pair in s.points.windows(2) {
            for i in 0..=20 {
                let t = i as f64 / 20.0;
                let x = scale.fraction(pair[0].0) * (1.0 - t) + scale.fraction(pair[1].0) * t;
                samples.push((x, (pair[0].1 * (1.0 - t) + pair[1].1 * t) / y_top));
            }
        }
        samples.extend(s.points.iter().map(|p| (scale.fraction(p.0), p.1 / y_top)));
    }
    let corners = [
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - height),
        (SeriesLabelPosition::UpperRight, 1.0 - width, 1.0 - height),
        (SeriesLabelPosition::LowerRight, 1.0 - width, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    ];
    for (position, x0, y0) in corners {
        let covered = samples
            .iter()
            .any(|&(x, y)| x >= x0 - 0.02 && x <= x0 + width + 0.02 && y >= y0 - 0.03 && y <= y0 + height + 0.03);
        if !covered {
            return (position, y_top);
        }
    }
    (SeriesLabelPosition::UpperLeft, y_top / (1.0 - height - 0.04).max(0.3))
}

fn draw_chart(path: &Path, title: &str, axis: SweepAxis, y_desc: &str, series: &[Series]) -> Result<(), PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError::Draw(path.to_path_buf(), e.to_string());
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let scale = XScale::of(series);
    let (legend, y_top) = legend_layout(series, scale);
    let labels = Labels { title, x_desc: axis.label(), y_desc, legend };
    match scale {
        XScale::Linear { lo, hi } => draw_into(&root, lo..hi, y_top, labels, series),
        XScale::Log2 { lo, hi } => draw_into(&root, (lo..hi).log_scale().base(2.0), y_top, labels, series),
    }
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

struct Labels<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    legend: SeriesLabelPosition,
}

fn draw_into<DB, X>(
    root: &DrawingArea<DB, Shift>,
    x_spec: X,
    y_top: f64,
    labels: Labels<'_>,
    series: &[Series],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(labels.title, (FONT, 30))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x_spec, 0.0..y_top)?;
    let x_formatter = |x: &f64| format_number(*x);
    let y_formatter = |y: &f64| format_number(*y);
    chart
        .configure_mesh()
        .x_desc(labels.x_desc)
        .y_desc(labels.y_desc)
        .x_label_formatter(&x_formatter)
        .y_label_formatter(&y_formatter)
        .label_style((FONT, 18))
        .axis_desc_style((FONT, 20))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    if series.is_empty() {
        let (w, h) = root.dim_in_pixel();
        root.draw(&Text::new("no data", (w as i32 / 2 - 40, h as i32 / 2), (FONT, 24)))?;
        return Ok(());
    }
    for s in series {
        let style = ShapeStyle { color: s.color.to_rgba(), filled: false, stroke_width: 3 };
        let dash = dash_pattern(s.style);
        let anno = match dash {
            None => chart.draw_series(LineSeries::new(s.points.clone(), style))?,
            Some((size, gap)) => chart.draw_series(DashedLineSeries::new(s.points.clone(), size, gap, style))?,
        };
        let kind = s.style;
        anno.label(s.name.clone()).legend(move |(x, y)| {
            let line: DynElement<'static, DB, (i32, i32)> = match dash {
                None => PathElement::new(vec![(0, 0), (30, 0)], style).into_dyn(),
                Some((size, gap)) => DashedPathElement::new(vec![(0, 0), (30, 0)], size, gap, style).into_dyn(),
            };
            EmptyElement::at((x, y)) + line + marker::<DB>((15, 0), kind, style.color)
        });
        chart.draw_series(s.points.iter().map(|&p| EmptyElement::at(p) + marker::<DB>((0, 0), kind, style.color)))?;
    }
    chart
        .configure_series_labels()
        .position(labels.legend)
        .legend_area_size(LEGEND_AREA)
        .label_font((FONT, LEGEND_FONT))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .margin(10)
        .draw()?;
    Ok(())
}

/// Dash pattern (dash length, gap) per statistic: solid median, then dashed, dotted, dash-dot-ish.
fn dash_pattern(style: usize) -> Option<(u32, u32)> {
    match style % 4 {
        0 => None,
        1 => Some((12, 6)),
        2 => Some((3, 5)),
        _ => Some((20, 8)),
    }
}

/// A marker per statistic (filled circle, triangle, cross, square), at `at` pixels from its anchor.
fn marker<DB: DrawingBackend>(at: (i32, i32), style: usize, color: RGBAColor) -> DynElement<'static, DB, (i32, i32)> {
    let filled = ShapeStyle { color, filled: true, stroke_width: 2 };
    let stroke = ShapeStyle { color, filled: false, stroke_width: 3 };
    match style % 4 {
        0 => Circle::new(at, 5, filled).into_dyn(),
        1 => TriangleMarker::new(at, 7, filled).into_dyn(),
        2 => Cross::new(at, 6, stroke).into_dyn(),
        _ => Rectangle::new([(at.0 - 5, at.1 - 5), (at.0 + 5, at.1 + 5)], filled).into_dyn(),
    }
}

/// Axis tick labels: integers without decimals, others with up to 3 significant digits and no
/// trailing zeros (`1.5`, not `1.50`).
fn format_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if (v - v.round()).abs() < 1e-9 && v.abs() < 1e9 {
        return format!("{}", v.round() as i64);
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{BenchResult, RequestRate, SweepPoint, TokenCountSource};
    use std::collections::BTreeMap;

    fn result(label: &str, load: f64, scale: f64) -> BenchResult {
        let mut latency_ms = BTreeMap::new();
        for metric in LatencyMetric::ALL {
            let base = match metric {
                LatencyMetric::Ttft => 120.0,
                LatencyMetric::Tpot => 9.0,
                LatencyMetric::Itl => 8.5,
                LatencyMetric::E2el => 1500.0,
            } * scale
                * (1.0 + load / 8.0);
            for (stat, factor) in [("mean", 1.05), ("median", 1.0), ("p90", 1.6), ("p99", 2.3)] {
                latency_ms.insert(format!("{stat}_{}_ms", metric.key()), base * factor);
            }
        }
        BenchResult {
            date: "20261127-120000".into(),
            label: label.into(),
            backend: "openai".into(),
            base_url: "http://127.0.0.1:8000".into(),
            endpoint: "/v1/completions".into(),
            model_id: "m".into(),
            hardware: "2 vCPU AMD EPYC".into(),
            hardware_class: "cpu-2core-epyc".into(),
            dataset_name: "random".into(),
            num_prompts: 64,
            request_rate: RequestRate::PerSecond(load),
            burstiness: 1.0,
            max_concurrency: None,
            ignore_eos: true,
            seed: 0,
            duration: 10.0,
            completed: 64,
            failed: 0,
            total_input_tokens: 64 * 235,
            total_output_tokens: 64 * 128,
            request_throughput: load.min(4.0 / scale),
            request_goodput: None,
            goodput_slo_ms: BTreeMap::new(),
            output_throughput: 128.0 * load.min(4.0 / scale),
            total_token_throughput: 363.0 * load.min(4.0 / scale),
            output_token_source: TokenCountSource::ServerUsage,
            latency_ms,
            input_lens: vec![],
            output_lens: vec![],
            ttfts: vec![],
            itls: vec![],
            errors: vec![],
        }
    }

    fn sweep(label: &str, axis: SweepAxis, scale: f64) -> SweepResult {
        sweep_at(label, axis, scale, &[1.0, 2.0, 3.0, 4.0, 6.0])
    }

    fn sweep_at(label: &str, axis: SweepAxis, scale: f64, loads: &[f64]) -> SweepResult {
        let points =
            loads.iter().copied().map(|load| SweepPoint { load, result: result(label, load, scale) }).collect();
        SweepResult { label: label.into(), axis, points }
    }

    fn font_available() -> bool {
        match locate_font(std::env::var_os(FONT_ENV), COMMON_FONT_PATHS) {
            Ok(_) => true,
            Err(e) => {
                eprintln!("skipping: {e}");
                false
            }
        }
    }

    #[test]
    fn writes_valid_pngs_for_two_sweeps() {
        if !font_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let sweeps =
            [sweep("llmserve", SweepAxis::RequestRate, 1.0), sweep("llama-server", SweepAxis::RequestRate, 1.4)];
        let files = plot_sweeps(&sweeps, dir.path(), &[50.0, 90.0, 99.0]).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["ttft.png", "tpot.png", "itl.png", "e2el.png", "throughput.png", "request_throughput.png"]);
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", file.display());
            assert!(bytes.len() > 10_000, "{} has content ({} bytes)", file.display(), bytes.len());
        }
        // A concurrency sweep over 1…64 (log₂ axis) with three servers.
        let loads = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
        let sweeps: Vec<SweepResult> = [("llmserve", 1.0), ("llama-server", 1.3), ("vllm", 0.7)]
            .into_iter()
            .map(|(label, scale)| sweep_at(label, SweepAxis::MaxConcurrency, scale, &loads))
            .collect();
        let conc = dir.path().join("conc");
        let more = plot_sweeps(&sweeps, &conc, &[99.0]).unwrap();
        assert_eq!(more.len(), 6);
        // Set LLMSERVE_KEEP_PLOTS=DIR to look at the images.
        if let Some(keep) = std::env::var_os("LLMSERVE_KEEP_PLOTS") {
            for file in files.iter().chain(&more) {
                let prefix = if file.starts_with(&conc) { "conc-" } else { "" };
                let name = format!("{prefix}{}", file.file_name().unwrap().to_string_lossy());
                std::fs::copy(file, Path::new(&keep).join(name)).unwrap();
            }
        }
    }

    #[test]
    fn wide_load_ranges_get_a_log_axis() {
        let series = |xs: &[f64]| {
            vec![Series {
                name: "s".into(),
                color: PALETTE[0],
                style: 0,
                points: xs.iter().map(|&x| (x, 1.0)).collect(),
            }]
        };
        assert!(matches!(XScale::of(&series(&[1.0, 2.0, 4.0, 8.0])), XScale::Log2 { .. }));
        assert!(matches!(XScale::of(&series(&[2.0, 4.0, 6.0])), XScale::Linear { .. }));
        assert!(matches!(XScale::of(&series(&[0.0, 16.0])), XScale::Linear { .. }));
        let scale = XScale::of(&series(&[1.0, 64.0]));
        assert!((scale.fraction(8.0) - 0.5).abs() < 1e-9, "8 is halfway between 1 and 64 on a log axis");
    }

    #[test]
    fn the_legend_avoids_the_lines() {
        // Rising lines: the upper left is free.
        let rising = vec![Series {
            name: "a median".into(),
            color: PALETTE[0],
            style: 0,
            points: vec![(1.0, 1.0), (8.0, 100.0)],
        }];
        let (position, top) = legend_layout(&rising, XScale::of(&rising));
        assert!(matches!(position, SeriesLabelPosition::UpperLeft));
        assert!((top - 108.0).abs() < 1e-9);
        // Falling lines: the upper right is free.
        let falling = vec![Series {
            name: "a median".into(),
            color: PALETTE[0],
            style: 0,
            points: vec![(1.0, 100.0), (8.0, 1.0)],
        }];
        assert!(matches!(legend_layout(&falling, XScale::of(&falling)).0, SeriesLabelPosition::UpperRight));
        // A flat line at the top and one at the bottom: no corner is free, the y axis is raised.
        let both = vec![
            Series { name: "top".into(), color: PALETTE[0], style: 0, points: vec![(1.0, 100.0), (8.0, 100.0)] },
            Series { name: "bottom".into(), color: PALETTE[1], style: 0, points: vec![(1.0, 1.0), (8.0, 1.0)] },
        ];
        let (position, top) = legend_layout(&both, XScale::of(&both));
        assert!(matches!(position, SeriesLabelPosition::UpperLeft));
        assert!(top > 120.0, "room above the lines for the legend: {top}");
    }

    #[test]
    fn sweeps_on_different_axes_are_refused() {
        let sweeps = [sweep("a", SweepAxis::RequestRate, 1.0), sweep("b", SweepAxis::MaxConcurrency, 1.0)];
        let dir = tempfile::tempdir().unwrap();
        let e = plot_sweeps(&sweeps, dir.path(), &[99.0]).unwrap_err();
        assert!(matches!(e, PlotError::AxisMismatch { .. }), "{e}");
        assert!(e.to_string().contains("`b` varies max concurrency"), "{e}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
        assert!(matches!(plot_sweeps(&[], dir.path(), &[]), Err(PlotError::NoSweeps)));
    }

    #[test]
    fn a_missing_font_is_a_clear_error() {
        let e = locate_font(Some("/nonexistent/font.ttf".into()), COMMON_FONT_PATHS).unwrap_err();
        assert!(matches!(e, PlotError::FontEnvMissing(_)));
        assert!(e.to_string().contains("LLMSERVE_PLOT_FONT names /nonexistent/font.ttf"), "{e}");
        let e = locate_font(None, &["/nope/a.ttf", "/nope/b.ttf"]).unwrap_err();
        let message = e.to_string();
        assert!(message.contains("/nope/a.ttf, /nope/b.ttf"), "{message}");
        assert!(message.contains("fonts-dejavu-core") && message.contains("LLMSERVE_PLOT_FONT"), "{message}");
    }

    #[test]
    fn an_existing_candidate_is_chosen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let font = dir.path().join("x.ttf");
        std::fs::write(&font, b"not checked here").unwrap();
        let font_str = font.to_str().unwrap();
        assert_eq!(locate_font(None, &["/nope/a.ttf", font_str]).unwrap(), font);
        assert_eq!(locate_font(Some(font.clone().into()), &["/nope/a.ttf"]).unwrap(), font);
    }

    #[test]
    fn statistics_put_the_median_first_once() {
        let stats = statistics(&[50.0, 90.0, 99.0, 99.0]);
        assert_eq!(stats, vec![Stat::Median, Stat::Percentile(90.0), Stat::Percentile(99.0)]);
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(0.125), "0.125");
        assert_eq!(format_number(1234.6), "1235");
        assert_eq!(format_number(12.5), "12.5");
    }
}
