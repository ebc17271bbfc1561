//! Real servers for tests, started on free loopback ports and stopped on drop (also when the
//! test panics): PostgreSQL ([`Postgres`]), single redis-server nodes and replicas
//! ([`RedisServer`]), Redis Cluster ([`RedisCluster`]) and Sentinel-managed primaries
//! ([`RedisSentinel`]); and a real browser for page tests ([`browser::Browser`], headless
//! Chromium); and a fault-injecting TCP proxy to put between a node and any of them
//! ([`fault_proxy::FaultProxy`]: latency, jitter, cuts, resets, a blackhole), with process
//! pauses ([`fault_proxy::Paused`]).
//!
//! Nothing is mocked and nothing is skipped: when a server binary is missing, `start` fails
//! with an error that names the package to install, and the test fails with it. Readiness is
//! always decided by polling the server, never by sleeping a fixed time. Every wait is
//! bounded.
//!
//! The processes are started by `tiercache-launch`, where the Redis topologies live (the
//! binary launches them too); they are re-exported here so tests find every server in one
//! place. PostgreSQL is set up for tests only (no fsync): it lives here.
//!
//! PostgreSQL refuses to run as root; when the tests run as root (as on these machines), the
//! data directory is handed to the `postgres` user and the server runs under its uid.

pub mod bench;
pub mod browser;
pub mod fault_proxy;
mod postgres;

pub use postgres::Postgres;
pub use tiercache_launch::{
    Error, RedisCluster, RedisSentinel, RedisServer, free_port, redis_command,
};
