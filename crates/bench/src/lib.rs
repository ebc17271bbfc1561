//! The lab of tiercache: workloads, trace formats and the offline simulator.
//!
//! The simulator replays a sequence of requests through the cache engine
//! (`tiercache-cache`), one policy at a time, and counts hits and misses the way libCacheSim
//! does: a request for an object not in the cache is a miss (cold misses included), after
//! which the object is inserted. Belady's optimum, which needs to know the future, is
//! computed here beside the real policies as the bound no policy can beat.
//!
//! # Layout
//! - [`trace`]: reading traces (CSV `key[,size]`, libCacheSim's `oracleGeneral` binary), and
//!   each request's next access (the future Belady needs).
//! - [`workload`]: seeded synthetic workloads (Zipf, uniform, scan mix, shifting popularity).
//! - [`sim`]: the simulator ([`sim::simulate`]) and its report.
//! - [`belady`]: Belady's MIN, the offline optimum.
//! - [`http_load`]: the load generator that drives API nodes over HTTP (`tiercache bench`,
//!   `tiercache demo`) and what it measured.
//! - [`report`]: reports for people (the text table of a load run).
//! - [`staleness`]: the checker that finds stale reads in a recorded history.

pub mod belady;
pub mod http_load;
pub mod report;
pub mod sim;
pub mod staleness;
pub mod trace;
pub mod workload;

pub use sim::{Capacity, PolicyResult, SimReport, SimTarget};
pub use trace::{Request, Trace, TraceError, TraceFormat};
pub use workload::{Workload, WorkloadError};
