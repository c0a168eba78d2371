//! Paged attention on the CPU: writing new K/V through the slot mapping ("reshape_and_cache") and
//! causal grouped-query attention of every new token over its sequence's cached context, read through
//! the block table.
//!
//! Mirrors the GPU kernels' contract (vLLM `reshape_and_cache` + `paged_attention` /
//! `flash_attn_varlen_func` with a block table) so both backends consume the same
//! [`AttentionMetadata`]. One task per (token, kv head): the K/V rows fetched serve the whole query group.
//! Softmax in f32 with max subtraction. Cost O(num_tokens · context · q_dim).

use llmserve_kernels::cpu::vec_ops::{axpy_f32, dot_f32, scale_f32};
use rayon::prelude::*;

use super::kv::KvCacheGeometry;
use super::metadata::AttentionMetadata;

/// The fused Q|K|V projection output of a batch: `[num_tokens, q_dim + 2·kv_dim]`, Q first, then K, then V.
#[derive(Clone, Copy)]
pub struct FusedQkv<'a> {
    pub data: &'a [f32],
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl<'a> FusedQkv<'a> {
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    pub fn row_width(&self) -> usize {
        self.q_dim() + 2 * self.kv_dim()
    }

    fn row(&self, t: usize) -> &'a [f32] {
        let w = self.row_width();
        &self.data[t * w..(t + 1) * w]
    }
}

/// Writes each token's K and V rows into the cache at `slot_mapping` ("reshape_and_cache").
pub fn write_kv(geometry: &KvCacheGeometry, slot_mapping: &[u32], qkv: FusedQkv<'_>, k_cache: &mut [f32], v_cache: &mut [f32]) {
    let kvd = geometry.token_elems();
    let (k_off, v_off) = (qkv.q_dim(), qkv.q_dim() + kvd);
    for (t, &slot) in slot_mapping.iter().enumerate() {
        let row = qkv.row(t);
        let dst = slot as usize * kvd;
        k_cache[dst..dst + kvd].copy_from_slice(&row[k_off..k_off + kvd]);
        v_cache[dst..dst + kvd].copy_from_slice(&row[v_off..v_off + kvd]);
    }
}

/// Computes attention outputs `out [num_tokens, num_heads · head_dim]` for the queries in `qkv`,
/// reading context K/V from the paged cache.
pub fn paged_attention(
    geometry: &KvCacheGeometry,
    meta: &AttentionMetadata,
    qkv: FusedQkv<'_>,
    k_cache: &[f32],
    v_cache: &[f32],
    out: &mut [f32],
) {
    let d = geometry.head_dim;
    let q_dim = qkv.q_dim();
    let group = qkv.num_heads / geometry.num_kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let bs = geometry.block_size;
    let kvd = geometry.token_elems();
    out.par_chunks_mut(q_dim).enumerate().for_each_init(
        || (Vec::<f32>::new(), Vec::<f32>::new()),
        |(scores, acc), (t, out_row)| {
            // The sequence owning token t: last s with query_start_loc[s] <= t.
            let s = meta.query_start_loc.partition_point(|&start| start as usize <= t) - 1;
            let ctx = meta.positions[t] as usize + 1;
            let table = meta.block_table(s);
            let q_row = &qkv.row(t)[..q_dim];
            scores.resize(group * ctx, 0.0);
            acc.resize(group * d, 0.0);
            for g in 0..geometry.num_kv_heads {
                // Scores of the whole query group against each context row.
                for j in 0..ctx {
                    let slot = table[j / bs] as usize * bs + j % bs;
                    let k = &k_cache[slot * kvd + g * d..slot * kvd + (g + 1) * d];
                    for qi in 0..group {
                        let h = g * group + qi;
                        scores[qi * ctx + j] = dot_f32(&q_row[h * d..(h + 1) * d], k) * scale;
                    }
                }
                for qi in 0..group {
                    softmax(&mut scores[qi * ctx..(qi + 1) * ctx]);
                }
                acc.fill(0.0);
                for j in 0..ctx {
                    let slot = table[j / bs] as usize * bs + j % bs;
                    let v = &v_cache[slot * kvd + g * d..slot * kvd + (g + 1) * d];
                    for qi in 0..group {
                        axpy_f32(scores[qi * ctx + j], v, &mut acc[qi * d..(qi + 1) * d]);
                    }
                }
                for qi in 0..group {
                    let h = g * group + qi;
                    out_row[h * d..(h + 1) * d].copy_from_slice(&acc[qi * d..(qi + 1) * d]);
                }
            }
        },
    );
}

/// In-place numerically stable softmax.
fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    scale_f32(x, 1.0 / sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::metadata::SequenceChunk;
    use rand::{Rng, SeedableRng};

    /// Dense causal attention for one sequence: q [n, H·D], k/v [ctx, G·D]; query i sits at position
    /// ctx − n + i.
    struct Dims {
        heads: usize,
        kv_heads: usize,
        d: usize,
    }

    fn dense_reference(q: &[f32], k: &[f32], v: &[f32], n: usize, ctx: usize, dims: &Dims) -> Vec<f32> {
        let Dims { heads, kv_heads, d } = *dims;
        let group = heads / kv_heads;
        let mut out = vec![0f32; n * heads * d];
        for i in 0..n {
            let pos = ctx - n + i;
            for h in 0..heads {
                let g = h / group;
                let qv = &q[i * heads * d + h * d..][..d];
                let s: Vec<f64> = (0..=pos)
                    .map(|j| {
                        let kv = &k[j * kv_heads * d + g * d..][..d];
                        qv.iter().zip(kv).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>() / (d as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for dd in 0..d {
                    let o: f64 = (0..=pos).map(|j| e[j] / z * v[j * kv_heads * d + g * d + dd] as f64).sum();
                    out[i * heads * d + h * d + dd] = o as f32;
                }
            }
        }
        out
    }

    #[test]
    fn paged_attention_matches_dense_attention_across_sequences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (heads, kv_heads, d, bs) = (4, 2, 8, 4);
        let geometry = KvCacheGeometry { num_layers: 1, num_blocks: 16, block_size: bs, num_kv_heads: kv_heads, head_dim: d };
        let mut k_cache = vec![0f32; geometry.layer_elems()];
        let mut v_cache = vec![0f32; geometry.layer_elems()];
        // Two sequences: one with 5 cached + 3 new tokens, one with 6 new tokens; scattered blocks.
        let tables: [&[u32]; 2] = [&[9, 3, 12], &[1, 14]];
        let (cached, new) = ([5usize, 0], [3usize, 6]);
        let kvd = kv_heads * d;
        let row_width = heads * d + 2 * kvd;
        let mut full_k = Vec::new();
        let mut full_v = Vec::new();
        for s in 0..2 {
            let ctx = cached[s] + new[s];
            let kk: Vec<f32> = (0..ctx * kvd).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let vv: Vec<f32> = (0..ctx * kvd).map(|_| rng.gen_range(-1.0..1.0)).collect();
            // Pre-fill the cached part directly.
            for p in 0..cached[s] {
                let slot = tables[s][p / bs] as usize * bs + p % bs;
                k_cache[slot * kvd..][..kvd].copy_from_slice(&kk[p * kvd..][..kvd]);
                v_cache[slot * kvd..][..kvd].copy_from_slice(&vv[p * kvd..][..kvd]);
            }
            full_k.push(kk);
            full_v.push(vv);
        }
        let chunks: Vec<SequenceChunk> = (0..2)
            .map(|s| SequenceChunk { num_cached: cached[s], num_new: new[s], block_table: tables[s], wants_logits: true })
            .collect();
        let meta = AttentionMetadata::for_sequences(&chunks, bs).unwrap();
        let n_tok = meta.num_tokens();
        let mut qkv = vec![0f32; n_tok * row_width];
        let mut qs = Vec::new();
        let mut t = 0;
        for s in 0..2 {
            let q: Vec<f32> = (0..new[s] * heads * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for i in 0..new[s] {
                let p = cached[s] + i;
                let row = &mut qkv[t * row_width..(t + 1) * row_width];
                row[..heads * d].copy_from_slice(&q[i * heads * d..][..heads * d]);
                row[heads * d..heads * d + kvd].copy_from_slice(&full_k[s][p * kvd..][..kvd]);
                row[heads * d + kvd..].copy_from_slice(&full_v[s][p * kvd..][..kvd]);
                t += 1;
            }
            qs.push(q);
        }
        let fused = FusedQkv { data: &qkv, num_heads: heads, num_kv_heads: kv_heads, head_dim: d };
        write_kv(&geometry, &meta.slot_mapping, fused, &mut k_cache, &mut v_cache);
        let mut out = vec![0f32; n_tok * heads * d];
        paged_attention(&geometry, &meta, fused, &k_cache, &v_cache, &mut out);
        let mut t0 = 0;
        for s in 0..2 {
            let ctx = cached[s] + new[s];
            let want = dense_reference(&qs[s], &full_k[s], &full_v[s], new[s], ctx, &Dims { heads, kv_heads, d });
            let got = &out[t0 * heads * d..(t0 + new[s]) * heads * d];
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "seq {s}: {a} vs {b}");
            }
            t0 += new[s];
        }
    }
}
