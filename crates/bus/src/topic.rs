//! Topic names: what the bus accepts as a topic, checked the same way by every backend
//! before anything reaches it.

use crate::error::{BusError, BusResult};

/// The longest topic name the bus accepts (bytes).
pub const MAX_TOPIC_BYTES: usize = 1024;

/// Checks a topic name: 1..=[`MAX_TOPIC_BYTES`] bytes, no control characters.
pub fn check_topic(topic: &str) -> BusResult<()> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_BYTES {
        return Err(BusError::InvalidArgument(format!(
            "a topic name has 1 to {MAX_TOPIC_BYTES} bytes, got {}",
            topic.len()
        )));
    }
    if topic.chars().any(char::is_control) {
        return Err(BusError::InvalidArgument(format!(
            "the topic name {topic:?} contains a control character"
        )));
    }
    Ok(())
}
