//! [`CudaModelRunner`]: the LLaMA forward in bf16 on one GPU behind the [`ModelRunner`] seam.
//!
//! Models vLLM v1 `worker/gpu_model_runner.py` (persistent input buffers filled from the persistent
//! batch each step, one forward over every scheduled token, sampling on the device, only token ids
//! back) and nano-vllm `engine/model_runner.py` (KV cache sized from free memory after the weights).
//! The forward replicates `models/src/llama/forward.rs` (candle's / HF's LLaMA): embedding →
//! per layer [RMSNorm → fused QKV GEMM → RoPE (interleaved pairs: GGUF-permuted Q/K rows) → KV write →
//! paged attention (decode kernel when every sequence has one new token, else the prefill kernel) →
//! O GEMM → residual add + RMSNorm → fused gate|up GEMM → SiLU·up → down GEMM] → residual add + final
//! RMSNorm → gather of the sampled rows → LM head GEMM in fp32 → penalties, logit bias, sampling.
//!
//! Numerics: bf16 storage, fp32 accumulation (cuBLAS `COMPUTE_32F`, kernels in fp32); the residual
//! stream is bf16 (as vLLM / HF in bf16), so logits differ from the CPU backend's f32 residual by
//! bf16 rounding (~1e-2 relative).
//!
//! Per-request state is the CPU runner's [`InputBatch`] (same bookkeeping, same validation); the
//! seed of each request is kept here so the device sampler's uniforms come from (seed, output
//! index) exactly like the CPU sampler's draws. Every device buffer is allocated in
//! [`CudaModelRunner::new`] for `max_num_batched_tokens` / `max_num_seqs`; a step allocates nothing
//! on the device (ready for CUDA-graph capture of decode steps).
//!
//! Cost per step: 4 GEMMs per layer over `m = scheduled tokens` + LM head over sampled rows; 9
//! kernel launches per layer; one host→device copy per input array and one device→host copy of the
//! sampled token ids (+ a 4-byte invalid-token flag), then a stream synchronize.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Arc;

use cudarc::cublas::{result as cublas_result, sys as cublas_sys, CudaBlas};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use half::bf16;
use llmserve_kernels::cuda::launch::{CacheWriteArgs, DecodeAttentionArgs, DecodeWorkspace, PrefillAttentionArgs, RopeArgs};
use llmserve_kernels::cuda::{AttentionGeometry, CudaKernels, LogitBiasEntry, PagedCacheShape, PenaltyEntry, QkvLayout, RopeStyle, RowSamplingParams};
use llmserve_models::config::LlamaConfig;
use llmserve_models::llama::{AttentionMetadata, KvCacheGeometry};
use llmserve_models::tensor::TensorStore;
use llmserve_scheduler::{ModelRunnerOutput, RequestId, SchedulerOutput};

use super::plan::{kv_block_bytes, kv_cache_blocks, push_logit_bias_entries, push_penalty_entries, row_params, BufferPlan, CudaRunnerConfig, StepInputs};
use super::weights::DeviceWeights;
use super::{driver, CudaBackendError};
use crate::input_batch::InputBatch;
use crate::model_runner::ModelRunner;
use crate::EngineError;

/// cuBLAS workspace, set once before any capture (shared GPU notes).
const CUBLAS_WORKSPACE_BYTES: usize = 32 << 20;

/// Persistent device buffers, sized by the [`BufferPlan`].
struct DeviceBuffers {
    /// `[max_tokens]` input token ids.
    ids: CudaSlice<u32>,
    /// `[max_tokens]` positions.
    positions: CudaSlice<u32>,
    /// `[max_tokens]` KV slots.
    slots: CudaSlice<i32>,
    /// `[max_seqs + 1]` query offsets.
    query_start_loc: CudaSlice<u32>,
    /// `[max_seqs]` context lengths.
    seq_lens: CudaSlice<u32>,
    /// `[max_seqs, max_blocks_per_seq]` block tables.
    block_tables: CudaSlice<u32>,
    /// `[max_seqs]` rows whose logits are wanted.
    logits_indices: CudaSlice<u32>,
    /// `[max_tokens, hidden]` residual stream.
    x: CudaSlice<bf16>,
    /// `[max_tokens, hidden]` normed input of the current sub-block.
    h: CudaSlice<bf16>,
    /// `[max_tokens, q_dim + 2 kv_dim]` fused QKV.
    qkv: CudaSlice<bf16>,
    /// `[max_tokens, q_dim]` attention output.
    attn: CudaSlice<bf16>,
    /// `[max_tokens, hidden]` O / down projection output before the residual add.
    o: CudaSlice<bf16>,
    /// `[max_tokens, 2 ffn]` fused gate|up.
    gate_up: CudaSlice<bf16>,
    /// `[max_tokens, ffn]` SiLU(gate)·up.
    act: CudaSlice<bf16>,
    /// `[max_seqs, hidden]` final-normed rows gathered for the LM head.
    final_rows: CudaSlice<bf16>,
    /// `[max_seqs, vocab]` fp32 logits.
    logits: CudaSlice<f32>,
    /// `[max_seqs]` per-row sampling parameters.
    row_params: CudaSlice<RowSamplingParams>,
    /// `[max_penalty_entries]`.
    penalties: CudaSlice<PenaltyEntry>,
    /// `[max_logit_bias_entries]`.
    biases: CudaSlice<LogitBiasEntry>,
    /// `[max_seqs]` sampled token ids.
    tokens: CudaSlice<u32>,
    /// `[1]` sticky flag of the embedding kernel: an input id was ≥ vocab.
    invalid: CudaSlice<u32>,
    /// Split-KV scratch of the decode kernel.
    decode_ws: DecodeWorkspace,
}

impl DeviceBuffers {
    fn new(stream: &Arc<CudaStream>, p: &BufferPlan, geometry: &AttentionGeometry) -> Result<DeviceBuffers, CudaBackendError> {
        let e = || driver("allocating the step buffers");
        let (t, s) = (p.max_tokens, p.max_seqs);
        Ok(DeviceBuffers {
            ids: stream.alloc_zeros(t).map_err(e())?,
            positions: stream.alloc_zeros(t).map_err(e())?,
            slots: stream.alloc_zeros(t).map_err(e())?,
            query_start_loc: stream.alloc_zeros(s + 1).map_err(e())?,
            seq_lens: stream.alloc_zeros(s).map_err(e())?,
            block_tables: stream.alloc_zeros(s * p.max_blocks_per_seq).map_err(e())?,
            logits_indices: stream.alloc_zeros(s).map_err(e())?,
            x: stream.alloc_zeros(t * p.hidden).map_err(e())?,
            h: stream.alloc_zeros(t * p.hidden).map_err(e())?,
            qkv: stream.alloc_zeros(t * p.qkv_width).map_err(e())?,
            attn: stream.alloc_zeros(t * p.q_dim).map_err(e())?,
            o: stream.alloc_zeros(t * p.hidden).map_err(e())?,
            gate_up: stream.alloc_zeros(t * 2 * p.ffn).map_err(e())?,
            act: stream.alloc_zeros(t * p.ffn).map_err(e())?,
            final_rows: stream.alloc_zeros(s * p.hidden).map_err(e())?,
            logits: stream.alloc_zeros(s * p.vocab).map_err(e())?,
            row_params: stream.alloc_zeros(s).map_err(e())?,
            penalties: stream.alloc_zeros(p.max_penalty_entries).map_err(e())?,
            biases: stream.alloc_zeros(p.max_logit_bias_entries).map_err(e())?,
            tokens: stream.alloc_zeros(s).map_err(e())?,
            invalid: stream.alloc_zeros(1).map_err(e())?,
            decode_ws: DecodeWorkspace::new(stream, s, geometry, p.max_model_len)?,
        })
    }
}

/// Output element type of a GEMM.
#[derive(Clone, Copy)]
enum GemmOut {
    Bf16,
    F32,
}

/// Row-major `y[m, n] = x[m, k] · w[n, k]ᵀ` (bf16 inputs, fp32 accumulation) as column-major TN.
#[allow(clippy::too_many_arguments)]
fn gemm<T>(
    blas: &CudaBlas,
    stream: &CudaStream,
    y: &mut impl DevicePtrMut<T>,
    out: GemmOut,
    x: &impl DevicePtr<bf16>,
    w: &impl DevicePtr<bf16>,
    m: usize,
    n: usize,
    k: usize,
) -> Result<(), CudaBackendError> {
    if m == 0 {
        return Ok(());
    }
    let out_elem = match out {
        GemmOut::Bf16 => 2,
        GemmOut::F32 => 4,
    };
    if std::mem::size_of::<T>() != out_elem {
        return Err(CudaBackendError::Config(format!("GEMM output element of {} bytes, expected {out_elem}", std::mem::size_of::<T>())));
    }
    if x.len() < m * k || w.len() < n * k || y.len() < m * n {
        return Err(CudaBackendError::Config(format!("GEMM {m}×{n}×{k}: a buffer is too small")));
    }
    let int = |v: usize| i32::try_from(v).map_err(|_| CudaBackendError::Capacity { what: "GEMM dimension", need: v, limit: i32::MAX as usize });
    let (mi, ni, ki) = (int(m)?, int(n)?, int(k)?);
    let (alpha, beta) = (1.0f32, 0.0f32);
    let c_type = match out {
        GemmOut::Bf16 => cublas_sys::cudaDataType::CUDA_R_16BF,
        GemmOut::F32 => cublas_sys::cudaDataType::CUDA_R_32F,
    };
    let (wp, _wg) = w.device_ptr(stream);
    let (xp, _xg) = x.device_ptr(stream);
    let (yp, _yg) = y.device_ptr_mut(stream);
    // SAFETY: the handle is bound to `stream`; the pointers are live device allocations of the same
    // context holding at least n·k (w), m·k (x) and m·n (y) elements of the stated types (checked
    // above); alpha/beta are f32 as COMPUTE_32F requires and outlive the (stream-ordered) call.
    unsafe {
        cublas_result::gemm_ex(
            *blas.handle(),
            cublas_sys::cublasOperation_t::CUBLAS_OP_T,
            cublas_sys::cublasOperation_t::CUBLAS_OP_N,
            ni,
            mi,
            ki,
            (&alpha) as *const f32 as *const c_void,
            wp as *const c_void,
            cublas_sys::cudaDataType::CUDA_R_16BF,
            ki,
            xp as *const c_void,
            cublas_sys::cudaDataType::CUDA_R_16BF,
            ki,
            (&beta) as *const f32 as *const c_void,
            yp as *mut c_void,
            c_type,
            ni,
            cublas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            cublas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
    }
    .map_err(|source| CudaBackendError::Cublas { during: "cublasGemmEx", source })
}

/// The CUDA backend behind the [`ModelRunner`] seam.
pub struct CudaModelRunner {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    kernels: CudaKernels,
    blas: CudaBlas,
    /// Kept alive: cuBLAS uses it for every GEMM.
    _blas_workspace: CudaSlice<u8>,
    config: LlamaConfig,
    weights: DeviceWeights,
    plan: BufferPlan,
    geometry: AttentionGeometry,
    layout: QkvLayout,
    cache_shape: PagedCacheShape,
    /// `[num_layers]` K caches, each `[num_blocks, block_size, num_kv_heads, head_dim]` bf16.
    k_cache: Vec<CudaSlice<bf16>>,
    /// `[num_layers]` V caches, same layout.
    v_cache: Vec<CudaSlice<bf16>>,
    bufs: DeviceBuffers,
    /// Per-request state (the CPU runner's bookkeeping).
    batch: InputBatch,
    /// The step's inputs on the host, reused across steps.
    step: StepInputs,
    /// Each held request's sampling seed (its own, or drawn at (re)admission like the CPU sampler).
    seeds: HashMap<RequestId, u64>,
    host_params: Vec<RowSamplingParams>,
    host_penalties: Vec<PenaltyEntry>,
    host_biases: Vec<LogitBiasEntry>,
    host_tokens: Vec<u32>,
}

impl CudaModelRunner {
    /// Opens device 0, compiles/loads the kernels, uploads the weights, allocates every step buffer
    /// and sizes the KV cache from the memory left (`gpu_memory_utilization`).
    pub fn new(store: &TensorStore, config: &LlamaConfig, rc: &CudaRunnerConfig) -> Result<CudaModelRunner, CudaBackendError> {
        config.validate()?;
        let plan = BufferPlan::new(config, rc)?;
        let ctx = llmserve_kernels::cuda::open_device(0)?;
        // SAFETY: called right after creating the context, before any allocation: the runner uses a
        // single stream, so cudarc's per-slice events are not needed (and would break graph capture).
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(driver("creating the stream"))?;
        let kernels = CudaKernels::load(&ctx)?;
        let blas = CudaBlas::new(Arc::clone(&stream)).map_err(|source| CudaBackendError::Cublas { during: "cublasCreate", source })?;
        let mut blas_ws = stream.alloc_zeros::<u8>(CUBLAS_WORKSPACE_BYTES).map_err(driver("allocating the cuBLAS workspace"))?;
        {
            let (p, _g) = blas_ws.device_ptr_mut(&stream);
            // SAFETY: the workspace is a live allocation of CUBLAS_WORKSPACE_BYTES in the handle's
            // context and is kept alive as long as the handle (both are fields of the runner).
            unsafe { cublas_sys::cublasSetWorkspace_v2(*blas.handle(), p as *mut c_void, CUBLAS_WORKSPACE_BYTES) }
                .result()
                .map_err(|source| CudaBackendError::Cublas { during: "cublasSetWorkspace", source })?;
        }
        let weights = DeviceWeights::upload(&stream, store, config)?;
        let geometry = AttentionGeometry { num_q_heads: config.num_attention_heads, num_kv_heads: config.num_kv_heads(), head_dim: config.head_dim() };
        let bufs = DeviceBuffers::new(&stream, &plan, &geometry)?;
        stream.synchronize().map_err(driver("synchronizing after the upload"))?;

        let block_bytes = kv_block_bytes(config, plan.block_size);
        let num_blocks = match rc.num_kv_blocks {
            Some(n) if n > 0 => n,
            Some(_) => return Err(CudaBackendError::Config("num_kv_blocks must be positive".into())),
            None => {
                let (free, total) = ctx.mem_get_info().map_err(driver("cuMemGetInfo"))?;
                kv_cache_blocks(free, total, rc.gpu_memory_utilization, block_bytes)?
            }
        };
        // Slots are i32 in the kernels.
        let num_blocks = num_blocks.min(i32::MAX as usize / plan.block_size);
        let cache_shape = PagedCacheShape { num_blocks, block_size: plan.block_size, num_kv_heads: geometry.num_kv_heads, head_dim: geometry.head_dim };
        let mut k_cache = Vec::with_capacity(config.num_hidden_layers);
        let mut v_cache = Vec::with_capacity(config.num_hidden_layers);
        for _ in 0..config.num_hidden_layers {
            k_cache.push(stream.alloc_zeros::<bf16>(cache_shape.elems()).map_err(driver("allocating the KV cache"))?);
            v_cache.push(stream.alloc_zeros::<bf16>(cache_shape.elems()).map_err(driver("allocating the KV cache"))?);
        }
        stream.synchronize().map_err(driver("synchronizing after the KV-cache allocation"))?;
        let s = plan.max_seqs;
        Ok(CudaModelRunner {
            ctx,
            stream,
            kernels,
            blas,
            _blas_workspace: blas_ws,
            config: config.clone(),
            weights,
            plan,
            layout: QkvLayout::fused(&geometry),
            geometry,
            cache_shape,
            k_cache,
            v_cache,
            bufs,
            batch: InputBatch::new(plan.block_size),
            step: StepInputs::default(),
            seeds: HashMap::new(),
            host_params: Vec::with_capacity(s),
            host_penalties: Vec::new(),
            host_biases: Vec::new(),
            host_tokens: vec![0; s],
        })
    }

    /// The buffer plan (limits of a step).
    pub fn plan(&self) -> &BufferPlan {
        &self.plan
    }

    /// Bytes of weights on the device.
    pub fn weight_bytes(&self) -> usize {
        self.weights.bytes
    }

    /// Bytes of the KV cache (K and V, all layers).
    pub fn kv_cache_bytes(&self) -> usize {
        2 * self.k_cache.len() * self.cache_shape.elems() * 2
    }

    /// The kernels' device architecture, e.g. `sm_90`.
    pub fn arch(&self) -> String {
        self.kernels.arch().to_string()
    }

    /// Waits for all queued work (benchmarks time between synchronizations).
    pub fn synchronize(&self) -> Result<(), CudaBackendError> {
        self.stream.synchronize().map_err(driver("cuStreamSynchronize"))
    }

    /// Runs one forward over `tokens` with `meta` (built by the caller, e.g. an [`InputBatch`] or a
    /// benchmark) and leaves `[meta.logits_indices.len(), vocab]` fp32 logits on the device. Returns
    /// the number of logits rows.
    pub fn forward(&mut self, tokens: &[u32], meta: &AttentionMetadata) -> Result<usize, CudaBackendError> {
        self.ctx.bind_to_thread().map_err(driver("binding the context"))?;
        self.step.fill(tokens, meta, &self.plan)?;
        self.run_forward()
    }

    /// [`CudaModelRunner::forward`], then the logits copied to the host (`[rows, vocab]`; tests).
    pub fn forward_logits(&mut self, tokens: &[u32], meta: &AttentionMetadata) -> Result<Vec<f32>, CudaBackendError> {
        let rows = self.forward(tokens, meta)?;
        let mut host = vec![0f32; rows * self.plan.vocab];
        if rows > 0 {
            self.stream.memcpy_dtoh(&self.bufs.logits.slice(..rows * self.plan.vocab), &mut host).map_err(driver("copying logits"))?;
        }
        self.synchronize()?;
        Ok(host)
    }

    fn upload<T: cudarc::driver::DeviceRepr>(stream: &Arc<CudaStream>, src: &[T], dst: &mut CudaSlice<T>) -> Result<(), CudaBackendError> {
        if src.is_empty() {
            return Ok(());
        }
        stream.memcpy_htod(src, &mut dst.slice_mut(..src.len())).map_err(driver("copying step inputs"))
    }

    /// The forward over the inputs in `self.step`.
    fn run_forward(&mut self) -> Result<usize, CudaBackendError> {
        let CudaModelRunner { stream, kernels: kr, blas, config, weights: w, plan, geometry, layout, cache_shape, k_cache, v_cache, bufs: b, step, .. } = self;
        let (n, ns, rows) = (step.num_tokens(), step.num_seqs(), step.logits_indices.len());
        if n == 0 {
            return Ok(0);
        }
        let (hd, qd, qkvw, ff, vocab) = (plan.hidden, plan.q_dim, plan.qkv_width, plan.ffn, plan.vocab);
        let eps = config.rms_norm_eps as f32;
        let s: &CudaStream = stream;
        Self::upload(stream, &step.token_ids, &mut b.ids)?;
        Self::upload(stream, &step.positions, &mut b.positions)?;
        Self::upload(stream, &step.slot_mapping, &mut b.slots)?;
        Self::upload(stream, &step.query_start_loc, &mut b.query_start_loc)?;
        Self::upload(stream, &step.seq_lens, &mut b.seq_lens)?;
        Self::upload(stream, &step.block_tables, &mut b.block_tables)?;
        Self::upload(stream, &step.logits_indices, &mut b.logits_indices)?;
        stream.memset_zeros(&mut b.invalid).map_err(driver("clearing the invalid-token flag"))?;

        kr.embedding(s, &mut b.x, &w.embed, &b.ids, &mut b.invalid, n, hd, vocab)?;
        let decode = step.is_decode_only();
        let scale = geometry.scale();
        for (l, layer) in w.layers.iter().enumerate() {
            if l == 0 {
                kr.rms_norm(s, &mut b.h, &b.x, &layer.attn_norm, n, hd, eps)?;
            } else {
                kr.fused_add_rms_norm(s, &mut b.h, &mut b.x, &b.o, &layer.attn_norm, n, hd, eps)?;
            }
            gemm(blas, s, &mut b.qkv, GemmOut::Bf16, &b.h, &layer.qkv, n, qkvw, hd)?;
            let rope = RopeArgs { num_tokens: n, geometry: *geometry, layout: *layout, style: RopeStyle::Interleaved };
            kr.rope(s, &mut b.qkv, &b.positions, &w.inv_freq, &rope)?;
            let cw = CacheWriteArgs { num_tokens: n, cache: *cache_shape, key_stride: qkvw, value_stride: qkvw };
            kr.reshape_and_cache(s, &mut k_cache[l], &mut v_cache[l], &b.qkv.slice(layout.k_offset..), &b.qkv.slice(layout.v_offset..), &b.slots, &cw)?;
            if decode {
                let a = DecodeAttentionArgs {
                    num_seqs: ns,
                    geometry: *geometry,
                    cache: *cache_shape,
                    max_blocks_per_seq: plan.max_blocks_per_seq,
                    max_seq_len: plan.max_model_len,
                    q_stride: qkvw,
                    out_stride: qd,
                    scale,
                };
                kr.paged_attention_decode(s, &mut b.attn, &b.qkv, &k_cache[l], &v_cache[l], &b.block_tables, &b.seq_lens, &mut b.decode_ws, &a)?;
            } else {
                let a = PrefillAttentionArgs {
                    num_seqs: ns,
                    num_tokens: n,
                    max_query_len: step.max_query_len,
                    geometry: *geometry,
                    cache: *cache_shape,
                    max_blocks_per_seq: plan.max_blocks_per_seq,
                    q_stride: qkvw,
                    out_stride: qd,
                    scale,
                };
                kr.paged_attention_prefill(s, &mut b.attn, &b.qkv, &k_cache[l], &v_cache[l], &b.query_start_loc, &b.seq_lens, &b.block_tables, &a)?;
            }
            gemm(blas, s, &mut b.o, GemmOut::Bf16, &b.attn, &layer.o, n, hd, qd)?;
            kr.fused_add_rms_norm(s, &mut b.h, &mut b.x, &b.o, &layer.ffn_norm, n, hd, eps)?;
            gemm(blas, s, &mut b.gate_up, GemmOut::Bf16, &b.h, &layer.gate_up, n, 2 * ff, hd)?;
            kr.silu_and_mul(s, &mut b.act, &b.gate_up, n, ff)?;
            gemm(blas, s, &mut b.o, GemmOut::Bf16, &b.act, &layer.down, n, hd, ff)?;
        }
        // Last residual add + final norm over all rows, then the sampled rows gathered (the
        // embedding-gather kernel with the normed activations as its table).
        kr.fused_add_rms_norm(s, &mut b.h, &mut b.x, &b.o, &w.final_norm, n, hd, eps)?;
        if rows > 0 {
            kr.embedding(s, &mut b.final_rows, &b.h, &b.logits_indices, &mut b.invalid, rows, hd, n)?;
            gemm(blas, s, &mut b.logits, GemmOut::F32, &b.final_rows, w.lm_head(), rows, vocab, hd)?;
        }
        Ok(rows)
    }

    /// Penalties, logit bias and sampling of the prepared step's rows on the device; the sampled ids
    /// come back in batch order of the rows.
    fn sample_rows(&mut self, rows: usize) -> Result<&[u32], CudaBackendError> {
        self.host_params.clear();
        self.host_penalties.clear();
        self.host_biases.clear();
        let vocab = self.plan.vocab;
        for chunk in self.batch.chunks() {
            let Some(row) = chunk.logits_row else { continue };
            let state = self
                .batch
                .get(chunk.request_id)
                .ok_or_else(|| CudaBackendError::Config(format!("{} vanished before sampling", chunk.request_id)))?;
            let seed = *self.seeds.get(&chunk.request_id).ok_or_else(|| CudaBackendError::Config(format!("{} has no sampling seed", chunk.request_id)))?;
            let p = state.sampler.params();
            debug_assert_eq!(row, self.host_params.len());
            self.host_params.push(row_params(p, seed, state.sampler.num_outputs()));
            push_penalty_entries(row as u32, p, &state.token_ids, state.num_prompt_tokens, &mut self.host_penalties);
            push_logit_bias_entries(row as u32, p, vocab, &mut self.host_biases);
        }
        if self.host_params.len() != rows {
            return Err(CudaBackendError::Config(format!("{} sampled requests for {rows} logits rows", self.host_params.len())));
        }
        if self.host_penalties.len() > self.plan.max_penalty_entries {
            return Err(CudaBackendError::Capacity { what: "penalty entries in a step", need: self.host_penalties.len(), limit: self.plan.max_penalty_entries });
        }
        if self.host_biases.len() > self.plan.max_logit_bias_entries {
            return Err(CudaBackendError::Capacity { what: "logit-bias entries in a step", need: self.host_biases.len(), limit: self.plan.max_logit_bias_entries });
        }
        let CudaModelRunner { stream, kernels: kr, bufs: b, host_params, host_penalties, host_biases, host_tokens, .. } = self;
        let s: &CudaStream = stream;
        Self::upload(stream, host_params, &mut b.row_params)?;
        Self::upload(stream, host_penalties, &mut b.penalties)?;
        Self::upload(stream, host_biases, &mut b.biases)?;
        if !host_penalties.is_empty() {
            kr.apply_penalties(s, &mut b.logits, &b.row_params, &b.penalties, host_penalties.len(), rows, vocab)?;
        }
        if !host_biases.is_empty() {
            kr.apply_logit_bias(s, &mut b.logits, &b.biases, host_biases.len(), rows, vocab)?;
        }
        kr.sample_tokens(s, &mut b.tokens, &mut b.logits, &b.row_params, rows, vocab)?;
        let mut invalid = [0u32; 1];
        stream.memcpy_dtoh(&b.tokens.slice(..rows), &mut host_tokens[..rows]).map_err(driver("copying sampled tokens"))?;
        stream.memcpy_dtoh(&b.invalid, &mut invalid).map_err(driver("copying the invalid-token flag"))?;
        stream.synchronize().map_err(driver("synchronizing the step"))?;
        if invalid[0] != 0 {
            return Err(CudaBackendError::InvalidTokenOnDevice { vocab });
        }
        if let Some((row, &token)) = host_tokens[..rows].iter().enumerate().find(|(_, &t)| t as usize >= vocab) {
            return Err(CudaBackendError::BadToken { row, token, vocab });
        }
        Ok(&host_tokens[..rows])
    }

    fn update_seeds(&mut self, out: &SchedulerOutput) {
        for id in out.finished_request_ids.iter().chain(&out.preempted_request_ids) {
            self.seeds.remove(id);
        }
        for new in &out.new_requests {
            self.seeds.insert(new.request_id, new.sampling_params.seed.unwrap_or_else(rand::random));
        }
    }
}

impl ModelRunner for CudaModelRunner {
    fn execute(&mut self, out: &SchedulerOutput) -> Result<ModelRunnerOutput, EngineError> {
        self.batch.update_states(out)?;
        self.update_seeds(out);
        if out.is_empty() {
            return Ok(ModelRunnerOutput::default());
        }
        self.batch.prepare_inputs(out)?;
        self.ctx.bind_to_thread().map_err(driver("binding the context"))?;
        self.step.fill(self.batch.input_token_ids(), self.batch.metadata(), &self.plan)?;
        let rows = self.run_forward()?;
        let tokens: Vec<u32> = if rows > 0 { self.sample_rows(rows)?.to_vec() } else { Vec::new() };
        self.batch.collect_sampled(|row, _, _| tokens[row])
    }

    fn kv_cache_geometry(&self) -> KvCacheGeometry {
        KvCacheGeometry {
            num_layers: self.config.num_hidden_layers,
            num_blocks: self.cache_shape.num_blocks,
            block_size: self.cache_shape.block_size,
            num_kv_heads: self.cache_shape.num_kv_heads,
            head_dim: self.cache_shape.head_dim,
        }
    }

    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_model_len(&self) -> usize {
        self.plan.max_model_len
    }

    fn num_cached_requests(&self) -> usize {
        self.batch.len()
    }
}
