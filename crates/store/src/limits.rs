//! [`Limits`]: the sizes the store accepts, and the checks of keys, values, batches, names
//! and TTLs that run before any SQL (or any round trip, in the client).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};

/// Size limits the store enforces before touching the database, so an oversized request is
/// rejected whole and nothing of it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest key, in bytes (default 512).
    pub max_key_bytes: usize,
    /// Largest value, in bytes (default 1 MiB).
    pub max_value_bytes: usize,
    /// Most items in one `batch_get` or `batch_put` (default 10 000).
    pub max_batch_items: usize,
    /// Most objects one scan page returns (default 1 000); larger requests are capped.
    pub max_scan_page: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_key_bytes: 512,
            max_value_bytes: 1024 * 1024,
            max_batch_items: 10_000,
            max_scan_page: 1_000,
        }
    }
}

impl Limits {
    /// The largest gRPC message a store request or answer may need: a full batch of maximal
    /// objects would be absurd, so this is sized for one maximal value plus a generous margin
    /// for batches of small rows. Both the server and the client set it in both directions.
    pub fn max_message_bytes(&self) -> usize {
        (self.max_value_bytes + self.max_key_bytes + 1024).max(16 * 1024 * 1024)
    }

    /// The most bytes of keys and values one answer (a scan page, a batch get) may carry, so
    /// that it fits in one message with room for framing.
    pub fn max_answer_bytes(&self) -> usize {
        self.max_message_bytes() - 64 * 1024
    }

    /// Checks a key: non-empty and within `max_key_bytes`.
    pub fn check_key(&self, key: &[u8]) -> StoreResult<()> {
        if key.is_empty() {
            return Err(StoreError::invalid("the key is empty"));
        }
        if key.len() > self.max_key_bytes {
            return Err(StoreError::TooLarge {
                what: "key".into(),
                size: key.len(),
                limit: self.max_key_bytes,
            });
        }
        Ok(())
    }

    /// Checks a value against `max_value_bytes`.
    pub fn check_value(&self, value: &[u8]) -> StoreResult<()> {
        if value.len() > self.max_value_bytes {
            return Err(StoreError::TooLarge {
                what: "value".into(),
                size: value.len(),
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }

    /// Checks the number of items of a batch.
    pub fn check_batch(&self, items: usize) -> StoreResult<()> {
        if items > self.max_batch_items {
            return Err(StoreError::TooLarge {
                what: "batch (items)".into(),
                size: items,
                limit: self.max_batch_items,
            });
        }
        Ok(())
    }
}

/// Checks a registry or lease name: 1..=128 bytes of printable text.
pub(crate) fn check_name(what: &str, name: &str) -> StoreResult<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(format!(
            "{what} must be 1 to 128 bytes of printable text, got {name:?}"
        )));
    }
    Ok(())
}

/// A registration's or lease's TTL in whole milliseconds: at least 1 ms, and finite (far
/// enough from `i64::MAX` that adding it to the clock cannot overflow).
pub(crate) fn ttl_ms(ttl: Duration) -> StoreResult<i64> {
    let ms = ttl.as_millis();
    if ms == 0 || ms > i64::MAX as u128 / 2 {
        return Err(StoreError::invalid(format!(
            "a TTL must be at least 1 ms and finite, got {ttl:?}"
        )));
    }
    Ok(ms as i64)
}
