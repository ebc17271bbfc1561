//! [`Registry`]: the applications a storage holds, each with its log, and the questions
//! every backend answers alike from a log's in-memory [`Index`].

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::id::MessageId;
use crate::index::Index;

/// A log with an [`Index`] (behind whatever lock the backend keeps it).
pub(crate) trait Indexed {
    /// Answers `query` on the log's index.
    fn with_index<T>(&self, query: impl FnOnce(&Index) -> T) -> T;
}

/// The logs by application; the lock is held only to find, add or list them.
#[derive(Debug)]
pub(crate) struct Registry<L> {
    logs: RwLock<HashMap<String, Arc<L>>>,
}

impl<L> Default for Registry<L> {
    fn default() -> Registry<L> {
        Registry {
            logs: RwLock::default(),
        }
    }
}

impl<L: Indexed> Registry<L> {
    /// A registry of `logs`.
    pub(crate) fn new(logs: HashMap<String, Arc<L>>) -> Registry<L> {
        Registry {
            logs: RwLock::new(logs),
        }
    }

    /// `app`'s log, if it has one.
    pub(crate) fn get(&self, app: &str) -> Option<Arc<L>> {
        self.logs.read().get(app).cloned()
    }

    /// `app`'s log, made by `new` if it has none yet.
    pub(crate) fn get_or_insert_with(&self, app: &str, new: impl FnOnce() -> L) -> Arc<L> {
        if let Some(log) = self.get(app) {
            return log;
        }
        let mut logs = self.logs.write();
        logs.entry(app.to_owned())
            .or_insert_with(|| Arc::new(new()))
            .clone()
    }

    /// Every application and its log, sorted by name.
    pub(crate) fn all(&self) -> Vec<(String, Arc<L>)> {
        let mut all: Vec<(String, Arc<L>)> = self
            .logs
            .read()
            .iter()
            .map(|(app, log)| (app.clone(), log.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Answers `query` on `app`'s index, or `empty` when it has no log.
    fn query<T>(&self, app: &str, empty: T, query: impl FnOnce(&Index) -> T) -> T {
        match self.get(app) {
            Some(log) => log.with_index(query),
            None => empty,
        }
    }

    /// [`LogStorage::len`](crate::LogStorage::len).
    pub(crate) fn len(&self, app: &str) -> u64 {
        self.query(app, 0, Index::len)
    }

    /// [`LogStorage::apps`](crate::LogStorage::apps): the applications holding a record.
    pub(crate) fn names(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|(_, log)| log.with_index(Index::len) > 0)
            .map(|(app, _)| app)
            .collect()
    }

    /// [`LogStorage::position_of`](crate::LogStorage::position_of).
    pub(crate) fn position_of(&self, app: &str, id: MessageId) -> Option<u64> {
        self.query(app, None, |index| index.position_of(id))
    }

    /// The positions [`LogStorage::read_after`](crate::LogStorage::read_after) reads.
    pub(crate) fn positions_after(
        &self,
        app: &str,
        after: Option<MessageId>,
        limit: usize,
    ) -> Vec<u64> {
        self.query(app, Vec::new(), |index| index.positions_after(after, limit))
    }

    /// [`LogStorage::ids_since`](crate::LogStorage::ids_since).
    pub(crate) fn ids_since(&self, app: &str, from: u64, limit: usize) -> Vec<MessageId> {
        self.query(app, Vec::new(), |index| index.ids_since(from, limit))
    }
}
