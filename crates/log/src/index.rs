//! [`Index`]: one application's ids and idempotency keys in memory, which decides what an
//! append stores; both backends keep one per application.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::id::MessageId;
use crate::record::Record;
use crate::storage::{Appended, Duplicate, DuplicateOf};

/// The ids and keys of one application's log, by position.
///
/// Records are *admitted* (given positions, and from then on deduplicated against) before
/// they are durable, so that appends sharing one group commit see each other; they become
/// visible only when [`publish`](Index::publish)ed. Queries answer the visible part only.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Every admitted record's id, by position.
    ids: Vec<MessageId>,
    /// Admitted ids → position, in id order (reads by id walk it).
    by_id: BTreeMap<MessageId, u64>,
    /// Admitted idempotency keys → position.
    by_key: HashMap<Vec<u8>, u64>,
    /// Positions below this are durable and visible.
    visible: u64,
}

impl Index {
    /// Gives the new records of an append the next positions and reports the duplicates;
    /// returns the report and the new records in order.
    pub(crate) fn admit(&mut self, records: Vec<Record>) -> (Appended, Vec<Record>) {
        let mut appended = Appended {
            first: self.ids.len() as u64,
            ..Appended::default()
        };
        let mut new = Vec::with_capacity(records.len());
        for (index, record) in records.into_iter().enumerate() {
            if let Some(duplicate) = self.original(&record) {
                appended.duplicates.push(Duplicate {
                    index,
                    position: duplicate.0,
                    by: duplicate.1,
                });
                continue;
            }
            self.push(&record);
            new.push(record);
        }
        appended.appended = new.len();
        (appended, new)
    }

    /// The original of `record` in the admitted records, if any.
    fn original(&self, record: &Record) -> Option<(u64, DuplicateOf)> {
        if let Some(&position) = self.by_id.get(&record.id) {
            return Some((position, DuplicateOf::Id));
        }
        let key = record.idempotency_key.as_ref()?;
        Some((*self.by_key.get(key)?, DuplicateOf::IdempotencyKey))
    }

    /// Admits one record at the next position without a duplicate check (recovery: what is
    /// on disk is the log; the first of two equal ids keeps the index entry).
    pub(crate) fn push(&mut self, record: &Record) {
        let position = self.ids.len() as u64;
        self.ids.push(record.id);
        if let Entry::Vacant(entry) = self.by_id.entry(record.id) {
            entry.insert(position);
        }
        if let Some(key) = &record.idempotency_key {
            self.by_key.entry(key.clone()).or_insert(position);
        }
    }

    /// Makes every admitted record visible.
    pub(crate) fn publish(&mut self) {
        self.visible = self.ids.len() as u64;
    }

    /// How many records are visible.
    pub(crate) fn len(&self) -> u64 {
        self.visible
    }

    /// The position of a visible record with id `id`.
    pub(crate) fn position_of(&self, id: MessageId) -> Option<u64> {
        self.by_id
            .get(&id)
            .copied()
            .filter(|&position| position < self.visible)
    }

    /// The positions of up to `limit` visible records whose ids come after `after` (all
    /// when `None`), in id order.
    pub(crate) fn positions_after(&self, after: Option<MessageId>, limit: usize) -> Vec<u64> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.by_id
            .range((start, Unbounded))
            .map(|(_, &position)| position)
            .filter(|&position| position < self.visible)
            .take(limit)
            .collect()
    }

    /// The ids of up to `limit` visible records from `from` on.
    pub(crate) fn ids_since(&self, from: u64, limit: usize) -> Vec<MessageId> {
        let end = self.visible.min(from.saturating_add(limit as u64));
        if from >= end {
            return Vec::new();
        }
        self.ids[from as usize..end as usize].to_vec()
    }
}
