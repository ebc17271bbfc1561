//! Fills and writes in progress, as a notice finds them: each carries the floor a notice
//! raises so that nothing older than the notice's version is installed afterwards.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::OnceCell;

use crate::answer::Answer;
use crate::error::NodeError;

/// The outcome of one fill, shared by every caller that waited for it.
pub(crate) type FillOutcome = Result<Option<Answer>, NodeError>;

/// One fill in progress (single flight).
#[derive(Default)]
pub(crate) struct Flight {
    pub(crate) outcome: OnceCell<FillOutcome>,
    /// The newest version a notice announced while the fill ran: the fill may not install
    /// anything older in the near cache. Raised under the near cache's install lock.
    pub(crate) floor: AtomicU64,
}

/// The fills and writes of one key on their way to the near cache.
#[derive(Default)]
pub(crate) struct Installing {
    pub(crate) holders: u32,
    /// The newest version a notice announced meanwhile: nothing older may be installed.
    /// Raised under the near cache's install lock.
    pub(crate) floor: Arc<AtomicU64>,
}
