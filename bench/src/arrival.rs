//! When requests are sent: vLLM's arrival process (`vllm bench serve --request-rate R --burstiness B`).
//! Gaps between consecutive requests are drawn from a gamma distribution with shape B and scale
//! 1 / (R·B): the mean gap is 1/R whatever B is, B = 1 is a Poisson process (exponential gaps), B < 1
//! burstier, B > 1 more regular (coefficient of variation 1/√B). An infinite rate sends every request
//! at time 0. The first request waits one gap too, as in vLLM. Seeded: the same seed gives the same
//! schedule.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

use crate::result::RequestRate;

/// Send times in seconds from the start of the run, one per request, non-decreasing.
pub fn send_times(count: usize, rate: RequestRate, burstiness: f64, seed: u64) -> Result<Vec<f64>, String> {
    if !(burstiness.is_finite() && burstiness > 0.0) {
        return Err(format!("--burstiness must be a positive number (1 = Poisson), got {burstiness}"));
    }
    let rate = match rate {
        RequestRate::Infinite => return Ok(vec![0.0; count]),
        RequestRate::PerSecond(r) => r,
    };
    let gamma = Gamma::new(burstiness, 1.0 / (rate * burstiness))
        .map_err(|e| format!("no gamma distribution for rate {rate} and burstiness {burstiness}: {e}"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = 0.0;
    Ok((0..count)
        .map(|_| {
            t += gamma.sample(&mut rng);
            t
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{mean, std_dev};

    fn gaps(times: &[f64]) -> Vec<f64> {
        let mut prev = 0.0;
        times
            .iter()
            .map(|&t| {
                let g = t - prev;
                prev = t;
                g
            })
            .collect()
    }

    #[test]
    fn poisson_gaps_have_mean_one_over_rate_and_cv_one() {
        let times = send_times(20_000, RequestRate::PerSecond(4.0), 1.0, 7).unwrap();
        let g = gaps(&times);
        // Standard error of the mean of 20k exponential gaps: 0.25 / √20000 ≈ 0.0018 s.
        assert!((mean(&g) - 0.25).abs() < 0.01, "mean gap {}", mean(&g));
        let cv = std_dev(&g) / mean(&g);
        assert!((cv - 1.0).abs() < 0.03, "coefficient of variation {cv}");
        // The whole schedule spans about count / rate.
        assert!((times[times.len() - 1] - 5000.0).abs() < 150.0);
        assert!(g.iter().all(|&x| x >= 0.0));
    }

    #[test]
    fn burstiness_changes_variance_not_mean() {
        for (b, want_cv) in [(0.25, 2.0), (4.0, 0.5)] {
            let g = gaps(&send_times(20_000, RequestRate::PerSecond(10.0), b, 3).unwrap());
            assert!((mean(&g) - 0.1).abs() < 0.006, "burstiness {b}: mean gap {}", mean(&g));
            let cv = std_dev(&g) / mean(&g);
            assert!((cv - want_cv).abs() < 0.08 * want_cv, "burstiness {b}: cv {cv}, want {want_cv}");
        }
    }

    #[test]
    fn seeded_and_reproducible() {
        let a = send_times(100, RequestRate::PerSecond(2.0), 1.0, 42).unwrap();
        assert_eq!(a, send_times(100, RequestRate::PerSecond(2.0), 1.0, 42).unwrap());
        assert_ne!(a, send_times(100, RequestRate::PerSecond(2.0), 1.0, 43).unwrap());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a[0] > 0.0, "the first request waits one gap, as in vLLM");
    }

    #[test]
    fn infinite_rate_sends_everything_at_once() {
        assert_eq!(send_times(5, RequestRate::Infinite, 1.0, 0).unwrap(), vec![0.0; 5]);
    }

    #[test]
    fn bad_burstiness_is_refused() {
        assert!(send_times(3, RequestRate::PerSecond(1.0), 0.0, 0).unwrap_err().contains("--burstiness"));
        assert!(send_times(3, RequestRate::PerSecond(1.0), f64::NAN, 0).is_err());
    }
}
