//! [`LogService`]: an API node's side of the application logs — appends through its
//! [`LogPublisher`], the activation of a log through the active admin (found in the
//! binder), and reads merged from every copy of a log.
//!
//! The node never registers anywhere for this and never learns which log nodes *store* an
//! append: it publishes on the log's topic and counts confirmations. It asks the admin only
//! which nodes hold a log, to activate it on first use and to read its copies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tiercache_admin::{ADMIN_ROLE, AdminClient, AdminError, AdminService, LogNode};
use tiercache_core::ErrorCode;
use tiercache_log::{
    Acknowledged, LogCopy, LogPublisher, MessageId, PublishError, Record, RemoteCopy,
};
use tiercache_store::Registry;

use crate::error::ApiError;

/// How long a log's nodes, as the admin named them, are used before asking again (a dead
/// node is replaced by the admin within a tick; reads notice within this).
const ASSIGNMENT_TTL: Duration = Duration::from_secs(1);

/// Appends to and reads of application logs.
pub struct LogService {
    publisher: LogPublisher,
    registry: Arc<dyn Registry>,
    /// Each log's nodes, with when the admin named them.
    assignments: Mutex<HashMap<String, (Instant, Vec<LogNode>)>>,
    /// Bounds each copy's answer to a read.
    read_timeout: Duration,
}

/// A read merged from the copies that answered.
pub struct MergedRead {
    /// The messages after the cursor, in id order, each once.
    pub messages: Vec<Record>,
    /// How many copies the log has.
    pub assigned: usize,
    /// How many answered.
    pub answered: usize,
    /// How many of those had caught up.
    pub ready: usize,
}

impl LogService {
    /// Appends through `publisher`; finds the admins in `registry`.
    pub fn new(publisher: LogPublisher, registry: Arc<dyn Registry>) -> LogService {
        LogService {
            publisher,
            registry,
            assignments: Mutex::new(HashMap::new()),
            read_timeout: Duration::from_secs(2),
        }
    }

    /// The publisher (its counters, its options).
    pub fn publisher(&self) -> &LogPublisher {
        &self.publisher
    }

    /// The log nodes of `app`, activating its log on first use.
    async fn nodes_of(&self, app: &str) -> Result<Vec<LogNode>, ApiError> {
        if let Some((at, nodes)) = self.assignments.lock().get(app)
            && at.elapsed() < ASSIGNMENT_TTL
        {
            return Ok(nodes.clone());
        }
        let nodes = self.activate(app).await?;
        self.assignments
            .lock()
            .insert(app.to_owned(), (Instant::now(), nodes.clone()));
        Ok(nodes)
    }

    /// Asks the admins the binder lists, following a standby's pointer to the active one.
    async fn activate(&self, app: &str) -> Result<Vec<LogNode>, ApiError> {
        let admins = self.registry.lookup(ADMIN_ROLE).await.map_err(|error| {
            ApiError::new(ErrorCode::Unavailable, format!("the binder: {error}"))
        })?;
        let mut urls: Vec<String> = admins.into_iter().map(|entry| entry.address).collect();
        let mut last = String::from("no admin is registered in the binder");
        let mut asked = 0;
        while let Some(url) = urls.pop() {
            asked += 1;
            if asked > 8 {
                break; // bounded: pointers never loop for long
            }
            match AdminClient::new(url.clone())
                .with_timeout(Duration::from_secs(5))
                .activate_log(app)
                .await
            {
                Ok(assignment) => return Ok(assignment.nodes),
                Err(AdminError::NotActive {
                    active: Some(active),
                }) if active != url => {
                    urls.push(active);
                }
                Err(AdminError::InvalidApp(why)) => {
                    return Err(ApiError::new(ErrorCode::InvalidArgument, why));
                }
                Err(AdminError::NoLogNodes) => {
                    last = "no log node is registered in the binder".to_owned();
                }
                Err(error) => last = format!("admin {url}: {error}"),
            }
        }
        Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("the log of {app:?} cannot be activated: {last}"),
        ))
    }

    /// Appends `value` to `app`'s log (see [`LogPublisher::append`]).
    pub async fn append(
        &self,
        app: &str,
        value: Vec<u8>,
        idempotency_key: Option<Vec<u8>>,
    ) -> Result<Result<Acknowledged, PublishError>, ApiError> {
        tiercache_log::check_app(app)
            .map_err(|why| ApiError::new(ErrorCode::InvalidArgument, why))?;
        // An append needs the log active, not its nodes (it publishes on the topic): once
        // the admin answered for a log, appends stop asking it — the admin keeps its
        // placement and replaces dead nodes by itself. Only reads refresh the nodes.
        let activated = self.assignments.lock().contains_key(app);
        if !activated {
            self.nodes_of(app).await?;
        }
        Ok(self.publisher.append(app, value, idempotency_key).await)
    }

    /// Up to `limit` messages of `app` after `after`, asking every copy at once and merging
    /// by id; answers as long as one copy does.
    pub async fn read(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<MergedRead, ApiError> {
        tiercache_log::check_app(app)
            .map_err(|why| ApiError::new(ErrorCode::InvalidArgument, why))?;
        let nodes = self.nodes_of(app).await?;
        let reads = nodes.iter().map(|node| async {
            let copy = RemoteCopy::new(node.url.clone()).with_timeout(self.read_timeout);
            copy.read_after(app, after, limit).await
        });
        let pages = futures_util::future::join_all(reads).await;
        let mut answered = 0;
        let mut ready = 0;
        let mut errors = Vec::new();
        let mut by_id = BTreeMap::new();
        for (page, node) in pages.into_iter().zip(&nodes) {
            match page {
                Ok(page) => {
                    answered += 1;
                    ready += usize::from(page.ready);
                    for (_, record) in page.records {
                        by_id.entry(record.id).or_insert(record);
                    }
                }
                Err(error) => errors.push(format!("{}: {error}", node.url)),
            }
        }
        if answered < nodes.len() {
            // A copy did not answer: the admin may have replaced it already; ask it again on
            // the next request rather than when the cached assignment expires.
            self.assignments.lock().remove(app);
        }
        if answered == 0 {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "no copy of the log of {app:?} answered: {}",
                    errors.join("; ")
                ),
            ));
        }
        // One message per idempotency key: a retry stored under another id on another copy
        // is the same message (the smallest id, the first stored, stands for it).
        let mut keys = std::collections::HashSet::new();
        let messages = by_id
            .into_values()
            .filter(|record| match &record.idempotency_key {
                Some(key) => keys.insert(key.clone()),
                None => true,
            })
            .take(limit)
            .collect();
        Ok(MergedRead {
            messages,
            assigned: nodes.len(),
            answered,
            ready,
        })
    }
}
