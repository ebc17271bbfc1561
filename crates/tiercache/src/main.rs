//! `tiercache`: one binary, one subcommand per role. The subcommands only parse flags and
//! wire library crates together; the behaviour lives in the crates.

mod commands;
mod config;
mod logging;
mod tls;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tiercache — a coherent multi-tier cache: near caches on every API node, an optional
/// shared Redis tier, a versioned store, and invalidation over publish/subscribe.
#[derive(Debug, Parser)]
#[command(name = "tiercache", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    logging: logging::LoggingArgs,

    #[command(flatten)]
    tls: tls::TlsArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a trace or a generated workload through eviction policies offline and compare
    /// their miss ratios with Belady's optimum.
    Sim(commands::sim::SimArgs),
    /// Serve the object store (versioned objects, registry, admin state) over gRPC.
    Store(commands::store::StoreArgs),
    /// Load a dataset (the Kepler-like table, or a CSV file) into the store's database.
    Load(commands::load::LoadArgs),
    /// Serve the HTTP API of one node: near cache → shared tier → store.
    Api(commands::api::ApiArgs),
    /// Run one admin instance (three in warm standby place log nodes per application).
    Admin(commands::admin::AdminArgs),
    /// Run one log node (durable copies of the application logs the admin assigns to it).
    Lognode(commands::lognode::LogNodeArgs),
    /// Run everything embedded in one process (SQLite store with the dataset, in-process
    /// tier, N API nodes): nothing to install.
    Serve(commands::serve::ServeArgs),
    /// Compare the centralized, partitioned and replicated tiers on one seeded workload,
    /// embedded, and print a table.
    Demo(commands::demo::DemoArgs),
    /// Run the lab's matrix (topology × policy × memory × workload) against real API nodes
    /// and write an HTML report with charts, results.json and results.csv.
    Lab(commands::lab::LabArgs),
    /// Start a local multi-process deployment: the store, three admins, API nodes and, with
    /// --tier, Redis; stop it all with Ctrl-C.
    Up(commands::up::UpArgs),
    /// List the live nodes registered in the store's registry (the binder).
    Nodes(commands::nodes::NodesArgs),
    /// Write a local CA and a certificate per role (store, api, admin, lognode, client) for
    /// TLS between the roles.
    Certs(commands::certs::CertsArgs),
    /// Drive running API nodes with a seeded workload; report throughput, latency
    /// percentiles and hit ratio per tier.
    Bench(commands::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = logging::init(&cli.logging) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    if let Err(error) = cli.tls.install() {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    let outcome = match cli.command {
        Command::Sim(args) => commands::sim::run(args),
        Command::Store(args) => commands::store::run(args),
        Command::Load(args) => commands::load::run(args),
        Command::Api(args) => commands::api::run(args),
        Command::Admin(args) => commands::admin::run(args),
        Command::Lognode(args) => commands::lognode::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Lab(args) => commands::lab::run(args),
        Command::Up(args) => commands::up::run(args, &cli.logging),
        Command::Nodes(args) => commands::nodes::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Certs(args) => commands::certs::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line naming the problem; the chain of causes joined with ": ".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
