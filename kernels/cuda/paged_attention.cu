// Attention over the paged KV cache: a split-KV decode kernel (+ merge) and a flash-style prefill kernel.
//
// Cache layout (see kv_cache.cu): k_cache, v_cache [num_blocks, block_size, num_kv_heads, head_dim] bf16.
// Token `key` of sequence s lives in block block_tables[s * max_blocks_per_seq + key / block_size] at
// offset key % block_size. GQA: q head h reads kv head h / G, G = num_q_heads / num_kv_heads; every
// kernel handles all G query heads of one kv head together, so each K/V row read serves G heads.
// Scores are (q . k) * scale in fp32, softmax in fp32, output rounded once to bf16.
//
// Robustness (never an out-of-bounds access, whatever the metadata in device memory says):
// - a sequence's context is clamped to max_blocks_per_seq * block_size (and, in decode, to
//   max_splits * PA_SPLIT);
// - a block id >= num_blocks masks the key (score -inf, V treated as 0);
// - prefill token rows from query_start_loc are clamped to [0, num_tokens].
// A row whose keys are all masked gets output 0 (never NaN).

#define PA_SPLIT 512    // keys per decode split: fixed, so the decode grid is fixed under CUDA graphs
#define PA_THREADS 128  // decode block size (4 warps)
#define PA_WARPS 4

__device__ __forceinline__ int clamp_context(unsigned int seq_len, int max_blocks_per_seq, int block_size, int max_keys) {
    long long c = seq_len;
    const long long cap_blocks = (long long)max_blocks_per_seq * block_size;
    if (c > cap_blocks) c = cap_blocks;
    if (c > max_keys) c = max_keys;
    return (int)c;
}

// Offset of (slot, kv head g, column col) in a cache; `ok` = the block id is valid.
__device__ __forceinline__ long long cache_offset(const unsigned int* __restrict__ bt, int key, int block_size,
                                                  int num_blocks, int num_kv_heads, int g, int head_dim, bool* ok) {
    const unsigned int blk = bt[key / block_size];
    *ok = blk < (unsigned int)num_blocks;
    const long long slot = (long long)(*ok ? blk : 0u) * block_size + key % block_size;
    return (slot * num_kv_heads + g) * head_dim;
}

// ---------------------------------------------------------------------------------------------------
// Decode: one query token per sequence.
//
// paged_attention_decode_d{D}_g{GMAX}
//   out        [num_seqs, out_stride] bf16: head h of sequence s at s * out_stride + h * D
//   part_o     [num_seqs, num_q_heads, max_splits, D] f32   per-split output, normalized by its own l
//   part_m     [num_seqs, num_q_heads, max_splits] f32      per-split max score
//   part_l     [num_seqs, num_q_heads, max_splits] f32      per-split sum of exp(score - m)
//   q          [num_seqs, q_stride] bf16: head h at s * q_stride + h * D
//   block_tables [num_seqs, max_blocks_per_seq] u32, seq_lens [num_seqs] u32 (context incl. this token)
// Grid: (num_kv_heads, num_seqs, max_splits). Block: PA_THREADS (128) = 4 warps.
// Shared: scores[GMAX][PA_SPLIT] f32 + red[4][GMAX][D] f32 + 2 * GMAX f32
//         (D=128: GMAX=4 → 16.0 KiB, GMAX=8 → 32.1 KiB).
// Block (g, s, p) handles keys [p * PA_SPLIT, min((p + 1) * PA_SPLIT, ctx)) of sequence s for the G
// query heads of kv head g; blocks whose split starts past the context exit at once (fixed grid).
// Lanes are grouped in "rows" of D/8 lanes; each lane owns 8 consecutive dims (one 16-byte load), a
// row of lanes owns one key at a time, 4 warps give 8 (D=128) or 16 (D=64) keys in flight.
//   1. q (pre-scaled) in registers; each lane row computes q_h . k for its keys (partial dot over its
//      8 dims, xor-shuffle reduction inside the row), lane 0 of the row stores the scores in shared.
//   2. warp w computes max and sum of exp for heads w, w+4, ... over the split (exact softmax inside
//      the split: each score is exponentiated once), overwriting scores with exp(score - m).
//   3. each lane row accumulates p * v for its keys into G x 8 fp32 registers; rows of a warp are
//      summed with shuffles, warps through shared memory.
//   4. a single split writes bf16 out directly (the merge kernel skips it); otherwise (o / l, m, l)
//      go to the partial buffers and paged_attention_merge combines them.
// ---------------------------------------------------------------------------------------------------
template <int D, int GMAX>
__device__ __forceinline__ void decode_impl(bf16* __restrict__ out, float* __restrict__ part_o, float* __restrict__ part_m,
                                            float* __restrict__ part_l, const bf16* __restrict__ q,
                                            const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,
                                            const unsigned int* __restrict__ block_tables,
                                            const unsigned int* __restrict__ seq_lens, int num_q_heads, int num_kv_heads,
                                            int q_stride, int out_stride, int block_size, int max_blocks_per_seq,
                                            int num_blocks, int max_splits, float scale) {
    constexpr int LANES = D / 8;                // lanes per key row
    constexpr int ROWS_PER_WARP = 32 / LANES;   // keys per warp in flight
    constexpr int ROW_GROUPS = PA_WARPS * ROWS_PER_WARP;
    __shared__ float scores[GMAX][PA_SPLIT];
    __shared__ float red[PA_WARPS][GMAX][D];
    __shared__ float head_m[GMAX];
    __shared__ float head_l[GMAX];

    const int g = blockIdx.x, s = blockIdx.y, p = blockIdx.z;
    const int G = num_q_heads / num_kv_heads;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int row = lane / LANES, col = lane % LANES;
    const int ctx = clamp_context(seq_lens[s], max_blocks_per_seq, block_size, max_splits * PA_SPLIT);
    const int num_splits = (ctx + PA_SPLIT - 1) / PA_SPLIT;

    if (ctx == 0) {
        // An empty (padding) sequence: zeros, written once.
        if (p == 0) {
            for (int idx = tid; idx < G * D; idx += blockDim.x) {
                out[(long long)s * out_stride + (g * G + idx / D) * D + idx % D] = __float2bfloat16(0.0f);
            }
        }
        return;
    }
    if (p >= num_splits) return;
    const int start = p * PA_SPLIT;
    const int n = min(PA_SPLIT, ctx - start);
    const unsigned int* bt = block_tables + (long long)s * max_blocks_per_seq;

    // 1. scores
    float qr[GMAX][8];
#pragma unroll
    for (int h = 0; h < GMAX; ++h) {
        if (h < G) {
            const uint4 raw = *reinterpret_cast<const uint4*>(q + (long long)s * q_stride + (g * G + h) * D + col * 8);
            bf16x8_to_float(raw, qr[h]);
#pragma unroll
            for (int i = 0; i < 8; ++i) qr[h][i] *= scale;
        } else {
#pragma unroll
            for (int i = 0; i < 8; ++i) qr[h][i] = 0.0f;
        }
    }
    // The loop trip count is uniform per warp (all lanes shuffle); rows past n compute and discard.
    for (int j0 = warp * ROWS_PER_WARP; j0 < n; j0 += ROW_GROUPS) {
        const int j = j0 + row;
        const bool active = j < n;
        bool ok = false;
        float kf[8];
        if (active) {
            const long long off = cache_offset(bt, start + j, block_size, num_blocks, num_kv_heads, g, D, &ok);
            bf16x8_to_float(*reinterpret_cast<const uint4*>(k_cache + off + col * 8), kf);
        } else {
#pragma unroll
            for (int i = 0; i < 8; ++i) kf[i] = 0.0f;
        }
#pragma unroll
        for (int h = 0; h < GMAX; ++h) {
            float dot = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; ++i) dot += qr[h][i] * kf[i];
#pragma unroll
            for (int o = LANES / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(LLMS_FULL_MASK, dot, o);
            if (active && col == 0 && h < G) scores[h][j] = ok ? dot : -LLMS_INF;
        }
    }
    __syncthreads();

    // 2. softmax statistics per head
    for (int h = warp; h < G; h += PA_WARPS) {
        float m = -LLMS_INF;
        for (int j = lane; j < n; j += 32) m = fmaxf(m, scores[h][j]);
        m = warp_max(m);
        float l = 0.0f;
        for (int j = lane; j < n; j += 32) {
            const float sc = scores[h][j];
            const float e = sc == -LLMS_INF ? 0.0f : expf(sc - m);
            scores[h][j] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) {
            head_m[h] = m;
            head_l[h] = l;
        }
    }
    __syncthreads();

    // 3. p . V
    float acc[GMAX][8];
#pragma unroll
    for (int h = 0; h < GMAX; ++h)
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[h][i] = 0.0f;
    for (int j0 = warp * ROWS_PER_WARP; j0 < n; j0 += ROW_GROUPS) {
        const int j = j0 + row;
        if (j < n) {
            bool ok = false;
            const long long off = cache_offset(bt, start + j, block_size, num_blocks, num_kv_heads, g, D, &ok);
            if (ok) {
                float vf[8];
                bf16x8_to_float(*reinterpret_cast<const uint4*>(v_cache + off + col * 8), vf);
#pragma unroll
                for (int h = 0; h < GMAX; ++h) {
                    if (h < G) {
                        const float pj = scores[h][j];
#pragma unroll
                        for (int i = 0; i < 8; ++i) acc[h][i] += pj * vf[i];
                    }
                }
            }
        }
    }
#pragma unroll
    for (int h = 0; h < GMAX; ++h)
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
            for (int o = LANES; o < 32; o <<= 1) acc[h][i] += __shfl_xor_sync(LLMS_FULL_MASK, acc[h][i], o);
    if (row == 0) {
#pragma unroll
        for (int h = 0; h < GMAX; ++h)
            if (h < G)
#pragma unroll
                for (int i = 0; i < 8; ++i) red[warp][h][col * 8 + i] = acc[h][i];
    }
    __syncthreads();

    // 4. outputs
    for (int idx = tid; idx < G * D; idx += blockDim.x) {
        const int h = idx / D, d = idx % D;
        float v = 0.0f;
#pragma unroll
        for (int w = 0; w < PA_WARPS; ++w) v += red[w][h][d];
        const float l = head_l[h];
        const float o = l > 0.0f ? v / l : 0.0f;
        const int head = g * G + h;
        if (num_splits == 1) {
            out[(long long)s * out_stride + head * D + d] = __float2bfloat16(o);
        } else {
            const long long base = ((long long)s * num_q_heads + head) * max_splits + p;
            part_o[base * D + d] = o;
            if (d == 0) {
                part_m[base] = head_m[h];
                part_l[base] = l;
            }
        }
    }
}

#define DECODE_KERNEL(D, GMAX)                                                                                      \
    extern "C" __global__ void __launch_bounds__(PA_THREADS) paged_attention_decode_d##D##_g##GMAX(                 \
        bf16* __restrict__ out, float* __restrict__ part_o, float* __restrict__ part_m, float* __restrict__ part_l, \
        const bf16* __restrict__ q, const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,          \
        const unsigned int* __restrict__ block_tables, const unsigned int* __restrict__ seq_lens, int num_q_heads, \
        int num_kv_heads, int q_stride, int out_stride, int block_size, int max_blocks_per_seq, int num_blocks,   \
        int max_splits, float scale) {                                                                            \
        decode_impl<D, GMAX>(out, part_o, part_m, part_l, q, k_cache, v_cache, block_tables, seq_lens, num_q_heads, \
                             num_kv_heads, q_stride, out_stride, block_size, max_blocks_per_seq, num_blocks,       \
                             max_splits, scale);                                                                  \
    }

DECODE_KERNEL(64, 1)
DECODE_KERNEL(64, 2)
DECODE_KERNEL(64, 4)
DECODE_KERNEL(64, 8)
DECODE_KERNEL(128, 1)
DECODE_KERNEL(128, 2)
DECODE_KERNEL(128, 4)
DECODE_KERNEL(128, 8)

// paged_attention_merge
//   out [num_seqs, out_stride] bf16; part_o / part_m / part_l as written by the decode kernel.
// Grid: (num_q_heads, num_seqs). Block: 128 threads. No shared memory.
// Sequences with a single split (written directly by the decode kernel) or none exit at once.
// Otherwise M = max_p m_p, w_p = l_p exp(m_p - M), out = sum_p w_p o_p / sum_p w_p; thread d computes
// dims d, d + blockDim, ... and recomputes the (cheap) split weights itself.
extern "C" __global__ void paged_attention_merge(bf16* __restrict__ out, const float* __restrict__ part_o,
                                                 const float* __restrict__ part_m, const float* __restrict__ part_l,
                                                 const unsigned int* __restrict__ seq_lens, int num_q_heads, int head_dim,
                                                 int out_stride, int block_size, int max_blocks_per_seq, int max_splits) {
    const int h = blockIdx.x, s = blockIdx.y;
    const int ctx = clamp_context(seq_lens[s], max_blocks_per_seq, block_size, max_splits * PA_SPLIT);
    const int ns = (ctx + PA_SPLIT - 1) / PA_SPLIT;
    if (ns <= 1) return;
    const long long base = ((long long)s * num_q_heads + h) * max_splits;
    float M = -LLMS_INF;
    for (int p = 0; p < ns; ++p) M = fmaxf(M, part_m[base + p]);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float num = 0.0f, den = 0.0f;
        if (M != -LLMS_INF) {
            for (int p = 0; p < ns; ++p) {
                const float m = part_m[base + p];
                const float w = m == -LLMS_INF ? 0.0f : part_l[base + p] * expf(m - M);
                num += w * part_o[(base + p) * head_dim + d];
                den += w;
            }
        }
        out[(long long)s * out_stride + h * head_dim + d] = __float2bfloat16(den > 0.0f ? num / den : 0.0f);
    }
}

// ---------------------------------------------------------------------------------------------------
// Prefill / chunked prefill / mixed batches: any number of query tokens per sequence.
//
// Sequence s owns token rows [query_start_loc[s], query_start_loc[s + 1]) of q and out; its context is
// seq_lens[s] = num_cached + query_len tokens, all already in the paged cache (reshape_and_cache ran
// first), and its query i (0-based) attends to keys 0 ..= num_cached + i (causal).
//
// paged_attention_prefill_d{D}
//   out [num_tokens, out_stride] bf16, q [num_tokens, q_stride] bf16 (head h at h * D),
//   query_start_loc [num_seqs + 1] u32, seq_lens [num_seqs] u32, block_tables [num_seqs, max_blocks] u32
// Grid: (ceil(max_query_len / TQ), num_kv_heads, num_seqs) with TQ = PF_ROWS / G query tokens per tile.
// Block: PF_THREADS (128). Shared (D=128): q, k, v tiles 3 x 32 x (D+8) bf16 + p 32 x 36 f32 = 30.0 KiB.
// A block owns PF_ROWS = 32 "query rows" = TQ tokens x G heads of kv head g (row r: token t0 + r / G,
// head g * G + r % G). It walks the keys in tiles of PF_KEYS = 32 up to the tile's causal limit:
//   - all threads load the K and V tile (16-byte loads through the block table) into shared memory;
//   - thread (r = tid / 4, sub = tid % 4) computes the scores of row r for keys sub, sub + 4, ... (8
//     keys), masks (causal, context end, invalid block) with -inf, and updates the row's online softmax
//     (m, l) with the tile max/sum (xor shuffles over the row's 4 lanes, which sit in one warp);
//   - the row's probabilities go to shared p (row-private, so a __syncwarp suffices), and the thread
//     accumulates p . V for its D/4 dims (chunks sub, sub + 4, ... of 8) in fp32 registers, rescaled
//     by exp(m_old - m_new) first.
// Finally out = acc / l (0 for a row with no unmasked key).
// Compute runs on CUDA cores (no tensor-core MMA yet): correct first; see docs/cuda-kernels.md.
// ---------------------------------------------------------------------------------------------------
#define PF_ROWS 32
#define PF_KEYS 32
#define PF_THREADS 128
#define PF_PSTRIDE (PF_KEYS + 4)

template <int D>
__device__ __forceinline__ void prefill_impl(bf16* __restrict__ out, const bf16* __restrict__ q,
                                             const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,
                                             const unsigned int* __restrict__ query_start_loc,
                                             const unsigned int* __restrict__ seq_lens,
                                             const unsigned int* __restrict__ block_tables, int num_tokens,
                                             int num_q_heads, int num_kv_heads, int q_stride, int out_stride,
                                             int block_size, int max_blocks_per_seq, int num_blocks, float scale) {
    constexpr int STRIDE = D + 8;        // padded bf16 row stride of the q/k/v tiles (16-byte multiple)
    constexpr int CHUNKS = D / 8;        // 16-byte chunks per row
    constexpr int MY_CHUNKS = CHUNKS / 4;  // chunks of the output row owned by one thread
    __shared__ __align__(16) bf16 q_s[PF_ROWS * STRIDE];
    __shared__ __align__(16) bf16 k_s[PF_KEYS * STRIDE];
    __shared__ __align__(16) bf16 v_s[PF_KEYS * STRIDE];
    __shared__ float p_s[PF_ROWS * PF_PSTRIDE];
    __shared__ int key_ok[PF_KEYS];

    const int tile = blockIdx.x, g = blockIdx.y, s = blockIdx.z;
    const int G = num_q_heads / num_kv_heads;
    const int TQ = PF_ROWS / G;
    const int tid = threadIdx.x;
    int q_begin = (int)min(query_start_loc[s], (unsigned int)num_tokens);
    int q_end = (int)min(query_start_loc[s + 1], (unsigned int)num_tokens);
    if (q_end < q_begin) q_end = q_begin;
    const int q_len = q_end - q_begin;
    const int t0 = tile * TQ;
    if (t0 >= q_len) return;
    const int ctx = clamp_context(seq_lens[s], max_blocks_per_seq, block_size, 0x7fffffff);
    const int num_cached = max(ctx - q_len, 0);
    const int t_end = min(t0 + TQ, q_len);
    const int kv_end = min(ctx, num_cached + t_end);  // keys any row of this tile may see
    const unsigned int* bt = block_tables + (long long)s * max_blocks_per_seq;

    // Q tile (rows past the tile's tokens are zero and never written out).
    for (int c = tid; c < PF_ROWS * CHUNKS; c += PF_THREADS) {
        const int r = c / CHUNKS, cc = c % CHUNKS;
        const int i = t0 + r / G;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (r < TQ * G && i < t_end) {
            v = *reinterpret_cast<const uint4*>(q + (long long)(q_begin + i) * q_stride + (g * G + r % G) * D + cc * 8);
        }
        *reinterpret_cast<uint4*>(&q_s[r * STRIDE + cc * 8]) = v;
    }

    const int r = tid / 4, sub = tid % 4;
    const int my_i = t0 + r / G;
    const bool row_valid = r < TQ * G && my_i < t_end;
    const int my_limit = row_valid ? num_cached + my_i : -1;  // last key this row may see
    float m_r = -LLMS_INF, l_r = 0.0f;
    float acc[MY_CHUNKS][8];
#pragma unroll
    for (int j = 0; j < MY_CHUNKS; ++j)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[j][e] = 0.0f;

    for (int kb = 0; kb < kv_end; kb += PF_KEYS) {
        __syncthreads();  // the previous tile's readers are done (and, first time, q_s is complete)
        for (int c = tid; c < PF_KEYS * CHUNKS; c += PF_THREADS) {
            const int kk = c / CHUNKS, cc = c % CHUNKS;
            const int key = kb + kk;
            uint4 kv = make_uint4(0u, 0u, 0u, 0u), vv = make_uint4(0u, 0u, 0u, 0u);
            bool ok = false;
            if (key < kv_end) {
                const long long off = cache_offset(bt, key, block_size, num_blocks, num_kv_heads, g, D, &ok) + cc * 8;
                if (ok) {
                    kv = *reinterpret_cast<const uint4*>(k_cache + off);
                    vv = *reinterpret_cast<const uint4*>(v_cache + off);
                }
            }
            *reinterpret_cast<uint4*>(&k_s[kk * STRIDE + cc * 8]) = kv;
            *reinterpret_cast<uint4*>(&v_s[kk * STRIDE + cc * 8]) = vv;
            if (cc == 0) key_ok[kk] = ok ? 1 : 0;
        }
        __syncthreads();

        // Scores of row r for keys sub + 4 jj.
        float sc[PF_KEYS / 4];
#pragma unroll
        for (int jj = 0; jj < PF_KEYS / 4; ++jj) sc[jj] = 0.0f;
#pragma unroll
        for (int cc = 0; cc < CHUNKS; ++cc) {
            float qf[8];
            bf16x8_to_float(*reinterpret_cast<const uint4*>(&q_s[r * STRIDE + cc * 8]), qf);
#pragma unroll
            for (int jj = 0; jj < PF_KEYS / 4; ++jj) {
                float kf[8];
                bf16x8_to_float(*reinterpret_cast<const uint4*>(&k_s[(sub + 4 * jj) * STRIDE + cc * 8]), kf);
#pragma unroll
                for (int e = 0; e < 8; ++e) sc[jj] += qf[e] * kf[e];
            }
        }
        float tmax = -LLMS_INF;
#pragma unroll
        for (int jj = 0; jj < PF_KEYS / 4; ++jj) {
            const int kk = sub + 4 * jj;
            const int key = kb + kk;
            const bool allowed = key <= my_limit && key < kv_end && key_ok[kk];
            sc[jj] = allowed ? sc[jj] * scale : -LLMS_INF;
            tmax = fmaxf(tmax, sc[jj]);
        }
        tmax = fmaxf(tmax, __shfl_xor_sync(LLMS_FULL_MASK, tmax, 1));
        tmax = fmaxf(tmax, __shfl_xor_sync(LLMS_FULL_MASK, tmax, 2));
        const float m_new = fmaxf(m_r, tmax);
        const float corr = m_new == -LLMS_INF ? 1.0f : expf(m_r - m_new);
        float psum = 0.0f;
#pragma unroll
        for (int jj = 0; jj < PF_KEYS / 4; ++jj) {
            const float pj = sc[jj] == -LLMS_INF ? 0.0f : expf(sc[jj] - m_new);
            p_s[r * PF_PSTRIDE + sub + 4 * jj] = pj;
            psum += pj;
        }
        psum += __shfl_xor_sync(LLMS_FULL_MASK, psum, 1);
        psum += __shfl_xor_sync(LLMS_FULL_MASK, psum, 2);
        l_r = l_r * corr + psum;
        m_r = m_new;
        __syncwarp();  // row r's p values (written by its 4 lanes, all in this warp) are visible

#pragma unroll
        for (int j = 0; j < MY_CHUNKS; ++j)
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[j][e] *= corr;
        for (int kk = 0; kk < PF_KEYS; ++kk) {
            const float pj = p_s[r * PF_PSTRIDE + kk];
#pragma unroll
            for (int j = 0; j < MY_CHUNKS; ++j) {
                float vf[8];
                bf16x8_to_float(*reinterpret_cast<const uint4*>(&v_s[kk * STRIDE + (sub + 4 * j) * 8]), vf);
#pragma unroll
                for (int e = 0; e < 8; ++e) acc[j][e] += pj * vf[e];
            }
        }
        __syncwarp();  // p_s reads done before the next tile overwrites it (also covered by the barrier)
    }

    if (!row_valid) return;
    const float inv_l = l_r > 0.0f ? 1.0f / l_r : 0.0f;
    bf16* orow = out + (long long)(q_begin + my_i) * out_stride + (g * G + r % G) * D;
#pragma unroll
    for (int j = 0; j < MY_CHUNKS; ++j) {
        float f[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) f[e] = acc[j][e] * inv_l;
        *reinterpret_cast<uint4*>(orow + (sub + 4 * j) * 8) = float_to_bf16x8(f);
    }
}

#define PREFILL_KERNEL(D)                                                                                           \
    extern "C" __global__ void __launch_bounds__(PF_THREADS) paged_attention_prefill_d##D(                          \
        bf16* __restrict__ out, const bf16* __restrict__ q, const bf16* __restrict__ k_cache,                       \
        const bf16* __restrict__ v_cache, const unsigned int* __restrict__ query_start_loc,                        \
        const unsigned int* __restrict__ seq_lens, const unsigned int* __restrict__ block_tables, int num_tokens,   \
        int num_q_heads, int num_kv_heads, int q_stride, int out_stride, int block_size, int max_blocks_per_seq,    \
        int num_blocks, float scale) {                                                                             \
        prefill_impl<D>(out, q, k_cache, v_cache, query_start_loc, seq_lens, block_tables, num_tokens, num_q_heads, \
                        num_kv_heads, q_stride, out_stride, block_size, max_blocks_per_seq, num_blocks, scale);     \
    }

PREFILL_KERNEL(64)
PREFILL_KERNEL(128)
