//! Tests of the KV-cache manager: prefix sharing, cache hits, lazy eviction order, atomic failure,
//! and a property test of block accounting over random allocate / decode / free sequences.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::*;
use crate::block_hash::hash_request_blocks;

const BLOCK_SIZE: usize = 4;

fn ids(raw: &[u32]) -> Vec<BlockId> {
    raw.iter().map(|&id| BlockId(id)).collect()
}

/// Admits a request: prefix-cache lookup, then allocation for the whole prompt.
fn admit(manager: &mut KvCacheManager, request: RequestId, prompt: &[u32]) -> Option<ComputedBlocks> {
    let hashes = hash_request_blocks(prompt, manager.block_size(), None);
    let computed = manager.get_computed_blocks(prompt.len(), &hashes);
    let num_new = prompt.len() - computed.num_computed_tokens;
    manager.allocate_slots(request, &hashes, 0, num_new, &computed.blocks)?;
    Some(computed)
}

#[test]
fn allocation_grows_block_table_and_free_returns_everything() {
    let mut manager = KvCacheManager::new(8, BLOCK_SIZE, true);
    let request = RequestId(1);
    let prompt: Vec<u32> = (0..6).collect();
    let hashes = hash_request_blocks(&prompt, BLOCK_SIZE, None);
    assert_eq!(manager.allocate_slots(request, &hashes, 0, 6, &[]), Some(ids(&[0, 1])));
    // Decoding tokens 6 and 7 fits in block 1; token 8 needs a new block.
    assert_eq!(manager.allocate_slots(request, &hashes, 6, 1, &[]), Some(vec![]));
    assert_eq!(manager.allocate_slots(request, &hashes, 7, 1, &[]), Some(vec![]));
    assert_eq!(manager.allocate_slots(request, &hashes, 8, 1, &[]), Some(ids(&[2])));
    assert_eq!(manager.block_table(request), ids(&[0, 1, 2]));
    assert_eq!(manager.num_free_blocks(), 5);
    assert!((manager.usage() - 3.0 / 8.0).abs() < 1e-12);
    manager.free(request);
    assert_eq!(manager.num_free_blocks(), 8);
    assert!(manager.block_table(request).is_empty());
    manager.pool().check_invariants().unwrap();
}

#[test]
fn requests_with_common_prefix_share_blocks() {
    let mut manager = KvCacheManager::new(10, BLOCK_SIZE, true);
    let mut a: Vec<u32> = (0..8).collect();
    a.extend([100, 101, 102]);
    let mut b: Vec<u32> = (0..8).collect();
    b.extend([200, 201, 202]);
    assert_eq!(admit(&mut manager, RequestId(1), &a).unwrap().num_computed_tokens, 0);
    let hit = admit(&mut manager, RequestId(2), &b).unwrap();
    assert_eq!(hit.num_computed_tokens, 8);
    let (table_a, table_b) = (manager.block_table(RequestId(1)), manager.block_table(RequestId(2)));
    assert_eq!(table_a[..2], table_b[..2]);
    assert_ne!(table_a[2], table_b[2]);
    for &block in &table_a[..2] {
        assert_eq!(manager.pool().ref_cnt(block), 2);
    }
    let shared = table_a[..2].to_vec();
    let table_b = table_b.to_vec();
    manager.free(RequestId(1));
    assert_eq!(manager.block_table(RequestId(2)), table_b);
    for &block in &shared {
        assert_eq!(manager.pool().ref_cnt(block), 1, "still used by request 2");
    }
    assert_eq!(manager.num_free_blocks(), 10 - 3);
    manager.pool().check_invariants().unwrap();
}

#[test]
fn whole_prompt_hit_still_computes_last_token() {
    let mut manager = KvCacheManager::new(10, BLOCK_SIZE, true);
    let prompt: Vec<u32> = (0..8).collect();
    admit(&mut manager, RequestId(1), &prompt).unwrap();
    let hashes = hash_request_blocks(&prompt, BLOCK_SIZE, None);
    let computed = manager.get_computed_blocks(prompt.len(), &hashes);
    assert_eq!(computed.num_computed_tokens, 4, "only the first block: token 7 must be recomputed");
    let mut disabled = KvCacheManager::new(10, BLOCK_SIZE, false);
    admit(&mut disabled, RequestId(1), &prompt).unwrap();
    assert_eq!(disabled.get_computed_blocks(prompt.len(), &hashes), ComputedBlocks::default());
}

#[test]
fn freed_cached_blocks_are_hit_later_and_evicted_when_reused() {
    let mut manager = KvCacheManager::new(3, BLOCK_SIZE, true);
    let prompt: Vec<u32> = (0..9).collect(); // 2 full blocks + 1 partial
    admit(&mut manager, RequestId(1), &prompt).unwrap();
    let first_table = manager.block_table(RequestId(1)).to_vec();
    manager.free(RequestId(1));
    assert_eq!(manager.num_free_blocks(), 3);

    // Same prefix later: cache hit on the two full blocks, which leave the free queue.
    let hit = admit(&mut manager, RequestId(2), &prompt).unwrap();
    assert_eq!(hit.blocks, first_table[..2]);
    assert_eq!(hit.num_computed_tokens, 8);
    manager.free(RequestId(2));

    // A different prompt needs all 3 blocks: the cached ones are popped and their hashes dropped.
    let hashes = hash_request_blocks(&prompt, BLOCK_SIZE, None);
    let other: Vec<u32> = (500..510).collect();
    assert_eq!(admit(&mut manager, RequestId(3), &other).unwrap().num_computed_tokens, 0);
    for hash in &hashes {
        assert_eq!(manager.pool().get_cached_block(*hash), None, "evicted on reuse");
    }
    assert_eq!(manager.get_computed_blocks(prompt.len(), &hashes), ComputedBlocks::default());
    manager.pool().check_invariants().unwrap();
}

#[test]
fn tail_of_freed_request_is_evicted_first() {
    let mut manager = KvCacheManager::new(4, BLOCK_SIZE, true);
    let prompt: Vec<u32> = (0..13).collect(); // blocks 0..=3, the last one partial
    admit(&mut manager, RequestId(1), &prompt).unwrap();
    assert_eq!(manager.block_table(RequestId(1)), ids(&[0, 1, 2, 3]));
    manager.free(RequestId(1));
    assert_eq!(manager.pool().free_block_order(), ids(&[3, 2, 1, 0]));

    // A one-block request takes the tail (block 3, uncached); the next takes block 2 and evicts it.
    let hashes = hash_request_blocks(&prompt, BLOCK_SIZE, None);
    admit(&mut manager, RequestId(2), &[900, 901]).unwrap();
    assert_eq!(manager.block_table(RequestId(2)), ids(&[3]));
    admit(&mut manager, RequestId(3), &[902, 903]).unwrap();
    assert_eq!(manager.block_table(RequestId(3)), ids(&[2]));
    assert_eq!(manager.pool().get_cached_block(hashes[2]), None);
    // The head of the prompt is still cached: a new request hits blocks 0 and 1.
    let hit = manager.get_computed_blocks(prompt.len(), &hashes);
    assert_eq!(hit.blocks, ids(&[0, 1]));
    manager.pool().check_invariants().unwrap();
}

#[test]
fn failed_allocation_leaves_state_unchanged() {
    let mut manager = KvCacheManager::new(3, BLOCK_SIZE, true);
    let prompt: Vec<u32> = (0..9).collect();
    admit(&mut manager, RequestId(1), &prompt).unwrap();
    manager.free(RequestId(1));
    // Request 2 hits the 2 cached (free) blocks; it needs 2 more, but only 1 block stays free once
    // the hits are revived, so it must fail without touching the hits or the tables.
    let mut long: Vec<u32> = (0..8).collect();
    long.extend(1000..1008);
    let hashes = hash_request_blocks(&long, BLOCK_SIZE, None);
    let computed = manager.get_computed_blocks(long.len(), &hashes);
    assert_eq!(computed.blocks.len(), 2);
    let order_before = manager.pool().free_block_order();
    let result = manager.allocate_slots(RequestId(2), &hashes, 0, long.len() - 8, &computed.blocks);
    assert_eq!(result, None);
    assert_eq!(manager.pool().free_block_order(), order_before);
    assert!(manager.block_table(RequestId(2)).is_empty());
    for &block in &computed.blocks {
        assert_eq!(manager.pool().ref_cnt(block), 0);
        assert!(manager.pool().block_hash(block).is_some(), "still cached");
    }
    manager.pool().check_invariants().unwrap();
    // Running request out of blocks: same guarantee.
    admit(&mut manager, RequestId(3), &(0..12).collect::<Vec<u32>>()).unwrap();
    let table = manager.block_table(RequestId(3)).to_vec();
    assert_eq!(manager.allocate_slots(RequestId(3), &[], 12, 1, &[]), None);
    assert_eq!(manager.block_table(RequestId(3)), table);
    assert_eq!(manager.num_free_blocks(), 0);
}

#[derive(Clone, Debug)]
enum Op {
    /// Admit request `request` with a prompt built from shared prefix `prefix` and `len` tokens.
    Admit { request: u64, prefix: u32, len: usize },
    /// Schedule `tokens` more tokens (decode) for `request` if it is running.
    Decode { request: u64, tokens: usize },
    /// Free `request` (finish or preempt).
    Free { request: u64 },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6u64, 0..3u32, 1..30usize).prop_map(|(request, prefix, len)| Op::Admit { request, prefix, len }),
        (0..6u64, 1..9usize).prop_map(|(request, tokens)| Op::Decode { request, tokens }),
        (0..6u64).prop_map(|request| Op::Free { request }),
    ]
}

/// Checks the pool's invariants plus accounting derived independently from the block tables:
/// every block's ref_cnt equals the number of tables holding it, and free + used == total.
fn check_accounting(manager: &KvCacheManager, running: &HashMap<u64, Vec<u32>>) -> Result<(), TestCaseError> {
    manager.pool().check_invariants().map_err(TestCaseError::fail)?;
    let mut holders: HashMap<BlockId, u32> = HashMap::new();
    for (&request, tokens) in running {
        let table = manager.block_table(RequestId(request));
        prop_assert_eq!(table.len(), tokens.len().div_ceil(BLOCK_SIZE));
        let distinct: HashSet<_> = table.iter().collect();
        prop_assert_eq!(distinct.len(), table.len(), "a block twice in one table");
        for &block in table {
            *holders.entry(block).or_default() += 1;
        }
    }
    for (&block, &count) in &holders {
        prop_assert_eq!(manager.pool().ref_cnt(block), count);
    }
    prop_assert_eq!(manager.num_free_blocks() + holders.len(), manager.pool().num_blocks());
    Ok(())
}

proptest! {
    #[test]
    fn random_allocate_decode_free_keeps_accounting(
        caching in any::<bool>(),
        num_blocks in 1..24usize,
        ops in prop::collection::vec(op_strategy(), 1..80),
    ) {
        let mut manager = KvCacheManager::new(num_blocks, BLOCK_SIZE, caching);
        // Running requests and their tokens (all computed after each step).
        let mut running: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut next_token = 10_000u32;
        for op in ops {
            match op {
                Op::Admit { request, prefix, len } if !running.contains_key(&request) => {
                    // Shared prefix (10 tokens per prefix family) then unique tokens.
                    let mut prompt: Vec<u32> = (0..len.min(10) as u32).map(|i| prefix * 100 + i).collect();
                    while prompt.len() < len {
                        prompt.push(next_token);
                        next_token += 1;
                    }
                    let free_before = manager.num_free_blocks();
                    match admit(&mut manager, RequestId(request), &prompt) {
                        Some(_) => { running.insert(request, prompt); }
                        None => {
                            prop_assert_eq!(manager.num_free_blocks(), free_before);
                            prop_assert!(manager.block_table(RequestId(request)).is_empty());
                        }
                    }
                }
                Op::Decode { request, tokens } => {
                    if let Some(seq) = running.get_mut(&request) {
                        let num_computed = seq.len();
                        let mut extended = seq.clone();
                        for _ in 0..tokens {
                            extended.push(next_token);
                            next_token += 1;
                        }
                        let hashes = hash_request_blocks(&extended, BLOCK_SIZE, None);
                        let table_before = manager.block_table(RequestId(request)).to_vec();
                        match manager.allocate_slots(RequestId(request), &hashes, num_computed, tokens, &[]) {
                            Some(new_blocks) => {
                                let table = manager.block_table(RequestId(request));
                                prop_assert_eq!(&table[table_before.len()..], new_blocks.as_slice());
                                *seq = extended;
                            }
                            None => {
                                let table = manager.block_table(RequestId(request));
                                prop_assert_eq!(table, table_before.as_slice());
                            }
                        }
                    }
                }
                Op::Free { request } => {
                    manager.free(RequestId(request));
                    running.remove(&request);
                }
                Op::Admit { .. } => {}
            }
            check_accounting(&manager, &running)?;
        }
        for request in running.keys() {
            manager.free(RequestId(*request));
        }
        prop_assert_eq!(manager.num_free_blocks(), num_blocks);
        manager.pool().check_invariants().map_err(TestCaseError::fail)?;
    }
}
