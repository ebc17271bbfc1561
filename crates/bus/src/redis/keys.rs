//! The names both Redis topologies use. Every name lives under `tc:bus:`; the part in
//! braces is a Redis Cluster hash tag, so everything about one topic (its subscriber set,
//! its channel, its stream and its cursors) shares one slot, and a script that touches a
//! topic runs on one shard.
//!
//! | name | what |
//! |---|---|
//! | `tc:bus:next-session` | the counter that hands out session ids (`INCR`) |
//! | `tc:bus:s:{ID}` | a session's lease: a key with a TTL, renewed with `PEXPIRE` (O(1), whatever the subscriptions) |
//! | `tc:bus:subs:{TOPIC}` | the set of session ids subscribed to a topic |
//! | `tc:bus:ch:{TOPIC}` | the pub/sub channel of a topic |
//! | `tc:bus:inbox:{ID}` | the channel of one session's direct messages |
//! | `tc:bus:log:{TOPIC}` | a durable topic (a stream) |
//! | `tc:bus:cur:{TOPIC}` | the acknowledged offsets of a durable topic, by consumer |

use crate::session::SessionId;

/// The counter that hands out session ids.
pub(super) const NEXT_SESSION: &str = "tc:bus:next-session";

/// The prefix of a session's lease key, up to its id (see [`session`]). The single-server
/// publish script builds lease keys from it, so its shape is part of that script.
pub(super) const SESSION_PREFIX: &str = "tc:bus:s:{";

/// A session's lease key.
pub(super) fn session(id: SessionId) -> String {
    format!("{SESSION_PREFIX}{}}}", id.0)
}

/// The set of sessions subscribed to `topic`.
pub(super) fn subscribers(topic: &str) -> String {
    format!("tc:bus:subs:{{{topic}}}")
}

/// The pub/sub channel of `topic`.
pub(super) fn channel(topic: &str) -> String {
    format!("tc:bus:ch:{{{topic}}}")
}

/// The channel of one session's direct messages.
pub(super) fn inbox(id: SessionId) -> String {
    format!("tc:bus:inbox:{{{}}}", id.0)
}

/// The stream of the durable topic `topic`.
pub(super) fn stream(topic: &str) -> String {
    format!("tc:bus:log:{{{topic}}}")
}

/// The consumers' cursors of the durable topic `topic`.
pub(super) fn cursors(topic: &str) -> String {
    format!("tc:bus:cur:{{{topic}}}")
}

/// The topic a channel name carries, if it is one of ours.
pub(super) fn topic_of(channel: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(channel).ok()?;
    name.strip_prefix("tc:bus:ch:{")?.strip_suffix('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_names_its_topic_back() {
        assert_eq!(topic_of(channel("o:k1").as_bytes()), Some("o:k1"));
        assert_eq!(topic_of(inbox(SessionId(7)).as_bytes()), None);
        assert_eq!(topic_of(b"tc:bus:ch:{open"), None);
    }

    #[test]
    fn a_lease_key_starts_with_the_prefix_the_publish_script_uses() {
        let key = session(SessionId(42));
        assert_eq!(key, format!("{SESSION_PREFIX}42}}"));
    }
}
