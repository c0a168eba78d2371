//! CPU kernels.
//!
//! - [`quant`]: GGML block formats (Q8_0, Q4_0, Q4_1, Q4_K, Q6_K; activation formats Q8_0/Q8_1/Q8_K),
//!   reference dequantize/quantize, layouts as in llama.cpp's `ggml-quants.c`.
//! - [`dot`]: row · activation dot products per weight type, a plain reference and SIMD paths chosen at
//!   run time (AVX-512 VNNI / AVX2 / portable).
//! - [`matmul`]: `out[m, n] = x[m, k] · W[n, k]ᵀ` over a quantized or dense `W`, parallel on the current
//!   rayon pool.
//! - [`vec_ops`]: f32 vector helpers for norms, attention and the MLP.

pub mod dot;
pub mod matmul;
pub mod quant;
pub mod simd;
pub mod vec_ops;

pub use matmul::{matmul, matmul_prepared, ActivationPrecision, PreparedActivations};

use crate::DType;

/// A 2-D weight matrix `[rows, cols]`: `rows` output features, each row `cols` input features stored
/// contiguously as whole blocks of `dtype`. Borrowed from a mapped file or owned buffer.
#[derive(Clone, Copy, Debug)]
pub struct WeightMatrix<'a> {
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    /// `rows * dtype.bytes_for(cols)` bytes.
    pub data: &'a [u8],
}

impl<'a> WeightMatrix<'a> {
    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.dtype.bytes_for(self.cols).unwrap_or(0)
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }
}
