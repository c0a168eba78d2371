//! The CUDA kernel sources, embedded at build time (no nvcc, no CUDA needed to build).
//!
//! One `.cu` file per op family under `kernels/cuda/`, each compiled by NVRTC as its own module:
//! the shared prelude `common.cuh` (headers, reductions, 16-byte load helpers) followed by the file,
//! with a `#line` directive so compile errors name the file and line of the `.cu` source.

/// One kernel file and the `extern "C"` kernels it defines.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    /// File name under `kernels/cuda/`.
    pub file: &'static str,
    /// The file's text.
    pub source: &'static str,
    /// Every kernel entry point of the file.
    pub kernels: &'static [&'static str],
}

/// Prepended to every file.
pub const PRELUDE: &str = include_str!("../../cuda/common.cuh");

pub const EMBEDDING: KernelSource =
    KernelSource { file: "embedding.cu", source: include_str!("../../cuda/embedding.cu"), kernels: &["embedding_gather"] };

pub const RMSNORM: KernelSource = KernelSource {
    file: "rmsnorm.cu",
    source: include_str!("../../cuda/rmsnorm.cu"),
    kernels: &["rms_norm", "fused_add_rms_norm"],
};

pub const ROPE: KernelSource =
    KernelSource { file: "rope.cu", source: include_str!("../../cuda/rope.cu"), kernels: &["rope_inplace"] };

pub const KV_CACHE: KernelSource =
    KernelSource { file: "kv_cache.cu", source: include_str!("../../cuda/kv_cache.cu"), kernels: &["reshape_and_cache"] };

pub const PAGED_ATTENTION: KernelSource = KernelSource {
    file: "paged_attention.cu",
    source: include_str!("../../cuda/paged_attention.cu"),
    kernels: &[
        "paged_attention_decode_d64_g1",
        "paged_attention_decode_d64_g2",
        "paged_attention_decode_d64_g4",
        "paged_attention_decode_d64_g8",
        "paged_attention_decode_d128_g1",
        "paged_attention_decode_d128_g2",
        "paged_attention_decode_d128_g4",
        "paged_attention_decode_d128_g8",
        "paged_attention_merge",
        "paged_attention_prefill_d64",
        "paged_attention_prefill_d128",
    ],
};

pub const ACTIVATION: KernelSource =
    KernelSource { file: "activation.cu", source: include_str!("../../cuda/activation.cu"), kernels: &["silu_and_mul"] };

pub const SAMPLING: KernelSource = KernelSource {
    file: "sampling.cu",
    source: include_str!("../../cuda/sampling.cu"),
    kernels: &["apply_penalties", "apply_logit_bias", "sample_tokens"],
};

/// Every kernel file, in the order they are compiled and loaded.
pub const SOURCES: &[KernelSource] = &[EMBEDDING, RMSNORM, ROPE, KV_CACHE, PAGED_ATTENTION, ACTIVATION, SAMPLING];

impl KernelSource {
    /// The text NVRTC compiles: prelude, then the file with line numbers reset to its own.
    pub fn full_source(&self) -> String {
        format!("{PRELUDE}\n#line 1 \"{}\"\n{}", self.file, self.source)
    }
}

/// Name of the decode attention kernel for a head dim and a GQA group bound (1, 2, 4 or 8).
pub fn decode_kernel_name(head_dim: usize, group_bound: usize) -> String {
    format!("paged_attention_decode_d{head_dim}_g{group_bound}")
}

/// Name of the prefill attention kernel for a head dim.
pub fn prefill_kernel_name(head_dim: usize) -> String {
    format!("paged_attention_prefill_d{head_dim}")
}

/// The decode kernel instantiation serving a group of `group` query heads (the smallest of 1, 2, 4, 8
/// that is >= group), or None past [`super::shapes::MAX_DECODE_GROUP`].
pub fn decode_group_bound(group: usize) -> Option<usize> {
    [1, 2, 4, 8].into_iter().find(|&b| b >= group && group > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernel names the source defines: direct `extern "C" __global__ void NAME(` definitions and the
    /// macro instantiations `DECODE_KERNEL(D, G)` / `PREFILL_KERNEL(D)` of paged_attention.cu.
    fn defined_kernels(src: &str) -> Vec<String> {
        let mut names = Vec::new();
        for line in src.lines().map(str::trim) {
            if line.starts_with('#') || line.starts_with("//") {
                continue;
            }
            if let Some(rest) = line.strip_prefix("DECODE_KERNEL(") {
                let args: Vec<&str> = rest.trim_end_matches(')').split(',').map(str::trim).collect();
                names.push(decode_kernel_name(args[0].parse().unwrap(), args[1].parse().unwrap()));
            } else if let Some(rest) = line.strip_prefix("PREFILL_KERNEL(") {
                names.push(prefill_kernel_name(rest.trim_end_matches(')').trim().parse().unwrap()));
            }
        }
        // Definitions may span lines (`extern "C" __global__ void __launch_bounds__(N)\n name(`).
        let flat: String = src.split_whitespace().collect::<Vec<_>>().join(" ");
        for (at, _) in flat.match_indices("extern \"C\" __global__ void ") {
            let mut rest = &flat[at + "extern \"C\" __global__ void ".len()..];
            if let Some(r) = rest.strip_prefix("__launch_bounds__(") {
                rest = r.split_once(')').map(|(_, r)| r.trim_start()).unwrap_or(r);
            }
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.ends_with("_d") && !name.contains("##") && !name.is_empty() {
                names.push(name);
            }
        }
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn every_listed_kernel_is_defined_and_every_defined_kernel_is_listed() {
        for s in SOURCES {
            let mut listed: Vec<String> = s.kernels.iter().map(|k| k.to_string()).collect();
            listed.sort();
            let defined = defined_kernels(s.source);
            assert_eq!(listed, defined, "{}", s.file);
        }
    }

    #[test]
    fn sources_avoid_what_nvrtc_lacks() {
        for s in SOURCES.iter().map(|s| (s.file, s.source)).chain([("common.cuh", PRELUDE)]) {
            for line in s.1.lines().filter(|l| l.trim_start().starts_with("#include")) {
                assert!(line.contains("<cuda_bf16.h>"), "{}: only cuda_bf16.h may be included: {line}", s.0);
            }
            let code: String = s.1.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            assert!(!code.contains("INFINITY"), "{}: INFINITY is undefined under NVRTC", s.0);
        }
    }

    #[test]
    fn group_bounds() {
        assert_eq!(decode_group_bound(1), Some(1));
        assert_eq!(decode_group_bound(3), Some(4));
        assert_eq!(decode_group_bound(4), Some(4));
        assert_eq!(decode_group_bound(7), Some(8));
        assert_eq!(decode_group_bound(9), None);
        assert_eq!(decode_group_bound(0), None);
    }
}
