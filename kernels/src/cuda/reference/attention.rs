//! Reference paged attention (decode and prefill are the same math: query i of a sequence with
//! `num_cached = seq_len - query_len` attends to keys `0 ..= num_cached + i`), the split-KV partials
//! and merge of the decode kernel, and a dense causal attention over contiguous K/V that the paged
//! reference is tested against.

use half::bf16;

use crate::cuda::shapes::{AttentionGeometry, PagedCacheShape};

/// The batch description the attention kernels read (as `models::llama::AttentionMetadata`).
#[derive(Clone, Copy, Debug)]
pub struct PagedAttentionInput<'a> {
    pub geometry: AttentionGeometry,
    pub cache: PagedCacheShape,
    /// `[num_slots, num_kv_heads, head_dim]` bf16 (see [`PagedCacheShape`]).
    pub k_cache: &'a [bf16],
    pub v_cache: &'a [bf16],
    /// `[num_seqs, max_blocks_per_seq]`.
    pub block_tables: &'a [u32],
    pub max_blocks_per_seq: usize,
    /// `[num_seqs]` context length (cached + new).
    pub seq_lens: &'a [u32],
    /// `[num_seqs + 1]` token row offsets.
    pub query_start_loc: &'a [u32],
    pub scale: f32,
}

impl PagedAttentionInput<'_> {
    pub fn num_seqs(&self) -> usize {
        self.seq_lens.len()
    }

    /// Sequence `s`'s first `ctx` keys and values gathered through its block table, as f32
    /// `[ctx, num_kv_heads, head_dim]` each.
    pub fn gather(&self, s: usize, ctx: usize) -> (Vec<f32>, Vec<f32>) {
        let c = &self.cache;
        let w = c.row_width();
        let (mut k, mut v) = (Vec::with_capacity(ctx * w), Vec::with_capacity(ctx * w));
        for key in 0..ctx {
            let blk = self.block_tables[s * self.max_blocks_per_seq + key / c.block_size] as usize;
            assert!(blk < c.num_blocks, "sequence {s} key {key}: block {blk} out of range");
            let start = (blk * c.block_size + key % c.block_size) * w;
            k.extend(self.k_cache[start..start + w].iter().map(|x| x.to_f32()));
            v.extend(self.v_cache[start..start + w].iter().map(|x| x.to_f32()));
        }
        (k, v)
    }

    /// Query rows of sequence `s`: (first row, query_len, num_cached).
    fn seq_rows(&self, s: usize) -> (usize, usize, usize) {
        let (a, e) = (self.query_start_loc[s] as usize, self.query_start_loc[s + 1] as usize);
        let q_len = e - a;
        let ctx = self.seq_lens[s] as usize;
        (a, q_len, ctx.saturating_sub(q_len))
    }

    /// Full attention: writes every query row's output (all heads) to `out[row * out_stride ..]`.
    pub fn run(&self, q: &[bf16], q_stride: usize, out: &mut [bf16], out_stride: usize) {
        let d = self.geometry.head_dim;
        for s in 0..self.num_seqs() {
            let (first, q_len, num_cached) = self.seq_rows(s);
            let (k, v) = self.gather(s, self.seq_lens[s] as usize);
            for i in 0..q_len {
                let row = first + i;
                let ctx = (num_cached + i + 1).min(self.seq_lens[s] as usize);
                for h in 0..self.geometry.num_q_heads {
                    let qh: Vec<f32> = q[row * q_stride + h * d..row * q_stride + (h + 1) * d].iter().map(|x| x.to_f32()).collect();
                    let o = self.partial(&k, &v, h, &qh, 0..ctx).o;
                    for (dst, v) in out[row * out_stride + h * d..row * out_stride + (h + 1) * d].iter_mut().zip(o) {
                        *dst = bf16::from_f32(v);
                    }
                }
            }
        }
    }

    /// One split's partial result of query head `h` (`q` f32) over `keys` of gathered `k`/`v`
    /// ([`PagedAttentionInput::gather`]): output normalized by its own sum, max score, sum of
    /// `exp(score - max)` — what the decode kernel writes for a split. Exact softmax inside the split.
    pub fn partial(&self, k: &[f32], v: &[f32], h: usize, q: &[f32], keys: std::ops::Range<usize>) -> SplitPartial {
        let (d, w) = (self.geometry.head_dim, self.cache.row_width());
        if keys.is_empty() {
            return SplitPartial { o: vec![0.0; d], m: f32::NEG_INFINITY, l: 0.0 };
        }
        let g = h / self.geometry.group_size();
        let span = |key: usize| key * w + g * d..key * w + (g + 1) * d;
        let sc: Vec<f32> =
            keys.clone().map(|key| k[span(key)].iter().zip(q).map(|(a, b)| a * b).sum::<f32>() * self.scale).collect();
        let m = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let p: Vec<f32> = sc.iter().map(|x| (x - m).exp()).collect();
        let l: f32 = p.iter().sum();
        let mut o = vec![0.0f32; d];
        for (key, &pk) in keys.zip(&p) {
            for (a, x) in o.iter_mut().zip(&v[span(key)]) {
                *a += pk * x;
            }
        }
        o.iter_mut().for_each(|x| *x /= l);
        SplitPartial { o, m, l }
    }

    /// Decode through splits of `split` keys and [`merge_partials`] — the decode kernel's math, for
    /// sequences with one query token. Output as [`PagedAttentionInput::run`].
    pub fn run_decode_split(&self, q: &[bf16], q_stride: usize, split: usize, out: &mut [bf16], out_stride: usize) {
        let d = self.geometry.head_dim;
        for s in 0..self.num_seqs() {
            let ctx = self.seq_lens[s] as usize;
            let (k, v) = self.gather(s, ctx);
            for h in 0..self.geometry.num_q_heads {
                let qh: Vec<f32> = q[s * q_stride + h * d..s * q_stride + (h + 1) * d].iter().map(|x| x.to_f32()).collect();
                let parts: Vec<SplitPartial> =
                    (0..ctx.div_ceil(split)).map(|p| self.partial(&k, &v, h, &qh, p * split..((p + 1) * split).min(ctx))).collect();
                let o = merge_partials(&parts, d);
                for (dst, v) in out[s * out_stride + h * d..s * out_stride + (h + 1) * d].iter_mut().zip(o) {
                    *dst = bf16::from_f32(v);
                }
            }
        }
    }
}

/// One split of the decode kernel: `o` normalized by `l`, `m` the max score, `l` = sum exp(score - m).
#[derive(Clone, Debug, PartialEq)]
pub struct SplitPartial {
    pub o: Vec<f32>,
    pub m: f32,
    pub l: f32,
}

/// Merges split partials: `M = max m_p`, `w_p = l_p exp(m_p - M)`, `out = sum w_p o_p / sum w_p`
/// (paged_attention_merge). Zero when there is no split or every split is empty.
pub fn merge_partials(parts: &[SplitPartial], head_dim: usize) -> Vec<f32> {
    let m = parts.iter().map(|p| p.m).fold(f32::NEG_INFINITY, f32::max);
    let mut num = vec![0.0f32; head_dim];
    let mut den = 0.0f32;
    if m == f32::NEG_INFINITY {
        return num;
    }
    for p in parts {
        let w = if p.m == f32::NEG_INFINITY { 0.0 } else { p.l * (p.m - m).exp() };
        den += w;
        for (n, o) in num.iter_mut().zip(&p.o) {
            *n += w * o;
        }
    }
    num.iter().map(|n| if den > 0.0 { n / den } else { 0.0 }).collect()
}

/// Dense causal attention of one sequence over contiguous f32 K/V: `q` `[q_len, nq, d]`, `k`, `v`
/// `[ctx, nkv, d]`; query i sees keys `0 ..= ctx - q_len + i`. Returns `[q_len, nq, d]` in f64-accumulated
/// f32. Independent of block tables: the check of the paged reference.
pub fn dense_causal_attention(q: &[f32], k: &[f32], v: &[f32], q_len: usize, ctx: usize, g: &AttentionGeometry, scale: f32) -> Vec<f32> {
    let (nq, nkv, d) = (g.num_q_heads, g.num_kv_heads, g.head_dim);
    let group = nq / nkv;
    let mut out = vec![0.0f32; q_len * nq * d];
    for i in 0..q_len {
        let visible = ctx - q_len + i + 1;
        for h in 0..nq {
            let kh = h / group;
            let qv = &q[(i * nq + h) * d..(i * nq + h + 1) * d];
            let scores: Vec<f64> = (0..visible)
                .map(|j| qv.iter().zip(&k[(j * nkv + kh) * d..(j * nkv + kh + 1) * d]).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() * scale as f64)
                .collect();
            let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let p: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
            let l: f64 = p.iter().sum();
            for e in 0..d {
                let acc: f64 = (0..visible).map(|j| p[j] * v[(j * nkv + kh) * d + e] as f64).sum();
                out[(i * nq + h) * d + e] = (acc / l) as f32;
            }
        }
    }
    out
}
