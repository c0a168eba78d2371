//! The result files a report is made from: every `*.json` in the given directories, each either one
//! run ([`BenchResult`], from `bench serve`) or a sweep ([`SweepResult`], from `bench sweep`), told
//! apart by shape (a sweep has `points`). A JSON file that is neither is an error naming the file —
//! nothing is skipped silently. Files are sorted by name so the report is deterministic.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::result::{BenchResult, SweepResult};

/// One loaded file.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// The file's name (shown in tables and used to order them).
    pub name: String,
    pub path: PathBuf,
    pub value: T,
}

/// Every result found, single runs and sweeps apart, each list sorted by file name.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub runs: Vec<Loaded<BenchResult>>,
    pub sweeps: Vec<Loaded<SweepResult>>,
}

/// A run to compare: a single run or one point of a sweep, and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct RunRef<'a> {
    pub file: &'a str,
    /// The sweep's load for a sweep point.
    pub load: Option<f64>,
    pub result: &'a BenchResult,
}

impl Inputs {
    /// Every run: single runs first, then each sweep's points in the order of the file.
    pub fn all_runs(&self) -> Vec<RunRef<'_>> {
        let singles = self.runs.iter().map(|r| RunRef { file: &r.name, load: None, result: &r.value });
        let points = self.sweeps.iter().flat_map(|s| {
            s.value.points.iter().map(|p| RunRef { file: &s.name, load: Some(p.load), result: &p.result })
        });
        singles.chain(points).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading the results directory {0}: {1}")]
    Dir(PathBuf, #[source] std::io::Error),
    #[error("reading {0}: {1}")]
    File(PathBuf, #[source] std::io::Error),
    #[error("{0} is not a bench result: {1}")]
    NotAResult(PathBuf, String),
}

/// Loads every `*.json` directly inside each of `dirs` (not recursive).
pub fn load(dirs: &[PathBuf]) -> Result<Inputs, InputError> {
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(|e| InputError::Dir(dir.clone(), e))?;
        for entry in entries {
            let path = entry.map_err(|e| InputError::Dir(dir.clone(), e))?.path();
            if path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                files.push(path);
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then_with(|| a.cmp(b)));
    files.dedup();
    let mut inputs = Inputs::default();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match read_one(&path)? {
            Parsed::Run(value) => inputs.runs.push(Loaded { name, path, value: *value }),
            Parsed::Sweep(value) => inputs.sweeps.push(Loaded { name, path, value }),
        }
    }
    Ok(inputs)
}

enum Parsed {
    Run(Box<BenchResult>),
    Sweep(SweepResult),
}

fn read_one(path: &Path) -> Result<Parsed, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| InputError::File(path.to_path_buf(), e))?;
    let not = |why: String| InputError::NotAResult(path.to_path_buf(), why);
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| not(format!("not valid JSON ({e})")))?;
    let Some(object) = value.as_object() else {
        return Err(not("the file holds no JSON object".into()));
    };
    if object.contains_key("points") {
        SweepResult::deserialize(&value)
            .map(Parsed::Sweep)
            .map_err(|e| not(format!("it has `points` like a sweep result, but: {e}")))
    } else if object.contains_key("request_throughput") {
        BenchResult::deserialize(&value)
            .map(|r| Parsed::Run(Box::new(r)))
            .map_err(|e| not(format!("it has `request_throughput` like a run result, but: {e}")))
    } else {
        Err(not("neither a run result (no `request_throughput`) nor a sweep result (no `points`)".into()))
    }
}
