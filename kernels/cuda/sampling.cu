// Logits processing and token sampling on the device; only the chosen token ids go back to the host.
//
// Order (as the CPU engine's sampler, vLLM semantics): repetition penalty (tokens seen in prompt or
// output: positive logits divided, negative multiplied), frequency and presence penalties (output
// occurrences), logit bias, then per row either greedy argmax (temperature 0) or sampling:
//   w_i = exp((l_i - max) / T)              (the max token has w = 1 exactly)
//   keep w_i >= tau, tau = max(min_p, k-th largest w (top_k), top-p threshold)
//   draw r = u * sum(kept w) with the host's uniform u in [0, 1); the token is the first index (in
//   vocabulary order) whose inclusive prefix sum of kept weights exceeds r.
// Thresholds are found without sorting, by bisection on the bit pattern of a float threshold in
// [0, 1] (non-negative floats order like their bit patterns): top-k finds the largest t with
// #{w >= t} >= k (exactly the k-th largest weight), top-p the largest t with sum{w >= max(t, tau)} >=
// top_p * sum{w >= tau}. Ties at a threshold are all kept (the CPU sampler keeps exactly k).
// Complexity per row: O(V) for penalties-free greedy, O(V * (2 + 31 [top-k] + 31 [top-p])) for sampling
// (each bisection step is one pass over the row plus a block reduction), one block per row.
// NaN logits are never chosen (treated as weight 0 / skipped by argmax).

// Must match kernels/src/cuda/shapes.rs (`RowSamplingParams`, `PenaltyEntry`, `LogitBiasEntry`).
struct RowSamplingParams {
    float temperature;        // 0 = greedy
    unsigned int top_k;       // 0 = off
    float top_p;              // 1 = off
    float min_p;              // 0 = off
    float uniform;            // the row's random number in [0, 1)
    float repetition_penalty; // 1 = off
    float frequency_penalty;  // 0 = off
    float presence_penalty;   // 0 = off
};

struct PenaltyEntry {
    unsigned int row;           // batch row
    unsigned int token;         // a token seen in the row's prompt or output (one entry per token)
    unsigned int output_count;  // occurrences in the output (0 = prompt only)
};

struct LogitBiasEntry {
    unsigned int row;
    unsigned int token;
    float bias;
};

#define SAMPLE_THREADS 1024
#define ONE_BITS 0x3f800000  // 1.0f

// apply_penalties
//   logits [num_rows, vocab] f32 (in place); params [num_rows]; entries [num_entries], unique per (row, token)
// Grid: (ceil(num_entries / 256)). Block: 256. One thread per entry; entries out of range are ignored.
extern "C" __global__ void apply_penalties(float* __restrict__ logits, const RowSamplingParams* __restrict__ params,
                                           const PenaltyEntry* __restrict__ entries, int num_entries, int num_rows,
                                           int vocab) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= num_entries) return;
    const PenaltyEntry en = entries[e];
    if (en.row >= (unsigned int)num_rows || en.token >= (unsigned int)vocab) return;
    const RowSamplingParams p = params[en.row];
    float* l = logits + (long long)en.row * vocab + en.token;
    float v = *l;
    if (p.repetition_penalty != 1.0f) v = v > 0.0f ? v / p.repetition_penalty : v * p.repetition_penalty;
    if (en.output_count > 0) v -= p.frequency_penalty * (float)en.output_count + p.presence_penalty;
    *l = v;
}

// apply_logit_bias
//   logits [num_rows, vocab] f32 (in place); entries [num_entries], unique per (row, token)
// Grid: (ceil(num_entries / 256)). Block: 256. One thread per entry; out-of-range entries are ignored.
extern "C" __global__ void apply_logit_bias(float* __restrict__ logits, const LogitBiasEntry* __restrict__ entries,
                                            int num_entries, int num_rows, int vocab) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= num_entries) return;
    const LogitBiasEntry en = entries[e];
    if (en.row >= (unsigned int)num_rows || en.token >= (unsigned int)vocab) return;
    logits[(long long)en.row * vocab + en.token] += en.bias;
}

// Block-wide argmax of (value, index): larger value wins, ties go to the smaller index.
__device__ __forceinline__ void block_argmax(float* v, int* i, float* fscratch, int* iscratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int nwarps = (blockDim.x + 31) / 32;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(LLMS_FULL_MASK, *v, o);
        const int oi = __shfl_xor_sync(LLMS_FULL_MASK, *i, o);
        if (ov > *v || (ov == *v && oi < *i)) {
            *v = ov;
            *i = oi;
        }
    }
    __syncthreads();
    if (lane == 0) {
        fscratch[warp] = *v;
        iscratch[warp] = *i;
    }
    __syncthreads();
    *v = lane < nwarps ? fscratch[lane] : -LLMS_INF;
    *i = lane < nwarps ? iscratch[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(LLMS_FULL_MASK, *v, o);
        const int oi = __shfl_xor_sync(LLMS_FULL_MASK, *i, o);
        if (ov > *v || (ov == *v && oi < *i)) {
            *v = ov;
            *i = oi;
        }
    }
}

// Inclusive prefix sum over the block in thread order. `ends[w]` receives the final inclusive value of
// the last lane of warp w, so a caller can form every thread's exclusive value as *the same float* as
// its predecessor's inclusive value (adjacent intervals then meet exactly, no gap or overlap).
__device__ __forceinline__ float block_inclusive_scan(float x, float* scratch, float* ends) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int nwarps = (blockDim.x + 31) / 32;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const float y = __shfl_up_sync(LLMS_FULL_MASK, x, o);
        if (lane >= o) x += y;
    }
    __syncthreads();
    if (lane == 31) scratch[warp] = x;
    __syncthreads();
    if (warp == 0) {
        float w = lane < nwarps ? scratch[lane] : 0.0f;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const float y = __shfl_up_sync(LLMS_FULL_MASK, w, o);
            if (lane >= o) w += y;
        }
        scratch[32 + lane] = w;  // inclusive scan of the warp totals
    }
    __syncthreads();
    if (warp > 0) x += scratch[32 + warp - 1];
    if (lane == 31) ends[warp] = x;
    __syncthreads();
    return x;
}

// sample_tokens
//   tokens [num_rows] u32 (out); logits [num_rows, vocab] f32, processed logits in, and for sampled
//   (non-greedy) rows overwritten with the unnormalized weights w; params [num_rows].
// Grid: (num_rows). Block: SAMPLE_THREADS (1024). Shared: 96 floats + 32 ints + 1 int.
// One block per row; thread i handles elements i, i + 1024, ... in every pass:
//   pass 1 argmax (greedy rows stop here), pass 2 weights + in-place store, bisection passes for
//   top-k / top-p (count or sum of weights >= t, block reduction), then the draw: tiles of 1024
//   consecutive elements, block inclusive scan of kept weights, the thread whose interval
//   [carry + exclusive, carry + inclusive) contains r owns the token. If rounding leaves r past the last
//   interval, the last kept token is chosen.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_tokens(unsigned int* __restrict__ tokens, float* __restrict__ logits,
                  const RowSamplingParams* __restrict__ params, int num_rows, int vocab) {
    __shared__ float fscratch[64];
    __shared__ int iscratch[32];
    __shared__ float ends[32];
    __shared__ int chosen;
    const int row = blockIdx.x;
    if (row >= num_rows) return;
    const int tid = threadIdx.x;
    float* lr = logits + (long long)row * vocab;
    const RowSamplingParams p = params[row];

    // Pass 1: argmax (NaN never wins: `v > best` is false for NaN).
    float best = -LLMS_INF;
    int best_i = 0x7fffffff;
    for (int i = tid; i < vocab; i += blockDim.x) {
        const float v = lr[i];
        if (v > best) {
            best = v;
            best_i = i;
        }
    }
    block_argmax(&best, &best_i, fscratch, iscratch);
    if (best_i >= vocab) best_i = 0;  // every logit -inf or NaN: token 0, like the CPU argmax
    if (p.temperature == 0.0f || best == -LLMS_INF) {
        if (tid == 0) tokens[row] = (unsigned int)best_i;
        return;
    }

    // Pass 2: weights.
    const float inv_t = 1.0f / p.temperature;
    for (int i = tid; i < vocab; i += blockDim.x) {
        const float v = lr[i];
        const float w = expf((v - best) * inv_t);
        lr[i] = w == w ? w : 0.0f;  // NaN logits get weight 0
    }
    __syncthreads();  // (each thread re-reads only its own elements below, but keep passes ordered)

    float tau = p.min_p > 0.0f ? p.min_p : 0.0f;
    if (p.top_k > 0 && p.top_k < (unsigned int)vocab) {
        int lo = 0, hi = ONE_BITS;
        while (lo < hi) {
            const int mid = lo + (hi - lo + 1) / 2;
            const float t = __int_as_float(mid);
            int c = 0;
            for (int i = tid; i < vocab; i += blockDim.x) c += lr[i] >= t ? 1 : 0;
            c = block_sum_int(c, iscratch);
            if (c >= (int)p.top_k) lo = mid; else hi = mid - 1;
        }
        tau = fmaxf(tau, __int_as_float(lo));
    }
    if (p.top_p < 1.0f) {
        float s0 = 0.0f;
        for (int i = tid; i < vocab; i += blockDim.x) s0 += lr[i] >= tau ? lr[i] : 0.0f;
        const float target = p.top_p * block_sum(s0, fscratch);
        int lo = 0, hi = ONE_BITS;
        while (lo < hi) {
            const int mid = lo + (hi - lo + 1) / 2;
            const float t = fmaxf(__int_as_float(mid), tau);
            float sum = 0.0f;
            for (int i = tid; i < vocab; i += blockDim.x) sum += lr[i] >= t ? lr[i] : 0.0f;
            sum = block_sum(sum, fscratch);
            if (sum >= target) lo = mid; else hi = mid - 1;
        }
        tau = fmaxf(tau, __int_as_float(lo));
    }

    // Total kept weight and the draw target.
    float part = 0.0f;
    int last = -1;
    for (int i = tid; i < vocab; i += blockDim.x) {
        const float w = lr[i];
        if (w >= tau && w > 0.0f) {
            part += w;
            last = i;
        }
    }
    const float total = block_sum(part, fscratch);
    const float r = p.uniform * total;
    if (tid == 0) chosen = -1;
    float carry = 0.0f;
    for (int base = 0; base < vocab; base += blockDim.x) {
        const int i = base + tid;
        float x = 0.0f;
        if (i < vocab) {
            const float w = lr[i];
            x = (w >= tau && w > 0.0f) ? w : 0.0f;
        }
        const float incl = block_inclusive_scan(x, fscratch, ends);
        const float up = __shfl_up_sync(LLMS_FULL_MASK, incl, 1);
        const int lane = tid % 32, warp = tid / 32;
        const float excl = lane > 0 ? up : (warp > 0 ? ends[warp - 1] : 0.0f);
        if (x > 0.0f && carry + excl <= r && r < carry + incl) chosen = i;
        __syncthreads();
        if (chosen >= 0) break;
        carry += ends[(blockDim.x + 31) / 32 - 1];  // == the last thread's inclusive value
    }
    // Last kept index as the fallback when rounding put r at or past the total.
    int c = chosen;
    if (c < 0) {
        float lv = (float)last;
        int li = last;
        block_argmax(&lv, &li, fscratch, iscratch);
        c = li >= 0 && li < vocab ? li : best_i;
    }
    if (tid == 0) tokens[row] = (unsigned int)c;
}
