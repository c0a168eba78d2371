//! Attention metadata for one forward step over a flattened, variable-length batch.
//!
//! The same description the GPU backend uses (vLLM's `FlashAttentionMetadata` / nano-vllm's context):
//! tokens of many sequences are concatenated; each sequence contributes `query_len` new tokens whose
//! K/V are written to `slot_mapping` and which attend to the sequence's whole context through its block
//! table. Chunked prefill and prefix caching are just sequences whose context already holds tokens.

/// Per-step attention inputs. Built by the model runner; never global.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionMetadata {
    /// `[num_tokens]` position of each token inside its sequence (drives RoPE and the causal mask).
    pub positions: Vec<u32>,
    /// `[num_tokens]` flat KV-cache slot (`block_id * block_size + offset`) the token's K/V is written to.
    pub slot_mapping: Vec<u32>,
    /// `[num_seqs + 1]` offsets of each sequence's tokens in the flattened batch.
    pub query_start_loc: Vec<u32>,
    /// `[num_seqs]` context length of each sequence after this step (cached + new tokens).
    pub seq_lens: Vec<u32>,
    /// `[num_seqs, max_blocks_per_seq]` physical block ids of each sequence, row-major; unused entries 0.
    pub block_tables: Vec<u32>,
    /// Row width of `block_tables`.
    pub max_blocks_per_seq: usize,
    /// Token rows (indices into the flattened batch) whose logits are wanted, in output order.
    pub logits_indices: Vec<u32>,
}

/// One sequence's slice of a batch, for [`AttentionMetadata::for_sequences`].
#[derive(Clone, Debug)]
pub struct SequenceChunk<'a> {
    /// Tokens already in the cache (computed in earlier steps).
    pub num_cached: usize,
    /// New tokens in this step.
    pub num_new: usize,
    /// The sequence's physical blocks, covering at least `num_cached + num_new` tokens.
    pub block_table: &'a [u32],
    /// Whether the last new token's logits are wanted (false for a non-final prefill chunk).
    pub wants_logits: bool,
}

impl AttentionMetadata {
    pub fn num_tokens(&self) -> usize {
        self.positions.len()
    }

    pub fn num_seqs(&self) -> usize {
        self.seq_lens.len()
    }

    /// The block table row of sequence `s`.
    pub fn block_table(&self, s: usize) -> &[u32] {
        &self.block_tables[s * self.max_blocks_per_seq..(s + 1) * self.max_blocks_per_seq]
    }

    /// Builds the metadata for a batch of sequence chunks with the given block size. Returns an error
    /// message if a block table is too short for its sequence.
    pub fn for_sequences(chunks: &[SequenceChunk<'_>], block_size: usize) -> Result<AttentionMetadata, String> {
        let max_blocks = chunks.iter().map(|c| c.block_table.len()).max().unwrap_or(0);
        let mut m = AttentionMetadata { max_blocks_per_seq: max_blocks, ..Default::default() };
        m.query_start_loc.push(0);
        for (s, c) in chunks.iter().enumerate() {
            let total = c.num_cached + c.num_new;
            if total > c.block_table.len() * block_size {
                return Err(format!(
                    "sequence {s}: {total} tokens need {} blocks of {block_size}, block table has {}",
                    total.div_ceil(block_size),
                    c.block_table.len()
                ));
            }
            for pos in c.num_cached..total {
                m.positions.push(pos as u32);
                let block = c.block_table[pos / block_size];
                m.slot_mapping.push(block * block_size as u32 + (pos % block_size) as u32);
            }
            if c.wants_logits && c.num_new > 0 {
                m.logits_indices.push(m.positions.len() as u32 - 1);
            }
            m.query_start_loc.push(m.positions.len() as u32);
            m.seq_lens.push(total as u32);
            m.block_tables.extend_from_slice(c.block_table);
            m.block_tables.extend(std::iter::repeat_n(0, max_blocks - c.block_table.len()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_slots_from_block_tables() {
        let a = [7u32, 2];
        let b = [5u32];
        let m = AttentionMetadata::for_sequences(
            &[
                SequenceChunk { num_cached: 3, num_new: 2, block_table: &a, wants_logits: true },
                SequenceChunk { num_cached: 0, num_new: 3, block_table: &b, wants_logits: false },
            ],
            4,
        )
        .unwrap();
        assert_eq!(m.positions, vec![3, 4, 0, 1, 2]);
        assert_eq!(m.slot_mapping, vec![7 * 4 + 3, 2 * 4, 20, 21, 22]);
        assert_eq!(m.query_start_loc, vec![0, 2, 5]);
        assert_eq!(m.seq_lens, vec![5, 3]);
        assert_eq!(m.block_tables, vec![7, 2, 5, 0]);
        assert_eq!(m.logits_indices, vec![1]);
    }

    #[test]
    fn short_block_table_is_an_error() {
        let a = [1u32];
        let e = AttentionMetadata::for_sequences(
            &[SequenceChunk { num_cached: 4, num_new: 1, block_table: &a, wants_logits: true }],
            4,
        )
        .unwrap_err();
        assert!(e.contains("need 2 blocks"), "{e}");
    }
}
