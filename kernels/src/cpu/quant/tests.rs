//! Tests of the block formats: round-trip error bounds per type, byte layouts against hand-built
//! ggml blocks, Q4_K scale packing, and llama.cpp-style activation rounding.

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Roughly Gaussian values with a few outliers, like real weights.
fn weights_like(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let g: f32 = (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() * 0.05;
            if i % 97 == 13 { g * 6.0 } else { g }
        })
        .collect()
}

fn round_trip(dtype: DType, x: &[f32], row_len: usize) -> Vec<f32> {
    let bytes = quantize_rows(dtype, x, row_len).unwrap();
    assert_eq!(bytes.len(), dtype.bytes_for(x.len()).unwrap());
    let mut y = vec![0f32; x.len()];
    for (src, dst) in bytes.chunks_exact(dtype.bytes_for(row_len).unwrap()).zip(y.chunks_exact_mut(row_len)) {
        dequantize_row(dtype, src, dst);
    }
    y
}

#[test]
fn round_trip_error_bounds_every_type() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x = weights_like(&mut rng, 4 * 512);
    for dtype in DType::ALL {
        let y = round_trip(dtype, &x, 512);
        // Per-block bound on the absolute error, in units of the block's largest magnitude.
        let be = dtype.block_elems().max(32);
        let rel = match dtype {
            DType::F32 => 0.0,
            DType::F16 => 1e-3,
            DType::BF16 => 4e-3,
            DType::Q8_0 => 0.5 / 127.0 + 1e-3,
            DType::Q4_0 => 1.0 / 8.0 + 1e-3, // the opposite-sign extreme clamps at +7
            DType::Q4_1 => 1.0 / 15.0 + 2e-3, // step = range/15 ≤ 2·amax/15, error ≤ step/2
            DType::Q4K => 0.25,              // 6-bit scales/mins add up to ½ step per sub-block
            DType::Q6K => 1.0 / 32.0 + 0.02,
        };
        for (xb, yb) in x.chunks(be).zip(y.chunks(be)) {
            let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (a, b) in xb.iter().zip(yb) {
                assert!((a - b).abs() <= rel * amax + 1e-7, "{dtype}: {a} vs {b} (amax {amax})");
            }
        }
        let err2: f32 = x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).sum();
        let sig2: f32 = x.iter().map(|a| a * a).sum();
        let rms_rel = (err2 / sig2).sqrt();
        let rms_bound = match dtype {
            DType::F32 => 0.0,
            DType::F16 | DType::BF16 => 4e-3,
            DType::Q8_0 => 0.01,
            DType::Q6K => 0.03,
            DType::Q4_0 | DType::Q4_1 | DType::Q4K => 0.15,
        };
        assert!(rms_rel <= rms_bound, "{dtype}: rms relative error {rms_rel} > {rms_bound}");
    }
}

#[test]
fn zero_rows_quantize_to_zero() {
    let x = vec![0f32; 512];
    for dtype in DType::ALL {
        assert!(round_trip(dtype, &x, 256).iter().all(|&v| v == 0.0), "{dtype}");
    }
}

#[test]
fn quantize_rows_rejects_bad_shapes() {
    assert!(quantize_rows(DType::Q4_1, &[0.0; 48], 48).unwrap_err().contains("block size 32"));
    assert!(quantize_rows(DType::Q4K, &[0.0; 256], 128).is_err());
    assert!(quantize_rows(DType::Q8_0, &[0.0; 96], 64).unwrap_err().contains("whole number of rows"));
    assert!(quantize_rows(DType::F16, &[0.0; 3], 3).is_ok());
}

#[test]
fn q4_layouts_match_ggml() {
    // Q4_0: element j in the low nibble of byte j, element j+16 in the high nibble; value d·(q−8).
    let mut blk = vec![0u8; 18];
    blk[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
    blk[2] = 0x3A; // elem 0 = 0xA, elem 16 = 0x3
    let mut y = [0f32; 32];
    dequantize_row(DType::Q4_0, &blk, &mut y);
    assert_eq!((y[0], y[16], y[1]), (0.5 * 2.0, 0.5 * -5.0, 0.5 * -8.0));
    // Q4_1: value d·q + m.
    let mut blk = vec![0u8; 20];
    blk[..2].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
    blk[2..4].copy_from_slice(&f16::from_f32(-1.0).to_le_bytes());
    blk[4 + 5] = 0xF1;
    dequantize_row(DType::Q4_1, &blk, &mut y);
    assert_eq!((y[5], y[21], y[0]), (0.25 - 1.0, 0.25 * 15.0 - 1.0, -1.0));
    // Q8_0.
    let mut blk = vec![0u8; 34];
    blk[..2].copy_from_slice(&f16::from_f32(2.0).to_le_bytes());
    blk[2 + 31] = (-3i8) as u8;
    dequantize_row(DType::Q8_0, &blk, &mut y);
    assert_eq!(y[31], -6.0);
}

#[test]
fn q4k_scale_packing_round_trips() {
    let sc = [0u8, 63, 17, 32, 48, 1, 62, 31];
    let mn = [63u8, 0, 5, 40, 16, 33, 2, 60];
    let packed = q4k_pack_scales(&sc, &mn);
    for j in 0..8 {
        assert_eq!(q4k_scale_min(j, &packed), (sc[j], mn[j]), "sub-block {j}");
    }
}

#[test]
fn k_quant_layouts_match_ggml() {
    // Q4_K: chunk j's 32 bytes hold sub-block 2j in the low nibbles and 2j+1 in the high nibbles.
    let mut blk = vec![0u8; 144];
    blk[..2].copy_from_slice(&f16::from_f32(1.0).to_le_bytes());
    blk[2..4].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
    blk[4..16].copy_from_slice(&q4k_pack_scales(&[1, 2, 3, 4, 5, 6, 7, 8], &[0, 0, 0, 0, 0, 0, 0, 2]));
    blk[16 + 32 * 3 + 4] = 0x92; // sub-block 6 elem 4 = 2, sub-block 7 elem 4 = 9
    let mut y = [0f32; 256];
    dequantize_row(DType::Q4K, &blk, &mut y);
    assert_eq!(y[192 + 4], 7.0 * 2.0);
    assert_eq!(y[224 + 4], 8.0 * 9.0 - 0.5 * 2.0);
    // Q6_K: element 64+l (l<32) of the first half is ql[l] high nibble | qh[l] bits 4..5.
    let mut blk = vec![0u8; 210];
    blk[208..].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
    blk[192 + 4] = 3; // scale of elements 64..80
    blk[3] = 0x70;
    blk[128 + 3] = 0b10_0000; // bits 4..5 = 2
    dequantize_row(DType::Q6K, &blk, &mut y);
    assert_eq!(y[64 + 3], 0.5 * 3.0 * ((7 | (2 << 4)) as f32 - 32.0));
}

#[test]
fn q8_activations_round_like_llama_cpp() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = weights_like(&mut rng, 64);
    let (mut qs, mut d, mut sd, mut s) = (vec![0i8; 64], vec![0f32; 2], vec![0f32; 2], vec![0f32; 2]);
    quantize_row_q8_reference(&x, &mut qs, &mut d, &mut sd, &mut s);
    for b in 0..2 {
        let amax = x[32 * b..32 * b + 32].iter().fold(0f32, |a, v| a.max(v.abs()));
        assert_eq!(d[b], round_f16(amax / 127.0));
        let sum: i32 = qs[32 * b..32 * b + 32].iter().map(|&q| q as i32).sum();
        assert_eq!(sd[b], d[b] * sum as f32);
        assert_eq!(s[b], round_f16(amax / 127.0 * sum as f32));
        assert!(qs[32 * b..32 * b + 32].iter().any(|&q| q.abs() == 127));
        for i in 32 * b..32 * b + 32 {
            assert!((qs[i] as f32 * amax / 127.0 - x[i]).abs() <= 0.5001 * amax / 127.0);
        }
    }
    let x = weights_like(&mut rng, 512);
    let (mut qs, mut d, mut bs) = (vec![0i8; 512], vec![0f32; 2], vec![0i16; 32]);
    quantize_row_q8k(&x, &mut qs, &mut d, &mut bs);
    for g in 0..32 {
        assert_eq!(bs[g], qs[16 * g..16 * g + 16].iter().map(|&q| q as i16).sum::<i16>());
    }
    for i in 0..512 {
        assert!((qs[i] as f32 * d[i / 256] - x[i]).abs() <= 0.5001 * d[i / 256].abs());
    }
}
