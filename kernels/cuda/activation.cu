// SwiGLU activation over the fused gate|up projection: out[t, i] = silu(gate[t, i]) * up[t, i],
// silu(x) = x / (1 + exp(-x)), fp32 math (expf, not the fast approximation), one bf16 rounding.

// silu_and_mul
//   out    [num_tokens, ffn]     bf16
//   gate_up [num_tokens, 2 * ffn] bf16: gate = columns [0, ffn), up = columns [ffn, 2 ffn)
// Grid: (num_tokens, ceil(ffn / (8 * 256))). Block: 256 threads. No shared memory.
// Thread (by, tid) of row t = blockIdx.x handles the 8-element chunk c = by * 256 + tid with 16-byte loads of gate
// and up and a 16-byte store when ffn % 8 == 0 and the pointers are aligned; otherwise it handles the 8
// elements 8c .. 8c+7 one at a time (the grid is the same either way).
extern "C" __global__ void silu_and_mul(bf16* __restrict__ out, const bf16* __restrict__ gate_up, int num_tokens,
                                        int ffn) {
    const int t = blockIdx.x;
    if (t >= num_tokens) return;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    const bf16* g = gate_up + (long long)t * 2 * ffn;
    const bf16* u = g + ffn;
    bf16* o = out + (long long)t * ffn;
    if ((ffn & 7) == 0 && aligned16(g) && aligned16(u) && aligned16(o)) {
        if (c >= ffn / 8) return;
        float a[8], b[8];
        bf16x8_to_float(reinterpret_cast<const uint4*>(g)[c], a);
        bf16x8_to_float(reinterpret_cast<const uint4*>(u)[c], b);
#pragma unroll
        for (int j = 0; j < 8; ++j) a[j] = a[j] / (1.0f + expf(-a[j])) * b[j];
        reinterpret_cast<uint4*>(o)[c] = float_to_bf16x8(a);
    } else {
        for (int i = 8 * c; i < 8 * c + 8 && i < ffn; ++i) {
            const float x = __bfloat162float(g[i]);
            o[i] = __float2bfloat16(x / (1.0f + expf(-x)) * __bfloat162float(u[i]));
        }
    }
}
