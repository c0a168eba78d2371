//! The physical paged KV cache of the CPU backend.
//!
//! `num_blocks` blocks of `block_size` token slots per layer, f32, vLLM "NHD" layout
//! (`[num_blocks, block_size, num_kv_heads, head_dim]`). Which block belongs to which request is the
//! block manager's business; this type only stores bytes and hands the model a [`KvCacheView`].

use llmserve_models::llama::{KvCacheGeometry, KvCacheView};

/// K/V storage for all layers.
pub struct KvCache {
    pub geometry: KvCacheGeometry,
    /// `[num_layers][layer_elems]`.
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl KvCache {
    pub fn new(geometry: KvCacheGeometry) -> KvCache {
        let layer = || vec![0f32; geometry.layer_elems()];
        KvCache {
            geometry,
            k: (0..geometry.num_layers).map(|_| layer()).collect(),
            v: (0..geometry.num_layers).map(|_| layer()).collect(),
        }
    }

    /// Number of blocks a budget of `bytes` holds for this geometry's per-block size.
    pub fn blocks_for_bytes(geometry_per_block: KvCacheGeometry, bytes: usize) -> usize {
        let one = KvCacheGeometry { num_blocks: 1, ..geometry_per_block };
        bytes / one.total_bytes().max(1)
    }

    pub fn view(&mut self) -> KvCacheView<'_> {
        KvCacheView {
            geometry: self.geometry,
            k: self.k.iter_mut().map(|l| l.as_mut_slice()).collect(),
            v: self.v.iter_mut().map(|l| l.as_mut_slice()).collect(),
        }
    }
}
