// Shared prelude of every llmserve CUDA kernel file.
//
// NVRTC compiles each `kernels/cuda/*.cu` file as `common.cuh` + the file (the Rust side concatenates
// them, see kernels/src/cuda/sources.rs, and resets `#line` so errors name the right file and line).
// Under NVRTC there are no system headers: only the CUDA headers found through the include path
// (cuda_bf16.h and what it pulls in) and NVRTC's built-ins. `INFINITY` is undefined; use LLMS_INF.
//
// Conventions of all kernels:
// - storage is bf16 (`bf16` below), math is fp32; each output element is rounded to bf16 once.
// - sizes and indices are `int` (every tensor here has < 2^31 elements per row/table; products that
//   can exceed 2^31 — table offsets, cache offsets — are computed in `long long`).
// - ids read from device memory (token ids, slots, block ids, sequence offsets) are bounds-checked
//   against sizes passed by the host, so a bad id never reads or writes out of bounds.
#include <cuda_bf16.h>

typedef __nv_bfloat16 bf16;
typedef __nv_bfloat162 bf162;

#define LLMS_INF __int_as_float(0x7f800000)
#define LLMS_WARP 32
#define LLMS_FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = LLMS_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(LLMS_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = LLMS_WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(LLMS_FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
#pragma unroll
    for (int o = LLMS_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(LLMS_FULL_MASK, v, o);
    return v;
}

// Sum over the whole block; every thread gets the result. `scratch` holds >= 32 floats of shared memory.
// Must be called by all threads of the block (contains __syncthreads); safe to call repeatedly with the
// same scratch (the leading barrier protects the previous call's readers).
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x % LLMS_WARP;
    const int warp = threadIdx.x / LLMS_WARP;
    const int nwarps = (blockDim.x + LLMS_WARP - 1) / LLMS_WARP;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    const int lane = threadIdx.x % LLMS_WARP;
    const int warp = threadIdx.x / LLMS_WARP;
    const int nwarps = (blockDim.x + LLMS_WARP - 1) / LLMS_WARP;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : -LLMS_INF;
    return warp_max(v);
}

__device__ __forceinline__ int block_sum_int(int v, int* scratch) {
    const int lane = threadIdx.x % LLMS_WARP;
    const int warp = threadIdx.x / LLMS_WARP;
    const int nwarps = (blockDim.x + LLMS_WARP - 1) / LLMS_WARP;
    v = warp_sum_int(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : 0;
    return warp_sum_int(v);
}

// 8 bf16 values moved as one 16-byte load/store.
union Bf16x8 {
    uint4 u;
    bf162 h2[4];
};

__device__ __forceinline__ void bf16x8_to_float(const uint4 raw, float* f) {
    Bf16x8 p;
    p.u = raw;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        float2 t = __bfloat1622float2(p.h2[i]);
        f[2 * i] = t.x;
        f[2 * i + 1] = t.y;
    }
}

__device__ __forceinline__ uint4 float_to_bf16x8(const float* f) {
    Bf16x8 p;
#pragma unroll
    for (int i = 0; i < 4; ++i) p.h2[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
    return p.u;
}

// Whether all the given addresses are 16-byte aligned (uniform per launch: decides the vector path).
__device__ __forceinline__ bool aligned16(const void* a) {
    return (reinterpret_cast<unsigned long long>(a) & 15ull) == 0;
}
