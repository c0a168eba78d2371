//! Every Prometheus metric the server exports, described in one place (DESIGN.md "Server habits").
//!
//! Names, units and histogram buckets follow vLLM's `vllm:*` metrics (`time_to_first_token_seconds`,
//! `inter_token_latency_seconds`, `e2e_request_latency_seconds`, `request_queue_time_seconds`,
//! `num_requests_running|waiting`, `kv_cache_usage_perc`, `num_preemptions`, `prefix_cache_*`) with
//! our one prefix `llmserve_`. Request-level series are observed by the routes as streams end;
//! engine-level series are refreshed from [`EngineStats`] at every scrape (the engine publishes a
//! snapshot after each loop iteration, so a scrape never waits for a step).

use std::collections::HashMap;
use std::sync::Mutex;

use llmserve_engine::EngineStats;
use prometheus::{Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

const TTFT_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0];
const ITL_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
const REQUEST_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
    1920.0, 7680.0,
];

/// Engine counters as of the previous scrape (Prometheus counters only go up by deltas).
#[derive(Default)]
struct EngineCountersSeen {
    preemptions: u64,
    prefix_queries: u64,
    prefix_hits: u64,
    step_errors: u64,
}

/// The registry and every series. Cheap to share (`Arc`); every method is thread-safe.
pub struct Metrics {
    registry: Registry,
    pub time_to_first_token: Histogram,
    pub inter_token_latency: Histogram,
    pub e2e_request_latency: Histogram,
    pub queue_time: Histogram,
    /// Generation requests by HTTP status (`200`, `400`, `503` …).
    pub requests: IntCounterVec,
    /// Samples (choices) by finish reason.
    pub finished: IntCounterVec,
    pub prompt_tokens: IntCounter,
    pub generation_tokens: IntCounter,
    /// Generation requests admitted and not yet answered (the admission cap counts these).
    pub requests_in_flight: IntGauge,
    running: IntGauge,
    waiting: IntGauge,
    kv_cache_usage: Gauge,
    kv_cache_free_blocks: IntGauge,
    kv_cache_total_blocks: IntGauge,
    preemptions: IntCounter,
    prefix_cache_queries: IntCounter,
    prefix_cache_hits: IntCounter,
    engine_step_errors: IntCounter,
    engine_alive: IntGauge,
    /// Safety-chain findings by tenant, filter and action taken.
    pub safety_events: IntCounterVec,
    /// Requests refused by a tenant's limits, by tenant and limit kind (requests, tokens, concurrency).
    pub rate_limited: IntCounterVec,
    /// Requests refused by authentication, by reason (missing, malformed, invalid).
    pub auth_failures: IntCounterVec,
    /// Generation requests by tenant and HTTP status (billing and per-tenant dashboards).
    pub tenant_requests: IntCounterVec,
    /// Tokens of answered generation requests by tenant and kind (prompt, completion).
    pub tenant_tokens: IntCounterVec,
    /// Tenants-file reloads by result (ok, error).
    pub config_reloads: IntCounterVec,
    seen: Mutex<EngineCountersSeen>,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid histogram")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid counter")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid gauge")
}

impl Metrics {
    /// Builds and registers every series. Every series carries the served model as a `model` label
    /// (what the Grafana dashboard's `$model` variable selects; vLLM labels its series `model_name`
    /// the same way); `version` labels `llmserve_build_info`.
    pub fn new(model: &str, version: &str) -> Metrics {
        let model_label = HashMap::from([("model".to_string(), model.to_string())]);
        let m = Metrics {
            registry: Registry::new_custom(None, Some(model_label)).expect("a valid constant label"),
            time_to_first_token: histogram(
                "llmserve_time_to_first_token_seconds",
                "Time from receiving a generation request to its first generated token.",
                TTFT_BUCKETS,
            ),
            inter_token_latency: histogram(
                "llmserve_inter_token_latency_seconds",
                "Time between consecutive token deliveries of one sample.",
                ITL_BUCKETS,
            ),
            e2e_request_latency: histogram(
                "llmserve_e2e_request_latency_seconds",
                "Time from receiving a generation request to its last token.",
                REQUEST_BUCKETS,
            ),
            queue_time: histogram(
                "llmserve_queue_time_seconds",
                "Time a sample waited in the scheduler before its first step.",
                REQUEST_BUCKETS,
            ),
            requests: IntCounterVec::new(
                Opts::new("llmserve_requests_total", "Generation requests (chat and completions) by HTTP status."),
                &["status"],
            )
            .expect("valid counter"),
            finished: IntCounterVec::new(
                Opts::new("llmserve_request_finished_total", "Finished samples (choices) by finish reason."),
                &["finish_reason"],
            )
            .expect("valid counter"),
            prompt_tokens: counter("llmserve_prompt_tokens_total", "Prompt tokens of answered generation requests."),
            generation_tokens: counter("llmserve_generation_tokens_total", "Tokens generated for answered requests."),
            requests_in_flight: gauge("llmserve_num_requests_in_flight", "Generation requests admitted by the server and not yet answered."),
            running: gauge("llmserve_num_requests_running", "Samples holding KV-cache blocks in the engine."),
            waiting: gauge("llmserve_num_requests_waiting", "Samples queued or preempted in the engine."),
            kv_cache_usage: Gauge::new("llmserve_kv_cache_usage_ratio", "Fraction of KV-cache blocks in use (0-1).").expect("valid gauge"),
            kv_cache_free_blocks: gauge("llmserve_kv_cache_free_blocks", "KV-cache blocks not held by any request."),
            kv_cache_total_blocks: gauge("llmserve_kv_cache_total_blocks", "KV-cache blocks in the pool."),
            preemptions: counter("llmserve_num_preemptions_total", "Times a running request lost its KV blocks (recomputed later)."),
            prefix_cache_queries: counter(
                "llmserve_prefix_cache_queries_total",
                "Prompt tokens looked up in the prefix cache at admission.",
            ),
            prefix_cache_hits: counter("llmserve_prefix_cache_hits_total", "Prompt tokens whose KV came from the prefix cache."),
            engine_step_errors: counter("llmserve_engine_step_errors_total", "Engine steps that failed (their requests ended with an error)."),
            engine_alive: gauge("llmserve_engine_alive", "1 while the engine loop runs."),
            safety_events: counter_vec(
                "llmserve_safety_events_total",
                "Safety-filter findings by tenant, filter and the action taken (block, redact, flag, allow, fail_open, fail_closed).",
                &["tenant", "filter", "action"],
            ),
            rate_limited: counter_vec(
                "llmserve_rate_limited_total",
                "Requests refused with 429 by a tenant limit (requests, tokens, concurrency).",
                &["tenant", "kind"],
            ),
            auth_failures: counter_vec("llmserve_auth_failures_total", "Requests refused with 401, by reason.", &["reason"]),
            tenant_requests: counter_vec(
                "llmserve_tenant_requests_total",
                "Generation requests by tenant and HTTP status (`anonymous` when the server runs open).",
                &["tenant", "status"],
            ),
            tenant_tokens: counter_vec(
                "llmserve_tenant_tokens_total",
                "Tokens of answered generation requests by tenant and kind (prompt, completion).",
                &["tenant", "kind"],
            ),
            config_reloads: counter_vec("llmserve_config_reloads_total", "Tenants-file reloads (SIGHUP) by result.", &["result"]),
            seen: Mutex::new(EngineCountersSeen::default()),
        };
        let build_info = IntGaugeVec::new(
            Opts::new("llmserve_build_info", "Constant 1, labelled with the server version (and, like every series, the model)."),
            &["version"],
        )
        .expect("valid gauge");
        build_info.with_label_values(&[version]).set(1);
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.time_to_first_token.clone()),
            Box::new(m.inter_token_latency.clone()),
            Box::new(m.e2e_request_latency.clone()),
            Box::new(m.queue_time.clone()),
            Box::new(m.requests.clone()),
            Box::new(m.finished.clone()),
            Box::new(m.prompt_tokens.clone()),
            Box::new(m.generation_tokens.clone()),
            Box::new(m.requests_in_flight.clone()),
            Box::new(m.running.clone()),
            Box::new(m.waiting.clone()),
            Box::new(m.kv_cache_usage.clone()),
            Box::new(m.kv_cache_free_blocks.clone()),
            Box::new(m.kv_cache_total_blocks.clone()),
            Box::new(m.preemptions.clone()),
            Box::new(m.prefix_cache_queries.clone()),
            Box::new(m.prefix_cache_hits.clone()),
            Box::new(m.engine_step_errors.clone()),
            Box::new(m.engine_alive.clone()),
            Box::new(m.safety_events.clone()),
            Box::new(m.rate_limited.clone()),
            Box::new(m.auth_failures.clone()),
            Box::new(m.tenant_requests.clone()),
            Box::new(m.tenant_tokens.clone()),
            Box::new(m.config_reloads.clone()),
            Box::new(build_info),
        ];
        for c in collectors {
            m.registry.register(c).expect("metric names are unique");
        }
        // GPU gauges (NVML), read at every gather; no series without a GPU.
        m.registry.register(Box::new(crate::gpu_metrics::GpuMetrics::detect())).expect("metric names are unique");
        m
    }

    /// Copies an engine snapshot into the engine-level series.
    pub fn observe_engine(&self, stats: &EngineStats, alive: bool) {
        self.running.set(stats.num_running as i64);
        self.waiting.set(stats.num_waiting as i64);
        self.kv_cache_usage.set(stats.kv_cache_usage);
        self.kv_cache_free_blocks.set(stats.num_free_blocks as i64);
        self.kv_cache_total_blocks.set(stats.num_blocks as i64);
        self.engine_alive.set(i64::from(alive));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let advance = |counter: &IntCounter, last: &mut u64, now: u64| {
            counter.inc_by(now.saturating_sub(*last));
            *last = (*last).max(now);
        };
        advance(&self.preemptions, &mut seen.preemptions, stats.num_preemptions);
        advance(&self.prefix_cache_queries, &mut seen.prefix_queries, stats.prefix_cache_queried_tokens);
        advance(&self.prefix_cache_hits, &mut seen.prefix_hits, stats.prefix_cache_hit_tokens);
        advance(&self.engine_step_errors, &mut seen.step_errors, stats.num_step_errors);
    }

    /// Counts one answered generation request by HTTP status.
    pub fn count_request(&self, status: u16) {
        self.requests.with_label_values(&[&status.to_string()]).inc();
    }

    /// The text exposition format of every series.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_counters_advance_by_deltas() {
        let m = Metrics::new("m", "0");
        let mut s = EngineStats { num_preemptions: 3, num_blocks: 10, num_free_blocks: 4, kv_cache_usage: 0.6, ..Default::default() };
        m.observe_engine(&s, true);
        m.observe_engine(&s, true);
        s.num_preemptions = 5;
        m.observe_engine(&s, true);
        let text = m.render();
        assert!(text.contains("llmserve_num_preemptions_total{model=\"m\"} 5"), "{text}");
        assert!(text.contains("llmserve_kv_cache_free_blocks{model=\"m\"} 4"), "{text}");
        assert!(text.contains("llmserve_kv_cache_usage_ratio{model=\"m\"} 0.6"), "{text}");
        assert!(text.contains("llmserve_build_info{version=\"0\",model=\"m\"} 1"), "{text}");
    }

    #[test]
    fn every_series_is_described() {
        let m = Metrics::new("m", "0");
        m.count_request(200);
        m.finished.with_label_values(&["stop"]).inc();
        let text = m.render();
        for name in [
            "llmserve_time_to_first_token_seconds",
            "llmserve_inter_token_latency_seconds",
            "llmserve_e2e_request_latency_seconds",
            "llmserve_queue_time_seconds",
            "llmserve_requests_total",
            "llmserve_prompt_tokens_total",
            "llmserve_generation_tokens_total",
            "llmserve_num_requests_running",
            "llmserve_num_requests_waiting",
            "llmserve_kv_cache_usage_ratio",
            "llmserve_num_preemptions_total",
            "llmserve_prefix_cache_queries_total",
            "llmserve_prefix_cache_hits_total",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name} missing:\n{text}");
        }
    }
}
