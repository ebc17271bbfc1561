//! tiercache's application logs as a [`Target`]: a deployment started by `tiercache up`
//! (store, three admins, a redis-server as the bus, three log nodes, one API node), appended
//! to with `POST /v1/logs/bench` over kept-alive HTTP/1.1 connections to the API node, each
//! append awaiting its `200` (`--log-acks` of the three log nodes confirmed it durable).
//!
//! [`Readers`] is the same deployment read: each "publish" of the runner is one
//! `GET /v1/logs/bench?after=ID&limit=PAGE`, paging through the log from the start and
//! starting over at its end.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use tiercache_bench::http_load::Connection;
use tiercache_launch::{Launch, Process, Ready};

use crate::runner::{Publisher, Target};

const TIERCACHE: &str = env!("CARGO_BIN_EXE_tiercache");

/// The application whose log the benchmark appends to.
pub const APP: &str = "bench";

/// The path every append goes to.
const APPEND_PATH: &str = "/v1/logs/bench";

/// How long the deployment may take to answer a first append (activation of the log through
/// the admin included).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `up --json`'s line.
const LISTING: &str = "{\"processes\"";

/// A running deployment and the address of its API node.
pub struct TierCache {
    api: std::net::SocketAddr,
    /// Stopped (and every child with it) when the target is dropped.
    _up: Process,
}

impl TierCache {
    /// Starts `tiercache up --nodes 1` in `dir` with its log nodes under `--fsync fsync`
    /// and its API node under `--log-acks acks` (given through `TIERCACHE_FSYNC` and
    /// `TIERCACHE_LOG_ACKS`, which `up`'s children inherit), then appends until one append
    /// is acknowledged (the first activates the log); bounded by 60 s.
    pub async fn prepare(dir: &Path, fsync: &str, acks: usize) -> anyhow::Result<TierCache> {
        let mut command = Command::new(TIERCACHE);
        command
            .args(["up", "--json", "--nodes", "1", "--dir", "deployment"])
            .env("TIERCACHE_FSYNC", fsync)
            .env("TIERCACHE_LOG_ACKS", acks.to_string())
            .current_dir(dir);
        let up = tokio::task::block_in_place(|| {
            Launch::new("tiercache up", command)
                .ready(Ready::Lines {
                    prefix: LISTING.to_owned(),
                    count: 1,
                })
                .timeout(Duration::from_secs(120))
                .grace(Duration::from_secs(30))
                .start()
        })?;
        let line = format!("{LISTING}{}", up.addresses()[0]);
        let listing: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("up's listing: {line}"))?;
        let api = listing["processes"]
            .as_array()
            .and_then(|all| all.iter().find(|process| process["role"] == "api"))
            .and_then(|api| api["url"].as_str())
            .context("no API node in up's listing")?
            .trim_start_matches("http://")
            .parse()?;
        let target = TierCache { api, _up: up };
        let mut first = target.publisher(0).await?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match first.publish(b"ready".to_vec()).await {
                Ok(()) => return Ok(target),
                Err(error) if Instant::now() < deadline => {
                    eprintln!("tiercache's log not ready yet ({error:#}), retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => {
                    return Err(
                        error.context(format!("no append acknowledged after {READY_TIMEOUT:?}"))
                    );
                }
            }
        }
    }
}

impl Target for TierCache {
    type Publisher = TierCachePublisher;

    async fn publisher(&self, _index: usize) -> anyhow::Result<TierCachePublisher> {
        let connection = Connection::open(self.api)
            .await
            .map_err(|error| anyhow::anyhow!("connecting to {}: {error}", self.api))?;
        Ok(TierCachePublisher { connection })
    }
}

/// One kept-alive connection to the API node.
pub struct TierCachePublisher {
    connection: Connection,
}

impl Publisher for TierCachePublisher {
    /// `POST /v1/logs/bench`; `Ok` on `200` only (a `503` is an append that missed its
    /// acknowledgements within the API node's log timeout). A broken connection is reopened
    /// for the next message.
    async fn publish(&mut self, payload: Vec<u8>) -> anyhow::Result<()> {
        let request = self.connection.post(APPEND_PATH, Bytes::from(payload), &[]);
        match self.connection.exchange(request).await {
            Ok((200, _)) => Ok(()),
            Ok((status, body)) => bail!("{status}: {}", String::from_utf8_lossy(&body)),
            Err(error) => {
                self.connection.reopen().await;
                bail!("connection lost: {error}")
            }
        }
    }
}

/// Messages per page read.
pub const PAGE: usize = 100;

/// The deployment of a [`TierCache`], read a page at a time.
pub struct Readers<'a>(pub &'a TierCache);

impl Target for Readers<'_> {
    type Publisher = PageReader;

    async fn publisher(&self, _index: usize) -> anyhow::Result<PageReader> {
        let TierCachePublisher { connection } = self.0.publisher(0).await?;
        Ok(PageReader {
            connection,
            after: None,
        })
    }
}

/// One kept-alive connection paging through the log.
pub struct PageReader {
    connection: Connection,
    /// The last id read; `None`: from the start.
    after: Option<String>,
}

impl Publisher for PageReader {
    /// Reads the next page (the payload is not used); `Ok` on a `200` whose every copy
    /// answered, with a full page or the log's end (then the next read starts over).
    async fn publish(&mut self, _payload: Vec<u8>) -> anyhow::Result<()> {
        let path = match &self.after {
            Some(after) => format!("{APPEND_PATH}?after={after}&limit={PAGE}"),
            None => format!("{APPEND_PATH}?limit={PAGE}"),
        };
        let request = self.connection.get(&path);
        let (status, body) = match self.connection.exchange(request).await {
            Ok(answer) => answer,
            Err(error) => {
                self.connection.reopen().await;
                bail!("connection lost: {error}")
            }
        };
        if status != 200 {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        let answered = &page["replicas"]["answered"];
        if answered != &page["replicas"]["assigned"] {
            bail!("not every copy answered: {}", page["replicas"]);
        }
        let messages = page["messages"].as_array().context("no messages array")?;
        self.after = if messages.len() < PAGE {
            None
        } else {
            let last = messages.last().and_then(|m| m["id"].as_str());
            Some(last.context("a message without an id")?.to_owned())
        };
        Ok(())
    }
}
