//! The configuration file: TOML, one section per command, unknown keys rejected.
//!
//! Every setting has a built-in default; a `--config FILE` overrides defaults, environment
//! variables (`TIERCACHE_*`, named in each flag's `--help`) override the file, and flags
//! override everything. `--print-config` shows the result and exits.
//!
//! ```toml
//! [store]
//! db = "postgres://postgres@127.0.0.1:5432/tiercache"
//! listen = "127.0.0.1:7070"
//! max_value_size = "1MiB"
//! ```

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tiercache_core::ByteSize;
use tiercache_store::Limits;

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// `[store]`: the store service (and the database `load` writes to).
    pub store: StoreConfig,
    /// `[api]`: one API node.
    pub api: ApiConfig,
    /// `[serve]`: everything embedded in one process.
    pub serve: ServeConfig,
}

/// Settings of `tiercache api`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The store: `http://HOST:PORT` (a `tiercache store` service) or a database URL
    /// (`sqlite://PATH`, `postgres://…`) opened in process.
    pub store: String,
    /// The shared tier's URL, or `none`.
    pub tier: String,
    /// The near cache's byte budget (0 disables it).
    pub near_capacity: ByteSize,
    /// The near cache's eviction policy.
    pub policy: String,
    /// The longest a cached copy lives, near or shared (`60s`, `none`).
    pub max_age: String,
    /// Address to serve HTTP on.
    pub listen: SocketAddr,
    /// Longest a request may take before a 503, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest request body.
    pub max_body: ByteSize,
    /// The bus that keeps near caches coherent.
    pub bus: BusConfig,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            store: "http://127.0.0.1:7070".to_owned(),
            tier: "none".to_owned(),
            near_capacity: ByteSize(64 << 20),
            policy: "allkeys-lru".to_owned(),
            max_age: DEFAULT_MAX_AGE.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_ms: 10_000,
            max_body: ByteSize((1 << 20) + (64 << 10)),
            bus: BusConfig::default(),
        }
    }
}

/// How long a cached copy lives by default: the bound on serving a version whose
/// invalidation was lost with a crashed writer is twice this.
pub const DEFAULT_MAX_AGE: &str = "60s";

/// The bus and coherence settings of API nodes (`[api.bus]`, `[serve.bus]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// The bus's URL (`memory://`, `redis://HOST:PORT`), or `none`: other nodes' near
    /// caches are then not told about writes.
    pub url: String,
    /// `object` (a topic per key) or `bucket:N` (keys hashed to N topics).
    pub topics: String,
    /// `invalidate` (other nodes drop their copy), `update` (they take the new value) or
    /// `write-behind` (writes are answered from memory and reach the store in batches).
    pub write_mode: String,
    /// Write-behind only: how often unflushed writes go to the store, e.g. `100ms`, `1s`.
    pub flush_interval: String,
    /// `async` (a write is answered once its notice is published) or `sync` (once every
    /// node that may hold a copy confirmed it, or its lease lapsed).
    pub invalidation: String,
    /// The bus session's lease in milliseconds: a silent node's subscriptions last this
    /// long; the node stops serving near hits a quarter of it earlier.
    pub lease_ms: u64,
}

impl BusConfig {
    fn with_url(url: &str) -> BusConfig {
        BusConfig {
            url: url.to_owned(),
            topics: "object".to_owned(),
            write_mode: "invalidate".to_owned(),
            invalidation: "async".to_owned(),
            flush_interval: "100ms".to_owned(),
            lease_ms: tiercache_bus::DEFAULT_LEASE.as_millis() as u64,
        }
    }
}

impl Default for BusConfig {
    fn default() -> BusConfig {
        BusConfig::with_url("none")
    }
}

/// Settings of `tiercache serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Where the SQLite database lives.
    pub data: std::path::PathBuf,
    /// Address of the first API node; node i listens on its port + i.
    pub listen: SocketAddr,
    /// API nodes.
    pub nodes: usize,
    /// The shared tier's URL, or `none`.
    pub tier: String,
    /// Each node's near-cache byte budget (0 disables it).
    pub near_capacity: ByteSize,
    /// The near caches' eviction policy.
    pub policy: String,
    /// The longest a cached copy lives, near or shared (`60s`, `none`).
    pub max_age: String,
    /// The bus that keeps the nodes' near caches coherent.
    pub bus: BusConfig,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            data: "data".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            nodes: 1,
            tier: "memory://".to_owned(),
            near_capacity: ByteSize(64 << 20),
            policy: "allkeys-lru".to_owned(),
            max_age: DEFAULT_MAX_AGE.to_owned(),
            bus: BusConfig::with_url("memory://"),
        }
    }
}

/// Settings of `tiercache store`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    pub db: String,
    /// Address to serve gRPC on.
    pub listen: SocketAddr,
    /// Longest accepted key, in bytes.
    pub max_key_bytes: usize,
    /// Largest accepted value.
    pub max_value_size: ByteSize,
    /// Most items in one batch.
    pub max_batch_items: usize,
    /// Database connections (PostgreSQL) or SQLite reader connections.
    pub max_connections: u32,
}

/// The database used when nothing says otherwise.
pub const DEFAULT_DB: &str = "sqlite://data/tiercache.db";

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        let limits = Limits::default();
        StoreConfig {
            db: DEFAULT_DB.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            max_key_bytes: limits.max_key_bytes,
            max_value_size: ByteSize(limits.max_value_bytes as u64),
            max_batch_items: limits.max_batch_items,
            max_connections: 8,
        }
    }
}

impl ConfigFile {
    /// Reads `path`, or returns the defaults when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
        let Some(path) = path else {
            return Ok(ConfigFile::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).map_err(|error| {
            // toml's message spans several lines (a source excerpt); keep the first one and the
            // position so the error stays on one line.
            let message = error.message().trim().to_owned();
            let position = error
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            anyhow::anyhow!("config file {}{position}: {message}", path.display())
        })
    }
}

/// Prints a configuration section as TOML under its header.
pub fn print_section<T: Serialize>(header: &str, section: &T) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Wrapper<'a, T> {
        #[serde(flatten)]
        inner: std::collections::BTreeMap<&'a str, &'a T>,
    }
    let mut inner = std::collections::BTreeMap::new();
    inner.insert(header, section);
    print!("{}", toml::to_string(&Wrapper { inner })?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_with_a_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[store]\ndb = \"sqlite://x.db\"\nlisten_addr = \"1.2.3.4:5\"\n",
        )
        .unwrap();
        let error = ConfigFile::load(Some(&path)).unwrap_err().to_string();
        assert!(
            error.contains("listen_addr") && error.contains("line 3"),
            "{error}"
        );
        assert_eq!(error.lines().count(), 1, "{error}");
        std::fs::write(&path, "[stor]\n").unwrap();
        assert!(ConfigFile::load(Some(&path)).is_err());
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[store]\nmax_value_size = \"256KiB\"\n").unwrap();
        let config = ConfigFile::load(Some(&path)).unwrap();
        assert_eq!(config.store.max_value_size, ByteSize(256 * 1024));
        assert_eq!(config.store.db, DEFAULT_DB);
    }
}
