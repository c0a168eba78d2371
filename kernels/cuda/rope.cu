// Rotary position embedding, in place on the q and k heads of a fused QKV activation.
//
// angle(token, i) = positions[token] * inv_freq[i], i in [0, head_dim/2), computed in fp32; llama3 rope
// scaling (or GGUF rope_freqs factors) is folded into inv_freq on the host
// (`LlamaConfig::rope_inv_freqs`). Two pairings of the head dimensions:
// - style 0, NEOX / rotate-half (HF transformers layout, what HF safetensors LLaMA weights expect):
//   pair (x[i], x[i + head_dim/2]).
// - style 1, interleaved / adjacent pairs (GPT-J, llama.cpp NORM mode, what GGUF's permuted q/k rows
//   expect): pair (x[2i], x[2i + 1]).
// Each pair rotates as (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin), in fp32, rounded once to bf16.

#define ROPE_THREADS 128
#define ROPE_MAX_HALF 256  // head_dim <= 512

// rope_inplace
//   qkv        bf16, row t starts at t * row_stride; q head h at q_offset + h * head_dim,
//              k head h at k_offset + h * head_dim (v, if present, is not touched)
//   positions  [num_tokens] u32
//   inv_freq   [head_dim / 2] f32
// Grid: (num_tokens). Block: ROPE_THREADS (128). Shared: 2 * head_dim/2 floats (cos, sin).
// Each block handles one token: threads first compute cos/sin of the token's head_dim/2 angles into
// shared memory, then each thread rotates pairs p = tid, tid + blockDim, ... over all
// (num_q_heads + num_kv_heads) * head_dim/2 pairs of the token.
extern "C" __global__ void rope_inplace(bf16* __restrict__ qkv, const unsigned int* __restrict__ positions,
                                        const float* __restrict__ inv_freq, int num_tokens, int num_q_heads,
                                        int num_kv_heads, int head_dim, int row_stride, int q_offset, int k_offset,
                                        int style) {
    __shared__ float cos_s[ROPE_MAX_HALF];
    __shared__ float sin_s[ROPE_MAX_HALF];
    const int t = blockIdx.x;
    if (t >= num_tokens) return;
    const int half = head_dim / 2;
    const float pos = (float)positions[t];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float s, c;
        sincosf(pos * inv_freq[i], &s, &c);
        cos_s[i] = c;
        sin_s[i] = s;
    }
    __syncthreads();
    bf16* row = qkv + (long long)t * row_stride;
    const int total = (num_q_heads + num_kv_heads) * half;
    for (int p = threadIdx.x; p < total; p += blockDim.x) {
        const int head = p / half;
        const int i = p - head * half;
        bf16* h = row + (head < num_q_heads ? q_offset + head * head_dim : k_offset + (head - num_q_heads) * head_dim);
        const int i0 = style == 0 ? i : 2 * i;
        const int i1 = style == 0 ? i + half : 2 * i + 1;
        const float x0 = __bfloat162float(h[i0]);
        const float x1 = __bfloat162float(h[i1]);
        const float c = cos_s[i], s = sin_s[i];
        h[i0] = __float2bfloat16(x0 * c - x1 * s);
        h[i1] = __float2bfloat16(x1 * c + x0 * s);
    }
}
