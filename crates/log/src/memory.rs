//! [`MemoryStorage`]: logs held in process memory, for the embedded deployment and tests.
//! Not durable: everything is gone with the process.

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::error::LogResult;
use crate::id::MessageId;
use crate::index::Index;
use crate::record::{Limits, Record};
use crate::registry::{Indexed, Registry};
use crate::storage::{Appended, LogStorage};

/// One application's log in memory.
#[derive(Debug, Default)]
struct MemoryLog(Mutex<MemoryState>);

#[derive(Debug, Default)]
struct MemoryState {
    index: Index,
    /// The records, by position.
    records: Vec<Record>,
}

impl Indexed for MemoryLog {
    fn with_index<T>(&self, query: impl FnOnce(&Index) -> T) -> T {
        query(&self.0.lock().index)
    }
}

/// Logs in process memory. An append is "durable" as soon as it returns, for as long as
/// the process lives; every rule of [`LogStorage`] holds except survival of a restart.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    apps: Registry<MemoryLog>,
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
            apps: Registry::default(),
            limits,
        })
    }
}

#[async_trait]
impl LogStorage for MemoryStorage {
    async fn append(&self, app: &str, records: Vec<Record>) -> LogResult<Appended> {
        self.limits.check(&records)?;
        let log = self.apps.get_or_insert_with(app, MemoryLog::default);
        let mut log = log.0.lock();
        let (appended, new) = log.index.admit(records);
        log.records.extend(new);
        log.index.publish();
        Ok(appended)
    }

    async fn read(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<(u64, Record)>> {
        let Some(log) = self.apps.get(app) else {
            return Ok(Vec::new());
        };
        let log = log.0.lock();
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let records = log.records.get(from..).unwrap_or_default();
        Ok(records
            .iter()
            .take(limit)
            .enumerate()
            .map(|(i, record)| ((from + i) as u64, record.clone()))
            .collect())
    }

    async fn read_after(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> LogResult<Vec<(u64, Record)>> {
        let Some(log) = self.apps.get(app) else {
            return Ok(Vec::new());
        };
        let positions = self.apps.positions_after(app, after, limit);
        let log = log.0.lock();
        Ok(positions
            .into_iter()
            .filter_map(|p| Some((p, log.records.get(usize::try_from(p).ok()?)?.clone())))
            .collect())
    }

    async fn len(&self, app: &str) -> LogResult<u64> {
        Ok(self.apps.len(app))
    }

    async fn apps(&self) -> LogResult<Vec<String>> {
        Ok(self.apps.names())
    }

    async fn position_of(&self, app: &str, id: MessageId) -> LogResult<Option<u64>> {
        Ok(self.apps.position_of(app, id))
    }

    async fn ids_since(&self, app: &str, from: u64, limit: usize) -> LogResult<Vec<MessageId>> {
        Ok(self.apps.ids_since(app, from, limit))
    }
}
