//! GPU gauges from NVML (memory, utilisation, temperature, power), refreshed at scrape time.
//!
//! [`GpuMetrics`] is a Prometheus [`Collector`] registered next to [`Metrics`](crate::metrics::Metrics):
//! every `gather()` (one `/metrics` scrape) reads each GPU once through a [`GpuProbe`] — a handful of
//! NVML queries per GPU, microseconds to a millisecond, no allocation beyond the rendered families — and
//! emits only what it read. Like the DCGM exporter and vLLM's GPU panels, values are instant readings,
//! not averages. Series (all labelled `gpu`, the NVML device index):
//!
//! - `llmserve_gpu_memory_used_bytes`, `llmserve_gpu_memory_total_bytes`
//! - `llmserve_gpu_utilization_ratio` (0–1, NVML reports percent over its last sample period)
//! - `llmserve_gpu_temperature_celsius` (die sensor)
//! - `llmserve_gpu_power_watts` (NVML reports milliwatts)
//! - `llmserve_gpu_info{gpu,name,uuid}` = 1
//!
//! NVML is loaded at run time (`nvml-wrapper` dlopens `libnvidia-ml.so.1`), so builds and machines
//! without NVIDIA drivers work: without the library, without a device or when `nvmlInit` fails there
//! are no `llmserve_gpu_*` series at all and one info line at startup says why. A read that fails for
//! one field (e.g. power on a board without a sensor, utilisation under MIG) drops only that series for
//! that GPU and warns once per field per collector (one per process in `serve`), never per scrape.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::Nvml;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, Opts};

/// Why one reading failed (the probe's own message, e.g. NVML's `NotSupported`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(pub String);

/// Memory of one GPU in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuMemory {
    pub used: u64,
    pub total: u64,
}

/// What the gauges read from one GPU, field by field; each read may fail on its own. The seam that lets
/// the gauge logic be tested without a GPU (NVML in production, a fake in tests).
pub trait GpuProbe: Send + Sync {
    /// GPUs to report, indexed `0..count` (fixed at detection: GPUs do not come and go under a server).
    fn device_count(&self) -> u32;
    fn name(&self, gpu: u32) -> Result<String, ProbeError>;
    fn uuid(&self, gpu: u32) -> Result<String, ProbeError>;
    fn memory(&self, gpu: u32) -> Result<GpuMemory, ProbeError>;
    /// Percent (0–100) of the last sample period during which a kernel ran.
    fn utilization_percent(&self, gpu: u32) -> Result<u32, ProbeError>;
    fn temperature_celsius(&self, gpu: u32) -> Result<u32, ProbeError>;
    fn power_milliwatts(&self, gpu: u32) -> Result<u32, ProbeError>;
}

/// The real probe: NVML through `nvml-wrapper` (a device handle lookup per read is a cheap table index).
pub struct NvmlProbe {
    nvml: Nvml,
    devices: u32,
}

impl NvmlProbe {
    fn device(&self, gpu: u32) -> Result<nvml_wrapper::Device<'_>, ProbeError> {
        self.nvml.device_by_index(gpu).map_err(nvml_error)
    }
}

fn nvml_error(e: nvml_wrapper::error::NvmlError) -> ProbeError {
    ProbeError(e.to_string())
}

impl GpuProbe for NvmlProbe {
    fn device_count(&self) -> u32 {
        self.devices
    }
    fn name(&self, gpu: u32) -> Result<String, ProbeError> {
        self.device(gpu)?.name().map_err(nvml_error)
    }
    fn uuid(&self, gpu: u32) -> Result<String, ProbeError> {
        self.device(gpu)?.uuid().map_err(nvml_error)
    }
    fn memory(&self, gpu: u32) -> Result<GpuMemory, ProbeError> {
        let m = self.device(gpu)?.memory_info().map_err(nvml_error)?;
        Ok(GpuMemory { used: m.used, total: m.total })
    }
    fn utilization_percent(&self, gpu: u32) -> Result<u32, ProbeError> {
        Ok(self.device(gpu)?.utilization_rates().map_err(nvml_error)?.gpu)
    }
    fn temperature_celsius(&self, gpu: u32) -> Result<u32, ProbeError> {
        self.device(gpu)?.temperature(TemperatureSensor::Gpu).map_err(nvml_error)
    }
    fn power_milliwatts(&self, gpu: u32) -> Result<u32, ProbeError> {
        self.device(gpu)?.power_usage().map_err(nvml_error)
    }
}

/// NVML, initialised once per process (also where the one startup line comes from); `None` without it.
fn nvml_probe() -> Option<Arc<dyn GpuProbe>> {
    static PROBE: OnceLock<Option<Arc<dyn GpuProbe>>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let nvml = match Nvml::init() {
                Ok(nvml) => nvml,
                Err(e) => {
                    tracing::info!(reason = %e, "no GPU metrics: NVML is not available");
                    return None;
                }
            };
            match nvml.device_count() {
                Ok(0) => {
                    tracing::info!("no GPU metrics: NVML found no GPU");
                    None
                }
                Err(e) => {
                    tracing::info!(reason = %e, "no GPU metrics: NVML cannot count GPUs");
                    None
                }
                Ok(devices) => {
                    let driver = nvml.sys_driver_version().unwrap_or_else(|e| format!("unknown ({e})"));
                    tracing::info!(gpus = devices, driver = %driver, "GPU metrics from NVML");
                    Some(Arc::new(NvmlProbe { nvml, devices }) as Arc<dyn GpuProbe>)
                }
            }
        })
        .clone()
}

/// One reading kind; a bit each in the warned-once mask.
#[derive(Debug, Clone, Copy)]
enum Field {
    Info,
    Memory,
    Utilization,
    Temperature,
    Power,
}

impl Field {
    fn bit(self) -> u8 {
        1 << self as u8
    }
    fn name(self) -> &'static str {
        match self {
            Field::Info => "name/uuid",
            Field::Memory => "memory",
            Field::Utilization => "utilization",
            Field::Temperature => "temperature",
            Field::Power => "power",
        }
    }
}

/// The GPU series; a [`Collector`] that reads the probe on every `collect` (scrape).
pub struct GpuMetrics {
    /// `None`: no NVML / no GPU; the collector then yields nothing.
    probe: Option<Arc<dyn GpuProbe>>,
    memory_used: GaugeVec,
    memory_total: GaugeVec,
    utilization: GaugeVec,
    temperature: GaugeVec,
    power: GaugeVec,
    info: GaugeVec,
    /// Fields already warned about (bit per [`Field`]). The lock also serialises reset → read → collect,
    /// so concurrent scrapes never see each other's half-filled gauges.
    warned: Mutex<u8>,
    /// Warnings logged so far (tests check "once per field, never per scrape").
    warnings: AtomicU32,
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge")
}

impl GpuMetrics {
    /// The collector over the machine's GPUs through NVML (nothing without NVML or a GPU).
    pub fn detect() -> GpuMetrics {
        GpuMetrics::new(nvml_probe())
    }

    /// The collector over `probe` (`None`: no GPU series).
    pub fn new(probe: Option<Arc<dyn GpuProbe>>) -> GpuMetrics {
        GpuMetrics {
            probe,
            memory_used: gauge_vec("llmserve_gpu_memory_used_bytes", "GPU memory in use (all processes), bytes.", &["gpu"]),
            memory_total: gauge_vec("llmserve_gpu_memory_total_bytes", "GPU memory installed, bytes.", &["gpu"]),
            utilization: gauge_vec(
                "llmserve_gpu_utilization_ratio",
                "Fraction (0-1) of NVML's last sample period during which a kernel ran on the GPU.",
                &["gpu"],
            ),
            temperature: gauge_vec("llmserve_gpu_temperature_celsius", "GPU die temperature, degrees Celsius.", &["gpu"]),
            power: gauge_vec("llmserve_gpu_power_watts", "GPU board power draw, watts.", &["gpu"]),
            info: gauge_vec("llmserve_gpu_info", "Constant 1 per GPU, labelled with its name and UUID.", &["gpu", "name", "uuid"]),
            warned: Mutex::new(0),
            warnings: AtomicU32::new(0),
        }
    }

    /// Whether a GPU is being reported.
    pub fn enabled(&self) -> bool {
        self.probe.is_some()
    }

    /// Warnings logged so far (at most one per field).
    pub fn warnings_logged(&self) -> u32 {
        self.warnings.load(Ordering::Relaxed)
    }

    fn gauges(&self) -> [&GaugeVec; 6] {
        [&self.memory_used, &self.memory_total, &self.utilization, &self.temperature, &self.power, &self.info]
    }

    /// Sets every series from one read of each GPU; a failed read leaves its series out.
    fn refresh(&self, probe: &dyn GpuProbe, warned: &mut u8) {
        for g in self.gauges() {
            g.reset();
        }
        for gpu in 0..probe.device_count() {
            let label = gpu.to_string();
            let l = [label.as_str()];
            let mut failed = |field: Field, e: ProbeError| {
                if *warned & field.bit() == 0 {
                    *warned |= field.bit();
                    self.warnings.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(gpu, field = field.name(), error = %e, "cannot read a GPU metric: leaving it out (not repeated)");
                }
            };
            match probe.name(gpu).and_then(|name| Ok((name, probe.uuid(gpu)?))) {
                Ok((name, uuid)) => self.info.with_label_values(&[label.as_str(), &name, &uuid]).set(1.0),
                Err(e) => failed(Field::Info, e),
            }
            match probe.memory(gpu) {
                Ok(m) => {
                    self.memory_used.with_label_values(&l).set(m.used as f64);
                    self.memory_total.with_label_values(&l).set(m.total as f64);
                }
                Err(e) => failed(Field::Memory, e),
            }
            match probe.utilization_percent(gpu) {
                Ok(p) => self.utilization.with_label_values(&l).set(f64::from(p) / 100.0),
                Err(e) => failed(Field::Utilization, e),
            }
            match probe.temperature_celsius(gpu) {
                Ok(c) => self.temperature.with_label_values(&l).set(f64::from(c)),
                Err(e) => failed(Field::Temperature, e),
            }
            match probe.power_milliwatts(gpu) {
                Ok(mw) => self.power.with_label_values(&l).set(f64::from(mw) / 1000.0),
                Err(e) => failed(Field::Power, e),
            }
        }
    }
}

impl Collector for GpuMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges().into_iter().flat_map(|g| g.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(probe) = &self.probe else { return Vec::new() };
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(probe.as_ref(), &mut warned);
        // A family whose every read failed is left out (a family with no samples is no series).
        self.gauges().into_iter().flat_map(|g| g.collect()).filter(|f| !f.get_metric().is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, Registry, TextEncoder};

    /// One fake GPU: `None` fields fail to read.
    #[derive(Clone)]
    struct FakeGpu {
        name: Option<&'static str>,
        memory: Option<GpuMemory>,
        utilization: Option<u32>,
        temperature: Option<u32>,
        power_mw: Option<u32>,
    }

    const H100: FakeGpu = FakeGpu {
        name: Some("NVIDIA H100 80GB HBM3"),
        memory: Some(GpuMemory { used: 1_073_741_824, total: 85_520_809_984 }),
        utilization: Some(37),
        temperature: Some(41),
        power_mw: Some(71_250),
    };

    struct FakeProbe(Mutex<Vec<FakeGpu>>);

    impl FakeProbe {
        fn gpu(&self, gpu: u32) -> FakeGpu {
            self.0.lock().unwrap()[gpu as usize].clone()
        }
    }

    fn read<T: Clone>(v: &Option<T>) -> Result<T, ProbeError> {
        v.clone().ok_or_else(|| ProbeError("NotSupported".into()))
    }

    impl GpuProbe for FakeProbe {
        fn device_count(&self) -> u32 {
            self.0.lock().unwrap().len() as u32
        }
        fn name(&self, gpu: u32) -> Result<String, ProbeError> {
            read(&self.gpu(gpu).name).map(String::from)
        }
        fn uuid(&self, gpu: u32) -> Result<String, ProbeError> {
            Ok(format!("GPU-0000-{gpu}"))
        }
        fn memory(&self, gpu: u32) -> Result<GpuMemory, ProbeError> {
            read(&self.gpu(gpu).memory)
        }
        fn utilization_percent(&self, gpu: u32) -> Result<u32, ProbeError> {
            read(&self.gpu(gpu).utilization)
        }
        fn temperature_celsius(&self, gpu: u32) -> Result<u32, ProbeError> {
            read(&self.gpu(gpu).temperature)
        }
        fn power_milliwatts(&self, gpu: u32) -> Result<u32, ProbeError> {
            read(&self.gpu(gpu).power_mw)
        }
    }

    fn render(registry: &Registry) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&registry.gather(), &mut buffer).unwrap();
        String::from_utf8(buffer).unwrap()
    }

    /// Registers a shared collector, so a test can look at its warnings after scraping.
    struct Shared(Arc<GpuMetrics>);
    impl Collector for Shared {
        fn desc(&self) -> Vec<&Desc> {
            self.0.desc()
        }
        fn collect(&self) -> Vec<MetricFamily> {
            self.0.collect()
        }
    }

    fn registered(gpus: Vec<FakeGpu>) -> (Registry, Arc<GpuMetrics>) {
        let gpu = Arc::new(GpuMetrics::new(Some(Arc::new(FakeProbe(Mutex::new(gpus))))));
        let registry = Registry::new();
        registry.register(Box::new(Shared(Arc::clone(&gpu)))).unwrap();
        (registry, gpu)
    }

    #[test]
    fn values_and_unit_conversions() {
        let (registry, gpu) = registered(vec![H100, FakeGpu { utilization: Some(100), power_mw: Some(700_000), ..H100 }]);
        let text = render(&registry);
        for line in [
            "llmserve_gpu_memory_used_bytes{gpu=\"0\"} 1073741824",
            "llmserve_gpu_memory_total_bytes{gpu=\"0\"} 85520809984",
            "llmserve_gpu_utilization_ratio{gpu=\"0\"} 0.37",
            "llmserve_gpu_utilization_ratio{gpu=\"1\"} 1",
            "llmserve_gpu_temperature_celsius{gpu=\"0\"} 41",
            "llmserve_gpu_power_watts{gpu=\"0\"} 71.25",
            "llmserve_gpu_power_watts{gpu=\"1\"} 700",
            "llmserve_gpu_info{gpu=\"1\",name=\"NVIDIA H100 80GB HBM3\",uuid=\"GPU-0000-1\"} 1",
            "# HELP llmserve_gpu_memory_used_bytes ",
            "# TYPE llmserve_gpu_power_watts gauge",
        ] {
            assert!(text.contains(line), "{line:?} missing:\n{text}");
        }
        assert_eq!(gpu.warnings_logged(), 0);
    }

    #[test]
    fn a_failing_field_drops_only_its_series_and_warns_once() {
        let (registry, gpu) = registered(vec![H100, FakeGpu { power_mw: None, memory: None, ..H100 }]);
        for _ in 0..3 {
            let text = render(&registry);
            assert!(text.contains("llmserve_gpu_power_watts{gpu=\"0\"} 71.25"), "{text}");
            assert!(!text.contains("llmserve_gpu_power_watts{gpu=\"1\"}"), "{text}");
            assert!(!text.contains("llmserve_gpu_memory_used_bytes{gpu=\"1\"}"), "{text}");
            assert!(!text.contains("llmserve_gpu_memory_total_bytes{gpu=\"1\"}"), "{text}");
            assert!(text.contains("llmserve_gpu_temperature_celsius{gpu=\"1\"} 41"), "{text}");
            assert!(text.contains("llmserve_gpu_info{gpu=\"1\""), "{text}");
        }
        // Two fields failed, three scrapes: one warning per field.
        assert_eq!(gpu.warnings_logged(), 2);
    }

    #[test]
    fn a_failing_name_drops_only_the_info_series() {
        let gpu = GpuMetrics::new(Some(Arc::new(FakeProbe(Mutex::new(vec![FakeGpu { name: None, ..H100 }])))));
        let families = gpu.collect();
        assert!(families.iter().all(|f| f.name() != "llmserve_gpu_info"));
        assert!(families.iter().any(|f| f.name() == "llmserve_gpu_power_watts"));
    }

    #[test]
    fn each_scrape_reports_only_what_it_read() {
        let probe = Arc::new(FakeProbe(Mutex::new(vec![H100])));
        let gpu = GpuMetrics::new(Some(Arc::clone(&probe) as Arc<dyn GpuProbe>));
        let has_power = |gpu: &GpuMetrics| gpu.collect().iter().any(|f| f.name() == "llmserve_gpu_power_watts");
        assert!(has_power(&gpu));
        probe.0.lock().unwrap()[0].power_mw = None;
        assert!(!has_power(&gpu), "a stale power reading must not linger");
        probe.0.lock().unwrap()[0].power_mw = Some(1000);
        assert!(has_power(&gpu));
        assert_eq!(gpu.warnings_logged(), 1);
    }

    /// The real NVML path, where there is a GPU (skips with a reason elsewhere).
    #[test]
    fn nvml_reports_every_gpu_it_sees() {
        let gpu = GpuMetrics::detect();
        if !gpu.enabled() {
            eprintln!("skipped: no NVML / no GPU on this machine");
            return;
        }
        let registry = Registry::new();
        registry.register(Box::new(gpu)).unwrap();
        let text = render(&registry);
        for series in ["llmserve_gpu_memory_total_bytes{gpu=\"0\"}", "llmserve_gpu_memory_used_bytes{gpu=\"0\"}", "llmserve_gpu_info{gpu=\"0\""] {
            assert!(text.contains(series), "{series} missing:\n{text}");
        }
        eprintln!("{text}");
    }

    #[test]
    fn without_a_gpu_nothing_is_rendered() {
        for probe in [None, Some(Arc::new(FakeProbe(Mutex::new(vec![]))) as Arc<dyn GpuProbe>)] {
            let registry = Registry::new();
            registry.register(Box::new(GpuMetrics::new(probe))).unwrap();
            assert!(!render(&registry).contains("llmserve_gpu_"));
        }
        // The server's registry: no GPU series on a machine without NVML (this one, in CI).
        let text = crate::metrics::Metrics::new("m", "0").render();
        assert!(text.contains("llmserve_build_info"), "{text}");
        if !GpuMetrics::detect().enabled() {
            assert!(!text.contains("llmserve_gpu_"), "{text}");
        }
    }
}
