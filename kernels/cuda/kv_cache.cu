// Writes the new tokens' K and V into the paged KV cache ("reshape_and_cache", vLLM).
//
// Cache layout per layer (vLLM "NHD", the same as the CPU backend's models/src/llama/kv.rs):
//   k_cache, v_cache: [num_blocks, block_size, num_kv_heads, head_dim] bf16
// so the token at flat slot s = block_id * block_size + offset has its kv head g at
// (s * num_kv_heads + g) * head_dim, and one token's K (or V) row of num_kv_heads * head_dim elements
// is contiguous. slot_mapping[t] < 0 means "padding token, skip" (CUDA-graph batches are padded);
// slot_mapping[t] >= num_slots is a host bug and is skipped as well (never written out of bounds).

// reshape_and_cache
//   k_cache, v_cache  [num_slots, num_kv_heads * head_dim] bf16 (num_slots = num_blocks * block_size)
//   key, value        token t's row starts at t * key_stride / t * value_stride, num_kv_heads * head_dim
//                     contiguous elements (views into the fused QKV activation)
//   slot_mapping      [num_tokens] i32
// Grid: (num_tokens). Block: 128 threads. No shared memory.
// Each block copies one token's K row and V row; thread i moves 16-byte chunks i, i + blockDim, ...
// when the row width is a multiple of 8 and every row start is 16-byte aligned, else single elements.
extern "C" __global__ void reshape_and_cache(bf16* __restrict__ k_cache, bf16* __restrict__ v_cache,
                                             const bf16* __restrict__ key, const bf16* __restrict__ value,
                                             const int* __restrict__ slot_mapping, int num_tokens, int num_slots,
                                             int num_kv_heads, int head_dim, int key_stride, int value_stride) {
    const int t = blockIdx.x;
    if (t >= num_tokens) return;
    const int slot = slot_mapping[t];
    if (slot < 0 || slot >= num_slots) return;
    const int width = num_kv_heads * head_dim;
    const bf16* ks = key + (long long)t * key_stride;
    const bf16* vs = value + (long long)t * value_stride;
    bf16* kd = k_cache + (long long)slot * width;
    bf16* vd = v_cache + (long long)slot * width;
    if ((width & 7) == 0 && aligned16(ks) && aligned16(vs) && aligned16(kd) && aligned16(vd)) {
        const uint4* ksv = reinterpret_cast<const uint4*>(ks);
        const uint4* vsv = reinterpret_cast<const uint4*>(vs);
        uint4* kdv = reinterpret_cast<uint4*>(kd);
        uint4* vdv = reinterpret_cast<uint4*>(vd);
        for (int i = threadIdx.x; i < width / 8; i += blockDim.x) {
            kdv[i] = ksv[i];
            vdv[i] = vsv[i];
        }
    } else {
        for (int i = threadIdx.x; i < width; i += blockDim.x) {
            kd[i] = ks[i];
            vd[i] = vs[i];
        }
    }
}
