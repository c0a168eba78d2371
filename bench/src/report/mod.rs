//! `llmserve bench report`: turns result files (`bench serve` runs, `bench sweep` sweeps) and the
//! published anchors (`benches/anchors.toml`) into a section of BENCHMARKS.md — anchors against our
//! comparable runs per hardware class, a table of every run, and sweeps of different servers on the
//! same machine side by side with plots. The section lives between two marker lines and is replaced
//! on every run; the rest of the file is never touched.
//!
//! Parts: [`inputs`] (reading and telling result files apart), [`matching`] (which run an anchor may be
//! compared with), [`render`] (the markdown), [`markers`] (splicing it into the file), [`format`].

pub mod format;
pub mod inputs;
pub mod markers;
pub mod matching;
pub mod render;

use std::path::{Component, Path, PathBuf};

use crate::anchors::{Anchors, AnchorsError};
use crate::plot::{plot_sweeps, PlotError};
use crate::result::SweepResult;
use inputs::InputError;
use markers::MarkerError;
use render::{image_alt, sweep_groups, Context, Image, SweepGroup};

/// `llmserve bench report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// A directory of result files: every *.json in it, each a `bench serve` run or a `bench sweep`
    /// sweep. Repeat the flag for several directories.
    #[arg(long = "results", value_name = "DIR", required = true, env = "LLMSERVE_REPORT_RESULTS")]
    pub results: Vec<PathBuf>,
    /// The published anchors to compare with.
    #[arg(long, value_name = "FILE", default_value = "benches/anchors.toml", env = "LLMSERVE_REPORT_ANCHORS")]
    pub anchors: PathBuf,
    /// The markdown file to write the report block into (created if missing; only the block between
    /// the report's marker lines is replaced).
    #[arg(long, value_name = "FILE", default_value = "BENCHMARKS.md", env = "LLMSERVE_REPORT_OUTPUT")]
    pub output: PathBuf,
    /// Where the PNG plots go (one sub-directory per hardware class and sweep axis); linked from the
    /// markdown relative to the output file.
    #[arg(long, value_name = "DIR", default_value = "docs/bench-plots", env = "LLMSERVE_REPORT_PLOTS")]
    pub plots: PathBuf,
    /// Latency percentiles drawn in the plots besides the median.
    #[arg(
        long,
        value_name = "P,…",
        value_delimiter = ',',
        default_value = "50,90,99",
        env = "LLMSERVE_REPORT_PERCENTILES"
    )]
    pub percentiles: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Anchors(#[from] AnchorsError),
    #[error("--percentiles: {0} is not a percentile in (0, 100]")]
    Percentile(f64),
    #[error(
        "{file}: the sweep's points were measured on different hardware classes ({classes}); a sweep is one machine"
    )]
    MixedHardware { file: PathBuf, classes: String },
    #[error("plotting the sweeps of {group}: {source}")]
    Plot {
        group: String,
        #[source]
        source: PlotError,
    },
    #[error("reading {0}: {1}")]
    ReadOutput(PathBuf, #[source] std::io::Error),
    #[error("writing {0}: {1}")]
    WriteOutput(PathBuf, #[source] std::io::Error),
    #[error("{0} {1}")]
    Markers(PathBuf, #[source] MarkerError),
}

/// Writes the report block into `args.output` and the plots into `args.plots`; returns a short
/// summary for the terminal.
pub fn run(args: &ReportArgs) -> Result<String, ReportError> {
    if let Some(&p) = args.percentiles.iter().find(|p| !(**p > 0.0 && **p <= 100.0)) {
        return Err(ReportError::Percentile(p));
    }
    let inputs = inputs::load(&args.results)?;
    for sweep in &inputs.sweeps {
        let mut classes: Vec<&str> = sweep.value.points.iter().map(|p| p.result.hardware_class.as_str()).collect();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() > 1 {
            return Err(ReportError::MixedHardware { file: sweep.path.clone(), classes: classes.join(", ") });
        }
    }
    let anchors = Anchors::load(&args.anchors)?;
    let groups = sweep_groups(&inputs);
    let out_dir = absolute(args.output.parent().unwrap_or(Path::new("")));
    let mut images = Vec::with_capacity(groups.len());
    let mut plot_count = 0;
    for group in &groups {
        let dir = args.plots.join(group.slug());
        let files = plot_sweeps(&plot_labels(group), &dir, &args.percentiles)
            .map_err(|source| ReportError::Plot { group: group.slug(), source })?;
        plot_count += files.len();
        images.push(
            files
                .iter()
                .map(|f| Image {
                    alt: image_alt(&f.file_name().unwrap_or_default().to_string_lossy()),
                    link: relative_link(&out_dir, &absolute(f)),
                })
                .collect::<Vec<_>>(),
        );
    }
    let anchors_path = args.anchors.display().to_string();
    let body = render::render(&Context {
        inputs: &inputs,
        anchors: &anchors,
        anchors_path: &anchors_path,
        groups: &groups,
        images: &images,
    });
    let existing = match std::fs::read_to_string(&args.output) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(ReportError::ReadOutput(args.output.clone(), e)),
    };
    let had_block = existing.lines().any(|l| l == markers::BEGIN);
    let text =
        markers::splice(&existing, &format!("\n{body}")).map_err(|e| ReportError::Markers(args.output.clone(), e))?;
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ReportError::WriteOutput(args.output.clone(), e))?;
    }
    std::fs::write(&args.output, text).map_err(|e| ReportError::WriteOutput(args.output.clone(), e))?;

    let compared = anchors
        .anchors
        .iter()
        .filter(|a| inputs.all_runs().iter().any(|r| matching::compare(a, r.result).is_some()))
        .count();
    let points: usize = inputs.sweeps.iter().map(|s| s.value.points.len()).sum();
    Ok(format!(
        "{} {}: {} and {} ({}) from {}; {} of {} anchors compared with a run; {} under {}",
        if had_block { "replaced the report block in" } else { "appended the report block to" },
        args.output.display(),
        count(inputs.runs.len(), "single run", "single runs"),
        count(inputs.sweeps.len(), "sweep", "sweeps"),
        count(points, "point", "points"),
        count(args.results.len(), "result directory", "result directories"),
        compared,
        anchors.anchors.len(),
        count(plot_count, "plot", "plots"),
        args.plots.display(),
    ))
}

/// `1 plot`, `6 plots`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The group's sweeps with labels made unique for the legend (`llmserve (run2.json)` when two sweeps
/// share a label).
fn plot_labels(group: &SweepGroup<'_>) -> Vec<SweepResult> {
    group
        .sweeps
        .iter()
        .map(|s| {
            let mut sweep = s.value.clone();
            if group.sweeps.iter().filter(|o| o.value.label == s.value.label).count() > 1 {
                sweep.label = format!("{} ({})", s.value.label, s.name);
            }
            sweep
        })
        .collect()
}

/// `path` made absolute against the current directory, `.` and `..` resolved lexically.
fn absolute(path: &Path) -> PathBuf {
    let joined =
        if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A markdown link from a file in `from_dir` to `to` (both absolute): `docs/bench-plots/x/ttft.png`,
/// `../plots/ttft.png`; always `/`-separated.
fn relative_link(from_dir: &Path, to: &Path) -> String {
    let from: Vec<Component<'_>> = from_dir.components().collect();
    let target: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(target[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

#[cfg(test)]
pub(crate) mod tests;
