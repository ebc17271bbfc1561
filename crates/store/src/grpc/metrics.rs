//! What the store's gRPC server counts, for its `/metrics`: every call by method and gRPC
//! status code, and the time to each answer by method. A tower layer ([`RpcMetrics::layer`])
//! around the whole server sees every call before any service does, so nothing it serves
//! goes uncounted.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tiercache_core::metrics::{Family, HistogramSample, labels};
use tonic::codegen::http;

/// Upper bounds of the latency buckets: 100 µs to 10 s, three per decade.
const EDGES: [f64; 16] = [
    0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    10.0,
];

/// One method's answer times.
#[derive(Debug, Default, Clone)]
struct Latency {
    /// Answers at or below each edge (cumulative).
    below: [u64; EDGES.len()],
    sum: f64,
    count: u64,
}

impl Latency {
    fn record(&mut self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (edge, below) in EDGES.iter().zip(self.below.iter_mut()) {
            if seconds <= *edge {
                *below += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Calls by (method, code) and answer times by method, since the server started.
#[derive(Debug, Default)]
pub struct RpcMetrics {
    calls: Mutex<BTreeMap<(String, String), u64>>,
    latency: Mutex<BTreeMap<String, Latency>>,
}

impl RpcMetrics {
    /// A layer that counts every call into these metrics.
    pub fn layer(self: &Arc<Self>) -> RpcMetricsLayer {
        RpcMetricsLayer(Arc::clone(self))
    }

    fn record(&self, path: &str, code: &str, took: Duration) {
        // `/tiercache.store.v1.ObjectStore/Get` → `ObjectStore/Get`.
        let method = path
            .trim_start_matches('/')
            .rsplit_once('.')
            .map_or(path, |(_, method)| method)
            .to_owned();
        *self
            .calls
            .lock()
            .entry((method.clone(), code.to_owned()))
            .or_default() += 1;
        self.latency.lock().entry(method).or_default().record(took);
    }

    /// The families of `/metrics`: `tiercache_store_rpcs_total{method,code}` and
    /// `tiercache_store_rpc_seconds{method}`.
    pub fn families(&self) -> Vec<Family> {
        let calls = self
            .calls
            .lock()
            .iter()
            .map(|((method, code), count)| (labels(&[("method", method), ("code", code)]), *count))
            .collect();
        let latency = self
            .latency
            .lock()
            .iter()
            .map(|(method, latency)| {
                let sample = HistogramSample {
                    buckets: EDGES.iter().copied().zip(latency.below).collect(),
                    sum: latency.sum,
                    count: latency.count,
                };
                (labels(&[("method", method)]), sample)
            })
            .collect();
        vec![
            Family::Counter {
                name: "tiercache_store_rpcs",
                help: "gRPC calls answered, by method and gRPC status code (OK, NOT_FOUND, UNAVAILABLE, ...).",
                samples: calls,
            },
            Family::Histogram {
                name: "tiercache_store_rpc_seconds",
                help: "Time from a call's arrival to its answer, by method.",
                samples: latency,
            },
        ]
    }
}

/// The name of a gRPC status code as a number in a `grpc-status` header.
fn code_name(code: &str) -> &'static str {
    match code.parse::<i32>().map(tonic::Code::from) {
        Ok(tonic::Code::Ok) => "OK",
        Ok(tonic::Code::Cancelled) => "CANCELLED",
        Ok(tonic::Code::InvalidArgument) => "INVALID_ARGUMENT",
        Ok(tonic::Code::DeadlineExceeded) => "DEADLINE_EXCEEDED",
        Ok(tonic::Code::NotFound) => "NOT_FOUND",
        Ok(tonic::Code::AlreadyExists) => "ALREADY_EXISTS",
        Ok(tonic::Code::PermissionDenied) => "PERMISSION_DENIED",
        Ok(tonic::Code::ResourceExhausted) => "RESOURCE_EXHAUSTED",
        Ok(tonic::Code::FailedPrecondition) => "FAILED_PRECONDITION",
        Ok(tonic::Code::Aborted) => "ABORTED",
        Ok(tonic::Code::OutOfRange) => "OUT_OF_RANGE",
        Ok(tonic::Code::Unimplemented) => "UNIMPLEMENTED",
        Ok(tonic::Code::Internal) => "INTERNAL",
        Ok(tonic::Code::Unavailable) => "UNAVAILABLE",
        Ok(tonic::Code::DataLoss) => "DATA_LOSS",
        Ok(tonic::Code::Unauthenticated) => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// The tower layer of [`RpcMetrics::layer`].
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer(Arc<RpcMetrics>);

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> RpcMetricsService<S> {
        RpcMetricsService {
            inner,
            metrics: Arc::clone(&self.0),
        }
    }
}

/// A service counted by [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let metrics = Arc::clone(&self.metrics);
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            if let Ok(response) = &answer {
                // Errors are answered "trailers-only": the status is in the headers. An
                // answer without it carried a message, and its status OK in the trailers.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok())
                    .map_or("OK", code_name);
                metrics.record(&path, code, started.elapsed());
            }
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_method_and_code_with_cumulative_buckets() {
        let metrics = RpcMetrics::default();
        metrics.record(
            "/tiercache.store.v1.ObjectStore/Get",
            "OK",
            Duration::from_micros(150),
        );
        metrics.record(
            "/tiercache.store.v1.ObjectStore/Get",
            "NOT_FOUND",
            Duration::from_millis(3),
        );
        let text = tiercache_core::metrics::render(metrics.families());
        for line in [
            "tiercache_store_rpcs_total{method=\"ObjectStore/Get\",code=\"OK\"} 1",
            "tiercache_store_rpcs_total{method=\"ObjectStore/Get\",code=\"NOT_FOUND\"} 1",
            "tiercache_store_rpc_seconds_bucket{method=\"ObjectStore/Get\",le=\"0.0002\"} 1",
            "tiercache_store_rpc_seconds_bucket{method=\"ObjectStore/Get\",le=\"0.005\"} 2",
            "tiercache_store_rpc_seconds_count{method=\"ObjectStore/Get\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert_eq!(code_name("5"), "NOT_FOUND");
        assert_eq!(code_name("x"), "UNKNOWN");
    }
}
