//! The configuration file: TOML, one section per command, unknown keys rejected.
//!
//! `[api]` and `[serve]` hold a node's settings ([`NodeConfig`], shared, parsed as they are
//! read) as flat keys beside their own; they are read key by key over the section's
//! defaults ([`Keyed`]) because serde's `flatten` would stop rejecting unknown keys.
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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::de::MapAccess;
use serde::{Deserialize, Serialize};
use tiercache_api::{Access, RateLimit, ServeLimits};
use tiercache_core::{ByteSize, Tokens};
use tiercache_deploy::keys::{self, Keyed};
use tiercache_deploy::{DEFAULT_HEARTBEAT, NodeConfig};
use tiercache_store::{Limits, grpc};

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// `[store]`: the store service (and the database `load` writes to).
    pub store: StoreConfig,
    /// `[api]`: one API node.
    #[serde(deserialize_with = "keys::over_default")]
    pub api: ApiConfig,
    /// `[serve]`: everything embedded in one process.
    #[serde(deserialize_with = "keys::over_default")]
    pub serve: ServeConfig,
    /// `[admin]`: one admin instance.
    pub admin: AdminConfig,
}

/// Settings of `tiercache api`: its own keys and the node's ([`NodeConfig`]), flat in `[api]`
/// with the bus in `[api.bus]`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiConfig {
    /// The store: `http://HOST:PORT` (a `tiercache store` service) or a database URL
    /// (`sqlite://PATH`, `postgres://…`) opened in process.
    pub store: String,
    /// The node: tiers, near cache, bus (`tier`, `near_capacity`, `policy`, `max_age`,
    /// `[api.bus]`).
    #[serde(flatten)]
    pub node: NodeConfig,
    /// Address to serve HTTP on.
    pub listen: SocketAddr,
    /// Longest a request may take before a 503, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest request body.
    pub max_body: ByteSize,
    /// The listener's limits and access rules (`header_timeout_ms`, `max_connections`,
    /// `auth_tokens`, `metrics_open`, `rate_limit`, `rate_burst`).
    #[serde(flatten)]
    pub listener: ListenerConfig,
    /// The node's id in the binder, unique among API nodes (none: its listen address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How often the node renews its entry in the binder, in milliseconds; the entry lives
    /// three heartbeats.
    pub heartbeat_ms: u64,
    /// How many of a log's three nodes must confirm an append before it is answered.
    pub log_acks: usize,
    /// How long an append waits for them before answering 503, in milliseconds.
    pub log_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            store: "http://127.0.0.1:7070".to_owned(),
            node: NodeConfig::standalone(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_ms: 10_000,
            max_body: ByteSize((1 << 20) + (64 << 10)),
            listener: ListenerConfig::default(),
            id: None,
            heartbeat_ms: u64::try_from(DEFAULT_HEARTBEAT.as_millis())
                .expect("the default heartbeat fits in u64 ms"),
            log_acks: 2,
            log_timeout_ms: 5_000,
        }
    }
}

impl Keyed for ApiConfig {
    const KEYS: &'static [&'static str] = &[
        "store",
        "tier",
        "near_capacity",
        "policy",
        "max_age",
        "outbox",
        "replica_wait",
        "redis_timeout",
        "listen",
        "request_timeout_ms",
        "max_body",
        "header_timeout_ms",
        "max_connections",
        "auth_tokens",
        "metrics_open",
        "rate_limit",
        "rate_burst",
        "id",
        "heartbeat_ms",
        "log_acks",
        "log_timeout_ms",
        "bus",
    ];

    fn read_key<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "store" => self.store = map.next_value()?,
            "listen" => self.listen = map.next_value()?,
            "request_timeout_ms" => self.request_timeout_ms = map.next_value()?,
            "max_body" => self.max_body = map.next_value()?,
            "id" => self.id = Some(map.next_value()?),
            "heartbeat_ms" => self.heartbeat_ms = map.next_value()?,
            "log_acks" => self.log_acks = map.next_value()?,
            "log_timeout_ms" => self.log_timeout_ms = map.next_value()?,
            listener if ListenerConfig::KEYS.contains(&listener) => {
                self.listener.read_key(listener, map)?;
            }
            node => self.node.read_key(node, map)?,
        }
        Ok(())
    }
}

/// Settings of `tiercache serve`: its own keys and its nodes' ([`NodeConfig`]), flat in
/// `[serve]` with the bus in `[serve.bus]`.
#[derive(Debug, Clone, Serialize)]
pub struct ServeConfig {
    /// Where the SQLite database lives.
    pub data: std::path::PathBuf,
    /// Address of the first API node; node i listens on its port + i.
    pub listen: SocketAddr,
    /// API nodes.
    pub nodes: usize,
    /// Every node's settings (`tier`, `near_capacity`, `policy`, `max_age`, `[serve.bus]`).
    #[serde(flatten)]
    pub node: NodeConfig,
    /// Every node's listener limits and access rules (as in `[api]`).
    #[serde(flatten)]
    pub listener: ListenerConfig,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            data: "data".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            nodes: 1,
            node: NodeConfig::embedded(),
            listener: ListenerConfig::default(),
        }
    }
}

impl Keyed for ServeConfig {
    const KEYS: &'static [&'static str] = &[
        "data",
        "listen",
        "nodes",
        "tier",
        "near_capacity",
        "policy",
        "max_age",
        "outbox",
        "replica_wait",
        "redis_timeout",
        "header_timeout_ms",
        "max_connections",
        "auth_tokens",
        "metrics_open",
        "rate_limit",
        "rate_burst",
        "bus",
    ];

    fn read_key<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "data" => self.data = map.next_value()?,
            "listen" => self.listen = map.next_value()?,
            "nodes" => self.nodes = map.next_value()?,
            listener if ListenerConfig::KEYS.contains(&listener) => {
                self.listener.read_key(listener, map)?;
            }
            node => self.node.read_key(node, map)?,
        }
        Ok(())
    }
}

/// An API node's listener: its limits and who may send what, in `[api]` and `[serve]`.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerConfig {
    /// Longest a client may take to send a request's headers, or stay idle between
    /// requests, in milliseconds.
    pub header_timeout_ms: u64,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// The bearer tokens file (`TOKEN SCOPE[,SCOPE]` per line); none: no token is asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_tokens: Option<PathBuf>,
    /// Whether `/metrics` answers without a token when tokens are on.
    pub metrics_open: bool,
    /// Requests per second each client address may send; 0: no limit.
    pub rate_limit: f64,
    /// Requests a client may send at once (none: one second's worth of `rate_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_burst: Option<u32>,
}

impl Default for ListenerConfig {
    fn default() -> ListenerConfig {
        ListenerConfig {
            header_timeout_ms: u64::try_from(
                tiercache_api::DEFAULT_HEADER_READ_TIMEOUT.as_millis(),
            )
            .expect("the default header timeout fits in u64 ms"),
            max_connections: tiercache_api::DEFAULT_MAX_CONNECTIONS,
            auth_tokens: None,
            metrics_open: false,
            rate_limit: 0.0,
            rate_burst: None,
        }
    }
}

impl Keyed for ListenerConfig {
    const KEYS: &'static [&'static str] = &[
        "header_timeout_ms",
        "max_connections",
        "auth_tokens",
        "metrics_open",
        "rate_limit",
        "rate_burst",
    ];

    fn read_key<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "header_timeout_ms" => self.header_timeout_ms = map.next_value()?,
            "max_connections" => self.max_connections = map.next_value()?,
            "auth_tokens" => self.auth_tokens = Some(map.next_value()?),
            "metrics_open" => self.metrics_open = map.next_value()?,
            "rate_limit" => self.rate_limit = map.next_value()?,
            "rate_burst" => self.rate_burst = Some(map.next_value()?),
            other => unreachable!("`{other}` is not one of ListenerConfig::KEYS"),
        }
        Ok(())
    }
}

impl ListenerConfig {
    /// Checks the values and reads the token file: the listener's limits and access rules.
    pub fn options(&self) -> anyhow::Result<(ServeLimits, Access)> {
        anyhow::ensure!(
            (1..=600_000).contains(&self.header_timeout_ms),
            "header_timeout_ms must be from 1 to 600000, got {}",
            self.header_timeout_ms
        );
        anyhow::ensure!(
            self.max_connections > 0,
            "max_connections must be at least 1"
        );
        anyhow::ensure!(
            self.rate_limit.is_finite() && self.rate_limit >= 0.0,
            "rate_limit must be a number of requests per second, 0 for none, got {}",
            self.rate_limit
        );
        let rate_limit = (self.rate_limit > 0.0).then(|| RateLimit {
            per_second: self.rate_limit,
            burst: self
                .rate_burst
                .unwrap_or_else(|| self.rate_limit.ceil().min(f64::from(u32::MAX)) as u32)
                .max(1),
        });
        anyhow::ensure!(
            self.rate_burst.is_none() || rate_limit.is_some(),
            "rate_burst needs a rate_limit above 0"
        );
        let tokens = match &self.auth_tokens {
            None => None,
            Some(path) => {
                let tokens = Tokens::load(path)?;
                warn_if_readable_by_others(path);
                Some(Arc::new(tokens))
            }
        };
        let limits = ServeLimits {
            header_read_timeout: Duration::from_millis(self.header_timeout_ms),
            max_connections: self.max_connections,
        };
        let access = Access {
            tokens,
            metrics_open: self.metrics_open,
            rate_limit,
        };
        Ok((limits, access))
    }
}

/// A token file others can read gives its tokens away: say so (it still works, as ssh's
/// keys do not, because a container's mounted secret is often group-readable).
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the token file {} can be read by other users (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            );
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
    /// Address to serve `/metrics` (HTTP) on; none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Longest a call may take on the server, in milliseconds.
    pub call_timeout_ms: u64,
    /// Calls served at once over all connections.
    pub max_concurrent_calls: usize,
    /// Calls one connection may have open at once.
    pub max_streams_per_connection: u32,
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
            metrics_listen: None,
            call_timeout_ms: u64::try_from(grpc::DEFAULT_CALL_TIMEOUT.as_millis())
                .expect("the default call timeout fits in u64 ms"),
            max_concurrent_calls: grpc::DEFAULT_MAX_CONCURRENT_CALLS,
            max_streams_per_connection: grpc::DEFAULT_MAX_STREAMS_PER_CONNECTION,
        }
    }
}

/// Settings of `tiercache admin`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The store: `http://HOST:PORT` (a `tiercache store` service) or a database URL opened
    /// in process (then only admins in this process share it).
    pub store: String,
    /// Address to serve HTTP on.
    pub listen: SocketAddr,
    /// The instance's id: the lease holder's name and its id in the binder (none: its
    /// listen address).
    pub id: Option<String>,
    /// The admin lease's time-to-live, in milliseconds.
    pub lease_ms: u64,
    /// How often the instance renews its binder entry, in milliseconds.
    pub heartbeat_ms: u64,
    /// The file holding the token the dashboard sends to API nodes that ask for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> AdminConfig {
        AdminConfig {
            store: "http://127.0.0.1:7070".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 7080)),
            id: None,
            lease_ms: tiercache_admin::DEFAULT_LEASE.as_millis() as u64,
            heartbeat_ms: DEFAULT_HEARTBEAT.as_millis() as u64,
            api_token_file: None,
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

/// Prints a configuration section as TOML under its header, with every URL's password
/// shown as `<secret>`.
pub fn print_section<T: Serialize>(header: &str, section: &T) -> anyhow::Result<()> {
    print!("{}", section_text(header, section)?);
    Ok(())
}

/// What [`print_section`] prints.
fn section_text<T: Serialize>(header: &str, section: &T) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Wrapper<'a, T> {
        #[serde(flatten)]
        inner: std::collections::BTreeMap<&'a str, &'a T>,
    }
    let mut inner = std::collections::BTreeMap::new();
    inner.insert(header, section);
    let mut value = toml::Value::try_from(Wrapper { inner })?;
    redact_urls(&mut value);
    Ok(toml::to_string(&value)?)
}

/// Replaces the password of every URL in `value` by `<secret>`.
fn redact_urls(value: &mut toml::Value) {
    match value {
        toml::Value::String(text) if text.contains("://") => {
            *text = tiercache_core::redact_url(text);
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact_urls),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, item)| redact_urls(item)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_configurations_hide_url_passwords() {
        #[derive(Serialize)]
        struct Section {
            store: String,
            tier: String,
            nested: Vec<String>,
        }
        let text = section_text(
            "api",
            &Section {
                store: "postgres://app:hunter22@db:5432/x".into(),
                tier: "redis-cluster://tc-api:hunter22@h:1,h:2".into(),
                nested: vec!["redis://:hunter22@h:1".into()],
            },
        )
        .unwrap();
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("postgres://app:<secret>@db:5432/x"), "{text}");
    }

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
    fn the_node_sections_accept_every_node_key() {
        for key in <NodeConfig as Keyed>::KEYS {
            assert!(ApiConfig::KEYS.contains(key), "[api] lacks {key}");
            assert!(ServeConfig::KEYS.contains(key), "[serve] lacks {key}");
        }
    }

    #[test]
    fn the_node_sections_accept_every_listener_key() {
        for key in ListenerConfig::KEYS {
            assert!(ApiConfig::KEYS.contains(key), "[api] lacks {key}");
            assert!(ServeConfig::KEYS.contains(key), "[serve] lacks {key}");
        }
    }

    #[test]
    fn listener_keys_are_read_in_both_sections_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "0123456789abcdef-admin admin\n").unwrap();
        let path = dir.path().join("c.toml");
        let text = format!(
            "[api]\nrate_limit = 2.5\nauth_tokens = {tokens:?}\nmax_connections = 7\n[serve]\nrate_limit = 10\nrate_burst = 3\nmetrics_open = true\n"
        );
        std::fs::write(&path, text).unwrap();
        let config = ConfigFile::load(Some(&path)).unwrap();
        let (limits, access) = config.api.listener.options().unwrap();
        assert_eq!(limits.max_connections, 7);
        assert_eq!(
            access.rate_limit,
            Some(RateLimit {
                per_second: 2.5,
                burst: 3
            })
        );
        assert_eq!(access.tokens.unwrap().len(), 1);
        let (_, access) = config.serve.listener.options().unwrap();
        assert_eq!(
            access.rate_limit,
            Some(RateLimit {
                per_second: 10.0,
                burst: 3
            })
        );
        assert!(access.metrics_open && access.tokens.is_none());

        let mut bad = ListenerConfig {
            rate_limit: -1.0,
            ..ListenerConfig::default()
        };
        assert!(
            bad.options()
                .unwrap_err()
                .to_string()
                .contains("rate_limit")
        );
        bad.rate_limit = 0.0;
        bad.rate_burst = Some(4);
        assert!(
            bad.options()
                .unwrap_err()
                .to_string()
                .contains("rate_burst")
        );
        bad.rate_burst = None;
        bad.auth_tokens = Some(dir.path().join("missing"));
        assert!(bad.options().unwrap_err().to_string().contains("missing"));
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
