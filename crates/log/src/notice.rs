//! The messages of the log protocol on the bus, and their wire format: an API node publishes
//! an [`Append`] on the application's log topic ([`log_topic`]); each log node holding that
//! log answers the publisher's session directly with an [`Ack`] once the records are
//! durable. Both carry a batch: an API node sends in one notice the records its concurrent
//! appends queued meanwhile, and a log node confirms in one notice everything of one
//! publisher it stored in one batch — the bus carries one message where it would carry many.
//!
//! ```text
//! byte 0    format version: 2
//! byte 1    kind: 1 append, 2 ack
//! append:   reply-to session id u64 | record count u16 (≥ 1)
//!           | per record: message id (16) | key length u8 (0: none) | key
//!                         | value length u32 | value
//! ack:      node id length u8 | node id (UTF-8) | count u16 (≥ 1)
//!           | per message: message id (16) | position u64 | outcome u8 (0 stored, 1 already held)
//! ```
//!
//! All integers are big-endian. Every field has its length, so a message cut anywhere or
//! carrying extra bytes does not decode: [`LogNotice::decode`] refuses it with a
//! [`NoticeError`] naming what is wrong (a receiver counts and reports it, it never guesses).

use bytes::{BufMut, Bytes, BytesMut};
use tiercache_bus::SessionId;

use crate::id::MessageId;
use crate::record::{FORMAT_MAX_KEY, Record};

/// The format version this code writes and reads (1 carried one record per notice).
const VERSION: u8 = 2;
const KIND_APPEND: u8 = 1;
const KIND_ACK: u8 = 2;

/// The most records (or confirmations) one notice carries: its count is a u16.
pub const MAX_BATCH: usize = u16::MAX as usize;

/// The topic an application's log messages travel on.
pub fn log_topic(app: &str) -> String {
    format!("log/{app}")
}

/// The application of a log topic, if `topic` is one.
pub fn app_of_topic(topic: &str) -> Option<&str> {
    topic.strip_prefix("log/")
}

/// Messages for an application's log, published by an API node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    /// The publisher's session: where the log nodes send their [`Ack`]s.
    pub reply_to: SessionId,
    /// The records to keep, at least one, at most [`MAX_BATCH`].
    pub records: Vec<Record>,
}

/// A log node's confirmation that it holds messages durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The log node's id in the binder.
    pub node: String,
    /// The messages, at least one, at most [`MAX_BATCH`].
    pub confirmed: Vec<Confirmed>,
}

/// One message an [`Ack`] confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    /// The message.
    pub id: MessageId,
    /// Its position in that node's copy of the log.
    pub position: u64,
    /// Whether the node stored it now or already held it (by id or idempotency key).
    pub duplicate: bool,
}

/// A decoded message of the log protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogNotice {
    /// Messages to keep.
    Append(Append),
    /// A confirmation.
    Ack(Ack),
}

/// Why bytes are not a log notice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    /// The bytes end before the field.
    #[error("the notice ends inside its {0}")]
    Truncated(&'static str),
    /// Bytes follow the last field.
    #[error("{0} bytes follow the end of the notice")]
    Trailing(usize),
    /// A format version this code does not know.
    #[error("unknown notice format version {0}")]
    Version(u8),
    /// A kind this code does not know.
    #[error("unknown notice kind {0}")]
    Kind(u8),
    /// A field holds an impossible value.
    #[error("bad {0}")]
    Bad(&'static str),
}

impl LogNotice {
    /// The notice's bytes. Panics if a batch is empty or over [`MAX_BATCH`], an idempotency
    /// key or node id is over 255 bytes, or a value over 4 GiB (the callers and the limits
    /// refuse them long before).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u8(VERSION);
        match self {
            LogNotice::Append(Append { reply_to, records }) => {
                out.put_u8(KIND_APPEND);
                out.put_u64(reply_to.0);
                put_count(&mut out, records.len());
                for record in records {
                    out.put_slice(&record.id.to_bytes());
                    let key = record.idempotency_key.as_deref().unwrap_or_default();
                    assert!(
                        key.len() <= FORMAT_MAX_KEY,
                        "an idempotency key over 255 bytes"
                    );
                    out.put_u8(key.len() as u8);
                    out.put_slice(key);
                    let length = u32::try_from(record.value.len()).expect("a value under 4 GiB");
                    out.put_u32(length);
                    out.put_slice(&record.value);
                }
            }
            LogNotice::Ack(Ack { node, confirmed }) => {
                out.put_u8(KIND_ACK);
                let node = node.as_bytes();
                out.put_u8(u8::try_from(node.len()).expect("a node id of at most 255 bytes"));
                out.put_slice(node);
                put_count(&mut out, confirmed.len());
                for message in confirmed {
                    out.put_slice(&message.id.to_bytes());
                    out.put_u64(message.position);
                    out.put_u8(u8::from(message.duplicate));
                }
            }
        }
        out.freeze()
    }

    /// Decodes `bytes`, refusing anything but exactly one well-formed notice.
    pub fn decode(bytes: &[u8]) -> Result<LogNotice, NoticeError> {
        let mut reader = Reader { bytes };
        let version = reader.u8("format version")?;
        if version != VERSION {
            return Err(NoticeError::Version(version));
        }
        let notice = match reader.u8("kind")? {
            KIND_APPEND => {
                let reply_to = SessionId(reader.u64("reply-to session")?);
                let count = reader.count()?;
                let mut records = Vec::with_capacity(count);
                for _ in 0..count {
                    let id = reader.id()?;
                    let key_length = usize::from(reader.u8("key length")?);
                    let key = reader.take(key_length, "idempotency key")?;
                    let value_length = reader.u32("value length")? as usize;
                    let value = reader.take(value_length, "value")?;
                    records.push(Record {
                        id,
                        idempotency_key: (key_length > 0).then(|| key.to_vec()),
                        value: value.to_vec(),
                    });
                }
                LogNotice::Append(Append { reply_to, records })
            }
            KIND_ACK => {
                let node_length = usize::from(reader.u8("node id length")?);
                let node = std::str::from_utf8(reader.take(node_length, "node id")?)
                    .map_err(|_| NoticeError::Bad("node id (not UTF-8)"))?
                    .to_owned();
                let count = reader.count()?;
                let mut confirmed = Vec::with_capacity(count);
                for _ in 0..count {
                    let id = reader.id()?;
                    let position = reader.u64("position")?;
                    let duplicate = match reader.u8("outcome")? {
                        0 => false,
                        1 => true,
                        _ => return Err(NoticeError::Bad("outcome")),
                    };
                    confirmed.push(Confirmed {
                        id,
                        position,
                        duplicate,
                    });
                }
                LogNotice::Ack(Ack { node, confirmed })
            }
            kind => return Err(NoticeError::Kind(kind)),
        };
        match reader.bytes.len() {
            0 => Ok(notice),
            extra => Err(NoticeError::Trailing(extra)),
        }
    }
}

/// A batch's count: at least one, at most [`MAX_BATCH`].
fn put_count(out: &mut BytesMut, count: usize) {
    assert!(
        (1..=MAX_BATCH).contains(&count),
        "a notice carries 1 to {MAX_BATCH} entries, not {count}"
    );
    out.put_u16(count as u16);
}

/// Reads fields off the front of the bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], NoticeError> {
        if self.bytes.len() < n {
            return Err(NoticeError::Truncated(what));
        }
        let (field, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(field)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, NoticeError> {
        Ok(self.take(1, what)?[0])
    }

    fn count(&mut self) -> Result<usize, NoticeError> {
        let field = self.take(2, "count")?;
        match u16::from_be_bytes(field.try_into().expect("2 bytes")) {
            0 => Err(NoticeError::Bad("count (an empty batch)")),
            count => Ok(usize::from(count)),
        }
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, NoticeError> {
        let field = self.take(4, what)?;
        Ok(u32::from_be_bytes(field.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, NoticeError> {
        let field = self.take(8, what)?;
        Ok(u64::from_be_bytes(field.try_into().expect("8 bytes")))
    }

    fn id(&mut self) -> Result<MessageId, NoticeError> {
        let field = self.take(16, "message id")?;
        Ok(MessageId::from_bytes(field.try_into().expect("16 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seq: u32) -> MessageId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&0x0102_0304_0506u64.to_be_bytes());
        bytes[8..12].copy_from_slice(&[9, 9, 9, 9]);
        bytes[12..].copy_from_slice(&seq.to_be_bytes());
        MessageId::from_bytes(bytes)
    }

    fn samples() -> Vec<LogNotice> {
        vec![
            LogNotice::Append(Append {
                reply_to: SessionId(7),
                records: vec![
                    Record {
                        id: id(1),
                        idempotency_key: Some(b"retry-1".to_vec()),
                        value: b"{\"event\":\"paid\"}".to_vec(),
                    },
                    Record {
                        id: id(4),
                        idempotency_key: None,
                        value: b"second".to_vec(),
                    },
                ],
            }),
            LogNotice::Append(Append {
                reply_to: SessionId(u64::MAX),
                records: vec![Record {
                    id: id(2),
                    idempotency_key: None,
                    value: Vec::new(),
                }],
            }),
            LogNotice::Ack(Ack {
                node: "log-ünï".to_owned(),
                confirmed: vec![
                    Confirmed {
                        id: id(3),
                        position: 41,
                        duplicate: true,
                    },
                    Confirmed {
                        id: id(5),
                        position: 42,
                        duplicate: false,
                    },
                ],
            }),
        ]
    }

    #[test]
    fn every_notice_round_trips() {
        for notice in samples() {
            assert_eq!(LogNotice::decode(&notice.encode()), Ok(notice));
        }
    }

    #[test]
    fn a_notice_cut_at_any_byte_or_extended_does_not_decode() {
        for notice in samples() {
            let bytes = notice.encode();
            for cut in 0..bytes.len() {
                assert!(
                    matches!(
                        LogNotice::decode(&bytes[..cut]),
                        Err(NoticeError::Truncated(_))
                    ),
                    "{notice:?} cut at {cut} decoded"
                );
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert_eq!(LogNotice::decode(&longer), Err(NoticeError::Trailing(1)));
        }
    }

    #[test]
    fn unknown_versions_kinds_and_values_are_named() {
        let ack = samples()[2].encode().to_vec();
        let mut bad = ack.clone();
        bad[0] = 1;
        assert_eq!(LogNotice::decode(&bad), Err(NoticeError::Version(1)));
        bad = ack.clone();
        bad[1] = 9;
        assert_eq!(LogNotice::decode(&bad), Err(NoticeError::Kind(9)));
        // kind, node id "log-ünï" (1 + 9 bytes), count: the first outcome follows id and position
        let first_outcome = 2 + 1 + "log-ünï".len() + 2 + 16 + 8;
        bad = ack.clone();
        bad[first_outcome] = 2;
        assert_eq!(LogNotice::decode(&bad), Err(NoticeError::Bad("outcome")));
        bad = ack.clone();
        bad[first_outcome - 24 - 2..first_outcome - 24].copy_from_slice(&[0, 0]);
        assert_eq!(
            LogNotice::decode(&bad),
            Err(NoticeError::Bad("count (an empty batch)"))
        );
        assert_eq!(log_topic("shop"), "log/shop");
        assert_eq!(app_of_topic("log/shop"), Some("shop"));
        assert_eq!(app_of_topic("k/shop"), None);
    }
}
