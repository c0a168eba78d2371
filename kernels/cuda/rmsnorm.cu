// RMSNorm (LLaMA): out = x / sqrt(mean(x^2) + eps) * weight, per row, fp32 math, one bf16 rounding.
//
// fused_add_rms_norm first updates the residual stream in place, residual = bf16(residual + x), then
// normalizes the *rounded* new residual (what is stored is what is normed, so a later reader of the
// residual sees exactly the values the norm used).

#define RMS_THREADS 256

// Sum of squares of one row, read with 16-byte loads when possible.
__device__ __forceinline__ float row_sum_squares(const bf16* __restrict__ x, int hidden, bool vec) {
    float acc = 0.0f;
    if (vec) {
        const uint4* xv = reinterpret_cast<const uint4*>(x);
        for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
            float f[8];
            bf16x8_to_float(xv[i], f);
#pragma unroll
            for (int j = 0; j < 8; ++j) acc += f[j] * f[j];
        }
    } else {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
            const float f = __bfloat162float(x[i]);
            acc += f * f;
        }
    }
    return acc;
}

// out[i] = bf16(x[i] * inv_rms * w[i]) for the row.
// `x` is deliberately not __restrict__: in fused_add_rms_norm it is the residual this kernel just wrote, and
// a const __restrict__ pointer lets the compiler use the non-coherent read-only cache path for it.
__device__ __forceinline__ void row_scale(bf16* __restrict__ out, const bf16* x, const bf16* __restrict__ w,
                                          int hidden, float inv_rms, bool vec) {
    if (vec) {
        const uint4* xv = reinterpret_cast<const uint4*>(x);
        const uint4* wv = reinterpret_cast<const uint4*>(w);
        uint4* ov = reinterpret_cast<uint4*>(out);
        for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
            float f[8], g[8];
            bf16x8_to_float(xv[i], f);
            bf16x8_to_float(wv[i], g);
#pragma unroll
            for (int j = 0; j < 8; ++j) f[j] = f[j] * inv_rms * g[j];
            ov[i] = float_to_bf16x8(f);
        }
    } else {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
            out[i] = __float2bfloat16(__bfloat162float(x[i]) * inv_rms * __bfloat162float(w[i]));
        }
    }
}

// rms_norm
//   out    [num_rows, hidden] bf16
//   x      [num_rows, hidden] bf16
//   weight [hidden]           bf16
// Grid: (num_rows). Block: RMS_THREADS (256). Shared: 32 floats for the block reduction.
// Each block owns one row: every thread accumulates the squares of its strided 8-element chunks (or
// elements), a block reduction gives mean(x^2), then each thread scales the same chunks it read.
extern "C" __global__ void rms_norm(bf16* __restrict__ out, const bf16* __restrict__ x, const bf16* __restrict__ weight,
                                    int num_rows, int hidden, float eps) {
    __shared__ float scratch[32];
    const int row = blockIdx.x;
    if (row >= num_rows) return;
    const bf16* xr = x + (long long)row * hidden;
    bf16* orow = out + (long long)row * hidden;
    const bool vec = (hidden & 7) == 0 && aligned16(xr) && aligned16(orow) && aligned16(weight);
    const float ss = block_sum(row_sum_squares(xr, hidden, vec), scratch);
    const float inv_rms = rsqrtf(ss / (float)hidden + eps);
    row_scale(orow, xr, weight, hidden, inv_rms, vec);
}

// fused_add_rms_norm
//   out      [num_rows, hidden] bf16  normed output
//   residual [num_rows, hidden] bf16  in/out: residual += x (rounded to bf16)
//   x        [num_rows, hidden] bf16  the sublayer output to add
//   weight   [hidden]           bf16
// Grid: (num_rows). Block: RMS_THREADS (256). Shared: 32 floats.
// Pass 1: each thread adds its chunks, stores the rounded sum into `residual` and accumulates the
// squares of the rounded values; block reduction. Pass 2: each thread re-reads exactly the residual
// chunks it wrote itself (same index mapping, so no barrier is needed for visibility) and scales them.
extern "C" __global__ void fused_add_rms_norm(bf16* __restrict__ out, bf16* __restrict__ residual, const bf16* __restrict__ x,
                                              const bf16* __restrict__ weight, int num_rows, int hidden, float eps) {
    __shared__ float scratch[32];
    const int row = blockIdx.x;
    if (row >= num_rows) return;
    bf16* rr = residual + (long long)row * hidden;
    const bf16* xr = x + (long long)row * hidden;
    bf16* orow = out + (long long)row * hidden;
    const bool vec = (hidden & 7) == 0 && aligned16(rr) && aligned16(xr) && aligned16(orow) && aligned16(weight);
    float acc = 0.0f;
    if (vec) {
        uint4* rv = reinterpret_cast<uint4*>(rr);
        const uint4* xv = reinterpret_cast<const uint4*>(xr);
        for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
            float a[8], b[8];
            bf16x8_to_float(rv[i], a);
            bf16x8_to_float(xv[i], b);
#pragma unroll
            for (int j = 0; j < 8; ++j) a[j] += b[j];
            const uint4 packed = float_to_bf16x8(a);
            rv[i] = packed;
            bf16x8_to_float(packed, a);
#pragma unroll
            for (int j = 0; j < 8; ++j) acc += a[j] * a[j];
        }
    } else {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
            const bf16 s = __float2bfloat16(__bfloat162float(rr[i]) + __bfloat162float(xr[i]));
            rr[i] = s;
            const float f = __bfloat162float(s);
            acc += f * f;
        }
    }
    const float ss = block_sum(acc, scratch);
    const float inv_rms = rsqrtf(ss / (float)hidden + eps);
    row_scale(orow, rr, weight, hidden, inv_rms, vec);
}
