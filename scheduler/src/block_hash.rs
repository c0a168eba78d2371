//! Content hashes of full KV-cache blocks, the keys of the prefix cache.
//!
//! Models vLLM v1 `kv_cache_utils.hash_block_tokens` / `hash_request_tokens`: the hash of block `i`
//! covers the hash of block `i - 1` (a fixed root value for the first block), the block's token ids
//! and optional extra keys (a cache salt, so tenants that must not share KV never do). Chaining makes
//! equal hashes mean equal *prefixes*, not just equal blocks, which is what prefix caching needs.
//! Only FULL blocks are hashed: a partial block's content is still changing.
//!
//! The hash is 64-bit FNV-1a, written out here so it is deterministic across runs, platforms and
//! Rust versions (std's `DefaultHasher` makes no such promise). A collision would make two different
//! prefixes share KV; at 64 bits that is accepted, as in vLLM's default (non-cryptographic) mode.
//!
//! Complexity: O(block_size) per block, O(num_tokens) per request.

/// Hash of one full block of tokens and, through chaining, of every token before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash(pub u64);

/// Stands in for the parent hash of the first block of every request.
const ROOT_PARENT: u64 = u64::from_le_bytes(*b"llmserve");

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental 64-bit FNV-1a.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(FNV_OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.write(&value.to_le_bytes());
    }
}

/// Hashes one full block: `(parent or root, tokens, extra)`.
///
/// `extra` is folded in with a presence tag and its length, so `None`, `Some("")` and salts that are
/// prefixes of one another all hash differently.
pub fn hash_block_tokens(parent: Option<BlockHash>, tokens: &[u32], extra: Option<&str>) -> BlockHash {
    let mut hasher = Fnv1a::new();
    hasher.write_u64(parent.map_or(ROOT_PARENT, |hash| hash.0));
    hasher.write_u64(tokens.len() as u64);
    for &token in tokens {
        hasher.write(&token.to_le_bytes());
    }
    match extra {
        None => hasher.write(&[0]),
        Some(salt) => {
            hasher.write(&[1]);
            hasher.write_u64(salt.len() as u64);
            hasher.write(salt.as_bytes());
        }
    }
    BlockHash(hasher.0)
}

/// Chained hashes of every FULL block of `tokens`; a trailing partial block gets no hash.
///
/// # Panics
/// If `block_size` is 0 (a configuration error caught when the config is validated).
pub fn hash_request_blocks(tokens: &[u32], block_size: usize, extra: Option<&str>) -> Vec<BlockHash> {
    assert!(block_size > 0, "block_size must be positive");
    let mut hashes = Vec::with_capacity(tokens.len() / block_size);
    let mut parent = None;
    for block in tokens.chunks_exact(block_size) {
        let hash = hash_block_tokens(parent, block, extra);
        hashes.push(hash);
        parent = Some(hash);
    }
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_blocks_are_hashed() {
        let tokens: Vec<u32> = (0..10).collect();
        assert_eq!(hash_request_blocks(&tokens, 4, None).len(), 2);
        assert_eq!(hash_request_blocks(&tokens[..8], 4, None).len(), 2);
        assert!(hash_request_blocks(&tokens[..3], 4, None).is_empty());
    }

    #[test]
    fn hash_is_deterministic_and_chained() {
        let tokens: Vec<u32> = (0..8).collect();
        let hashes = hash_request_blocks(&tokens, 4, None);
        assert_eq!(hashes, hash_request_blocks(&tokens, 4, None));
        assert_eq!(hashes[0], hash_block_tokens(None, &tokens[..4], None));
        assert_eq!(hashes[1], hash_block_tokens(Some(hashes[0]), &tokens[4..], None));
        // Same second block after a different first block: different hash (prefix semantics).
        let other: Vec<u32> = [9, 9, 9, 9, 4, 5, 6, 7].to_vec();
        assert_ne!(hash_request_blocks(&other, 4, None)[1], hashes[1]);
    }

    #[test]
    fn shared_prefix_gives_shared_hashes() {
        let a: Vec<u32> = (0..12).collect();
        let mut b: Vec<u32> = (0..8).collect();
        b.extend([100, 101, 102, 103]);
        let (ha, hb) = (hash_request_blocks(&a, 4, None), hash_request_blocks(&b, 4, None));
        assert_eq!(ha[..2], hb[..2]);
        assert_ne!(ha[2], hb[2]);
    }

    #[test]
    fn extra_keys_separate_caches() {
        let tokens = [1, 2, 3, 4];
        let plain = hash_block_tokens(None, &tokens, None);
        let empty = hash_block_tokens(None, &tokens, Some(""));
        let salt_a = hash_block_tokens(None, &tokens, Some("tenant-a"));
        let salt_b = hash_block_tokens(None, &tokens, Some("tenant-b"));
        assert_ne!(plain, empty);
        assert_ne!(plain, salt_a);
        assert_ne!(salt_a, salt_b);
        assert_eq!(salt_a, hash_block_tokens(None, &tokens, Some("tenant-a")));
    }

    #[test]
    fn known_value_is_stable_across_runs() {
        // Pinned so an accidental change of the hash (which would silently invalidate any
        // persisted or cross-process cache keys) fails loudly.
        assert_eq!(hash_block_tokens(None, &[1, 2, 3, 4], None), BlockHash(0xd076_558c_69dd_3a19));
    }
}
