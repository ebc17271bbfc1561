//! Real servers for tests, started on free loopback ports and stopped on drop (also when the
//! test panics): PostgreSQL ([`Postgres`]), single redis-server nodes and replicas
//! ([`RedisServer`]), Redis Cluster ([`RedisCluster`]) and Sentinel-managed primaries
//! ([`RedisSentinel`]).
//!
//! Nothing is mocked and nothing is skipped: when a server binary is missing, `start` fails
//! with an error that names the package to install, and the test fails with it. Readiness is
//! always decided by polling the server, never by sleeping a fixed time. Every wait is
//! bounded.
//!
//! PostgreSQL refuses to run as root; when the tests run as root (as on these machines), the
//! data directory is handed to the `postgres` user and the server runs under its uid.

pub mod bench;
mod postgres;
mod process;
mod redis;
mod resp;

pub use postgres::Postgres;
pub use process::{Error, free_port};
pub use redis::{RedisCluster, RedisSentinel, RedisServer};
pub use resp::command as redis_command;
