//! How a node's writes travel: the `write_mode` setting.

use std::fmt;

use tiercache_node::WriteMode;

/// How a node's writes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePath {
    /// Write-through: the store first, then a notice of this mode to the other nodes.
    Through(WriteMode),
    /// Write-behind: answered from memory, stored in coalesced batches every flush
    /// interval, each flush publishing invalidations.
    Behind,
}

impl fmt::Display for WritePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WritePath::Through(mode) => mode.fmt(f),
            WritePath::Behind => f.write_str("write-behind"),
        }
    }
}
