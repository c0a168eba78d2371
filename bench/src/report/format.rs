//! How numbers, dates and table cells look in the report: three significant digits below 100, whole
//! numbers with thousands separators above, ratios with two decimals, `–` for a value a run did not
//! compute, and markdown table cells with their pipes escaped.

use crate::result::{RequestRate, SweepAxis};

/// `0.0123` → `0.0123`, `8.714` → `8.71`, `37.04` → `37.0`, `450.3` → `450`, `28312` → `28,312`.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a >= 99.95 {
        return thousands(v.round() as i64);
    }
    if a == 0.0 {
        return "0".into();
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// `Some(v)` as [`num`], `None` as `–`.
pub fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "–".into())
}

fn thousands(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A ratio: `1.16×`, `0.08×`, `12.3×`.
pub fn ratio(r: f64) -> String {
    if !r.is_finite() {
        return "–".into();
    }
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// The ratio ours / theirs and which way is better, e.g. `1.16× (higher is better)`.
pub fn ratio_with_direction(ours: f64, theirs: f64, higher_is_better: bool) -> String {
    let direction = if higher_is_better { "higher is better" } else { "lower is better" };
    if theirs > 0.0 {
        format!("{} ({direction})", ratio(ours / theirs))
    } else {
        "–".into()
    }
}

/// vLLM's `20261127-120501` → `2026-11-27 12:05 UTC`; anything else as given.
pub fn date(d: &str) -> String {
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() == 15 && b[8] == b'-' && digits(0..8) && digits(9..15) {
        format!("{}-{}-{} {}:{} UTC", &d[0..4], &d[4..6], &d[6..8], &d[9..11], &d[11..13])
    } else {
        d.to_string()
    }
}

/// A setting rather than a measurement (a rate, a load): as short as exact, `8`, `2.5`, `0.25`.
pub fn plain(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A request rate for tables: `inf` or `4`.
pub fn rate(r: RequestRate) -> String {
    match r {
        RequestRate::Infinite => "inf".into(),
        RequestRate::PerSecond(v) => plain(v),
    }
}

/// A sweep load with its unit: `8 req/s`, `concurrency 8`.
pub fn load(axis: SweepAxis, v: f64) -> String {
    match axis {
        SweepAxis::RequestRate => format!("{} req/s", plain(v)),
        SweepAxis::MaxConcurrency => format!("concurrency {}", plain(v)),
    }
}

/// Text safe inside a markdown table cell (pipes escaped, line breaks flattened).
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_three_significant_digits_or_whole_thousands() {
        assert_eq!(num(8.714), "8.71");
        assert_eq!(num(37.04), "37.0");
        assert_eq!(num(0.0123), "0.0123");
        assert_eq!(num(450.3), "450");
        assert_eq!(num(28312.0), "28,312");
        assert_eq!(num(1234567.0), "1,234,567");
        assert_eq!(num(99.96), "100");
        assert_eq!(num(0.0), "0");
        assert_eq!(opt(None), "–");
        assert_eq!(num(f64::NAN), "–");
    }

    #[test]
    fn ratios_and_directions() {
        assert_eq!(ratio(1.1612), "1.16×");
        assert_eq!(ratio(12.34), "12.3×");
        assert_eq!(ratio_with_direction(2.0, 4.0, false), "0.50× (lower is better)");
        assert_eq!(ratio_with_direction(2.0, 0.0, true), "–");
    }

    #[test]
    fn dates_cells_and_loads() {
        assert_eq!(date("20261127-120501"), "2026-11-27 12:05 UTC");
        assert_eq!(date("yesterday"), "yesterday");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(load(SweepAxis::RequestRate, 2.5), "2.5 req/s");
        assert_eq!(load(SweepAxis::MaxConcurrency, 8.0), "concurrency 8");
        assert_eq!(rate(RequestRate::Infinite), "inf");
        assert_eq!(rate(RequestRate::PerSecond(0.25)), "0.25");
    }
}
