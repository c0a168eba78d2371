//! GGUF: the single-file model format of ggml / llama.cpp.
//!
//! Follows the GGUF specification in ggml's `docs/gguf.md` (versions 2 and 3, little-endian):
//!
//! ```text
//! magic "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
//! metadata_kv_count × (string key, u32 value_type, value)      -- see [`metadata`]
//! tensor_count × (string name, u32 n_dims, n_dims × u64 ne, u32 ggml_type, u64 offset)
//! padding to `general.alignment` (default 32)
//! tensor data: each tensor at data_start + offset, offsets aligned
//! ```
//!
//! Strings are a `u64` byte length followed by UTF-8 bytes (no terminator). Dimensions `ne` are listed
//! innermost first; [`crate::tensor::WeightTensor`] shapes are outermost first, so the reader and the
//! writer reverse them.
//!
//! - [`reader`]: [`GgufFile::open`] memory-maps a file and validates every byte of the header against the
//!   file size before it trusts it (cost: one pass over the header, O(header bytes); tensor data is not
//!   read, only range-checked).
//! - [`writer`]: [`GgufWriter`] writes a valid v3 file (used for exports and by tests to craft files).

pub mod metadata;
pub mod reader;
pub mod writer;

pub use metadata::{GgufMetadata, GgufValue};
pub use reader::GgufFile;
pub use writer::GgufWriter;

/// Alignment of the tensor data section and of every tensor offset when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;

/// The metadata key that overrides [`DEFAULT_ALIGNMENT`] (a `u32`, a power of two).
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// Deepest nesting of arrays the reader and writer accept (an array of arrays is depth 2). The spec sets
/// no limit; a bound keeps a crafted file from exhausting the stack.
pub const MAX_ARRAY_DEPTH: usize = 32;

/// Most dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// File magic: the bytes `G G U F`.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// Version the writer emits.
pub const WRITE_VERSION: u32 = 3;

/// Names of the metadata value type ids 0..=12 (`GGUF_TYPE_*`), for error messages.
pub(crate) fn value_type_name(type_id: u32) -> Option<&'static str> {
    Some(match type_id {
        0 => "u8",
        1 => "i8",
        2 => "u16",
        3 => "i16",
        4 => "u32",
        5 => "i32",
        6 => "f32",
        7 => "bool",
        8 => "string",
        9 => "array",
        10 => "u64",
        11 => "i64",
        12 => "f64",
        _ => return None,
    })
}

/// The smallest number of bytes a value of `type_id` occupies in a file (bounds array counts).
pub(crate) fn value_min_bytes(type_id: u32) -> usize {
    match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        // element type + count
        9 => 12,
        _ => 1,
    }
}

/// `x` rounded up to a multiple of `align` (a power of two); `None` on overflow.
pub(crate) fn align_up(x: usize, align: usize) -> Option<usize> {
    debug_assert!(align.is_power_of_two());
    x.checked_add(align - 1).map(|v| v & !(align - 1))
}
