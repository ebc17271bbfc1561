//! The store's RPC path side by side with a bare tonic echo service, in one run:
//!
//! * `Get` of a row that is in SQLite's page cache vs `Echo` of a payload of the same size,
//!   at concurrency 1 and 16 (one shared HTTP/2 connection, as an API node uses it):
//!   throughput and p50/p99 latency, median of several interleaved runs; and the same `Get`
//!   over mutual TLS (certificates of a local CA), to show what TLS between roles costs;
//! * `BatchPut` rows/s over gRPC on SQLite and PostgreSQL (500 rows per batch);
//! * `load --dataset kepler` rows/s on SQLite and PostgreSQL (what `tiercache load` does).
//!
//! ```text
//! cargo bench -p tiercache-store --bench store_rpc [-- --runs 5 --seconds 2]
//! ```
//!
//! Under `cargo test` (no `--bench` argument) it does a tiny smoke run instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tiercache_store::dataset::{self, kepler};
use tiercache_store::grpc::echo::EchoService;
use tiercache_store::grpc::echo::proto::EchoMessage;
use tiercache_store::grpc::echo::proto::echo_client::EchoClient;
use tiercache_store::grpc::echo::proto::echo_server::EchoServer;
use tiercache_store::grpc::{ServeOptions, serve, serve_on_loopback};
use tiercache_store::{Limits, ObjectStore, Precondition, SqlOptions, SqlStore, StoreClient};
use tiercache_testkit::Postgres;
use tiercache_testkit::bench::{BenchArgs, median};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};

struct Settings {
    full: bool,
    runs: usize,
    seconds: f64,
    keys: usize,
}

fn settings() -> Settings {
    let args = BenchArgs::from_env();
    Settings {
        full: args.full,
        runs: args.value_or("--runs", 5, 1),
        seconds: args.value_or("--seconds", 2.0, 0.2),
        keys: if args.full { kepler::FULL_ROWS } else { 500 },
    }
}

/// One measured run: ops/s and latency percentiles in µs.
#[derive(Clone, Copy)]
struct Run {
    ops_per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Drives `call` from `concurrency` tasks for `seconds`; each call is timed.
async fn drive<F, Fut>(concurrency: usize, seconds: f64, call: F) -> Run
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let mut i = task as u64 * 7_919;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    call(i).await;
                    histogram.saturating_record(t.elapsed().as_micros() as u64);
                    i += 1;
                }
                histogram
            })
        })
        .collect();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for task in tasks {
        total.add(task.await.unwrap()).unwrap();
    }
    Run {
        ops_per_second: total.len() as f64 / started.elapsed().as_secs_f64(),
        p50_us: total.value_at_quantile(0.50) as f64,
        p99_us: total.value_at_quantile(0.99) as f64,
    }
}

async fn channel(address: std::net::SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap()
}

/// `Get`s of `keys` in turn through `client` from `concurrency` tasks for `seconds`.
async fn drive_gets(
    client: &StoreClient,
    keys: &Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    seconds: f64,
) -> Run {
    let (client, keys) = (client.clone(), Arc::clone(keys));
    drive(concurrency, seconds, move |i| {
        let client = client.clone();
        let keys = keys.clone();
        async move {
            let key = &keys[(i as usize) % keys.len()];
            assert!(client.get(key).await.unwrap().value().is_some());
        }
    })
    .await
}

async fn get_versus_echo(settings: &Settings) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let store = SqlStore::open(&url, SqlOptions::default()).await.unwrap();
    let rows: Vec<_> = kepler::rows(settings.keys, kepler::DEFAULT_SEED).collect();
    dataset::load(&store, rows.iter().cloned().map(Ok), 500, |_| {})
        .await
        .unwrap();
    let payload_bytes = rows.iter().map(|r| r.value.len()).sum::<usize>() / rows.len();

    let store_address = serve_on_loopback(Arc::new(store.clone())).await.unwrap();
    // The same store behind mutual TLS.
    let certs = dir.path().join("certs");
    tiercache_tls::certs::generate(&certs, &Default::default()).unwrap();
    let identity = |role: &str| {
        tiercache_tls::Identity::load(&tiercache_tls::certs::role_files(&certs, role)).unwrap()
    };
    let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_address = tls_listener.local_addr().unwrap();
    tokio::spawn(serve(
        Arc::new(store),
        tls_listener,
        ServeOptions {
            tls: Some(identity("store")),
            ..ServeOptions::default()
        },
        std::future::pending(),
    ));
    let tls_client = StoreClient::connect_as(
        &format!("https://{tls_address}"),
        Limits::default(),
        Some(&identity("api")),
    )
    .await
    .unwrap();
    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_address = echo_listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(EchoServer::new(EchoService))
            // The same socket setting as the store's server: replies leave at once.
            .serve_with_incoming(TcpIncoming::from(echo_listener).with_nodelay(Some(true))),
    );

    let client = StoreClient::connect(&store_address.to_string(), Limits::default())
        .await
        .unwrap();
    let echo = EchoClient::new(channel(echo_address).await);
    let keys: Arc<Vec<Vec<u8>>> =
        Arc::new(rows.iter().map(|r| r.key.as_bytes().to_vec()).collect());

    println!(
        "\nGet (SQLite, {} rows, values ~{payload_bytes} B) vs bare tonic Echo of {payload_bytes} B; median of {} interleaved runs of {:.1} s",
        settings.keys, settings.runs, settings.seconds
    );
    println!(
        "| concurrency | Echo ops/s | Get ops/s | Get / Echo | Echo p50 / p99 µs | Get p50 / p99 µs | Get over mTLS ops/s | mTLS / plain | mTLS p50 / p99 µs |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for concurrency in [1usize, 16] {
        let mut echo_runs = Vec::new();
        let mut get_runs = Vec::new();
        let mut tls_runs = Vec::new();
        for _ in 0..settings.runs {
            let echo = echo.clone();
            let payload = vec![7u8; payload_bytes];
            echo_runs.push(
                drive(concurrency, settings.seconds, move |_| {
                    let mut echo = echo.clone();
                    let payload = payload.clone();
                    async move {
                        echo.echo(EchoMessage { payload }).await.unwrap();
                    }
                })
                .await,
            );
            get_runs.push(drive_gets(&client, &keys, concurrency, settings.seconds).await);
            tls_runs.push(drive_gets(&tls_client, &keys, concurrency, settings.seconds).await);
        }
        let summary = |runs: &[Run]| {
            (
                median(runs.iter().map(|r| r.ops_per_second).collect()),
                median(runs.iter().map(|r| r.p50_us).collect()),
                median(runs.iter().map(|r| r.p99_us).collect()),
            )
        };
        let (echo_ops, echo_p50, echo_p99) = summary(&echo_runs);
        let (get_ops, get_p50, get_p99) = summary(&get_runs);
        let ratios: Vec<f64> = echo_runs
            .iter()
            .zip(&get_runs)
            .map(|(e, g)| g.ops_per_second / e.ops_per_second)
            .collect();
        let (tls_ops, tls_p50, tls_p99) = summary(&tls_runs);
        let tls_ratios: Vec<f64> = get_runs
            .iter()
            .zip(&tls_runs)
            .map(|(plain, tls)| tls.ops_per_second / plain.ops_per_second)
            .collect();
        println!(
            "| {concurrency} | {echo_ops:.0} | {get_ops:.0} | {:.2}× | {echo_p50:.0} / {echo_p99:.0} | {get_p50:.0} / {get_p99:.0} | {tls_ops:.0} | {:.2}× | {tls_p50:.0} / {tls_p99:.0} |",
            median(ratios),
            median(tls_ratios)
        );
    }
}

/// BatchPut over gRPC and the dataset loader, on one database URL.
async fn writes(name: &str, url: &str, settings: &Settings) {
    let store = SqlStore::open(url, SqlOptions::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(
        Arc::new(store.clone()),
        listener,
        ServeOptions::default(),
        std::future::pending(),
    ));
    let client = StoreClient::connect(&address.to_string(), Limits::default())
        .await
        .unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = kepler::rows(settings.keys, kepler::DEFAULT_SEED)
        .map(|r| (format!("batch-{}", r.key).into_bytes(), r.value))
        .collect();

    let mut batch_rates = Vec::new();
    let mut load_rates = Vec::new();
    for run in 0..settings.runs {
        let started = Instant::now();
        for chunk in rows.chunks(500) {
            client.batch_put(chunk).await.unwrap();
        }
        batch_rates.push(rows.len() as f64 / started.elapsed().as_secs_f64());

        // The loader skips unchanged rows, so each run loads under a fresh seed.
        let source = kepler::rows(settings.keys, kepler::DEFAULT_SEED + 1 + run as u64).map(Ok);
        let report = dataset::load(&store, source, dataset::DEFAULT_BATCH_ROWS, |_| {})
            .await
            .unwrap();
        assert_eq!(report.rows as usize, settings.keys);
        load_rates.push(report.rows_per_second());
    }
    assert!(client.get(b"batch-1").await.unwrap().value().is_some());
    let _ = client.put(b"probe", b"", Precondition::None).await.unwrap();
    println!(
        "| {name} | {:.0} | {:.0} |",
        median(batch_rates),
        median(load_rates)
    );
}

fn main() {
    let settings = settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        get_versus_echo(&settings).await;
        println!(
            "\nWrites: {} Kepler-like rows, 500 per batch, median of {} runs",
            settings.keys, settings.runs
        );
        println!("| database | BatchPut over gRPC rows/s | load --dataset kepler rows/s |");
        println!("|---|---:|---:|");
        let dir = tempfile::tempdir().unwrap();
        writes(
            "SQLite",
            &format!("sqlite://{}/writes.db", dir.path().display()),
            &settings,
        )
        .await;
        let server = Postgres::start().expect("PostgreSQL must start for the write benchmark");
        writes(
            "PostgreSQL",
            &server.create_database("bench").unwrap(),
            &settings,
        )
        .await;
    });
    if !settings.full {
        println!("(smoke run; pass --bench for the full measurement)");
    }
}
