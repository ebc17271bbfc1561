//! The bodies of a log node's HTTP routes (JSON), shared by its server ([`router`]
//! (crate::router)), its client ([`RemoteCopy`](crate::RemoteCopy)) and the admin.
//!
//! | route                                       | body                | answer                    |
//! |---------------------------------------------|---------------------|---------------------------|
//! | `GET /v1/log`                               |                     | [`NodeStatus`]            |
//! | `GET /v1/log/{app}/messages?after=ID&limit=N` |                   | [`Page`], id order        |
//! | `GET /v1/log/{app}/records?from=P&limit=N`  |                     | [`Page`], position order  |
//! | `GET /v1/log/{app}/ids?from=P&limit=N`      |                     | [`IdsPage`]               |
//! | `POST /v1/log/assignment`                   | [`AssignmentBody`]  | [`NodeStatus`]            |
//!
//! Ids travel as their text form, values and idempotency keys as standard base64. An error
//! answers `{"error": code, "message": text}` (a stale assignment adds `got` and `current`)
//! with the status its [`ErrorCode`]
//! (tiercache_core::ErrorCode) maps to.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::{LogError, LogResult};
use crate::id::MessageId;
use crate::record::Record;

/// The most records one page answers (a larger `limit` is cut to it).
pub const MAX_PAGE: usize = 1000;

/// One record on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRecord {
    /// Its id, as text.
    pub id: String,
    /// Its position in the answering copy.
    pub position: u64,
    /// Its idempotency key, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The message, base64.
    pub value: String,
}

impl WireRecord {
    /// `record` at `position`, for the wire.
    pub fn new(position: u64, record: &Record) -> WireRecord {
        WireRecord {
            id: record.id.to_string(),
            position,
            key: record
                .idempotency_key
                .as_ref()
                .map(|key| STANDARD.encode(key)),
            value: STANDARD.encode(&record.value),
        }
    }

    /// The record and its position back, or why the text is not one.
    pub fn decode(&self) -> LogResult<(u64, Record)> {
        let bad = |what: &str, error: &dyn std::fmt::Display| {
            LogError::Unreachable(format!(
                "a log node sent a record with a bad {what}: {error}"
            ))
        };
        let id: MessageId = self.id.parse().map_err(|e| bad("id", &e))?;
        let value = STANDARD.decode(&self.value).map_err(|e| bad("value", &e))?;
        let idempotency_key = match &self.key {
            Some(key) => Some(STANDARD.decode(key).map_err(|e| bad("key", &e))?),
            None => None,
        };
        Ok((
            self.position,
            Record {
                id,
                idempotency_key,
                value,
            },
        ))
    }
}

/// Records of one application's log on one copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The application.
    pub app: String,
    /// Whether the copy has caught up (see [`LogCopy`](crate::LogCopy)).
    pub ready: bool,
    /// How many records the copy holds.
    pub len: u64,
    /// The records.
    pub records: Vec<WireRecord>,
}

/// Ids of one application's log on one copy, by position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdsPage {
    /// The application.
    pub app: String,
    /// How many records the copy holds.
    pub len: u64,
    /// The ids from the asked position on, as text.
    pub ids: Vec<String>,
}

/// A log node as an assignment names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeRef {
    /// Its id in the binder.
    pub id: String,
    /// Where it is reached.
    pub url: String,
}

/// What the active admin tells a log node: every application it serves, each with all of
/// its log nodes (the receiver among them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentBody {
    /// The sending admin's lease epoch: a node refuses an assignment of an older epoch than
    /// one it took.
    pub epoch: u64,
    /// The admin state's revision it was made from: within one epoch, a node ignores an
    /// assignment older than one it took (two sends of one admin may arrive out of order).
    #[serde(default)]
    pub revision: u64,
    /// The applications and their nodes.
    pub apps: BTreeMap<String, Vec<NodeRef>>,
}

/// A log node's view: `GET /v1/log`, and the answer to an assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// The epoch of the assignment it follows (0 before any).
    pub epoch: u64,
    /// The revision of the assignment it follows.
    pub revision: u64,
    /// Its bus session.
    pub session: SessionStatus,
    /// Each application it serves.
    pub apps: BTreeMap<String, AppStatus>,
    /// What it counted since it started.
    pub counters: CounterValues,
}

/// A log node's bus session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// Its generation (one more per loss).
    pub generation: u64,
    /// How many times it was lost.
    pub lost: u64,
}

/// One application on one log node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    /// How many records it holds.
    pub len: u64,
    /// Whether it caught up since it was assigned or last lost its session: only then does
    /// it acknowledge appends.
    pub ready: bool,
    /// Its subscription to the application's topic is confirmed in the current session.
    pub subscribed: bool,
    /// How far it has read each other copy.
    pub peers: Vec<PeerSync>,
}

/// How far a log node has read one other copy of an application's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSync {
    /// The other copy's URL.
    pub url: String,
    /// Its records up to this position were compared (and the missing ones copied).
    pub synced: u64,
    /// Its length when last asked.
    pub len: u64,
    /// Why the last attempt failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A log node's counters, read out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterValues {
    /// Records stored from appends.
    pub stored: u64,
    /// Appends of a message already held.
    pub duplicates: u64,
    /// Acknowledgements sent.
    pub acks: u64,
    /// Appends stored but not acknowledged because the application was catching up.
    pub held_back: u64,
    /// Appends the storage refused.
    pub refused: u64,
    /// Notices that did not decode.
    pub malformed: u64,
    /// Times the bus session was lost.
    pub sessions_lost: u64,
    /// Records copied from other copies by catch-up.
    pub pulled: u64,
}

/// A `limit` query parameter, cut to [`MAX_PAGE`] (0 means the default of 100).
pub fn page_limit(limit: Option<usize>) -> usize {
    match limit {
        None | Some(0) => 100,
        Some(limit) => limit.min(MAX_PAGE),
    }
}
