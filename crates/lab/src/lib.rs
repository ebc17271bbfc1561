//! tiercache's lab: the comparison the system was first built for — response time and hit
//! ratio of a centralized, a partitioned and a replicated shared tier — run as a matrix of
//! topology × eviction policy × memory rule × workload × size against real API nodes, and
//! written up as a self-contained HTML report with charts.
//!
//! What it guarantees:
//! - **Same requests everywhere.** A plan's seed fixes every configuration's requests; the
//!   same seed gives the same requests, so configurations differ only in what they vary.
//! - **Cold, equal starts.** Each configuration gets a fresh shared tier and fresh API nodes;
//!   the rows its writes replaced are written back before the next one runs.
//! - **Fair memory.** Memory is compared both ways: equal per node (the original lab's
//!   set-up, where three partitioned nodes hold three budgets) and equal in total.
//! - **A bound for context.** Every configuration is also replayed offline through Belady's
//!   MIN at the tier's memory: the hit ratio no policy can beat on those requests.
//!
//! # Layout
//! - [`matrix`]: the dimensions ([`Topology`], [`MemoryRule`], [`Config`]), the plans
//!   ([`Plan::quick`], [`Plan::full`]) and the `--only` [`Filter`].
//! - [`run`](mod@run): running a plan against a [`Target`] ([`run()`]); `deployed`: against
//!   a running deployment found through its binder.
//! - [`offline`]: the same requests without the network (Belady, hit ratio vs memory).
//! - [`results`]: what was measured ([`Outcome`], [`Results`]) as JSON and CSV.
//! - [`report`]: `index.html` with its charts and conclusions ([`report::write`]).

mod deployed;
pub mod matrix;
pub mod offline;
pub mod report;
pub mod results;
pub mod run;

pub use matrix::{Config, Filter, MemoryRule, Plan, Topology};
pub use results::{Outcome, Results};
pub use run::{Step, run};

/// Where the shared tiers of a run live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// In process, on tiercache's engine (nothing to install).
    Embedded,
    /// Real Redis servers launched by the lab (needs `redis-server` and `redis-cli`).
    Redis,
    /// A running deployment (`tiercache up`): the API nodes registered in the binder of the
    /// store at this URL. Its topology, policy, memory and near caches are what it runs
    /// with, so only the workloads, sizes and clients of a plan vary; its caches are not
    /// emptied between runs, and the writes are real writes to its store.
    Discover(String),
}

impl Target {
    /// Its name in reports.
    pub fn name(&self) -> String {
        match self {
            Target::Embedded => "embedded".to_owned(),
            Target::Redis => "redis".to_owned(),
            Target::Discover(url) => format!("deployment at {url}"),
        }
    }
}

/// Why a lab run failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The plan cannot run.
    #[error("{0}")]
    Plan(String),
    /// Starting or stopping the deployment failed.
    #[error(transparent)]
    Deploy(#[from] tiercache_deploy::Error),
    /// The store refused the table.
    #[error("loading the table: {0}")]
    Store(String),
    /// The shared tier failed.
    #[error("shared tier: {0}")]
    Tier(String),
    /// The load generator could not run.
    #[error("load: {0}")]
    Load(String),
    /// A file could not be written.
    #[error("{doing}: {error}")]
    Io {
        /// What was being done.
        doing: String,
        /// The cause.
        error: std::io::Error,
    },
}
