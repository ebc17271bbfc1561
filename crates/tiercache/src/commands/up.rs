//! `tiercache up`: a local multi-process deployment in one command.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use tiercache_core::ByteSize;
use tiercache_deploy::up::{Deployment, ProcessInfo, UpAuth, UpOptions, UpTier};

/// Starts a whole deployment on this machine, each role its own process: the store, three
/// admins, three log nodes, the API nodes and, with --tier, a Redis topology; prints where each answers once
/// all are healthy, and runs until Ctrl-C or SIGTERM, which stop everything in reverse order.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache up                                  # SQLite under data/, 3 admins, 3 log nodes, 2 API nodes
  tiercache up --nodes 3 --tier redis --json    # one redis-server as shared tier and bus
  tiercache up --db postgres://postgres@127.0.0.1:5432/tiercache --tier redis-cluster --restart

Start order: store → Redis → admin-1..3 → log-1..3 → api-1..N, each once the one before
answers its health check (store: a registry call over gRPC; admins, log nodes and API nodes:
GET /healthz; Redis: PING). Then a table (role, id, URL, pid) is printed, or with --json one line
{\"processes\":[{\"role\",\"id\",\"url\",\"pid\"},…]}. Every child listens on a fixed free
loopback port (kept across restarts) and writes its log to DIR/logs/ID.log (the previous
run of a restarted child: ID.log.1). A child that exits is reported on stderr with its last
log lines; the others keep running, and with --restart it is started again on the same port
after 200 ms, doubling up to 10 s (reset once it stayed up 30 s). Children run in process
groups of their own: Ctrl-C or SIGTERM reaches `up`, which stops the API nodes, the log nodes,
the admins, Redis and the store in that order (SIGTERM, SIGKILL after 10 s) and leaves nothing running.
The logs (POST/GET /v1/logs/APP on any API node) need a bus between the processes: without
--tier, a redis-server runs as that bus alone when one is installed (then the near caches
stay coherent over it too); with no redis-server at all no log node starts, and with several
API nodes their near caches are off (each would keep copies another node's write replaced). Load data into the store with `tiercache load --db sqlite://DIR/tiercache.db`.")]
pub struct UpArgs {
    /// Directory for the SQLite database and the logs (created if missing).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "data",
        env = "TIERCACHE_DIR"
    )]
    dir: PathBuf,

    /// The store's database instead of SQLite under --dir: postgres://USER@HOST:PORT/DB.
    #[arg(long, value_name = "URL", env = "TIERCACHE_DB")]
    db: Option<String>,

    /// How many API nodes (1 to 64).
    #[arg(long, value_name = "N", default_value_t = 2, env = "TIERCACHE_NODES")]
    nodes: usize,

    /// The shared tier: none, redis (one server), redis-cluster (3 primaries + 3 replicas)
    /// or redis-replicated (a primary + 2 replicas). Redis needs redis-server installed.
    #[arg(
        long,
        value_name = "TIER",
        default_value = "none",
        env = "TIERCACHE_UP_TIER"
    )]
    tier: String,

    /// Each redis-server's maxmemory.
    #[arg(long, value_name = "SIZE", default_value = "64MiB")]
    maxmemory: ByteSize,

    /// Each redis-server's maxmemory-policy (one of Redis's eight policies).
    #[arg(long, value_name = "POLICY", default_value = "allkeys-lru")]
    maxmemory_policy: String,

    /// The admins' lease, in ms.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    lease_ms: u64,

    /// How many log nodes (the application logs; each log is kept by three). They need a
    /// bus between the processes: without --tier, a redis-server runs as the bus alone when
    /// one is installed, else no log node starts. Data under DIR/log-N.
    #[arg(long, value_name = "N", default_value_t = 3)]
    log_nodes: usize,

    /// The API nodes' bearer tokens file (`TOKEN SCOPE[,SCOPE]` per line, see `api --help`);
    /// it needs one token with the admin scope, which the admins send to show the nodes'
    /// stats.
    #[arg(long, value_name = "FILE", env = "TIERCACHE_AUTH_TOKENS")]
    auth_tokens: Option<PathBuf>,

    /// Secure the deployment: the API nodes ask for bearer tokens, from --auth-tokens or
    /// else from DIR/secrets/tokens (generated with three random tokens on the first run —
    /// read,write for the application, read, admin — and kept after); and every role talks
    /// TLS, with certificates from DIR/certs (a local CA and one certificate per role,
    /// generated on the first run and kept): mutual TLS between the roles, server TLS on
    /// the API nodes. Clients then use https:// and DIR/certs/ca.pem (tools:
    /// --tls-ca DIR/certs/ca.pem --tls-cert DIR/certs/client.pem --tls-key
    /// DIR/certs/client.key). Redis gets access control: an ACL user per role (tc-api,
    /// tc-log) with only its rights, passwords in DIR/secrets (fresh each run), and a
    /// password on its default user.
    #[arg(long)]
    secure: bool,

    /// Each API node's per-client rate limit, requests per second (see `api --help`)
    /// [default: none].
    #[arg(long, value_name = "PER_SECOND")]
    rate_limit: Option<f64>,

    /// Each API node's burst under --rate-limit.
    #[arg(long, value_name = "N")]
    rate_burst: Option<u32>,

    /// Each API node's connection limit [default: 10000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// Each API node's header-read (and idle keep-alive) timeout, in ms [default: 30000].
    #[arg(long, value_name = "MS")]
    header_timeout_ms: Option<u64>,

    /// The API nodes' outbox delay, or none (see `api --help`) [default: 3s].
    #[arg(long, value_name = "DURATION")]
    outbox: Option<String>,

    /// The API nodes' replica wait on a Redis Cluster tier (see `api --help`) [default: 5s].
    #[arg(long, value_name = "DURATION")]
    replica_wait: Option<String>,

    /// The API nodes' Redis timeout for the shared tier (see `api --help`) [default: 2s].
    #[arg(long, value_name = "DURATION")]
    redis_timeout: Option<String>,

    /// Restart a child that exits, on the same port, with backoff.
    #[arg(long)]
    restart: bool,

    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,
}

/// The deployment's certificates under `DIR/certs` (written on the first run, kept after),
/// as an absolute path; `up` itself checks its children's health as the `client` role.
fn prepare_certs(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let certs = std::path::absolute(dir.join("certs")).context("finding DIR/certs")?;
    tiercache_tls::certs::generate(&certs, &tiercache_tls::certs::CertOptions::default())
        .context("writing the deployment's certificates")?;
    let client = tiercache_tls::Identity::load(&tiercache_tls::certs::role_files(&certs, "client"))
        .context("reading the deployment's client certificate")?;
    if !tiercache_tls::process::install(client) {
        tracing::warn!(
            "up: the --tls-* flags given are used for the health checks, not DIR/certs/client.pem"
        );
    }
    Ok(certs)
}

/// Runs the deployment until a shutdown signal.
pub fn run(args: UpArgs, logging: &crate::logging::LoggingArgs) -> anyhow::Result<()> {
    let tier: UpTier = args.tier.parse().map_err(anyhow::Error::msg)?;
    check_api_args(&args)?;
    let auth = UpAuth::prepare(&args.dir, args.auth_tokens.as_deref(), args.secure)
        .map_err(anyhow::Error::msg)?;
    let certs = match args.secure {
        true => Some(prepare_certs(&args.dir)?),
        false => None,
    };
    let certs_dir = certs.clone();
    let options = UpOptions {
        binary: std::env::current_exe().context("finding the tiercache binary")?,
        dir: args.dir.clone(),
        db: args.db.clone(),
        nodes: args.nodes,
        admins: 3,
        log_nodes: args.log_nodes,
        tier,
        maxmemory: args.maxmemory,
        maxmemory_policy: args.maxmemory_policy.clone(),
        lease_ms: args.lease_ms,
        restart: args.restart,
        child_args: logging.to_flags(),
        auth: auth.clone(),
        api_args: api_args(&args),
        certs: certs_dir,
        redis_users: args.secure,
    };
    options.validate().map_err(anyhow::Error::msg)?;
    // Before the first child starts: Ctrl-C at the terminal must reach only `up`.
    tiercache_launch::own_process_groups();
    let runtime = super::runtime()?;
    // Listen for the signals before starting anything, so one arriving during start-up
    // still stops what was started.
    let stop = Arc::new(AtomicBool::new(false));
    let signalled = {
        let stop = Arc::clone(&stop);
        let _context = runtime.enter();
        let shutdown = super::shutdown_signal(); // installed now, not when first polled
        runtime.spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let started = std::time::Instant::now();
    let mut deployment = Deployment::start(options, |line| eprintln!("up: {line}"))?;
    let processes = deployment.processes();
    eprintln!(
        "up: all {} processes healthy in {} ms (Ctrl-C to stop)",
        processes.len(),
        started.elapsed().as_millis()
    );
    let tokens = auth.as_ref().map(|auth| auth.tokens.display().to_string());
    let certs = certs.map(|certs| certs.display().to_string());
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "processes": processes, "tokens": tokens, "certs": certs })
        );
    } else {
        print_table(&processes);
        if let Some(tokens) = &tokens {
            println!(
                "API tokens: {tokens} (send `Authorization: Bearer TOKEN`; dashboards: /#token=TOKEN)"
            );
        }
        if let Some(certs) = &certs {
            println!(
                "TLS: certificates in {certs}; trust {certs}/ca.pem (curl --cacert), and present {certs}/client.pem with client.key to the store, admins and log nodes"
            );
        }
    }
    let watcher = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            deployment.watch(&stop);
            deployment
        }
    });
    let deployment = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("the watcher panicked"))?;
    eprintln!("up: stopping…");
    deployment.stop(|line| eprintln!("up: {line}"));
    signalled.abort();
    eprintln!("up: stopped");
    Ok(())
}

fn print_table(processes: &[ProcessInfo]) {
    println!("{:<6} {:<18} {:<28} {:>8}", "ROLE", "ID", "URL", "PID");
    for process in processes {
        println!(
            "{:<6} {:<18} {:<28} {:>8}",
            process.role, process.id, process.url, process.pid
        );
    }
}

/// Refuses, before anything starts, the API node settings the nodes would refuse.
fn check_api_args(args: &UpArgs) -> anyhow::Result<()> {
    use tiercache_deploy::setting;
    if let Some(text) = &args.outbox {
        setting::outbox(text)?;
    }
    if let Some(text) = &args.replica_wait {
        setting::replica_wait(text)?;
    }
    if let Some(text) = &args.redis_timeout {
        setting::redis_timeout(text)?;
    }
    if let Some(rate) = args.rate_limit {
        anyhow::ensure!(
            rate.is_finite() && rate >= 0.0,
            "--rate-limit must be a number of requests per second, 0 for none, got {rate}"
        );
    }
    anyhow::ensure!(
        args.max_connections != Some(0),
        "--max-connections must be at least 1"
    );
    anyhow::ensure!(
        args.header_timeout_ms
            .is_none_or(|ms| (1..=600_000).contains(&ms)),
        "--header-timeout-ms must be from 1 to 600000"
    );
    Ok(())
}

/// The flags `up` passes on to every API node, in their `api` spelling.
fn api_args(args: &UpArgs) -> Vec<String> {
    let mut forwarded = Vec::new();
    let mut pass = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            forwarded.extend([flag.to_owned(), value]);
        }
    };
    pass("--rate-limit", args.rate_limit.map(|v| v.to_string()));
    pass("--rate-burst", args.rate_burst.map(|v| v.to_string()));
    pass(
        "--max-connections",
        args.max_connections.map(|v| v.to_string()),
    );
    pass(
        "--header-timeout-ms",
        args.header_timeout_ms.map(|v| v.to_string()),
    );
    pass("--outbox", args.outbox.clone());
    pass("--replica-wait", args.replica_wait.clone());
    pass("--redis-timeout", args.redis_timeout.clone());
    forwarded
}
