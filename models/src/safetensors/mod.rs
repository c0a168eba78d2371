//! safetensors: the tensor file format of Hugging Face model directories.
//!
//! Implemented here from the format description (no `safetensors` crate):
//!
//! ```text
//! u64 little-endian N | N bytes of UTF-8 JSON header | data
//! header = { "<tensor name>": { "dtype": "BF16", "shape": [out, in], "data_offsets": [begin, end] }, ...,
//!            "__metadata__": { "<key>": "<string value>", ... } }            (metadata optional)
//! ```
//!
//! `data_offsets` are relative to the start of the data section (byte 8 + N); tensors are row-major,
//! little-endian, outermost dimension first (the same convention as [`crate::tensor::WeightTensor`]).
//! Large models are sharded as `model-00001-of-0000n.safetensors` with a `model.safetensors.index.json`
//! whose `weight_map` names the shard of each tensor.
//!
//! - [`reader`]: [`SafetensorsFile::open`] (one file, memory-mapped, fully validated) and
//!   [`load_safetensors_dir`] (a model directory: single file or sharded through the index).
//! - [`writer`]: [`SafetensorsWriter`], [`write_safetensors`] and [`write_sharded`] for F32 / F16 / BF16.
//!
//! Only the float types an LLM checkpoint uses are supported: F32, F16, BF16.

pub mod reader;
pub mod writer;

pub use reader::{load_safetensors_dir, SafetensorsFile};
pub use writer::{write_safetensors, write_sharded, SafetensorsWriter};

use llmserve_kernels::DType;

/// File name of an unsharded checkpoint.
pub const SINGLE_FILE_NAME: &str = "model.safetensors";

/// File name of the shard index.
pub const INDEX_FILE_NAME: &str = "model.safetensors.index.json";

/// The header key holding free-form string metadata.
pub const METADATA_KEY: &str = "__metadata__";

/// The dtypes we read and write, as named in headers.
pub const SUPPORTED_DTYPES: &str = "F32, F16, BF16";

/// Name of shard `i` (1-based) of `n`, as Hugging Face writes them.
pub fn shard_file_name(i: usize, n: usize) -> String {
    format!("model-{i:05}-of-{n:05}.safetensors")
}

/// Header dtype string → [`DType`]; `None` for every other type (I8, F64, F8_E4M3, ...).
pub(crate) fn dtype_from_str(s: &str) -> Option<DType> {
    match s {
        "F32" => Some(DType::F32),
        "F16" => Some(DType::F16),
        "BF16" => Some(DType::BF16),
        _ => None,
    }
}

/// [`DType`] → header dtype string; `None` for the quantized GGML types safetensors cannot hold.
pub(crate) fn dtype_to_str(d: DType) -> Option<&'static str> {
    match d {
        DType::F32 => Some("F32"),
        DType::F16 => Some("F16"),
        DType::BF16 => Some("BF16"),
        _ => None,
    }
}
