//! The API's read path side by side with baselines, in one run, same client:
//!
//! * a **near-cache hit** over HTTP vs a bare axum handler that returns the same JSON from a
//!   hash map (same route shape, same bytes, same connection handling), and the same node
//!   behind bearer tokens (`--auth-tokens`: the client sends a `read` token) and over TLS
//!   (the node serves a certificate of a local CA, the client checks it; each worker keeps
//!   its connection, so the handshake is paid once) to show what each costs;
//! * a **shared-tier hit** (near cache disabled, tier on a local redis-server) vs
//!   `redis-benchmark -t get` at the same concurrency and value size, with the node's own
//!   time for the Redis round trip (from its counters) to show where the time goes.
//!
//! The client is tiercache's load generator (one HTTP/1.1 keep-alive connection per
//! worker, uniform keys over the Kepler-like dataset). Runs are interleaved and the median
//! of several is reported.
//!
//! ```text
//! cargo bench -p tiercache-api --bench http_api [-- --runs 5 --requests 40000]
//! ```
//!
//! Under `cargo test` (no `--bench` argument) it does a tiny smoke run instead.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use bytes::Bytes;
use tiercache_api::{Access, ApiOptions};
use tiercache_bench::http_load::{self, KeyDistribution, LoadReport, LoadSpec};
use tiercache_core::{Secret, Tokens};
use tiercache_node::{Node, NodeOptions};
use tiercache_store::dataset::{self, kepler};
use tiercache_store::{SqlOptions, SqlStore, Store};
use tiercache_testkit::RedisServer;
use tiercache_testkit::bench::{BenchArgs, median};
use tiercache_tier::TierOptions;

struct Settings {
    full: bool,
    runs: usize,
    requests: u64,
    keys: usize,
}

fn settings() -> Settings {
    let args = BenchArgs::from_env();
    Settings {
        full: args.full,
        runs: args.value_or("--runs", 5, 1),
        requests: args.value_or("--requests", 40_000, 300),
        keys: if args.full { kepler::FULL_ROWS } else { 200 },
    }
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(tiercache_api::serve(
        listener,
        router,
        std::future::pending(),
    ));
    address
}

async fn node_api(
    store: Arc<dyn Store>,
    tier_url: Option<&str>,
    near: u64,
) -> (SocketAddr, Arc<Node>) {
    let tier = match tier_url {
        Some(url) => Some(
            tiercache_tier::open(url, &TierOptions::default())
                .await
                .unwrap(),
        ),
        None => None,
    };
    let options = NodeOptions {
        near_capacity_bytes: near,
        ..NodeOptions::default()
    };
    let node = Arc::new(Node::new(store, tier, &options).unwrap());
    let address = serve(tiercache_api::router(
        Arc::clone(&node),
        ApiOptions::default(),
    ))
    .await;
    (address, node)
}

/// The baseline: the same answers, pre-rendered, from a hash map.
async fn bare_axum(bodies: HashMap<String, Bytes>) -> SocketAddr {
    async fn handler(
        State(bodies): State<Arc<HashMap<String, Bytes>>>,
        Path(key): Path<String>,
    ) -> axum::response::Response {
        match bodies.get(&key) {
            Some(body) => ([(CONTENT_TYPE, "application/json")], body.clone()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let router = axum::Router::new()
        .route("/v1/objects/{key}", axum::routing::get(handler))
        .with_state(Arc::new(bodies));
    serve(router).await
}

async fn load(
    target: SocketAddr,
    keys: usize,
    requests: u64,
    concurrency: usize,
    token: Option<&Secret>,
) -> LoadReport {
    load_over(target, keys, requests, concurrency, token, None).await
}

async fn load_over(
    target: SocketAddr,
    keys: usize,
    requests: u64,
    concurrency: usize,
    token: Option<&Secret>,
    tls: Option<&tiercache_tls::Identity>,
) -> LoadReport {
    let spec = LoadSpec {
        targets: vec![target],
        distribution: KeyDistribution::Uniform,
        keys: keys as u64,
        requests,
        concurrency,
        write_ratio: 0.0,
        seed: 42,
        max_duration: Duration::from_secs(120),
        check_staleness: false,
        token: token.cloned(),
        tls: tls.cloned(),
    };
    let report = http_load::run(&spec, Arc::new(AtomicU64::new(0)))
        .await
        .unwrap();
    assert_eq!(report.error_count(), 0, "{report:?}");
    report
}

/// `redis-benchmark -t get` with values of `size` bytes over `keys` keys: (ops/s, p50 µs).
fn redis_benchmark(
    port: u16,
    requests: u64,
    concurrency: usize,
    size: usize,
    keys: usize,
) -> (f64, f64) {
    let output = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "set,get",
            "--csv",
        ])
        .args(["-n", &requests.to_string(), "-c", &concurrency.to_string()])
        .args(["-d", &size.to_string(), "-r", &keys.to_string()])
        .output()
        .expect("redis-benchmark runs (Debian package redis-tools)");
    let text = String::from_utf8_lossy(&output.stdout);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
    let line = text
        .lines()
        .find(|l| l.starts_with("\"GET\""))
        .unwrap_or_else(|| panic!("no GET line in redis-benchmark output: {text}"));
    let fields: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(0.0))
        .collect();
    (fields[0], fields[3] * 1000.0)
}

/// Reads every row once through `node`, so the measured reads all hit the tier under test.
async fn warm(node: &Node, rows: &[dataset::Row]) {
    for row in rows {
        node.get(row.key.as_bytes()).await.unwrap().unwrap();
    }
}

fn main() {
    let settings = settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/store.db", dir.path().display());
        let store: Arc<dyn Store> =
            Arc::new(SqlStore::open(&db, SqlOptions::default()).await.unwrap());
        let rows: Vec<_> = kepler::rows(settings.keys, kepler::DEFAULT_SEED).collect();
        let value_size = rows.iter().map(|r| r.value.len()).sum::<usize>() / rows.len();
        dataset::load(store.as_ref(), rows.iter().cloned().map(Ok), 500, |_| {})
            .await
            .unwrap();

        // Near-cache hits: warm every key first.
        let (near_api, near_node) = node_api(Arc::clone(&store), Some("memory://"), 64 << 20).await;
        warm(&near_node, &rows).await;
        let mut bodies = HashMap::new();
        for row in &rows {
            let body = format!(
                r#"{{"key":"{}","value":{},"version":1,"source":"near","micros":0.6}}"#,
                row.key,
                String::from_utf8_lossy(&row.value)
            );
            bodies.insert(row.key.clone(), Bytes::from(body));
        }
        let bare = bare_axum(bodies).await;
        // The same node behind tokens: a file of ten, the client's among them.
        let token = Secret::new("reader-token-0123456789abcdef");
        let file: String = (0..9)
            .map(|i| format!("other-token-{i:02}-0123456789 read,write\n"))
            .chain([format!("{} read\n", token.expose())])
            .collect();
        let secured_api = serve(tiercache_api::router(
            Arc::clone(&near_node),
            ApiOptions {
                access: Access {
                    tokens: Some(Arc::new(Tokens::parse(&file).unwrap())),
                    ..Access::default()
                },
                ..ApiOptions::default()
            },
        ))
        .await;

        // The same node over TLS, with certificates of a local CA.
        let certs = dir.path().join("certs");
        tiercache_tls::certs::generate(&certs, &Default::default()).unwrap();
        let server_identity =
            tiercache_tls::Identity::load(&tiercache_tls::certs::role_files(&certs, "api"))
                .unwrap();
        let client_identity = tiercache_tls::Identity::load(&tiercache_tls::TlsFiles {
            ca: certs.join("ca.pem"),
            cert: None,
            key: None,
        })
        .unwrap();
        let tls_api = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let router = tiercache_api::router(Arc::clone(&near_node), ApiOptions::default());
            tokio::spawn(async move {
                tiercache_api::serve_with(
                    listener,
                    router,
                    tiercache_api::ServeLimits::default(),
                    Some(&server_identity),
                    std::future::pending(),
                )
                .await
            });
            address
        };

        println!(
            "near-cache hit over HTTP vs a bare axum handler, {} keys, {value_size}-byte rows, \
             {} requests per run, median of {} interleaved runs",
            settings.keys, settings.requests, settings.runs
        );
        println!(
            "{:>11} {:>12} {:>12} {:>7} {:>10} {:>10} {:>13} {:>15} {:>12} {:>10} {:>11} {:>9}",
            "concurrency",
            "api req/s",
            "axum req/s",
            "ratio",
            "api p50",
            "axum p50",
            "tokens req/s",
            "tokens / open",
            "tokens p50",
            "tls req/s",
            "tls / open",
            "tls p50"
        );
        for concurrency in [1usize, 16] {
            let (mut ours, mut theirs, mut secured) = (vec![], vec![], vec![]);
            let (mut our_p50, mut their_p50, mut secured_p50) = (vec![], vec![], vec![]);
            let mut cost = vec![];
            let (mut tls, mut tls_p50, mut tls_cost) = (vec![], vec![], vec![]);
            for _ in 0..settings.runs {
                let a = load(near_api, settings.keys, settings.requests, concurrency, None).await;
                assert!(a.hits.near_ratio > 0.99, "not all near hits: {a:?}");
                let b = load(bare, settings.keys, settings.requests, concurrency, None).await;
                let c = load(
                    secured_api,
                    settings.keys,
                    settings.requests,
                    concurrency,
                    Some(&token),
                )
                .await;
                assert!(c.hits.near_ratio > 0.99, "not all near hits: {c:?}");
                let d = load_over(
                    tls_api,
                    settings.keys,
                    settings.requests,
                    concurrency,
                    None,
                    Some(&client_identity),
                )
                .await;
                assert!(d.hits.near_ratio > 0.99, "not all near hits: {d:?}");
                tls.push(d.throughput);
                tls_p50.push(d.latency.p50_us);
                tls_cost.push(d.throughput / a.throughput);
                ours.push(a.throughput);
                theirs.push(b.throughput);
                secured.push(c.throughput);
                cost.push(c.throughput / a.throughput);
                our_p50.push(a.latency.p50_us);
                their_p50.push(b.latency.p50_us);
                secured_p50.push(c.latency.p50_us);
            }
            let (ours, theirs) = (median(ours), median(theirs));
            println!(
                "{concurrency:>11} {ours:>12.0} {theirs:>12.0} {:>6.2}x {:>8.0}µs {:>8.0}µs {:>13.0} {:>14.2}x {:>10.0}µs {:>10.0} {:>10.2}x {:>7.0}µs",
                ours / theirs,
                median(our_p50),
                median(their_p50),
                median(secured),
                median(cost),
                median(secured_p50),
                median(tls),
                median(tls_cost),
                median(tls_p50)
            );
        }

        // Shared-tier hits on a real redis-server, near cache off.
        let redis = RedisServer::start().unwrap();
        let tier_url = format!("redis://{}", redis.address());
        let (shared_api, shared_node) = node_api(Arc::clone(&store), Some(&tier_url), 0).await;
        warm(&shared_node, &rows).await;
        println!();
        println!(
            "shared-tier hit (near cache off, redis://) vs redis-benchmark -t get -d {value_size}, \
             median of {} runs",
            settings.runs
        );
        println!(
            "{:>11} {:>12} {:>12} {:>7} {:>10} {:>12} {:>10}",
            "concurrency", "api req/s", "redis ops/s", "ratio", "api p50", "in node", "redis p50"
        );
        for concurrency in [1usize, 16] {
            let (mut ours, mut theirs) = (vec![], vec![]);
            let (mut our_p50, mut their_p50, mut inside) = (vec![], vec![], vec![]);
            for _ in 0..settings.runs {
                let a = load(shared_api, settings.keys, settings.requests, concurrency, None).await;
                assert!(a.hits.shared_ratio > 0.99, "not all shared hits: {a:?}");
                // The node's own time per shared hit (cumulative since start).
                inside.push(shared_node.stats().latency.shared.p50_us);
                let (ops, p50) = redis_benchmark(
                    redis.port(),
                    settings.requests,
                    concurrency,
                    value_size,
                    settings.keys,
                );
                ours.push(a.throughput);
                theirs.push(ops);
                our_p50.push(a.latency.p50_us);
                their_p50.push(p50);
            }
            let (ours, theirs) = (median(ours), median(theirs));
            println!(
                "{concurrency:>11} {ours:>12.0} {theirs:>12.0} {:>6.2}x {:>8.0}µs {:>10.0}µs {:>8.0}µs",
                ours / theirs,
                median(our_p50),
                median(inside),
                median(their_p50)
            );
        }
        if !settings.full {
            println!("(smoke run: pass --bench for real figures)");
        }
    });
}
