//! Child processes for tiercache: start a role (or a server it needs) as a child, wait until
//! it is ready, keep its log, and stop it for good.
//!
//! # Guarantees
//!
//! * **Readiness is polled, never slept for, and every wait is bounded.** A child is ready
//!   when it printed its `listening on ADDRESS` lines (every tiercache role prints one per
//!   listener), or when a probe answers (a redis-server that answers `PING`). One that exits
//!   first or is not ready in time is killed, and the error quotes the tail of its log.
//! * **A child is stopped when its [`Process`] is dropped**, also when a panic unwinds:
//!   SIGTERM (or the configured signal), SIGKILL after a grace period, always reaped.
//! * **Nothing is skipped:** a missing program is an error naming the package to install.
//!
//! This crate knows processes only, no tiercache role crate, so that the roles' own tests can
//! use it (through the test kit) without building themselves twice. The deployments built on
//! it live in `tiercache-deploy`.
//!
//! # Layout
//!
//! * [`launch`](Launch): starting a child and waiting until it is [`Ready`];
//! * [`process`](Process): a running child: pause, resume, wait, stop, kill;
//! * [`Log`]: everything a child wrote;
//! * [`free_port`], [`port_open`]: loopback ports; [`find_binary`], [`require_binary`];
//! * [`RedisServer`], [`RedisCluster`], [`RedisSentinel`]: local Redis topologies, and
//!   [`redis_command`], a minimal client for their readiness checks and set-up;
//! * [`NatsCluster`] of [`NatsServer`]s: a local NATS JetStream cluster, the log benchmark's
//!   baseline.

/// Finding the programs to launch.
mod binary;
/// Why a child could not be started, made ready or stopped: [`Error`].
mod error;
/// Starting a child and waiting until it is [`Ready`]: [`Launch`].
mod launch;
/// A child's stdout and stderr in one file: [`Log`].
mod log;
/// A local NATS JetStream cluster.
mod nats;
/// Free loopback ports.
mod port;
/// A running child: [`Process`].
mod process;
/// Local redis-server topologies.
mod redis;
/// A minimal Redis client for readiness checks.
mod resp;

pub use binary::{find_binary, require_binary};
pub use error::Error;
pub use launch::{LISTENING, Launch, Ready, own_process_groups};
pub use log::Log;
pub use nats::{NatsCluster, NatsServer};
pub use port::{free_port, port_open};
pub use process::Process;
pub use redis::{RedisCluster, RedisSentinel, RedisServer};
pub use resp::command as redis_command;
