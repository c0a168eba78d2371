//! [`QuietExporter`]: the OTLP exporter with failures reported to the log at most once a minute
//! (with a count of the exports that failed since), and one line when export works again. A
//! collector that is down must not flood the log; it never affects a request (export runs on the
//! batch processor's thread, and the SDK's own internal logs are not enabled).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

/// Least time between two "export failed" log lines.
pub const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Failure bookkeeping for the rate-limited log.
#[derive(Debug, Default)]
struct FailureLog {
    /// When the last "export failed" line was written (`None` = export is healthy).
    last_logged: Option<Instant>,
    /// Failed exports and dropped spans since that line.
    failures: u64,
    dropped_spans: u64,
}

/// An exporter whose errors are logged rarely (see the module doc).
#[derive(Debug)]
pub struct QuietExporter<E> {
    inner: E,
    /// The traces URL, named in the log lines.
    url: String,
    log: Mutex<FailureLog>,
}

impl<E> QuietExporter<E> {
    pub fn new(inner: E, url: String) -> QuietExporter<E> {
        QuietExporter { inner, url, log: Mutex::default() }
    }

    /// Records one export's outcome; logs when due.
    fn record(&self, result: &OTelSdkResult, spans: usize) {
        let Ok(mut log) = self.log.lock() else { return };
        match result {
            Ok(()) => {
                if log.last_logged.take().is_some() {
                    tracing::info!(url = %self.url, "OTLP trace export works again");
                    *log = FailureLog::default();
                }
            }
            Err(e) => {
                log.failures += 1;
                log.dropped_spans += spans as u64;
                if log.last_logged.is_none_or(|t| t.elapsed() >= ERROR_LOG_INTERVAL) {
                    tracing::warn!(
                        url = %self.url,
                        error = %e,
                        failed_exports = log.failures,
                        dropped_spans = log.dropped_spans,
                        "OTLP trace export failed; spans are dropped (requests are not affected; next report in a minute at the earliest)"
                    );
                    log.last_logged = Some(Instant::now());
                    log.failures = 0;
                    log.dropped_spans = 0;
                }
            }
        }
    }
}

impl<E: SpanExporter> SpanExporter for QuietExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        self.record(&result, spans);
        result
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;

    #[test]
    fn failures_are_counted_and_reset_on_success() {
        let e = QuietExporter::new((), "http://x/v1/traces".into());
        e.record(&Err(OTelSdkError::InternalFailure("down".into())), 3);
        {
            let log = e.log.lock().unwrap();
            assert!(log.last_logged.is_some(), "the first failure is logged at once");
            assert_eq!((log.failures, log.dropped_spans), (0, 0));
        }
        e.record(&Err(OTelSdkError::InternalFailure("down".into())), 2);
        assert_eq!(e.log.lock().unwrap().failures, 1, "the second one waits for the interval");
        e.record(&Ok(()), 1);
        assert!(e.log.lock().unwrap().last_logged.is_none());
    }
}
