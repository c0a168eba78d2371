//! The CPU backend: a [`LlamaModel`], its physical [`KvCache`] and a dedicated rayon pool.
//!
//! Compute never runs on the async runtime's threads: every step is executed inside `pool.install`, so
//! the kernels' parallel loops use this pool (sized to the cores by default, `--threads N` otherwise).
//! The backend consumes the same [`AttentionMetadata`] the CUDA backend will.

use llmserve_models::llama::{AttentionMetadata, ForwardScratch, KvCacheGeometry, LlamaModel};

use crate::kv_cache::KvCache;
use crate::EngineError;

/// How to size and run the CPU backend.
#[derive(Clone, Debug)]
pub struct CpuBackendConfig {
    /// Compute threads; 0 = one per available core.
    pub threads: usize,
    /// Tokens per KV-cache block.
    pub block_size: usize,
    /// Total KV-cache tokens (rounded up to whole blocks).
    pub kv_cache_tokens: usize,
}

impl Default for CpuBackendConfig {
    fn default() -> Self {
        CpuBackendConfig { threads: 0, block_size: 16, kv_cache_tokens: 8192 }
    }
}

pub struct CpuBackend {
    pub model: LlamaModel,
    kv: KvCache,
    scratch: ForwardScratch,
    pool: rayon::ThreadPool,
    threads: usize,
}

impl CpuBackend {
    pub fn new(model: LlamaModel, cfg: &CpuBackendConfig) -> Result<CpuBackend, EngineError> {
        let threads = if cfg.threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            cfg.threads
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("llmserve-cpu-{i}"))
            .build()
            .map_err(|e| EngineError::ThreadPool(e.to_string()))?;
        let block_size = cfg.block_size.max(1);
        let geometry = KvCacheGeometry {
            num_layers: model.config.num_hidden_layers,
            num_blocks: cfg.kv_cache_tokens.div_ceil(block_size).max(1),
            block_size,
            num_kv_heads: model.config.num_kv_heads(),
            head_dim: model.config.head_dim(),
        };
        Ok(CpuBackend { model, kv: KvCache::new(geometry), scratch: ForwardScratch::new(), pool, threads })
    }

    pub fn geometry(&self) -> KvCacheGeometry {
        self.kv.geometry
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn vocab_size(&self) -> usize {
        self.model.config.vocab_size
    }

    /// Runs one forward step; `logits` receives `[meta.logits_indices.len(), vocab]`.
    pub fn execute(&mut self, tokens: &[u32], meta: &AttentionMetadata, logits: &mut Vec<f32>) -> Result<(), EngineError> {
        let CpuBackend { model, kv, scratch, pool, .. } = self;
        let mut view = kv.view();
        pool.install(|| model.forward(tokens, meta, &mut view, scratch, logits))?;
        Ok(())
    }
}
