//! Run-time instruction-set selection for the CPU kernels.
//!
//! Detects once (cached in a `OnceLock`) which SIMD path this machine can run, like llama.cpp's
//! `ggml_cpu_has_*` checks but at run time instead of build time:
//! - [`Isa::Avx512`]: AVX-512 F/BW/VL + VNNI (`vpdpbusd` on 256-bit vectors: Zen 4 executes 512-bit
//!   vectors as two 256-bit halves, so the 256-bit VL forms give the same throughput with less register
//!   pressure), plus AVX2/FMA/F16C.
//! - [`Isa::Avx2`]: AVX2 + FMA + F16C (`vpmaddubsw` int8 dots).
//! - [`Isa::Portable`]: plain Rust, any target.
//!
//! `LLMSERVE_CPU_ISA=portable|avx2|avx512` caps the choice (never raises it above what the CPU has), for
//! tests and benchmarks. Kernels take an explicit [`Isa`] argument so tests can exercise every path the
//! machine supports, not only the auto-selected one.

use std::sync::OnceLock;

/// A SIMD code path. Ordered: a higher variant implies the lower ones are available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    Portable,
    Avx2,
    Avx512,
}

impl Isa {
    /// Name as accepted by `LLMSERVE_CPU_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "portable" | "scalar" | "none" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512" | "avx512vnni" => Some(Isa::Avx512),
            _ => None,
        }
    }
}

/// The best path this CPU supports, ignoring the environment override.
pub fn detected_isa() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
    let avx512 = avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni");
    if avx512 {
        Isa::Avx512
    } else if avx2 {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Portable
}

/// The path the kernels use: [`detected_isa`] capped by `LLMSERVE_CPU_ISA` when set (an unknown value
/// is ignored with a one-time warning on stderr).
pub fn isa() -> Isa {
    static SELECTED: OnceLock<Isa> = OnceLock::new();
    *SELECTED.get_or_init(|| {
        let best = detected_isa();
        match std::env::var("LLMSERVE_CPU_ISA") {
            Ok(v) => match Isa::parse(&v) {
                Some(want) => want.min(best),
                None => {
                    eprintln!("llmserve: ignoring LLMSERVE_CPU_ISA={v:?} (expected portable|avx2|avx512)");
                    best
                }
            },
            Err(_) => best,
        }
    })
}

/// Every path this machine can run, lowest first (for tests and benchmarks).
pub fn available_isas() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= detected_isa()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        assert_eq!(Isa::parse("AVX2"), Some(Isa::Avx2));
        assert_eq!(Isa::parse("avx512"), Some(Isa::Avx512));
        assert_eq!(Isa::parse("portable"), Some(Isa::Portable));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }

    #[test]
    fn selected_is_available() {
        assert!(isa() <= detected_isa());
        assert!(available_isas().contains(&isa()));
        assert_eq!(available_isas()[0], Isa::Portable);
    }
}
