//! [`Version`]: the store-assigned version of one object.

use std::fmt;

/// The version of one object, assigned by the store inside the write's transaction.
///
/// Versions of one key strictly increase, deletes included (a delete leaves a versioned
/// tombstone), so comparing two versions of the same key tells which write came later.
/// Versions of different keys are unrelated.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// The version before any write: no stored object ever carries it.
    pub const ZERO: Version = Version(0);

    /// The version that follows this one.
    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}
