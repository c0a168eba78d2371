//! Checks of the CPU references against independent formulations (no GPU involved).

use half::bf16;
use rand::{Rng, SeedableRng};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::attention::{dense_causal_attention, merge_partials, PagedAttentionInput, SplitPartial};
use super::sampling::{apply_logit_bias, apply_penalties, argmax, sample_row, threshold};
use super::*;
use crate::cuda::shapes::{LogitBiasEntry, PenaltyEntry, RowSamplingParams};

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn rand_bf16(r: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<bf16> {
    (0..n).map(|_| bf16::from_f32(r.gen_range(-scale..scale))).collect()
}

fn to_f32(v: &[bf16]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

/// Max of |a - b| / max(|b|, floor) over the elements.
fn max_rel_err(a: &[f32], b: &[f32], floor: f32) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(floor)).fold(0.0, f32::max)
}

#[test]
fn rms_norm_matches_the_formula() {
    let mut r = rng(1);
    let (rows, h) = (3, 96);
    let x = rand_bf16(&mut r, rows * h, 3.0);
    let w = rand_bf16(&mut r, h, 1.5);
    let mut out = vec![bf16::ZERO; rows * h];
    rms_norm(&x, &w, h, 1e-5, &mut out);
    for t in 0..rows {
        let xr = &to_f32(&x)[t * h..(t + 1) * h];
        let ms: f64 = xr.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / h as f64;
        let inv = 1.0 / (ms + 1e-5).sqrt();
        let want: Vec<f32> = xr.iter().zip(&w).map(|(&v, w)| (v as f64 * inv * w.to_f32() as f64) as f32).collect();
        assert!(max_rel_err(&to_f32(&out[t * h..(t + 1) * h]), &want, 1e-3) < 8e-3);
    }
}

#[test]
fn fused_add_rms_norm_stores_the_rounded_sum_and_norms_it() {
    let mut r = rng(2);
    let (rows, h) = (2, 40);
    let x = rand_bf16(&mut r, rows * h, 2.0);
    let w = rand_bf16(&mut r, h, 1.0);
    let res0 = rand_bf16(&mut r, rows * h, 2.0);
    let mut res = res0.clone();
    let mut out = vec![bf16::ZERO; rows * h];
    fused_add_rms_norm(&mut res, &x, &w, h, 1e-6, &mut out);
    for i in 0..rows * h {
        assert_eq!(res[i], bf16::from_f32(res0[i].to_f32() + x[i].to_f32()));
    }
    let mut plain = vec![bf16::ZERO; rows * h];
    rms_norm(&res, &w, h, 1e-6, &mut plain);
    assert_eq!(out, plain);
}

#[test]
fn rope_neox_equals_interleaved_under_the_gguf_permutation() {
    // GGUF permutes q/k rows so that HF's rotate-half pairs (i, i + d/2) become adjacent (2i, 2i + 1):
    // rotating the permuted vector adjacently must give the permuted rotate-half result, exactly.
    let mut r = rng(3);
    let g = AttentionGeometry { num_q_heads: 2, num_kv_heads: 1, head_dim: 16 };
    let layout = QkvLayout::fused(&g);
    let n = 3;
    let neox = rand_bf16(&mut r, n * layout.row_stride, 2.0);
    let d = g.head_dim;
    let perm = |v: &[bf16]| -> Vec<bf16> {
        let mut out = v.to_vec();
        for t in 0..n {
            for h in 0..g.num_q_heads + 2 * g.num_kv_heads {
                let base = t * layout.row_stride + h * d;
                for i in 0..d / 2 {
                    out[base + 2 * i] = v[base + i];
                    out[base + 2 * i + 1] = v[base + i + d / 2];
                }
            }
        }
        out
    };
    let positions = [0u32, 7, 1000];
    let inv: Vec<f32> = (0..d / 2).map(|i| 10000f32.powf(-2.0 * i as f32 / d as f32)).collect();
    let mut a = neox.clone();
    rope(&mut a, &positions, &inv, &g, &layout, RopeStyle::Neox);
    let mut b = perm(&neox);
    rope(&mut b, &positions, &inv, &g, &layout, RopeStyle::Interleaved);
    assert_eq!(perm(&a), b);
    // Position 0 is the identity; v (after q and k) is untouched.
    assert_eq!(a[..layout.row_stride - g.kv_width()], neox[..layout.row_stride - g.kv_width()]);
    let v0 = layout.row_stride + layout.v_offset;
    assert_eq!(a[v0..v0 + g.kv_width()], neox[v0..v0 + g.kv_width()]);
    assert_ne!(a[layout.row_stride..v0], neox[layout.row_stride..v0]);
}

#[test]
fn reshape_and_cache_writes_slots_and_skips_padding() {
    let cache = PagedCacheShape { num_blocks: 3, block_size: 2, num_kv_heads: 2, head_dim: 4 };
    let w = cache.row_width();
    let stride = 3 * w;
    let key: Vec<bf16> = (0..3 * stride).map(|i| bf16::from_f32(i as f32)).collect();
    let value: Vec<bf16> = (0..3 * stride).map(|i| bf16::from_f32(-(i as f32))).collect();
    let mut kc = vec![bf16::ZERO; cache.elems()];
    let mut vc = vec![bf16::ZERO; cache.elems()];
    reshape_and_cache(&mut kc, &mut vc, &key, &value, &[5, -1, 99], &cache, stride, stride);
    assert_eq!(kc[5 * w..6 * w], key[..w]);
    assert_eq!(vc[5 * w..6 * w], value[..w]);
    assert!(kc[..5 * w].iter().all(|x| *x == bf16::ZERO));
}

#[test]
fn silu_and_mul_and_embedding() {
    let gu: Vec<bf16> = [1.0f32, -2.0, 3.0, 0.5].iter().map(|&x| bf16::from_f32(x)).collect();
    let mut out = vec![bf16::ZERO; 2];
    silu_and_mul(&gu, 2, &mut out);
    let silu = |x: f32| x / (1.0 + (-x).exp());
    assert_eq!(out, vec![bf16::from_f32(silu(1.0) * 3.0), bf16::from_f32(silu(-2.0) * 0.5)]);

    let table: Vec<bf16> = (0..6).map(|i| bf16::from_f32(i as f32)).collect();
    let mut out = vec![bf16::ONE; 6];
    assert!(embedding(&table, &[2, 7, 0], 2, 3, &mut out));
    assert_eq!(to_f32(&out), vec![4.0, 5.0, 0.0, 0.0, 0.0, 1.0]);
    assert!(!embedding(&table, &[1], 2, 3, &mut out[..2]));
}

/// A random batch: dense per-sequence K/V scattered into a paged cache through shuffled block tables.
struct Batch {
    g: AttentionGeometry,
    cache: PagedCacheShape,
    k_cache: Vec<bf16>,
    v_cache: Vec<bf16>,
    block_tables: Vec<u32>,
    max_blocks: usize,
    seq_lens: Vec<u32>,
    qsl: Vec<u32>,
    q: Vec<bf16>,
    dense_k: Vec<Vec<f32>>,
    dense_v: Vec<Vec<f32>>,
}

fn batch(seed: u64, g: AttentionGeometry, block_size: usize, seqs: &[(usize, usize)]) -> Batch {
    let mut r = rng(seed);
    let (nkv, d) = (g.num_kv_heads, g.head_dim);
    let max_blocks = seqs.iter().map(|(c, n)| (c + n).div_ceil(block_size)).max().unwrap();
    let total_blocks: usize = seqs.iter().map(|(c, n)| (c + n).div_ceil(block_size)).sum::<usize>() + 3;
    let cache = PagedCacheShape { num_blocks: total_blocks, block_size, num_kv_heads: nkv, head_dim: d };
    let mut ids: Vec<u32> = (0..total_blocks as u32).collect();
    ids.shuffle(&mut r);
    let mut k_cache = rand_bf16(&mut r, cache.elems(), 1.0); // garbage in unused slots
    let mut v_cache = rand_bf16(&mut r, cache.elems(), 1.0);
    let (mut block_tables, mut seq_lens, mut qsl) = (Vec::new(), Vec::new(), vec![0u32]);
    let (mut dense_k, mut dense_v) = (Vec::new(), Vec::new());
    let mut next = 0;
    for &(cached, new) in seqs {
        let ctx = cached + new;
        let nb = ctx.div_ceil(block_size);
        let table: Vec<u32> = ids[next..next + nb].to_vec();
        next += nb;
        let kd = rand_bf16(&mut r, ctx * nkv * d, 1.0);
        let vd = rand_bf16(&mut r, ctx * nkv * d, 1.0);
        for pos in 0..ctx {
            let slot = table[pos / block_size] as usize * block_size + pos % block_size;
            k_cache[slot * nkv * d..(slot + 1) * nkv * d].copy_from_slice(&kd[pos * nkv * d..(pos + 1) * nkv * d]);
            v_cache[slot * nkv * d..(slot + 1) * nkv * d].copy_from_slice(&vd[pos * nkv * d..(pos + 1) * nkv * d]);
        }
        dense_k.push(to_f32(&kd));
        dense_v.push(to_f32(&vd));
        block_tables.extend(&table);
        block_tables.extend(std::iter::repeat_n(0, max_blocks - nb));
        seq_lens.push(ctx as u32);
        qsl.push(qsl.last().unwrap() + new as u32);
    }
    let q = rand_bf16(&mut r, *qsl.last().unwrap() as usize * g.q_width(), 1.0);
    Batch { g, cache, k_cache, v_cache, block_tables, max_blocks, seq_lens, qsl, q, dense_k, dense_v }
}

impl Batch {
    fn input(&self) -> PagedAttentionInput<'_> {
        PagedAttentionInput {
            geometry: self.g,
            cache: self.cache,
            k_cache: &self.k_cache,
            v_cache: &self.v_cache,
            block_tables: &self.block_tables,
            max_blocks_per_seq: self.max_blocks,
            seq_lens: &self.seq_lens,
            query_start_loc: &self.qsl,
            scale: self.g.scale(),
        }
    }
}

#[test]
fn paged_attention_matches_dense_causal_attention() {
    for (seed, g, bs) in [
        (10, AttentionGeometry { num_q_heads: 8, num_kv_heads: 2, head_dim: 16 }, 4),
        (11, AttentionGeometry { num_q_heads: 6, num_kv_heads: 2, head_dim: 8 }, 16),
        (12, AttentionGeometry { num_q_heads: 2, num_kv_heads: 2, head_dim: 8 }, 1),
    ] {
        // (cached, new): prefill, decode, chunked prefill with prefix, block-aligned.
        let b = batch(seed, g, bs, &[(0, 5), (7, 1), (20, 13), (16, 16)]);
        let qw = g.q_width();
        let mut out = vec![bf16::from_f32(f32::NAN); b.q.len()];
        b.input().run(&b.q, qw, &mut out, qw);
        for s in 0..b.seq_lens.len() {
            let (a, e) = (b.qsl[s] as usize, b.qsl[s + 1] as usize);
            let want = dense_causal_attention(&to_f32(&b.q[a * qw..e * qw]), &b.dense_k[s], &b.dense_v[s], e - a, b.seq_lens[s] as usize, &g, g.scale());
            let got = to_f32(&out[a * qw..e * qw]);
            let err = max_rel_err(&got, &want, 0.05);
            assert!(err < 1e-2, "seed {seed} seq {s}: rel err {err}");
        }
    }
}

#[test]
fn split_kv_merge_equals_single_pass() {
    let g = AttentionGeometry { num_q_heads: 4, num_kv_heads: 1, head_dim: 8 };
    // Decode sequences (one new token) with contexts spanning 1, 2 and 3 splits of 512, plus a split
    // size of 7 for many small splits.
    let b = batch(20, g, 16, &[(0, 1), (511, 1), (600, 1), (1300, 1)]);
    let qw = g.q_width();
    let mut single = vec![bf16::ZERO; b.q.len()];
    b.input().run(&b.q, qw, &mut single, qw);
    for split in [512, 7] {
        let mut split_out = vec![bf16::ZERO; b.q.len()];
        b.input().run_decode_split(&b.q, qw, split, &mut split_out, qw);
        let err = max_rel_err(&to_f32(&split_out), &to_f32(&single), 0.05);
        assert!(err < 1e-2, "split {split}: {err}");
    }
    // Merging one split is the identity; empty splits weigh nothing; no split gives zeros.
    let p = SplitPartial { o: vec![1.0, -2.0], m: 3.0, l: 5.0 };
    assert_eq!(merge_partials(std::slice::from_ref(&p), 2), vec![1.0, -2.0]);
    let empty = SplitPartial { o: vec![0.0, 0.0], m: f32::NEG_INFINITY, l: 0.0 };
    assert_eq!(merge_partials(&[empty.clone(), p], 2), vec![1.0, -2.0]);
    assert_eq!(merge_partials(&[empty], 2), vec![0.0, 0.0]);
    assert_eq!(merge_partials(&[], 2), vec![0.0, 0.0]);
}

#[test]
fn penalties_and_bias_follow_the_engine_sampler_semantics() {
    // Same numbers as engine::sampler's test: token 0 in the prompt, token 1 twice in the output.
    let mut p = RowSamplingParams::greedy();
    p.repetition_penalty = 2.0;
    p.frequency_penalty = 0.5;
    p.presence_penalty = 0.25;
    let mut l = vec![4.0f32, -2.0, 1.0];
    apply_penalties(
        &mut l,
        3,
        &[p],
        &[PenaltyEntry { row: 0, token: 0, output_count: 0 }, PenaltyEntry { row: 0, token: 1, output_count: 2 }],
    );
    assert_eq!(l, vec![2.0, -2.0 * 2.0 - 0.5 * 2.0 - 0.25, 1.0]);
    apply_logit_bias(&mut l, 3, 1, &[LogitBiasEntry { row: 0, token: 2, bias: 10.0 }, LogitBiasEntry { row: 1, token: 0, bias: 1.0 }]);
    assert_eq!(l[2], 11.0);
}

#[test]
fn greedy_and_degenerate_rows() {
    assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NAN]).0, 1);
    assert_eq!(argmax(&[f32::NEG_INFINITY; 3]).0, 0);
    assert_eq!(argmax(&[f32::NAN, 2.0]).0, 1);
    let mut p = RowSamplingParams::greedy();
    assert_eq!(sample_row(&[0.1, 0.5, 0.2], &p).token, 1);
    p.temperature = 1.0;
    p.top_k = 1;
    for u in [0.0, 0.5, 0.999] {
        p.uniform = u;
        assert_eq!(sample_row(&[0.1, 0.5, 0.2], &p).token, 1);
    }
}

#[test]
fn thresholds_match_sorting_by_hand() {
    let mut r = rng(30);
    let w: Vec<f32> = (0..1000).map(|_| r.gen_range(0.0f32..1.0)).collect();
    let mut sorted = w.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut p = RowSamplingParams::greedy();
    p.temperature = 1.0;
    p.top_k = 10;
    assert_eq!(threshold(&w, &p), sorted[9]);
    assert_eq!(w.iter().filter(|&&x| x >= threshold(&w, &p)).count(), 10);
    p.top_k = 0;
    p.top_p = 0.3;
    let tau = threshold(&w, &p);
    let kept: f32 = w.iter().filter(|&&x| x >= tau).sum();
    let total: f32 = w.iter().sum();
    let without_smallest = kept - tau;
    assert!(kept >= 0.3 * total * (1.0 - 1e-6) && without_smallest < 0.3 * total, "{kept} {total}");
    p.min_p = 0.9;
    assert!(threshold(&w, &p) >= 0.9);
}

#[test]
fn draws_follow_the_truncated_distribution() {
    // u on a fine grid: each kept token is chosen for a share of u equal to its probability.
    let logits = [0.0f32, (3.0f32).ln(), -20.0, (2.0f32).ln(), 1.0];
    let mut p = RowSamplingParams::greedy();
    p.temperature = 1.0;
    p.top_k = 3; // keeps tokens 4 (e), 1 (3), 3 (2)
    let n = 10_000;
    let mut counts = [0usize; 5];
    for j in 0..n {
        p.uniform = (j as f32 + 0.5) / n as f32;
        let t = sample_row(&logits, &p);
        assert!(t.admits(t.token, 1e-5));
        counts[t.token as usize] += 1;
    }
    let z = std::f32::consts::E + 3.0 + 2.0;
    for (i, want) in [(4, std::f32::consts::E / z), (1, 3.0 / z), (3, 2.0 / z)] {
        assert!((counts[i] as f32 / n as f32 - want).abs() < 2e-3, "{i}: {counts:?}");
    }
    assert_eq!(counts[0] + counts[2], 0);
}

#[test]
fn admits_accepts_neighbours_only_within_rounding() {
    let logits: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    let mut p = RowSamplingParams::greedy();
    p.temperature = 0.8;
    p.top_p = 0.9;
    p.uniform = 0.4;
    let t = sample_row(&logits, &p);
    assert!(t.admits(t.token, 1e-5));
    let others = (0..100u32).filter(|&i| i != t.token && t.admits(i, 1e-5)).count();
    assert_eq!(others, 0);
}
