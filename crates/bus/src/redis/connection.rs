//! The limits every connection of the Redis backends is opened with, named once so the
//! single server and the Cluster give up on an unreachable Redis alike.

use std::time::Duration;

/// How long a connection attempt or a command may take before the bus counts as
/// unreachable. A session's lease is a few seconds, so a command that takes longer has
/// already cost the session its validity.
pub(super) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the command connections retry a failed command before they report the bus
/// unavailable: once covers a connection that dropped and is re-opened.
pub(super) const COMMAND_RETRIES: u32 = 1;
