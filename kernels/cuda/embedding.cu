// Token embedding: out[t, :] = table[ids[t], :].
//
// Out-of-range ids (id >= vocab) do not fault: the row is written as zeros and `*invalid` is set to 1
// (a sticky flag; the host resets it when it wants to check). The engine validates ids on the host, so
// the flag is a tripwire for bugs, not an input check the host relies on.

// embedding_gather
//   out     [num_tokens, hidden] bf16
//   table   [vocab, hidden]      bf16
//   ids     [num_tokens]         u32
//   invalid [1]                  u32, set to 1 when an id is out of range (never cleared here)
// Grid: (num_tokens). Block: 256 threads (any multiple of 32 works).
// Each block copies one row; thread i moves 16-byte chunks i, i + blockDim, ... (8 bf16 each) when
// hidden % 8 == 0 and both pointers are 16-byte aligned, else single elements. No shared memory.
extern "C" __global__ void embedding_gather(bf16* __restrict__ out, const bf16* __restrict__ table,
                                            const unsigned int* __restrict__ ids, unsigned int* __restrict__ invalid,
                                            int num_tokens, int hidden, int vocab) {
    const int t = blockIdx.x;
    if (t >= num_tokens) return;
    const unsigned int id = ids[t];
    bf16* dst = out + (long long)t * hidden;
    if (id >= (unsigned int)vocab) {
        if (threadIdx.x == 0) atomicExch(invalid, 1u);
        const bf16 zero = __float2bfloat16(0.0f);
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = zero;
        return;
    }
    const bf16* src = table + (long long)id * hidden;
    if ((hidden & 7) == 0 && aligned16(src) && aligned16(dst)) {
        const uint4* s = reinterpret_cast<const uint4*>(src);
        uint4* d = reinterpret_cast<uint4*>(dst);
        for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) d[i] = s[i];
    } else {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = src[i];
    }
}
