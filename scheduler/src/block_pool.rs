//! The pool of physical KV-cache blocks: reference counts, the free queue and the prefix cache.
//!
//! Models vLLM v1 `core/block_pool.py` and `kv_cache_utils.FreeKVCacheBlockQueue`. Every block has a
//! [`BlockMeta`] in one flat `Vec`, indexed by [`BlockId`]. Blocks with `ref_cnt == 0` sit in the
//! [`FreeBlockQueue`], an intrusive doubly linked list threaded through the metas by index, ordered
//! from "evict first" (head) to "evict last" (tail).
//!
//! Prefix caching with lazy eviction: a full block can carry a [`BlockHash`] and be found through
//! `cached`. When its last user frees it, it goes to the free queue *keeping* its hash, so a later
//! request with the same prefix can take it back ([`BlockPool::touch`]) without recomputation. Only
//! when the block is popped for a new allocation is its hash dropped (evicted). Callers free a
//! request's blocks in reverse order, so the tail of a prompt (least likely to be shared) is evicted
//! before its head.
//!
//! Complexity: popleft, append and remove-from-the-middle are O(1); `get_new_blocks(n)` is O(n);
//! `touch`/`free_blocks`/`cache_full_blocks` are O(blocks passed); `check_invariants` is O(num_blocks).

use std::collections::HashMap;

use crate::block_hash::BlockHash;
use crate::ids::BlockId;

/// Bookkeeping for one physical block (the KV data itself lives on the device, in the engine).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockMeta {
    /// How many requests currently use this block; 0 means it is in the free queue.
    pub ref_cnt: u32,
    /// Set while the block is registered in the prefix cache; kept while the block is free so it can
    /// be reused, cleared when the block is popped for a new allocation (lazy eviction).
    pub hash: Option<BlockHash>,
    /// Free-queue link towards the head (evicted sooner); `None` at the head or when not queued.
    prev_free: Option<u32>,
    /// Free-queue link towards the tail (evicted later); `None` at the tail or when not queued.
    next_free: Option<u32>,
}

/// Intrusive doubly linked list of free blocks, threaded through [`BlockMeta`]s by index.
///
/// It stores only the ends and the length; the links live in the metas so no allocation happens
/// on the hot path and any block can be unlinked in O(1) when a cache hit revives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreeBlockQueue {
    /// Next block to hand out (least recently freed).
    head: Option<u32>,
    /// Most recently freed block.
    tail: Option<u32>,
    /// Number of queued blocks, so `len()` is O(1).
    len: usize,
}

impl FreeBlockQueue {
    /// A queue holding every block of `metas`, in id order (a fresh pool hands out block 0 first).
    pub fn with_all(metas: &mut [BlockMeta]) -> Self {
        let mut queue = Self::default();
        for index in 0..metas.len() {
            queue.append(metas, BlockId(index as u32));
        }
        queue
    }

    /// Number of free blocks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no block is free.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes and returns the head (the block to evict first).
    pub fn popleft(&mut self, metas: &mut [BlockMeta]) -> Option<BlockId> {
        let head = BlockId(self.head?);
        self.remove(metas, head);
        Some(head)
    }

    /// Adds `block` at the tail. The block must not be queued already.
    pub fn append(&mut self, metas: &mut [BlockMeta], block: BlockId) {
        let index = block.0;
        debug_assert!(!self.contains(metas, block), "{block} appended twice to the free queue");
        metas[index as usize].prev_free = self.tail;
        metas[index as usize].next_free = None;
        match self.tail {
            Some(tail) => metas[tail as usize].next_free = Some(index),
            None => self.head = Some(index),
        }
        self.tail = Some(index);
        self.len += 1;
    }

    /// Unlinks `block` from wherever it sits. The block must be queued.
    pub fn remove(&mut self, metas: &mut [BlockMeta], block: BlockId) {
        debug_assert!(self.contains(metas, block), "{block} removed but not in the free queue");
        let index = block.0 as usize;
        let (prev, next) = (metas[index].prev_free.take(), metas[index].next_free.take());
        match prev {
            Some(prev) => metas[prev as usize].next_free = next,
            None => self.head = next,
        }
        match next {
            Some(next) => metas[next as usize].prev_free = prev,
            None => self.tail = prev,
        }
        self.len -= 1;
    }

    /// Whether `block` is linked into this queue: O(1), from its links and the ends.
    pub fn contains(&self, metas: &[BlockMeta], block: BlockId) -> bool {
        let meta = &metas[block.0 as usize];
        meta.prev_free.is_some() || meta.next_free.is_some() || self.head == Some(block.0)
    }

    /// The queued blocks from head to tail (O(len); for tests and invariant checks).
    pub fn iter<'a>(&self, metas: &'a [BlockMeta]) -> impl Iterator<Item = BlockId> + 'a {
        let mut cursor = self.head;
        std::iter::from_fn(move || {
            let current = cursor?;
            cursor = metas[current as usize].next_free;
            Some(BlockId(current))
        })
    }
}

/// All physical blocks of one KV cache, with reference counts and the prefix cache.
#[derive(Clone, Debug)]
pub struct BlockPool {
    /// One entry per physical block, indexed by `BlockId.0`.
    metas: Vec<BlockMeta>,
    /// Blocks with `ref_cnt == 0`, in eviction order.
    free_queue: FreeBlockQueue,
    /// Prefix cache: content hash → the block holding that prefix. Entries may point at free blocks
    /// (reusable until evicted). At most one block per hash; a duplicate stays uncached.
    cached: HashMap<BlockHash, BlockId>,
    /// When false, no block is ever cached and lookups always miss.
    enable_caching: bool,
}

impl BlockPool {
    /// A pool of `num_blocks` free blocks.
    pub fn new(num_blocks: usize, enable_caching: bool) -> Self {
        assert!(num_blocks <= u32::MAX as usize, "num_blocks {num_blocks} exceeds u32::MAX");
        let mut metas = vec![BlockMeta::default(); num_blocks];
        let free_queue = FreeBlockQueue::with_all(&mut metas);
        Self { metas, free_queue, cached: HashMap::new(), enable_caching }
    }

    /// Total number of physical blocks.
    pub fn num_blocks(&self) -> usize {
        self.metas.len()
    }

    /// Blocks not used by any request (cached-but-free blocks count as free).
    pub fn num_free_blocks(&self) -> usize {
        self.free_queue.len()
    }

    /// Fraction of blocks in use, in `[0, 1]`; 0 for an empty pool.
    pub fn usage(&self) -> f64 {
        if self.metas.is_empty() {
            return 0.0;
        }
        1.0 - self.num_free_blocks() as f64 / self.num_blocks() as f64
    }

    /// Whether prefix caching is on.
    pub fn caching_enabled(&self) -> bool {
        self.enable_caching
    }

    /// Reference count of `block` (for callers' checks and tests).
    pub fn ref_cnt(&self, block: BlockId) -> u32 {
        self.metas[block.0 as usize].ref_cnt
    }

    /// The hash `block` is cached under, if any.
    pub fn block_hash(&self, block: BlockId) -> Option<BlockHash> {
        self.metas[block.0 as usize].hash
    }

    /// The free blocks from "evicted first" to "evicted last" (O(free blocks); for tests).
    pub fn free_block_order(&self) -> Vec<BlockId> {
        self.free_queue.iter(&self.metas).collect()
    }

    /// Takes `n` blocks from the head of the free queue, evicting any cached hash they carry, and
    /// gives each a reference count of 1. `None`, with nothing changed, if fewer than `n` are free.
    pub fn get_new_blocks(&mut self, n: usize) -> Option<Vec<BlockId>> {
        if n > self.free_queue.len() {
            return None;
        }
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let block = self.free_queue.popleft(&mut self.metas)?;
            self.evict(block);
            let meta = &mut self.metas[block.0 as usize];
            debug_assert_eq!(meta.ref_cnt, 0, "{block} in the free queue with ref_cnt > 0");
            meta.ref_cnt = 1;
            blocks.push(block);
        }
        Some(blocks)
    }

    /// Drops `block`'s hash from the prefix cache (it is about to hold other content).
    fn evict(&mut self, block: BlockId) {
        if let Some(hash) = self.metas[block.0 as usize].hash.take() {
            let removed = self.cached.remove(&hash);
            debug_assert_eq!(removed, Some(block), "cache entry for {hash:?} did not point at {block}");
        }
    }

    /// The block caching the prefix ending in `hash`, if any (it may be free; `touch` it to use it).
    pub fn get_cached_block(&self, hash: BlockHash) -> Option<BlockId> {
        if !self.enable_caching {
            return None;
        }
        self.cached.get(&hash).copied()
    }

    /// Adds one reference to each block, taking blocks with no users out of the free queue
    /// (a prefix-cache hit on a freed block revives it).
    pub fn touch(&mut self, blocks: &[BlockId]) {
        for &block in blocks {
            if self.metas[block.0 as usize].ref_cnt == 0 {
                self.free_queue.remove(&mut self.metas, block);
            }
            self.metas[block.0 as usize].ref_cnt += 1;
        }
    }

    /// Registers full, in-use blocks in the prefix cache under their hashes (`blocks[i]` ↔
    /// `hashes[i]`). Blocks already cached are skipped; a block whose hash is already cached by
    /// another block (two requests computed the same prefix at once) stays uncached.
    pub fn cache_full_blocks(&mut self, blocks: &[BlockId], hashes: &[BlockHash]) {
        assert_eq!(blocks.len(), hashes.len(), "cache_full_blocks: one hash per block");
        if !self.enable_caching {
            return;
        }
        for (&block, &hash) in blocks.iter().zip(hashes) {
            let meta = &mut self.metas[block.0 as usize];
            debug_assert!(meta.ref_cnt > 0, "caching {block}, which nobody uses");
            if let Some(existing) = meta.hash {
                debug_assert_eq!(existing, hash, "{block} re-cached under a different hash");
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = self.cached.entry(hash) {
                slot.insert(block);
                meta.hash = Some(hash);
            }
        }
    }

    /// Drops one reference from each block, in the order given; blocks reaching 0 are appended to
    /// the free queue in that order (pass a request's blocks tail-first so its tail is evicted first).
    ///
    /// # Panics
    /// If a block is freed more often than it was referenced (a double free is a bookkeeping bug).
    pub fn free_blocks(&mut self, ordered: impl IntoIterator<Item = BlockId>) {
        for block in ordered {
            let meta = &mut self.metas[block.0 as usize];
            assert!(meta.ref_cnt > 0, "double free of {block}");
            meta.ref_cnt -= 1;
            if meta.ref_cnt == 0 {
                self.free_queue.append(&mut self.metas, block);
            }
        }
    }

    /// Checks the pool's invariants, naming the first one broken:
    /// the free queue holds exactly the blocks with `ref_cnt == 0`, its links are consistent, and
    /// every cache entry points at a block carrying that hash (and vice versa).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut queued = vec![false; self.metas.len()];
        let mut prev = None;
        let mut walked = 0usize;
        for block in self.free_queue.iter(&self.metas) {
            let index = block.0 as usize;
            if queued[index] {
                return Err(format!("{block} appears twice in the free queue"));
            }
            queued[index] = true;
            if self.metas[index].prev_free != prev {
                return Err(format!("{block} has a wrong prev link"));
            }
            prev = Some(block.0);
            walked += 1;
        }
        if prev != self.free_queue.tail {
            return Err("free queue tail does not match the last linked block".into());
        }
        if walked != self.free_queue.len() {
            return Err(format!("free queue has {walked} linked blocks but len {}", self.free_queue.len()));
        }
        let zero_ref = self.metas.iter().filter(|meta| meta.ref_cnt == 0).count();
        if walked != zero_ref {
            return Err(format!("free queue length {walked} != {zero_ref} blocks with ref_cnt 0"));
        }
        for (index, meta) in self.metas.iter().enumerate() {
            if (meta.ref_cnt == 0) != queued[index] {
                return Err(format!("block-{index} ref_cnt {} but queued = {}", meta.ref_cnt, queued[index]));
            }
            if let Some(hash) = meta.hash {
                if self.cached.get(&hash) != Some(&BlockId(index as u32)) {
                    return Err(format!("block-{index} carries {hash:?} but the cache does not map it back"));
                }
            }
        }
        for (hash, block) in &self.cached {
            if self.metas[block.0 as usize].hash != Some(*hash) {
                return Err(format!("cache maps {hash:?} to {block}, which does not carry it"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[u32]) -> Vec<BlockId> {
        raw.iter().map(|&id| BlockId(id)).collect()
    }

    #[test]
    fn free_queue_popleft_append_and_remove_from_middle() {
        let mut metas = vec![BlockMeta::default(); 5];
        let mut queue = FreeBlockQueue::with_all(&mut metas);
        assert_eq!(queue.iter(&metas).collect::<Vec<_>>(), ids(&[0, 1, 2, 3, 4]));
        queue.remove(&mut metas, BlockId(2));
        assert_eq!(queue.iter(&metas).collect::<Vec<_>>(), ids(&[0, 1, 3, 4]));
        assert_eq!(queue.popleft(&mut metas), Some(BlockId(0)));
        queue.remove(&mut metas, BlockId(4)); // tail
        queue.append(&mut metas, BlockId(2));
        queue.append(&mut metas, BlockId(0));
        assert_eq!(queue.iter(&metas).collect::<Vec<_>>(), ids(&[1, 3, 2, 0]));
        assert_eq!(queue.len(), 4);
        assert!(!queue.contains(&metas, BlockId(4)));
        assert!(queue.contains(&metas, BlockId(1)));
        for expected in ids(&[1, 3, 2, 0]) {
            assert_eq!(queue.popleft(&mut metas), Some(expected));
        }
        assert!(queue.is_empty());
        assert_eq!(queue.popleft(&mut metas), None);
        queue.append(&mut metas, BlockId(3));
        assert_eq!(queue.iter(&metas).collect::<Vec<_>>(), ids(&[3]));
        assert!(queue.contains(&metas, BlockId(3)));
    }

    #[test]
    fn allocation_and_free_accounting() {
        let mut pool = BlockPool::new(4, false);
        assert_eq!((pool.num_free_blocks(), pool.usage()), (4, 0.0));
        let blocks = pool.get_new_blocks(3).expect("3 of 4 free");
        assert_eq!(blocks, ids(&[0, 1, 2]));
        assert_eq!(pool.num_free_blocks(), 1);
        assert!((pool.usage() - 0.75).abs() < 1e-12);
        assert_eq!(pool.get_new_blocks(2), None);
        assert_eq!(pool.num_free_blocks(), 1, "a failed allocation changes nothing");
        pool.touch(&blocks[..1]);
        assert_eq!(pool.ref_cnt(BlockId(0)), 2);
        pool.free_blocks(blocks.iter().rev().copied());
        assert_eq!(pool.num_free_blocks(), 3);
        assert_eq!(pool.ref_cnt(BlockId(0)), 1);
        pool.free_blocks([BlockId(0)]);
        assert_eq!(pool.free_block_order(), ids(&[3, 2, 1, 0]));
        pool.check_invariants().unwrap();
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_panics() {
        let mut pool = BlockPool::new(2, false);
        let blocks = pool.get_new_blocks(1).unwrap();
        pool.free_blocks(blocks.clone());
        pool.free_blocks(blocks);
    }

    #[test]
    fn cached_block_survives_free_and_is_evicted_lazily() {
        let mut pool = BlockPool::new(2, true);
        let hash = BlockHash(42);
        let block = pool.get_new_blocks(1).unwrap()[0];
        pool.cache_full_blocks(&[block], &[hash]);
        pool.free_blocks([block]);
        assert_eq!(pool.get_cached_block(hash), Some(block), "free but still cached");
        pool.touch(&[block]);
        assert_eq!((pool.ref_cnt(block), pool.num_free_blocks()), (1, 1));
        pool.free_blocks([block]);
        // Block 1 is at the head, then the cached block: both get popped, the cache entry goes.
        let popped = pool.get_new_blocks(2).unwrap();
        assert_eq!(popped, vec![BlockId(1), block]);
        assert_eq!(pool.get_cached_block(hash), None);
        assert_eq!(pool.block_hash(block), None);
        pool.check_invariants().unwrap();
    }

    #[test]
    fn duplicate_hash_stays_uncached_and_disabled_pool_never_caches() {
        let mut pool = BlockPool::new(2, true);
        let blocks = pool.get_new_blocks(2).unwrap();
        pool.cache_full_blocks(&blocks, &[BlockHash(7), BlockHash(7)]);
        assert_eq!(pool.get_cached_block(BlockHash(7)), Some(blocks[0]));
        assert_eq!(pool.block_hash(blocks[1]), None);
        pool.check_invariants().unwrap();

        let mut off = BlockPool::new(1, false);
        let block = off.get_new_blocks(1).unwrap();
        off.cache_full_blocks(&block, &[BlockHash(7)]);
        assert_eq!(off.get_cached_block(BlockHash(7)), None);
        off.check_invariants().unwrap();
    }
}
