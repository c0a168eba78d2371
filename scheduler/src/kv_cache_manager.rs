//! Per-request KV-cache block tables on top of the [`BlockPool`], with prefix caching.
//!
//! Models vLLM v1 `core/kv_cache_manager.py` (single attention type, full attention). The
//! scheduler asks, for a new request, which leading blocks are already cached
//! ([`KvCacheManager::get_computed_blocks`]), then reserves slots for the tokens it schedules this step ([`KvCacheManager::allocate_slots`]),
//! and releases everything when the request finishes or is preempted ([`KvCacheManager::free`]).
//! The manager never sees a `Request`: callers pass token counts and the request's full-block hashes
//! (see [`crate::block_hash::hash_request_blocks`]), which keeps this layer testable on its own.
//!
//! Complexity: `get_computed_blocks` is O(hit blocks), `allocate_slots` O(new + newly full blocks),
//! `free` O(blocks of the request).

use std::collections::HashMap;

use crate::block_hash::BlockHash;
use crate::block_pool::BlockPool;
use crate::ids::{BlockId, RequestId};

/// The cached prefix found for a request before its first allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComputedBlocks {
    /// Blocks whose KV is already present, in order; pass them to `allocate_slots`.
    pub blocks: Vec<BlockId>,
    /// Tokens covered by `blocks` (`blocks.len() * block_size`); the request starts computing here.
    pub num_computed_tokens: usize,
}

/// Block tables of all live requests and the pool they draw from.
#[derive(Clone, Debug)]
pub struct KvCacheManager {
    /// Tokens per block; converts token counts to block counts.
    block_size: usize,
    /// Physical blocks, reference counts and the prefix cache.
    pool: BlockPool,
    /// Each live request's block table, in token order: entry `i` holds tokens
    /// `[i * block_size, (i + 1) * block_size)`. The engine's attention reads the same table.
    req_to_blocks: HashMap<RequestId, Vec<BlockId>>,
    /// How many leading blocks of each request are already registered in the prefix cache, so each
    /// step only hashes-in the blocks that became full since the last one.
    num_cached_blocks: HashMap<RequestId, usize>,
}

impl KvCacheManager {
    /// A manager over `num_blocks` blocks of `block_size` tokens.
    ///
    /// # Panics
    /// If `block_size` is 0 (validated with the scheduler config before this point).
    pub fn new(num_blocks: usize, block_size: usize, enable_caching: bool) -> Self {
        assert!(block_size > 0, "block_size must be positive");
        Self {
            block_size,
            pool: BlockPool::new(num_blocks, enable_caching),
            req_to_blocks: HashMap::new(),
            num_cached_blocks: HashMap::new(),
        }
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The underlying pool (read-only: all mutation goes through the manager).
    pub fn pool(&self) -> &BlockPool {
        &self.pool
    }

    /// Fraction of blocks in use, in `[0, 1]`.
    pub fn usage(&self) -> f64 {
        self.pool.usage()
    }

    /// Blocks not held by any request.
    pub fn num_free_blocks(&self) -> usize {
        self.pool.num_free_blocks()
    }

    /// The block table of `request_id`; empty if it holds no blocks.
    pub fn block_table(&self, request_id: RequestId) -> &[BlockId] {
        self.req_to_blocks.get(&request_id).map_or(&[], Vec::as_slice)
    }

    /// The longest run of leading full blocks of a request of `num_tokens` tokens that is cached.
    ///
    /// Never covers the whole prompt: at least the last token is left to compute, because the model
    /// must run on it to produce logits for the first sampled token. Nothing is reserved; call
    /// `allocate_slots` with the result before anything else touches the pool.
    pub fn get_computed_blocks(&self, num_tokens: usize, block_hashes: &[BlockHash]) -> ComputedBlocks {
        if !self.pool.caching_enabled() || num_tokens == 0 {
            return ComputedBlocks::default();
        }
        let max_hit_blocks = (num_tokens - 1) / self.block_size;
        let blocks: Vec<BlockId> = block_hashes
            .iter()
            .take(max_hit_blocks)
            .map_while(|&hash| self.pool.get_cached_block(hash))
            .collect();
        let num_computed_tokens = blocks.len() * self.block_size;
        ComputedBlocks { blocks, num_computed_tokens }
    }

    /// Reserves KV slots so that `request_id` can compute `num_new_tokens` more tokens.
    ///
    /// * `block_hashes`: hashes of the request's full blocks so far (prompt and output), used to
    ///   register blocks in the prefix cache once all their tokens are computed this step.
    /// * `num_computed_tokens`: tokens already computed *before* this call, excluding the
    ///   `new_computed_blocks` (for a new request: 0).
    /// * `new_computed_blocks`: prefix-cache hits from `get_computed_blocks`, only on a request's
    ///   first allocation (empty afterwards); they are appended to the table and referenced.
    ///
    /// Returns the freshly allocated blocks appended to the table (not the cache hits; see
    /// [`Self::block_table`] for the whole table), or `None`, with no side effects, when the pool
    /// lacks free blocks.
    pub fn allocate_slots(
        &mut self,
        request_id: RequestId,
        block_hashes: &[BlockHash],
        num_computed_tokens: usize,
        num_new_tokens: usize,
        new_computed_blocks: &[BlockId],
    ) -> Option<Vec<BlockId>> {
        let block_size = self.block_size;
        let num_existing = self.block_table(request_id).len();
        let total_computed = num_computed_tokens + new_computed_blocks.len() * block_size;
        let num_tokens_after_step = total_computed + num_new_tokens;
        let num_required = num_tokens_after_step.div_ceil(block_size);
        let num_to_allocate = num_required.saturating_sub(num_existing + new_computed_blocks.len());

        // Cache hits on free blocks leave the free queue when touched: count them before deciding.
        let num_revived = new_computed_blocks.iter().filter(|&&block| self.pool.ref_cnt(block) == 0).count();
        if num_to_allocate > self.pool.num_free_blocks().saturating_sub(num_revived) {
            return None;
        }

        // Touch the hits first so that allocating cannot pop (and evict) one of them.
        self.pool.touch(new_computed_blocks);
        let new_blocks = self.pool.get_new_blocks(num_to_allocate)?;
        let table = self.req_to_blocks.entry(request_id).or_default();
        table.extend_from_slice(new_computed_blocks);
        table.extend_from_slice(&new_blocks);

        // Register blocks whose tokens will all be computed after this step and whose hash is known.
        let num_full = (num_tokens_after_step / block_size).min(block_hashes.len()).min(table.len());
        let num_cached = self.num_cached_blocks.entry(request_id).or_default();
        if num_full > *num_cached {
            self.pool.cache_full_blocks(&table[*num_cached..num_full], &block_hashes[*num_cached..num_full]);
            *num_cached = num_full;
        }
        Some(new_blocks)
    }

    /// Releases all blocks of `request_id` (finished, aborted or preempted), tail first so the
    /// prefix cache evicts the request's least shareable blocks first. Unknown ids are ignored.
    pub fn free(&mut self, request_id: RequestId) {
        if let Some(blocks) = self.req_to_blocks.remove(&request_id) {
            self.pool.free_blocks(blocks.into_iter().rev());
        }
        self.num_cached_blocks.remove(&request_id);
    }
}

#[cfg(test)]
#[path = "kv_cache_manager_tests.rs"]
mod tests;
