//! [`Record`]: one stored log message, and the [`Limits`] every backend checks before it
//! stores anything.

use crate::error::{LogError, LogResult};
use crate::id::MessageId;

/// One log message as a log node keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its identity: a record whose id is already in the log is not stored again.
    pub id: MessageId,
    /// The client's `Idempotency-Key`, if it sent one: a record whose key is already in
    /// the log (under any id) is not stored again, so a client retry after a timeout is
    /// stored once even though the API node gave the retry a new id.
    pub idempotency_key: Option<Vec<u8>>,
    /// The message.
    pub value: Vec<u8>,
}

/// The default largest value: as for cache values, 1 MiB.
pub const DEFAULT_MAX_VALUE: usize = 1 << 20;
/// The default (and largest allowed) idempotency key: 128 bytes.
pub const DEFAULT_MAX_KEY: usize = 128;
/// The default largest number of records in one append.
pub const DEFAULT_MAX_BATCH: usize = 1024;
/// The largest idempotency key the record format can hold.
pub const FORMAT_MAX_KEY: usize = u8::MAX as usize;

/// What one append may hold. An append that exceeds any limit is refused whole: nothing
/// of it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest value, in bytes.
    pub max_value: usize,
    /// The largest idempotency key, in bytes (at most [`FORMAT_MAX_KEY`]).
    pub max_key: usize,
    /// The most records in one append.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_value: DEFAULT_MAX_VALUE,
            max_key: DEFAULT_MAX_KEY,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

impl Limits {
    /// Whether these limits are usable: non-zero, and keys within what the format holds.
    pub fn validate(&self) -> LogResult<()> {
        if self.max_batch == 0 {
            return Err(LogError::InvalidArgument(
                "the batch limit must be at least 1 record".into(),
            ));
        }
        if self.max_key == 0 || self.max_key > FORMAT_MAX_KEY {
            return Err(LogError::InvalidArgument(format!(
                "the idempotency key limit must be 1..={FORMAT_MAX_KEY} bytes, not {}",
                self.max_key
            )));
        }
        if self.max_value > u32::MAX as usize {
            return Err(LogError::InvalidArgument(format!(
                "the value limit must be at most {} bytes, not {}",
                u32::MAX,
                self.max_value
            )));
        }
        Ok(())
    }

    /// Checks one append against the limits; the first violation is the error.
    pub fn check(&self, records: &[Record]) -> LogResult<()> {
        too_large("batch", records.len(), self.max_batch)?;
        for record in records {
            too_large("value", record.value.len(), self.max_value)?;
            if let Some(key) = &record.idempotency_key {
                if key.is_empty() {
                    return Err(LogError::InvalidArgument(
                        "an idempotency key must not be empty".into(),
                    ));
                }
                too_large("idempotency key", key.len(), self.max_key)?;
            }
        }
        Ok(())
    }
}

fn too_large(what: &'static str, size: usize, limit: usize) -> LogResult<()> {
    if size > limit {
        Err(LogError::TooLarge { what, size, limit })
    } else {
        Ok(())
    }
}
