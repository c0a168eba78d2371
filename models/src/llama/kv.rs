//! A mutable view of the paged KV cache as the CPU forward sees it.
//!
//! Layout per layer, as vLLM's "NHD" cache: `[num_blocks, block_size, num_kv_heads, head_dim]` for K and
//! the same for V, f32. A token at flat slot `s` has its K row for kv head `g` at
//! `(s * num_kv_heads + g) * head_dim`. The engine owns the storage (`engine::KvCache`); the model only
//! reads and writes through this view.

/// Shape of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCacheGeometry {
    pub num_layers: usize,
    pub num_blocks: usize,
    pub block_size: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl KvCacheGeometry {
    /// f32 elements of K (or V) for one layer.
    pub fn layer_elems(&self) -> usize {
        self.num_blocks * self.block_size * self.num_kv_heads * self.head_dim
    }

    /// Total slots (tokens) the cache can hold.
    pub fn num_slots(&self) -> usize {
        self.num_blocks * self.block_size
    }

    /// f32 elements of one token's K (or V) row across all kv heads.
    pub fn token_elems(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Bytes of the whole cache (K and V, all layers).
    pub fn total_bytes(&self) -> usize {
        2 * self.num_layers * self.layer_elems() * std::mem::size_of::<f32>()
    }
}

/// K and V storage of every layer.
pub struct KvCacheView<'a> {
    pub geometry: KvCacheGeometry,
    /// `[num_layers]` slices of `geometry.layer_elems()` each.
    pub k: Vec<&'a mut [f32]>,
    pub v: Vec<&'a mut [f32]>,
}
