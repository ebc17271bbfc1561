//! [`MemoryStorage`]: logs held in process memory, for the embedded deployment and tests.
//! Not durable: everything is gone with the process.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};

use crate::error::LogResult;
use crate::id::MessageId;
use crate::index::Index;
use crate::record::{Limits, Record};
use crate::storage::{Appended, LogStorage};

/// One application's log in memory.
#[derive(Debug, Default)]
struct MemoryLog {
    index: Index,
    /// The records, by position.
    records: Vec<Record>,
}

/// Logs in process memory. An append is "durable" as soon as it returns, for as long as
/// the process lives; every rule of [`LogStorage`] holds except survival of a restart.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    /// Each application's log; the outer lock is held only to find or create one.
    apps: RwLock<HashMap<String, Arc<Mutex<MemoryLog>>>>,
    limits: Limits,
}

impl MemoryStorage {
    /// An empty storage with the default limits.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// An empty storage with `limits` (validated).
    pub fn with_limits(limits: Limits) -> LogResult<MemoryStorage> {
        limits.validate()?;
        Ok(MemoryStorage {
            apps: RwLock::default(),
            limits,
        })
    }

    fn log(&self, app: &str) -> Option<Arc<Mutex<MemoryLog>>> {
        self.apps.read().get(app).cloned()
    }

    /// Answers `query` on `app`'s log, or `empty` when it has none.
    fn query<T>(&self, app: &str, empty: T, query: impl FnOnce(&MemoryLog) -> T) -> T {
        match self.log(app) {
            Some(log) => query(&log.lock()),
            None => empty,
        }
    }
}

#[async_trait]
impl LogStorage for MemoryStorage {
    async fn append(&self, app: &str, records: Vec<Record>) -> LogResult<Appended> {
        self.limits.check(&records)?;
        let log = match self.log(app) {
            Some(log) => log,
            None => self.apps.write().entry(app.to_owned()).or_default().clone(),
        };
        let mut log = log.lock();
        let (appended, new) = log.index.admit(records);
        log.records.extend(new);
        log.index.publish();
        Ok(appended)
    }

    async fn read(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<(u64, Record)>> {
        Ok(self.query(app, Vec::new(), |log| {
            log.records
                .iter()
                .enumerate()
                .skip(usize::try_from(from).unwrap_or(usize::MAX))
                .take(limit)
                .map(|(position, record)| (position as u64, record.clone()))
                .collect()
        }))
    }

    async fn len(&self, app: &str) -> LogResult<u64> {
        Ok(self.query(app, 0, |log| log.index.len()))
    }

    async fn apps(&self) -> LogResult<Vec<String>> {
        let mut apps: Vec<String> = self
            .apps
            .read()
            .iter()
            .filter(|(_, log)| log.lock().index.len() > 0)
            .map(|(app, _)| app.clone())
            .collect();
        apps.sort();
        Ok(apps)
    }

    async fn position_of(&self, app: &str, id: MessageId) -> LogResult<Option<u64>> {
        Ok(self.query(app, None, |log| log.index.position_of(id)))
    }

    async fn ids_since(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<MessageId>> {
        Ok(self.query(app, Vec::new(), |log| log.index.ids_since(from, limit)))
    }
}
