//! What a result says about the machine: a description (`AMD EPYC 7B13 (2 cores)`, `NVIDIA H100 80GB
//! HBM3`) and the class anchors are matched on (`H100`, `H200`, `A100`, `cpu-2core-epyc`). Both
//! describe the machine running the benchmark; for a remote server pass `--hardware` and
//! `--hardware-class`. Also the UTC timestamp format of result files.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The first GPU's name from `nvidia-smi`, when there is one.
fn gpu_name() -> Option<String> {
    let out = Command::new("nvidia-smi").args(["--query-gpu=name", "--format=csv,noheader"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text.lines().next()?.trim();
    (out.status.success() && !name.is_empty()).then(|| name.to_string())
}

/// The CPU's model name from /proc/cpuinfo (the architecture elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Cores available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn default_hardware() -> String {
    gpu_name().unwrap_or_else(|| format!("{} ({} cores)", cpu_model(), cores()))
}

pub fn default_hardware_class() -> String {
    match gpu_name() {
        Some(gpu) => gpu_class(&gpu),
        None => cpu_class(&cpu_model(), cores()),
    }
}

/// `NVIDIA H100 80GB HBM3` → `H100`; unknown GPUs keep their name.
pub fn gpu_class(name: &str) -> String {
    ["H200", "H100", "A100", "L40S", "L4", "A10G", "B200"]
        .into_iter()
        .find(|c| name.contains(c))
        .map(str::to_string)
        .unwrap_or_else(|| name.to_string())
}

/// `cpu-{cores}core-{family}`: family epyc, xeon, ryzen, core, apple, arm or other.
pub fn cpu_class(model: &str, cores: usize) -> String {
    let m = model.to_ascii_lowercase();
    let family = [("epyc", "epyc"), ("xeon", "xeon"), ("ryzen", "ryzen"), ("apple", "apple"), ("core(tm)", "core"), ("aarch64", "arm")]
        .into_iter()
        .find(|(k, _)| m.contains(k))
        .map_or("other", |(_, f)| f);
    format!("cpu-{cores}core-{family}")
}

/// `YYYYMMDD-HHMMSS` in UTC (vLLM's result `date`).
pub fn utc_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's civil-from-days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn classes() {
        assert_eq!(gpu_class("NVIDIA H100 80GB HBM3"), "H100");
        assert_eq!(gpu_class("NVIDIA H200"), "H200");
        assert_eq!(gpu_class("Tesla T4"), "Tesla T4");
        assert_eq!(cpu_class("AMD EPYC 7B13 64-Core Processor", 2), "cpu-2core-epyc");
        assert_eq!(cpu_class("Intel(R) Xeon(R) Platinum 8375C CPU", 8), "cpu-8core-xeon");
        assert_eq!(cpu_class("Apple M2", 8), "cpu-8core-apple");
        assert_eq!(cpu_class("mystery", 4), "cpu-4core-other");
    }

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101-000000");
        // 2026-11-27 14:47:54 UTC
        assert_eq!(utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_795_790_874)), "20261127-144754");
        // 2024-02-29 23:59:59 UTC (leap day)
        assert_eq!(utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_709_251_199)), "20240229-235959");
    }
}
