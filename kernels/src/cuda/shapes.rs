//! Layouts and parameter structs shared by the CUDA kernels, their launch wrappers and the CPU
//! references. Compiled without the `cuda` feature (the references use them too).
//!
//! The `#[repr(C)]` structs here are copied to the device as arrays and must match the structs of the
//! same names in `kernels/cuda/sampling.cu` field by field.

/// Keys per split of the decode attention kernel (compile-time `PA_SPLIT` in paged_attention.cu). The
/// decode grid has `max_splits = ceil(max_seq_len / DECODE_SPLIT_SIZE)` splits per (sequence, kv head);
/// splits past a sequence's end exit at once, so the grid is fixed for CUDA graphs.
pub const DECODE_SPLIT_SIZE: usize = 512;
/// Largest GQA group (query heads per kv head) of the decode kernel (instantiated for 1, 2, 4, 8).
pub const MAX_DECODE_GROUP: usize = 8;
/// Largest GQA group of the prefill kernel (32 query rows per tile).
pub const MAX_PREFILL_GROUP: usize = 32;
/// Query rows (tokens × group heads) per prefill tile (compile-time `PF_ROWS`).
pub const PREFILL_TILE_ROWS: usize = 32;
/// Head dims with attention kernels (`paged_attention_*_d64`, `_d128`).
pub const ATTENTION_HEAD_DIMS: [usize; 2] = [64, 128];
/// Largest head dim of the RoPE kernel (shared cos/sin table of `head_dim / 2` entries).
pub const MAX_ROPE_HEAD_DIM: usize = 512;
/// `slot_mapping` value of a padding token: `reshape_and_cache` skips it.
pub const PADDING_SLOT: i32 = -1;

/// Attention head geometry of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionGeometry {
    pub num_q_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl AttentionGeometry {
    /// Query heads per kv head (GQA group size); 0 if the head counts don't divide.
    pub fn group_size(&self) -> usize {
        if self.num_kv_heads == 0 || !self.num_q_heads.is_multiple_of(self.num_kv_heads) {
            0
        } else {
            self.num_q_heads / self.num_kv_heads
        }
    }

    /// The softmax scale 1/sqrt(head_dim).
    pub fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }

    /// Width of a q row (all query heads).
    pub fn q_width(&self) -> usize {
        self.num_q_heads * self.head_dim
    }

    /// Width of a k or v row (all kv heads).
    pub fn kv_width(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }
}

/// Shape of one layer's paged K (or V) cache: `[num_blocks, block_size, num_kv_heads, head_dim]` bf16,
/// the same "NHD" layout as the CPU backend (`models::llama::kv`). Flat slot
/// `s = block_id * block_size + offset`; kv head `g` of slot `s` starts at `(s * num_kv_heads + g) *
/// head_dim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagedCacheShape {
    pub num_blocks: usize,
    pub block_size: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl PagedCacheShape {
    /// Token slots of the cache.
    pub fn num_slots(&self) -> usize {
        self.num_blocks * self.block_size
    }

    /// Elements of one token's row (all kv heads).
    pub fn row_width(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Elements of the whole K (or V) cache of one layer.
    pub fn elems(&self) -> usize {
        self.num_slots() * self.row_width()
    }
}

/// Where q, k and v sit in the rows of an activation, usually the fused QKV projection output
/// `[num_tokens, (nq + 2 nkv) * head_dim]`: token `t`'s q head `h` starts at
/// `t * row_stride + q_offset + h * head_dim`, k and v alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QkvLayout {
    /// Elements between the starts of consecutive token rows.
    pub row_stride: usize,
    pub q_offset: usize,
    pub k_offset: usize,
    pub v_offset: usize,
}

impl QkvLayout {
    /// The fused `[q | k | v]` row of a QKV projection with the given geometry.
    pub fn fused(g: &AttentionGeometry) -> QkvLayout {
        QkvLayout {
            row_stride: g.q_width() + 2 * g.kv_width(),
            q_offset: 0,
            k_offset: g.q_width(),
            v_offset: g.q_width() + g.kv_width(),
        }
    }
}

/// Which head dimensions RoPE rotates together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum RopeStyle {
    /// Rotate-half, pairs `(x[i], x[i + d/2])`: HF transformers' LLaMA, the layout of HF safetensors
    /// q/k weights. What the CUDA backend uses with HF weights.
    Neox = 0,
    /// Adjacent pairs `(x[2i], x[2i + 1])`: GPT-J / llama.cpp "NORM" mode, the layout GGUF's permuted
    /// q/k rows expect (the CPU backend's layout).
    Interleaved = 1,
}

/// Per-row sampling parameters, one per batch row (`RowSamplingParams` in sampling.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RowSamplingParams {
    /// 0 = greedy argmax.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: u32,
    /// Nucleus threshold; 1 = off.
    pub top_p: f32,
    /// Keep tokens with p >= min_p · p(max); 0 = off.
    pub min_p: f32,
    /// The row's random number in [0, 1), drawn on the host from (seed, output index) so results are
    /// reproducible.
    pub uniform: f32,
    /// Applied to tokens listed in the row's [`PenaltyEntry`]s; 1 = off.
    pub repetition_penalty: f32,
    /// Subtracted per output occurrence; 0 = off.
    pub frequency_penalty: f32,
    /// Subtracted once for tokens that occur in the output; 0 = off.
    pub presence_penalty: f32,
}

impl RowSamplingParams {
    /// Greedy decoding without penalties.
    pub fn greedy() -> RowSamplingParams {
        RowSamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            uniform: 0.0,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
        }
    }
}

/// A token seen in a row's prompt or output, for the penalties (`PenaltyEntry` in sampling.cu). One
/// entry per distinct (row, token); duplicates would apply the penalty twice (racily on the device).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PenaltyEntry {
    pub row: u32,
    pub token: u32,
    /// Occurrences in the output so far (0 = seen in the prompt only: repetition penalty only).
    pub output_count: u32,
}

/// A logit bias (`LogitBiasEntry` in sampling.cu). One entry per distinct (row, token).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LogitBiasEntry {
    pub row: u32,
    pub token: u32,
    pub bias: f32,
}

/// Number of decode splits needed for contexts up to `max_seq_len` tokens.
pub fn decode_num_splits(max_seq_len: usize) -> usize {
    max_seq_len.div_ceil(DECODE_SPLIT_SIZE).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_layout_of_llama3_8b() {
        let g = AttentionGeometry { num_q_heads: 32, num_kv_heads: 8, head_dim: 128 };
        assert_eq!(g.group_size(), 4);
        let l = QkvLayout::fused(&g);
        assert_eq!((l.row_stride, l.q_offset, l.k_offset, l.v_offset), (6144, 0, 4096, 5120));
        assert!((g.scale() - 0.088388346).abs() < 1e-7);
        assert_eq!(AttentionGeometry { num_q_heads: 9, num_kv_heads: 2, head_dim: 64 }.group_size(), 0);
    }

    #[test]
    fn struct_sizes_match_the_device_structs() {
        assert_eq!(std::mem::size_of::<RowSamplingParams>(), 32);
        assert_eq!(std::mem::size_of::<PenaltyEntry>(), 12);
        assert_eq!(std::mem::size_of::<LogitBiasEntry>(), 12);
    }

    #[test]
    fn split_counts() {
        assert_eq!(decode_num_splits(0), 1);
        assert_eq!(decode_num_splits(512), 1);
        assert_eq!(decode_num_splits(513), 2);
        assert_eq!(decode_num_splits(8192), 16);
    }
}
