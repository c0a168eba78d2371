//! Element / block types of weight tensors, with the GGML type ids and block geometry.
//!
//! Follows llama.cpp's `ggml.h` (`enum ggml_type`) and `ggml-common.h` (block structs). A quantized type
//! stores `block_elems()` consecutive elements of a row in `block_bytes()` bytes; rows are always a whole
//! number of blocks.

use std::fmt;

/// Storage type of one weight tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    /// 32 elements: f16 scale `d`, 32 × i8.
    Q8_0,
    /// 32 elements: f16 scale `d`, 16 bytes of 4-bit quants, value = d · (q − 8).
    Q4_0,
    /// 32 elements: f16 scale `d`, f16 min `m`, 16 bytes of 4-bit quants, value = d · q + m.
    Q4_1,
    /// 256-element super-block: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of quants.
    Q4K,
    /// 256-element super-block: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 × i8 scales, f16 d.
    Q6K,
}

impl DType {
    /// Every supported type, for exhaustive tests.
    pub const ALL: [DType; 8] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q4K,
        DType::Q6K,
    ];

    /// The `ggml_type` id used in GGUF tensor infos.
    pub fn ggml_type_id(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::Q4_0 => 2,
            DType::Q4_1 => 3,
            DType::Q8_0 => 8,
            DType::Q4K => 12,
            DType::Q6K => 14,
            DType::BF16 => 30,
        }
    }

    /// Inverse of [`DType::ggml_type_id`]; `None` for types this build does not support.
    pub fn from_ggml_type_id(id: u32) -> Option<DType> {
        DType::ALL.into_iter().find(|t| t.ggml_type_id() == id)
    }

    /// Human-readable name of a ggml type id, including ones we do not support (for error messages).
    pub fn ggml_type_name(id: u32) -> &'static str {
        match id {
            0 => "F32",
            1 => "F16",
            2 => "Q4_0",
            3 => "Q4_1",
            6 => "Q5_0",
            7 => "Q5_1",
            8 => "Q8_0",
            9 => "Q8_1",
            10 => "Q2_K",
            11 => "Q3_K",
            12 => "Q4_K",
            13 => "Q5_K",
            14 => "Q6_K",
            15 => "Q8_K",
            16..=23 => "IQ (importance-matrix) type",
            24 => "I8",
            25 => "I16",
            26 => "I32",
            27 => "I64",
            28 => "F64",
            29 => "IQ1_M",
            30 => "BF16",
            _ => "unknown",
        }
    }

    /// Elements per block (1 for plain float types).
    pub fn block_elems(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q8_0 | DType::Q4_0 | DType::Q4_1 => 32,
            DType::Q4K | DType::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Q8_0 => 34,
            DType::Q4_0 => 18,
            DType::Q4_1 => 20,
            DType::Q4K => 144,
            DType::Q6K => 210,
        }
    }

    /// True for the block-quantized types.
    pub fn is_quantized(self) -> bool {
        self.block_elems() > 1
    }

    /// Bytes needed for `n_elems` elements; `None` if `n_elems` is not a whole number of blocks
    /// (or the size overflows).
    pub fn bytes_for(self, n_elems: usize) -> Option<usize> {
        if !n_elems.is_multiple_of(self.block_elems()) {
            return None;
        }
        (n_elems / self.block_elems()).checked_mul(self.block_bytes())
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::Q8_0 => "Q8_0",
            DType::Q4_0 => "Q4_0",
            DType::Q4_1 => "Q4_1",
            DType::Q4K => "Q4_K",
            DType::Q6K => "Q6_K",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ggml_ids_round_trip() {
        for t in DType::ALL {
            assert_eq!(DType::from_ggml_type_id(t.ggml_type_id()), Some(t));
        }
        assert_eq!(DType::from_ggml_type_id(6), None);
    }

    #[test]
    fn bytes_for_requires_whole_blocks() {
        assert_eq!(DType::Q4_1.bytes_for(64), Some(40));
        assert_eq!(DType::Q4_1.bytes_for(33), None);
        assert_eq!(DType::Q6K.bytes_for(256), Some(210));
        assert_eq!(DType::F32.bytes_for(3), Some(12));
    }
}
