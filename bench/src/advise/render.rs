//! The advice as text: a few lines of capacity and demand, a table of self-host / API / hybrid, the
//! break-even volume, then the recommendation with its reasons, the latency checks, the assumptions and
//! the warnings. `--json` prints the same [`Advice`] through serde instead.

use std::fmt::Write;

use super::model::BreakEven;
use super::report::Advice;

/// Money: `$1.389` under $10, `$123.45` under $1000, `$18,250` above.
pub fn usd(x: f64) -> String {
    let sign = if x < 0.0 { "-" } else { "" };
    let a = x.abs();
    if a < 10.0 {
        format!("{sign}${a:.3}")
    } else if a < 1000.0 {
        format!("{sign}${a:.2}")
    } else {
        format!("{sign}${}", thousands(a))
    }
}

/// A count: `150,000` (rounded) from 100 up, `4.17` below.
pub fn count(x: f64) -> String {
    if x.abs() >= 100.0 {
        thousands(x)
    } else {
        format!("{x:.2}")
    }
}

/// Rounded to an integer with `,` between thousands.
fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if x < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

fn percent(x: f64) -> String {
    format!("{:.0} %", 100.0 * x)
}

/// The text report.
pub fn text(a: &Advice) -> String {
    let mut s = String::new();
    let c = &a.capacity;
    let d = &a.demand;
    let (sh, api, hy) = (&a.self_host, &a.api, &a.hybrid);
    let _ = writeln!(s, "llmserve advise: self-host vs API");
    let _ = writeln!(s, "capacity  {}", c.source);
    let _ = writeln!(
        s,
        "          {} token-eq/s = {} req/s ({} output tok/s) per deployment at your mix ({} in / {} out tokens); planned {} req/s each at the peak",
        count(c.token_equivalents_per_s),
        count(c.requests_per_s),
        count(c.output_tokens_per_s),
        count(c.user_mix.input_tokens),
        count(c.user_mix.output_tokens),
        count(c.planned_requests_per_s)
    );
    if let Some(m) = c.bench_mix {
        let _ = writeln!(s, "          bench mix: {} in / {} out tokens per request", count(m.input_tokens), count(m.output_tokens));
    }
    let _ = writeln!(
        s,
        "demand    {} req/day = {} req/s average, {} req/s peak ({}× average); {} requests/month",
        count(d.daily_requests),
        count(d.average_requests_per_s),
        count(d.peak_requests_per_s),
        d.peak_to_average,
        count(d.monthly_requests)
    );
    let _ = writeln!(s);
    let row = |s: &mut String, label: &str, cells: [String; 3]| {
        let _ = writeln!(s, "{label:<30}{:>14}{:>14}{:>14}", cells[0], cells[1], cells[2]);
    };
    let dash = || "-".to_string();
    let gpus = sh.gpus_per_deployment;
    row(&mut s, "", ["self-host".into(), "API".into(), "hybrid".into()]);
    row(&mut s, &format!("deployments (× {gpus} GPU)"), [sh.deployments.to_string(), dash(), hy.deployments.to_string()]);
    let hybrid_hours = f64::from(hy.deployments) * f64::from(gpus) * super::model::HOURS_PER_MONTH;
    row(&mut s, "GPU hours / month", [count(sh.gpu_hours_per_month), dash(), count(hybrid_hours)]);
    row(&mut s, "requests sent to the API", [percent(0.0), percent(1.0), percent(hy.overflow_fraction)]);
    row(&mut s, "cost per 1M tokens", [usd(sh.usd_per_million_tokens), usd(api.usd_per_million_tokens), usd(hy.usd_per_million_tokens)]);
    row(&mut s, "  at full use (floor)", [usd(sh.usd_per_million_tokens_full_use), dash(), dash()]);
    row(&mut s, "monthly cost", [usd(sh.monthly_usd), usd(api.monthly_usd), usd(hy.monthly_usd)]);
    row(&mut s, "utilization at peak / average", [format!("{} / {}", percent(sh.utilization_at_peak), percent(sh.utilization_at_average)), dash(), dash()]);
    let _ = writeln!(s);
    let deployment_monthly = sh.monthly_usd / f64::from(sh.deployments);
    match a.break_even {
        BreakEven::At { daily_requests, one_deployment_max_daily_requests } => {
            let _ = writeln!(
                s,
                "break-even  {} req/day: the API's monthly cost equals one deployment's ({}/month); self-hosting is cheaper above it",
                count(daily_requests),
                usd(deployment_monthly)
            );
            let _ = writeln!(
                s,
                "            one deployment serves up to {} req/day; above that the next is needed (k deployments break even at k × {} req/day)",
                count(one_deployment_max_daily_requests),
                count(daily_requests)
            );
        }
        BreakEven::Never { api_monthly_usd_at_one_deployment_max, deployment_monthly_usd, one_deployment_max_daily_requests } => {
            let _ = writeln!(
                s,
                "break-even  never at this price: even at one deployment's full {} req/day the API costs {}/month, less than the deployment's {}",
                count(one_deployment_max_daily_requests),
                usd(api_monthly_usd_at_one_deployment_max),
                usd(deployment_monthly_usd)
            );
        }
    }
    let _ = writeln!(s);
    let r = &a.recommendation;
    let _ = writeln!(s, "recommendation: {}  [rule {}]", r.choice, r.rule);
    list(&mut s, "", &r.reasons);
    if !a.latency.is_empty() {
        let checks: Vec<String> = a.latency.iter().map(|c| format!("{c}: {}", if c.met { "met" } else { "MISSED" })).collect();
        list(&mut s, "latency", &checks);
    }
    list(&mut s, "assumptions", &a.assumptions);
    list(&mut s, "warnings", &a.warnings);
    s
}

/// A titled bullet list; nothing when empty.
fn list(s: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    if !title.is_empty() {
        let _ = writeln!(s, "{title}");
    }
    for item in items {
        let _ = writeln!(s, "  - {item}");
    }
}
